//! `henn keygen --out DIR` never replaces an existing secret key without `--force`, and refuses
//! before any network access.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, henn_in};

#[test]
fn keygen_refuses_to_overwrite_a_secret_key_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let sk = dir.path().join("secret.key");
    std::fs::write(&sk, b"the user's precious key").unwrap();
    let out = dir.path().to_str().unwrap();
    // Port 9 (discard) on loopback: nothing listens, so reaching the network would fail with a
    // connection error instead of the refusal.
    let args = [
        "keygen",
        "--server",
        "http://127.0.0.1:9",
        "--model",
        "x",
        "--out",
        out,
    ];
    let t0 = Instant::now();
    let run = henn_in(None, &args, &[], Duration::from_secs(60));
    assert_error(
        &run,
        &[sk.to_str().unwrap(), "--force", "refusing to overwrite"],
    );
    assert!(!run.stderr.contains("127.0.0.1"), "{}", run.stderr);
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(std::fs::read(&sk).unwrap(), b"the user's precious key");

    // With --force the refusal is gone: it goes on to the (unreachable) server, and fails
    // there, naming it; the old key is still intact since nothing was generated.
    let mut forced = args.to_vec();
    forced.push("--force");
    let run = henn_in(None, &forced, &[], Duration::from_secs(60));
    assert_error(&run, &["http://127.0.0.1:9"]);
    assert!(!run.stderr.contains("refusing"), "{}", run.stderr);
    assert_eq!(std::fs::read(&sk).unwrap(), b"the user's precious key");

    // A directory without a secret key is not refused either (same network failure).
    let empty = tempfile::tempdir().unwrap();
    let run = henn_in(
        None,
        &[
            "keygen",
            "--server",
            "http://127.0.0.1:9",
            "--model",
            "x",
            "--out",
            empty.path().to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_error(&run, &["http://127.0.0.1:9"]);
    assert!(!run.stderr.contains("refusing"), "{}", run.stderr);

    // --out naming a file is an error naming it, before the network.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let run = henn_in(
        None,
        &[
            "keygen",
            "--server",
            "http://127.0.0.1:9",
            "--model",
            "x",
            "--out",
            file.to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_error(&run, &[file.to_str().unwrap(), "not a directory"]);
}
