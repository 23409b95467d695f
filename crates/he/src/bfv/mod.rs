//! The Brakerski/Fan–Vercauteren scheme in full RNS (HPS19 multiplication) on the shared RLWE
//! layer: parameters, batching encoder, encryption/decryption with noise budget, evaluator
//! (including hoisted rotations and modulus switching) and CRT plaintext spaces.

pub mod crt;
pub mod encoder;
pub mod encryptor;
pub mod evaluator;
pub mod params;

pub use crt::crt_combine;
pub use encoder::{BatchEncoder, Plaintext, PlaintextOperand};
pub use encryptor::{Decryptor, Encryptor, SeededCiphertext};
pub use evaluator::{galois_elements, Evaluator};
pub use params::{
    BfvParameters, BfvParametersBuilder, Preset, BFV_128BIT_LOGN12_LOGQP109,
    BFV_128BIT_LOGN13_LOGQP218, BFV_128BIT_LOGN14_LOGQP438, BFV_128BIT_LOGN15_LOGQP881, PRESETS,
};
