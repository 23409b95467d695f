//! A model as the server holds it: the quantized network, its plan for BFV, the parameters
//! sized for it, and its [`PublicPlan`].
//!
//! Sizing follows `henn bench lola` (LoLa section 4.4: the plaintext modulus must hold the
//! outputs): BFV computes in `Z_T`, `T = ∏ t_j`, so only the outputs must fit `(-T/2, T/2]`.
//! The largest absolute logit over calibration images times a margin of `2^margin_bits` gives
//! the bits of `T`; the planner ([`choose_bfv`]) then picks the 128-bit preset, the kernel
//! strategy and the plaintext primes whose estimated final noise budget is at least
//! `safety_bits`, cheapest by estimated latency (as `henn plan` and `henn bench lola`); no
//! model is served with parameters the noise estimate says cannot decrypt.
//! The prepared plaintexts (weights and masks encoded once) are recorded by the first
//! evaluation and shared by every later key's backend.

use std::path::Path;
use std::sync::{Arc, Mutex};

use henn_he::bfv::{BfvParameters, BfvParametersBuilder, Preset, SeededCiphertext};
use henn_he::rlwe::{Ciphertext, RlweParameters};
use henn_infer::backend::bfv::{BfvCrtBackend, KeySpec, PlaintextCache};
use henn_infer::backend::clear::ClearBackend;
use henn_infer::encrypted::{encrypt_vector, EncryptedVector};
use henn_infer::from_nn::quantize_model;
use henn_infer::network::IntNetwork;
use henn_infer::params::choose_bfv;
use henn_infer::plan::{execute, key_requirements, Plan, Strategy};
use henn_infer::representation::{Representation, SlotGeometry};
use henn_nn::model::Model;
use henn_nn::quant::{QuantConfig, QuantizedModel};

use crate::error::{ServeError, ServeResult};
use crate::plan::{
    InputLayout, OutputLayout, PublicKeySpec, PublicParameters, PublicPlan, PLAN_VERSION,
};

/// How the server sizes and plans a model.
#[derive(Clone, Debug)]
pub struct ModelOptions {
    /// The 128-bit presets the planner may choose from (`None`: all of `henn_he`'s).
    pub presets: Option<Vec<Preset>>,
    /// Safety margin on the largest calibration logit, in bits.
    pub margin_bits: u32,
    /// Smallest estimated noise budget accepted at the end of the plan, in bits.
    pub safety_bits: f64,
    /// Kernel strategies the planner may choose from.
    pub strategies: Vec<Strategy>,
    /// Quantization of the float model.
    pub quant: QuantConfig,
}

impl Default for ModelOptions {
    /// Every 128-bit preset, a 4-bit margin on the logits, a 4-bit noise-budget safety margin,
    /// LoLa's and the BSGS kernels, default quantization (as `henn plan`).
    fn default() -> Self {
        Self {
            presets: None,
            margin_bits: 4,
            safety_bits: 4.0,
            strategies: vec![Strategy::LoLa, Strategy::LoLaBsgs],
            quant: QuantConfig::default(),
        }
    }
}

/// A served model (see the module docs).
pub struct ServedModel {
    /// Name (the model directory's name).
    pub name: String,
    /// The quantized model (exact plaintext reference).
    pub quantized: QuantizedModel,
    /// The integer network the plan compiles.
    pub net: IntNetwork<i128>,
    /// The plan.
    pub plan: Plan,
    /// Keys the plan needs.
    pub keys: KeySpec,
    /// RLWE parameters.
    pub rlwe: Arc<RlweParameters>,
    /// BFV parameters, one per plaintext prime.
    pub params: Vec<Arc<BfvParameters>>,
    /// Output representation of the plan.
    pub output_repr: Representation,
    /// What clients see.
    pub public: PublicPlan,
    prepared: Mutex<Option<Arc<BfvCrtBackend>>>,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("primes", &self.public.parameters.plaintext_primes)
            .finish()
    }
}

impl ServedModel {
    /// Loads `dir` (a model directory), quantizes it, sizes `T` on `calibration` images
    /// (each a flattened input of real values), plans it and derives its public plan.
    pub fn load(
        dir: &Path,
        name: &str,
        calibration: &[&[f32]],
        opts: &ModelOptions,
    ) -> ServeResult<Self> {
        let err = |d: String| ServeError::Model {
            model: name.to_string(),
            detail: d,
        };
        if calibration.is_empty() {
            return Err(err("at least one calibration image is needed".into()));
        }
        let model = Model::load(dir).map_err(|e| err(format!("loading {}: {e}", dir.display())))?;
        let (quantized, net) =
            quantize_model(&model, &opts.quant).map_err(|e| err(e.to_string()))?;
        let mut max_logit: i128 = 0;
        for x in calibration {
            let xq: Vec<i128> = quantized
                .quantize_input(x)
                .map_err(|e| err(format!("calibration image: {e}")))?
                .into_iter()
                .map(i128::from)
                .collect();
            let y = net.forward(&xq).map_err(|e| err(e.to_string()))?;
            max_logit = max_logit.max(y.iter().map(|v| v.abs()).max().unwrap_or(0));
        }
        let bound = (max_logit.max(1) as f64) * 2f64.powi(opts.margin_bits as i32) * 2.0;
        let bits = bound.log2().ceil() as u32;
        if opts.strategies.is_empty() {
            return Err(err("no kernel strategy to plan with".into()));
        }
        let choice = choose_bfv(
            &net,
            bits,
            &opts.strategies,
            opts.presets.as_deref(),
            opts.safety_bits,
        )
        .map_err(|e| err(format!("planning: {e}")))?;
        let (preset, primes, p) = (choice.preset, choice.primes, choice.plan);
        let strategy = p.strategy;
        let n = 1usize << preset.log_n;
        let rlwe = BfvParametersBuilder::preset(preset)
            .plaintext_modulus(primes[0])
            .build()
            .map_err(|e| err(e.to_string()))?
            .rlwe()
            .clone();
        let params = primes
            .iter()
            .map(|&t| BfvParameters::new(rlwe.clone(), t).map_err(|e| err(e.to_string())))
            .collect::<ServeResult<Vec<_>>>()?;
        let geometry = SlotGeometry {
            rows: 2,
            row_len: n / 2,
        };
        let req = key_requirements(&net, &p, 0).map_err(|e| err(e.to_string()))?;
        let keys = KeySpec {
            rotation_steps: req.rotation_steps.iter().copied().collect(),
            row_swap: req.row_swap,
            relinearization: req.relinearization,
        };
        // The output representation, from a dry run on the clear backend.
        let clear = ClearBackend::<i128>::new(2, n / 2, 0).map_err(|e| err(e.to_string()))?;
        let zero = encrypt_vector(&clear, p.input.clone(), &vec![0i128; net.input_len])
            .map_err(|e| err(e.to_string()))?;
        let out =
            execute(&clear, &net, &p, zero, |_, _, _, _| {}).map_err(|e| err(e.to_string()))?;
        let output_repr = out.repr;
        let output_slots = (0..output_repr.len())
            .map(|i| {
                output_repr
                    .canonical(i, &geometry)
                    .ok_or_else(|| err(format!("output element {i} is not represented")))
            })
            .collect::<ServeResult<Vec<_>>>()?;
        let input_messages = p.input.messages();
        let public = PublicPlan {
            version: PLAN_VERSION,
            model: name.to_string(),
            scheme: "bfv".into(),
            strategy: format!("{strategy:?}"),
            steps: p.steps.iter().map(|s| s.describe()).collect(),
            parameters: PublicParameters {
                log_n: preset.log_n,
                q: rlwe.q_basis().moduli(),
                p: rlwe.p_basis().moduli(),
                dnum: rlwe.dnum(),
                plaintext_primes: primes.clone(),
                rlwe_fingerprint: rlwe.fingerprint(),
            },
            keys: PublicKeySpec {
                rotation_steps: keys.rotation_steps.clone(),
                row_swap: keys.row_swap,
                relinearization: keys.relinearization,
            },
            input: InputLayout {
                shape: quantized.input_shape.clone(),
                scale: quantized.input_scale,
                limit: quantized.input_limit,
                placements: p.input.placements(&geometry),
            },
            output: OutputLayout {
                messages: output_repr.messages(),
                slots: output_slots,
                scale: quantized.output_scale(),
            },
            input_bytes: input_bytes(&params, input_messages),
        };
        tracing::info!(
            model = name,
            primes = ?primes,
            plaintext_bits = bits,
            preset = preset.name,
            strategy = ?strategy,
            estimated_budget_bits = choice.estimated_budget,
            rotation_keys = keys.rotation_steps.len(),
            input_messages,
            "model planned"
        );
        Ok(Self {
            name: name.to_string(),
            quantized,
            net,
            plan: p,
            keys,
            rlwe,
            params,
            output_repr,
            public,
            prepared: Mutex::new(None),
        })
    }

    /// Builds the server backend of an uploaded key set, sharing the model's prepared
    /// plaintexts when they exist (otherwise the backend records them on its first run).
    pub fn backend(
        &self,
        keys: henn_infer::backend::bfv::EvaluationKeys,
    ) -> ServeResult<Arc<BfvCrtBackend>> {
        let b = BfvCrtBackend::server(&self.rlwe, &self.public.parameters.plaintext_primes, keys)
            .map_err(|e| ServeError::Evaluation(e.to_string()))?;
        let prepared = self
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match prepared {
            Some(p) => b
                .share_prepared_plaintexts(&p)
                .map_err(|e| ServeError::Evaluation(e.to_string()))?,
            None => b.set_plaintext_cache(PlaintextCache::Record),
        }
        Ok(Arc::new(b))
    }

    /// Evaluates the plan on an encrypted input (`input[m][j]`: message `m`, prime `j`) with
    /// a backend from [`ServedModel::backend`]; returns the output ciphertexts likewise.
    pub fn evaluate(
        &self,
        b: &Arc<BfvCrtBackend>,
        input: &[Vec<SeededCiphertext>],
    ) -> ServeResult<Vec<Vec<Ciphertext>>> {
        let ev = |e: &dyn std::fmt::Display| ServeError::Evaluation(e.to_string());
        let cts = input
            .iter()
            .map(|m| b.expand_seeded(m))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ev(&e))?;
        let x = EncryptedVector::new(self.plan.input.clone(), cts, true).map_err(|e| ev(&e))?;
        let y =
            execute(b.as_ref(), &self.net, &self.plan, x, |_, _, _, _| {}).map_err(|e| ev(&e))?;
        if y.repr != self.output_repr {
            return Err(ServeError::Evaluation(
                "output representation differs from the planned one".into(),
            ));
        }
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if prepared.is_none() && b.cached_plaintexts() > 0 {
            b.set_plaintext_cache(PlaintextCache::Frozen);
            tracing::info!(
                model = %self.name,
                plaintexts = b.cached_plaintexts(),
                "prepared plaintexts recorded"
            );
            *prepared = Some(b.clone());
        }
        Ok(y.cts.into_iter().map(|c| c.parts).collect())
    }
}

/// Bytes of an encrypted input of `messages` messages: header, counts, and per message and
/// prime a length prefix and a seeded ciphertext (engine header 16 bytes, seed 32 bytes, one
/// bit-packed polynomial modulo `Q`).
pub fn input_bytes(params: &[Arc<BfvParameters>], messages: usize) -> usize {
    let per: usize = params
        .iter()
        .map(|p| {
            let q = p.rlwe().q_basis();
            let poly: usize = q
                .moduli()
                .iter()
                .map(|m| (p.degree() * (64 - m.leading_zeros()) as usize).div_ceil(8))
                .sum();
            4 + 16 + 32 + poly
        })
        .sum();
    8 + 8 + messages * per
}
