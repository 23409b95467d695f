//! The engine's one error type, [`HeError`], shared by the RLWE layer and both schemes.

/// Errors of the HE engine, for every scheme (BFV, CKKS) and the RLWE layer below them.
///
/// Every variant names the offending quantity, so that a caller handed bad input (a vector too
/// long for the slots, a non-finite value, a scale that would overflow) learns what to fix.
#[derive(Debug, thiserror::Error)]
pub enum HeError {
    /// Parameters are malformed.
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// Parameters are below 128-bit security.
    #[error("insecure parameters: {0}")]
    Insecure(String),
    /// Ring-level failure.
    #[error(transparent)]
    Ring(#[from] henn_ring::RingError),
    /// The plaintext modulus does not support batching.
    #[error("plaintext modulus must be a prime congruent to 1 mod 2n for batching")]
    BatchingUnsupported,
    /// Malformed plaintext input.
    #[error("invalid plaintext: {0}")]
    InvalidPlaintext(String),
    /// Malformed ciphertext.
    #[error("invalid ciphertext: {0}")]
    InvalidCiphertext(String),
    /// Operands at incompatible levels.
    #[error("level mismatch: {0} vs {1}")]
    LevelMismatch(usize, usize),
    /// No Galois key for the element.
    #[error("no Galois key for element {0}")]
    MissingGaloisKey(usize),
    /// Deserialization failure.
    #[error("deserialization: {0}")]
    Deserialize(String),
    /// The ring degree `n` is not a power of two of at least 4 (CKKS needs `n/2 >= 2` slots).
    #[error("ring degree {degree} is not a power of two >= 4")]
    InvalidDegree {
        /// The rejected degree.
        degree: usize,
    },
    /// The slot count is not a power of two between 1 and `n/2`.
    #[error("slot count {slots} is not a power of two in 1..={max_slots}")]
    InvalidSlots {
        /// The rejected slot count.
        slots: usize,
        /// The largest slot count of the ring, `n/2`.
        max_slots: usize,
    },
    /// More values were given than the encoder has slots.
    #[error("{given} values given but the encoder has only {slots} slots")]
    TooManyValues {
        /// Number of values given.
        given: usize,
        /// Number of slots.
        slots: usize,
    },
    /// A value to encode is NaN or infinite.
    #[error("value at slot {index} is not finite")]
    NonFiniteValue {
        /// Index of the offending slot.
        index: usize,
    },
    /// The scale is not a finite number greater than zero.
    #[error("scale {scale} is not a finite positive number")]
    InvalidScale {
        /// The rejected scale.
        scale: f64,
    },
    /// A scaled coefficient does not fit the requested integer type.
    #[error("scaled coefficient {index} ({value:e}) does not fit in {bits} bits")]
    CoefficientOverflow {
        /// Index of the coefficient.
        index: usize,
        /// Its value after scaling.
        value: f64,
        /// Width of the target integer type in bits.
        bits: u32,
    },
    /// A coefficient vector or RNS limb has the wrong length.
    #[error("{what}: expected length {expected}, got {got}")]
    LengthMismatch {
        /// What had the wrong length.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// An RNS modulus is unusable (even, below 3, at least 2^62, or repeated).
    #[error("RNS modulus {modulus} at index {index} is invalid: {reason}")]
    InvalidModulus {
        /// Index of the modulus in the RNS basis.
        index: usize,
        /// The modulus.
        modulus: u64,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A residue is not reduced modulo its RNS modulus.
    #[error("residue {value} of coefficient {index} is not reduced modulo {modulus}")]
    UnreducedResidue {
        /// Coefficient index.
        index: usize,
        /// The residue.
        value: u64,
        /// The modulus it should be below.
        modulus: u64,
    },
    /// Two operands have different scales (CKKS17 §3.3: addition needs equal scales).
    /// Encode plaintexts at the ciphertext's [`scale`](crate::ckks::Ciphertext::scale), or rescale
    /// / multiply by a constant so that the scales agree.
    #[error("scale mismatch in {operation}: {left:e} (2^{:.3}) vs {right:e} (2^{:.3})", left.log2(), right.log2())]
    ScaleMismatch {
        /// The operation.
        operation: &'static str,
        /// Scale of the left operand.
        left: f64,
        /// Scale of the right operand.
        right: f64,
    },
    /// An operation needs a higher level than the ciphertext has (e.g. rescaling at level 0).
    #[error("{operation} needs level >= {needed}, ciphertext is at level {level}")]
    LevelTooLow {
        /// The operation.
        operation: &'static str,
        /// The level required.
        needed: usize,
        /// The level found.
        level: usize,
    },
    /// A level above the maximum of the parameters was requested.
    #[error("level {level} above the maximum level {max_level}")]
    InvalidLevel {
        /// The requested level.
        level: usize,
        /// The highest level of the parameters.
        max_level: usize,
    },
    /// The ciphertext has the wrong number of polynomials for the operation.
    #[error("{operation} needs a ciphertext of {expected} polynomials, got {got}")]
    CiphertextSize {
        /// The operation.
        operation: &'static str,
        /// Number of polynomials required.
        expected: usize,
        /// Number found.
        got: usize,
    },
    /// A constant is NaN or infinite, or too large for its scale.
    #[error("constant {value} is not usable: {reason}")]
    InvalidConstant {
        /// The constant.
        value: f64,
        /// Why it is rejected.
        reason: &'static str,
    },
}
