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
    /// Request time limit in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Time to live of uploaded keys, hours.
    #[arg(long, default_value_t = 168)]
    pub key_ttl_hours: u64,
    /// Most key sets stored.
    #[arg(long, default_value_t = 64)]
    pub max_keys: usize,
    /// Most bytes of keys stored, MiB.
    #[arg(long, default_value_t = 2048)]
    pub max_store_mib: u64,
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
            max_total_bytes: self.max_store_mib << 20,
            ttl: Duration::from_secs(self.key_ttl_hours * 3600),
        };
        c.request_timeout = Duration::from_secs(self.timeout);
        c.workers = self.workers;
        c.queue_capacity = self.queue;
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
