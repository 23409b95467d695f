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
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{argmax, Model};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

use super::{bar, median, peak_memory_mib, LolaArgs, LolaStrategy};

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
    accuracy: f64,
    float_accuracy: f64,
    agreement_with_float_model: f64,
}

/// Runs the CKKS benchmark (see the module docs).
pub fn run(args: &LolaArgs) -> Result<()> {
    if args.images == 0 {
        bail!("--images must be at least 1");
    }
    let dir = args.models.join(args.net.name());
    let model = Model::load(&dir).with_context(|| {
        format!(
            "loading {} (CKKS runs trained float models only)",
            dir.display()
        )
    })?;
    let net = real_network(&model)?;
    let len = net.input_len;
    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    if test.images.len() < args.images * len {
        bail!("the test set has fewer than {} images", args.images);
    }
    let image = |i: usize| -> Vec<f32> { test.images[i * len..(i + 1) * len].to_vec() };

    // Calibrate value ranges on training images (and fall back to test images if none).
    let mut samples: Vec<Vec<f64>> = Vec::new();
    if args.calibration > 0 {
        let train = load_mnist(&args.data, Split::Train)?;
        let count = args.calibration.min(train.images.len() / len);
        samples.extend((0..count).map(|i| {
            train.images[i * len..(i + 1) * len]
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        }));
    } else {
        samples.extend((0..args.images).map(|i| image(i).iter().map(|&v| f64::from(v)).collect()));
    }
    let (net, _factor) = normalize_ranges(&net, &samples, 1.0)?;

    if args.strategy == LolaStrategy::Cryptonets || args.baseline {
        bail!("CryptoNets (and --baseline) run with --scheme bfv only");
    }
    let strategy = args.strategy.strategy();
    // CKKS: n = 8192 unless asked otherwise (the chain is then sized by the plan's depth).
    let log_n = args.log_n.unwrap_or(13);
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
    let (q_bits, p_bits, log_scale) = chain_for_depth(log_n, depth, headroom)?;
    let params: Arc<CkksParameters> = parameters_for_depth(log_n, depth, headroom)?;
    let keys = key_requirements(&net, &p, depth)?;
    let spec = KeySpec {
        rotation_steps: keys.rotation_steps.iter().copied().collect(),
        row_swap: false,
        relinearization: keys.relinearization,
    };
    tracing::info!(
        "CKKS n = {n}, depth {depth}, q bits {q_bits:?}, P bits {p_bits:?}, scale 2^{log_scale}, {} rotation keys",
        spec.rotation_steps.len()
    );

    let t0 = Instant::now();
    let b = CkksBackend::generate(&params, &spec)?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let eval_key_bytes = b.evaluation_key_bytes()?;

    // Server preparation: encode every weight and mask plaintext once.
    let t0 = Instant::now();
    b.set_plaintext_cache(PlaintextCache::Record);
    let zero = encrypt_vector(&b, p.input.clone(), &vec![0.0; len])?;
    execute(&b, &net, &p, zero, |_, _, _, _| {})?;
    b.set_plaintext_cache(PlaintextCache::Frozen);
    let prepare_s = t0.elapsed().as_secs_f64();

    let g = SlotGeometry::of(&b);
    let (mut server, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let (mut up, mut down) = (0usize, 0usize);
    let (mut agree, mut correct, mut float_correct) = (0usize, 0usize, 0usize);
    let mut max_err = 0.0f64;
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
        let out = execute(
            &b,
            &net,
            &p,
            EncryptedVector::new(p.input.clone(), cts, true)?,
            |_, _, _, _| {},
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
        let label = usize::from(test.labels[i]);
        let predicted = argmax(&got);
        if predicted == argmax(&float_logits) {
            agree += 1;
        } else {
            tracing::warn!(
                "image {i}: encrypted class {predicted}, float model class {}",
                argmax(&float_logits)
            );
        }
        correct += usize::from(predicted == label);
        float_correct += usize::from(argmax(&float_logits) == label);
        pb.inc(1);
    }
    pb.finish_and_clear();

    let images = args.images;
    let report = CkksLolaReport {
        net: args.net.name().into(),
        strategy: format!("{strategy:?}"),
        scheme: "ckks",
        log_n,
        log_qp: params.rlwe().log_qp_bits(),
        q_bits,
        p_bits,
        log_scale,
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
        accuracy: correct as f64 / images as f64,
        float_accuracy: float_correct as f64 / images as f64,
        agreement_with_float_model: agree as f64 / images as f64,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report:#?}");
    }
    Ok(())
}
