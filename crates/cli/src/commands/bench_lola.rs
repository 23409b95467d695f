//! `henn bench lola`: end-to-end encrypted LoLa inference (Brutzkus et al. 2019, section 4.3)
//! on MNIST test images (and LoLa's CIFAR-10 network on CKKS). This module parses the flags
//! and prints; the benchmark itself is [`henn_infer::bench::lola`] (compile → client and
//! server sessions for LoLa's single-image strategies, the CryptoNets SIMD batch baseline,
//! CIFAR-10 on CKKS; see its module docs for sizing, strategies and what is compared).

use anyhow::Result;
use clap::{Args, ValueEnum};
use henn_infer::bench::{LolaOptions, Progress};
use henn_infer::plan::Strategy;
use henn_nn::quant::QuantConfig;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Which network.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LolaNet {
    /// conv 5×5 s2 5 maps → square → dense 100 → square → dense 10.
    LolaMnist,
    /// conv 5×5 s2 5 maps → square → dense 10.
    LolaSmall,
    /// LoLa's CIFAR-10 network (section 4.4): conv 8×8×3 s2 83 maps → square → conv 6×6×83 s2
    /// 163 maps → square → dense 10 (CKKS only; untrained seeded weights when no model).
    LolaCifar10,
}

impl LolaNet {
    fn name(self) -> &'static str {
        match self {
            LolaNet::LolaMnist => "lola-mnist",
            LolaNet::LolaSmall => "lola-small",
            LolaNet::LolaCifar10 => "lola-cifar10",
        }
    }
}

/// Kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LolaStrategy {
    /// The compiler's choice among LoLa's kernels and the BSGS kernels, by measured cost.
    Auto,
    /// The paper's kernels.
    Lola,
    /// Dense layers by diagonal baby-step giant-step products with hoisting.
    LolaBsgs,
    /// LoLa-Dense: a dense input ciphertext, moved into the convolution representation by the
    /// server.
    LolaDense,
    /// CryptoNets' SIMD baseline: one image per slot, batches of up to n images.
    Cryptonets,
}

impl LolaStrategy {
    /// The planner's strategy (`None`: the compiler's choice).
    pub fn strategy(self) -> Option<Strategy> {
        match self {
            LolaStrategy::Auto => None,
            LolaStrategy::LolaBsgs => Some(Strategy::LoLaBsgs),
            LolaStrategy::Lola => Some(Strategy::LoLa),
            LolaStrategy::LolaDense => Some(Strategy::LoLaDense),
            LolaStrategy::Cryptonets => Some(Strategy::CryptoNets),
        }
    }
}

/// Scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scheme {
    /// The compiler's choice by measured latency (both schemes).
    Auto,
    /// BFV with a CRT plaintext space.
    Bfv,
    /// CKKS with the model's float weights.
    Ckks,
}

impl Scheme {
    /// The compiler's scheme choice.
    pub fn choice(self) -> henn_infer::session::SchemeChoice {
        match self {
            Scheme::Auto => henn_infer::session::SchemeChoice::Auto,
            Scheme::Bfv => henn_infer::session::SchemeChoice::Bfv,
            Scheme::Ckks => henn_infer::session::SchemeChoice::Ckks,
        }
    }
}

/// `henn bench lola` arguments.
#[derive(Args, Debug)]
pub struct LolaArgs {
    /// Network (loaded from `<models>/<name>`).
    #[arg(long, value_enum, default_value = "lola-mnist")]
    net: LolaNet,
    /// Scheme.
    #[arg(long, value_enum, default_value = "auto")]
    scheme: Scheme,
    /// Number of test images (MNIST; lola-cifar10: CIFAR-10 test images when `--data` holds
    /// `test_batch.bin`, otherwise synthetic images with pixels uniform in [0, 1] from a fixed
    /// seed).
    #[arg(long, default_value_t = 10)]
    images: usize,
    /// Directory holding trained models.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// MNIST IDX directory (lola-cifar10: a CIFAR-10 binary directory, optional).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Kernel strategy (`cryptonets`: SIMD batches of up to n images, see the module docs).
    #[arg(long, value_enum, default_value = "auto")]
    strategy: LolaStrategy,
    /// Also run the CryptoNets SIMD baseline on the same images in the same run (always BFV; one
    /// batch holds all requested images up to n) and report the latency ratio CryptoNets
    /// batch / this strategy's per-image median.
    #[arg(long)]
    baseline: bool,
    /// log2 of the ring degree: 13 (BFV_128BIT_LOGN13_LOGQP218), 14 (…LOGN14_LOGQP438) or 12
    /// (…LOGN12_LOGQP109). Default: chosen with the plaintext primes by the planner
    /// (`henn_infer::params::choose_bfv`: 128-bit presets, noise estimate, estimated latency).
    #[arg(long)]
    log_n: Option<u32>,
    /// Largest plaintext prime size in bits (default: chosen by the planner).
    #[arg(long)]
    max_prime_bits: Option<u32>,
    /// Safety margin on the largest calibration logit, in bits.
    #[arg(long, default_value_t = 4)]
    margin_bits: u32,
    /// Compile without circuit privacy (outputs returned as evaluated: no re-randomization,
    /// no flooding).
    #[arg(long)]
    pub(crate) no_circuit_privacy: bool,
    /// Training images used to calibrate the logit range.
    #[arg(long, default_value_t = 1000)]
    calibration: usize,
    /// Quantized input bits.
    #[arg(long, default_value_t = QuantConfig::default().input_bits)]
    input_bits: u32,
    /// Quantized weight bits.
    #[arg(long, default_value_t = QuantConfig::default().weight_bits)]
    weight_bits: u32,
    /// lola-cifar10 only: without a trained model in `--models`, use the seeded untrained
    /// initialiser's weights (latency and memory do not depend on the weight values).
    #[arg(long)]
    synthetic_weights: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl LolaArgs {
    fn options(&self) -> LolaOptions {
        LolaOptions {
            net: self.net.name().into(),
            models: self.models.clone(),
            data: self.data.clone(),
            images: self.images,
            scheme: self.scheme.choice(),
            strategy: self.strategy.strategy(),
            baseline: self.baseline,
            log_n: self.log_n,
            max_prime_bits: self.max_prime_bits,
            margin_bits: self.margin_bits,
            calibration: self.calibration,
            quant: QuantConfig {
                input_bits: self.input_bits,
                weight_bits: self.weight_bits,
                ..QuantConfig::default()
            },
            synthetic_weights: self.synthetic_weights,
            circuit_privacy: !self.no_circuit_privacy,
        }
    }
}

/// A progress bar on stderr for the benchmark's loops.
fn progress_bar() -> impl FnMut(Progress) {
    let mut pb: Option<ProgressBar> = None;
    move |p| match p {
        Progress::Start { len, what } => {
            let bar = ProgressBar::new(len as u64);
            bar.set_style(
                ProgressStyle::with_template("{msg:10} {bar:40} {pos}/{len} [{elapsed_precise}]")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(what);
            pb = Some(bar);
        }
        Progress::Advance => {
            if let Some(b) = &pb {
                b.inc(1);
            }
        }
        Progress::Done => {
            if let Some(b) = pb.take() {
                b.finish_and_clear();
            }
        }
    }
}

/// Runs `henn bench lola`: the report is printed, then an exact (BFV) answer that differed
/// from the quantized model is an error.
pub fn run(args: LolaArgs) -> Result<()> {
    let report = henn_infer::bench::lola(&args.options(), &mut progress_bar())?;
    super::print_report(&report, args.json)?;
    Ok(report.check()?)
}
