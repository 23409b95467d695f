//! How `henn` reports failures and logs: `error: {e:#}` on stderr with exit code 1 (no
//! backtrace, no `Debug` dump, even with `RUST_BACKTRACE=1`), and no ANSI colour codes when
//! stderr is not a terminal.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{assert_error, henn_in};
use henn_nn::model::{Layer, Model, Tensor};

const DEADLINE: Duration = Duration::from_secs(120);

/// A 2x2-input model: flatten, dense 4 → 3.
fn tiny_model() -> Model {
    Model::new(
        "tiny",
        vec![1, 2, 2],
        vec![
            Layer::Flatten,
            Layer::Dense {
                weight: Tensor::new(vec![3, 4], (0..12).map(|i| i as f32 / 6.0 - 1.0).collect())
                    .unwrap(),
                bias: None,
            },
        ],
    )
}

/// Raw MNIST-format test files with `n` 2x2 images.
fn write_idx(dir: &Path, n: usize) {
    let mut images = vec![0, 0, 8, 3];
    for d in [n as u32, 2, 2] {
        images.extend(d.to_be_bytes());
    }
    images.extend((0..4 * n).map(|i| (i * 37 % 256) as u8));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend((n as u32).to_be_bytes());
    labels.extend((0..n).map(|i| (i % 3) as u8));
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels).unwrap();
}

#[test]
fn errors_are_one_line_without_a_backtrace_even_with_rust_backtrace() {
    let data = tempfile::tempdir().unwrap();
    write_idx(data.path(), 3);
    let missing = data.path().join("no-such-model");
    for env in [
        &[("RUST_BACKTRACE", "1")][..],
        &[("RUST_BACKTRACE", "full"), ("RUST_LIB_BACKTRACE", "1")][..],
        &[][..],
    ] {
        let run = henn_in(
            None,
            &[
                "eval",
                "--model",
                missing.to_str().unwrap(),
                "--data",
                data.path().to_str().unwrap(),
            ],
            env,
            DEADLINE,
        );
        assert_error(&run, &["loading model", missing.to_str().unwrap()]);
        assert!(
            run.stderr.starts_with("error: loading model "),
            "{env:?}: {}",
            run.stderr
        );
        // The whole context chain on one line.
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

#[test]
fn logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let model = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    tiny_model().save(model.path()).unwrap();
    write_idx(data.path(), 5);
    let run = henn_in(
        None,
        &[
            "--log",
            "info",
            "eval",
            "--model",
            model.path().to_str().unwrap(),
            "--data",
            data.path().to_str().unwrap(),
            "--json",
        ],
        &[],
        DEADLINE,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // The info line is there (so the check below can fail), and plain.
    assert!(
        run.stderr.contains("INFO") && run.stderr.contains("evaluating"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["examples"], 5);
}

#[test]
fn an_invalid_log_filter_is_an_error_not_ignored() {
    let run = henn_in(None, &["--log", "henn=loud", "info"], &[], DEADLINE);
    assert_error(&run, &["--log", "not a valid log filter"]);
    let run = henn_in(None, &["info"], &[("RUST_LOG", "henn=loud")], DEADLINE);
    assert_error(&run, &["RUST_LOG", "not a valid log filter"]);
}
