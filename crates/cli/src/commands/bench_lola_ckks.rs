//! `henn bench lola --scheme ckks`: end-to-end encrypted LoLa inference with CKKS on MNIST test
//! images, with the model's **float** weights (no quantization).
//!
//! Sizing (documented here once): the network is range-normalised on calibration images
//! ([`normalize_ranges`]: every linear layer's largest absolute output becomes 1, which scales
//! the logits by one positive factor and keeps every prediction); the plan's depth `D` is
//! measured on the clear backend; the ciphertext modulus is the largest-scale chain with `D`
//! rescalings at 128-bit security for `n = 2^--log-n` ([`chain_for_depth`]) with
//! `--margin-bits + 2` bits of integer headroom at the last level. Decrypted logits are compared
//! with the float model (`henn_nn` forward pass in `f32`): the report gives the agreement of
//! predicted classes and the largest logit error relative to the largest logit.
//!
//! `lola-cifar10` (LoLa section 4.4) runs at `n = 16384` by default (rows of 8192 slots) with
//! the `lola-bsgs` plan: the 16268 first-layer outputs are packed into two messages and the
//! second convolution (4075 × 16268 unrolled) is one multi-message diagonal product. Its
//! weights come from `<models>/lola-cifar10` when present (`henn train --arch lola-cifar10
//! --init-only`), otherwise from the same seeded initialiser in memory: latency and memory do
//! not depend on the weight values, accuracy does and cannot be measured without CIFAR-10.
//! Inputs are CIFAR-10 test images when `--data` holds `test_batch.bin`, otherwise synthetic
//! images (pixels uniform in `[0, 1]`, seeded); calibration uses at most 200 synthetic images.
//! Its weight plaintexts are encoded per request, not prepared: the 8192 diagonals alone would
//! take about 4 GB at `n = 16384`.

use anyhow::{bail, Context, Result};
use henn_he::ckks::CkksParameters;
use henn_infer::backend::ckks::{
    chain_for_depth, parameters_for_depth, CkksBackend, KeySpec, PlaintextCache,
};
use henn_infer::backend::clear::ClearBackend;
use henn_infer::backend::SlotBackend;
use henn_infer::calibrate::normalize_ranges;
use henn_infer::encrypted::{decrypt_vector, encrypt_vector, EncryptedVector};
use henn_infer::from_nn::real_network;
use henn_infer::plan::{execute, key_requirements, plan, profile};
use henn_infer::representation::SlotGeometry;
use henn_nn::data::{load_cifar10, load_mnist, Split};
use henn_nn::model::{argmax, Model};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

use super::{bar, median, peak_memory_mib, LolaArgs, LolaNet, LolaStrategy};

/// The report of `henn bench lola --scheme ckks`.
#[derive(Serialize, Debug)]
pub struct CkksLolaReport {
    net: String,
    strategy: String,
    scheme: &'static str,
    log_n: u32,
    log_qp: u32,
    q_bits: Vec<u32>,
    p_bits: Vec<u32>,
    log_scale: u32,
    dnum: usize,
    depth: usize,
    images: usize,
    threads: usize,
    keygen_s: f64,
    prepare_s: f64,
    prepared_plaintexts: usize,
    server_median_s: f64,
    server_min_s: f64,
    server_max_s: f64,
    client_encrypt_median_s: f64,
    client_decrypt_median_s: f64,
    bytes_up: usize,
    bytes_down: usize,
    eval_key_bytes: usize,
    rotation_keys: usize,
    max_relative_logit_error: f64,
    peak_memory_mib: f64,
    /// `None` without labelled data (synthetic CIFAR-shaped inputs).
    accuracy: Option<f64>,
    float_accuracy: Option<f64>,
    synthetic_inputs: bool,
    agreement_with_float_model: f64,
    /// Median server time of every plan step (the description of the step, seconds).
    step_median_s: Vec<(String, f64)>,
    /// CryptoNets (BFV) on the same images in the same run (`--baseline`).
    cryptonets_baseline: Option<super::SimdReport>,
    /// CryptoNets batch latency / this run's per-image median (`--baseline`).
    latency_ratio_cryptonets_over_this: Option<f64>,
}

/// Runs the CKKS benchmark (see the module docs).
pub fn run(args: &LolaArgs) -> Result<()> {
    if args.images == 0 {
        bail!("--images must be at least 1");
    }
    let cifar = matches!(args.net, LolaNet::LolaCifar10);
    let dir = args.models.join(args.net.name());
    let model = if cifar && !dir.join("model.json").exists() {
        if !args.synthetic_weights {
            bail!(
                "{} not found: train it (`henn train --arch lola-cifar10 --init-only`) or pass \
                 --synthetic-weights for the seeded untrained weights",
                dir.display()
            );
        }
        tracing::warn!(
            "{} not found: lola-cifar10 with untrained seeded weights (seed 1)",
            dir.display()
        );
        henn_nn::train::initial_model(henn_nn::train::Arch::LolaCifar10, 1)?
    } else {
        Model::load(&dir).with_context(|| {
            format!(
                "loading {} (CKKS runs trained float models only)",
                dir.display()
            )
        })?
    };
    let net = real_network(&model)?;
    let len = net.input_len;
    let (images, labels, samples) = if cifar {
        cifar_inputs(args, len)?
    } else {
        mnist_inputs(args, len)?
    };
    let image = |i: usize| -> Vec<f32> { images[i].clone() };
    let (net, _factor) = normalize_ranges(&net, &samples, 1.0)?;

    if args.strategy == LolaStrategy::Cryptonets {
        bail!("CryptoNets runs with --scheme bfv only (--baseline runs it beside a CKKS run)");
    }
    if cifar && args.baseline {
        bail!("--baseline runs CryptoNets on MNIST networks only");
    }
    let strategy = args.strategy.strategy();
    if cifar && args.strategy != LolaStrategy::LolaBsgs {
        tracing::warn!(
            "lola-cifar10 with --strategy {:?}: the paper's plan makes 4075 rotate-and-sum dot \
             products in layer 2; --strategy lola-bsgs is the fast plan",
            args.strategy
        );
    }
    // CKKS: n = 8192 (CIFAR: 16384) unless asked otherwise (the chain is then sized by the
    // plan's depth).
    let log_n = args.log_n.unwrap_or(if cifar { 14 } else { 13 });
    let n = 1usize << log_n;
    let geometry = SlotGeometry {
        rows: 1,
        row_len: n / 2,
    };
    let p = plan(&net, geometry, strategy)?;
    // Depth of the plan, measured on the clear backend.
    let probe_levels = 32;
    let clear = ClearBackend::<f64>::new(1, n / 2, probe_levels)?;
    let (_, report) = profile(&clear, &net, &p, &vec![0.0; len])?;
    let depth = probe_levels - report.steps.last().map_or(probe_levels, |s| s.level);
    let headroom = args.margin_bits + 2;
    let chain = chain_for_depth(log_n, depth, headroom)?;
    let (q_bits, p_bits, log_scale) = (chain.q_bits, chain.p_bits, chain.log_scale);
    let params: Arc<CkksParameters> = parameters_for_depth(log_n, depth, headroom)?;
    let keys = key_requirements(&net, &p, depth)?;
    let spec = KeySpec {
        rotation_steps: keys.rotation_steps.iter().copied().collect(),
        row_swap: false,
        relinearization: keys.relinearization,
    };
    tracing::info!(
        "CKKS n = {n}, depth {depth}, q bits {q_bits:?}, P bits {p_bits:?}, scale 2^{log_scale}, dnum {}, {} rotation keys",
        chain.dnum,
        spec.rotation_steps.len()
    );

    let t0 = Instant::now();
    let b = CkksBackend::generate(&params, &spec)?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let eval_key_bytes = b.evaluation_key_bytes()?;

    // Server preparation: encode every weight and mask plaintext once.
    let t0 = Instant::now();
    if !cifar {
        b.set_plaintext_cache(PlaintextCache::Record);
        let zero = encrypt_vector(&b, p.input.clone(), &vec![0.0; len])?;
        execute(&b, &net, &p, zero, |_, _, _, _| {})?;
        b.set_plaintext_cache(PlaintextCache::Frozen);
    }
    let prepare_s = t0.elapsed().as_secs_f64();

    let g = SlotGeometry::of(&b);
    let (mut server, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let (mut up, mut down) = (0usize, 0usize);
    let (mut agree, mut correct, mut float_correct) = (0usize, 0usize, 0usize);
    let mut max_err = 0.0f64;
    let mut step_times: Vec<Vec<f64>> = vec![Vec::new(); p.steps.len()];
    let pb = bar(args.images, "encrypted");
    for i in 0..args.images {
        let x32 = image(i);
        let x: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        let float_logits = model.forward(&x32)?;
        let want = net.forward(&x)?;
        // Client: encode and encrypt (seeded, half size).
        let t0 = Instant::now();
        let seeded = p
            .input
            .encode(&x, &g)?
            .iter()
            .map(|m| b.encrypt_seeded(&b.encode(m, b.max_level())?))
            .collect::<Result<Vec<_>, _>>()?;
        enc.push(t0.elapsed().as_secs_f64());
        up = seeded.iter().map(|s| b.seeded_bytes(s)).sum();
        // Server: expand and evaluate.
        let t0 = Instant::now();
        let cts = seeded
            .iter()
            .map(|s| b.expand_seeded(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut last = Instant::now();
        let out = execute(
            &b,
            &net,
            &p,
            EncryptedVector::new(p.input.clone(), cts, true)?,
            |i, step, _, _| {
                let now = Instant::now();
                step_times[i].push((now - last).as_secs_f64());
                tracing::debug!(
                    "step {i} {}: {:.2} ms",
                    step.describe(),
                    (now - last).as_secs_f64() * 1e3
                );
                last = now;
            },
        )?;
        server.push(t0.elapsed().as_secs_f64());
        down = out.cts.iter().map(|c| b.ciphertext_bytes(c)).sum();
        // Client: decrypt and decode.
        let t0 = Instant::now();
        let got = decrypt_vector(&b, &out)?;
        dec.push(t0.elapsed().as_secs_f64());
        let largest = want.iter().fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&want)
            .fold(0.0f64, |m, (a, w)| m.max((a - w).abs()));
        max_err = max_err.max(err / largest);
        let predicted = argmax(&got);
        if predicted == argmax(&float_logits) {
            agree += 1;
        } else {
            tracing::warn!(
                "image {i}: encrypted class {predicted}, float model class {}",
                argmax(&float_logits)
            );
        }
        if let Some(labels) = &labels {
            let label = usize::from(labels[i]);
            correct += usize::from(predicted == label);
            float_correct += usize::from(argmax(&float_logits) == label);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();

    let images = args.images;
    let mut report = CkksLolaReport {
        net: args.net.name().into(),
        strategy: format!("{strategy:?}"),
        scheme: "ckks",
        log_n,
        log_qp: params.rlwe().log_qp_bits(),
        q_bits,
        p_bits,
        log_scale,
        dnum: chain.dnum,
        depth,
        images,
        threads: rayon::current_num_threads(),
        keygen_s,
        prepare_s,
        prepared_plaintexts: b.cached_plaintexts(),
        server_min_s: server.iter().copied().fold(f64::INFINITY, f64::min),
        server_max_s: server.iter().copied().fold(0.0, f64::max),
        server_median_s: median(&mut server),
        client_encrypt_median_s: median(&mut enc),
        client_decrypt_median_s: median(&mut dec),
        bytes_up: up,
        bytes_down: down,
        eval_key_bytes,
        rotation_keys: spec.rotation_steps.len(),
        max_relative_logit_error: max_err,
        peak_memory_mib: peak_memory_mib(),
        accuracy: labels.as_ref().map(|_| correct as f64 / images as f64),
        float_accuracy: labels
            .as_ref()
            .map(|_| float_correct as f64 / images as f64),
        synthetic_inputs: labels.is_none(),
        agreement_with_float_model: agree as f64 / images as f64,
        step_median_s: p
            .steps
            .iter()
            .zip(step_times.iter_mut())
            .map(|(step, t)| (step.describe(), median(t)))
            .collect(),
        cryptonets_baseline: None,
        latency_ratio_cryptonets_over_this: None,
    };
    if args.baseline {
        let base = super::cryptonets_baseline(args, None)?;
        report.latency_ratio_cryptonets_over_this =
            Some(base.server_batch_median_s / report.server_median_s);
        report.cryptonets_baseline = Some(base);
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report:#?}");
    }
    Ok(())
}

/// Test images, their labels and calibration samples.
type Inputs = (Vec<Vec<f32>>, Option<Vec<u8>>, Vec<Vec<f64>>);

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

/// MNIST test images; calibration on training images (test images when `--calibration 0`).
fn mnist_inputs(args: &LolaArgs, len: usize) -> Result<Inputs> {
    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    if test.images.len() < args.images * len {
        bail!("the test set has fewer than {} images", args.images);
    }
    let images: Vec<Vec<f32>> = (0..args.images)
        .map(|i| test.images[i * len..(i + 1) * len].to_vec())
        .collect();
    let samples = if args.calibration > 0 {
        let train = load_mnist(&args.data, Split::Train)?;
        let count = args.calibration.min(train.images.len() / len);
        (0..count)
            .map(|i| to_f64(&train.images[i * len..(i + 1) * len]))
            .collect()
    } else {
        images.iter().map(|x| to_f64(x)).collect()
    };
    Ok((images, Some(test.labels[..args.images].to_vec()), samples))
}

/// CIFAR-10 test images from `--data` when it holds them, otherwise synthetic images (pixels
/// uniform in [0, 1], seeded); calibration on at most 200 synthetic images of another seed.
fn cifar_inputs(args: &LolaArgs, len: usize) -> Result<Inputs> {
    let synthetic = |seed: u64, count: usize| -> Vec<Vec<f32>> {
        let mut rng = henn_infer::zoo::SmallInts::new(seed);
        (0..count)
            .map(|_| {
                (0..len)
                    .map(|_| rng.next_in(127).unsigned_abs() as f32 / 127.0)
                    .collect()
            })
            .collect()
    };
    let (images, labels) = match load_cifar10(&args.data, Split::Test) {
        Ok(test) if test.images.len() >= args.images * len => (
            (0..args.images)
                .map(|i| test.images[i * len..(i + 1) * len].to_vec())
                .collect(),
            Some(test.labels[..args.images].to_vec()),
        ),
        _ => {
            tracing::warn!(
                "no CIFAR-10 test batch with {} images in {}: synthetic images",
                args.images,
                args.data.display()
            );
            (synthetic(11, args.images), None)
        }
    };
    let samples = synthetic(12, args.calibration.clamp(1, 200))
        .iter()
        .map(|x| to_f64(x))
        .collect();
    Ok((images, labels, samples))
}
