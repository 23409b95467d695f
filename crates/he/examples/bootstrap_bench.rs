//! Bootstrapping benchmark at a named preset (default the 128-bit logN = 16 set):
//! `cargo run --release -p henn-he --example bootstrap_bench -- [preset] [threads] [runs]`.
//! Prints one JSON line (see `ckks::bootstrapping::bench`).

use henn_he::ckks::bootstrapping::{run_bootstrap_bench, BOOTSTRAP_PRESETS};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .get(1)
        .map_or("BOOTSTRAP_128BIT_LOGN16", String::as_str);
    let threads = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let runs = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let Some(preset) = BOOTSTRAP_PRESETS.iter().find(|p| p.name == name) else {
        eprintln!("unknown preset {name}");
        std::process::exit(2);
    };
    match run_bootstrap_bench(*preset, threads, runs) {
        Ok(report) => println!("{}", report.to_json()),
        Err(e) => {
            eprintln!("bootstrap bench failed: {e}");
            std::process::exit(1);
        }
    }
}
