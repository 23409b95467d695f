//! `henn plan` end to end on the shipped lola-small model: BFV and CKKS plans as JSON.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn plan_json(scheme: &str) -> serde_json::Value {
    let mut args = vec![
        "plan",
        "--model",
        "models/lola-small",
        "--scheme",
        scheme,
        "--strategy",
        "lola-bsgs",
        "--calibration",
        "50",
        "--json",
    ];
    if scheme == "ckks" {
        // CKKS has no room for circuit privacy (see henn_infer::session::compile)
        args.push("--no-circuit-privacy");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args(&args)
        .output()
        .expect("henn runs");
    assert!(
        out.status.success(),
        "henn plan --scheme {scheme}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn plans_lola_small_on_bfv_and_ckks() {
    for scheme in ["bfv", "ckks"] {
        let v = plan_json(scheme);
        // BFV with circuit privacy (default) needs n = 2^14 for the flooding room; CKKS runs
        // without it at n = 2^13
        let want = if scheme == "bfv" { 14 } else { 13 };
        assert_eq!(v["log_n"], want, "{scheme}: {v}");
        let steps = v["steps"].as_array().expect("steps");
        assert!(steps[0]["operation"]
            .as_str()
            .is_some_and(|s| s.contains("stacked convolution")));
        let keys = v["evaluation_key_bytes"].as_u64().expect("key bytes");
        // (BFV at n = 2^14 for the flooding room: 43 MB)
        let most = if scheme == "bfv" {
            60_000_000
        } else {
            30_000_000
        };
        assert!(keys > 0 && keys < most, "{scheme}: {keys}");
        assert!(v["estimated_ms"].as_f64().is_some_and(|t| t > 0.0));
        match scheme {
            "bfv" => assert!(!v["plaintext_primes"].as_array().expect("primes").is_empty()),
            _ => {
                assert!(v["preset"].as_str().is_some_and(|p| p.starts_with("CKKS")));
                assert!(v["estimated_budget_bits"].is_null());
            }
        }
    }
    // A missing model is an error naming it, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args([
            "plan",
            "--model",
            "models/no-such-model",
            "--scheme",
            "ckks",
        ])
        .output()
        .expect("henn runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-model"));
}

#[test]
fn a_model_with_relu_is_refused_naming_the_layer() {
    // The untrained relu-cnn (its architecture is what matters; models/relu-cnn is not in git).
    let dir = tempfile::tempdir().expect("temp dir");
    let model = dir.path().join("relu-cnn");
    let out = Command::new(env!("CARGO_BIN_EXE_henn"))
        .args(["train", "--arch", "relu-cnn", "--init-only", "--out"])
        .arg(&model)
        .output()
        .expect("henn runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for scheme in ["bfv", "ckks"] {
        let out = Command::new(env!("CARGO_BIN_EXE_henn"))
            .current_dir(root())
            .args([
                "plan",
                "--model",
                model.to_str().expect("UTF-8 temp path"),
                "--scheme",
                scheme,
                "--calibration",
                "5",
            ])
            .output()
            .expect("henn runs");
        assert!(
            !out.status.success(),
            "{scheme}: a ReLU network was planned"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "(relu) is not supported by HE-only inference (use the two-party protocol)"
            ) && err.contains("layer ")
                && !err.contains("invalid"),
            "{scheme}: {err}"
        );
    }
}
