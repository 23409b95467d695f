//! CryptoNets' SIMD baseline (Gilad-Bachrach et al. 2016; LoLa section 3.2) on BFV: one image
//! per slot, one ciphertext per pixel, so one *batch* holds up to `n` images (BFV has `n`
//! slots) and its latency is the latency of every image in it. The requested images are
//! encrypted in `⌈images / n⌉` batches (the last one partly filled); the report gives the
//! batch latency, the throughput actually reached (images / server time) and the throughput
//! of a full batch (`n` / batch latency: the SIMD latency does not depend on how many slots
//! are used).
//!
//! Sizing (documented here once): BFV computes in `Z_T`, `T = ∏ t_j`, so only the *outputs*
//! must fit `(-T/2, T/2]`. The largest absolute logit of the integer network over the
//! calibration images (the first `calibration` training images and the benchmarked test
//! images) with a margin of `2^margin_bits` gives the bits of `T`
//! ([`crate::session::output_bits`]). By default the planner ([`choose_bfv`]) then picks the
//! 128-bit preset and the plaintext primes whose noise estimate leaves at least 4 bits and
//! whose estimated latency is lowest; with both `log_n` and `max_prime_bits`,
//! [`plaintext_primes`] picks the fewest primes `≡ 1 mod 2n` of at most that size instead.
//! Decrypted logits are compared with the quantized plaintext model on every image.

use std::time::Instant;

use henn_he::bfv::{
    BfvParametersBuilder, Preset, BFV_128BIT_LOGN12_LOGQP109, BFV_128BIT_LOGN13_LOGQP218,
    BFV_128BIT_LOGN14_LOGQP438,
};
use henn_nn::data::Split;
use henn_nn::model::argmax;
use henn_nn::quant::QuantizedModel;
use serde::Serialize;

use super::{load_mnist, load_model, median, peak_memory_mib, LolaOptions, Progress, Spread};
use crate::backend::bfv::{plaintext_primes, BfvCrtBackend, KeySpec};
use crate::backend::{BackendError, SlotEncoding};
use crate::encrypted::{decrypt_batch, EncryptedVector};
use crate::error::{InferError, InferResult};
use crate::from_nn::quantize_model;
use crate::network::{IntLayer, IntNetwork};
use crate::params::choose_bfv;
use crate::plan::{execute, plan, Strategy};
use crate::representation::SlotGeometry;
use crate::session::output_bits;

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
    /// Peak resident memory of the process so far (includes an earlier run with `baseline`).
    peak_memory_mib: f64,
    accuracy: Option<f64>,
    agreement: f64,
}

impl SimdReport {
    /// Median server time of one batch, seconds.
    pub fn server_batch_median(&self) -> f64 {
        self.server_batch_median_s
    }

    /// Fraction of images whose decrypted logits equal the quantized model's.
    pub fn agreement(&self) -> f64 {
        self.agreement
    }

    /// Images run.
    pub fn images(&self) -> usize {
        self.images
    }
}

/// Test images (quantized), their labels and the plaintext model's logits.
struct Inputs {
    inputs: Vec<Vec<i128>>,
    labels: Vec<u8>,
    refs: Vec<Vec<i128>>,
    /// Largest absolute logit over the calibration and test images.
    max_logit: i128,
}

fn quantize(q: &QuantizedModel, x: &[f32]) -> InferResult<Vec<i128>> {
    Ok(q.quantize_input(x)
        .map_err(|e| InferError::InvalidInput(e.to_string()))?
        .into_iter()
        .map(i128::from)
        .collect())
}

/// The integer network's logits, checked against the quantized model's own forward pass.
fn reference(q: &QuantizedModel, net: &IntNetwork<i128>, x: &[i128]) -> InferResult<Vec<i128>> {
    let via_net = net.forward(x)?;
    let xi: Vec<i64> = x.iter().map(|&v| v as i64).collect();
    let via_q = q
        .forward_i128(&xi)
        .map_err(|e| InferError::InvalidModel(e.to_string()))?;
    if via_q != via_net {
        return Err(InferError::InvalidModel(
            "IntNetwork and QuantizedModel disagree on a plaintext input".into(),
        ));
    }
    Ok(via_net)
}

fn load_inputs(o: &LolaOptions, q: &QuantizedModel, net: &IntNetwork<i128>) -> InferResult<Inputs> {
    let test = load_mnist(o, Split::Test)?;
    let len = net.input_len;
    if test.images.len() < o.images * len {
        return Err(InferError::InvalidInput(format!(
            "the test set has fewer than {} images",
            o.images
        )));
    }
    let inputs: Vec<Vec<i128>> = (0..o.images)
        .map(|i| quantize(q, &test.images[i * len..(i + 1) * len]))
        .collect::<InferResult<_>>()?;
    let refs: Vec<Vec<i128>> = inputs
        .iter()
        .map(|x| reference(q, net, x))
        .collect::<InferResult<_>>()?;
    // Size T from the logits of calibration images (see the module docs).
    let mut max_logit: i128 = refs.iter().flatten().map(|v| v.abs()).max().unwrap_or(0);
    if o.calibration > 0 {
        let train = load_mnist(o, Split::Train)?;
        let count = o.calibration.min(train.images.len() / len);
        for i in 0..count {
            let y = net.forward(&quantize(q, &train.images[i * len..(i + 1) * len])?)?;
            max_logit = max_logit.max(y.iter().map(|v| v.abs()).max().unwrap_or(0));
        }
    }
    Ok(Inputs {
        inputs,
        labels: test.labels[..o.images].to_vec(),
        refs,
        max_logit,
    })
}

/// Preset, plaintext primes and the planner's noise estimate (see the module docs).
fn choose_parameters(
    o: &LolaOptions,
    net: &IntNetwork<i128>,
    bits: u32,
) -> InferResult<(Preset, Vec<u64>, Option<f64>)> {
    let fixed = match o.log_n {
        None => None,
        Some(13) => Some(BFV_128BIT_LOGN13_LOGQP218),
        Some(12) => Some(BFV_128BIT_LOGN12_LOGQP109),
        Some(14) => Some(BFV_128BIT_LOGN14_LOGQP438),
        Some(other) => {
            return Err(InferError::InvalidInput(format!(
                "--log-n {other}: 12, 13 or 14 supported"
            )))
        }
    };
    Ok(match (fixed, o.max_prime_bits) {
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
                &[Strategy::CryptoNets],
                (!presets.is_empty()).then_some(presets.as_slice()),
                4.0,
                crate::session::costs::bfv_costs,
            )?;
            if let Some(max_bits) = max_bits {
                if c.primes.iter().any(|&t| t >= 1u64 << max_bits) {
                    return Err(InferError::InvalidInput(format!(
                        "the planner needs primes {:?}; --max-prime-bits {max_bits} needs --log-n",
                        c.primes
                    )));
                }
            }
            (c.preset, c.primes, Some(c.estimated_budget))
        }
    })
}

/// Runs the CryptoNets baseline (see the module docs).
pub fn run(o: &LolaOptions, progress: &mut dyn FnMut(Progress)) -> InferResult<SimdReport> {
    let model = load_model(o)?;
    let (quantized, net) = quantize_model(&model, &o.quant)?;
    let data = load_inputs(o, &quantized, &net)?;
    let bits = output_bits(data.max_logit as f64, o.margin_bits);
    let (preset, primes, estimated_budget) = choose_parameters(o, &net, bits)?;
    tracing::info!(
        "CryptoNets: BFV {} with plaintext primes {primes:?} (estimated noise budget \
         {estimated_budget:?})",
        preset.name
    );
    let first = *primes
        .first()
        .ok_or_else(|| InferError::InvalidInput("the planner chose no plaintext prime".into()))?;
    let rlwe = BfvParametersBuilder::preset(preset)
        .plaintext_modulus(first)
        .build()
        .map_err(|e| BackendError::Engine(Box::new(e)))?
        .rlwe()
        .clone();
    let n = 1usize << preset.log_n;
    // No rescaling: BFV needs no modulus switching for correctness.
    let mut p = plan(
        &net,
        SlotGeometry {
            rows: 2,
            row_len: n / 2,
        },
        Strategy::CryptoNets,
    )?;
    p.rescale = false;
    // SIMD plans rotate nothing: only the relinearization key is needed.
    let spec = KeySpec {
        rotation_steps: Vec::new(),
        row_swap: false,
        relinearization: net.layers.iter().any(|l| matches!(l, IntLayer::Square)),
    };
    let t0 = Instant::now();
    let b = BfvCrtBackend::generate(&rlwe, &primes, &spec)?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let (client, server) = (&b.encryptor, &b.evaluator);

    let g = SlotGeometry::of(client);
    let slots = g.slots();
    let (mut server_s, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let (mut up, mut down) = (0usize, 0usize);
    let (mut agree, mut correct) = (0usize, 0usize);
    let mut budget = u32::MAX;
    let mut per_batch = Vec::new();
    progress(Progress::Start {
        len: data.inputs.len().div_ceil(slots),
        what: "batches",
    });
    for (k, batch) in data.inputs.chunks(slots).enumerate() {
        per_batch.push(batch.len());
        // Client: one message per input feature, image `i` of the batch in slot `i`.
        let t0 = Instant::now();
        let seeded = p
            .input
            .encode_batch(batch, &g)?
            .iter()
            .map(|m| client.encrypt_seeded(&client.encode(m, client.max_level())?))
            .collect::<Result<Vec<_>, _>>()?;
        enc.push(t0.elapsed().as_secs_f64());
        up = seeded.iter().map(|s| client.seeded_bytes(s)).sum();
        // Server.
        let t0 = Instant::now();
        let cts = seeded
            .iter()
            .map(|s| server.expand_seeded(s))
            .collect::<Result<Vec<_>, _>>()?;
        drop(seeded);
        let x = EncryptedVector::new(p.input.clone(), cts, true)?;
        let out = execute(server, &net, &p, x, |_, _, _, _| {})?;
        server_s.push(t0.elapsed().as_secs_f64());
        down = out.cts.iter().map(|c| server.ciphertext_bytes(c)).sum();
        for c in &out.cts {
            budget = budget.min(client.noise_budget(c)?);
        }
        // Client.
        let t0 = Instant::now();
        let got = decrypt_batch(client, &out, batch.len())?;
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
            correct += usize::from(argmax(logits) == usize::from(data.labels[i]));
        }
        progress(Progress::Advance);
    }
    progress(Progress::Done);
    let images = data.inputs.len();
    let server_total_s: f64 = server_s.iter().sum();
    let batch = Spread::of(&server_s);
    Ok(SimdReport {
        net: o.net.clone(),
        trained_model: true,
        strategy: format!("{:?}", Strategy::CryptoNets),
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
        server_batch_min_s: batch.min,
        server_batch_max_s: batch.max,
        server_batch_median_s: batch.median,
        server_total_s,
        throughput_images_per_s: images as f64 / server_total_s,
        full_batch_throughput_images_per_s: slots as f64 / batch.median,
        client_encrypt_batch_median_s: median(&mut enc),
        client_decrypt_batch_median_s: median(&mut dec),
        bytes_up_per_batch: up,
        bytes_down_per_batch: down,
        eval_key_bytes: server.evaluation_key_bytes(),
        min_noise_budget_bits: if budget == u32::MAX { 0 } else { budget },
        estimated_noise_budget_bits: estimated_budget,
        peak_memory_mib: peak_memory_mib(),
        accuracy: Some(correct as f64 / images as f64),
        agreement: agree as f64 / images as f64,
    })
}
