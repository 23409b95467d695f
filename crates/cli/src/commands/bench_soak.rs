//! `henn bench serve --soak SECONDS`: a bounded soak of the hardened service. `henn serve`
//! runs as a child process (this binary) on loopback; for the given time, at once:
//!
//! * valid clients (`--clients`, each with its own keys) send encrypted MNIST predictions,
//!   every answer decrypted and compared with the compiled model's reference (BFV: the
//!   integer logits exactly; CKKS: the class);
//! * a garbage client sends malformed predictions, key uploads, paths and oversized headers
//!   (each must get a JSON 4xx);
//! * a slow client keeps connections that never finish their headers (each must be closed by
//!   the server's header timeout);
//! * a key-churn client uploads keys, predicts once with them and deletes them.
//!
//! Reported: wrong answers, failed valid requests, unexpected garbage answers, whether the
//! server exited (a crash), its resident memory (start, max, end, from `/proc`), and the
//! latency percentiles of valid requests. Wrong answers or a crash fail the run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use henn_nn::data::{load_mnist, Split};
use henn_serve::server::load_models;
use henn_serve::{Client, ClientKeys, ServerConfig};
use serde::Serialize;

use super::bench_serve::{percentile, ServeBenchArgs};

#[derive(Serialize, Debug, Default)]
struct SoakReport {
    model: String,
    scheme: String,
    soak_s: f64,
    clients: usize,
    valid_requests: u64,
    wrong: u64,
    valid_failed: u64,
    valid_busy_503: u64,
    garbage_requests: u64,
    garbage_unexpected: u64,
    slow_connections: u64,
    slow_closed_by_server: u64,
    key_churn_cycles: u64,
    key_churn_failed: u64,
    server_crashed: bool,
    rss_start_mib: f64,
    rss_max_mib: f64,
    rss_end_mib: f64,
    latency_p50_s: f64,
    latency_p99_s: f64,
    latency_max_s: f64,
}

fn rss_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Kills the child server when dropped (an early return never leaves it running).
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn_server(
    args: &ServeBenchArgs,
    models: &std::path::Path,
    store: &std::path::Path,
) -> Result<(ServerProcess, String)> {
    let exe = std::env::current_exe().context("locating the henn binary")?;
    let mut child = Command::new(exe)
        .args(["serve", "--addr", "127.0.0.1:0", "--model", &args.model])
        .arg("--models")
        .arg(models)
        .arg("--data")
        .arg(&args.data)
        .arg("--store")
        .arg(store)
        .args(["--calibration", &args.calibration.to_string()])
        .args(["--workers", &args.workers.to_string()])
        .args(["--queue", &(2 * args.clients + 4).to_string()])
        .args([
            "--header-timeout",
            "2",
            "--body-timeout",
            "5",
            "--timeout",
            "60",
        ])
        .args([
            "--max-requests-per-client",
            "64",
            "--max-keys-per-client",
            "64",
        ])
        .args(["--backend-cache", &(args.clients + 2).to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "warn")
        .spawn()
        .context("starting henn serve")?;
    let stderr = child.stderr.take().context("server stderr")?;
    let server = ServerProcess(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(600))
        .context("henn serve did not report its address within 600 s")?;
    Ok((server, url))
}

/// Runs the soak (see the module docs).
pub fn run(args: &ServeBenchArgs, seconds: u64) -> Result<()> {
    if args.clients == 0 || seconds == 0 {
        bail!("--clients and --soak must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    // The reference: the same model compiled here with the same options.
    let mut config = ServerConfig::new(&args.models, dir.path().join("unused.redb"));
    config.models = vec![args.model.clone()];
    config.calibration_data = args.data.clone();
    config.calibration_images = args.calibration;
    let models = load_models(&config)?;
    let model = models[&args.model].clone();
    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    let len: usize = test.shape.iter().product();
    let count = test.labels.len().min(200);
    let expected: Vec<(Option<Vec<i128>>, usize)> = (0..count)
        .map(|i| {
            let x = &test.images[i * len..(i + 1) * len];
            Ok((
                model.compiled.reference_integer_logits(x)?,
                henn_infer::session::argmax(&model.compiled.reference_logits(x)?),
            ))
        })
        .collect::<Result<_>>()?;
    let images = Arc::new(test.images[..count * len].to_vec());
    let expected = Arc::new(expected);

    // The server loads this very compilation (planning measures latencies, so two
    // compilations may choose differently): the model directory copied with its
    // compiled file.
    let served = dir.path().join("models").join(&args.model);
    std::fs::create_dir_all(&served)?;
    for entry in std::fs::read_dir(args.models.join(&args.model))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), served.join(entry.file_name()))?;
        }
    }
    std::fs::write(
        served.join(henn_serve::model::COMPILED_FILE),
        model.compiled.to_bytes(),
    )?;
    let (mut server, url) = spawn_server(
        args,
        &dir.path().join("models"),
        &dir.path().join("keys.redb"),
    )?;
    let pid = server.0.id();
    let client = Client::new(&url, Duration::from_secs(120));
    let plan = client.public_model(&args.model)?;
    if &plan != model.public() {
        bail!(
            "the server compiled {} differently from this process",
            args.model
        );
    }
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .context("server address")?;
    let mut sessions = Vec::new();
    for _ in 0..args.clients {
        let (mut keys, upload) = ClientKeys::generate(&url, plan.clone())?;
        keys.set_receipt(&client.upload_keys(&upload)?);
        sessions.push(Arc::new(keys));
    }
    let (churn_keys, churn_upload) = ClientKeys::generate(&url, plan.clone())?;
    let churn_keys = Arc::new(Mutex::new(churn_keys));
    let churn_upload = Arc::new(churn_upload);

    let rss_start = rss_mib(pid).unwrap_or(0.0);
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counters: Arc<[AtomicU64; 10]> = Arc::new(Default::default());
    const VALID: usize = 0;
    const WRONG: usize = 1;
    const FAILED: usize = 2;
    const BUSY: usize = 3;
    const GARBAGE: usize = 4;
    const GARBAGE_BAD: usize = 5;
    const SLOW: usize = 6;
    const SLOW_CLOSED: usize = 7;
    const CHURN: usize = 8;
    const CHURN_FAILED: usize = 9;
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let mut threads = Vec::new();

    for (c, keys) in sessions.into_iter().enumerate() {
        let (client, images, expected, counters, latencies, stop) = (
            client.clone(),
            images.clone(),
            expected.clone(),
            counters.clone(),
            latencies.clone(),
            stop.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut i = c * 37;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 1) % expected.len();
                let t = Instant::now();
                match keys.predict(&client, &images[i * len..(i + 1) * len]) {
                    Ok(p) => {
                        latencies
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(t.elapsed().as_secs_f64());
                        counters[VALID].fetch_add(1, Ordering::Relaxed);
                        let ok = match &expected[i] {
                            (Some(exact), _) => p.integer_logits.as_ref() == Some(exact),
                            (None, class) => p.class == *class,
                        };
                        if !ok {
                            tracing::error!(image = i, "wrong answer");
                            counters[WRONG].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) if e.status() == 503 => {
                        counters[BUSY].fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => {
                        tracing::error!("valid request failed: {e}");
                        counters[FAILED].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    // Garbage: malformed bodies, paths and headers; every answer must be a JSON 4xx.
    {
        let (client, counters, stop) = (
            Client::new(&url, Duration::from_secs(30)),
            counters.clone(),
            stop.clone(),
        );
        let upload = churn_upload.clone();
        threads.push(std::thread::spawn(move || {
            let big = "x".repeat(40 << 10);
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let mut cut = upload[..upload.len() / 3].to_vec();
                let at = (round as usize * 7919) % cut.len();
                cut[at] ^= 0x5a;
                let fake_id = "0123456789abcdef0123456789abcdef";
                let fake_auth = format!("Bearer {}", "ab".repeat(32));
                let r = match round % 6 {
                    0 => client.raw("POST", "/v1/keys", &[], Some(&cut)),
                    1 => client.raw(
                        "POST",
                        "/v1/keys",
                        &[],
                        Some(b"HNSV\x02\x00\x01\x02garbage"),
                    ),
                    2 => client.raw(
                        "POST",
                        "/v1/models/lola-small/predict",
                        &[("x-henn-key", fake_id), ("authorization", &fake_auth)],
                        Some(&[7u8; 1000]),
                    ),
                    3 => client.raw("GET", "/v1/../etc/passwd", &[], None),
                    4 => client.raw("GET", "/v1/models", &[("x-big", &big)], None),
                    _ => client.raw("DELETE", &format!("/v1/keys/{fake_id}"), &[], None),
                };
                counters[GARBAGE].fetch_add(1, Ordering::Relaxed);
                let fine = match r {
                    Ok((status, body)) => {
                        (400..500).contains(&status)
                            && serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .is_some_and(|v| v["error"].is_string())
                    }
                    Err(_) => false,
                };
                if !fine {
                    counters[GARBAGE_BAD].fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }

    // Slow clients: batches of connections that never finish their headers.
    {
        let (counters, stop) = (counters.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut conns: Vec<TcpStream> = (0..16)
                    .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
                    .collect();
                for (j, s) in conns.iter_mut().enumerate() {
                    if j % 2 == 0 {
                        let _ = s.write_all(b"POST /v1/keys HTTP/1.1\r\nHost: soak\r\n");
                    }
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                }
                counters[SLOW].fetch_add(conns.len() as u64, Ordering::Relaxed);
                for mut s in conns {
                    let mut b = [0u8; 256];
                    if matches!(s.read(&mut b), Ok(0))
                        || matches!(s.read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset)
                    {
                        counters[SLOW_CLOSED].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    // Key churn: upload, predict once, delete.
    {
        let (client, counters, stop, images, expected) = (
            client.clone(),
            counters.clone(),
            stop.clone(),
            images.clone(),
            expected.clone(),
        );
        let (keys, upload) = (churn_keys, churn_upload);
        threads.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 1) % expected.len();
                let mut k = keys.lock().unwrap_or_else(|e| e.into_inner());
                let cycle = (|| -> henn_serve::ServeResult<bool> {
                    k.set_receipt(&client.upload_keys(&upload)?);
                    let p = k.predict(&client, &images[i * len..(i + 1) * len])?;
                    client.delete_key(&k.file.key_id, &k.file.token)?;
                    Ok(match &expected[i] {
                        (Some(exact), _) => p.integer_logits.as_ref() == Some(exact),
                        (None, class) => p.class == *class,
                    })
                })();
                counters[CHURN].fetch_add(1, Ordering::Relaxed);
                match cycle {
                    Ok(true) => {}
                    Ok(false) => {
                        counters[WRONG].fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!("key churn: {e}");
                        counters[CHURN_FAILED].fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(k);
                std::thread::sleep(Duration::from_millis(200));
            }
        }));
    }

    let t0 = Instant::now();
    let mut rss_max = rss_start;
    let mut crashed = false;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(r) = rss_mib(pid) {
            rss_max = rss_max.max(r);
        }
        if !matches!(server.0.try_wait(), Ok(None)) {
            crashed = true;
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let soak_s = t0.elapsed().as_secs_f64();
    let rss_end = rss_mib(pid).unwrap_or(0.0);
    crashed |= !matches!(server.0.try_wait(), Ok(None));
    if !crashed {
        // A clean stop on SIGTERM is part of the run.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let t = Instant::now();
        loop {
            match server.0.try_wait() {
                Ok(Some(s)) => {
                    crashed = !s.success();
                    break;
                }
                _ if t.elapsed() > Duration::from_secs(10) => {
                    crashed = true;
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let mut l = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    l.sort_by(f64::total_cmp);
    let c = |i: usize| counters[i].load(Ordering::Relaxed);
    let report = SoakReport {
        model: args.model.clone(),
        scheme: plan.parameters.name().to_string(),
        soak_s,
        clients: args.clients,
        valid_requests: c(VALID),
        wrong: c(WRONG),
        valid_failed: c(FAILED),
        valid_busy_503: c(BUSY),
        garbage_requests: c(GARBAGE),
        garbage_unexpected: c(GARBAGE_BAD),
        slow_connections: c(SLOW),
        slow_closed_by_server: c(SLOW_CLOSED),
        key_churn_cycles: c(CHURN),
        key_churn_failed: c(CHURN_FAILED),
        server_crashed: crashed,
        rss_start_mib: rss_start,
        rss_max_mib: rss_max,
        rss_end_mib: rss_end,
        latency_p50_s: percentile(&l, 0.5),
        latency_p99_s: percentile(&l, 0.99),
        latency_max_s: l.last().copied().unwrap_or(0.0),
    };
    super::print_report(&report, args.json)?;
    if report.wrong > 0 || crashed || report.valid_requests == 0 {
        bail!(
            "soak failed: {} wrong answers, server crashed: {crashed}, {} valid answers",
            report.wrong,
            report.valid_requests
        );
    }
    Ok(())
}
