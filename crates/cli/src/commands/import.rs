//! `henn import`: converts an ONNX model (e.g. exported by PyTorch) into a henn model directory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use henn_nn::onnx::import_file;
use serde::Serialize;

/// Arguments of `henn import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The ONNX file.
    pub onnx: PathBuf,
    /// Output model directory (model.json + weights.safetensors), e.g. models/x.
    #[arg(long)]
    pub out: PathBuf,
    /// Model name (default: the output directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct ImportReport {
    model: String,
    out: String,
    input_shape: Vec<usize>,
    layers: Vec<LayerSummary>,
    parameters: usize,
}

#[derive(Serialize)]
struct LayerSummary {
    kind: &'static str,
    output_shape: Vec<usize>,
}

/// Runs `henn import`.
pub fn run(args: &ImportArgs) -> Result<()> {
    let mut model =
        import_file(&args.onnx).with_context(|| format!("importing {}", args.onnx.display()))?;
    if let Some(name) = &args.name {
        model.name = name.clone();
    } else if let Some(stem) = args.out.file_name() {
        model.name = stem.to_string_lossy().into_owned();
    }
    // Shapes first: a model that does not propagate is refused before anything is written.
    let shapes = model
        .output_shapes()
        .with_context(|| format!("shapes of the model in {}", args.onnx.display()))?;
    model
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let report = ImportReport {
        model: model.name.clone(),
        out: args.out.display().to_string(),
        input_shape: model.input_shape.clone(),
        layers: model
            .layers
            .iter()
            .zip(shapes)
            .map(|(l, s)| LayerSummary {
                kind: l.kind(),
                output_shape: s,
            })
            .collect(),
        parameters: model
            .layers
            .iter()
            .flat_map(|l| l.tensors())
            .map(|(_, t)| t.len())
            .sum(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "imported {} → {} ({} parameters)",
            args.onnx.display(),
            report.out,
            report.parameters
        );
        println!("input {:?}", report.input_shape);
        for (i, l) in report.layers.iter().enumerate() {
            println!("  {i:>2} {:<10} → {:?}", l.kind, l.output_shape);
        }
    }
    Ok(())
}
