//! `henn import` end to end on the ONNX fixtures of crates/nn.

use std::path::PathBuf;
use std::process::Command;

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
