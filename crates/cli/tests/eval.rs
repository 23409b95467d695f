//! `henn eval` end to end on a tiny model and a tiny synthetic IDX dataset.

use std::path::Path;
use std::process::Command;

use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{Layer, Model, Padding, Tensor};
use henn_nn::quant::{QuantConfig, QuantizedModel};

fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

fn tiny_model(seed: u64) -> Model {
    let mut s = seed;
    let mut vals = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| (lcg(&mut s) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    };
    Model::new(
        "tiny",
        vec![1, 4, 4],
        vec![
            Layer::Conv2d {
                weight: Tensor::new(vec![2, 1, 2, 2], vals(8)).unwrap(),
                bias: Some(Tensor::new(vec![2], vals(2)).unwrap()),
                stride: (2, 2),
                padding: Padding::default(),
            },
            Layer::Square,
            Layer::Flatten,
            Layer::Dense {
                weight: Tensor::new(vec![3, 8], vals(24)).unwrap(),
                bias: Some(Tensor::new(vec![3], vals(3)).unwrap()),
            },
        ],
    )
}

/// Writes raw (uncompressed) MNIST-format test files with `n` random 4x4 images.
fn write_idx(dir: &Path, n: usize, seed: u64) {
    let mut s = seed;
    let mut images = vec![0, 0, 8, 3];
    for d in [n as u32, 4, 4] {
        images.extend(d.to_be_bytes());
    }
    images.extend((0..16 * n).map(|_| (lcg(&mut s) % 256) as u8));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend((n as u32).to_be_bytes());
    labels.extend((0..n).map(|_| (lcg(&mut s) % 3) as u8));
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels).unwrap();
}

fn henn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_henn"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn eval_reports_float_and_quantized_figures() {
    let model_dir = tempfile::tempdir().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let model = tiny_model(7);
    model.save(model_dir.path()).unwrap();
    write_idx(data_dir.path(), 40, 11);
    let out = henn(&[
        "eval",
        "--model",
        model_dir.path().to_str().unwrap(),
        "--data",
        data_dir.path().to_str().unwrap(),
        "--quantized",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Recompute every figure with the library.
    let data = load_mnist(data_dir.path(), Split::Test).unwrap();
    let preds: Vec<usize> = (0..data.len())
        .map(|i| model.predict(data.image(i).unwrap()).unwrap())
        .collect();
    let correct = preds
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    assert_eq!(v["examples"], 40);
    assert_eq!(v["float_accuracy"].as_f64().unwrap(), correct as f64 / 40.0);
    assert_eq!(v["float_layers"].as_array().unwrap().len(), 4);

    let q =
        QuantizedModel::new(&model.collapse_linear().unwrap(), &QuantConfig::default()).unwrap();
    let qpreds = q.predict_batch(&data.images).unwrap();
    let qcorrect = qpreds
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    let agree = qpreds.iter().zip(&preds).filter(|(a, b)| a == b).count();
    let ranges = q.value_ranges(&data.images).unwrap();
    let qv = &v["quantized"];
    assert_eq!(qv["accuracy"].as_f64().unwrap(), qcorrect as f64 / 40.0);
    assert_eq!(qv["agreement"].as_f64().unwrap(), agree as f64 / 40.0);
    // Numbers are JSON numbers: integers exact (serde_json keeps u64-sized ones as u64).
    assert_eq!(qv["max_abs"].as_u64().unwrap(), ranges.max() as u64);
    assert_eq!(qv["input_max_abs"].as_u64().unwrap(), ranges.input as u64);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("\"max_abs\":{}", ranges.max())),
        "{text}"
    );
    assert_eq!(
        qv["plaintext_bits"].as_u64().unwrap(),
        u64::from(ranges.bits())
    );
    let layers = qv["layers"].as_array().unwrap();
    assert_eq!(layers.len(), q.layers.len());
    for (l, r) in layers.iter().zip(&ranges.layers) {
        assert_eq!(l["max_abs"].as_u64().unwrap(), *r as u64, "{l}");
        assert_eq!(
            l["bits"].as_u64().unwrap(),
            u64::from(u128::BITS - (2 * r).leading_zeros()),
            "{l}"
        );
    }
    // Float ranges are JSON numbers equal to the plaintext forward pass's largest outputs.
    let (_, float_ranges) = model.predict_with_ranges(&data.images).unwrap();
    for (l, r) in v["float_layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&float_ranges)
    {
        assert!(l["max_abs"].is_number(), "{l}");
        assert_eq!(l["max_abs"].as_f64().unwrap() as f32, *r, "{l}");
        assert!(l.get("bits").is_none(), "{l}");
    }
}

#[test]
fn eval_limit_and_errors() {
    let model_dir = tempfile::tempdir().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    tiny_model(8).save(model_dir.path()).unwrap();
    write_idx(data_dir.path(), 30, 12);
    let m = model_dir.path().to_str().unwrap();
    let d = data_dir.path().to_str().unwrap();
    let out = henn(&["eval", "--model", m, "--data", d, "--limit", "5", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["examples"], 5);
    assert!(v.get("quantized").is_none());

    let text = henn(&["eval", "--model", m, "--data", d, "--quantized"]);
    assert!(text.status.success());
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("float accuracy") && s.contains("plaintext modulus needs"),
        "{s}"
    );

    let missing = henn(&["eval", "--model", d, "--data", d]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("model.json"));

    // A model whose input does not match the dataset's examples.
    let other = tempfile::tempdir().unwrap();
    let mut wrong = tiny_model(9);
    wrong.input_shape = vec![1, 5, 4];
    wrong.layers[3] = Layer::Dense {
        weight: Tensor::zeros(vec![3, 8]).unwrap(),
        bias: None,
    };
    wrong.save(other.path()).unwrap();
    let bad = henn(&[
        "eval",
        "--model",
        other.path().to_str().unwrap(),
        "--data",
        d,
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expects inputs"));
}
