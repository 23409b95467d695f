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
//! let encryptor = Encryptor::with_public_key(&params, &pk);
//! let decryptor = Decryptor::new(&params, keygen.secret_key());
//! let eval = Evaluator::new(&params);
//!
//! let x: Vec<i64> = (0..32).collect();
//! let ct = encryptor.encrypt(&encoder.encode(&x)?)?;
//! let w = encoder.encode_operand(&vec![2; 32], ct.level())?;   // pre-transformed plaintext
//! let y = eval.mul_plain(&ct, &w)?;                          // 2x
//! let y = eval.square(&y, &rlk)?;                            // 4x²
//! let rotated = eval.rotate_hoisted(&y, &[1, 2], &gk)?; // hoisted rotations
//! let out = encoder.decode(&decryptor.decrypt(&rotated[0])?)?;
//! // slot i of row 0 now holds slot i+1 (mod 16) of 4x² reduced mod 257
//! let expect = |i: i64| { let v = (4 * i * i).rem_euclid(257); if v > 128 { v - 257 } else { v } };
//! assert_eq!(out[0], expect(1));
//! assert_eq!(out[15], expect(0));
//! # Ok::<(), henn_he::HeError>(())
//! ```

pub mod bfv;
pub mod ckks;
pub mod error;
pub mod rlwe;
pub mod serialization;
pub mod threads;

pub use threads::with_threads;

pub use error::HeError;
