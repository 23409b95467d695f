//! `henn eval`: accuracy of a model in floats and quantized to integers (the exact BFV
//! computation, LoLa section 4.3), their agreement, and the largest intermediate values that
//! size the BFV plaintext modulus.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use henn_nn::data::{load_digits, load_mnist, Dataset, Split};
use henn_nn::model::Model;
use henn_nn::quant::{QuantConfig, QuantizedModel, ValueRanges};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Arguments of `henn eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model directory (model.json + weights.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset: an MNIST-format IDX directory (the test split is used) or a digits CSV file.
    #[arg(long)]
    pub data: PathBuf,
    /// Also evaluate the quantized integer model (collapsed, then quantized).
    #[arg(long)]
    pub quantized: bool,
    /// Use only the first N examples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Bits of the quantized input (pixels become 0..=2^bits-1).
    #[arg(long, default_value_t = QuantConfig::default().input_bits)]
    pub input_bits: u32,
    /// Signed bits of the quantized weights of every conv/dense layer.
    #[arg(long, default_value_t = QuantConfig::default().weight_bits)]
    pub weight_bits: u32,
    /// Per-layer weight bits overriding --weight-bits, as `INDEX=BITS` with the layer index in
    /// the collapsed model (repeatable), e.g. `--layer-weight-bits 0=6`.
    #[arg(long, value_parser = parse_layer_bits)]
    pub layer_weight_bits: Vec<(usize, u32)>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_layer_bits(s: &str) -> Result<(usize, u32), String> {
    let (i, b) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not INDEX=BITS"))?;
    let i = i
        .trim()
        .parse()
        .map_err(|e| format!("layer index {i:?}: {e}"))?;
    let b = b.trim().parse().map_err(|e| format!("bits {b:?}: {e}"))?;
    Ok((i, b))
}

/// Largest absolute value a layer of the float model produced.
#[derive(Serialize, Debug)]
pub struct FloatLayerRange {
    /// Layer index.
    pub layer: usize,
    /// Layer kind.
    pub kind: &'static str,
    /// Largest absolute output (a JSON number; `null` if not finite).
    pub max_abs: f32,
}

/// Largest absolute integer a layer of the quantized model produced.
///
/// `max_abs` is written as an exact JSON integer (all its decimal digits, up to 2^128 - 1);
/// readers that parse numbers as doubles (JavaScript, `serde_json::Value::as_f64`) may round it
/// when it exceeds 2^53, so `bits` carries the size that matters for the plaintext modulus
/// exactly.
#[derive(Serialize, Debug)]
pub struct QuantizedLayerRange {
    /// Layer index.
    pub layer: usize,
    /// Layer kind.
    pub kind: &'static str,
    /// Largest absolute integer (an exact JSON integer).
    pub max_abs: u128,
    /// Bits of the signed range `ceil(log2(2 max + 1))`.
    pub bits: u32,
}

/// The quantized part of the report.
#[derive(Serialize, Debug)]
pub struct QuantizedReport {
    /// Input bits used.
    pub input_bits: u32,
    /// Weight bits used.
    pub weight_bits: u32,
    /// Per-layer overrides of the weight bits (collapsed-model layer index → bits).
    pub layer_weight_bits: std::collections::BTreeMap<usize, u32>,
    /// Accuracy of the integer model.
    pub accuracy: f64,
    /// Fraction of examples where float and integer predictions agree.
    pub agreement: f64,
    /// Per layer of the collapsed integer model.
    pub layers: Vec<QuantizedLayerRange>,
    /// Largest absolute quantized input (an exact JSON integer).
    pub input_max_abs: u128,
    /// Largest absolute integer anywhere (an exact JSON integer; see [`QuantizedLayerRange`]).
    pub max_abs: u128,
    /// Bits a BFV plaintext modulus needs to hold every value exactly (signed).
    pub plaintext_bits: u32,
}

/// The report of `henn eval`.
#[derive(Serialize, Debug)]
pub struct EvalReport {
    /// Model name.
    pub model: String,
    /// Number of examples evaluated.
    pub examples: usize,
    /// Accuracy of the float model.
    pub float_accuracy: f64,
    /// Per layer of the float model: largest absolute output.
    pub float_layers: Vec<FloatLayerRange>,
    /// Present with `--quantized`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantized: Option<QuantizedReport>,
}

/// Loads `path`: a digits CSV (`.csv` / `.csv.gz`) or an MNIST IDX directory (test split).
pub fn load_dataset(path: &Path) -> Result<Dataset> {
    let name = path.to_string_lossy();
    let ds = if path.is_file() && (name.ends_with(".csv") || name.ends_with(".csv.gz")) {
        load_digits(path)
    } else {
        load_mnist(path, Split::Test)
    };
    ds.with_context(|| format!("loading dataset {}", path.display()))
}

const CHUNK: usize = 500;

fn progress(len: usize, msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:9} {bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg);
    pb
}

/// Evaluates `model` on `data`; `quant` adds the integer evaluation with that configuration.
/// Progress is drawn on stderr when `show_progress`.
pub fn evaluate(
    model: &Model,
    data: &Dataset,
    quant: Option<&QuantConfig>,
    show_progress: bool,
) -> Result<EvalReport> {
    let n_in = model.input_len();
    if n_in != data.example_len() {
        bail!(
            "model {} expects inputs of shape {:?} ({n_in} values), the dataset has examples of shape {:?}",
            model.name,
            model.input_shape,
            data.shape
        );
    }
    let n = data.len();
    if n == 0 {
        bail!("the dataset is empty");
    }
    let images = data
        .images
        .get(..n * n_in)
        .context("the dataset holds fewer pixels than its labels need")?;
    let pb = if show_progress {
        progress(n, "float")
    } else {
        ProgressBar::hidden()
    };
    let mut float_preds = Vec::with_capacity(n);
    let mut float_ranges = vec![0f32; model.layers.len()];
    for chunk in images.chunks(CHUNK * n_in) {
        let (p, r) = model.predict_with_ranges(chunk)?;
        pb.inc(p.len() as u64);
        float_preds.extend(p);
        float_ranges
            .iter_mut()
            .zip(&r)
            .for_each(|(a, b)| *a = a.max(*b));
    }
    pb.finish_and_clear();
    let correct = |preds: &[usize]| {
        preds
            .iter()
            .zip(&data.labels)
            .filter(|(p, l)| **p == usize::from(**l))
            .count()
    };
    let float_accuracy = correct(&float_preds) as f64 / n as f64;
    let float_layers = model
        .layers
        .iter()
        .zip(&float_ranges)
        .enumerate()
        .map(|(i, (l, &r))| FloatLayerRange {
            layer: i,
            kind: l.kind(),
            max_abs: r,
        })
        .collect();

    let quantized = match quant {
        None => None,
        Some(config) => {
            let collapsed = model.fold_batch_norm()?.collapse_linear()?;
            let q = QuantizedModel::new(&collapsed, config)?;
            let pb = if show_progress {
                progress(n, "quantized")
            } else {
                ProgressBar::hidden()
            };
            let mut preds = Vec::with_capacity(n);
            let mut ranges = ValueRanges {
                input: 0,
                layers: vec![0; q.layers.len()],
            };
            for chunk in images.chunks(CHUNK * n_in) {
                let (p, r) = q.predict_with_ranges(chunk)?;
                pb.inc(p.len() as u64);
                preds.extend(p);
                ranges.merge(&r);
            }
            pb.finish_and_clear();
            let agree = preds
                .iter()
                .zip(&float_preds)
                .filter(|(a, b)| a == b)
                .count();
            Some(QuantizedReport {
                input_bits: config.input_bits,
                weight_bits: config.weight_bits,
                layer_weight_bits: config.layer_weight_bits.clone(),
                accuracy: correct(&preds) as f64 / n as f64,
                agreement: agree as f64 / n as f64,
                layers: q
                    .layers
                    .iter()
                    .zip(&ranges.layers)
                    .enumerate()
                    .map(|(i, (l, &r))| QuantizedLayerRange {
                        layer: i,
                        kind: l.kind(),
                        max_abs: r,
                        bits: u128::BITS - r.saturating_mul(2).leading_zeros(),
                    })
                    .collect(),
                input_max_abs: ranges.input,
                max_abs: ranges.max(),
                plaintext_bits: ranges.bits(),
            })
        }
    };
    Ok(EvalReport {
        model: model.name.clone(),
        examples: n,
        float_accuracy,
        float_layers,
        quantized,
    })
}

/// Runs `henn eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let model = Model::load(&args.model)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let mut data = load_dataset(&args.data)?;
    if let Some(limit) = args.limit {
        data = data.take(limit);
    }
    let config = QuantConfig {
        input_bits: args.input_bits,
        weight_bits: args.weight_bits,
        layer_weight_bits: args.layer_weight_bits.iter().copied().collect(),
        ..QuantConfig::default()
    };
    tracing::info!(
        model = %model.name,
        layers = model.layers.len(),
        examples = data.len(),
        quantized = args.quantized,
        "evaluating"
    );
    let report = evaluate(&model, &data, args.quantized.then_some(&config), true)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("model {} on {} examples", report.model, report.examples);
    println!("float accuracy      {:.2}%", 100.0 * report.float_accuracy);
    println!("float max |value| per layer:");
    for l in &report.float_layers {
        println!("  {:>2} {:<10} {}", l.layer, l.kind, l.max_abs);
    }
    if let Some(q) = &report.quantized {
        println!(
            "quantized ({}-bit inputs, {}-bit weights, collapsed):",
            q.input_bits, q.weight_bits
        );
        println!("  accuracy          {:.2}%", 100.0 * q.accuracy);
        println!("  agreement         {:.2}%", 100.0 * q.agreement);
        println!("  input max |value| {}", q.input_max_abs);
        for l in &q.layers {
            println!(
                "  {:>2} {:<10} {} ({} bits)",
                l.layer, l.kind, l.max_abs, l.bits
            );
        }
        println!(
            "  plaintext modulus needs {} bits (max |value| {})",
            q.plaintext_bits, q.max_abs
        );
    }
    Ok(())
}
