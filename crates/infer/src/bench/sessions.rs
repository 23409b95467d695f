//! LoLa's single-image strategies (`lola`, `lola-bsgs`, `lola-dense`) on either scheme: a
//! timing loop over the sessions. The model is compiled once ([`crate::session::compile`]:
//! calibration on `calibration` training images, scheme and strategy by measured latency
//! unless forced), a [`ClientSession`] makes keys, encrypts and decrypts, a [`ServerSession`]
//! evaluates; the first image prepares the server's plaintexts (timed apart), then every image
//! is timed through the wire formats. BFV answers must equal the quantized model's logits
//! exactly; CKKS answers are compared with the float model (class agreement, largest logit
//! error relative to the largest logit).

use std::sync::Arc;
use std::time::Instant;

use henn_nn::data::Split;
use henn_nn::model::argmax;
use serde::Serialize;

use super::cryptonets::SimdReport;
use super::{
    load_mnist, load_model, median, peak_memory_mib, relative_error, step_medians, LolaOptions,
    Progress, Spread,
};
use crate::error::{InferError, InferResult};
use crate::session::{
    compile, Calibration, ClientSession, CompileOptions, EncryptedInput, SchemeParameters,
    ServerSession,
};

/// The report of a session benchmark (fields as printed by `henn bench lola`).
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
    /// CryptoNets (BFV) on the same images in the same run (`baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    cryptonets_baseline: Option<SimdReport>,
    /// CryptoNets batch latency / this run's per-image median (`baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ratio_cryptonets_over_this: Option<f64>,
}

impl SessionReport {
    /// The per-image server median, seconds.
    pub fn server_median(&self) -> f64 {
        self.server_median_s
    }

    /// Adds the CryptoNets baseline of the same images and the latency ratio.
    pub fn set_baseline(&mut self, base: SimdReport) {
        self.latency_ratio_cryptonets_over_this =
            Some(base.server_batch_median() / self.server_median_s);
        self.cryptonets_baseline = Some(base);
    }

    /// Fails when a BFV answer differed from the quantized model (an engine or plan bug).
    pub fn check(&self) -> InferResult<()> {
        if self.scheme == "bfv" && self.agreement < 1.0 {
            return Err(InferError::InvalidInput(format!(
                "decrypted logits differ from the quantized model on {:.0} of {} images",
                (1.0 - self.agreement) * self.images as f64,
                self.images
            )));
        }
        Ok(())
    }
}

fn bits(moduli: &[u64]) -> Vec<u32> {
    moduli.iter().map(|m| 64 - m.leading_zeros()).collect()
}

/// Runs the benchmark (see the module docs).
pub fn run(o: &LolaOptions, progress: &mut dyn FnMut(Progress)) -> InferResult<SessionReport> {
    let model = load_model(o)?;
    let train = load_mnist(o, Split::Train)?;
    let test = load_mnist(o, Split::Test)?;
    let len: usize = test.shape.iter().product();
    if test.labels.len() < o.images {
        return Err(InferError::InvalidInput(format!(
            "the test set has {} images, {} asked for",
            test.labels.len(),
            o.images
        )));
    }
    if o.calibration == 0 {
        return Err(InferError::InvalidInput(
            "--calibration must be at least 1".into(),
        ));
    }
    if o.log_n.is_some() || o.max_prime_bits.is_some() {
        return Err(InferError::InvalidInput(
            "--log-n and --max-prime-bits apply to --strategy cryptonets only; other runs use \
             the compiler's parameters"
                .into(),
        ));
    }
    let calibration = Calibration::from_flat(&train.images, len, o.calibration)?;
    let options = CompileOptions {
        scheme: o.scheme,
        strategies: o.strategy.map(|s| vec![s]),
        quant: o.quant.clone(),
        margin_bits: o.margin_bits,
        circuit_privacy: o.circuit_privacy,
        ..CompileOptions::default()
    };
    let t0 = Instant::now();
    let compiled = Arc::new(compile(&model, &o.net, &calibration, &options)?);
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
    progress(Progress::Start {
        len: o.images,
        what: "encrypted",
    });
    for i in 0..o.images {
        let x = image(i);
        let t0 = Instant::now();
        let up_bytes = client.encrypt(x)?.to_bytes(ctx)?;
        enc.push(t0.elapsed().as_secs_f64());
        up = up_bytes.len();
        let t0 = Instant::now();
        let received = EncryptedInput::from_bytes(ctx, &public, &up_bytes)?;
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
        let float = model
            .forward(x)
            .map_err(|e| InferError::InvalidModel(e.to_string()))?;
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
        max_err = max_err.max(relative_error(&p.logits, &compiled.reference_logits(x)?));
        progress(Progress::Advance);
    }
    progress(Progress::Done);

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
    let n = o.images as f64;
    let server = Spread::of(&server_s);
    Ok(SessionReport {
        net: o.net.clone(),
        scheme: public.parameters.name(),
        strategy: public.strategy.clone(),
        log_n: public.parameters.log_n(),
        log_qp: q_bits.iter().chain(&p_bits).sum(),
        q_bits,
        p_bits,
        plaintext_primes: primes,
        log_scale,
        output_level: public.parameters.output_level(),
        images: o.images,
        threads: rayon::current_num_threads(),
        compile_s,
        estimated_ms: public.estimated_ms,
        keygen_s,
        prepare_s,
        server_median_s: server.median,
        server_min_s: server.min,
        server_max_s: server.max,
        step_median_s: step_medians(&compiled.plan().steps, &mut step_times),
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
