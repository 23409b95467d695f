//! `henn serve`: the private prediction service (LoLa's setting: encrypted inputs in,
//! encrypted predictions out) over HTTP; see `henn_serve::server` for the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use henn_serve::store::StoreLimits;
use henn_serve::ServerConfig;

use super::compile::CompileFlags;

/// `henn serve` arguments.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory of model directories.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Serve only these models (repeatable); default: every model directory that compiles.
    /// A model with a `compiled.henn` (from `henn compile`) starts without re-planning; the
    /// others are compiled at start with the flags below.
    #[arg(long = "model")]
    pub model: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Key store file (created if missing).
    #[arg(long, default_value = "henn-keys.redb")]
    pub store: PathBuf,
    #[command(flatten)]
    pub compile: CompileFlags,
    /// Evaluation worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Evaluation jobs that may wait (beyond those running); more are answered 503.
    #[arg(long, default_value_t = 16)]
    pub queue: usize,
    /// Time limit of a prediction's queue wait and evaluation, seconds (504 past it).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Time limit for receiving a request body, seconds (408 past it).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Time limit for receiving a request's headers, seconds (the connection is closed past
    /// it: half-open, slow and idle connections).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Most open connections (more are closed at once).
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Most API requests in flight per client address (429 beyond).
    #[arg(long, default_value_t = 8)]
    pub max_requests_per_client: usize,
    /// Most key uploads received at once (503 beyond).
    #[arg(long, default_value_t = 2)]
    pub max_uploads: usize,
    /// Seconds graceful shutdown waits for running requests before closing every connection.
    #[arg(long, default_value_t = 3)]
    pub shutdown_grace: u64,
    /// Time to live of uploaded keys, hours (at least 1).
    #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..))]
    pub key_ttl_hours: u64,
    /// Most key sets stored.
    #[arg(long, default_value_t = 64)]
    pub max_keys: usize,
    /// Most key sets stored per client address.
    #[arg(long, default_value_t = 8)]
    pub max_keys_per_client: usize,
    /// Most bytes of live keys stored, MiB.
    #[arg(long, default_value_t = 2048)]
    pub max_store_mib: u64,
    /// Largest size of the key store file on disk, MiB (redb's free pages included; it never
    /// grows past it). Default: twice --max-store-mib.
    #[arg(long)]
    pub max_store_file_mib: Option<u64>,
    /// Server sessions (deserialized keys) kept in memory. Default: sized by available
    /// memory (a quarter of it, over twice the model's key size; 1 to 64).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub backend_cache: Option<u64>,
    /// Serve HTTPS (rustls): PEM certificate chain, leaf first (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServeArgs {
    /// The server configuration these arguments describe.
    pub fn config(&self) -> ServerConfig {
        let mut c = ServerConfig::new(&self.models, &self.store);
        c.models = self.model.clone();
        c.addr = self.addr;
        c.calibration_data = self.compile.data.clone();
        c.calibration_images = self.compile.calibration;
        c.compile_options = self.compile.options();
        c.store_limits = StoreLimits {
            max_keys: self.max_keys,
            max_keys_per_client: self.max_keys_per_client,
            max_total_bytes: self.max_store_mib << 20,
            max_file_bytes: self.max_store_file_mib.unwrap_or(2 * self.max_store_mib) << 20,
            ttl: Duration::from_secs(self.key_ttl_hours.saturating_mul(3600)),
        };
        c.request_timeout = Duration::from_secs(self.timeout);
        c.body_timeout = Duration::from_secs(self.body_timeout);
        c.header_timeout = Duration::from_secs(self.header_timeout);
        c.max_connections = self.max_connections;
        c.max_requests_per_client = self.max_requests_per_client;
        c.max_concurrent_uploads = self.max_uploads;
        c.shutdown_grace = Duration::from_secs(self.shutdown_grace);
        c.backend_cache = self.backend_cache.map(|n| n as usize);
        c.workers = self.workers;
        c.queue_capacity = self.queue;
        c.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(henn_serve::server::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        c
    }
}

/// Runs `henn serve` until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    let mut config = args.config();
    config.stop_on_signal = true;
    let server = henn_serve::start(config).context("starting the server")?;
    eprintln!("henn serve: listening on {} (Ctrl-C stops)", server.url());
    server.wait()?;
    Ok(())
}
