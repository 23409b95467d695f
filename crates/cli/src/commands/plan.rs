//! `henn plan`: the compiled model's plan, printed like LoLa's Table 1 (Brutzkus et al. 2019,
//! section 4.3) with the chosen parameters, this machine's estimated latency per step (and the
//! BFV noise estimate), and the Galois keys the client must upload. The model is compiled as
//! `henn compile` does (calibration on MNIST training images; scheme and strategy by measured
//! latency unless `--scheme` / `--strategy` force them).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use henn_infer::session::SchemeParameters;

use super::compile::{dir_name, CompileFlags};

/// `henn plan` arguments.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Model directory (`model.json` + `weights.safetensors`).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    flags: CompileFlags,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `henn plan`.
pub fn run(args: &PlanArgs) -> Result<()> {
    let name = dir_name(&args.model)?;
    let compiled = args.flags.compile(&args.model, &name)?;
    let s = compiled.summary()?;
    if !args.json {
        println!("{s}");
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = s
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "operation": r.operation,
                "input": format!("{}x{} {}", r.input_shape.0, r.input_shape.1, r.input_repr),
                "output": format!("{}x{} {}", r.output_shape.0, r.output_shape.1, r.output_repr),
                "rotations": r.rotations,
                "plain_multiplications": r.plain_multiplications,
                "ct_multiplications": r.ct_multiplications,
                "level": r.level,
                "estimated_ms": r.estimated_ms,
                "estimated_budget_bits": r.estimated_budget,
            })
        })
        .collect();
    let bits = |m: &[u64]| -> Vec<u32> { m.iter().map(|v| 64 - v.leading_zeros()).collect() };
    let parameters = match &compiled.public().parameters {
        SchemeParameters::Bfv {
            log_n,
            q,
            p,
            dnum,
            plaintext_primes,
            output_level,
            ..
        } => serde_json::json!({
            "scheme": "bfv", "log_n": log_n, "q_bits": bits(q), "p_bits": bits(p),
            "dnum": dnum, "plaintext_primes": plaintext_primes, "output_level": output_level,
        }),
        SchemeParameters::Ckks {
            log_n,
            q,
            p,
            dnum,
            log_scale,
            output_level,
            ..
        } => serde_json::json!({
            "scheme": "ckks", "log_n": log_n, "q_bits": bits(q), "p_bits": bits(p),
            "dnum": dnum, "log_scale": log_scale, "output_level": output_level,
        }),
    };
    let out = serde_json::json!({
        "scheme": compiled.public().parameters.name(),
        "preset": s.preset,
        "log_n": s.log_n,
        "parameters": parameters,
        "plaintext_primes": s.primes,
        "strategy": compiled.public().strategy,
        "steps": rows,
        "galois_keys": s.galois_keys,
        "relinearization_key": s.relinearization_key,
        "evaluation_key_bytes": s.evaluation_key_bytes,
        "estimated_ms": s.estimated_ms,
        "estimated_budget_bits": s.estimated_budget,
    });
    println!("{out}");
    Ok(())
}
