//! The scheme-independent RLWE layer (Lattigo's `rlwe` package): parameters, keys,
//! ciphertexts, encryption, hybrid key switching with hoisting, and automorphisms. BFV (and
//! later CKKS) add their encodings and scaling on top.

pub mod automorphism;
pub mod ciphertext;
pub mod encryption;
pub mod flood;
pub mod keys;
pub mod keyswitch;
pub mod params;

pub use ciphertext::Ciphertext;
pub use keys::{
    GaloisKeys, KeyGenerator, KeySwitchingKey, PublicKey, RelinearizationKey, SecretKey,
};
pub use keyswitch::DecomposedPoly;
pub use params::{RlweParameters, RlweParametersBuilder};
