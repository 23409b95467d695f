//! RLWE ciphertexts `(c_0, c_1, …)` with `Σ c_i s^i ≈ message` modulo `Q_ℓ`.

use super::params::RlweParameters;
use crate::HeError;
use henn_ring::{Form, RnsPoly};

/// A ciphertext at level `ℓ`: two (or three, before relinearization) polynomials modulo
/// `Q_ℓ = q_0…q_ℓ`, kept in **NTT form** between operations. NTT form makes additions,
/// ciphertext × plaintext products and automorphisms pointwise (one pass over the data, no
/// transform); only ct × ct multiplication, key switching and decryption pay inverse
/// transforms (as OpenFHE's BFVrns, whose ciphertexts stay in evaluation form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    pub(crate) polys: Vec<RnsPoly>,
    pub(crate) level: usize,
}

impl Ciphertext {
    /// Builds a ciphertext from NTT-form polynomials, checking shapes against `params`.
    pub fn from_polys(
        params: &RlweParameters,
        polys: Vec<RnsPoly>,
        level: usize,
    ) -> Result<Self, HeError> {
        if level > params.max_level() {
            return Err(HeError::InvalidCiphertext(format!(
                "level {level} above maximum {}",
                params.max_level()
            )));
        }
        if !(2..=3).contains(&polys.len()) {
            return Err(HeError::InvalidCiphertext(format!(
                "{} polynomials (expected 2 or 3)",
                polys.len()
            )));
        }
        for p in &polys {
            if p.degree() != params.degree() || p.num_limbs() != level + 1 || p.form() != Form::Ntt
            {
                return Err(HeError::InvalidCiphertext(
                    "polynomial shape does not match the level".into(),
                ));
            }
        }
        Ok(Self { polys, level })
    }

    /// The level `ℓ` (number of ciphertext primes minus one).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The polynomials `c_0, c_1, …` (NTT form).
    pub fn polys(&self) -> &[RnsPoly] {
        &self.polys
    }

    /// Number of polynomials (2 after relinearization).
    pub fn len(&self) -> usize {
        self.polys.len()
    }

    /// Never true for a valid ciphertext.
    pub fn is_empty(&self) -> bool {
        self.polys.is_empty()
    }
}
