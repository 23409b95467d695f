//! One module per `henn` subcommand.

pub mod bench;
pub mod bench_bootstrap;
pub mod bench_lola;
pub mod bench_serve;
pub mod bench_soak;
pub mod compile;
pub mod demo;
pub mod eval;
pub mod import;
pub mod keygen;
pub mod plan;
pub mod predict;
pub mod serve;
pub mod train;
pub mod twopc;

/// Prints a report: one JSON object on stdout with `--json`, otherwise one `name  value` line
/// per field (nested values as compact JSON).
pub fn print_report<T: serde::Serialize>(report: &T, json: bool) -> anyhow::Result<()> {
    let v = serde_json::to_value(report)?;
    if json {
        println!("{v}");
        return Ok(());
    }
    if let serde_json::Value::Object(fields) = v {
        let width = fields.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in fields {
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(f) if n.is_f64() => println!("{k:width$}  {}", fmt_float(f)),
                    _ => println!("{k:width$}  {n}"),
                },
                serde_json::Value::String(s) => println!("{k:width$}  {s}"),
                other => println!("{k:width$}  {other}"),
            }
        }
    } else {
        println!("{v}");
    }
    Ok(())
}

fn fmt_float(f: f64) -> String {
    if f != 0.0 && (f.abs() < 1e-3 || f.abs() >= 1e6) {
        format!("{f:.3e}")
    } else {
        format!("{f:.4}")
    }
}
