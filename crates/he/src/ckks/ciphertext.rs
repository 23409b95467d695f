//! CKKS ciphertexts: an RLWE ciphertext with the scale of the message it encrypts.

use crate::rlwe;
use crate::HeError;

fn check_scale(scale: f64) -> Result<(), HeError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(HeError::InvalidScale { scale });
    }
    Ok(())
}

/// A CKKS ciphertext: an RLWE ciphertext `(c_0, c_1[, c_2])` at level `ℓ`, NTT form, with
/// `c_0 + c_1·s ≈ Δ·m` modulo `Q_ℓ`, and the scale `Δ` (CKKS17 §3.3; the scale is a real
/// number tracked in the clear as in CHKKS18 §3.3).
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pub(crate) inner: rlwe::Ciphertext,
    pub(crate) scale: f64,
}

impl Ciphertext {
    /// Wraps an RLWE ciphertext (already validated by [`rlwe::Ciphertext::from_polys`]) with
    /// its scale.
    ///
    /// # Errors
    /// [`HeError::InvalidScale`] unless the scale is finite and positive.
    pub fn from_rlwe(inner: rlwe::Ciphertext, scale: f64) -> Result<Self, HeError> {
        check_scale(scale)?;
        Ok(Self { inner, scale })
    }

    /// The level `ℓ` (number of remaining primes minus one; each rescale uses one).
    pub fn level(&self) -> usize {
        self.inner.level()
    }

    /// The scale `Δ` of the encrypted message.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Reinterprets the scale without touching the data (Lattigo's `SetScale`): the decrypted
    /// slots are multiplied by `old / new`.
    ///
    /// # Errors
    /// [`HeError::InvalidScale`] unless the scale is finite and positive.
    pub fn set_scale(&mut self, scale: f64) -> Result<(), HeError> {
        check_scale(scale)?;
        self.scale = scale;
        Ok(())
    }

    /// The underlying RLWE ciphertext.
    pub fn rlwe(&self) -> &rlwe::Ciphertext {
        &self.inner
    }

    /// Number of polynomials (3 after a product without relinearization).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Never true for a valid ciphertext.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}
