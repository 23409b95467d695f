//! `henn`: machine learning on encrypted data. See the README for the commands.

use clap::{Parser, Subcommand};

mod commands;

/// henn — neural networks on homomorphically encrypted data.
#[derive(Parser, Debug)]
#[command(name = "henn", version, about, long_about = None)]
struct Cli {
    /// Log filter (also read from RUST_LOG), e.g. `info` or `henn=debug`.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the version, the CPU features henn's kernels can use, and the thread count.
    Info,
    /// Accuracy of a model in floats and quantized, and its intermediate value ranges.
    Eval(commands::eval::EvalArgs),
    /// Convert an ONNX model into a henn model directory.
    Import(commands::import::ImportArgs),
    /// Benchmarks (`henn bench ops`: HE operations beside SEAL and OpenFHE).
    Bench(commands::bench::BenchArgs),
    /// Train a LoLa MNIST network or the ReLU CNN with candle and save it as a model directory.
    Train(commands::train::TrainArgs),
    /// The compiled model's plan (LoLa Table 1): scheme, parameters, estimates and keys.
    Plan(commands::plan::PlanArgs),
    /// Compile a model once (scheme, parameters, plan) into the file `henn serve` loads.
    Compile(commands::compile::CompileArgs),
    /// Serve models for private prediction over HTTP (encrypted inputs, encrypted outputs).
    Serve(commands::serve::ServeArgs),
    /// Make secret and evaluation keys for a served model and upload the evaluation keys.
    Keygen(commands::keygen::KeygenArgs),
    /// Encrypt images, get encrypted predictions from a server, decrypt them.
    Predict(commands::predict::PredictArgs),
    /// The whole private-prediction flow in one process on loopback, step by step.
    Demo(commands::demo::DemoArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Eval(args) => commands::eval::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Train(args) => commands::train::run(&args),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Compile(args) => commands::compile::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Keygen(args) => commands::keygen::run(&args),
        Command::Predict(args) => commands::predict::run(&args),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Info => {
            println!("henn {}", env!("CARGO_PKG_VERSION"));
            println!(
                "threads available: {}",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            );
            #[cfg(target_arch = "x86_64")]
            println!(
                "cpu features: avx2={} avx512f={} avx512ifma={}",
                std::arch::is_x86_feature_detected!("avx2"),
                std::arch::is_x86_feature_detected!("avx512f"),
                std::arch::is_x86_feature_detected!("avx512ifma")
            );
            Ok(())
        }
    }
}
