//! Polynomial-ring arithmetic for henn's HE engine: NTT-friendly primes, modular arithmetic,
//! number-theoretic transforms, RNS bases and base conversion, polynomials, Galois automorphisms
//! and samplers. Knows nothing of encryption schemes or networks.
//!
//! Layout follows Lattigo's `ring` package: [`modulus`] (Barrett/Shoup), [`prime`]
//! (NTT-friendly primes), [`ntt`] (tfhe-ntt wrapper), [`rns`] (bases, fast base conversion),
//! [`poly`] (RNS polynomials), [`galois`] (automorphisms), [`sampler`] (CSPRNG sampling).
//!
//! Parallelism: limb-wise loops use rayon; run inside a caller-owned
//! `rayon::ThreadPool::install` to choose the thread count.

pub mod buffer_pool;
pub mod galois;
pub mod modulus;
pub mod ntt;
pub mod poly;
pub mod prime;
pub mod rns;
pub mod sampler;
pub mod simd;

pub use galois::{column_rotation_element, row_swap_element, GaloisElement};
pub use modulus::Modulus;
pub use ntt::NttOperator;
pub use poly::{Form, RnsPoly};
pub use prime::{generate_ntt_primes, is_prime};
pub use rns::{BaseConverter, RnsBasis};
pub use sampler::{Csprng, Seed};
pub use zeroize::Zeroize;

/// Errors of ring construction and validation.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RingError {
    /// The degree is not a supported power of two.
    #[error("ring degree {0} is not a power of two >= 16")]
    InvalidDegree(usize),
    /// The modulus is outside `[2, 2^62)`.
    #[error("modulus {0} is outside [2, 2^62)")]
    InvalidModulus(u64),
    /// The prime does not support a negacyclic NTT of this size.
    #[error("{q} is not a prime congruent to 1 mod 2*{n}")]
    NotNttFriendly {
        /// the modulus
        q: u64,
        /// the degree
        n: usize,
    },
    /// Requested prime size impossible for this degree.
    #[error("cannot generate {bits}-bit NTT primes for n = {n}")]
    InvalidPrimeSize {
        /// bit size
        bits: u32,
        /// degree
        n: usize,
    },
    /// Not enough primes of the requested size exist.
    #[error("fewer than {count} {bits}-bit primes congruent to 1 mod 2*{n}")]
    NotEnoughPrimes {
        /// bit size
        bits: u32,
        /// degree
        n: usize,
        /// requested count
        count: usize,
    },
    /// A basis needs at least one prime.
    #[error("empty RNS basis")]
    EmptyBasis,
    /// Too many primes for lazy 128-bit accumulation.
    #[error("RNS basis with {0} primes is too large")]
    BasisTooLarge(usize),
    /// The same prime twice in a basis.
    #[error("modulus {0} appears twice in an RNS basis")]
    DuplicateModulus(u64),
    /// NTT operators disagree on output order.
    #[error("NTT operators of a basis disagree on evaluation order")]
    InconsistentNttOrder,
    /// A Galois element must be odd and below 2n.
    #[error("invalid Galois element {0}")]
    InvalidGaloisElement(usize),
    /// Polynomial data of the wrong length or limb count.
    #[error("polynomial data has the wrong shape")]
    ShapeMismatch,
    /// A residue is not reduced.
    #[error("coefficient not reduced modulo its prime in limb {limb}")]
    CoefficientOutOfRange {
        /// limb index
        limb: usize,
    },
}
