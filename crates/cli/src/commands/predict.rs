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
    /// PEM file of the certificate(s) an `https://` server's certificate must chain to (e.g.
    /// the server's self-signed certificate); default: the web PKI roots.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

#[derive(Serialize)]
struct Item {
    input: String,
    label: Option<u8>,
    #[serde(flatten)]
    prediction: Prediction,
}

/// A decoded image: `width * height` values in `[0, 1]`, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixel values in `[0, 1]` (gray, or the mean of R, G and B), row-major.
    pub pixels: Vec<f32>,
}

/// Largest decoded image accepted (bytes of the decoder's output buffer).
const MAX_IMAGE_BYTES: usize = 64 << 20;

/// Reads an 8-bit (or 16-bit, stripped) PNG as values in `[0, 1]`: gray, or the mean of RGB.
/// Every error names the file.
pub fn decode_png(path: &Path) -> Result<GrayImage> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("reading PNG {}", path.display()))?;
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    let size = reader
        .output_buffer_size()
        .with_context(|| format!("{}: PNG output size overflows", path.display()))?;
    if size > MAX_IMAGE_BYTES {
        bail!(
            "{}: {width}x{height} image too large ({size} bytes decoded, at most {MAX_IMAGE_BYTES})",
            path.display()
        );
    }
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("decoding PNG {}", path.display()))?;
    let channels = info.color_type.samples();
    let data = buf
        .get(..info.buffer_size())
        .with_context(|| format!("{}: PNG frame larger than its buffer", path.display()))?;
    let use_channels = match info.color_type {
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => 1,
        _ => 3,
    };
    let pixels: Vec<f32> = data
        .chunks_exact(channels)
        .map(|px| {
            px[..use_channels]
                .iter()
                .map(|&v| f32::from(v))
                .sum::<f32>()
                / (255.0 * use_channels as f32)
        })
        .collect();
    if pixels.len() != width * height {
        bail!(
            "{}: {} pixels decoded for a {width}x{height} image",
            path.display(),
            pixels.len()
        );
    }
    Ok(GrayImage {
        width,
        height,
        pixels,
    })
}

/// Checks that `image` (read from `path`) has the model's input `shape` (`[.., h, w]`, one
/// channel) and returns its pixels.
pub fn fit_input(path: &Path, image: GrayImage, shape: &[usize]) -> Result<Vec<f32>> {
    let want: usize = shape.iter().product();
    if image.width * image.height != want || shape.last() != Some(&image.width) {
        bail!(
            "{}: {}x{} image, the model expects {shape:?}",
            path.display(),
            image.width,
            image.height
        );
    }
    Ok(image.pixels)
}

/// Runs `henn predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    if args.image.is_none() && args.mnist_test.is_empty() {
        bail!("give --image FILE.png or --mnist-test INDEX...");
    }
    // Local files first: a bad image or dataset is reported before the keys are read or the
    // server is contacted.
    let image = args.image.as_deref().map(decode_png).transpose()?;
    let mut mnist: Vec<(String, Option<u8>, Vec<f32>)> = Vec::new();
    if !args.mnist_test.is_empty() {
        let test = load_mnist(&args.data, Split::Test)
            .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
        for &i in &args.mnist_test {
            let (Some(x), Some(&label)) = (test.image(i), test.labels.get(i)) else {
                bail!(
                    "MNIST test index {i} out of range (0..{}) in {}",
                    test.labels.len(),
                    args.data.display()
                );
            };
            mnist.push((format!("mnist-test[{i}]"), Some(label), x.to_vec()));
        }
    }
    let keys = ClientKeys::load(&args.keys)
        .with_context(|| format!("loading keys from {}", args.keys.display()))?;
    let server = args.server.clone().unwrap_or(keys.file.server.clone());
    let client = Client::with_ca_cert(&server, Duration::from_secs(600), args.ca_cert.as_deref())?;
    let shape = keys.file.public.input.shape.clone();
    let mut inputs: Vec<(String, Option<u8>, Vec<f32>)> = Vec::new();
    if let (Some(p), Some(image)) = (&args.image, image) {
        inputs.push((p.display().to_string(), None, fit_input(p, image, &shape)?));
    }
    inputs.extend(mnist);
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
