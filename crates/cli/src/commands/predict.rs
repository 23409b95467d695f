//! `henn predict`: encrypts images with the client's keys, asks the server, decrypts and
//! prints class and scores with timings and bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use henn_nn::data::{load_mnist, Split};
use henn_serve::{Client, ClientKeys, Prediction};
use serde::Serialize;

/// `henn predict` arguments.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Server URL (default: the one the keys were made with).
    #[arg(long)]
    server: Option<String>,
    /// Key directory made by `henn keygen`.
    #[arg(long)]
    keys: PathBuf,
    /// A grayscale (or RGB, averaged) 8-bit PNG of the model's input size, white on black.
    #[arg(long, conflicts_with = "mnist_test")]
    image: Option<PathBuf>,
    /// MNIST test image indices.
    #[arg(long, num_args = 1..)]
    mnist_test: Vec<usize>,
    /// MNIST IDX directory (for --mnist-test).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Item {
    input: String,
    label: Option<u8>,
    #[serde(flatten)]
    prediction: Prediction,
}

/// Reads an 8-bit PNG as values in `[0, 1]` (gray, or the mean of RGB), checking its size.
pub fn load_png(path: &Path, shape: &[usize]) -> Result<Vec<f32>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("reading {}", path.display()))?;
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    let want: usize = shape.iter().product();
    if w * h != want || shape.last() != Some(&w) {
        bail!(
            "{}: {w}x{h} image, the model expects {shape:?}",
            path.display()
        );
    }
    let size = reader
        .output_buffer_size()
        .context("PNG output size overflows")?;
    if size > 64 << 20 {
        bail!("{}: image too large", path.display());
    }
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf)?;
    let channels = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let use_channels = match info.color_type {
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => 1,
        _ => 3,
    };
    Ok(data
        .chunks(channels)
        .map(|px| {
            px[..use_channels]
                .iter()
                .map(|&v| f32::from(v))
                .sum::<f32>()
                / (255.0 * use_channels as f32)
        })
        .collect())
}

/// Runs `henn predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    let keys = ClientKeys::load(&args.keys)
        .with_context(|| format!("loading keys from {}", args.keys.display()))?;
    let server = args.server.clone().unwrap_or(keys.file.server.clone());
    let client = Client::new(&server, Duration::from_secs(600));
    let shape = keys.file.public.input.shape.clone();
    let mut inputs: Vec<(String, Option<u8>, Vec<f32>)> = Vec::new();
    if let Some(p) = &args.image {
        inputs.push((p.display().to_string(), None, load_png(p, &shape)?));
    }
    if !args.mnist_test.is_empty() {
        let test = load_mnist(&args.data, Split::Test)
            .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
        let len: usize = test.shape.iter().product();
        for &i in &args.mnist_test {
            if i >= test.labels.len() {
                bail!(
                    "MNIST test index {i} out of range (0..{})",
                    test.labels.len()
                );
            }
            inputs.push((
                format!("mnist-test[{i}]"),
                Some(test.labels[i]),
                test.images[i * len..(i + 1) * len].to_vec(),
            ));
        }
    }
    if inputs.is_empty() {
        bail!("give --image FILE.png or --mnist-test INDEX...");
    }
    let mut items = Vec::new();
    for (name, label, x) in inputs {
        let prediction = keys
            .predict(&client, &x)
            .with_context(|| format!("predicting {name}"))?;
        if !args.json {
            println!(
                "{name}: class {}{} | encrypt {:.3} s, round trip {:.3} s (server {:.3} s), decrypt {:.3} s | up {:.2} MB, down {:.2} MB",
                prediction.class,
                label.map_or(String::new(), |l| format!(" (label {l})")),
                prediction.encrypt_s,
                prediction.round_trip_s,
                prediction.server.eval_s,
                prediction.decrypt_s,
                prediction.bytes_up as f64 / 1e6,
                prediction.bytes_down as f64 / 1e6,
            );
            let scores: Vec<String> = prediction
                .scores
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect();
            println!("  scores: [{}]", scores.join(", "));
        }
        items.push(Item {
            input: name,
            label,
            prediction,
        });
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({
                "model": keys.file.model,
                "server": server,
                "predictions": items,
            }))?
        );
    }
    Ok(())
}
