//! The slot-vector backend: what LoLa's kernels need from a homomorphic encryption scheme.
//!
//! LoLa (section 3.1) views a BFV plaintext as a `2 × n/2` matrix of slots: a *column rotation*
//! rotates both rows cyclically by the same amount, a *row swap* exchanges the two rows. CKKS
//! gives one cyclic row of `n/2` slots. [`SlotEncoding`] models exactly that geometry
//! ([`SlotEncoding::rows`] is 1 or 2, [`SlotEncoding::row_len`] the cyclic length) so that
//! kernels can be written once, over [`SlotEvaluator`], and run on
//!
//! * the [`clear::ClearBackend`], which performs the same operations on plain numbers, counts
//!   them and tracks value ranges (how plans are checked and parameters sized), and
//! * BFV and CKKS backends over `henn_he`.
//!
//! The trait is split by who holds what (LoLa section 1: the data owner encrypts, the model
//! owner evaluates): [`SlotEvaluator`] is the server's side (parameters, evaluation keys,
//! prepared weight plaintexts, no secret key), [`SlotEncryptor`] the client's (the secret
//! key, no weights); both share [`SlotEncoding`]. [`SlotBackend`] is both at once (the clear
//! backend); [`Joined`] keeps a client half and a server half side by side in benchmarks and
//! tests.
//!
//! Slot indexing: slot `s` is column `s % row_len` of row `s / row_len`.
//!
//! Rotation convention (SEAL `rotate_rows`, Lattigo `RotateColumns`): `rotate(ct, k)` moves
//! every slot `k` places to the *left* inside its row: `out[r][c] = in[r][(c + k) mod row_len]`.
//! Negative `k` rotates right. (The paper's section 3.1 describes right rotations; only the sign
//! differs.)
//!
//! Levels: a fresh ciphertext is at [`SlotEncoding::max_level`]; [`SlotEvaluator::rescale`]
//! (CKKS rescaling, BFV modulus switching) and [`SlotEvaluator::drop_level`] lower it; at level 0
//! no further rescale is possible. Binary operations require equal levels (the planner keeps
//! them aligned; a mismatch is a plan bug and is reported, not repaired silently).

pub mod bfv;
pub mod ckks;
pub mod clear;
pub mod noise;
pub mod prepared;
pub mod steps;
pub mod value;

pub use value::SlotValue;

use thiserror::Error;

/// Errors of slot-vector backends.
#[derive(Debug, Error)]
pub enum BackendError {
    /// A slot vector longer than the backend's slot count was given to `encode`.
    #[error("slot vector has {got} values but the backend has {slots} slots")]
    TooManyValues {
        /// Values given.
        got: usize,
        /// Slots available.
        slots: usize,
    },
    /// Two operands are at different levels.
    #[error("operands at different levels ({left} and {right})")]
    LevelMismatch {
        /// Level of the first operand.
        left: usize,
        /// Level of the second operand.
        right: usize,
    },
    /// A rescale or level drop was asked for below level 0.
    #[error("no level left: ciphertext at level {level}, {wanted} more levels wanted")]
    LevelsExhausted {
        /// Current level.
        level: usize,
        /// Levels that would have been consumed.
        wanted: usize,
    },
    /// An exact (BFV-like) computation left the range of `i64`.
    #[error("exact slot arithmetic overflowed i64 in {op}")]
    Overflow {
        /// The operation that overflowed.
        op: &'static str,
    },
    /// Invalid backend geometry or parameters.
    #[error("invalid backend parameters: {0}")]
    InvalidParameters(String),
    /// An error of the underlying HE engine.
    #[error("HE engine: {0}")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result of backend operations.
pub type BackendResult<T> = Result<T, BackendError>;

/// Identifies a weight or mask plaintext of a plan: the step that encodes it and its ordinal
/// among that step's encodings (kernels encode in a fixed order). Prepared plaintexts are
/// keyed by it, never by their values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaintextKey {
    /// Index of the plan step.
    pub step: usize,
    /// Ordinal of the encoding inside the step.
    pub ordinal: usize,
}

/// What both sides of a slot-vector scheme share (LoLa section 3.1): the slot geometry, the
/// value, ciphertext and plaintext types, and encoding. The evaluation side is
/// [`SlotEvaluator`], the secret-key side [`SlotEncryptor`].
pub trait SlotEncoding {
    /// Slot values: `i128` for BFV (centred representatives of `Z_T`), `f64` for CKKS.
    type Value: SlotValue;
    /// An encrypted slot vector.
    type Ciphertext: Clone;
    /// An encoded (not encrypted) slot vector, the plaintext operand of `mul_plain`/`add_plain`.
    type Plaintext;

    /// Number of slot rows: 2 for BFV batching (`2 × n/2`), 1 for CKKS.
    fn rows(&self) -> usize;
    /// Length of one row, the period of [`SlotEvaluator::rotate`] (`n/2` for both schemes).
    fn row_len(&self) -> usize;
    /// Total number of slots, `rows() * row_len()`.
    fn slots(&self) -> usize {
        self.rows() * self.row_len()
    }
    /// Level of freshly encrypted ciphertexts.
    fn max_level(&self) -> usize;

    /// Encodes up to `slots()` values (the rest are zero) at `level`, ready to be combined
    /// with ciphertexts at that level.
    fn encode(&self, values: &[Self::Value], level: usize) -> BackendResult<Self::Plaintext>;
    /// Current level of a ciphertext.
    fn level(&self, ct: &Self::Ciphertext) -> usize;
}

/// The client's side (secret key): encryption, decryption, decoding. Holds no weights and no
/// evaluation keys.
pub trait SlotEncryptor: SlotEncoding {
    /// Decodes all `slots()` values of a plaintext.
    fn decode(&self, pt: &Self::Plaintext) -> BackendResult<Vec<Self::Value>>;
    /// Encrypts a plaintext.
    fn encrypt(&self, pt: &Self::Plaintext) -> BackendResult<Self::Ciphertext>;
    /// Decrypts a ciphertext.
    fn decrypt(&self, ct: &Self::Ciphertext) -> BackendResult<Self::Plaintext>;
}

/// The server's side: operations on encrypted slot vectors with public evaluation keys only
/// (LoLa sections 3.1 and 4.2; Lattigo's and fhe.rs' evaluators are built the same way, from
/// parameters and evaluation keys, with no secret).
///
/// All operations take references and return new values; `*_assign` variants accumulate in
/// place (HE backends implement them without temporaries). Default methods are written in
/// terms of the allocating ones so an engine only has to provide the core operations.
pub trait SlotEvaluator: SlotEncoding {
    /// Encodes the weight or mask plaintext `key` of a plan (the executor's encodings): an
    /// evaluator with prepared plaintexts returns the prepared one, checked against `values`
    /// and `level`. The default encodes.
    fn encode_prepared(
        &self,
        key: PlaintextKey,
        values: &[Self::Value],
        level: usize,
    ) -> BackendResult<Self::Plaintext> {
        let _ = key;
        self.encode(values, level)
    }
    /// `a + b`.
    fn add(&self, a: &Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// `acc += b`.
    fn add_assign(&self, acc: &mut Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<()> {
        *acc = self.add(acc, b)?;
        Ok(())
    }
    /// `a - b`.
    fn sub(&self, a: &Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// `a + p` for an encoded plaintext (bias addition).
    fn add_plain(
        &self,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> BackendResult<Self::Ciphertext>;
    /// Slot-wise `a ⊙ p` (ct × pt).
    fn mul_plain(
        &self,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> BackendResult<Self::Ciphertext>;
    /// `acc += a ⊙ p`.
    fn mul_plain_add_assign(
        &self,
        acc: &mut Self::Ciphertext,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> BackendResult<()> {
        let t = self.mul_plain(a, p)?;
        self.add_assign(acc, &t)
    }
    /// `s · a` for one scalar in every slot (cheap in BFV: no encoding, LoLa section 4.2.2).
    fn mul_scalar(&self, a: &Self::Ciphertext, s: Self::Value) -> BackendResult<Self::Ciphertext>;
    /// `acc += s · a`.
    fn mul_scalar_add_assign(
        &self,
        acc: &mut Self::Ciphertext,
        a: &Self::Ciphertext,
        s: Self::Value,
    ) -> BackendResult<()> {
        let t = self.mul_scalar(a, s)?;
        self.add_assign(acc, &t)
    }
    /// Slot-wise `a ⊙ b` of two ciphertexts, relinearized.
    fn mul(&self, a: &Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// `a ⊙ a`, relinearized (the square activation of CryptoNets and LoLa).
    fn square(&self, a: &Self::Ciphertext) -> BackendResult<Self::Ciphertext> {
        self.mul(a, a)
    }
    /// Rotates every row `steps` places to the left (negative: right). See the module docs.
    fn rotate(&self, a: &Self::Ciphertext, steps: isize) -> BackendResult<Self::Ciphertext>;
    /// Hoisted rotations: `[rotate(a, s) for s in steps]` with one key-switching
    /// decomposition of `a` shared by all of them (Halevi–Shoup 2018). Step 0 returns a copy.
    fn rotate_hoisted(
        &self,
        a: &Self::Ciphertext,
        steps: &[isize],
    ) -> BackendResult<Vec<Self::Ciphertext>> {
        steps.iter().map(|&s| self.rotate(a, s)).collect()
    }
    /// Exchanges the two rows (BFV); identity for a one-row backend.
    fn swap_rows(&self, a: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// Consumes one level after a multiplication: CKKS rescaling, BFV modulus switching.
    fn rescale(&self, a: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// Lowers the level by `levels` without rescaling (to align operands).
    fn drop_level(&self, a: &Self::Ciphertext, levels: usize) -> BackendResult<Self::Ciphertext>;
}

/// Both sides in one object (the clear and noise backends, benchmarks and tests that play
/// client and server in one process).
pub trait SlotBackend: SlotEvaluator + SlotEncryptor {}

impl<B: SlotEvaluator + SlotEncryptor + ?Sized> SlotBackend for B {}

/// A client half and a server half of the same scheme made together (benchmarks and tests;
/// a service keeps them in different processes). Generic code is given the half it needs:
/// `&joined.encryptor` to encrypt and decrypt, `&joined.evaluator` to evaluate.
pub struct Joined<E, S> {
    /// The secret-key side.
    pub encryptor: E,
    /// The evaluation side (evaluation keys, prepared plaintexts).
    pub evaluator: S,
}

impl<E: std::fmt::Debug, S: std::fmt::Debug> std::fmt::Debug for Joined<E, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined")
            .field("evaluator", &self.evaluator)
            .finish_non_exhaustive()
    }
}

/// The secret key derived from a 32-byte seed with the ChaCha20 CSPRNG (the seed is the key
/// material: keep it as secret as the key). Both schemes' clients use it, so that a key file
/// holds only the seed.
pub fn secret_key_from_seed(
    rlwe: &std::sync::Arc<henn_he::rlwe::RlweParameters>,
    seed: &henn_ring::sampler::Seed,
) -> henn_he::rlwe::SecretKey {
    henn_he::rlwe::SecretKey::generate(rlwe, &mut henn_ring::sampler::rng_from_seed(seed))
}

/// Normalises a rotation step into `0..row_len` (the Galois element it needs).
pub fn normalize_step(steps: isize, row_len: usize) -> usize {
    let m = row_len as isize;
    steps.rem_euclid(m) as usize
}
