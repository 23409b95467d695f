//! Plaintexts and the batching encoder.
//!
//! With a prime `t ≡ 1 mod 2n`, `Z_t[X]/(X^n+1) ≅ Z_t^n` (CRT over the roots `ψ^e`, `e` odd).
//! Slots form a `2 × n/2` matrix as in SEAL's `BatchEncoder`: row 0 column `i` is the
//! evaluation at `ψ^{3^i}`, row 1 column `i` at `ψ^{-3^i}`. Then `X ↦ X^{3^k}` rotates both rows
//! left by `k` and `X ↦ X^{2n-1}` swaps the rows (Smart–Vercauteren, "Fully homomorphic SIMD
//! operations", DCC 2014; Gentry–Halevi–Smart 2012).

use super::params::BfvParameters;
use crate::HeError;
use henn_ring::{Form, RnsPoly};
use std::sync::Arc;

/// A plaintext polynomial with coefficients in `[0, t)` (coefficient form), used for
/// encryption and as the result of decryption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plaintext {
    pub(crate) coeffs: Vec<u64>,
}

impl Plaintext {
    /// The plaintext with the given coefficients (reduced modulo `t`).
    pub fn from_coefficients(params: &BfvParameters, coeffs: &[u64]) -> Result<Self, HeError> {
        let n = params.degree();
        if coeffs.len() > n {
            return Err(HeError::InvalidPlaintext(format!(
                "{} coefficients for degree {n}",
                coeffs.len()
            )));
        }
        let t = params.t();
        let mut c: Vec<u64> = coeffs.iter().map(|&x| t.reduce(x)).collect();
        c.resize(n, 0);
        Ok(Self { coeffs: c })
    }

    /// Coefficients in `[0, t)`.
    pub fn coefficients(&self) -> &[u64] {
        &self.coeffs
    }

    /// Pre-transforms the plaintext for ct × pt products at `level` (or below): coefficients
    /// lifted to `(-t/2, t/2]`, reduced modulo each `q_i` and NTT-transformed, so that the
    /// product is pointwise.
    pub fn to_operand(
        &self,
        params: &BfvParameters,
        level: usize,
    ) -> Result<PlaintextOperand, HeError> {
        if level > params.max_level() {
            return Err(HeError::LevelMismatch(level, params.max_level()));
        }
        let t = params.t();
        let signed: Vec<i64> = self.coeffs.iter().map(|&c| t.center(c)).collect();
        let q = &params.rlwe().level(level).q;
        let mut poly = RnsPoly::from_signed(q, level + 1, &signed);
        poly.ntt_forward(q);
        Ok(PlaintextOperand { poly, level })
    }
}

/// A plaintext pre-transformed for multiplication: NTT form modulo `Q_ℓ` (SEAL's "plaintext in
/// NTT form"). Usable with ciphertexts at its level or below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaintextOperand {
    pub(crate) poly: RnsPoly,
    pub(crate) level: usize,
}

impl PlaintextOperand {
    /// The highest ciphertext level this operand serves.
    pub fn level(&self) -> usize {
        self.level
    }

    /// The NTT-form polynomial.
    pub fn poly(&self) -> &RnsPoly {
        &self.poly
    }

    /// Wraps an NTT-form polynomial (deserialization).
    pub(crate) fn from_poly(poly: RnsPoly, level: usize) -> Self {
        debug_assert_eq!(poly.form(), Form::Ntt);
        Self { poly, level }
    }
}

/// SIMD encoder for the `2 × n/2` slot matrix.
#[derive(Clone, Debug)]
pub struct BatchEncoder {
    params: Arc<BfvParameters>,
    /// NTT position of each slot (row-major: row 0 then row 1).
    slot_position: Vec<usize>,
}

impl BatchEncoder {
    /// Builds the encoder; errors if `t` is not a prime `≡ 1 mod 2n`.
    pub fn new(params: &Arc<BfvParameters>) -> Result<Self, HeError> {
        let ntt = params.plain_ntt().ok_or(HeError::BatchingUnsupported)?;
        let n = params.degree();
        let two_n = 2 * n;
        let mut position_of_exponent = vec![usize::MAX; two_n];
        for (j, &e) in ntt.exponent_of_position().iter().enumerate() {
            position_of_exponent[e as usize] = j;
        }
        let mut slot_position = vec![0usize; n];
        let mut g = 1usize;
        for i in 0..n / 2 {
            slot_position[i] = position_of_exponent[g];
            slot_position[n / 2 + i] = position_of_exponent[two_n - g];
            g = g * 3 % two_n;
        }
        Ok(Self {
            params: params.clone(),
            slot_position,
        })
    }

    /// Number of slots `n` (two rows of `n/2`).
    pub fn slot_count(&self) -> usize {
        self.slot_position.len()
    }

    /// Encodes up to `n` signed values (row 0 first, then row 1; missing slots are 0), each
    /// reduced modulo `t`.
    pub fn encode(&self, values: &[i64]) -> Result<Plaintext, HeError> {
        let t = self.params.t();
        let v: Vec<u64> = values.iter().map(|&x| t.reduce_i64(x)).collect();
        self.encode_u64(&v)
    }

    /// Encodes up to `n` values in `[0, t)` (larger values are reduced).
    pub fn encode_u64(&self, values: &[u64]) -> Result<Plaintext, HeError> {
        let n = self.slot_count();
        if values.len() > n {
            return Err(HeError::InvalidPlaintext(format!(
                "{} values for {n} slots",
                values.len()
            )));
        }
        let t = self.params.t();
        let mut evals = vec![0u64; n];
        for (&v, &pos) in values.iter().zip(&self.slot_position) {
            evals[pos] = t.reduce(v);
        }
        if let Some(ntt) = self.params.plain_ntt() {
            ntt.backward(&mut evals);
        }
        Ok(Plaintext { coeffs: evals })
    }

    /// Encodes directly into a multiplication operand at `level`.
    pub fn encode_operand(
        &self,
        values: &[i64],
        level: usize,
    ) -> Result<PlaintextOperand, HeError> {
        self.encode(values)?.to_operand(&self.params, level)
    }

    /// Decodes to values in `[0, t)`.
    ///
    /// # Errors
    /// [`HeError::LengthMismatch`] for a plaintext of another degree (as
    /// [`crate::ckks::Encoder::decode`]).
    pub fn decode_u64(&self, pt: &Plaintext) -> Result<Vec<u64>, HeError> {
        if pt.coeffs.len() != self.params.degree() {
            return Err(HeError::LengthMismatch {
                what: "plaintext coefficients",
                expected: self.params.degree(),
                got: pt.coeffs.len(),
            });
        }
        let mut evals = pt.coeffs.clone();
        if let Some(ntt) = self.params.plain_ntt() {
            ntt.forward(&mut evals);
        }
        Ok(self.slot_position.iter().map(|&p| evals[p]).collect())
    }

    /// Decodes to signed values in `(-t/2, t/2]`.
    ///
    /// # Errors
    /// As [`decode_u64`](Self::decode_u64).
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<i64>, HeError> {
        let t = self.params.t();
        Ok(self
            .decode_u64(pt)?
            .into_iter()
            .map(|x| t.center(x))
            .collect())
    }
}
