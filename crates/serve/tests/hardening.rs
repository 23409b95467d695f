//! The service under hostile clients, on loopback against the real server with the shipped
//! `lola-small` model (BFV: answers compared exactly with the quantized model): slow and
//! half-open connections, key uploads refused from their first bytes, the store file limit,
//! access tokens, stored-key corruption, abandoned requests, and JSON errors everywhere.
//! Every wait has a deadline (socket timeouts, bounded loops): a hang fails the test.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use henn_infer::session::SchemeChoice;
use henn_nn::data::{load_mnist, Split};
use henn_serve::server::{load_models, start_with_models, RunningServer, KEY_HEADER};
use henn_serve::{Client, ClientKeys, ServedModel, ServerConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// lola-small compiled once for every test of this file.
fn models() -> BTreeMap<String, Arc<ServedModel>> {
    static MODELS: OnceLock<BTreeMap<String, Arc<ServedModel>>> = OnceLock::new();
    MODELS
        .get_or_init(|| load_models(&base_config(Path::new("/nonexistent"))).expect("models"))
        .clone()
}

fn base_config(store: &Path) -> ServerConfig {
    let mut c = ServerConfig::new(repo().join("models"), store);
    c.models = vec!["lola-small".into()];
    c.calibration_data = repo().join("data/mnist");
    c.calibration_images = 200;
    c.compile_options.scheme = SchemeChoice::Bfv;
    c.backend_cache = Some(4);
    c
}

fn start(config: ServerConfig) -> RunningServer {
    start_with_models(config, models()).expect("server starts")
}

fn image(i: usize) -> Vec<f32> {
    static TEST: OnceLock<Vec<f32>> = OnceLock::new();
    let t = TEST.get_or_init(|| {
        load_mnist(&repo().join("data/mnist"), Split::Test)
            .expect("mnist")
            .images
    });
    t[i * 784..(i + 1) * 784].to_vec()
}

fn expected(i: usize) -> Vec<i128> {
    models()["lola-small"]
        .compiled
        .reference_integer_logits(&image(i))
        .expect("reference")
        .expect("BFV logits")
}

/// Fresh keys uploaded to `server`.
fn keys(client: &Client) -> ClientKeys {
    let plan = client.public_model("lola-small").expect("plan");
    let (mut keys, upload) = ClientKeys::generate(client.base_url(), plan).expect("keygen");
    keys.set_receipt(&client.upload_keys(&upload).expect("upload"));
    keys
}

fn upload_bytes(client: &Client) -> Vec<u8> {
    let plan = client.public_model("lola-small").expect("plan");
    ClientKeys::generate(client.base_url(), plan)
        .expect("keygen")
        .1
}

fn error_of(status: u16, body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("{status}: not JSON: {:?}", String::from_utf8_lossy(body)));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}: no error message in {v}"))
        .to_string()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads an HTTP response off a raw connection (until the server closes it or the body
/// announced by content-length is in); returns status and body.
fn read_response(s: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "no complete response within 10 s"
        );
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(len) = len {
                if buf.len() >= end + 4 + len {
                    let status = head[9..12].parse().expect("status");
                    return (status, buf[end + 4..end + 4 + len].to_vec());
                }
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the response: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    panic!("connection closed before a full response: {text:?}");
}

/// Whether the server closed `s` (EOF or reset) within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut b = [0u8; 1024];
    let t0 = Instant::now();
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => return true,
            Err(_) => return false,
        }
        if t0.elapsed() > limit {
            return false;
        }
    }
}

fn metric(client: &Client, name: &str) -> u64 {
    let (_, text) = client.raw("GET", "/metrics", &[], None).expect("metrics");
    let text = String::from_utf8(text).expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in {text}"))
}

#[test]
fn slow_and_half_open_connections_are_closed_without_delaying_health() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(&dir.path().join("k.redb"));
    config.header_timeout = Duration::from_secs(1);
    let server = start(config);
    let client = Client::new(&server.url(), Duration::from_secs(5));
    // 40 half-open connections (nothing sent) and 20 sending their headers slowly.
    let mut idle: Vec<TcpStream> = (0..40).map(|_| connect(server.addr)).collect();
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect(server.addr);
            s.write_all(b"POST /v1/keys HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // Others are served meanwhile, at once.
    for _ in 0..5 {
        let t0 = Instant::now();
        assert_eq!(client.health().unwrap()["status"], "ok");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "/health took {:?}",
            t0.elapsed()
        );
    }
    for s in &mut slow {
        let _ = s.write_all(b"X-Slow: 1\r\n");
    }
    // Every one of them is closed after the header timeout (1 s), well within 5 s.
    let t0 = Instant::now();
    for (i, s) in idle.iter_mut().chain(slow.iter_mut()).enumerate() {
        let left = Duration::from_secs(5).saturating_sub(t0.elapsed());
        assert!(
            closed_within(s, left.max(Duration::from_millis(10))),
            "connection {i} still open"
        );
    }
    assert_eq!(client.health().unwrap()["status"], "ok");
    server.shutdown().unwrap();
}

#[test]
fn the_connection_limit_closes_extra_connections_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(&dir.path().join("k.redb"));
    config.max_connections = 4;
    config.header_timeout = Duration::from_secs(30);
    let server = start(config);
    let held: Vec<TcpStream> = (0..4).map(|_| connect(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = connect(server.addr);
    assert!(
        closed_within(&mut extra, Duration::from_secs(3)),
        "extra connection kept open"
    );
    drop(held);
    // Slots free again once the held connections are gone.
    let client = Client::new(&server.url(), Duration::from_secs(5));
    let t0 = Instant::now();
    loop {
        if client.health().is_ok() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "slots never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.shutdown().unwrap();
}

#[test]
fn key_uploads_are_checked_from_their_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(base_config(&dir.path().join("k.redb")));
    let client = Client::new(&server.url(), Duration::from_secs(60));
    let upload = upload_bytes(&client);
    let layout = &models()["lola-small"].upload_layout;
    // The layout is exact: a real upload has its length, and every prefix passes.
    assert_eq!(layout.total_bytes(), upload.len() as u64);
    for cut in (0..upload.len()).step_by(4099).chain([upload.len()]) {
        layout.check_prefix(&upload[..cut]).expect("a valid prefix");
    }
    let elements = layout.galois_elements().to_vec();
    assert!(!elements.is_empty());

    // An unneeded Galois element, sent as the first key of an upload whose remaining bytes
    // never come: refused at once from the bytes so far.
    let at = layout.galois_element_offset(0) as usize;
    let mut bad = upload.clone();
    let unneeded = (1..2 * 4096u64)
        .step_by(2)
        .find(|e| !elements.contains(e))
        .unwrap();
    bad[at..at + 8].copy_from_slice(&unneeded.to_le_bytes());
    let mut s = connect(server.addr);
    write!(
        s,
        "POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        bad.len()
    )
    .unwrap();
    s.write_all(&bad[..at + 8]).unwrap();
    let (status, body) = read_response(&mut s);
    assert_eq!(status, 400);
    assert!(
        error_of(status, &body).contains("Galois key 0"),
        "{}",
        error_of(status, &body)
    );
    assert_eq!(metric(&client, "henn_key_uploads_refused_early_total"), 1);

    // One Galois key too many (the count field), a wrong length, garbage: all 400.
    let c_at = layout.galois_count_offset() as usize;
    let mut more = upload.clone();
    more[c_at..c_at + 4].copy_from_slice(&(elements.len() as u32 + 1).to_le_bytes());
    let (status, body) = client.raw("POST", "/v1/keys", &[], Some(&more)).unwrap();
    assert_eq!(status, 400);
    assert!(
        error_of(status, &body).contains("Galois keys"),
        "{}",
        error_of(status, &body)
    );
    let mut longer = upload.clone();
    longer.extend_from_slice(&[0; 64]);
    let (status, body) = client.raw("POST", "/v1/keys", &[], Some(&longer)).unwrap();
    assert_eq!(status, 400, "{}", error_of(status, &body));
    // A malformed key (residues not reduced) passes the layout, fails the full decode.
    let mut garbled = upload.clone();
    let mid = layout.galois_element_offset(0) as usize + 8 + 32 + 100;
    garbled[mid..mid + 64].fill(0xff);
    let (status, body) = client.raw("POST", "/v1/keys", &[], Some(&garbled)).unwrap();
    assert_eq!(status, 400, "{}", error_of(status, &body));
    // Nothing was stored.
    assert_eq!(metric(&client, "henn_keys_stored"), 0);
    // The real upload is accepted.
    let (status, body) = client.raw("POST", "/v1/keys", &[], Some(&upload)).unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(metric(&client, "henn_keys_stored"), 1);
    server.shutdown().unwrap();
}

#[test]
fn the_store_file_never_exceeds_its_limit_under_repeated_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.redb");
    let mut config = base_config(&path);
    let size = models()["lola-small"].upload_layout.total_bytes();
    config.store_limits.max_file_bytes = 6 * size;
    config.store_limits.max_keys_per_client = 64;
    let limit = config.store_limits.max_file_bytes;
    let server = start(config);
    let client = Client::new(&server.url(), Duration::from_secs(60));
    let upload = upload_bytes(&client);
    let (mut stored, mut full) = (Vec::new(), 0);
    for round in 0..14 {
        let (status, body) = client.raw("POST", "/v1/keys", &[], Some(&upload)).unwrap();
        match status {
            201 => stored.push(serde_json::from_slice::<serde_json::Value>(&body).unwrap()),
            507 => {
                full += 1;
                // Churn: delete the oldest key now and then.
                if round % 2 == 0 && !stored.is_empty() {
                    let r = stored.remove(0);
                    client
                        .delete_key(r["key_id"].as_str().unwrap(), r["token"].as_str().unwrap())
                        .unwrap();
                }
            }
            s => panic!("upload {round}: {s} {}", error_of(s, &body)),
        }
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(
            len <= limit,
            "round {round}: store file {len} > limit {limit}"
        );
    }
    assert!(
        full >= 1 && !stored.is_empty(),
        "{} stored, {full} refused",
        stored.len()
    );
    server.shutdown().unwrap();
}

#[test]
fn predict_and_delete_need_the_keys_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(base_config(&dir.path().join("k.redb")));
    let client = Client::new(&server.url(), Duration::from_secs(60));
    let keys = keys(&client);
    let id = keys.file.key_id.clone();
    let token = keys.file.token.clone();
    let body = keys.session().encrypt_bytes(&image(0)).unwrap();
    let path = "/v1/models/lola-small/predict";
    let mut wrong = token.clone().into_bytes();
    wrong[5] = if wrong[5] == b'a' { b'b' } else { b'a' };
    let wrong = format!("Bearer {}", String::from_utf8(wrong).unwrap());
    let cases: [(&[(&str, &str)], u16); 4] = [
        (&[(KEY_HEADER, &id)], 401),
        (&[(KEY_HEADER, &id), ("authorization", "Bearer 1234")], 401),
        (&[(KEY_HEADER, &id), ("authorization", "Basic abc")], 401),
        (&[(KEY_HEADER, &id), ("authorization", &wrong)], 403),
    ];
    for (headers, want) in cases {
        let (status, b) = client.raw("POST", path, headers, Some(&body)).unwrap();
        assert_eq!(status, want, "{}", error_of(status, &b));
        let msg = error_of(status, &b);
        assert!(
            !msg.contains(&id) && !msg.contains(&token),
            "credential echoed: {msg}"
        );
    }
    let del = format!("/v1/keys/{id}");
    let (status, _) = client.raw("DELETE", &del, &[], None).unwrap();
    assert_eq!(status, 401);
    let (status, _) = client
        .raw("DELETE", &del, &[("authorization", &wrong)], None)
        .unwrap();
    assert_eq!(status, 403);
    // With the token: served, exactly.
    let p = keys.predict(&client, &image(1)).unwrap();
    assert_eq!(p.integer_logits, Some(expected(1)));
    client.delete_key(&id, &token).unwrap();
    assert_eq!(client.delete_key(&id, &token).unwrap_err().status(), 404);
    // The client's files are private.
    let kd = dir.path().join("client");
    keys.save(&kd).unwrap();
    #[cfg(unix)]
    for f in ["secret.key", "session.json"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(kd.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    server.shutdown().unwrap();
}

#[test]
fn a_corrupted_stored_key_is_detected_removed_and_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.redb");
    let server = start(base_config(&path));
    let client = Client::new(&server.url(), Duration::from_secs(60));
    let plan = client.public_model("lola-small").unwrap();
    let (mut keys, upload) = ClientKeys::generate(&server.url(), plan).unwrap();
    keys.set_receipt(&client.upload_keys(&upload).unwrap());
    server.shutdown().unwrap();
    // Flip one bit of the stored blob inside the redb file.
    let mut file = std::fs::read(&path).unwrap();
    let probe = &upload[upload.len() / 2..upload.len() / 2 + 64];
    let at = file
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the blob is in the file");
    file[at + 10] ^= 0x04;
    std::fs::write(&path, &file).unwrap();
    let server = start(base_config(&path));
    let client = Client::new(&server.url(), Duration::from_secs(60));
    let err = keys.predict(&client, &image(0)).unwrap_err();
    assert_eq!(err.status(), 500, "{err}");
    assert!(err.to_string().contains("integrity"), "{err}");
    // Removed: the key is gone, not used.
    let err = keys.predict(&client, &image(0)).unwrap_err();
    assert_eq!(err.status(), 404, "{err}");
    assert_eq!(metric(&client, "henn_keys_stored"), 0);
    server.shutdown().unwrap();
}

#[test]
fn abandoned_requests_are_dropped_before_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    // The evaluation time of this machine, now.
    let mut config = base_config(&dir.path().join("a.redb"));
    config.queue_capacity = 32;
    config.max_requests_per_client = 64;
    let probe = start(config.clone());
    let client = Client::new(&probe.url(), Duration::from_secs(60));
    let k = keys(&client);
    let eval = (0..3)
        .map(|i| k.predict(&client, &image(i)).unwrap().server.eval_s)
        .fold(0.0, f64::max);
    probe.shutdown().unwrap();

    // A timeout of twice one evaluation, and a burst of 24 requests: most time out.
    config.store_path = dir.path().join("b.redb");
    config.request_timeout = Duration::from_secs_f64((2.0 * eval).max(0.05));
    let server = start(config);
    let client = Client::new(&server.url(), Duration::from_secs(60));
    let keys = Arc::new(keys(&client));
    let bodies: Vec<Vec<u8>> = (0..24)
        .map(|i| keys.session().encrypt_bytes(&image(i % 4)).unwrap())
        .collect();
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let (client, keys) = (client.clone(), keys.clone());
            std::thread::spawn(move || {
                client
                    .predict_bytes("lola-small", &keys.file.key_id, &keys.file.token, &b)
                    .map(|_| ())
                    .map_err(|e| e.status())
            })
        })
        .collect();
    let statuses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let timed_out = statuses.iter().filter(|s| **s == Err(504)).count();
    assert!(
        timed_out >= 10,
        "only {timed_out} of 24 timed out: {statuses:?}"
    );
    // A fresh request is answered, without waiting behind the abandoned ones.
    let p = keys.predict(&client, &image(5)).unwrap();
    assert_eq!(p.integer_logits, Some(expected(5)));
    assert!(
        p.server.queue_s < 2.0 * eval.max(0.05),
        "the fresh request waited {} s",
        p.server.queue_s
    );
    assert!(metric(&client, "henn_evaluations_cancelled_total") >= 1);
    server.shutdown().unwrap();
}

/// A raw request and its expected status: method, path, headers, body, status.
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Option<Vec<u8>>,
    u16,
);

#[test]
fn every_error_response_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(&dir.path().join("k.redb"));
    config.body_timeout = Duration::from_secs(1);
    config.max_requests_per_client = 2;
    let server = start(config);
    let client = Client::new(&server.url(), Duration::from_secs(60));
    let keys = keys(&client);
    let auth = format!("Bearer {}", keys.file.token);
    let id = keys.file.key_id.clone();
    let huge = "a".repeat(64 << 10);
    let predict = "/v1/models/lola-small/predict";
    let cases: Vec<Case> = vec![
        ("GET", "/nope", vec![], None, 404),
        ("GET", "/v1/keys", vec![], None, 405),
        ("DELETE", "/v1/models", vec![], None, 405),
        ("GET", "/v1/models/nope", vec![], None, 404),
        (
            "POST",
            "/v1/models/nope/predict",
            vec![],
            Some(vec![1, 2, 3]),
            404,
        ),
        ("POST", predict, vec![], Some(vec![1, 2, 3]), 400),
        (
            "POST",
            predict,
            vec![(KEY_HEADER, "zz")],
            Some(vec![1]),
            400,
        ),
        ("POST", predict, vec![(KEY_HEADER, &id)], Some(vec![1]), 401),
        (
            "POST",
            predict,
            vec![
                (KEY_HEADER, "0123456789abcdef0123456789abcdef"),
                ("authorization", &auth),
            ],
            Some(vec![1]),
            404,
        ),
        (
            "POST",
            predict,
            vec![(KEY_HEADER, &id), ("authorization", &auth)],
            Some(vec![1]),
            400,
        ),
        (
            "POST",
            predict,
            vec![(KEY_HEADER, &id), ("authorization", &auth)],
            Some(vec![0; 3 << 20]),
            413,
        ),
        ("GET", "/health", vec![("x-big", &huge)], None, 431),
        (
            "POST",
            "/v1/keys",
            vec![(KEY_HEADER, &huge)],
            Some(vec![1]),
            431,
        ),
        ("POST", "/v1/keys", vec![], Some(b"garbage".to_vec()), 400),
        ("POST", "/v1/keys", vec![], Some(vec![]), 400),
        ("DELETE", "/v1/keys/xyz", vec![], None, 400),
    ];
    for (method, path, headers, body, want) in cases {
        let (status, b) = client.raw(method, path, &headers, body.as_deref()).unwrap();
        assert_eq!(
            status,
            want,
            "{method} {path}: {}",
            String::from_utf8_lossy(&b)
        );
        let msg = error_of(status, &b);
        assert!(
            msg.len() < 1000,
            "{method} {path}: long error {}",
            msg.len()
        );
        assert!(!msg.contains(&id), "{method} {path}: key id echoed");
    }
    // 408: a body that never completes.
    let mut slow = connect(server.addr);
    write!(
        slow,
        "POST {predict} HTTP/1.1\r\nHost: x\r\n{KEY_HEADER}: {id}\r\nAuthorization: {auth}\r\nContent-Length: 1000\r\n\r\nabc"
    )
    .unwrap();
    let (status, b) = read_response(&mut slow);
    assert_eq!(status, 408);
    error_of(status, &b);
    // 429: two slow bodies hold this client's two request slots.
    let hold: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(server.addr);
            write!(
                s,
                "POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nHN"
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, b) = client.raw("GET", "/v1/models", &[], None).unwrap();
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&b));
    error_of(status, &b);
    drop(hold);
    server.shutdown().unwrap();
}
