//! The homomorphic encryption engine: RLWE keys, encryption, hybrid key switching, hoisted
//! rotations, and the BFV and CKKS schemes on the same [`rlwe`] layer, with parameters
//! checked against the HE standard.
//!
//! Layers (after Lattigo): [`rlwe`] holds everything scheme-independent (parameters with the
//! special primes and `dnum`, keys, ciphertexts, encryption of an encoded message, hybrid key
//! switching, hoisting, automorphisms); [`bfv`] adds the plaintext modulus, batching, HPS19
//! multiplication and modulus switching.
//!
//! ```
//! use henn_he::bfv::{self, BatchEncoder, BfvParametersBuilder, Decryptor, Encryptor, Evaluator};
//! use henn_he::rlwe::KeyGenerator;
//!
//! // small insecure parameters so the example runs fast; use a preset such as
//! // `bfv::BFV_128BIT_LOGN13_LOGQP218` in practice.
//! let params = BfvParametersBuilder::new()
//!     .log_n(5)
//!     .q_bits(&[50, 50])
//!     .p_bits(&[51])
//!     .plaintext_modulus(257)
//!     .insecure_build()?;
//! let mut keygen = KeyGenerator::new(params.rlwe());
//! let pk = keygen.public_key();
//! let rlk = keygen.relinearization_key();
//! let gk = keygen.galois_keys(&bfv::galois_elements(&params, &[1, 2], true))?;
//!
//! let encoder = BatchEncoder::new(&params)?;
//! let mut encryptor = Encryptor::with_public_key(&params, &pk);
//! let decryptor = Decryptor::new(&params, keygen.secret_key());
//! let eval = Evaluator::new(&params);
//!
//! let x: Vec<i64> = (0..32).collect();
//! let ct = encryptor.encrypt(&encoder.encode(&x)?);
//! let w = encoder.encode_operand(&vec![2; 32], ct.level())?;   // pre-transformed plaintext
//! let y = eval.mul_plain(&ct, &w)?;                          // 2x
//! let y = eval.square(&y, &rlk)?;                            // 4x²
//! let rotated = eval.rotate_columns_hoisted(&y, &[1, 2], &gk)?; // hoisted rotations
//! let out = encoder.decode(&decryptor.decrypt(&rotated[0]));
//! // slot i of row 0 now holds slot i+1 (mod 16) of 4x² reduced mod 257
//! let expect = |i: i64| { let v = (4 * i * i).rem_euclid(257); if v > 128 { v - 257 } else { v } };
//! assert_eq!(out[0], expect(1));
//! assert_eq!(out[15], expect(0));
//! # Ok::<(), henn_he::HeError>(())
//! ```

pub mod bfv;
pub mod ckks;
pub mod rlwe;
pub mod serialization;
pub mod threads;

pub use threads::with_threads;

/// Errors of the HE engine.
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
}
