//! `compile(model, calibration, options) → CompiledModel`: the one place where a model is
//! calibrated, sized, planned and given parameters (design: "one pipeline, typed sessions").
//!
//! * **BFV** (exact): the model is quantized ([`quantize_model`]); the largest absolute logit
//!   of the integer network over the calibration inputs times `2^margin_bits`, doubled, gives
//!   the bits of the plaintext space `T` ([`output_bits`]); [`choose_bfv`] picks the 128-bit
//!   preset, strategy and plaintext primes whose estimated final noise budget is at least
//!   `safety_bits`, by latency from operation costs measured on this engine. Outputs are
//!   modulus-switched to the lowest level whose estimated budget still meets `safety_bits`.
//! * **CKKS** (approximate): the float network is range-normalised on the calibration inputs
//!   ([`normalize_with_maxima`]: every linear layer's largest output becomes 1, which scales
//!   the logits by one positive factor and keeps every prediction); [`choose_ckks`] sizes a
//!   128-bit chain by each plan's depth with `margin_bits + 2` bits of headroom and ranks by
//!   measured costs. Outputs are dropped to level 0 (they only need `q_0`).
//! * **Auto** compiles both and keeps the one with the smaller estimated latency.
//!
//! **Circuit privacy** ([`CompileOptions::circuit_privacy`], on by default; issue 12): the
//! server re-randomizes and floods every returned ciphertext at the output level
//! ([`henn_he::rlwe::flood`]: uniform noise of width `F = ⌈log2 B⌉ + κ + ⌈log2 N⌉` over the
//! `N` returned coefficients, `κ = 40`, statistical distance `≤ 2^(−κ)` from an answer whose
//! noise depends only on the result). The compile step reserves the room:
//! * BFV: the chooser asks for `κ + ⌈log2(n·2·primes)⌉ + 2` bits of estimated budget beyond
//!   `safety_bits` (two output messages assumed), and the output level is the lowest whose
//!   estimated budget *after* re-randomization and flooding is still `≥ safety_bits`, so the
//!   results stay bit-exact.
//! * CKKS: the flooding noise is added to the message itself (CKKS decrypts `Δ·m + e`), so it
//!   costs precision, not modulus: with noise of at least one unit, `2^F ≥ 2^(κ + log2 n)`,
//!   which perturbs each slot by about `2^F·√(n/3)/Δ`. Keeping that `2^(margin_bits)` below
//!   the logits needs `log2 Δ ≥ κ + 1.5·log2 n + margin_bits` (> 63 bits for `n ≥ 2^13`),
//!   which no 128-bit chain of [`crate::backend::ckks::chain_for_depth`] has (scales ≤ 2^50).
//!   CKKS is therefore refused while circuit privacy is on (the Gaussian flooding of
//!   Li–Micciancio–Schultz–Sorrell, CRYPTO 2022, with its `κ/2` bit-security argument would
//!   still need `≈ κ/2 + log2 n` more bits of precision than the ≈ 10 bits these chains give);
//!   `Auto` then picks BFV.

use henn_nn::model::Model;
use henn_nn::quant::{QuantConfig, QuantizedModel};

use super::compiled::{CompiledModel, Recipe};
use super::costs::{bfv_costs, ckks_costs};
use crate::calibrate::{layer_maxima, normalize_with_maxima};
use crate::error::{InferError, InferResult};
use crate::from_nn::{quantize_model, real_network};
use crate::network::IntNetwork;
use crate::params::{choose_bfv_with_room, choose_ckks};
use crate::plan::Strategy;

/// Which scheme to compile for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemeChoice {
    /// Both; the smaller estimated latency wins.
    Auto,
    /// BFV (exact integer results).
    Bfv,
    /// CKKS (approximate results from the float weights).
    Ckks,
}

/// Options of [`compile`].
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Scheme.
    pub scheme: SchemeChoice,
    /// Kernel strategies to choose from (`None`: LoLa and LoLa with BSGS products; LoLa-Dense
    /// when asked for explicitly).
    pub strategies: Option<Vec<Strategy>>,
    /// Quantization (BFV).
    pub quant: QuantConfig,
    /// Margin on the largest calibration value, in bits (BFV: on the logits; CKKS: headroom).
    pub margin_bits: u32,
    /// Smallest estimated BFV noise budget accepted at the output, in bits.
    pub safety_bits: f64,
    /// Ring degrees (`log2 n`) CKKS may use.
    pub ckks_log_ns: Vec<u32>,
    /// Re-randomize and flood the returned ciphertexts (circuit privacy of the model, see the
    /// module docs).
    pub circuit_privacy: bool,
}

impl Default for CompileOptions {
    /// Auto scheme, LoLa and BSGS strategies, default quantization (4-bit inputs, 6-bit
    /// weights), 4 bits of margin, 4 bits of noise-budget safety, CKKS at `n = 8192` or
    /// `16384`, circuit privacy on.
    fn default() -> Self {
        Self {
            scheme: SchemeChoice::Auto,
            strategies: None,
            quant: QuantConfig::default(),
            margin_bits: 4,
            safety_bits: 4.0,
            ckks_log_ns: vec![13, 14],
            circuit_privacy: true,
        }
    }
}

/// Calibration inputs: real-valued inputs of the model (flattened), e.g. training images.
#[derive(Clone, Debug)]
pub struct Calibration {
    inputs: Vec<Vec<f32>>,
}

impl Calibration {
    /// Calibration from at least one input.
    pub fn new(inputs: Vec<Vec<f32>>) -> InferResult<Self> {
        if inputs.is_empty() {
            return Err(InferError::InvalidInput(
                "calibration needs at least one input".into(),
            ));
        }
        Ok(Self { inputs })
    }

    /// The first `count` inputs of a flat row-major array of `len`-value inputs.
    pub fn from_flat(data: &[f32], len: usize, count: usize) -> InferResult<Self> {
        if len == 0 || data.len() < len {
            return Err(InferError::InvalidInput(format!(
                "calibration data of {} values holds no input of {len}",
                data.len()
            )));
        }
        Self::new(
            data.chunks_exact(len)
                .take(count.max(1))
                .map(<[f32]>::to_vec)
                .collect(),
        )
    }

    /// The inputs.
    pub fn inputs(&self) -> &[Vec<f32>] {
        &self.inputs
    }

    fn check_len(&self, len: usize) -> InferResult<()> {
        match self.inputs.iter().find(|x| x.len() != len) {
            Some(x) => Err(InferError::ShapeMismatch(format!(
                "calibration input of {} values, the model takes {len}",
                x.len()
            ))),
            None => Ok(()),
        }
    }
}

/// Bits of `T` for outputs up to `max_abs` with `margin_bits` of margin (`2·max·2^margin`).
pub fn output_bits(max_abs: f64, margin_bits: u32) -> u32 {
    (max_abs.max(1.0) * 2f64.powi(margin_bits as i32) * 2.0)
        .log2()
        .ceil() as u32
}

/// Largest absolute logit of the integer network over the calibration inputs.
pub fn max_abs_logit(
    q: &QuantizedModel,
    net: &IntNetwork<i128>,
    calibration: &Calibration,
) -> InferResult<i128> {
    calibration.check_len(net.input_len)?;
    let mut max: i128 = 0;
    for x in calibration.inputs() {
        let xq: Vec<i128> = q
            .quantize_input(x)
            .map_err(|e| InferError::InvalidInput(format!("calibration input: {e}")))?
            .into_iter()
            .map(i128::from)
            .collect();
        let y = net.forward(&xq)?;
        max = max.max(y.iter().map(|v| v.abs()).max().unwrap_or(0));
    }
    Ok(max)
}

/// The CKKS check of the module docs: flooding the outputs needs a scale of at least
/// `κ + 1.5·log_n + margin_bits` bits (a lower bound: noise of one unit, one message).
pub fn ckks_privacy_room(log_n: u32, log_scale: u32, margin_bits: u32) -> InferResult<()> {
    let kappa = henn_he::rlwe::flood::FLOOD_STAT_BITS;
    let need = f64::from(kappa + log_n + margin_bits) + f64::from(log_n) / 2.0;
    if f64::from(log_scale) < need {
        return Err(InferError::DoesNotFit(format!(
            "circuit privacy of CKKS outputs: flooding by κ = {kappa} bits over 2^{log_n} \
             coefficients needs a scale of at least 2^{need:.1} to keep {margin_bits} bits of \
             margin on the logits; the chain's scale is 2^{log_scale} (use BFV, or turn \
             circuit privacy off)"
        )));
    }
    Ok(())
}

/// Compiles `model` (see the module docs); `name` is the model's public name.
pub fn compile(
    model: &Model,
    name: &str,
    calibration: &Calibration,
    options: &CompileOptions,
) -> InferResult<CompiledModel> {
    let default = [Strategy::LoLa, Strategy::LoLaBsgs];
    let strategies = options.strategies.as_deref().unwrap_or(&default);
    if strategies.is_empty() || strategies.contains(&Strategy::CryptoNets) {
        return Err(InferError::InvalidInput(
            "compile needs at least one of the LoLa strategies (CryptoNets batches many inputs \
             per ciphertext and is a benchmark baseline, not a served plan)"
                .into(),
        ));
    }
    let bfv = || compile_bfv(model, name, calibration, options, strategies);
    let ckks = || compile_ckks(model, name, calibration, options, strategies);
    match options.scheme {
        SchemeChoice::Bfv => bfv(),
        SchemeChoice::Ckks => ckks(),
        SchemeChoice::Auto => match (bfv(), ckks()) {
            (Ok(b), Ok(c)) => Ok(if c.public().estimated_ms < b.public().estimated_ms {
                c
            } else {
                b
            }),
            (Ok(b), Err(_)) => Ok(b),
            (Err(_), Ok(c)) => Ok(c),
            (Err(e), Err(_)) => Err(e),
        },
    }
}

fn compile_bfv(
    model: &Model,
    name: &str,
    calibration: &Calibration,
    options: &CompileOptions,
    strategies: &[Strategy],
) -> InferResult<CompiledModel> {
    let (q, net) = quantize_model(model, &options.quant)?;
    let bits = output_bits(
        max_abs_logit(&q, &net, calibration)? as f64,
        options.margin_bits,
    );
    let privacy = options.circuit_privacy;
    // room for flooding (module docs): κ + ⌈log2(n · 2 messages · primes)⌉ + 2 bits
    let room = |log_n: u32, primes: usize| -> f64 {
        if privacy {
            f64::from(henn_he::rlwe::flood::FLOOD_STAT_BITS + log_n + 1)
                + (primes.max(1) as f64).log2().ceil()
                + 2.0
        } else {
            0.0
        }
    };
    let choice = choose_bfv_with_room(
        &net,
        bits,
        strategies,
        None,
        options.safety_bits,
        room,
        bfv_costs,
    )?;
    CompiledModel::assemble_bfv(
        name,
        model,
        q,
        net,
        &choice,
        options.safety_bits,
        Recipe::bfv(
            &options.quant,
            choice.plan.strategy,
            choice.preset.name,
            privacy,
        ),
    )
}

fn compile_ckks(
    model: &Model,
    name: &str,
    calibration: &Calibration,
    options: &CompileOptions,
    strategies: &[Strategy],
) -> InferResult<CompiledModel> {
    let net = real_network(model)?;
    calibration.check_len(net.input_len)?;
    let samples: Vec<Vec<f64>> = calibration
        .inputs()
        .iter()
        .map(|x| x.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let maxima = layer_maxima(&net, &samples)?;
    let (normalized, factor) = normalize_with_maxima(&net, &maxima, 1.0)?;
    let headroom = options.margin_bits + 2;
    let choice = choose_ckks(
        &normalized,
        strategies,
        &options.ckks_log_ns,
        headroom,
        ckks_costs,
    )?;
    if options.circuit_privacy {
        ckks_privacy_room(choice.log_n, choice.chain.log_scale, options.margin_bits)?;
    }
    CompiledModel::assemble_ckks(
        name,
        model,
        normalized,
        factor,
        &choice,
        Recipe::ckks(choice.plan.strategy, maxima, headroom, choice.log_n),
    )
}
