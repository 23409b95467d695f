//! `henn bench lola`: end-to-end encrypted LoLa inference with BFV (Brutzkus et al. 2019,
//! section 4.3) on MNIST test images: the client encodes and encrypts, the server evaluates a
//! prepared plan, the client decrypts; latencies, traffic, key sizes, memory, accuracy and
//! exact agreement with the quantized plaintext model are reported.
//!
//! Sizing (documented here once): BFV computes in `Z_T`, `T = ∏ t_j`, so only the *outputs*
//! must fit `(-T/2, T/2]`; intermediate values may wrap. The largest absolute logit of the
//! integer network over calibration images (the first `--calibration` training images and the
//! benchmarked test images) times a safety margin of `2^--margin-bits` (default 4 bits, 16×)
//! gives the bits of `T`. By default the planner ([`choose_bfv`]) then picks the 128-bit preset
//! and the plaintext primes whose noise estimate leaves at least 4 bits and whose estimated
//! latency is lowest; with both `--log-n` and `--max-prime-bits`, [`plaintext_primes`] picks the
//! fewest primes `≡ 1 mod 2n` of at most that size instead. The noise budget after every step
//! is measured on the first image and reported beside the estimate. Decrypted logits are compared with the plaintext integer model on
//! every image: any difference is reported and is an error.
//!
//! Strategies (`--strategy`): `lola` and `lola-bsgs` send the convolution representation,
//! `lola-dense` (LoLa section 4.3, "LoLa-Dense") sends one dense ciphertext per image that the
//! server moves into the convolution representation with hoisted rotations and masks, and
//! `cryptonets` (section 3.2) is the SIMD baseline: one image per slot, one ciphertext per
//! pixel, so one *batch* holds up to `n` images (BFV has `n` slots) and its latency is the
//! latency of every image in it. A CryptoNets run encrypts the requested images in
//! `⌈images / n⌉` batches (the last one partly filled) and reports the batch latency, the
//! throughput actually reached (images / server time) and the throughput of a full batch
//! (`n` / batch latency: the SIMD latency does not depend on how many slots are used).
//!
//! `--baseline` also runs CryptoNets on the same images in the same process after the main run
//! (its own planner-chosen parameters) and reports how many times lower the main run's
//! per-image latency is than CryptoNets' batch latency — LoLa's comparison in Table 2.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use henn_he::bfv::{
    BfvParametersBuilder, BFV_128BIT_LOGN12_LOGQP109, BFV_128BIT_LOGN13_LOGQP218,
    BFV_128BIT_LOGN14_LOGQP438,
};
use henn_infer::backend::bfv::{plaintext_primes, BfvCrtBackend, KeySpec};
use henn_infer::backend::SlotBackend;
use henn_infer::encrypted::{decrypt_batch, EncryptedVector};
use henn_infer::from_nn::quantize_model;
use henn_infer::network::{IntLayer, IntNetwork};
use henn_infer::params::choose_bfv;
use henn_infer::plan::{execute, plan, Strategy};
use henn_infer::representation::SlotGeometry;
use henn_infer::session::output_bits;
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{argmax, Model};
use henn_nn::quant::{QuantConfig, QuantizedModel};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

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
    /// The planner's strategy.
    pub fn strategy(self) -> Strategy {
        match self {
            LolaStrategy::Auto | LolaStrategy::LolaBsgs => Strategy::LoLaBsgs,
            LolaStrategy::Lola => Strategy::LoLa,
            LolaStrategy::LolaDense => Strategy::LoLaDense,
            LolaStrategy::Cryptonets => Strategy::CryptoNets,
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

#[path = "bench_lola_ckks.rs"]
mod ckks;
#[path = "bench_lola_session.rs"]
mod session;

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

/// The report of a CryptoNets (SIMD) run: batches of up to `n` images, one per slot.
#[derive(Serialize, Debug)]
pub struct SimdReport {
    net: String,
    trained_model: bool,
    strategy: String,
    scheme: &'static str,
    log_n: u32,
    log_qp: u32,
    plaintext_primes: Vec<u64>,
    plaintext_bits: f64,
    max_abs_logit: String,
    images: usize,
    /// Slots per batch (= n for BFV): the most images one batch can hold.
    batch_slots: usize,
    /// Images in each batch that ran.
    images_per_batch: Vec<usize>,
    threads: usize,
    keygen_s: f64,
    /// Server time of one batch (expand + evaluate): every image in it waits this long.
    server_batch_median_s: f64,
    server_batch_min_s: f64,
    server_batch_max_s: f64,
    server_total_s: f64,
    /// Images / total server time, with the batches as filled in this run.
    throughput_images_per_s: f64,
    /// `batch_slots` / median batch latency: the throughput of full batches.
    full_batch_throughput_images_per_s: f64,
    client_encrypt_batch_median_s: f64,
    client_decrypt_batch_median_s: f64,
    bytes_up_per_batch: usize,
    bytes_down_per_batch: usize,
    eval_key_bytes: usize,
    min_noise_budget_bits: u32,
    estimated_noise_budget_bits: Option<f64>,
    /// Peak resident memory of the process so far (includes an earlier run with `--baseline`).
    peak_memory_mib: f64,
    accuracy: Option<f64>,
    agreement: f64,
}

struct Network {
    net: IntNetwork<i128>,
    quantized: Option<QuantizedModel>,
}

fn load_network(args: &LolaArgs) -> Result<Network> {
    let dir = args.models.join(args.net.name());
    let model = Model::load(&dir).with_context(|| format!("loading {}", dir.display()))?;
    let config = QuantConfig {
        input_bits: args.input_bits,
        weight_bits: args.weight_bits,
        ..QuantConfig::default()
    };
    let (q, net) = quantize_model(&model, &config)?;
    Ok(Network {
        net,
        quantized: Some(q),
    })
}

fn quantize(n: &Network, x: &[f32], input_bits: u32) -> Result<Vec<i128>> {
    Ok(match &n.quantized {
        Some(q) => q.quantize_input(x)?.into_iter().map(i128::from).collect(),
        None => {
            let m = ((1u32 << input_bits) - 1) as f32;
            x.iter().map(|v| (v * m).round() as i128).collect()
        }
    })
}

fn reference(n: &Network, x: &[i128]) -> Result<Vec<i128>> {
    let via_net = n.net.forward(x)?;
    if let Some(q) = &n.quantized {
        let xi: Vec<i64> = x.iter().map(|&v| v as i64).collect();
        let via_q = q.forward_i128(&xi)?;
        if via_q != via_net {
            bail!("IntNetwork and QuantizedModel disagree on a plaintext input");
        }
    }
    Ok(via_net)
}

fn peak_memory_mib() -> f64 {
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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

fn bar(len: usize, msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:10} {bar:40} {pos}/{len} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg);
    pb
}

/// Test images (quantized), their labels and the plaintext model's logits.
struct Inputs {
    inputs: Vec<Vec<i128>>,
    labels: Vec<u8>,
    refs: Vec<Vec<i128>>,
    /// Largest absolute logit over the calibration and test images.
    max_logit: i128,
}

fn load_inputs(args: &LolaArgs, network: &Network) -> Result<Inputs> {
    let net = &network.net;
    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    let len = net.input_len;
    if test.images.len() < args.images * len {
        bail!("the test set has fewer than {} images", args.images);
    }
    let inputs: Vec<Vec<i128>> = (0..args.images)
        .map(|i| {
            quantize(
                network,
                &test.images[i * len..(i + 1) * len],
                args.input_bits,
            )
        })
        .collect::<Result<_>>()?;
    let refs: Vec<Vec<i128>> = inputs
        .iter()
        .map(|x| reference(network, x))
        .collect::<Result<_>>()?;
    // Size T from the logits of calibration images (see the module docs).
    let mut max_logit: i128 = refs.iter().flatten().map(|v| v.abs()).max().unwrap_or(0);
    if args.calibration > 0 {
        let train = load_mnist(&args.data, Split::Train)?;
        let count = args.calibration.min(train.images.len() / len);
        for i in 0..count {
            let x = quantize(
                network,
                &train.images[i * len..(i + 1) * len],
                args.input_bits,
            )?;
            let y = net.forward(&x)?;
            max_logit = max_logit.max(y.iter().map(|v| v.abs()).max().unwrap_or(0));
        }
    }
    Ok(Inputs {
        inputs,
        labels: test.labels[..args.images].to_vec(),
        refs,
        max_logit,
    })
}

/// Preset, plaintext primes and the planner's noise estimate for `strategy` (module docs).
fn choose_parameters(
    args: &LolaArgs,
    net: &IntNetwork<i128>,
    bits: u32,
    strategy: Strategy,
) -> Result<(henn_he::bfv::Preset, Vec<u64>, Option<f64>)> {
    let fixed = match args.log_n {
        None => None,
        Some(13) => Some(BFV_128BIT_LOGN13_LOGQP218),
        Some(12) => Some(BFV_128BIT_LOGN12_LOGQP109),
        Some(14) => Some(BFV_128BIT_LOGN14_LOGQP438),
        Some(other) => bail!("--log-n {other}: 12, 13 or 14 supported"),
    };
    Ok(match (fixed, args.max_prime_bits) {
        (Some(preset), Some(max_bits)) => (
            preset,
            plaintext_primes(bits, 1usize << preset.log_n, max_bits)?,
            None,
        ),
        (fixed, max_bits) => {
            let presets: Vec<_> = fixed.into_iter().collect();
            let c = choose_bfv(
                net,
                bits,
                &[strategy],
                (!presets.is_empty()).then_some(presets.as_slice()),
                4.0,
                henn_infer::session::costs::bfv_costs,
            )?;
            if let Some(max_bits) = max_bits {
                if c.primes.iter().any(|&t| t >= 1u64 << max_bits) {
                    bail!(
                        "the planner needs primes {:?}; --max-prime-bits {max_bits} needs --log-n",
                        c.primes
                    );
                }
            }
            (c.preset, c.primes, Some(c.estimated_budget))
        }
    })
}

/// A BFV run's parameters and plan (no rescaling: BFV needs no modulus switching for
/// correctness, all operations stay at the top level).
struct BfvSetup {
    preset: henn_he::bfv::Preset,
    primes: Vec<u64>,
    estimated_budget: Option<f64>,
    rlwe: std::sync::Arc<henn_he::rlwe::RlweParameters>,
    plan: henn_infer::plan::Plan,
}

/// Chooses parameters for `strategy` ([`choose_parameters`]) and plans the network on them.
fn bfv_setup(
    args: &LolaArgs,
    net: &IntNetwork<i128>,
    bits: u32,
    strategy: Strategy,
) -> Result<BfvSetup> {
    let (preset, primes, estimated_budget) = choose_parameters(args, net, bits, strategy)?;
    tracing::info!(
        "{strategy:?}: BFV {} with plaintext primes {primes:?} (estimated noise budget \
         {estimated_budget:?})",
        preset.name
    );
    let first = *primes
        .first()
        .ok_or_else(|| anyhow::anyhow!("the planner chose no plaintext prime"))?;
    let rlwe = BfvParametersBuilder::preset(preset)
        .plaintext_modulus(first)
        .build()?
        .rlwe()
        .clone();
    let n = 1usize << preset.log_n;
    let geometry = SlotGeometry {
        rows: 2,
        row_len: n / 2,
    };
    let mut p = plan(net, geometry, strategy)?;
    p.rescale = false;
    Ok(BfvSetup {
        preset,
        primes,
        estimated_budget,
        rlwe,
        plan: p,
    })
}

/// Runs `henn bench lola`.
pub fn run(args: LolaArgs) -> Result<()> {
    if args.images == 0 {
        bail!("--images must be at least 1");
    }
    if let LolaNet::LolaCifar10 = args.net {
        if args.scheme == Scheme::Bfv {
            bail!(
                "lola-cifar10 runs with CKKS (exact BFV would need ~120-bit plaintext spaces, \
                 i.e. four or more CRT instances at n = 16384)"
            );
        }
        return ckks::run(&args);
    }
    if args.strategy == LolaStrategy::Cryptonets {
        if args.scheme == Scheme::Ckks {
            bail!("CryptoNets runs with BFV only (--baseline runs it beside a CKKS run)");
        }
        let network = load_network(&args)?;
        let data = load_inputs(&args, &network)?;
        let report = bench_simd(
            &args,
            &network,
            &data,
            output_bits(data.max_logit as f64, args.margin_bits),
        )?;
        super::print_report(&report, args.json)?;
        return check_agreement(report.agreement, args.images);
    }
    let mut report = session::run(&args)?;
    if args.baseline {
        let base = cryptonets_baseline(&args, None)?;
        report.latency_ratio_cryptonets_over_this =
            Some(base.server_batch_median_s / report.server_median());
        report.cryptonets_baseline = Some(base);
    }
    super::print_report(&report, args.json)?;
    session::check(&report)
}

/// Smallest noise budget of `cts`, bits (client side).
fn min_budget(b: &BfvCrtBackend, cts: &[henn_infer::backend::bfv::BfvCiphertext]) -> Result<u32> {
    let mut min = u32::MAX;
    for c in cts {
        min = min.min(b.noise_budget(c)?);
    }
    Ok(if min == u32::MAX { 0 } else { min })
}

fn check_agreement(agreement: f64, images: usize) -> Result<()> {
    let agree = (agreement * images as f64).round() as usize;
    if agree != images {
        bail!(
            "decrypted logits differ from the quantized model on {} of {images} images",
            images - agree
        );
    }
    Ok(())
}

fn cryptonets_baseline(
    args: &LolaArgs,
    loaded: Option<(&Network, &Inputs, u32)>,
) -> Result<SimdReport> {
    tracing::info!("CryptoNets baseline on the same {} images", args.images);
    let base = match loaded {
        Some((network, data, bits)) => bench_simd(args, network, data, bits)?,
        None => {
            let network = load_network(args)?;
            let data = load_inputs(args, &network)?;
            bench_simd(
                args,
                &network,
                &data,
                output_bits(data.max_logit as f64, args.margin_bits),
            )?
        }
    };
    check_agreement(base.agreement, args.images)?;
    Ok(base)
}

fn bench_simd(args: &LolaArgs, network: &Network, data: &Inputs, bits: u32) -> Result<SimdReport> {
    let net = &network.net;
    let strategy = Strategy::CryptoNets;
    let BfvSetup {
        preset,
        primes,
        estimated_budget,
        rlwe,
        plan: p,
    } = bfv_setup(args, net, bits, strategy)?;
    // SIMD plans rotate nothing: only the relinearization key is needed.
    let spec = KeySpec {
        rotation_steps: Vec::new(),
        row_swap: false,
        relinearization: net.layers.iter().any(|l| matches!(l, IntLayer::Square)),
    };
    let t0 = Instant::now();
    let b = BfvCrtBackend::generate(&rlwe, &primes, &spec)?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let eval_key_bytes = b.evaluation_key_bytes();

    let g = SlotGeometry::of(&b);
    let slots = g.slots();
    let (mut server, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let (mut up, mut down) = (0usize, 0usize);
    let (mut agree, mut correct) = (0usize, 0usize);
    let mut budget = u32::MAX;
    let mut per_batch = Vec::new();
    let batches = data.inputs.len().div_ceil(slots);
    let pb = bar(batches, "batches");
    for (k, batch) in data.inputs.chunks(slots).enumerate() {
        per_batch.push(batch.len());
        // Client: one message per input feature, image `i` of the batch in slot `i`.
        let t0 = Instant::now();
        let seeded = p
            .input
            .encode_batch(batch, &g)?
            .iter()
            .map(|m| b.encrypt_seeded(&b.encode(m, b.max_level())?))
            .collect::<Result<Vec<_>, _>>()?;
        enc.push(t0.elapsed().as_secs_f64());
        up = seeded.iter().map(|s| b.seeded_bytes(s)).sum();
        // Server.
        let t0 = Instant::now();
        let cts = seeded
            .iter()
            .map(|s| b.expand_seeded(s))
            .collect::<Result<Vec<_>, _>>()?;
        drop(seeded);
        let out = execute(
            &b,
            net,
            &p,
            EncryptedVector::new(p.input.clone(), cts, true)?,
            |_, _, _, _| {},
        )?;
        server.push(t0.elapsed().as_secs_f64());
        down = out.cts.iter().map(|c| b.ciphertext_bytes(c)).sum();
        budget = budget.min(min_budget(&b, &out.cts)?);
        // Client.
        let t0 = Instant::now();
        let got = decrypt_batch(&b, &out, batch.len())?;
        dec.push(t0.elapsed().as_secs_f64());
        for (j, logits) in got.iter().enumerate() {
            let i = k * slots + j;
            if logits == &data.refs[i] {
                agree += 1;
            } else {
                tracing::error!(
                    "image {i}: decrypted logits {logits:?} differ from {:?}",
                    data.refs[i]
                );
            }
            if network.quantized.is_some() && argmax(logits) == usize::from(data.labels[i]) {
                correct += 1;
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let images = data.inputs.len();
    let server_total_s: f64 = server.iter().sum();
    let server_batch_median_s = median(&mut server.clone());
    Ok(SimdReport {
        net: args.net.name().into(),
        trained_model: network.quantized.is_some(),
        strategy: format!("{strategy:?}"),
        scheme: "bfv",
        log_n: preset.log_n,
        log_qp: rlwe.log_qp_bits(),
        plaintext_bits: primes.iter().map(|&t| (t as f64).log2()).sum(),
        plaintext_primes: primes,
        max_abs_logit: data.max_logit.to_string(),
        images,
        batch_slots: slots,
        images_per_batch: per_batch,
        threads: rayon::current_num_threads(),
        keygen_s,
        server_batch_min_s: server.iter().copied().fold(f64::INFINITY, f64::min),
        server_batch_max_s: server.iter().copied().fold(0.0, f64::max),
        server_batch_median_s,
        server_total_s,
        throughput_images_per_s: images as f64 / server_total_s,
        full_batch_throughput_images_per_s: slots as f64 / server_batch_median_s,
        client_encrypt_batch_median_s: median(&mut enc),
        client_decrypt_batch_median_s: median(&mut dec),
        bytes_up_per_batch: up,
        bytes_down_per_batch: down,
        eval_key_bytes,
        min_noise_budget_bits: budget,
        estimated_noise_budget_bits: estimated_budget,
        peak_memory_mib: peak_memory_mib(),
        accuracy: network
            .quantized
            .is_some()
            .then(|| correct as f64 / images as f64),
        agreement: agree as f64 / images as f64,
    })
}
