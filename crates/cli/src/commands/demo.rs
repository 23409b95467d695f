//! `henn demo`: the whole private-prediction flow on one machine — a server started in this
//! process on loopback (ephemeral port, temporary key store), a client that makes keys,
//! uploads the evaluation keys and predicts a handful of MNIST test images — printing each
//! step's time and bytes and whether every decrypted prediction equals the plaintext model's:
//! the quantized model's logits exactly (BFV), or the float model's class (CKKS). The model is
//! compiled with the compiler's automatic choice unless `--scheme` forces one.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use henn_infer::session::{argmax, SchemeParameters};
use henn_nn::data::{load_mnist, Split};
use henn_serve::server::{load_models, start_with_models};
use henn_serve::{Client, ClientKeys, ServerConfig};
use serde::Serialize;

/// `henn demo` arguments.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Model to serve (a directory in --models).
    #[arg(long, default_value = "lola-small")]
    model: String,
    /// Directory of model directories.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// MNIST IDX directory (calibration and test images).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Number of MNIST test images to predict.
    #[arg(long, default_value_t = 5)]
    images: usize,
    /// Calibration images (training set) sizing the parameters.
    #[arg(long, default_value_t = 1000)]
    calibration: usize,
    /// Scheme (`auto`: the compiler's choice by measured latency).
    #[arg(long, value_enum, default_value = "auto")]
    scheme: super::bench_lola::Scheme,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ImageReport {
    index: usize,
    label: u8,
    class: usize,
    plaintext_class: usize,
    /// BFV: logits equal the quantized model's exactly; CKKS: class equals the float model's.
    matches_plaintext: bool,
    encrypt_s: f64,
    round_trip_s: f64,
    server_eval_s: f64,
    decrypt_s: f64,
    bytes_up: usize,
    bytes_down: usize,
}

#[derive(Serialize)]
struct DemoReport {
    model: String,
    server_start_s: f64,
    scheme: &'static str,
    strategy: String,
    log_n: u32,
    plan_s: f64,
    keygen_s: f64,
    eval_key_bytes: usize,
    upload_s: f64,
    images: Vec<ImageReport>,
    all_match: bool,
}

/// Runs `henn demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    if args.images == 0 {
        bail!("--images must be at least 1");
    }
    let store = tempfile::tempdir().context("creating a temporary key store directory")?;
    let mut config = ServerConfig::new(&args.models, store.path().join("keys.redb"));
    config.models = vec![args.model.clone()];
    config.calibration_data = args.data.clone();
    config.calibration_images = args.calibration;
    config.compile_options.scheme = args.scheme.choice();
    let say = |s: String| {
        if !args.json {
            println!("{s}");
        }
    };

    let t0 = Instant::now();
    let models = load_models(&config).context("loading the model")?;
    let model = models
        .get(&args.model)
        .cloned()
        .context("model not loaded")?;
    let server = start_with_models(config, models)?;
    let server_start_s = t0.elapsed().as_secs_f64();
    let params = match &model.public().parameters {
        SchemeParameters::Bfv {
            plaintext_primes, ..
        } => format!("plaintext primes {plaintext_primes:?}"),
        SchemeParameters::Ckks { log_scale, .. } => format!("scale 2^{log_scale}"),
    };
    say(format!(
        "server  {} serving {} ({} n = {}, {}, {params}) started in {server_start_s:.2} s",
        server.url(),
        args.model,
        model.public().parameters.name().to_uppercase(),
        1u64 << model.public().parameters.log_n(),
        model.public().strategy,
    ));

    let client = Client::new(&server.url(), Duration::from_secs(600));
    let t0 = Instant::now();
    let plan = client.public_model(&args.model)?;
    let plan_s = t0.elapsed().as_secs_f64();
    say(format!(
        "client  fetched the public model in {plan_s:.3} s: {} rotation keys, {} input ciphertexts",
        plan.keys.rotation_steps.len() + usize::from(plan.keys.row_swap),
        plan.input.placements.len()
    ));
    let t0 = Instant::now();
    let (mut keys, upload) = ClientKeys::generate(&server.url(), plan.clone())?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let receipt = client.upload_keys(&upload)?;
    let upload_s = t0.elapsed().as_secs_f64();
    keys.set_receipt(&receipt);
    say(format!(
        "client  made secret + evaluation keys in {keygen_s:.2} s (secret key stays here); uploaded {:.1} MB in {upload_s:.2} s -> key {} (id and access token kept by the client)",
        upload.len() as f64 / 1e6,
        henn_serve::store::key_tag(&receipt.key_id)
    ));

    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    let len: usize = test.shape.iter().product();
    let count = args.images.min(test.labels.len());
    let mut images = Vec::with_capacity(count);
    for i in 0..count {
        let x = &test.images[i * len..(i + 1) * len];
        let p = keys.predict(&client, x)?;
        let reference = model.compiled.reference_logits(x)?;
        let matches_plaintext = match model.compiled.reference_integer_logits(x)? {
            Some(exact) => p.integer_logits.as_ref() == Some(&exact),
            None => p.class == argmax(&reference),
        };
        let r = ImageReport {
            index: i,
            label: test.labels[i],
            class: p.class,
            plaintext_class: argmax(&reference),
            matches_plaintext,
            encrypt_s: p.encrypt_s,
            round_trip_s: p.round_trip_s,
            server_eval_s: p.server.eval_s,
            decrypt_s: p.decrypt_s,
            bytes_up: p.bytes_up,
            bytes_down: p.bytes_down,
        };
        say(format!(
            "image {i}: label {} -> class {} ({}) | encrypt {:.3} s, {:.2} MB up | server {:.3} s (round trip {:.3} s) | {:.2} MB down, decrypt {:.3} s",
            r.label,
            r.class,
            match (matches_plaintext, p.integer_logits.is_some()) {
                (true, true) => "logits equal the quantized model's exactly",
                (true, false) => "the float model's class",
                (false, _) => "DIFFERS from the plaintext model",
            },
            r.encrypt_s,
            r.bytes_up as f64 / 1e6,
            r.server_eval_s,
            r.round_trip_s,
            r.bytes_down as f64 / 1e6,
            r.decrypt_s
        ));
        images.push(r);
    }
    server.shutdown()?;
    let all_match = images.iter().all(|r| r.matches_plaintext);
    let report = DemoReport {
        model: args.model.clone(),
        server_start_s,
        scheme: plan.parameters.name(),
        strategy: plan.strategy.clone(),
        log_n: plan.parameters.log_n(),
        plan_s,
        keygen_s,
        eval_key_bytes: upload.len(),
        upload_s,
        images,
        all_match,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} of {} encrypted predictions equal the plaintext model's",
            report.images.iter().filter(|r| r.matches_plaintext).count(),
            report.images.len()
        );
    }
    if !all_match {
        bail!("some decrypted predictions differ from the plaintext model");
    }
    Ok(())
}
