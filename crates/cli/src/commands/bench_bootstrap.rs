//! `henn bench bootstrap`: CKKS bootstrapping at a named preset (default the 128-bit
//! logN = 16 set): key generation time, seeded key bytes, median bootstrap latency, levels
//! left, precision (mean and minimum bits over all slots), peak memory. The measurement is
//! `henn_he::ckks::bootstrapping::run_bootstrap_bench`; this command only parses and prints.

use anyhow::{bail, Result};
use clap::Args;
use henn_he::ckks::bootstrapping::{run_bootstrap_bench, BOOTSTRAP_PRESETS};

/// `henn bench bootstrap` arguments.
#[derive(Args, Debug)]
pub struct BootstrapBenchArgs {
    /// Bootstrapping preset (`BOOTSTRAP_128BIT_LOGN16`, or the insecure test set
    /// `BOOTSTRAP_LOGN10_INSECURE_TEST`).
    #[arg(long, default_value = "BOOTSTRAP_128BIT_LOGN16")]
    preset: String,
    /// Engine threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Bootstraps to time (median reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `henn bench bootstrap`.
pub fn run(args: BootstrapBenchArgs) -> Result<()> {
    let Some(preset) = BOOTSTRAP_PRESETS.iter().find(|p| p.name == args.preset) else {
        let names: Vec<&str> = BOOTSTRAP_PRESETS.iter().map(|p| p.name).collect();
        bail!(
            "unknown preset {} (known: {})",
            args.preset,
            names.join(", ")
        );
    };
    if args.threads == 0 || args.runs == 0 {
        bail!("--threads and --runs must be at least 1");
    }
    let r = run_bootstrap_bench(*preset, args.threads, args.runs)?;
    if args.json {
        println!("{}", r.to_json());
        return Ok(());
    }
    println!("preset              {}", r.preset);
    println!("log_n / slots       {} / {}", r.log_n, r.slots);
    println!("threads             {}", r.threads);
    println!("key generation      {:.2} s", r.keygen_s);
    println!("diagonal encoding   {:.2} s", r.setup_s);
    println!(
        "bootstrap (median)  {:.3} s over {} runs",
        r.bootstrap_s,
        r.bootstrap_runs_s.len()
    );
    println!(
        "levels left         {} (bits {:?})",
        r.levels_left, r.level_bits
    );
    println!(
        "precision           {:.2} bits mean, {:.2} bits min",
        r.precision_mean_bits, r.precision_min_bits
    );
    println!(
        "keys                {:.3} GB seeded ({} Galois keys); diagonals {:.3} GB",
        r.key_bytes as f64 / 1e9,
        r.galois_keys,
        r.diagonal_bytes as f64 / 1e9
    );
    match r.peak_memory_mib {
        Some(m) => println!("peak memory         {m:.0} MiB"),
        None => println!("peak memory         n/a"),
    }
    Ok(())
}
