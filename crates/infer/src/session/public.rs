//! The public part of a compiled model: everything a client needs to make keys, encrypt inputs
//! and decrypt outputs — scheme, parameters, the evaluation keys the plan needs, slot layouts,
//! the input encoding — and nothing about the weights (LoLa section 1: the model stays with its
//! owner; its architecture is public).
//!
//! Serialized as JSON (`GET /v1/models/{name}` of the service, the `public` part of a compiled
//! model file). [`PublicModel::validate`] re-checks everything a peer sends (128-bit security of
//! the parameters included) before it is used, and every count is bounded.

use std::sync::Arc;

use henn_he::bfv::BfvParameters;
use henn_he::ckks::{CkksParameters, CkksParametersBuilder};
use henn_he::rlwe::RlweParameters;
use serde::{Deserialize, Serialize};

use crate::backend::bfv::KeySpec;
use crate::error::{InferError, InferResult};

/// Version of the public-model JSON.
pub const PUBLIC_MODEL_VERSION: u32 = 2;

/// Bound on any count in a received public model (slots of the largest ring, `n = 2^17`).
const MAX_COUNT: usize = 1 << 17;

/// The scheme and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "lowercase")]
pub enum SchemeParameters {
    /// BFV with a CRT plaintext space `T = ∏ t_j` (LoLa section 3.1): exact integer results.
    Bfv {
        /// log2 of the ring degree `n`.
        log_n: u32,
        /// Ciphertext primes `q_i`.
        q: Vec<u64>,
        /// Special primes of hybrid key switching.
        p: Vec<u64>,
        /// Key-switching digits.
        dnum: usize,
        /// Plaintext primes `t_j` (each `≡ 1 mod 2n`).
        plaintext_primes: Vec<u64>,
        /// Level the outputs are modulus-switched to before they are returned.
        output_level: usize,
        /// Fingerprint of the RLWE parameters (keys carry it).
        rlwe_fingerprint: u64,
    },
    /// CKKS with real slots (LoLa section 5): approximate results from the float weights.
    Ckks {
        /// log2 of the ring degree `n`.
        log_n: u32,
        /// Ciphertext primes `q_0 … q_L`.
        q: Vec<u64>,
        /// Special primes of hybrid key switching.
        p: Vec<u64>,
        /// Key-switching digits.
        dnum: usize,
        /// log2 of the default scale `Δ`.
        log_scale: u32,
        /// Level the outputs are dropped to before they are returned.
        output_level: usize,
        /// Fingerprint of the CKKS parameters.
        fingerprint: u64,
    },
}

impl SchemeParameters {
    /// `"bfv"` or `"ckks"`.
    pub fn name(&self) -> &'static str {
        match self {
            SchemeParameters::Bfv { .. } => "bfv",
            SchemeParameters::Ckks { .. } => "ckks",
        }
    }

    /// log2 of the ring degree.
    pub fn log_n(&self) -> u32 {
        match self {
            SchemeParameters::Bfv { log_n, .. } | SchemeParameters::Ckks { log_n, .. } => *log_n,
        }
    }

    /// The level outputs are returned at.
    pub fn output_level(&self) -> usize {
        match self {
            SchemeParameters::Bfv { output_level, .. }
            | SchemeParameters::Ckks { output_level, .. } => *output_level,
        }
    }

    /// The BFV parameters of [`SchemeParameters::Bfv`].
    pub fn bfv(params: &[Arc<BfvParameters>], output_level: usize) -> Self {
        let rlwe = params[0].rlwe();
        SchemeParameters::Bfv {
            log_n: rlwe.degree().trailing_zeros(),
            q: rlwe.q_basis().moduli(),
            p: rlwe.p_basis().moduli(),
            dnum: rlwe.dnum(),
            plaintext_primes: params.iter().map(|p| p.plaintext_modulus()).collect(),
            output_level,
            rlwe_fingerprint: rlwe.fingerprint(),
        }
    }

    /// The parameters of [`SchemeParameters::Ckks`].
    pub fn ckks(params: &CkksParameters, output_level: usize) -> Self {
        let rlwe = params.rlwe();
        SchemeParameters::Ckks {
            log_n: rlwe.degree().trailing_zeros(),
            q: rlwe.q_basis().moduli(),
            p: rlwe.p_basis().moduli(),
            dnum: rlwe.dnum(),
            log_scale: params.default_scale().log2().round() as u32,
            output_level,
            fingerprint: params.fingerprint(),
        }
    }

    /// Rebuilds the engine's parameters, re-running every check (128-bit security, primes,
    /// batching) and verifying the fingerprint.
    pub fn build(&self) -> InferResult<SchemeContext> {
        let bad = |d: String| InferError::Malformed {
            what: "public model",
            detail: d,
        };
        match self {
            SchemeParameters::Bfv {
                log_n,
                q,
                p,
                dnum,
                plaintext_primes,
                output_level,
                rlwe_fingerprint,
            } => {
                if q.len() + p.len() > 64
                    || plaintext_primes.is_empty()
                    || plaintext_primes.len() > 8
                {
                    return Err(bad("too many or too few primes".into()));
                }
                let rlwe = Arc::new(
                    RlweParameters::new(*log_n, q, p, *dnum)
                        .map_err(|e| bad(format!("parameters: {e}")))?,
                );
                if rlwe.fingerprint() != *rlwe_fingerprint {
                    return Err(bad("parameter fingerprint mismatch".into()));
                }
                if *output_level >= q.len() {
                    return Err(bad(format!("output level {output_level} out of range")));
                }
                let params = plaintext_primes
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
                    .collect::<InferResult<Vec<_>>>()?;
                let mut product: u128 = 1;
                for &t in plaintext_primes {
                    product = product
                        .checked_mul(u128::from(t))
                        .filter(|&m| m < 1 << 126)
                        .ok_or_else(|| bad("plaintext space above 126 bits".into()))?;
                }
                Ok(SchemeContext::Bfv(params))
            }
            SchemeParameters::Ckks {
                log_n,
                q,
                p,
                dnum,
                log_scale,
                output_level,
                fingerprint,
            } => {
                if q.len() + p.len() > 64 || q.is_empty() || !(10..=60).contains(log_scale) {
                    return Err(bad("primes or scale out of range".into()));
                }
                let params = CkksParametersBuilder::new()
                    .log_n(*log_n)
                    .primes(q, p)
                    .dnum(*dnum)
                    .log_scale(*log_scale)
                    .build()
                    .map_err(|e| bad(format!("parameters: {e}")))?;
                if params.fingerprint() != *fingerprint {
                    return Err(bad("parameter fingerprint mismatch".into()));
                }
                if *output_level > params.max_level() {
                    return Err(bad(format!("output level {output_level} out of range")));
                }
                Ok(SchemeContext::Ckks(params))
            }
        }
    }
}

/// The engine's parameters of a public model, rebuilt and checked.
#[derive(Clone, Debug)]
pub enum SchemeContext {
    /// One BFV parameter set per plaintext prime (one RLWE ring and key set for all).
    Bfv(Vec<Arc<BfvParameters>>),
    /// The CKKS parameters.
    Ckks(Arc<CkksParameters>),
}

impl SchemeContext {
    /// The ring degree `n`.
    pub fn degree(&self) -> usize {
        match self {
            SchemeContext::Bfv(p) => p[0].degree(),
            SchemeContext::Ckks(p) => p.degree(),
        }
    }

    /// Slot rows (2 for BFV, 1 for CKKS) and the length of one row.
    pub fn geometry(&self) -> crate::representation::SlotGeometry {
        let n = self.degree();
        match self {
            SchemeContext::Bfv(_) => crate::representation::SlotGeometry {
                rows: 2,
                row_len: n / 2,
            },
            SchemeContext::Ckks(_) => crate::representation::SlotGeometry {
                rows: 1,
                row_len: n / 2,
            },
        }
    }
}

/// Which evaluation keys the plan needs: exactly these, no more (the server refuses others).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeySpec {
    /// Column rotation steps (one Galois key each).
    pub rotation_steps: Vec<usize>,
    /// Whether the BFV row-swap key is needed.
    pub row_swap: bool,
    /// Whether the relinearization key is needed.
    pub relinearization: bool,
}

impl PublicKeySpec {
    /// As the backends' [`KeySpec`].
    pub fn to_key_spec(&self) -> KeySpec {
        KeySpec {
            rotation_steps: self.rotation_steps.clone(),
            row_swap: self.row_swap,
            relinearization: self.relinearization,
        }
    }
}

/// How a real input becomes slot values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum InputEncoding {
    /// BFV: `x_q = round(x / scale)`, clamped to `±limit` (the quantized model's input).
    Quantized {
        /// Real value of one quantized unit.
        scale: f64,
        /// Largest quantized magnitude.
        limit: i64,
    },
    /// CKKS: the real values themselves.
    Real,
}

/// How the client places its input vector into slot vectors (LoLa section 4.2.1: the plan's
/// input representation, e.g. the convolution representation, written out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputLayout {
    /// Shape of the input (e.g. `[1, 28, 28]`).
    pub shape: Vec<usize>,
    /// How real values become slot values.
    pub encoding: InputEncoding,
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
    /// Logit = decoded slot value × scale (BFV: the quantized model's output scale; CKKS: the
    /// inverse of the calibration's positive factor).
    pub scale: f64,
}

/// Circuit privacy of the returned ciphertexts (issue 12): the server re-randomizes every
/// output ciphertext at the output level with a fresh encryption of zero under the client's
/// public key (uploaded with the evaluation keys) and floods `c_0` with uniform noise in
/// `[−2^flood_bits, 2^flood_bits)` ([`henn_he::rlwe::flood`]), so the returned noise is within
/// statistical distance `2^(−stat_bits)` of one that depends only on the result. The compile
/// step reserved the room for it (see [`crate::session::compile`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputPrivacy {
    /// Statistical parameter `κ` (bits).
    pub stat_bits: u32,
    /// Flooding width `F` (bits, absolute, on the phase at the output level).
    pub flood_bits: u32,
}

/// The public part of a compiled model (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicModel {
    /// [`PUBLIC_MODEL_VERSION`].
    pub version: u32,
    /// Model name.
    pub model: String,
    /// Scheme and parameters.
    pub parameters: SchemeParameters,
    /// Kernel strategy of the plan (informative).
    pub strategy: String,
    /// Plan steps in the paper's words (informative).
    pub steps: Vec<String>,
    /// The evaluation keys the plan needs.
    pub keys: PublicKeySpec,
    /// Input layout.
    pub input: InputLayout,
    /// Output layout.
    pub output: OutputLayout,
    /// The planner's single-thread latency estimate, milliseconds (from operation costs
    /// measured on this engine at compile time).
    pub estimated_ms: f64,
    /// Circuit privacy of the outputs (`None`: outputs are returned as evaluated; the key
    /// upload then carries no public key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_privacy: Option<OutputPrivacy>,
}

impl PublicModel {
    /// Checks the version, the parameters (rebuilt, 128-bit), the layouts and keys against
    /// them; returns the engine's parameters.
    pub fn validate(&self) -> InferResult<SchemeContext> {
        let bad = |d: String| InferError::Malformed {
            what: "public model",
            detail: d,
        };
        if self.version != PUBLIC_MODEL_VERSION {
            return Err(bad(format!(
                "version {}, this build reads {PUBLIC_MODEL_VERSION}",
                self.version
            )));
        }
        let ctx = self.parameters.build()?;
        let g = ctx.geometry();
        let slots = g.rows * g.row_len;
        let len: usize = self
            .input
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .unwrap_or(usize::MAX);
        if len == 0 || len > MAX_COUNT || self.input.shape.len() > 4 {
            return Err(bad(format!("input shape {:?}", self.input.shape)));
        }
        match (&self.input.encoding, &ctx) {
            (InputEncoding::Quantized { scale, limit }, SchemeContext::Bfv(_)) => {
                if !(scale.is_finite() && *scale > 0.0 && (1..=1 << 20).contains(limit)) {
                    return Err(bad("input quantization out of range".into()));
                }
            }
            (InputEncoding::Real, SchemeContext::Ckks(_)) => {}
            _ => return Err(bad("input encoding does not match the scheme".into())),
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
            || !(o.scale.is_finite() && o.scale > 0.0)
        {
            return Err(bad("output layout out of range".into()));
        }
        if self.keys.rotation_steps.len() > g.row_len
            || self.keys.rotation_steps.iter().any(|&s| s >= g.row_len)
        {
            return Err(bad("rotation steps out of range".into()));
        }
        if self.keys.row_swap && matches!(ctx, SchemeContext::Ckks(_)) {
            return Err(bad("CKKS has no row swap".into()));
        }
        if let Some(p) = self.output_privacy {
            if p.stat_bits == 0 || p.stat_bits > 128 || p.flood_bits > 1024 {
                return Err(bad("output privacy parameters out of range".into()));
            }
        }
        Ok(ctx)
    }

    /// Number of input values (the product of the input shape).
    pub fn input_len(&self) -> usize {
        self.input.shape.iter().product()
    }

    /// The JSON text of the public model.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses and validates a public model received from a peer.
    pub fn from_json(text: &str) -> InferResult<(Self, SchemeContext)> {
        let p: PublicModel = serde_json::from_str(text).map_err(|e| InferError::Malformed {
            what: "public model",
            detail: e.to_string(),
        })?;
        let ctx = p.validate()?;
        Ok((p, ctx))
    }
}
