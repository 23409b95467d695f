//! `henn train`: `--init-only` honours `--json` and refuses training-only flags; counts of 0 and
//! missing data are errors naming what is wrong.

mod common;

use std::time::Duration;

use common::{assert_error, henn_in};
use henn_nn::model::Model;

const DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn init_only_writes_the_model_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let run = henn_in(
        None,
        &[
            "train",
            "--arch",
            "lola-small",
            "--init-only",
            "--seed",
            "3",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        DEADLINE,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    let model = Model::load(&out).unwrap();
    let params: usize = model
        .layers
        .iter()
        .flat_map(|l| l.tensors())
        .map(|(_, t)| t.len())
        .sum();
    assert!(params > 0);
    assert_eq!(v["parameters"].as_u64(), Some(params as u64), "{v}");
    assert_eq!(v["seed"].as_u64(), Some(3), "{v}");
    assert_eq!(v["arch"], "lola-small");
    assert_eq!(v["trained"], false);
}

#[test]
fn init_only_refuses_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    for extra in [
        &["--limit", "10"][..],
        &["--epochs", "2"][..],
        &["--data", "data/mnist"][..],
    ] {
        let mut args = vec![
            "train",
            "--arch",
            "lola-small",
            "--init-only",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let run = henn_in(None, &args, &[], DEADLINE);
        assert_eq!(run.code, Some(2), "{extra:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot be used with") && run.stderr.contains(extra[0]),
            "{extra:?}: {}",
            run.stderr
        );
        assert!(!out.exists(), "{extra:?}: a model was written");
    }
}

#[test]
fn zero_counts_and_missing_data_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    for flag in ["--epochs", "--limit"] {
        let run = henn_in(
            None,
            &[
                "train",
                "--arch",
                "lola-small",
                flag,
                "0",
                "--out",
                out.to_str().unwrap(),
            ],
            &[],
            DEADLINE,
        );
        assert_eq!(run.code, Some(2), "{flag}: {}", run.stderr);
        assert!(run.stderr.contains("must be at least 1"), "{}", run.stderr);
    }
    let missing = dir.path().join("no-mnist-here");
    let run = henn_in(
        None,
        &[
            "train",
            "--arch",
            "lola-small",
            "--data",
            missing.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        DEADLINE,
    );
    assert_error(&run, &["loading training set", missing.to_str().unwrap()]);
    assert!(!out.exists());
    let run = henn_in(
        None,
        &[
            "train",
            "--arch",
            "lola-huge",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        DEADLINE,
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("lola-huge"), "{}", run.stderr);
}
