//! [`CompiledModel`]: everything client and server agree on (the [`PublicModel`]) plus what
//! only the server holds (the network's weights, the plan, prepared plaintexts).
//!
//! **File format** (`henn compile --out FILE`): a first line
//! `henn-compiled-model 1 sha256=<hex>` and then a JSON body `{public, recipe,
//! network_sha256}`; the checksum covers the body's bytes. The weights are *not* in the file:
//! they stay in the model directory, and the recipe (scheme, strategy, preset, quantization or
//! calibration maxima) rebuilds the exact network from them without calibration data, cost
//! measurements or a search. Loading checks the checksum, rebuilds and checks the parameters
//! (128-bit), rebuilds the network and compares its SHA-256 with the recorded one (another or
//! changed model is refused), rebuilds the plan of the recorded strategy and checks that it
//! gives the recorded public model (layouts and keys) exactly.

use std::sync::{Arc, Mutex};

use henn_he::bfv::{BfvParameters, BfvParametersBuilder, PRESETS};
use henn_nn::model::Model;
use henn_nn::quant::{QuantConfig, QuantizedModel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::public::{
    InputEncoding, InputLayout, OutputLayout, OutputPrivacy, PublicKeySpec, PublicModel,
    SchemeContext, SchemeParameters, PUBLIC_MODEL_VERSION,
};
use crate::backend::bfv::BfvPlaintext;
use crate::backend::ckks::{parameters_for_chain, CkksChain, CkksPlaintext};
use crate::backend::clear::ClearBackend;
use crate::backend::noise::NoiseBackend;
use crate::backend::prepared::PreparedPlaintexts;
use crate::backend::{SlotEncoding, SlotEvaluator, SlotValue};
use crate::calibrate::normalize_with_maxima;
use crate::encrypted::encrypt_vector;
use crate::error::{InferError, InferResult};
use crate::from_nn::{quantize_model, real_network};
use crate::network::{IntLayer, IntNetwork};
use crate::params::{noise_parameters, plan_depth, BfvChoice, CkksChoice};
use crate::plan::{execute, key_requirements, plan, Plan, Strategy};
use crate::representation::Representation;

/// First word of a compiled-model file.
pub const COMPILED_FORMAT: &str = "henn-compiled-model";
/// Version of the compiled-model file.
pub const COMPILED_VERSION: u32 = 1;

/// Quantization settings as recorded in a compiled model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantRecipe {
    /// Input bits.
    pub input_bits: u32,
    /// Real input value of the largest quantized input.
    pub input_max: f32,
    /// Weight bits.
    pub weight_bits: u32,
    /// Per-layer weight bits.
    pub layer_weight_bits: Vec<(usize, u32)>,
}

/// How the compiled network is rebuilt from the model's weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "lowercase")]
pub enum Recipe {
    /// BFV: quantization, strategy, preset.
    Bfv {
        /// Kernel strategy.
        strategy: String,
        /// 128-bit preset name.
        preset: String,
        /// Quantization.
        quant: QuantRecipe,
        /// Circuit privacy of the outputs (absent in files written before it: off).
        #[serde(default)]
        circuit_privacy: bool,
    },
    /// CKKS: strategy and the calibration's per-layer maxima.
    Ckks {
        /// Kernel strategy.
        strategy: String,
        /// Largest absolute output of every layer over the calibration inputs.
        layer_maxima: Vec<f64>,
        /// Integer headroom bits of the chain.
        headroom_bits: u32,
        /// log2 of the ring degree.
        log_n: u32,
    },
}

/// The name of a strategy in files and on the command line.
pub fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::LoLa => "lola",
        Strategy::LoLaBsgs => "lola-bsgs",
        Strategy::LoLaDense => "lola-dense",
        Strategy::CryptoNets => "cryptonets",
    }
}

/// The strategy of [`strategy_name`].
pub fn parse_strategy(s: &str) -> InferResult<Strategy> {
    Ok(match s {
        "lola" => Strategy::LoLa,
        "lola-bsgs" => Strategy::LoLaBsgs,
        "lola-dense" => Strategy::LoLaDense,
        "cryptonets" => Strategy::CryptoNets,
        _ => {
            return Err(InferError::Malformed {
                what: "compiled model",
                detail: format!("unknown strategy {s:?}"),
            })
        }
    })
}

impl Recipe {
    pub(crate) fn bfv(
        quant: &QuantConfig,
        strategy: Strategy,
        preset: &str,
        circuit_privacy: bool,
    ) -> Self {
        Recipe::Bfv {
            circuit_privacy,
            strategy: strategy_name(strategy).into(),
            preset: preset.into(),
            quant: QuantRecipe {
                input_bits: quant.input_bits,
                input_max: quant.input_max,
                weight_bits: quant.weight_bits,
                layer_weight_bits: quant
                    .layer_weight_bits
                    .iter()
                    .map(|(&k, &v)| (k, v))
                    .collect(),
            },
        }
    }

    pub(crate) fn ckks(
        strategy: Strategy,
        layer_maxima: Vec<f64>,
        headroom_bits: u32,
        log_n: u32,
    ) -> Self {
        Recipe::Ckks {
            strategy: strategy_name(strategy).into(),
            layer_maxima,
            headroom_bits,
            log_n,
        }
    }
}

/// The network the server evaluates.
#[derive(Clone, Debug)]
pub enum CompiledNetwork {
    /// BFV: the quantized model (exact plaintext reference) and its integer network.
    Bfv {
        /// The quantized model.
        quantized: Box<QuantizedModel>,
        /// The integer network.
        net: IntNetwork<i128>,
    },
    /// CKKS: the range-normalised float network and its positive factor
    /// (`net(x) = factor · model(x)`).
    Ckks {
        /// The normalised network.
        net: IntNetwork<f64>,
        /// The factor.
        factor: f64,
    },
}

/// Prepared plaintexts shared by every session of a model (keyed by plan step; the
/// evaluator that recorded them, and its client's keys, are not kept).
pub(crate) enum Prepared {
    Bfv(Arc<PreparedPlaintexts<BfvPlaintext>>),
    Ckks(Arc<PreparedPlaintexts<CkksPlaintext>>),
}

/// A compiled model (see the module docs).
pub struct CompiledModel {
    pub(crate) public: PublicModel,
    pub(crate) ctx: SchemeContext,
    pub(crate) network: CompiledNetwork,
    pub(crate) plan: Plan,
    pub(crate) output_repr: Representation,
    recipe: Recipe,
    network_sha256: String,
    pub(crate) prepared: Mutex<Option<Prepared>>,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("model", &self.public.model)
            .field("scheme", &self.public.parameters.name())
            .field("strategy", &self.public.strategy)
            .finish()
    }
}

trait DigestValue: SlotValue {
    fn bytes(&self) -> [u8; 16];
}

impl DigestValue for i128 {
    fn bytes(&self) -> [u8; 16] {
        self.to_le_bytes()
    }
}

impl DigestValue for f64 {
    fn bytes(&self) -> [u8; 16] {
        u128::from(self.to_bits()).to_le_bytes()
    }
}

fn network_sha256<V: DigestValue>(net: &IntNetwork<V>) -> String {
    let mut h = Sha256::new();
    h.update((net.input_len as u64).to_le_bytes());
    let values = |h: &mut Sha256, v: &[V]| {
        h.update((v.len() as u64).to_le_bytes());
        for x in v {
            h.update(x.bytes());
        }
    };
    for layer in &net.layers {
        match layer {
            IntLayer::Conv2d {
                geometry,
                weights,
                bias,
            } => {
                h.update(b"conv");
                h.update(format!("{geometry:?}").as_bytes());
                values(&mut h, weights);
                values(&mut h, bias.as_deref().unwrap_or(&[]));
            }
            IntLayer::Dense { weights, bias } => {
                h.update(b"dense");
                h.update((weights.rows() as u64).to_le_bytes());
                h.update((weights.cols() as u64).to_le_bytes());
                for r in 0..weights.rows() {
                    values(&mut h, weights.row(r));
                }
                values(&mut h, bias.as_deref().unwrap_or(&[]));
            }
            IntLayer::Square => h.update(b"square"),
        }
    }
    hex(&h.finalize())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn malformed(detail: impl Into<String>) -> InferError {
    InferError::Malformed {
        what: "compiled model",
        detail: detail.into(),
    }
}

/// Output representation, input placements, output slots and keys of a plan.
type Layouts = (
    Representation,
    Vec<Vec<(usize, usize)>>,
    Vec<(usize, usize)>,
    PublicKeySpec,
);

/// The layouts, keys and output representation of `plan` on `net`, from a dry run on the
/// clear backend with `levels` levels.
fn layouts<V: SlotValue>(net: &IntNetwork<V>, plan: &Plan, levels: usize) -> InferResult<Layouts> {
    let g = plan.geometry;
    let clear = ClearBackend::<V>::new(g.rows, g.row_len, levels)?;
    let zero = encrypt_vector(&clear, plan.input.clone(), &vec![V::ZERO; net.input_len])?;
    let out = execute(&clear, net, plan, zero, |_, _, _, _| {})?;
    let slots = (0..out.repr.len())
        .map(|i| {
            out.repr.canonical(i, &g).ok_or_else(|| {
                InferError::InvalidRepresentation(format!("output element {i} is not represented"))
            })
        })
        .collect::<InferResult<Vec<_>>>()?;
    let req = key_requirements(net, plan, levels)?;
    let keys = PublicKeySpec {
        rotation_steps: req.rotation_steps.iter().copied().collect(),
        row_swap: req.row_swap,
        relinearization: req.relinearization,
    };
    Ok((out.repr.clone(), plan.input.placements(&g), slots, keys))
}

/// Circuit privacy of BFV outputs of invariant noise `2^log2_v` (worst output ciphertext) at
/// `level`, over `coefficients` flooded coefficients (`n` × messages × plaintext primes): the
/// flooding width `F = ⌈log2 B⌉ + κ + ⌈log2 N⌉` ([`henn_he::rlwe::flood::uniform_flood_bits`],
/// `κ` = [`henn_he::rlwe::flood::FLOOD_STAT_BITS`]) on the absolute noise `B = v·Q_ℓ/t`, and
/// the estimated budget left after re-randomization (`+ 19·(2n+1)`) and flooding (`+ 2^F`):
/// `−log2(2·(2^F + B + B_pk)·t/Q_ℓ)`.
fn bfv_flooding(
    params: &crate::backend::noise::NoiseParameters,
    level: usize,
    log2_v: f64,
    coefficients: usize,
) -> (OutputPrivacy, f64) {
    use henn_he::rlwe::flood::{pk_noise_bits, uniform_flood_bits, FLOOD_STAT_BITS};
    let log_q: f64 = params.q_bits.iter().take(level + 1).sum();
    let log_b = log2_v + log_q - params.t_bits;
    let flood_bits = uniform_flood_bits(log_b, coefficients, FLOOD_STAT_BITS);
    let n = 1usize << params.log_n;
    let total = (f64::from(flood_bits).exp2() + log_b.exp2() + pk_noise_bits(n).exp2()).log2();
    let budget = -(total + params.t_bits - log_q) - 1.0;
    (
        OutputPrivacy {
            stat_bits: FLOOD_STAT_BITS,
            flood_bits,
        },
        budget,
    )
}

/// The BFV outputs' estimated noise ([`NoiseBackend`]): the noise parameters, the number of
/// returned coefficients (`n` × messages × plaintext primes) and, for every level `ℓ` from 0
/// to the top, `log2` of the worst output's invariant noise after switching to `ℓ`.
fn bfv_output_noise(
    net: &IntNetwork<i128>,
    plan: &Plan,
    preset: &henn_he::bfv::Preset,
    primes: &[u64],
) -> InferResult<(crate::backend::noise::NoiseParameters, usize, Vec<f64>)> {
    let np = noise_parameters(preset, primes);
    let b = NoiseBackend::<i128>::new(np.clone())?;
    let x = encrypt_vector(&b, plan.input.clone(), &vec![0; net.input_len])?;
    let y = execute(&b, net, plan, x, |_, _, _, _| {})?;
    let top = y.cts.first().map_or(0, |c| b.level(c));
    let coefficients = (1usize << np.log_n) * y.cts.len().max(1) * primes.len().max(1);
    let per_level = (0..=top)
        .map(|level| {
            Ok(y.cts
                .iter()
                .map(|c| b.drop_level(c, top - level))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .fold(f64::NEG_INFINITY, |m, d| m.max(d.log2_v)))
        })
        .collect::<InferResult<Vec<f64>>>()?;
    Ok((np, coefficients, per_level))
}

/// The lowest level the BFV outputs can be modulus-switched to with an estimated budget of
/// at least `safety_bits` (noise estimate on the [`NoiseBackend`]) — after re-randomization
/// and flooding when `privacy` ([`bfv_flooding`]) — and the privacy parameters at that level.
/// Errors when even the top level has no room for the flooding.
fn bfv_output_level(
    net: &IntNetwork<i128>,
    plan: &Plan,
    preset: &henn_he::bfv::Preset,
    primes: &[u64],
    safety_bits: f64,
    privacy: bool,
) -> InferResult<(usize, Option<OutputPrivacy>)> {
    let (np, coefficients, per_level) = bfv_output_noise(net, plan, preset, primes)?;
    let at = |level: usize| -> (f64, Option<OutputPrivacy>) {
        let worst = per_level[level];
        if privacy {
            let (p, after) = bfv_flooding(&np, level, worst, coefficients);
            (after, Some(p))
        } else {
            (-worst - 1.0, None)
        }
    };
    for level in 0..per_level.len() {
        let (budget, p) = at(level);
        if budget >= safety_bits {
            return Ok((level, p));
        }
    }
    let top = per_level.len().saturating_sub(1);
    if privacy {
        let (budget, p) = at(top);
        return Err(InferError::DoesNotFit(format!(
            "flooding the BFV outputs (2^{} for κ = {} bits) leaves an estimated budget of \
             {budget:.1} bits, below the {safety_bits} bits of safety",
            p.map_or(0, |p| p.flood_bits),
            henn_he::rlwe::flood::FLOOD_STAT_BITS
        )));
    }
    Ok((top, None))
}

/// The privacy parameters of BFV outputs at a recorded output level ([`bfv_flooding`]).
fn bfv_privacy_at(
    net: &IntNetwork<i128>,
    plan: &Plan,
    preset: &henn_he::bfv::Preset,
    primes: &[u64],
    level: usize,
) -> InferResult<OutputPrivacy> {
    let (np, coefficients, per_level) = bfv_output_noise(net, plan, preset, primes)?;
    let worst = per_level
        .get(level)
        .copied()
        .ok_or_else(|| malformed(format!("output level {level} above the plan's top level")))?;
    Ok(bfv_flooding(&np, level, worst, coefficients).0)
}

impl CompiledModel {
    pub(crate) fn assemble_bfv(
        name: &str,
        _model: &Model,
        quantized: QuantizedModel,
        net: IntNetwork<i128>,
        choice: &BfvChoice,
        safety_bits: f64,
        recipe: Recipe,
    ) -> InferResult<Self> {
        let privacy = matches!(
            recipe,
            Recipe::Bfv {
                circuit_privacy: true,
                ..
            }
        );
        let (output_level, output_privacy) = bfv_output_level(
            &net,
            &choice.plan,
            &choice.preset,
            &choice.primes,
            safety_bits,
            privacy,
        )?;
        Self::build_bfv(
            name,
            quantized,
            net,
            choice.plan.clone(),
            &choice.preset,
            &choice.primes,
            output_level,
            output_privacy,
            choice.estimated_ms,
            recipe,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build_bfv(
        name: &str,
        quantized: QuantizedModel,
        net: IntNetwork<i128>,
        plan: Plan,
        preset: &henn_he::bfv::Preset,
        primes: &[u64],
        output_level: usize,
        output_privacy: Option<OutputPrivacy>,
        estimated_ms: f64,
        recipe: Recipe,
    ) -> InferResult<Self> {
        let engine = |e: henn_he::HeError| crate::backend::BackendError::Engine(Box::new(e));
        let first = primes
            .first()
            .ok_or_else(|| malformed("no plaintext prime"))?;
        let rlwe = BfvParametersBuilder::preset(*preset)
            .plaintext_modulus(*first)
            .build()
            .map_err(engine)?
            .rlwe()
            .clone();
        let params = primes
            .iter()
            .map(|&t| BfvParameters::new(rlwe.clone(), t).map_err(engine))
            .collect::<Result<Vec<_>, _>>()?;
        let (output_repr, placements, slots, keys) = layouts(&net, &plan, 0)?;
        let public = PublicModel {
            version: PUBLIC_MODEL_VERSION,
            model: name.to_string(),
            parameters: SchemeParameters::bfv(&params, output_level),
            strategy: strategy_name(plan.strategy).into(),
            steps: plan.steps.iter().map(|s| s.describe()).collect(),
            keys,
            input: InputLayout {
                shape: quantized.input_shape.clone(),
                encoding: InputEncoding::Quantized {
                    scale: quantized.input_scale,
                    limit: quantized.input_limit,
                },
                placements,
            },
            output: OutputLayout {
                messages: output_repr.messages(),
                slots,
                scale: quantized.output_scale(),
            },
            estimated_ms,
            output_privacy,
        };
        let ctx = public.validate()?;
        Ok(Self {
            network_sha256: network_sha256(&net),
            public,
            ctx,
            network: CompiledNetwork::Bfv {
                quantized: Box::new(quantized),
                net,
            },
            plan,
            output_repr,
            recipe,
            prepared: Mutex::new(None),
        })
    }

    pub(crate) fn assemble_ckks(
        name: &str,
        model: &Model,
        net: IntNetwork<f64>,
        factor: f64,
        choice: &CkksChoice,
        recipe: Recipe,
    ) -> InferResult<Self> {
        Self::build_ckks(
            name,
            model,
            net,
            factor,
            choice.plan.clone(),
            choice.log_n,
            &choice.chain,
            choice.estimated_ms,
            recipe,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build_ckks(
        name: &str,
        model: &Model,
        net: IntNetwork<f64>,
        factor: f64,
        plan: Plan,
        log_n: u32,
        chain: &CkksChain,
        estimated_ms: f64,
        recipe: Recipe,
    ) -> InferResult<Self> {
        let params = parameters_for_chain(log_n, chain)?;
        let depth = chain.q_bits.len().saturating_sub(1);
        let (output_repr, placements, slots, keys) = layouts(&net, &plan, depth)?;
        if !(factor.is_finite() && factor > 0.0) {
            return Err(malformed(format!("calibration factor {factor}")));
        }
        let public = PublicModel {
            version: PUBLIC_MODEL_VERSION,
            model: name.to_string(),
            parameters: SchemeParameters::ckks(&params, 0),
            strategy: strategy_name(plan.strategy).into(),
            steps: plan.steps.iter().map(|s| s.describe()).collect(),
            keys,
            input: InputLayout {
                shape: model.input_shape.clone(),
                encoding: InputEncoding::Real,
                placements,
            },
            output: OutputLayout {
                messages: output_repr.messages(),
                slots,
                scale: 1.0 / factor,
            },
            estimated_ms,
            output_privacy: None,
        };
        let ctx = public.validate()?;
        Ok(Self {
            network_sha256: network_sha256(&net),
            public,
            ctx,
            network: CompiledNetwork::Ckks { net, factor },
            plan,
            output_repr,
            recipe,
            prepared: Mutex::new(None),
        })
    }

    /// The public part (what the client receives).
    pub fn public(&self) -> &PublicModel {
        &self.public
    }

    /// The engine's parameters.
    pub fn context(&self) -> &SchemeContext {
        &self.ctx
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The network the server evaluates.
    pub fn network(&self) -> &CompiledNetwork {
        &self.network
    }

    /// The plaintext reference of one real input, as the encrypted computation defines it:
    /// BFV: the quantized model's integer logits (exact); CKKS: the normalised float network's
    /// logits (what decryption approximates), both as real logits.
    pub fn reference_logits(&self, x: &[f32]) -> InferResult<Vec<f64>> {
        match &self.network {
            CompiledNetwork::Bfv { .. } => {
                let s = self.public.output.scale;
                let ints = self.reference_integer_logits(x)?.unwrap_or_default();
                Ok(ints.iter().map(|&v| v as f64 * s).collect())
            }
            CompiledNetwork::Ckks { net, factor } => {
                let xf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                Ok(net.forward(&xf)?.iter().map(|v| v / factor).collect())
            }
        }
    }

    /// The integer logits of the quantized model (BFV only): what an exact decryption equals.
    pub fn reference_integer_logits(&self, x: &[f32]) -> InferResult<Option<Vec<i128>>> {
        match &self.network {
            CompiledNetwork::Bfv { quantized, net } => {
                let xq: Vec<i128> = quantized
                    .quantize_input(x)
                    .map_err(|e| InferError::InvalidInput(e.to_string()))?
                    .into_iter()
                    .map(i128::from)
                    .collect();
                Ok(Some(net.forward(&xq)?))
            }
            CompiledNetwork::Ckks { .. } => Ok(None),
        }
    }

    /// The plan as LoLa's Table 1 with this machine's operation costs (measured now, cached
    /// per process) and, for BFV, the noise estimate per step.
    pub fn summary(&self) -> InferResult<crate::summary::PlanSummary> {
        use crate::backend::clear::ClearBackend as Clear;
        match (&self.network, &self.recipe) {
            (CompiledNetwork::Bfv { net, .. }, Recipe::Bfv { preset, .. }) => {
                let preset = PRESETS
                    .iter()
                    .find(|p| p.name == preset)
                    .ok_or_else(|| malformed(format!("unknown preset {preset}")))?;
                let SchemeParameters::Bfv {
                    plaintext_primes, ..
                } = &self.public.parameters
                else {
                    return Err(malformed("BFV recipe with CKKS parameters"));
                };
                let costs = super::costs::bfv_costs(preset)?;
                let (budget, steps) = crate::params::estimate_budget(
                    net,
                    &self.plan,
                    noise_parameters(preset, plaintext_primes),
                )?;
                let g = self.plan.geometry;
                let (_, report) = crate::plan::profile(
                    &Clear::<i128>::new(g.rows, g.row_len, 0)?,
                    net,
                    &self.plan,
                    &vec![0; net.input_len],
                )?;
                crate::summary::summarize(
                    net,
                    &BfvChoice {
                        preset: *preset,
                        primes: plaintext_primes.clone(),
                        plan: self.plan.clone(),
                        estimated_budget: budget,
                        step_budgets: steps,
                        estimated_ms: self.public.estimated_ms,
                        counts: report.total,
                        costs,
                    },
                )
            }
            (
                CompiledNetwork::Ckks { net, .. },
                Recipe::Ckks {
                    headroom_bits,
                    log_n,
                    ..
                },
            ) => {
                let depth = plan_depth(net, &self.plan)?;
                let chain = crate::backend::ckks::chain_for_depth(*log_n, depth, *headroom_bits)?;
                let costs = super::costs::ckks_costs(*log_n, &chain)?;
                let g = self.plan.geometry;
                let (_, report) = crate::plan::profile(
                    &Clear::<f64>::new(g.rows, g.row_len, depth)?,
                    net,
                    &self.plan,
                    &vec![0.0; net.input_len],
                )?;
                crate::summary::summarize_ckks(
                    net,
                    &CkksChoice {
                        log_n: *log_n,
                        chain,
                        depth,
                        plan: self.plan.clone(),
                        estimated_ms: self.public.estimated_ms,
                        counts: report.total,
                    },
                    &costs,
                )
            }
            _ => Err(malformed("recipe and network of different schemes")),
        }
    }

    /// The compiled-model file (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "public": self.public,
            "recipe": self.recipe,
            "network_sha256": self.network_sha256,
        })
        .to_string();
        let sum = hex(&Sha256::digest(body.as_bytes()));
        format!("{COMPILED_FORMAT} {COMPILED_VERSION} sha256={sum}\n{body}").into_bytes()
    }

    /// Loads a compiled-model file for `model` (its weights), with every check of the module
    /// docs; no calibration, measurement or search is repeated.
    pub fn from_bytes(bytes: &[u8], model: &Model) -> InferResult<Self> {
        let split = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| malformed("no header line"))?;
        let header =
            std::str::from_utf8(&bytes[..split]).map_err(|_| malformed("header is not UTF-8"))?;
        let body = &bytes[split + 1..];
        let mut words = header.split(' ');
        if words.next() != Some(COMPILED_FORMAT) {
            return Err(malformed("not a henn compiled-model file"));
        }
        let version = words.next().and_then(|v| v.parse::<u32>().ok());
        if version != Some(COMPILED_VERSION) {
            return Err(malformed(format!(
                "version {version:?}, this build reads {COMPILED_VERSION}"
            )));
        }
        let sum = words
            .next()
            .and_then(|w| w.strip_prefix("sha256="))
            .ok_or_else(|| malformed("no checksum"))?;
        if hex(&Sha256::digest(body)) != sum {
            return Err(malformed("checksum mismatch: the file is corrupted"));
        }
        #[derive(Deserialize)]
        struct Body {
            public: PublicModel,
            recipe: Recipe,
            network_sha256: String,
        }
        let b: Body = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
        b.public.validate()?;
        let rebuilt = match &b.recipe {
            Recipe::Bfv {
                strategy,
                preset,
                quant,
                circuit_privacy,
            } => {
                let SchemeParameters::Bfv {
                    plaintext_primes,
                    output_level,
                    ..
                } = &b.public.parameters
                else {
                    return Err(malformed("BFV recipe with CKKS parameters"));
                };
                let preset = PRESETS
                    .iter()
                    .find(|p| p.name == preset)
                    .ok_or_else(|| malformed(format!("unknown preset {preset}")))?;
                let config = QuantConfig {
                    input_bits: quant.input_bits,
                    input_max: quant.input_max,
                    weight_bits: quant.weight_bits,
                    layer_weight_bits: quant.layer_weight_bits.iter().copied().collect(),
                };
                let (q, net) = quantize_model(model, &config)?;
                let n = 1usize << preset.log_n;
                let mut p = plan(
                    &net,
                    crate::representation::SlotGeometry {
                        rows: 2,
                        row_len: n / 2,
                    },
                    parse_strategy(strategy)?,
                )?;
                p.rescale = false;
                // the privacy parameters are recomputed from the noise estimate (never read
                // from the file), so the comparison below checks them too
                let output_privacy = if *circuit_privacy {
                    Some(bfv_privacy_at(
                        &net,
                        &p,
                        preset,
                        plaintext_primes,
                        *output_level,
                    )?)
                } else {
                    None
                };
                Self::build_bfv(
                    &b.public.model,
                    q,
                    net,
                    p,
                    preset,
                    plaintext_primes,
                    *output_level,
                    output_privacy,
                    b.public.estimated_ms,
                    b.recipe.clone(),
                )?
            }
            Recipe::Ckks {
                strategy,
                layer_maxima,
                headroom_bits,
                log_n,
            } => {
                let (net, factor) =
                    normalize_with_maxima(&real_network(model)?, layer_maxima, 1.0)?;
                let n = 1usize << log_n;
                let p = plan(
                    &net,
                    crate::representation::SlotGeometry {
                        rows: 1,
                        row_len: n / 2,
                    },
                    parse_strategy(strategy)?,
                )?;
                let depth = plan_depth(&net, &p)?;
                let chain = crate::backend::ckks::chain_for_depth(*log_n, depth, *headroom_bits)?;
                Self::build_ckks(
                    &b.public.model,
                    model,
                    net,
                    factor,
                    p,
                    *log_n,
                    &chain,
                    b.public.estimated_ms,
                    b.recipe.clone(),
                )?
            }
        };
        if rebuilt.network_sha256 != b.network_sha256 {
            return Err(malformed(
                "the model's weights differ from the ones it was compiled from",
            ));
        }
        if rebuilt.public != b.public {
            return Err(malformed(
                "the recorded parameters or layouts differ from the ones this model and build give",
            ));
        }
        Ok(rebuilt)
    }
}
