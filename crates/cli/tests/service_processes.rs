//! The README's service flow as a user runs it: `henn serve`, `henn keygen` and `henn predict`
//! as three processes of the built binary on loopback. Every prediction equals the plaintext
//! model (the float model's class with the automatic choice, CKKS here; the quantized model's
//! logits exactly with BFV); the server keeps running between requests and exits 0 on SIGTERM.
//! Every wait has a deadline: a hang fails the test with its name.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{argmax, Model};

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

/// Runs a `henn` command to completion within `limit`; returns stdout (panics on failure).
fn henn(args: &[&str], limit: Duration) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting henn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = wait_with_deadline(&mut child, limit, &format!("henn {}", args.join(" ")));
    let stdout = reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    assert!(status.success(), "henn {}: {stderr}", args.join(" "));
    stdout
}

struct Server {
    child: Child,
    url: String,
}

/// Starts `henn serve` and waits (with a deadline) for its "listening on URL" line.
fn serve(store: &Path, model: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "serve",
        "--models",
        "models",
        "--model",
        model,
        "--addr",
        "127.0.0.1:0",
        "--calibration",
        "200",
    ];
    let store = store.display().to_string();
    args.extend(["--store", &store]);
    args.extend(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting henn serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line
                .split_whitespace()
                .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            {
                let _ = tx.send(url.to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(url) => Server { child, url },
        Err(_) => {
            let _ = child.kill();
            panic!("henn serve did not report its address within 240 s");
        }
    }
}

impl Server {
    fn assert_running(&mut self, when: &str) {
        assert!(
            self.child.try_wait().expect("polling the server").is_none(),
            "henn serve exited {when}"
        );
    }

    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let status = wait_with_deadline(&mut self.child, Duration::from_secs(30), "henn serve");
        assert!(
            status.success(),
            "henn serve exited with {status} on SIGTERM"
        );
    }
}

fn predictions(json: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(json).expect("predict --json prints JSON");
    v["predictions"]
        .as_array()
        .expect("a predictions list")
        .clone()
}

fn serve_keygen_predict(model: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    serve_keygen_predict_with(model, extra, &[])
}

/// As [`serve_keygen_predict`], with `client_extra` passed to `keygen` and `predict`.
fn serve_keygen_predict_with(
    model: &str,
    extra: &[&str],
    client_extra: &[&str],
) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = serve(&dir.path().join("keys.redb"), model, extra);
    std::thread::sleep(Duration::from_millis(300));
    server.assert_running("right after it listened");
    let keys = dir.path().join("keys");
    let keys_s = keys.display().to_string();
    let limit = Duration::from_secs(300);
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(client_extra)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        henn(&args, limit)
    };
    run(with(&[
        "keygen",
        "--server",
        &server.url,
        "--model",
        model,
        "--out",
        &keys_s,
    ]));
    server.assert_running("after keygen");
    let first = predictions(&run(with(&[
        "predict",
        "--server",
        &server.url,
        "--keys",
        &keys_s,
        "--mnist-test",
        "0",
        "1",
        "--json",
    ])));
    server.assert_running("after the first predict");
    let second = predictions(&run(with(&[
        "predict",
        "--keys",
        &keys_s,
        "--mnist-test",
        "2",
        "--json",
    ])));
    server.terminate();
    first.into_iter().chain(second).collect()
}

fn test_images() -> Vec<Vec<f32>> {
    let test = load_mnist(&root().join("data/mnist"), Split::Test).expect("mnist");
    (0..3)
        .map(|i| test.images[i * 784..(i + 1) * 784].to_vec())
        .collect()
}

fn check_classes(model: &str, preds: &[serde_json::Value]) {
    let m = Model::load(root().join("models").join(model)).expect("model");
    assert_eq!(preds.len(), 3);
    for (p, x) in preds.iter().zip(test_images()) {
        let want = argmax(&m.forward(&x).expect("forward"));
        assert_eq!(p["class"].as_u64(), Some(want as u64), "{model}: {p}");
    }
}

#[test]
fn lola_small_serve_keygen_predict_as_processes() {
    let preds = serve_keygen_predict("lola-small", &[]);
    check_classes("lola-small", &preds);
}

#[test]
fn lola_mnist_serve_keygen_predict_as_processes() {
    let preds = serve_keygen_predict("lola-mnist", &[]);
    check_classes("lola-mnist", &preds);
}

#[test]
fn lola_small_bfv_predictions_equal_the_quantized_model() {
    let preds = serve_keygen_predict("lola-small", &["--scheme", "bfv"]);
    let m = Model::load(root().join("models/lola-small")).expect("model");
    let (q, net) = henn_infer::from_nn::quantize_model(&m, &henn_nn::quant::QuantConfig::default())
        .expect("quantize");
    for (p, x) in preds.iter().zip(test_images()) {
        let xq: Vec<i128> = q
            .quantize_input(&x)
            .expect("quantize input")
            .into_iter()
            .map(i128::from)
            .collect();
        let want: Vec<serde_json::Value> = net
            .forward(&xq)
            .expect("forward")
            .iter()
            .map(|&v| serde_json::json!(v as i64))
            .collect();
        assert_eq!(p["integer_logits"].as_array(), Some(&want), "{p}");
    }
}

/// SIGTERM while slow clients are connected (one half-open, one sending its headers, one
/// with an unfinished body, all under the 10 s header timeout): the server exits 0 within 5 s.
#[test]
fn sigterm_with_slow_clients_connected_exits_within_5_s() {
    use std::io::Write;
    use std::net::TcpStream;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = serve(&dir.path().join("keys.redb"), "lola-small", &[]);
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let connect = || TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    let half_open = connect();
    let mut slow_headers = connect();
    slow_headers
        .write_all(b"POST /v1/keys HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let mut slow_body = connect();
    slow_body
        .write_all(b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nHNSV")
        .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    server.assert_running("with slow clients connected");
    let pid = server.child.id().to_string();
    let t0 = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM")
        .success());
    let status = wait_with_deadline(
        &mut server.child,
        Duration::from_secs(5),
        "henn serve on SIGTERM",
    );
    assert!(status.success(), "exit status {status}");
    eprintln!("exited {:?} after SIGTERM", t0.elapsed());
    drop((half_open, slow_headers, slow_body));
}

/// `--key-ttl-hours 0` (keys that would be expired on upload) is refused at the command line.
#[test]
fn a_zero_key_ttl_is_refused() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args(["serve", "--addr", "127.0.0.1:0", "--key-ttl-hours", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting henn serve");
    let status = wait_with_deadline(
        &mut child,
        Duration::from_secs(30),
        "henn serve --key-ttl-hours 0",
    );
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(err.contains("key-ttl-hours"), "{err}");
}

/// Runs a `henn` command that must fail within `limit`; returns its stderr.
fn henn_fails(args: &[&str], limit: Duration) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_henn"))
        .current_dir(root())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting henn");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = wait_with_deadline(&mut child, limit, &format!("henn {}", args.join(" ")));
    let stderr = reader.join().expect("stderr reader");
    assert!(!status.success(), "henn {} succeeded", args.join(" "));
    stderr
}

/// `henn serve --tls-cert --tls-key` with a self-signed certificate made here (rcgen, for
/// 127.0.0.1): `keygen` and `predict` with `--ca-cert` over `https://` give the plaintext
/// model's classes; without `--ca-cert` (web PKI roots) the certificate is refused, and a
/// plain-HTTP request to the TLS port gets no answer; the server exits 0 on SIGTERM.
#[test]
fn tls_serve_keygen_predict_as_processes() {
    let pki = tempfile::tempdir().expect("temp dir");
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("self-signed certificate");
    let cert = pki.path().join("cert.pem");
    let key = pki.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());

    // refusals first, against their own server
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(
        &dir.path().join("keys.redb"),
        "lola-small",
        &["--tls-cert", &cert_s, "--tls-key", &key_s],
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let out = dir.path().join("untrusted");
    let err = henn_fails(
        &[
            "keygen",
            "--server",
            &server.url,
            "--model",
            "lola-small",
            "--out",
            &out.display().to_string(),
        ],
        Duration::from_secs(60),
    );
    assert!(
        err.to_lowercase().contains("certificate") || err.to_lowercase().contains("tls"),
        "keygen without --ca-cert must fail on the certificate: {err}"
    );
    let plain = server.url.replacen("https://", "http://", 1);
    let client = henn_serve::Client::new(&plain, Duration::from_secs(20));
    assert!(
        client.raw("GET", "/health", &[], None).is_err(),
        "plain HTTP to the TLS port must not be answered"
    );
    server.terminate();

    let preds = serve_keygen_predict_with(
        "lola-small",
        &["--tls-cert", &cert_s, "--tls-key", &key_s],
        &["--ca-cert", &cert_s],
    );
    check_classes("lola-small", &preds);
}
