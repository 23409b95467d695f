//! `henn bench serve`: a bounded load test of the prediction service on loopback — a server
//! in this process, `--clients` concurrent clients (each with its own keys) sending
//! `--requests` encrypted MNIST predictions each, under a time limit. Every answer is
//! decrypted and compared with the plaintext integer model; any error or difference fails the
//! run. Reports throughput and client-side latency percentiles (encrypt + round trip +
//! decrypt). With `--soak SECONDS`: the soak of [`super::bench_soak`] instead (a `henn serve`
//! child process under valid, garbage, slow and key-churn clients).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use henn_nn::data::{load_mnist, Split};
use henn_serve::server::{load_models, start_with_models};
use henn_serve::{Client, ClientKeys, ServerConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// `henn bench serve` arguments.
#[derive(Args, Debug)]
pub struct ServeBenchArgs {
    /// Model to serve (the load test: `lola-mnist`).
    #[arg(long, default_value = "lola-mnist")]
    pub(crate) model: String,
    /// Directory of model directories.
    #[arg(long, default_value = "models")]
    pub(crate) models: PathBuf,
    /// MNIST IDX directory.
    #[arg(long, default_value = "data/mnist")]
    pub(crate) data: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub(crate) clients: usize,
    /// Predictions per client.
    #[arg(long, default_value_t = 20)]
    pub(crate) requests: usize,
    /// Evaluation worker threads of the server.
    #[arg(long, default_value_t = 1)]
    pub(crate) workers: usize,
    /// Time limit of the load phase, seconds (exceeding it fails the run).
    #[arg(long, default_value_t = 1800)]
    pub(crate) time_limit: u64,
    /// Calibration images.
    #[arg(long, default_value_t = 1000)]
    pub(crate) calibration: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Compile without circuit privacy (outputs returned as evaluated).
    #[arg(long)]
    pub(crate) no_circuit_privacy: bool,
    /// Serve the load test over HTTPS with this PEM certificate chain (with --tls-key and
    /// --ca-cert).
    #[arg(long, requires_all = ["tls_key", "ca_cert"])]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// PEM certificate(s) the clients trust for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Soak for this many seconds instead: valid, garbage, slow and key-churn clients
    /// against a `henn serve` child process (see `henn bench serve --help`).
    #[arg(long)]
    pub(crate) soak: Option<u64>,
}

#[derive(Serialize, Debug)]
struct ServeBenchReport {
    model: String,
    scheme: &'static str,
    strategy: String,
    clients: usize,
    requests: usize,
    workers: usize,
    threads: usize,
    errors: usize,
    wrong: usize,
    keygen_s_per_client: f64,
    wall_s: f64,
    throughput_per_s: f64,
    latency_p50_s: f64,
    latency_p99_s: f64,
    latency_max_s: f64,
    server_eval_p50_s: f64,
    bytes_up: usize,
    bytes_down: usize,
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Runs `henn bench serve`.
pub fn run(args: ServeBenchArgs) -> Result<()> {
    if let Some(seconds) = args.soak {
        return super::bench_soak::run(&args, seconds);
    }
    if args.clients == 0 || args.requests == 0 {
        bail!("--clients and --requests must be at least 1");
    }
    let store = tempfile::tempdir()?;
    let mut config = ServerConfig::new(&args.models, store.path().join("keys.redb"));
    config.models = vec![args.model.clone()];
    config.calibration_data = args.data.clone();
    config.calibration_images = args.calibration;
    config.workers = args.workers;
    config.queue_capacity = args.clients;
    config.backend_cache = Some(args.clients);
    config.max_requests_per_client = args.clients + 1;
    config.store_limits.max_keys_per_client = args.clients;
    config.request_timeout = Duration::from_secs(args.time_limit);
    config.compile_options.circuit_privacy = !args.no_circuit_privacy;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(henn_serve::server::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    let models = load_models(&config)?;
    let model = models[&args.model].clone();
    let server = start_with_models(config, models)?;
    let client = Client::with_ca_cert(
        &server.url(),
        Duration::from_secs(args.time_limit),
        args.ca_cert.as_deref(),
    )?;
    let plan = client.public_model(&args.model)?;

    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    let len: usize = test.shape.iter().product();
    let total = args.clients * args.requests;
    if test.labels.len() < total {
        bail!("the test set has fewer than {total} images");
    }
    // What a correct answer is: the quantized model's logits exactly (BFV), or the class of
    // the compiled (normalised float) network (CKKS).
    let expected: Vec<(Option<Vec<i128>>, usize)> = (0..total)
        .map(|i| {
            let x = &test.images[i * len..(i + 1) * len];
            Ok((
                model.compiled.reference_integer_logits(x)?,
                henn_infer::session::argmax(&model.compiled.reference_logits(x)?),
            ))
        })
        .collect::<Result<_>>()?;

    let t0 = Instant::now();
    let mut sessions = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let (mut keys, upload) = ClientKeys::generate(&server.url(), plan.clone())?;
        keys.set_receipt(&client.upload_keys(&upload)?);
        sessions.push(Arc::new(keys));
    }
    let keygen_s_per_client = t0.elapsed().as_secs_f64() / args.clients as f64;

    let pb = ProgressBar::new(total as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:10} {bar:40} {pos}/{len} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message("requests");
    let images = Arc::new(test.images);
    let expected = Arc::new(expected);
    let deadline = Instant::now() + Duration::from_secs(args.time_limit);
    let t0 = Instant::now();
    let handles: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(c, keys)| {
            let (client, images, expected, pb) =
                (client.clone(), images.clone(), expected.clone(), pb.clone());
            let requests = args.requests;
            std::thread::spawn(move || {
                let mut out = Vec::with_capacity(requests);
                for r in 0..requests {
                    if Instant::now() > deadline {
                        out.push(Err("time limit exceeded".to_string()));
                        break;
                    }
                    let i = c * requests + r;
                    let t = Instant::now();
                    let res = keys.predict(&client, &images[i * len..(i + 1) * len]);
                    let latency = t.elapsed().as_secs_f64();
                    out.push(match res {
                        Ok(p) => Ok((
                            latency,
                            p.server.eval_s,
                            match &expected[i] {
                                (Some(exact), _) => p.integer_logits.as_ref() == Some(exact),
                                (None, class) => p.class == *class,
                            },
                            p.bytes_up,
                            p.bytes_down,
                        )),
                        Err(e) => Err(e.to_string()),
                    });
                    pb.inc(1);
                }
                out
            })
        })
        .collect();
    let mut results = Vec::with_capacity(total);
    for h in handles {
        results.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?,
        );
    }
    let wall_s = t0.elapsed().as_secs_f64();
    pb.finish_and_clear();
    server.shutdown()?;

    let mut latencies = Vec::new();
    let mut evals = Vec::new();
    let (mut errors, mut wrong, mut up, mut down) = (0, 0, 0, 0);
    for r in &results {
        match r {
            Ok((l, e, ok, u, d)) => {
                latencies.push(*l);
                evals.push(*e);
                wrong += usize::from(!ok);
                up = *u;
                down = *d;
            }
            Err(e) => {
                tracing::error!("request failed: {e}");
                errors += 1;
            }
        }
    }
    errors += total - results.len();
    latencies.sort_by(f64::total_cmp);
    evals.sort_by(f64::total_cmp);
    let report = ServeBenchReport {
        model: args.model.clone(),
        scheme: plan.parameters.name(),
        strategy: plan.strategy.clone(),
        clients: args.clients,
        requests: total,
        workers: args.workers,
        threads: rayon::current_num_threads(),
        errors,
        wrong,
        keygen_s_per_client,
        wall_s,
        throughput_per_s: latencies.len() as f64 / wall_s,
        latency_p50_s: percentile(&latencies, 0.5),
        latency_p99_s: percentile(&latencies, 0.99),
        latency_max_s: latencies.last().copied().unwrap_or(0.0),
        server_eval_p50_s: percentile(&evals, 0.5),
        bytes_up: up,
        bytes_down: down,
    };
    super::print_report(&report, args.json)?;
    if errors > 0 || wrong > 0 {
        bail!("{errors} failed requests and {wrong} wrong answers out of {total}");
    }
    Ok(())
}
