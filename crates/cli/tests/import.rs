//! `henn import` end to end on the ONNX fixtures of crates/nn.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{assert_error, henn_in};

use henn_nn::model::Model;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../nn/tests/fixtures/onnx")
        .join(name)
}

#[test]
fn import_writes_a_loadable_model_matching_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lola-like");
    let o = Command::new(env!("CARGO_BIN_EXE_henn"))
        .args([
            "import",
            fixture("conv_square_dense.onnx").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["model"], "lola-like");
    assert_eq!(v["layers"].as_array().unwrap().len(), 6);
    let m = Model::load(&out).unwrap();
    assert_eq!(m.name, "lola-like");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("conv_square_dense.json")).unwrap())
            .unwrap();
    let x: Vec<f32> = serde_json::from_value(reference["cases"][0]["input"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(reference["cases"][0]["output"].clone()).unwrap();
    let got = m.forward(&x).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn import_reports_unsupported_ops() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_henn"))
        .args([
            "import",
            fixture("maxpool.onnx").to_str().unwrap(),
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("MaxPool") && err.contains("pool1"), "{err}");
    assert!(!dir.path().join("x").exists());
}

#[test]
fn import_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let import = |onnx: &std::path::Path| {
        henn_in(
            None,
            &[
                "import",
                onnx.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[],
            Duration::from_secs(60),
        )
    };
    let absent = dir.path().join("absent.onnx");
    assert_error(&import(&absent), &[absent.to_str().unwrap()]);
    // A truncated file and a file that is not ONNX at all.
    let full = std::fs::read(fixture("conv_square_dense.onnx")).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    assert_error(&import(&cut), &[cut.to_str().unwrap()]);
    let text = dir.path().join("notes.onnx");
    std::fs::write(&text, b"hello, not protobuf").unwrap();
    assert_error(&import(&text), &[text.to_str().unwrap()]);
    assert!(!out.exists());
}
