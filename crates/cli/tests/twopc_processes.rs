//! `henn 2pc serve` and `henn 2pc predict` as two processes of the built binary on loopback:
//! the shipped relu-cnn on MNIST test images; every prediction's logits equal the quantized
//! plaintext model exactly; the server serves clients one after another and exits 0 on
//! SIGTERM. Every wait has a deadline.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use henn_nn::data::{load_mnist, Split};
use henn_nn::model::Model;
use henn_twopc::network::quantize::{quantize, QuantConfig};
use henn_twopc::share::{ShareField, DEFAULT_SHARE_PRIME};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wait_with_deadline(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("polling a child") {
            return status;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the server if the test fails before terminating it.
struct ServerProcess(Option<Child>);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn predict(addr: &str, images: &[&str], extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["2pc", "predict", "--server", addr, "--json", "--mnist-test"];
    args.extend(images);
    args.extend(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting henn 2pc predict");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let r1 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let r2 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = wait_with_deadline(&mut child, Duration::from_secs(180), "henn 2pc predict");
    (
        status.success(),
        r1.join().expect("stdout"),
        r2.join().expect("stderr"),
    )
}

#[test]
fn relu_cnn_two_processes_equal_the_quantized_model() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args([
            "2pc",
            "serve",
            "--model",
            "models/relu-cnn",
            "--addr",
            "127.0.0.1:0",
            "--policy",
            "coefficient",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting henn 2pc serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut server = ServerProcess(Some(child));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("henn 2pc serve did not report its address within 120 s");

    let model = Model::load(root().join("models/relu-cnn")).expect("relu-cnn");
    let net = quantize(&model, &QuantConfig::default()).expect("quantize");
    let field = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
    let test = load_mnist(&root().join("data/mnist"), Split::Test).expect("MNIST test set");

    // Two clients one after another, the second with the server's fingerprint.
    let (ok, out, err) = predict(&addr, &["0", "1", "2"], &[]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let fp = v["fingerprint"].as_str().expect("fingerprint").to_string();
    let (ok2, out2, err2) = predict(&addr, &["3"], &["--expect-fingerprint", &fp]);
    assert!(ok2, "{err2}");
    let v2: serde_json::Value = serde_json::from_str(&out2).expect("JSON");
    // A client expecting another network is refused (and the server keeps serving).
    let wrong = "1".repeat(64);
    let (ok3, _, err3) = predict(&addr, &["0"], &["--expect-fingerprint", &wrong]);
    assert!(!ok3 && err3.contains("error:"), "{err3}");

    let mut seen = 0;
    for preds in [&v["predictions"], &v2["predictions"]] {
        for p in preds.as_array().expect("predictions") {
            let i = p["index"].as_u64().unwrap() as usize;
            let x = net.quantize_input(test.image(i).unwrap()).unwrap();
            let want = net.reference(&field, &x).unwrap();
            let got: Vec<i64> = p["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_i64().unwrap())
                .collect();
            assert_eq!(got, want, "image {i}");
            assert_eq!(
                p["class"].as_u64().unwrap() as usize,
                henn_twopc::network::argmax(&want)
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 4);
    assert!(v["bytes"]["online"]["client_to_server"].as_u64().unwrap() > 0);

    let mut child = server.0.take().expect("server");
    assert!(child.try_wait().unwrap().is_none(), "server exited early");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = wait_with_deadline(&mut child, Duration::from_secs(30), "henn 2pc serve");
    assert!(
        status.success(),
        "henn 2pc serve exited with {status} on SIGTERM"
    );
}
