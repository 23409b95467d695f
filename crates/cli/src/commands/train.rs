//! `henn train`: trains one of the LoLa MNIST networks (section 4.3 of Brutzkus et al., ICML
//! 2019) or the small ReLU CNN with candle on the CPU, reproducibly from a seed, and saves it in
//! henn's model format (`model.json` + `weights.safetensors`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::Model;
use henn_nn::train::{train, Arch, EpochReport, Progress, TrainConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Arguments of `henn train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Architecture: lola-mnist, lola-small, relu-cnn or lola-cifar10.
    #[arg(long)]
    pub arch: Arch,
    /// MNIST-format IDX directory (train-* and t10k-* files, raw or .gz).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Output model directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Passes over the training set (default: the architecture's).
    #[arg(long, value_parser = at_least_one)]
    pub epochs: Option<usize>,
    /// Seed of initialisation, shuffling and augmentation (default: the architecture's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train on only the first N training images (for quick experiments).
    #[arg(long, value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Save the untrained network (weights uniform in ±1/sqrt(fan_in) from `--seed`, as
    /// training starts) without reading data: weights of realistic size and distribution for
    /// latency and memory measurements (lola-cifar10: CIFAR-10 is not available here).
    #[arg(long, conflicts_with_all = ["data", "epochs", "limit"])]
    pub init_only: bool,
}

/// Parses a count that must be at least 1 (`--epochs 0` or `--limit 0` would save an untrained
/// network as if it were trained).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The report of `henn train --init-only`.
#[derive(Serialize, Debug)]
struct InitReport {
    arch: String,
    out: String,
    seed: u64,
    parameters: usize,
    /// Always `false`: the weights are the initialisation, no training happened.
    trained: bool,
}

/// The report of `henn train`.
#[derive(Serialize, Debug)]
struct TrainReport {
    arch: String,
    out: String,
    seed: u64,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    max_shift: usize,
    parameters: usize,
    train_examples: usize,
    test_examples: usize,
    /// Float test accuracy from candle's forward pass.
    test_accuracy: f64,
    /// Float test accuracy of the saved model, reloaded, with henn's plaintext inference.
    saved_model_test_accuracy: f64,
    seconds: f64,
    per_epoch: Vec<EpochJson>,
}

#[derive(Serialize, Debug)]
struct EpochJson {
    epoch: usize,
    loss: f64,
    train_accuracy: f64,
    test_accuracy: f64,
    learning_rate: f64,
    seconds: f64,
}

impl From<&EpochReport> for EpochJson {
    fn from(r: &EpochReport) -> Self {
        EpochJson {
            epoch: r.epoch,
            loss: r.loss,
            train_accuracy: r.train_accuracy,
            test_accuracy: r.test_accuracy,
            learning_rate: r.learning_rate,
            seconds: r.seconds,
        }
    }
}

/// Runs `henn train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let mut config = TrainConfig::for_arch(args.arch);
    if let Some(e) = args.epochs {
        config.epochs = e;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if args.init_only {
        let model = henn_nn::train::initial_model(args.arch, config.seed)?;
        model
            .save(&args.out)
            .with_context(|| format!("saving model to {}", args.out.display()))?;
        let report = InitReport {
            arch: args.arch.to_string(),
            out: args.out.display().to_string(),
            seed: config.seed,
            parameters: model
                .layers
                .iter()
                .flat_map(|l| l.tensors())
                .map(|(_, t)| t.len())
                .sum(),
            trained: false,
        };
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!(
                "untrained {} (seed {}, {} parameters) saved to {}",
                report.arch, report.seed, report.parameters, report.out
            );
        }
        return Ok(());
    }
    let mut train_set = load_mnist(&args.data, Split::Train)
        .with_context(|| format!("loading training set from {}", args.data.display()))?;
    if let Some(n) = args.limit {
        train_set = train_set.take(n);
    }
    let test_set = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading test set from {}", args.data.display()))?;

    let style = ProgressStyle::with_template(
        "epoch {prefix} {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut bar: Option<ProgressBar> = None;
    let mut loss_avg = 0.0f32;
    let outcome = train(
        args.arch,
        &train_set,
        &test_set,
        &config,
        |event| match event {
            Progress::EpochStart {
                epoch,
                epochs,
                batches,
            } => {
                let pb = ProgressBar::new(batches as u64).with_style(style.clone());
                pb.set_prefix(format!("{epoch}/{epochs}"));
                bar = Some(pb);
                loss_avg = 0.0;
            }
            Progress::Batch { loss } => {
                if let Some(pb) = &bar {
                    loss_avg = if pb.position() == 0 {
                        loss
                    } else {
                        0.98 * loss_avg + 0.02 * loss
                    };
                    pb.inc(1);
                    if pb.position() % 20 == 0 {
                        pb.set_message(format!("loss {loss_avg:.4}"));
                    }
                }
            }
            Progress::EpochEnd(r) => {
                if let Some(pb) = bar.take() {
                    pb.finish_with_message(format!(
                        "loss {:.4} train {:.2}% test {:.2}% ({:.0} s)",
                        r.loss,
                        100.0 * r.train_accuracy,
                        100.0 * r.test_accuracy,
                        r.seconds
                    ));
                }
            }
        },
    )
    .with_context(|| format!("training {}", args.arch))?;

    outcome
        .model
        .save(&args.out)
        .with_context(|| format!("saving model to {}", args.out.display()))?;
    // Check the saved file against candle: reload it and classify the test set with henn's own
    // plaintext inference.
    let reloaded = Model::load(&args.out)
        .with_context(|| format!("reloading model from {}", args.out.display()))?;
    let saved_accuracy = plaintext_accuracy(&reloaded, &test_set)?;

    let report = TrainReport {
        arch: args.arch.to_string(),
        out: args.out.display().to_string(),
        seed: config.seed,
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        max_shift: config.max_shift,
        parameters: outcome.net.parameter_count(),
        train_examples: train_set.len(),
        test_examples: test_set.len(),
        test_accuracy: outcome.test_accuracy,
        saved_model_test_accuracy: saved_accuracy,
        seconds: outcome.seconds,
        per_epoch: outcome.epochs.iter().map(EpochJson::from).collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{}: {} parameters, {} epochs, seed {}, {:.1} s",
            report.arch, report.parameters, report.epochs, report.seed, report.seconds
        );
        println!(
            "test accuracy (float, {} images): candle {:.2}%, saved model {:.2}%",
            report.test_examples,
            100.0 * report.test_accuracy,
            100.0 * report.saved_model_test_accuracy
        );
        println!("saved to {}", report.out);
    }
    Ok(())
}

/// Fraction of `data` that `model` (henn's plaintext f32 inference) classifies correctly.
fn plaintext_accuracy(model: &Model, data: &henn_nn::data::Dataset) -> Result<f64> {
    let mut correct = 0usize;
    for i in 0..data.len() {
        let image = data
            .image(i)
            .with_context(|| format!("test image {i} missing"))?;
        let predicted = model
            .predict(image)
            .with_context(|| format!("plaintext inference on test image {i}"))?;
        if data.labels.get(i).map(|&l| usize::from(l)) == Some(predicted) {
            correct += 1;
        }
    }
    Ok(correct as f64 / data.len().max(1) as f64)
}
