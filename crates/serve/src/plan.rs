//! The public plan of a served model: everything a client needs to make keys, encrypt inputs
//! and decrypt outputs — scheme, parameters, rotation steps, slot layouts, quantization of the
//! input — and nothing about the weights (LoLa section 1: the model stays with its owner).
//!
//! Sent as JSON by `GET /v1/models/{name}`; [`PublicPlan::validate`] re-checks everything a
//! client receives (security of the parameters included) before it is used.

use std::sync::Arc;

use henn_he::bfv::BfvParameters;
use henn_he::rlwe::RlweParameters;
use henn_infer::backend::bfv::KeySpec;
use serde::{Deserialize, Serialize};

use crate::error::{ServeError, ServeResult};

/// Version of the public-plan JSON.
pub const PLAN_VERSION: u32 = 1;

/// The scheme parameters: an RLWE ring and modulus (checked against the HE standard's
/// 128-bit table when rebuilt) and the CRT plaintext primes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicParameters {
    /// log2 of the ring degree `n`.
    pub log_n: u32,
    /// Ciphertext primes `q_i`.
    pub q: Vec<u64>,
    /// Special primes `p_i` of hybrid key switching.
    pub p: Vec<u64>,
    /// Number of key-switching digits.
    pub dnum: usize,
    /// Plaintext primes `t_j` (`T = ∏ t_j`, each `≡ 1 mod 2n`).
    pub plaintext_primes: Vec<u64>,
    /// Fingerprint of the RLWE parameters (keys carry it).
    pub rlwe_fingerprint: u64,
}

/// Which evaluation keys the plan needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeySpec {
    /// Column rotation steps (one Galois key each).
    pub rotation_steps: Vec<usize>,
    /// Whether the row-swap key is needed.
    pub row_swap: bool,
    /// Whether the relinearization key is needed.
    pub relinearization: bool,
}

impl PublicKeySpec {
    /// As the executor's [`KeySpec`].
    pub fn to_key_spec(&self) -> KeySpec {
        KeySpec {
            rotation_steps: self.rotation_steps.clone(),
            row_swap: self.row_swap,
            relinearization: self.relinearization,
        }
    }
}

/// How the client places its (quantized) input vector into slot vectors (LoLa section
/// 4.2.1: the plan's input representation, e.g. the convolution representation, written out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputLayout {
    /// Shape of the input (e.g. `[1, 28, 28]`).
    pub shape: Vec<usize>,
    /// Real value of one quantized input unit (`x_q = round(x / scale)`).
    pub scale: f64,
    /// Largest quantized magnitude (inputs are clamped to `±limit`).
    pub limit: i64,
    /// Per message: `(slot, element)` pairs the client writes (other slots are zero).
    pub placements: Vec<Vec<(usize, usize)>>,
}

/// Where the client reads the output vector: one `(message, slot)` per output element.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputLayout {
    /// Output messages (ciphertexts) the server returns.
    pub messages: usize,
    /// `(message, slot)` of each output element (the logits).
    pub slots: Vec<(usize, usize)>,
    /// Real value of one output unit (logit = integer × scale).
    pub scale: f64,
}

/// The public plan of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicPlan {
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// Model name.
    pub model: String,
    /// Scheme (`"bfv"`).
    pub scheme: String,
    /// Kernel strategy of the plan (informative).
    pub strategy: String,
    /// Plan steps in the paper's words (informative).
    pub steps: Vec<String>,
    /// Scheme parameters.
    pub parameters: PublicParameters,
    /// Evaluation keys needed.
    pub keys: PublicKeySpec,
    /// Input layout.
    pub input: InputLayout,
    /// Output layout.
    pub output: OutputLayout,
    /// Bytes of an encrypted input (what `predict` accepts).
    pub input_bytes: usize,
}

/// Bound on any count in a received plan (slots of the largest ring, `n = 2^17`).
const MAX_COUNT: usize = 1 << 17;

impl PublicPlan {
    /// Rebuilds and checks the RLWE parameters (128-bit security, primes) and the BFV
    /// parameters of every plaintext prime; checks the fingerprint.
    pub fn bfv_parameters(&self) -> ServeResult<Vec<Arc<BfvParameters>>> {
        let pp = &self.parameters;
        let bad = |d: String| ServeError::malformed("public plan", d);
        if pp.q.len() + pp.p.len() > 64
            || pp.plaintext_primes.is_empty()
            || pp.plaintext_primes.len() > 8
        {
            return Err(bad("too many or too few primes".into()));
        }
        let rlwe = Arc::new(
            RlweParameters::new(pp.log_n, &pp.q, &pp.p, pp.dnum)
                .map_err(|e| bad(format!("parameters: {e}")))?,
        );
        if rlwe.fingerprint() != pp.rlwe_fingerprint {
            return Err(bad("parameter fingerprint mismatch".into()));
        }
        pp.plaintext_primes
            .iter()
            .map(|&t| {
                let p = BfvParameters::new(rlwe.clone(), t)
                    .map_err(|e| bad(format!("plaintext prime {t}: {e}")))?;
                if !p.supports_batching() {
                    return Err(bad(format!(
                        "plaintext prime {t} does not support batching"
                    )));
                }
                Ok(p)
            })
            .collect()
    }

    /// Checks the plan's layouts and keys against its parameters; returns the BFV parameters.
    pub fn validate(&self) -> ServeResult<Vec<Arc<BfvParameters>>> {
        let bad = |d: String| ServeError::malformed("public plan", d);
        if self.version != PLAN_VERSION {
            return Err(bad(format!(
                "plan version {}, this build reads {PLAN_VERSION}",
                self.version
            )));
        }
        if self.scheme != "bfv" {
            return Err(bad(format!("scheme {:?} is not supported", self.scheme)));
        }
        let params = self.bfv_parameters()?;
        let n = params[0].degree();
        let slots = n;
        let row_len = n / 2;
        let len: usize = self
            .input
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .unwrap_or(usize::MAX);
        if len == 0 || len > MAX_COUNT || self.input.shape.len() > 4 {
            return Err(bad(format!("input shape {:?}", self.input.shape)));
        }
        let scale_ok = self.input.scale.is_finite() && self.input.scale > 0.0;
        if !(scale_ok && (1..=1 << 20).contains(&self.input.limit)) {
            return Err(bad("input quantization out of range".into()));
        }
        if self.input.placements.is_empty() || self.input.placements.len() > MAX_COUNT {
            return Err(bad("input messages out of range".into()));
        }
        for m in &self.input.placements {
            if m.len() > slots || m.iter().any(|&(s, e)| s >= slots || e >= len) {
                return Err(bad("input placement outside the slots or the input".into()));
            }
        }
        let o = &self.output;
        if o.messages == 0
            || o.messages > MAX_COUNT
            || o.slots.is_empty()
            || o.slots.len() > MAX_COUNT
            || o.slots.iter().any(|&(m, s)| m >= o.messages || s >= slots)
            || !o.scale.is_finite()
        {
            return Err(bad("output layout out of range".into()));
        }
        if self.keys.rotation_steps.len() > row_len
            || self.keys.rotation_steps.iter().any(|&s| s >= row_len)
        {
            return Err(bad("rotation steps out of range".into()));
        }
        Ok(params)
    }

    /// Quantizes a real input as the model does (`round(x / scale)`, clamped to `±limit`).
    pub fn quantize_input(&self, x: &[f32]) -> ServeResult<Vec<i128>> {
        let len: usize = self.input.shape.iter().product();
        if x.len() != len {
            return Err(ServeError::BadRequest(format!(
                "input of {} values, the model expects {len}",
                x.len()
            )));
        }
        x.iter()
            .enumerate()
            .map(|(i, v)| {
                if !v.is_finite() {
                    return Err(ServeError::BadRequest(format!("input value {i} is {v}")));
                }
                let q = (f64::from(*v) / self.input.scale).round();
                Ok(i128::from(
                    (q as i64).clamp(-self.input.limit, self.input.limit),
                ))
            })
            .collect()
    }
}
