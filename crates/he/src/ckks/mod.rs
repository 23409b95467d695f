//! The CKKS scheme for approximate arithmetic on encrypted complex and real vectors
//! (Cheon, Kim, Kim, Song, "Homomorphic Encryption for Arithmetic of Approximate Numbers",
//! ASIACRYPT 2017 — *CKKS17*), in its full-RNS form (Cheon, Han, Kim, Kim, Song, "A Full RNS
//! Variant of Approximate Homomorphic Encryption", SAC 2018 — *CHKKS18*).
//!
//! * [`encoder`]: the canonical-embedding encoder ([`CkksEncoder`]) and the Galois elements
//!   of slot rotations and conjugation.
//! * [`crt`]: exact conversions between signed coefficients and RNS residues ([`CrtLift`]).

#![warn(missing_docs)]

pub mod crt;
pub mod encoder;
mod error;

pub use crt::CrtLift;
pub use encoder::{
    conjugation_galois_element, reduce_i128_to_rns, reduce_to_rns, rotation_galois_element,
    CkksEncoder,
};
pub use error::CkksError;
/// Complex slot values (re-exported from `num-complex`).
pub use num_complex::Complex64;
