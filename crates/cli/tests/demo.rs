//! `henn demo` — the README's main job — end to end from the repository root, as a user runs
//! it on a fresh clone: server on loopback, keys, encrypted predictions of MNIST test images,
//! each decrypted prediction equal to the plaintext model's.

use std::path::Path;
use std::process::Command;

#[test]
fn demo_predicts_exactly_from_the_repository_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(&root)
        .args(["demo", "--images", "2", "--calibration", "200", "--json"])
        .output()
        .expect("running henn demo");
    assert!(
        out.status.success(),
        "henn demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["model"], "lola-small");
    assert_eq!(report["all_match"], true);
    let images = report["images"].as_array().expect("image reports");
    assert_eq!(images.len(), 2);
    for image in images {
        assert_eq!(image["matches_plaintext"], true);
        assert_eq!(image["class"], image["plaintext_class"]);
        assert!(image["bytes_up"].as_u64().unwrap_or(0) > 0);
    }
    assert!(report["eval_key_bytes"].as_u64().unwrap_or(0) > 0);
}
