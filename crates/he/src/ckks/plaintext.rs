//! CKKS plaintexts (an encoded polynomial at a level, with its scale) and the
//! parameter-aware [`Encoder`] that produces and reads them.

use super::params::CkksParameters;
use super::Complex64;
use crate::HeError;
use henn_ring::{Form, RnsPoly};
use std::sync::Arc;

/// An encoded CKKS message `m = round(Δ·σ^{-1}(z))` modulo `Q_ℓ = q_0..q_ℓ`, stored in NTT
/// form (ready for additions and products), with its level `ℓ` and scale `Δ`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) level: usize,
    pub(crate) scale: f64,
}

impl Plaintext {
    /// The level `ℓ` (the plaintext lives modulo `q_0..q_ℓ`).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The scale `Δ` the slots were multiplied by.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The polynomial (NTT form, `ℓ + 1` limbs).
    pub fn poly(&self) -> &RnsPoly {
        &self.poly
    }
}

/// Encodes slot vectors into [`Plaintext`]s at a chosen level and scale and decodes them
/// (CKKS17 §3.2 `Ecd`/`Dcd` through [`super::CkksEncoder`], RNS limbs as in CHKKS18 §3).
#[derive(Clone, Debug)]
pub struct Encoder {
    params: Arc<CkksParameters>,
}

impl Encoder {
    /// An encoder for `params`.
    pub fn new(params: &Arc<CkksParameters>) -> Self {
        Self {
            params: params.clone(),
        }
    }

    /// Encodes complex slots at `level` and `scale` (fewer values than slots are
    /// zero-padded).
    ///
    /// # Errors
    /// [`HeError::InvalidLevel`], and the encoder's errors (too many values, non-finite
    /// values, bad scale).
    pub fn encode(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<Plaintext, HeError> {
        self.params.check_level(level)?;
        let basis = self.params.rlwe().q_basis();
        let moduli = &basis.moduli()[..=level];
        let limbs = self.params.encoder().encode_rns(values, scale, moduli)?;
        let mut poly = RnsPoly::from_raw(basis, level + 1, Form::Coefficient, limbs.concat())?;
        poly.ntt_forward(basis);
        Ok(Plaintext { poly, level, scale })
    }

    /// Encodes real slots at `level` and `scale`.
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_real(
        &self,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<Plaintext, HeError> {
        let complex: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encode(&complex, level, scale)
    }

    /// Decodes a plaintext into its slots (`slots()` values).
    ///
    /// # Errors
    /// [`HeError::LengthMismatch`] / [`HeError::UnreducedResidue`] if the plaintext's
    /// polynomial does not match the parameters.
    pub fn decode(&self, plaintext: &Plaintext) -> Result<Vec<Complex64>, HeError> {
        let mut poly = plaintext.poly.clone();
        poly.ntt_backward(self.params.rlwe().q_basis());
        self.decode_coefficients(&poly, plaintext.scale)
    }

    /// Decodes a coefficient-form polynomial modulo `q_0..q_ℓ` at `scale`.
    pub(crate) fn decode_coefficients(
        &self,
        poly: &RnsPoly,
        scale: f64,
    ) -> Result<Vec<Complex64>, HeError> {
        let n = self.params.degree();
        let limbs: Vec<&[u64]> = poly.data().chunks(n).collect();
        self.params
            .encoder()
            .decode_rns(self.params.crt_lift(), &limbs, scale)
    }
}
