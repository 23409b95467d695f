//! `henn plan`: the planner's BFV or CKKS plan for a model, printed like LoLa's Table 1
//! (Brutzkus et al. 2019, section 4.3) with the chosen parameters, estimated latency (and BFV
//! noise), and the Galois keys the client must upload.
//!
//! The plaintext space is sized as in `henn bench lola`: the largest absolute logit of the
//! quantized integer network over `--calibration` MNIST training images times `2^--margin-bits`
//! (only outputs must fit `Z_T`, intermediate values may wrap). Without MNIST data the
//! worst-case bound of the network (every input at its maximum magnitude, all products adding
//! up) is used instead, which is larger.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use henn_infer::backend::ckks::{parameters_for_chain, CkksBackend, CkksChain, KeySpec};
use henn_infer::calibrate::normalize_ranges;
use henn_infer::cost::OpCosts;
use henn_infer::from_nn::{quantize_model, real_network};
use henn_infer::network::IntNetwork;
use henn_infer::params::{choose_bfv, choose_ckks};
use henn_infer::plan::Strategy;
use henn_infer::summary::{summarize, summarize_ckks, PlanSummary};
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::Model;
use henn_nn::quant::QuantConfig;
use std::path::PathBuf;

/// Scheme.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlanScheme {
    /// BFV with a CRT plaintext space.
    Bfv,
    /// CKKS with the model's float weights; latencies measured on the engine at plan time.
    Ckks,
}

/// Kernel strategies the planner may use.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlanStrategy {
    /// The cheapest by estimated latency among the others.
    Auto,
    /// The paper's kernels.
    Lola,
    /// Dense layers by diagonal baby-step giant-step products.
    LolaBsgs,
    /// LoLa-Dense: dense input, moved into the convolution representation by the server.
    LolaDense,
}

/// `henn plan` arguments.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Model directory (`model.json` + `weights.safetensors`).
    #[arg(long)]
    model: PathBuf,
    /// Scheme.
    #[arg(long, value_enum, default_value = "bfv")]
    scheme: PlanScheme,
    /// Kernel strategy.
    #[arg(long, value_enum, default_value = "auto")]
    strategy: PlanStrategy,
    /// MNIST IDX directory for calibrating the output range (worst-case bound when missing).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Training images used to calibrate the output range.
    #[arg(long, default_value_t = 1000)]
    calibration: usize,
    /// Safety margin on the largest calibration output, in bits.
    #[arg(long, default_value_t = 4)]
    margin_bits: u32,
    /// Smallest estimated noise budget accepted at the end, in bits.
    #[arg(long, default_value_t = 4.0)]
    safety_bits: f64,
    /// Quantized input bits.
    #[arg(long, default_value_t = QuantConfig::default().input_bits)]
    input_bits: u32,
    /// Quantized weight bits.
    #[arg(long, default_value_t = QuantConfig::default().weight_bits)]
    weight_bits: u32,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Worst-case bound of the outputs for inputs in `[-max_in, max_in]`: interval propagation
/// with `|W x + b| <= |W| |x| + |b|` and `x² <= max²`.
pub fn worst_case_output_bound(net: &IntNetwork<i128>, max_in: i128) -> Result<f64> {
    let mut bound = vec![max_in as f64; net.input_len];
    for layer in &net.layers {
        bound = match layer.matrix()? {
            Some(w) => {
                let bias = layer.expanded_bias();
                (0..w.rows())
                    .map(|r| {
                        let b = bias.as_ref().map_or(0.0, |b| b[r].unsigned_abs() as f64);
                        (0..w.cols())
                            .map(|c| w.get(r, c).unsigned_abs() as f64 * bound[c])
                            .sum::<f64>()
                            + b
                    })
                    .collect()
            }
            None => bound.iter().map(|v| v * v).collect(),
        };
    }
    Ok(bound.into_iter().fold(0.0, f64::max))
}

/// Bits of `T` for outputs up to `max_abs` with `margin_bits` of margin (`2·max·2^margin`).
pub fn output_bits(max_abs: f64, margin_bits: u32) -> u32 {
    (max_abs.max(1.0) * 2f64.powi(margin_bits as i32) * 2.0)
        .log2()
        .ceil() as u32
}

/// Builds the plan summary for a model directory (the library part of `henn plan`).
pub fn plan_summary(args: &PlanArgs) -> Result<PlanSummary> {
    if let PlanScheme::Ckks = args.scheme {
        return ckks_plan_summary(args);
    }
    let model =
        Model::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let config = QuantConfig {
        input_bits: args.input_bits,
        weight_bits: args.weight_bits,
        ..QuantConfig::default()
    };
    let (q, net) = quantize_model(&model, &config)?;
    let max_abs = match load_mnist(&args.data, Split::Train) {
        Ok(train)
            if args.calibration > 0 && net.input_len == train.shape.iter().product::<usize>() =>
        {
            let len = net.input_len;
            let count = args.calibration.min(train.len());
            let mut max: i128 = 0;
            for i in 0..count {
                let x: Vec<i128> = q
                    .quantize_input(&train.images[i * len..(i + 1) * len])?
                    .into_iter()
                    .map(i128::from)
                    .collect();
                let y = net.forward(&x)?;
                max = max.max(y.iter().map(|v| v.abs()).max().unwrap_or(0));
            }
            max as f64
        }
        _ => {
            tracing::warn!(
                "no MNIST calibration data at {}: using the worst-case output bound",
                args.data.display()
            );
            worst_case_output_bound(&net, (1i128 << args.input_bits) - 1)?
        }
    };
    let bits = output_bits(max_abs, args.margin_bits);
    let strategies: &[Strategy] = match args.strategy {
        PlanStrategy::Auto => &[Strategy::LoLa, Strategy::LoLaBsgs, Strategy::LoLaDense],
        PlanStrategy::Lola => &[Strategy::LoLa],
        PlanStrategy::LolaBsgs => &[Strategy::LoLaBsgs],
        PlanStrategy::LolaDense => &[Strategy::LoLaDense],
    };
    let choice = choose_bfv(&net, bits, strategies, None, args.safety_bits)?;
    Ok(summarize(&net, &choice)?)
}

/// The CKKS plan: the float network range-normalised on calibration images (as in
/// `henn bench lola --scheme ckks`), chains for `n = 8192` and `16384` sized by each plan's
/// depth, and per-operation latencies measured now on a backend of each chain (single thread,
/// top level: an upper bound), so the estimates are this machine's.
fn ckks_plan_summary(args: &PlanArgs) -> Result<PlanSummary> {
    let model =
        Model::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let net = real_network(&model)?;
    let len = net.input_len;
    let samples: Vec<Vec<f64>> = match load_mnist(&args.data, Split::Train) {
        Ok(train) if args.calibration > 0 && len == train.shape.iter().product::<usize>() => (0
            ..args.calibration.min(train.len()))
            .map(|i| {
                train.images[i * len..(i + 1) * len]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect()
            })
            .collect(),
        _ => {
            tracing::warn!(
                "no MNIST calibration data at {}: ranges from inputs of all ones",
                args.data.display()
            );
            vec![vec![1.0; len]]
        }
    };
    let (net, _) = normalize_ranges(&net, &samples, 1.0)?;
    let strategies: &[Strategy] = match args.strategy {
        PlanStrategy::Auto => &[Strategy::LoLa, Strategy::LoLaBsgs],
        PlanStrategy::Lola => &[Strategy::LoLa],
        PlanStrategy::LolaBsgs => &[Strategy::LoLaBsgs],
        PlanStrategy::LolaDense => &[Strategy::LoLaDense],
    };
    let mut measured: Vec<(u32, CkksChain, OpCosts)> = Vec::new();
    let mut costs = |log_n: u32, chain: &CkksChain| -> henn_infer::error::InferResult<OpCosts> {
        if let Some((_, _, c)) = measured.iter().find(|(l, c, _)| *l == log_n && c == chain) {
            return Ok(c.clone());
        }
        let params = parameters_for_chain(log_n, chain)?;
        let spec = KeySpec {
            rotation_steps: (1..=8).collect(),
            row_swap: false,
            relinearization: true,
        };
        let b = CkksBackend::generate(&params, &spec)?;
        let c = henn_he::with_threads(1, || OpCosts::measure(&b, 5))
            .map_err(|e| henn_infer::backend::BackendError::Engine(Box::new(e)))??;
        measured.push((log_n, chain.clone(), c.clone()));
        Ok(c)
    };
    let headroom = args.margin_bits + 2;
    let choice = choose_ckks(&net, strategies, &[13, 14], headroom, &mut costs)?;
    let c = costs(choice.log_n, &choice.chain)?;
    Ok(summarize_ckks(&net, &choice, &c)?)
}

/// Runs `henn plan`.
pub fn run(args: &PlanArgs) -> Result<()> {
    let s = plan_summary(args)?;
    if args.json {
        let rows: Vec<serde_json::Value> = s
            .rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "operation": r.operation,
                    "input": format!("{}x{} {}", r.input_shape.0, r.input_shape.1, r.input_repr),
                    "output": format!("{}x{} {}", r.output_shape.0, r.output_shape.1, r.output_repr),
                    "rotations": r.rotations,
                    "plain_multiplications": r.plain_multiplications,
                    "ct_multiplications": r.ct_multiplications,
                    "level": r.level,
                    "estimated_ms": r.estimated_ms,
                    "estimated_budget_bits": r.estimated_budget,
                })
            })
            .collect();
        let out = serde_json::json!({
            "preset": s.preset,
            "log_n": s.log_n,
            "plaintext_primes": s.primes,
            "strategy": s.strategy,
            "steps": rows,
            "galois_keys": s.galois_keys,
            "relinearization_key": s.relinearization_key,
            "evaluation_key_bytes": s.evaluation_key_bytes,
            "estimated_ms": s.estimated_ms,
            "estimated_budget_bits": s.estimated_budget,
        });
        println!("{out}");
    } else {
        println!("{s}");
    }
    Ok(())
}
