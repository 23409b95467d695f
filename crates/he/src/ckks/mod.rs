//! The CKKS scheme for approximate arithmetic on encrypted complex and real vectors
//! (Cheon, Kim, Kim, Song, "Homomorphic Encryption for Arithmetic of Approximate Numbers",
//! ASIACRYPT 2017 — *CKKS17*), in its full-RNS form (Cheon, Han, Kim, Kim, Song, "A Full RNS
//! Variant of Approximate Homomorphic Encryption", SAC 2018 — *CHKKS18*).
//!
//! * [`encoder`]: the canonical-embedding encoder ([`CkksEncoder`]) and the Galois elements
//!   of slot rotations and conjugation.
//! * [`crt`]: exact conversions between signed coefficients and RNS residues ([`CrtLift`]).
//! * [`params`]: parameters with a scale and named 128-bit presets
//!   ([`CKKS_128BIT_LOGN13_LOGQP218`], [`CKKS_128BIT_LOGN14_LOGQP438`], ...).
//! * [`plaintext`], [`ciphertext`]: plaintexts and ciphertexts carrying a level and a scale.
//! * [`encryptor`]: public- and secret-key encryption, decryption.
//! * [`evaluator`]: additions, products, rescaling, level drops, rotations (also hoisted) and
//!   conjugation, on the RLWE layer's hybrid key switching ([`crate::rlwe`]).
//!
//! ```
//! use henn_he::ckks::{self, CkksParametersBuilder, Decryptor, Encryptor, Evaluator};
//! use henn_he::rlwe::KeyGenerator;
//!
//! // Small insecure parameters so the example runs fast; use
//! // `CkksParametersBuilder::preset(ckks::CKKS_128BIT_LOGN13_LOGQP218)` in practice.
//! let params = CkksParametersBuilder::new()
//!     .log_n(10)
//!     .q_bits(&[50, 40, 40])
//!     .p_bits(&[51])
//!     .log_scale(40)
//!     .insecure_build()?;
//! let mut keygen = KeyGenerator::new(params.rlwe());
//! let pk = keygen.public_key();
//! let rlk = keygen.relinearization_key();
//! let gk = keygen.galois_keys(&ckks::galois_elements(&params, &[1], false)?)?;
//! let mut encryptor = Encryptor::with_public_key(&params, &pk);
//! let decryptor = Decryptor::new(&params, keygen.secret_key());
//! let eval = Evaluator::new(&params);
//!
//! let x: Vec<f64> = (0..512).map(|i| i as f64 / 512.0).collect();
//! let ct = encryptor.encrypt_real(&x)?;
//! let sq = eval.mul_and_rescale(&ct, &ct, &rlk)?; // x², one level used
//! let rotated = eval.rotate(&sq, 1, &gk)?;        // slot i holds x[i+1]²
//! let out = decryptor.decrypt_real(&rotated)?;
//! assert!((out[0] - x[1] * x[1]).abs() < 1e-6);
//! # Ok::<(), henn_he::HeError>(())
//! ```

#![warn(missing_docs)]

pub mod bootstrapping;
pub mod ciphertext;
pub mod crt;
pub mod encoder;
pub mod encryptor;
pub mod evaluator;
pub mod params;
pub mod plaintext;

pub use ciphertext::Ciphertext;
pub use crt::CrtLift;
pub use encoder::{
    conjugation_galois_element, reduce_i128_to_rns, reduce_to_rns, rotation_galois_element,
    CkksEncoder,
};
pub use encryptor::{Decryptor, Encryptor, SeededCiphertext};
pub use evaluator::{galois_elements, Evaluator};
/// Complex slot values (re-exported from `num-complex`).
pub use num_complex::Complex64;
pub use params::{
    CkksParameters, CkksParametersBuilder, CkksPreset, CKKS_128BIT_LOGN13_LOGQP218,
    CKKS_128BIT_LOGN14_LOGQP438, CKKS_128BIT_LOGN15_LOGQP881, CKKS_PRESETS,
};
pub use plaintext::{Encoder, Plaintext};
