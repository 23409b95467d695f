//! LoLa's CIFAR-10 network (section 4.4) on CKKS with its float weights: `conv 8×8×3 s2 83
//! maps → square → conv 6×6×83 s2 163 maps → square → dense 10`, at `n = 16384` by default
//! (rows of 8192 slots) with the `lola-bsgs` plan: the 16268 first-layer outputs are packed
//! into two messages and the second convolution (4075 × 16268 unrolled) is one multi-message
//! diagonal product.
//!
//! Sizing (documented here once): the network is range-normalised on calibration images
//! ([`normalize_ranges`]: every linear layer's largest absolute output becomes 1, which scales
//! the logits by one positive factor and keeps every prediction); the plan's depth is measured
//! on the clear backend ([`plan_depth`]); the chain is the largest-scale one with that many
//! rescalings at 128-bit security ([`chain_for_depth`]) with `margin_bits + 2` bits of integer
//! headroom at the last level.
//!
//! Weights come from `models/lola-cifar10` when present (`henn train --arch lola-cifar10
//! --init-only`), otherwise (with `synthetic_weights`) from the same seeded initialiser in
//! memory: latency and memory do not depend on the weight values, accuracy does and cannot be
//! measured without CIFAR-10. Inputs are CIFAR-10 test images when `data` holds
//! `test_batch.bin`, otherwise synthetic images (pixels uniform in `[0, 1]`, seeded);
//! calibration uses at most 200 synthetic images. The weight plaintexts are encoded per
//! request, not prepared: the 8192 diagonals alone would take about 4 GB at `n = 16384`.

use std::time::Instant;

use henn_nn::data::{load_cifar10, Split};
use henn_nn::model::{argmax, Model};
use serde::Serialize;

use super::{median, peak_memory_mib, relative_error, step_medians, LolaOptions, Progress, Spread};
use crate::backend::ckks::{chain_for_depth, parameters_for_chain, CkksBackend, KeySpec};
use crate::backend::SlotEncoding;
use crate::calibrate::normalize_ranges;
use crate::encrypted::{decrypt_vector, EncryptedVector};
use crate::error::{InferError, InferResult};
use crate::from_nn::real_network;
use crate::params::plan_depth;
use crate::plan::{execute, key_requirements, plan, Strategy};
use crate::representation::SlotGeometry;

/// The report of a CKKS CIFAR-10 run.
#[derive(Serialize, Debug)]
pub struct CifarReport {
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
}

fn model(o: &LolaOptions) -> InferResult<Model> {
    let dir = o.models.join(&o.net);
    if dir.join("model.json").exists() {
        return Model::load(&dir).map_err(|e| {
            InferError::InvalidInput(format!("loading the model from {}: {e}", dir.display()))
        });
    }
    if !o.synthetic_weights {
        return Err(InferError::InvalidInput(format!(
            "{} not found: train it (`henn train --arch lola-cifar10 --init-only`) or pass \
             --synthetic-weights for the seeded untrained weights",
            dir.display()
        )));
    }
    tracing::warn!(
        "{} not found: lola-cifar10 with untrained seeded weights (seed 1)",
        dir.display()
    );
    henn_nn::train::initial_model(henn_nn::train::Arch::LolaCifar10, 1)
        .map_err(|e| InferError::InvalidModel(e.to_string()))
}

/// Test images, their labels (`None`: synthetic) and calibration samples.
type Inputs = (Vec<Vec<f32>>, Option<Vec<u8>>, Vec<Vec<f64>>);

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

/// CIFAR-10 test images from `data` when it holds them, otherwise synthetic images (pixels
/// uniform in [0, 1], seeded); calibration on at most 200 synthetic images of another seed.
fn inputs(o: &LolaOptions, len: usize) -> Inputs {
    let synthetic = |seed: u64, count: usize| -> Vec<Vec<f32>> {
        let mut rng = crate::zoo::SmallInts::new(seed);
        (0..count)
            .map(|_| {
                (0..len)
                    .map(|_| rng.next_in(127).unsigned_abs() as f32 / 127.0)
                    .collect()
            })
            .collect()
    };
    let (images, labels) = match load_cifar10(&o.data, Split::Test) {
        Ok(test) if test.images.len() >= o.images * len => (
            (0..o.images)
                .map(|i| test.images[i * len..(i + 1) * len].to_vec())
                .collect(),
            Some(test.labels[..o.images].to_vec()),
        ),
        _ => {
            tracing::warn!(
                "no CIFAR-10 test batch with {} images in {}: synthetic images",
                o.images,
                o.data.display()
            );
            (synthetic(11, o.images), None)
        }
    };
    let samples = synthetic(12, o.calibration.clamp(1, 200))
        .iter()
        .map(|x| to_f64(x))
        .collect();
    (images, labels, samples)
}

/// Runs the CIFAR-10 benchmark (see the module docs).
pub fn run(o: &LolaOptions, progress: &mut dyn FnMut(Progress)) -> InferResult<CifarReport> {
    let model = model(o)?;
    let net = real_network(&model)?;
    let len = net.input_len;
    let (images, labels, samples) = inputs(o, len);
    let (net, _factor) = normalize_ranges(&net, &samples, 1.0)?;
    let strategy = o.strategy.unwrap_or(Strategy::LoLaBsgs);
    if strategy != Strategy::LoLaBsgs {
        tracing::warn!(
            "lola-cifar10 with {strategy:?}: the paper's plan makes 4075 rotate-and-sum dot \
             products in layer 2; lola-bsgs is the fast plan"
        );
    }
    let log_n = o.log_n.unwrap_or(14);
    let n = 1usize << log_n;
    let p = plan(
        &net,
        SlotGeometry {
            rows: 1,
            row_len: n / 2,
        },
        strategy,
    )?;
    let depth = plan_depth(&net, &p)?;
    let chain = chain_for_depth(log_n, depth, o.margin_bits + 2)?;
    let params = parameters_for_chain(log_n, &chain)?;
    let keys = key_requirements(&net, &p, depth)?;
    let spec = KeySpec {
        rotation_steps: keys.rotation_steps.iter().copied().collect(),
        row_swap: false,
        relinearization: keys.relinearization,
    };
    tracing::info!(
        "CKKS n = {n}, depth {depth}, q bits {:?}, P bits {:?}, scale 2^{}, dnum {}, {} \
         rotation keys",
        chain.q_bits,
        chain.p_bits,
        chain.log_scale,
        chain.dnum,
        spec.rotation_steps.len()
    );

    let t0 = Instant::now();
    let b = CkksBackend::generate(&params, &spec)?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let (client, server) = (&b.encryptor, &b.evaluator);

    let g = SlotGeometry::of(client);
    let (mut server_s, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let (mut up, mut down) = (0usize, 0usize);
    let (mut agree, mut correct, mut float_correct) = (0usize, 0usize, 0usize);
    let mut max_err = 0.0f64;
    let mut step_times: Vec<Vec<f64>> = vec![Vec::new(); p.steps.len()];
    progress(Progress::Start {
        len: o.images,
        what: "encrypted",
    });
    for (i, x32) in images.iter().enumerate() {
        let x = to_f64(x32);
        let float_logits = model
            .forward(x32)
            .map_err(|e| InferError::InvalidModel(e.to_string()))?;
        let want = net.forward(&x)?;
        // Client: encode and encrypt (seeded, half size).
        let t0 = Instant::now();
        let seeded = p
            .input
            .encode(&x, &g)?
            .iter()
            .map(|m| client.encrypt_seeded(&client.encode(m, client.max_level())?))
            .collect::<Result<Vec<_>, _>>()?;
        enc.push(t0.elapsed().as_secs_f64());
        up = seeded.iter().map(|s| client.seeded_bytes(s)).sum();
        // Server: expand and evaluate.
        let t0 = Instant::now();
        let cts = seeded
            .iter()
            .map(|s| server.expand_seeded(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut last = Instant::now();
        let x = EncryptedVector::new(p.input.clone(), cts, true)?;
        let out = execute(server, &net, &p, x, |j, _, _, _| {
            let now = Instant::now();
            step_times[j].push((now - last).as_secs_f64());
            last = now;
        })?;
        server_s.push(t0.elapsed().as_secs_f64());
        down = out.cts.iter().map(|c| server.ciphertext_bytes(c)).sum();
        // Client: decrypt and decode.
        let t0 = Instant::now();
        let got = decrypt_vector(client, &out)?;
        dec.push(t0.elapsed().as_secs_f64());
        max_err = max_err.max(relative_error(&got, &want));
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
        progress(Progress::Advance);
    }
    progress(Progress::Done);

    let count = o.images as f64;
    let server = Spread::of(&server_s);
    Ok(CifarReport {
        net: o.net.clone(),
        strategy: format!("{strategy:?}"),
        scheme: "ckks",
        log_n,
        log_qp: params.rlwe().log_qp_bits(),
        q_bits: chain.q_bits,
        p_bits: chain.p_bits,
        log_scale: chain.log_scale,
        dnum: chain.dnum,
        depth,
        images: o.images,
        threads: rayon::current_num_threads(),
        keygen_s,
        server_median_s: server.median,
        server_min_s: server.min,
        server_max_s: server.max,
        client_encrypt_median_s: median(&mut enc),
        client_decrypt_median_s: median(&mut dec),
        bytes_up: up,
        bytes_down: down,
        eval_key_bytes: b.evaluator.evaluation_key_bytes()?,
        rotation_keys: spec.rotation_steps.len(),
        max_relative_logit_error: max_err,
        peak_memory_mib: peak_memory_mib(),
        accuracy: labels.as_ref().map(|_| correct as f64 / count),
        float_accuracy: labels.as_ref().map(|_| float_correct as f64 / count),
        synthetic_inputs: labels.is_none(),
        agreement_with_float_model: agree as f64 / count,
        step_median_s: step_medians(&p.steps, &mut step_times),
    })
}
