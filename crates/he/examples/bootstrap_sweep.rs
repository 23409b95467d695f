//! Precision sweep of the logN16 chain at a smaller (insecure) ring, for choosing the
//! message ratio and the EvalMod polynomial:
//! `cargo run --release -p henn-he --example bootstrap_sweep -- <log_n> <ratio> [degree] [runs]
//! [threads]` (`log_n = 16`, ratio 8, degree 30 is `BOOTSTRAP_128BIT_LOGN16` without the
//! security check).
//! Prints one JSON line per run (see `ckks::bootstrapping::bench`).

use henn_he::ckks::bootstrapping::{
    run_bootstrap_bench, BootstrappingPreset, BOOTSTRAP_128BIT_LOGN16,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let preset = BootstrappingPreset {
        name: "SWEEP_INSECURE",
        log_n: arg(1, 14) as u32,
        log_message_ratio: arg(2, 10) as u32,
        sine_degree: arg(3, BOOTSTRAP_128BIT_LOGN16.sine_degree),
        secure: false,
        ..BOOTSTRAP_128BIT_LOGN16
    };
    match run_bootstrap_bench(preset, arg(5, 1), arg(4, 2)) {
        Ok(report) => println!("{}", report.to_json()),
        Err(e) => {
            eprintln!("bootstrap sweep failed: {e}");
            std::process::exit(1);
        }
    }
}
