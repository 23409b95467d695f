//! `henn`: machine learning on encrypted data. See the README for the commands.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod commands;

/// henn — neural networks on homomorphically encrypted data.
#[derive(Parser, Debug)]
#[command(name = "henn", version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info` or `henn=debug` (`RUST_LOG`, when set, takes precedence).
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
    /// Hybrid two-party inference (DELPHI): `henn 2pc serve` and `henn 2pc predict`.
    #[command(name = "2pc")]
    TwoPc(commands::twopc::TwoPcArgs),
    /// The whole private-prediction flow in one process on loopback, step by step.
    Demo(commands::demo::DemoArgs),
}

/// Runs the command; an error is printed as `error: ` and the context chain on one line (what
/// `{e:#}` prints, see [`one_line`]), never a `Debug` dump or a backtrace whatever
/// `RUST_BACKTRACE` says, and the exit status is 1.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = init_logging(&cli.log).and_then(|()| run(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by `": "` like `format!("{e:#}")`, but a cause whose message
/// already ends the line is not repeated (errors that print their source in their own message,
/// e.g. `"{path}: {source}"`, would otherwise show it twice).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if line.ends_with(&msg) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&msg);
    }
    line
}

/// Logs to stderr with the filter of `RUST_LOG` if set, else `--log`; ANSI colours only when
/// stderr is a terminal (so redirected logs and captured output stay plain text).
fn init_logging(log: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => tracing_subscriber::EnvFilter::try_new(&env)
            .with_context(|| format!("RUST_LOG={env:?} is not a valid log filter"))?,
        _ => tracing_subscriber::EnvFilter::try_new(log)
            .with_context(|| format!("--log {log:?} is not a valid log filter"))?,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
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
        Command::TwoPc(args) => commands::twopc::run(&args),
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
