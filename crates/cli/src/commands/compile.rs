//! `henn compile`: compiles a model directory once (calibration on MNIST training images,
//! scheme, 128-bit parameters, strategy and plan chosen by measured latency) and writes the
//! compiled-model file the server loads without re-planning (`<dir>/compiled.henn` by
//! default, where `henn serve` looks for it). The shared compile flags of `plan`, `serve`,
//! `demo` and `compile` live here too.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use henn_infer::plan::Strategy;
use henn_infer::session::{compile, Calibration, CompileOptions, CompiledModel, SchemeChoice};
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::Model;
use serde::Serialize;

/// Scheme flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemeFlag {
    /// The compiler's choice by measured latency (both schemes).
    Auto,
    /// BFV (exact).
    Bfv,
    /// CKKS (approximate, float weights).
    Ckks,
}

/// Strategy flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyFlag {
    /// The compiler's choice between LoLa's kernels and the BSGS kernels by measured cost.
    Auto,
    /// LoLa's kernels.
    Lola,
    /// Dense layers by diagonal baby-step giant-step products with hoisting.
    LolaBsgs,
    /// LoLa-Dense: a dense input moved into the convolution representation by the server.
    LolaDense,
}

/// The compile flags shared by `compile`, `plan`, `serve`.
#[derive(Args, Debug, Clone)]
pub struct CompileFlags {
    /// Scheme.
    #[arg(long, value_enum, default_value = "auto")]
    pub scheme: SchemeFlag,
    /// Kernel strategy.
    #[arg(long, value_enum, default_value = "auto")]
    pub strategy: StrategyFlag,
    /// MNIST IDX directory whose training images calibrate the model.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Number of calibration images.
    #[arg(long, default_value_t = 1000)]
    pub calibration: usize,
    /// Margin on the largest calibration value, bits.
    #[arg(long, default_value_t = 4)]
    pub margin_bits: u32,
    /// Return the outputs as evaluated, without re-randomizing and flooding them (circuit
    /// privacy of the model is on by default; CKKS needs this flag, see the README).
    #[arg(long)]
    pub no_circuit_privacy: bool,
}

impl CompileFlags {
    /// The compile options of these flags.
    pub fn options(&self) -> CompileOptions {
        CompileOptions {
            scheme: match self.scheme {
                SchemeFlag::Auto => SchemeChoice::Auto,
                SchemeFlag::Bfv => SchemeChoice::Bfv,
                SchemeFlag::Ckks => SchemeChoice::Ckks,
            },
            strategies: match self.strategy {
                StrategyFlag::Auto => None,
                StrategyFlag::Lola => Some(vec![Strategy::LoLa]),
                StrategyFlag::LolaBsgs => Some(vec![Strategy::LoLaBsgs]),
                StrategyFlag::LolaDense => Some(vec![Strategy::LoLaDense]),
            },
            margin_bits: self.margin_bits,
            circuit_privacy: !self.no_circuit_privacy,
            ..CompileOptions::default()
        }
    }

    /// The calibration images (an error when the data is missing or does not fit the model).
    pub fn calibration(&self) -> Result<Calibration> {
        if self.calibration == 0 {
            bail!("--calibration must be at least 1");
        }
        let train = load_mnist(&self.data, Split::Train).with_context(|| {
            format!(
                "loading calibration images from {} (MNIST IDX training set)",
                self.data.display()
            )
        })?;
        let len: usize = train.shape.iter().product();
        Ok(Calibration::from_flat(
            &train.images,
            len,
            self.calibration,
        )?)
    }

    /// Loads `dir` and compiles it under `name`.
    pub fn compile(&self, dir: &std::path::Path, name: &str) -> Result<CompiledModel> {
        let model = Model::load(dir).with_context(|| format!("loading {}", dir.display()))?;
        let calibration = self.calibration()?;
        compile(&model, name, &calibration, &self.options())
            .with_context(|| format!("compiling {}", dir.display()))
    }
}

/// `henn compile` arguments.
#[derive(Args, Debug)]
pub struct CompileArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Output file (default: `<model>/compiled.henn`, where `henn serve` finds it).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Model name clients use (default: the directory's name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    flags: CompileFlags,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct CompileReport {
    model: String,
    out: String,
    scheme: &'static str,
    strategy: String,
    log_n: u32,
    rotation_keys: usize,
    input_messages: usize,
    estimated_ms: f64,
    compile_s: f64,
    bytes: usize,
}

/// The model name of a directory (its last component).
pub fn dir_name(dir: &std::path::Path) -> Result<String> {
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("opening {}", dir.display()))?;
    canonical
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no usable name", dir.display()))
}

/// Runs `henn compile`.
pub fn run(args: &CompileArgs) -> Result<()> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => dir_name(&args.model)?,
    };
    if !henn_infer::session::wire::valid_model_name(&name) {
        bail!("invalid model name {name:?} (1-64 of A-Z a-z 0-9 . _ -)");
    }
    let t0 = Instant::now();
    let compiled = args.flags.compile(&args.model, &name)?;
    let compile_s = t0.elapsed().as_secs_f64();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.model.join(henn_serve::model::COMPILED_FILE));
    let bytes = compiled.to_bytes();
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let p = compiled.public();
    let report = CompileReport {
        model: name,
        out: out.display().to_string(),
        scheme: p.parameters.name(),
        strategy: p.strategy.clone(),
        log_n: p.parameters.log_n(),
        rotation_keys: p.keys.rotation_steps.len(),
        input_messages: p.input.placements.len(),
        estimated_ms: p.estimated_ms,
        compile_s,
        bytes: bytes.len(),
    };
    super::print_report(&report, args.json)
}
