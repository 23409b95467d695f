//! `henn keygen`: fetches a model's public model, makes the secret key and the evaluation keys
//! locally, uploads the evaluation keys and saves the key id. The secret key file is created
//! with mode 0600 and never leaves the machine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use henn_serve::{Client, ClientKeys};
use serde::Serialize;

/// `henn keygen` arguments.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Model name.
    #[arg(long, default_value = "lola-small")]
    model: String,
    /// Directory for the keys (created; `secret.key` and `session.json`).
    #[arg(long)]
    out: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct KeygenReport {
    model: String,
    key_id: String,
    keygen_s: f64,
    upload_s: f64,
    eval_key_bytes: usize,
    expires: u64,
    out: String,
}

/// Runs `henn keygen`.
pub fn run(args: &KeygenArgs) -> Result<()> {
    let client = Client::new(&args.server, Duration::from_secs(600));
    let plan = client.public_model(&args.model).with_context(|| {
        format!(
            "fetching the public model of {} from {}",
            args.model, args.server
        )
    })?;
    let t0 = Instant::now();
    let (mut keys, upload) = ClientKeys::generate(client.base_url(), plan)?;
    let keygen_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let receipt = client
        .upload_keys(&upload)
        .context("uploading evaluation keys")?;
    let upload_s = t0.elapsed().as_secs_f64();
    keys.file.key_id = receipt.key_id.clone();
    keys.save(&args.out)?;
    let report = KeygenReport {
        model: args.model.clone(),
        key_id: receipt.key_id,
        keygen_s,
        upload_s,
        eval_key_bytes: upload.len(),
        expires: receipt.expires,
        out: args.out.display().to_string(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "key id {} for {} ({:.1} MB evaluation keys; keygen {:.2} s, upload {:.2} s); saved in {}",
            report.key_id,
            report.model,
            report.eval_key_bytes as f64 / 1e6,
            keygen_s,
            upload_s,
            report.out
        );
    }
    Ok(())
}
