//! `henn bench lola` for LoLa's single-image strategies (`lola`, `lola-bsgs`, `lola-dense`) on
//! either scheme: a thin timing loop over the sessions. The model is compiled once
//! ([`henn_infer::session::compile`]: calibration on `--calibration` training images, scheme
//! and strategy by measured latency unless forced), a [`ClientSession`] makes keys, encrypts
//! and decrypts, a [`ServerSession`] evaluates; the first image prepares the server's
//! plaintexts (timed apart), then every image is timed. BFV answers must equal the quantized
//! model's logits exactly; CKKS answers are compared with the float model (class agreement,
//! largest logit error relative to the largest logit).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use henn_infer::session::{
    compile, Calibration, ClientSession, CompileOptions, SchemeParameters, ServerSession,
};
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{argmax, Model};
use henn_nn::quant::QuantConfig;
use serde::Serialize;

use super::{bar, median, peak_memory_mib, LolaArgs, LolaStrategy, SimdReport};

/// The report of a session benchmark.
#[derive(Serialize, Debug)]
pub struct SessionReport {
    net: String,
    scheme: &'static str,
    strategy: String,
    log_n: u32,
    log_qp: u32,
    q_bits: Vec<u32>,
    p_bits: Vec<u32>,
    plaintext_primes: Vec<u64>,
    log_scale: Option<u32>,
    output_level: usize,
    images: usize,
    threads: usize,
    compile_s: f64,
    estimated_ms: f64,
    keygen_s: f64,
    prepare_s: f64,
    server_median_s: f64,
    server_min_s: f64,
    server_max_s: f64,
    step_median_s: Vec<(String, f64)>,
    client_encrypt_median_s: f64,
    client_decrypt_median_s: f64,
    bytes_up: usize,
    bytes_down: usize,
    eval_key_bytes: usize,
    rotation_keys: usize,
    peak_memory_mib: f64,
    accuracy: f64,
    float_accuracy: f64,
    /// BFV: images whose decrypted logits equal the quantized model's exactly; CKKS: images
    /// whose class equals the float model's.
    agreement: f64,
    max_relative_logit_error: f64,
    /// CryptoNets (BFV) on the same images in the same run (`--baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cryptonets_baseline: Option<SimdReport>,
    /// CryptoNets batch latency / this run's per-image median (`--baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ratio_cryptonets_over_this: Option<f64>,
}

impl SessionReport {
    /// The per-image server median, seconds.
    pub fn server_median(&self) -> f64 {
        self.server_median_s
    }
}

fn bits(moduli: &[u64]) -> Vec<u32> {
    moduli.iter().map(|m| 64 - m.leading_zeros()).collect()
}

/// Runs the benchmark (see the module docs).
pub fn run(args: &LolaArgs) -> Result<SessionReport> {
    let dir = args.models.join(args.net.name());
    let model = Model::load(&dir).with_context(|| format!("loading {}", dir.display()))?;
    let train = load_mnist(&args.data, Split::Train)
        .with_context(|| format!("loading MNIST training images from {}", args.data.display()))?;
    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST test images from {}", args.data.display()))?;
    let len: usize = test.shape.iter().product();
    if test.labels.len() < args.images {
        bail!(
            "the test set has {} images, {} asked for",
            test.labels.len(),
            args.images
        );
    }
    if args.calibration == 0 {
        bail!("--calibration must be at least 1");
    }
    let calibration = Calibration::from_flat(&train.images, len, args.calibration)?;
    let options = CompileOptions {
        scheme: args.scheme.choice(),
        strategies: (args.strategy != LolaStrategy::Auto).then(|| vec![args.strategy.strategy()]),
        quant: QuantConfig {
            input_bits: args.input_bits,
            weight_bits: args.weight_bits,
            ..QuantConfig::default()
        },
        margin_bits: args.margin_bits,
        circuit_privacy: !args.no_circuit_privacy,
        ..CompileOptions::default()
    };
    if args.log_n.is_some() || args.max_prime_bits.is_some() {
        bail!("--log-n and --max-prime-bits apply to --strategy cryptonets only; other runs use the compiler's parameters");
    }
    let t0 = Instant::now();
    let compiled = Arc::new(compile(&model, args.net.name(), &calibration, &options)?);
    let compile_s = t0.elapsed().as_secs_f64();
    let public = compiled.public().clone();
    tracing::info!(
        "compiled {}: {} n = 2^{}, {}, {} rotation keys, estimated {:.1} ms",
        public.model,
        public.parameters.name(),
        public.parameters.log_n(),
        public.strategy,
        public.keys.rotation_steps.len(),
        public.estimated_ms
    );

    let t0 = Instant::now();
    let client = ClientSession::new(public.clone())?;
    let key_bytes = client.evaluation_key_bytes()?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let server = ServerSession::from_key_bytes(compiled.clone(), &key_bytes)?;
    let image = |i: usize| &test.images[i * len..(i + 1) * len];

    // The first run records the prepared plaintexts.
    let t0 = Instant::now();
    server.run_bytes(&client.encrypt_bytes(image(0))?)?;
    let prepare_s = t0.elapsed().as_secs_f64();

    let steps = compiled.plan().steps.len();
    let (mut server_s, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let mut step_times: Vec<Vec<f64>> = vec![Vec::new(); steps];
    let (mut up, mut down) = (0, 0);
    let (mut agree, mut correct, mut float_correct) = (0usize, 0usize, 0usize);
    let mut max_err = 0.0f64;
    let ctx = compiled.context();
    let pb = bar(args.images, "encrypted");
    for i in 0..args.images {
        let x = image(i);
        let t0 = Instant::now();
        let input = client.encrypt(x)?;
        let up_bytes = input.to_bytes(ctx)?;
        enc.push(t0.elapsed().as_secs_f64());
        up = up_bytes.len();
        let t0 = Instant::now();
        let received = henn_infer::session::EncryptedInput::from_bytes(ctx, &public, &up_bytes)?;
        let mut last = Instant::now();
        let out = server.run_with(&received, |j, _| {
            let now = Instant::now();
            step_times[j].push((now - last).as_secs_f64());
            last = now;
        })?;
        let down_bytes = out.to_bytes(ctx)?;
        server_s.push(t0.elapsed().as_secs_f64());
        down = down_bytes.len();
        let t0 = Instant::now();
        let p = client.decrypt_bytes(&down_bytes)?;
        dec.push(t0.elapsed().as_secs_f64());
        let float = model.forward(x)?;
        let label = usize::from(test.labels[i]);
        correct += usize::from(p.class == label);
        float_correct += usize::from(argmax(&float) == label);
        match compiled.reference_integer_logits(x)? {
            Some(want) => {
                if p.integer_logits.as_ref() == Some(&want) {
                    agree += 1;
                } else {
                    tracing::error!("image {i}: decrypted logits differ from the quantized model");
                }
            }
            None => {
                if p.class == argmax(&float) {
                    agree += 1;
                } else {
                    tracing::warn!(
                        "image {i}: encrypted class {}, float class {}",
                        p.class,
                        argmax(&float)
                    );
                }
            }
        }
        let want = compiled.reference_logits(x)?;
        let largest = want.iter().fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
        let err = p
            .logits
            .iter()
            .zip(&want)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        max_err = max_err.max(err / largest);
        pb.inc(1);
    }
    pb.finish_and_clear();

    let (q, p, primes, log_scale) = match &public.parameters {
        SchemeParameters::Bfv {
            q,
            p,
            plaintext_primes,
            ..
        } => (q, p, plaintext_primes.clone(), None),
        SchemeParameters::Ckks {
            q, p, log_scale, ..
        } => (q, p, Vec::new(), Some(*log_scale)),
    };
    let (q_bits, p_bits) = (bits(q), bits(p));
    let n = args.images as f64;
    Ok(SessionReport {
        net: args.net.name().into(),
        scheme: public.parameters.name(),
        strategy: public.strategy.clone(),
        log_n: public.parameters.log_n(),
        log_qp: q_bits.iter().chain(&p_bits).sum(),
        q_bits,
        p_bits,
        plaintext_primes: primes,
        log_scale,
        output_level: public.parameters.output_level(),
        images: args.images,
        threads: rayon::current_num_threads(),
        compile_s,
        estimated_ms: public.estimated_ms,
        keygen_s,
        prepare_s,
        server_median_s: median(&mut server_s.clone()),
        server_min_s: server_s.iter().copied().fold(f64::INFINITY, f64::min),
        server_max_s: server_s.iter().copied().fold(0.0, f64::max),
        step_median_s: compiled
            .plan()
            .steps
            .iter()
            .zip(step_times.iter_mut())
            .map(|(s, t)| (s.describe(), median(t)))
            .collect(),
        client_encrypt_median_s: median(&mut enc),
        client_decrypt_median_s: median(&mut dec),
        bytes_up: up,
        bytes_down: down,
        eval_key_bytes: key_bytes.len(),
        rotation_keys: public.keys.rotation_steps.len(),
        peak_memory_mib: peak_memory_mib(),
        accuracy: correct as f64 / n,
        float_accuracy: float_correct as f64 / n,
        agreement: agree as f64 / n,
        max_relative_logit_error: max_err,
        cryptonets_baseline: None,
        latency_ratio_cryptonets_over_this: None,
    })
}

/// Fails when a BFV answer differed from the quantized model (an engine or plan bug).
pub fn check(report: &SessionReport) -> Result<()> {
    if report.scheme == "bfv" && report.agreement < 1.0 {
        bail!(
            "decrypted logits differ from the quantized model on {:.0} of {} images",
            (1.0 - report.agreement) * report.images as f64,
            report.images
        );
    }
    Ok(())
}
