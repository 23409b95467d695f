//! End-to-end benchmarks of encrypted inference on real data (LoLa, Brutzkus et al. 2019,
//! section 4.3 and Table 2): the library side of `henn bench lola`. The command line parses
//! its flags into [`LolaOptions`], calls [`lola`] and prints the [`LolaReport`]; everything
//! that loads, calibrates, plans, makes keys, encrypts and loops is here.
//!
//! | module | what |
//! |---|---|
//! | [`sessions`] | LoLa's single-image strategies on either scheme, through [`crate::session`] (compile → client / server sessions) |
//! | [`cryptonets`] | CryptoNets' SIMD batch baseline (section 3.2) on BFV |
//! | [`cifar`] | LoLa's CIFAR-10 network (section 4.4) on CKKS, weights encoded per request |

pub mod cifar;
pub mod cryptonets;
pub mod sessions;

use std::path::PathBuf;

use henn_nn::quant::QuantConfig;
use serde::Serialize;

use crate::error::{InferError, InferResult};
use crate::plan::Strategy;
use crate::session::SchemeChoice;

/// What a benchmark tells its caller while it runs (a progress bar, for instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A loop of `len` items called `what` starts.
    Start {
        /// Items.
        len: usize,
        /// Name of the items.
        what: &'static str,
    },
    /// One more item is done.
    Advance,
    /// The loop is over.
    Done,
}

/// `henn bench lola`'s settings (see the command's flags for their meaning).
#[derive(Clone, Debug)]
pub struct LolaOptions {
    /// Network name: `lola-mnist`, `lola-small` or `lola-cifar10` (loaded from
    /// `models/<net>`).
    pub net: String,
    /// Directory holding trained models.
    pub models: PathBuf,
    /// MNIST IDX directory (`lola-cifar10`: a CIFAR-10 binary directory, optional).
    pub data: PathBuf,
    /// Test images.
    pub images: usize,
    /// Scheme.
    pub scheme: SchemeChoice,
    /// Forced strategy (`None`: the compiler's choice).
    pub strategy: Option<Strategy>,
    /// Also run the CryptoNets baseline on the same images.
    pub baseline: bool,
    /// CryptoNets: log2 of the ring degree (default: the planner's).
    pub log_n: Option<u32>,
    /// CryptoNets: largest plaintext prime size in bits (default: the planner's).
    pub max_prime_bits: Option<u32>,
    /// Safety margin on the largest calibration logit, bits.
    pub margin_bits: u32,
    /// Training images used to calibrate.
    pub calibration: usize,
    /// Quantization of BFV runs.
    pub quant: QuantConfig,
    /// `lola-cifar10` without a trained model: the seeded untrained initialiser's weights.
    pub synthetic_weights: bool,
    /// Compile with circuit privacy of the outputs (re-randomization and noise flooding,
    /// [`crate::session::CompileOptions::circuit_privacy`]; the default).
    pub circuit_privacy: bool,
}

/// The report of one `henn bench lola` run (serialized as the inner report).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum LolaReport {
    /// Single-image strategies through the sessions.
    Sessions(Box<sessions::SessionReport>),
    /// CryptoNets SIMD batches.
    Simd(Box<cryptonets::SimdReport>),
    /// LoLa CIFAR-10 on CKKS.
    Cifar(Box<cifar::CifarReport>),
}

impl LolaReport {
    /// Fails when an exact (BFV) answer differed from the quantized model: an engine or plan
    /// bug, reported after the report is printed.
    pub fn check(&self) -> InferResult<()> {
        match self {
            LolaReport::Sessions(r) => r.check(),
            LolaReport::Simd(r) => check_agreement(r.agreement(), r.images()),
            LolaReport::Cifar(_) => Ok(()),
        }
    }
}

/// Runs `henn bench lola` (see the module docs of [`sessions`], [`cryptonets`], [`cifar`]).
pub fn lola(o: &LolaOptions, progress: &mut dyn FnMut(Progress)) -> InferResult<LolaReport> {
    if o.images == 0 {
        return Err(InferError::InvalidInput(
            "--images must be at least 1".into(),
        ));
    }
    if o.net == "lola-cifar10" {
        if o.scheme == SchemeChoice::Bfv {
            return Err(InferError::InvalidInput(
                "lola-cifar10 runs with CKKS (exact BFV would need ~120-bit plaintext spaces, \
                 i.e. four or more CRT instances at n = 16384)"
                    .into(),
            ));
        }
        if o.strategy == Some(Strategy::CryptoNets) {
            return Err(InferError::InvalidInput(
                "CryptoNets runs with --scheme bfv only".into(),
            ));
        }
        if o.baseline {
            return Err(InferError::InvalidInput(
                "--baseline runs CryptoNets on MNIST networks only".into(),
            ));
        }
        return Ok(LolaReport::Cifar(Box::new(cifar::run(o, progress)?)));
    }
    if o.strategy == Some(Strategy::CryptoNets) {
        if o.scheme == SchemeChoice::Ckks {
            return Err(InferError::InvalidInput(
                "CryptoNets runs with BFV only (--baseline runs it beside a CKKS run)".into(),
            ));
        }
        let report = cryptonets::run(o, progress)?;
        return Ok(LolaReport::Simd(Box::new(report)));
    }
    let mut report = sessions::run(o, progress)?;
    if o.baseline {
        let base = cryptonets::run(o, progress)?;
        check_agreement(base.agreement(), o.images)?;
        report.set_baseline(base);
    }
    Ok(LolaReport::Sessions(Box::new(report)))
}

fn check_agreement(agreement: f64, images: usize) -> InferResult<()> {
    let agree = (agreement * images as f64).round() as usize;
    if agree != images {
        return Err(InferError::InvalidInput(format!(
            "decrypted logits differ from the quantized model on {} of {images} images",
            images - agree
        )));
    }
    Ok(())
}

/// Median of `v` (upper median; 0 for none); sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

/// Median, smallest and largest of a series of seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `v`.
    pub fn of(v: &[f64]) -> Self {
        Self {
            median: median(&mut v.to_vec()),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// Peak resident memory of this process so far, MiB (`VmHWM`; 0 where `/proc` is missing).
pub fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Median time of every plan step: the step's description and its median, seconds.
pub(crate) fn step_medians(
    steps: &[crate::plan::Step],
    times: &mut [Vec<f64>],
) -> Vec<(String, f64)> {
    steps
        .iter()
        .zip(times.iter_mut())
        .map(|(s, t)| (s.describe(), median(t)))
        .collect()
}

/// Largest absolute error of `got` against `want`, relative to the largest `|want|`.
pub(crate) fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    let largest = want.iter().fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (a, w)| m.max((a - w).abs()))
        / largest
}

fn load(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> InferError {
    InferError::InvalidInput(format!("loading {what} from {}: {e}", path.display()))
}

/// The model `models/<net>`.
pub(crate) fn load_model(o: &LolaOptions) -> InferResult<henn_nn::model::Model> {
    let dir = o.models.join(&o.net);
    henn_nn::model::Model::load(&dir).map_err(|e| load("the model", &dir, e))
}

/// MNIST from `--data`.
pub(crate) fn load_mnist(
    o: &LolaOptions,
    split: henn_nn::data::Split,
) -> InferResult<henn_nn::data::Dataset> {
    henn_nn::data::load_mnist(&o.data, split).map_err(|e| load("MNIST", &o.data, e))
}
