//! `henn keygen`: fetches a model's public model, makes the secret key and the evaluation keys
//! locally, uploads the evaluation keys and saves the key id and its access token. Both files
//! are created with mode 0600; the secret key never leaves the machine, and the key id and
//! token are not printed (only a short hash of the id).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
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
    /// Directory for the keys (created; `secret.key` and `session.json`). An existing secret
    /// key there is never replaced unless `--force` is given.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing secret key in `--out` (the keys it made become useless).
    #[arg(long)]
    force: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// PEM file of the certificate(s) an `https://` server's certificate must chain to (e.g.
    /// the server's self-signed certificate); default: the web PKI roots.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

#[derive(Serialize)]
struct KeygenReport {
    model: String,
    /// A short hash of the key id (the id and token are credentials: only in session.json).
    key_tag: String,
    keygen_s: f64,
    upload_s: f64,
    eval_key_bytes: usize,
    expires: u64,
    out: String,
}

/// File name of the secret key in a key directory (written by `henn_serve::ClientKeys::save`).
const SECRET_KEY_FILE: &str = "secret.key";

/// Refuses to go on when `out` already holds a secret key and `force` is off — before any
/// network access, so a mistyped `--out` costs nothing.
fn check_out_dir(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!("--out {} exists and is not a directory", out.display());
    }
    let sk = out.join(SECRET_KEY_FILE);
    let exists = sk
        .try_exists()
        .with_context(|| format!("checking {}", sk.display()))?;
    if exists && !force {
        bail!(
            "{} already exists: refusing to overwrite a secret key (pass --force to replace \
             it, or choose another --out)",
            sk.display()
        );
    }
    Ok(())
}

/// Runs `henn keygen`.
pub fn run(args: &KeygenArgs) -> Result<()> {
    check_out_dir(&args.out, args.force)?;
    let client = Client::with_ca_cert(
        &args.server,
        Duration::from_secs(600),
        args.ca_cert.as_deref(),
    )?;
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
    keys.set_receipt(&receipt);
    keys.save(&args.out)
        .with_context(|| format!("saving keys to {}", args.out.display()))?;
    let report = KeygenReport {
        model: args.model.clone(),
        key_tag: henn_serve::store::key_tag(&receipt.key_id),
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
            "key {} for {} ({:.1} MB evaluation keys; keygen {:.2} s, upload {:.2} s); saved in {}",
            report.key_tag,
            report.model,
            report.eval_key_bytes as f64 / 1e6,
            keygen_s,
            upload_s,
            report.out
        );
    }
    Ok(())
}
