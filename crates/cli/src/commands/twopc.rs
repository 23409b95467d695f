//! `henn 2pc serve` / `henn 2pc predict` (two processes) and `henn bench 2pc` (both parties
//! in one process): hybrid two-party inference (DELPHI; `henn_twopc::driver`). Argument
//! parsing and printing only.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::Model;
use henn_twopc::channel::{Channel, ChannelConfig};
use henn_twopc::driver::{
    run_loopback, serve_connections, Client, ModelOptions, PhaseStats, PolicyChoice, ReluProtocol,
    ServerModel,
};
use henn_twopc::linear::policy::{HePolicy, SecurityCheck};
use henn_twopc::linear::{Encoding, LayerHeParams};
use henn_twopc::network::quantize::{quantize, QuantConfig};
use henn_twopc::network::zoo;
use henn_twopc::share::{ShareField, DEFAULT_SHARE_PRIME};
use serde::Serialize;

use super::print_report;

/// `henn 2pc` arguments.
#[derive(Args, Debug)]
pub struct TwoPcArgs {
    #[command(subcommand)]
    what: TwoPcWhat,
}

#[derive(Subcommand, Debug)]
enum TwoPcWhat {
    /// Serve a model to two-party clients over TCP, one client after another, until
    /// SIGTERM / Ctrl-C (a running session finishes first).
    Serve(ServeArgs),
    /// Two-party predictions of MNIST test images against a `henn 2pc serve` server.
    Predict(PredictArgs),
}

/// HE parameter choice per linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Per layer, the cheapest of coefficient / slot encoding at n = 2^13 and 2^14 by one
    /// measured run (linear::policy::choose_encodings).
    Measured,
    /// Coefficient encoding (Cheetah) at n = 2^13 for every layer.
    Coefficient,
    /// DELPHI's uniform default: slot encoding at n = 2^14 for every layer.
    Slot,
}

/// The two-party ReLU protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReluArg {
    /// OT-based comparison (CrypTFlow2 / Cheetah millionaire): fewer bytes, faster online.
    Millionaire,
    /// DELPHI's garbled circuit (half-gates).
    GarbledCircuit,
}

impl ReluArg {
    fn protocol(self) -> ReluProtocol {
        match self {
            ReluArg::Millionaire => ReluProtocol::Millionaire,
            ReluArg::GarbledCircuit => ReluProtocol::GarbledCircuit,
        }
    }
}

fn policy_choice(arg: PolicyArg, file: &Option<PathBuf>) -> Result<PolicyChoice> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).with_context(|| format!("{}", f.display()))?;
        return Ok(PolicyChoice::Given(
            HePolicy::from_json(&text).with_context(|| format!("{}", f.display()))?,
        ));
    }
    Ok(match arg {
        PolicyArg::Measured => PolicyChoice::measured_default(),
        PolicyArg::Coefficient => {
            PolicyChoice::Uniform(LayerHeParams::logn13(Encoding::Coefficient))
        }
        PolicyArg::Slot => PolicyChoice::Uniform(LayerHeParams::delphi_default()),
    })
}

/// `henn 2pc serve` arguments.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Model directory (model.json + weights.safetensors), e.g. models/relu-cnn.
    #[arg(long)]
    model: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    addr: SocketAddr,
    /// HE parameters per linear layer.
    #[arg(long, value_enum, default_value_t = PolicyArg::Measured)]
    policy: PolicyArg,
    /// A per-layer HE policy file (JSON, linear::policy format); overrides --policy.
    #[arg(long)]
    policy_file: Option<PathBuf>,
    /// The ReLU protocol.
    #[arg(long, value_enum, default_value_t = ReluArg::Millionaire)]
    relu: ReluArg,
    /// Seconds a peer may stay silent before its session ends.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// `henn 2pc predict` arguments.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Server address.
    #[arg(long)]
    server: SocketAddr,
    /// MNIST test image indices.
    #[arg(long, num_args = 1.., required = true)]
    mnist_test: Vec<usize>,
    /// MNIST IDX directory.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Refuse a server whose network fingerprint is not this (64 hex digits).
    #[arg(long)]
    expect_fingerprint: Option<String>,
    /// Run every image's offline phase first (the preprocessing pool), then the online phases.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    ahead: bool,
    /// Seconds the server may stay silent.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `henn 2pc ...`.
pub fn run(args: &TwoPcArgs) -> Result<()> {
    match &args.what {
        TwoPcWhat::Serve(a) => serve(a),
        TwoPcWhat::Predict(a) => predict(a),
    }
}

fn load_network(dir: &PathBuf) -> Result<henn_twopc::network::Network> {
    let model = Model::load(dir).with_context(|| format!("loading {}", dir.display()))?;
    quantize(&model, &QuantConfig::default())
        .with_context(|| format!("quantizing {}", dir.display()))
}

fn channel_config(timeout: u64) -> ChannelConfig {
    ChannelConfig {
        deadline: Some(Duration::from_secs(timeout.max(1))),
        ..ChannelConfig::default()
    }
}

/// Sets `stop` on SIGTERM or SIGINT (a signal thread with a small tokio runtime).
fn stop_on_signal(stop: Arc<AtomicBool>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("signal runtime")?;
    std::thread::spawn(move || {
        rt.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        });
        stop.store(true, Ordering::SeqCst);
    });
    Ok(())
}

fn serve(args: &ServeArgs) -> Result<()> {
    let network = load_network(&args.model)?;
    let options = ModelOptions {
        policy: policy_choice(args.policy, &args.policy_file)?,
        relu: args.relu.protocol(),
        ..ModelOptions::default()
    };
    let start = Instant::now();
    let model =
        Arc::new(ServerModel::new(network, &options).context("preparing the two-party model")?);
    let encodings: Vec<String> = model
        .spec
        .public
        .policy
        .layers
        .iter()
        .map(|l| format!("{}: n=2^{} {:?}", l.name, l.params.log_n, l.params.encoding))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(Arc::clone(&stop))?;
    let listener =
        TcpListener::bind(args.addr).with_context(|| format!("binding {}", args.addr))?;
    eprintln!(
        "henn 2pc serve: {} ({}; prepared in {:.2} s), fingerprint {}, listening on {} (Ctrl-C stops)",
        model.spec.public.name,
        encodings.join(", "),
        start.elapsed().as_secs_f64(),
        hex(&model.spec.fingerprint),
        listener.local_addr()?
    );
    let sessions = serve_connections(
        &listener,
        model,
        channel_config(args.timeout),
        &stop,
        |outcome| match outcome {
            Ok(s) => eprintln!(
                "henn 2pc serve: session done: {} predictions, {} preprocessings, online {:.3} s",
                s.predictions, s.preprocessings, s.online.seconds
            ),
            Err(e) => eprintln!("henn 2pc serve: session ended: {e}"),
        },
    )?;
    eprintln!("henn 2pc serve: stopped after {sessions} sessions");
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_fingerprint(s: &str) -> Result<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        bail!("--expect-fingerprint must be 64 hex digits");
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .context("--expect-fingerprint must be 64 hex digits")?;
    }
    Ok(out)
}

/// One image's result.
#[derive(Serialize)]
struct ImageResult {
    index: usize,
    label: u8,
    class: usize,
    logits: Vec<i64>,
    offline_s: f64,
    online_s: f64,
    online_bytes: u64,
}

/// Bytes per direction of one phase.
#[derive(Serialize)]
struct Bytes {
    client_to_server: u64,
    server_to_client: u64,
}

impl From<&PhaseStats> for Bytes {
    fn from(p: &PhaseStats) -> Self {
        Self {
            client_to_server: p.client_to_server,
            server_to_client: p.server_to_client,
        }
    }
}

#[derive(Serialize)]
struct PredictReport {
    network: String,
    fingerprint: String,
    predictions: Vec<ImageResult>,
    setup_s: f64,
    offline_s: f64,
    online_s: f64,
    bytes: std::collections::BTreeMap<&'static str, Bytes>,
}

fn predict(args: &PredictArgs) -> Result<()> {
    let expected = args
        .expect_fingerprint
        .as_deref()
        .map(parse_fingerprint)
        .transpose()?;
    let test = load_mnist(&args.data, Split::Test)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    let mut images = Vec::new();
    for &i in &args.mnist_test {
        let x = test
            .image(i)
            .with_context(|| format!("no MNIST test image {i} (there are {})", test.len()))?;
        images.push((i, test.labels[i], x.to_vec()));
    }
    let stream = TcpStream::connect_timeout(&args.server, Duration::from_secs(10))
        .with_context(|| format!("connecting to {}", args.server))?;
    let ch = Channel::tcp(stream, channel_config(args.timeout))?;
    let mut client =
        Client::connect(ch, expected, SecurityCheck::Secure128).context("two-party setup")?;
    let mut offline = PhaseStats::default();
    if args.ahead {
        let n = images.len().min(henn_twopc::driver::MAX_POOL) as u32;
        offline.add(&client.preprocess(n).context("offline phase")?);
    }
    let mut online = PhaseStats::default();
    let mut predictions = Vec::new();
    for (index, label, x) in &images {
        let pooled = client.pooled() > 0;
        let p = client
            .predict(x)
            .with_context(|| format!("predicting MNIST test image {index}"))?;
        if !pooled {
            offline.add(&p.offline);
        }
        online.add(&p.online);
        predictions.push(ImageResult {
            index: *index,
            label: *label,
            class: p.class,
            logits: p.logits.clone(),
            offline_s: p.offline.seconds,
            online_s: p.online.seconds,
            online_bytes: p.online.bytes(),
        });
    }
    let setup = client.setup_stats();
    let report = PredictReport {
        network: client.spec().public.name.clone(),
        fingerprint: hex(&client.spec().fingerprint),
        predictions,
        setup_s: setup.seconds,
        offline_s: offline.seconds,
        online_s: online.seconds,
        bytes: [
            ("setup", Bytes::from(&setup)),
            ("offline", Bytes::from(&offline)),
            ("online", Bytes::from(&online)),
        ]
        .into_iter()
        .collect(),
    };
    client.close()?;
    if args.json {
        print_report(&report, true)
    } else {
        for p in &report.predictions {
            println!(
                "mnist-test[{}]  class {}  (label {})  offline {:.3} s  online {:.3} s",
                p.index, p.class, p.label, p.offline_s, p.online_s
            );
        }
        println!(
            "setup {:.3} s, offline {:.3} s, online {:.3} s",
            report.setup_s, report.offline_s, report.online_s
        );
        Ok(())
    }
}

/// The networks of `henn bench 2pc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchNet {
    /// The shipped relu-cnn on MNIST test images (synthetic inputs without --data).
    ReluCnn,
    /// 7CNET (MiniONN / DELPHI CIFAR-10), seeded weights, synthetic inputs.
    #[value(name = "7cnet")]
    SevenCnet,
    /// ResNet-32 (CIFAR-100), seeded weights, synthetic inputs.
    Resnet32,
}

/// `henn bench 2pc` arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Network.
    #[arg(long, value_enum)]
    net: BenchNet,
    /// Predictions.
    #[arg(long, default_value_t = 1)]
    images: usize,
    /// Model directory of relu-cnn.
    #[arg(long, default_value = "models/relu-cnn")]
    model: PathBuf,
    /// MNIST directory (relu-cnn inputs and accuracy).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// HE parameters per linear layer.
    #[arg(long, value_enum, default_value_t = PolicyArg::Measured)]
    policy: PolicyArg,
    /// The ReLU protocol.
    #[arg(long, value_enum, default_value_t = ReluArg::Millionaire)]
    relu: ReluArg,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct BenchReport {
    net: String,
    images: usize,
    policy: Vec<String>,
    relu: String,
    prepare_s: f64,
    setup_s: f64,
    /// Per image: offline + online.
    total_s: f64,
    /// Per image.
    offline_s: f64,
    /// Per image.
    online_s: f64,
    /// All bytes of the run, setup included.
    bytes_total: u64,
    bytes: std::collections::BTreeMap<&'static str, Bytes>,
    relus: usize,
    ots: u64,
    and_gates: u64,
    client_stored_bytes: usize,
    peak_memory_mb: Option<f64>,
    matches_reference: usize,
    correct: Option<usize>,
    load_average: Option<String>,
    /// Per op of the network, seconds per image of each party in each phase.
    layers: Vec<LayerTimes>,
}

/// One op's seconds per image: the client's (offline including its wait for the server's HE
/// work) and the server's, per phase.
#[derive(Serialize)]
struct LayerTimes {
    op: String,
    len: usize,
    client_offline_s: f64,
    server_offline_s: f64,
    client_online_s: f64,
    server_online_s: f64,
}

fn layer_table(
    client: &[henn_twopc::driver::OpTiming],
    server: &[henn_twopc::driver::OpTiming],
    n: f64,
) -> Vec<LayerTimes> {
    client
        .iter()
        .zip(server)
        .map(|(c, s)| LayerTimes {
            op: c.op.clone(),
            len: c.len,
            client_offline_s: c.offline_s / n,
            server_offline_s: s.offline_s / n,
            client_online_s: c.online_s / n,
            server_online_s: s.online_s / n,
        })
        .collect()
}

fn peak_memory_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs `henn bench 2pc`.
pub fn bench(args: &BenchArgs) -> Result<()> {
    let field = ShareField::new(DEFAULT_SHARE_PRIME)?;
    let (network, inputs, labels): (_, Vec<Vec<i64>>, Option<Vec<u8>>) = match args.net {
        BenchNet::ReluCnn => {
            let net = load_network(&args.model)?;
            match load_mnist(&args.data, Split::Test) {
                Ok(test) => {
                    let n = args.images.min(test.len());
                    let mut xs = Vec::with_capacity(n);
                    for i in 0..n {
                        xs.push(net.quantize_input(test.image(i).unwrap_or(&[]))?);
                    }
                    (net, xs, Some(test.labels[..n].to_vec()))
                }
                Err(_) => {
                    let xs = (0..args.images as u64)
                        .map(|s| zoo::synthetic_input(&net, s))
                        .collect();
                    (net, xs, None)
                }
            }
        }
        BenchNet::SevenCnet | BenchNet::Resnet32 => {
            let net = if args.net == BenchNet::SevenCnet {
                zoo::seven_cnet(1)
            } else {
                zoo::resnet32(1)
            };
            let xs = (0..args.images as u64)
                .map(|s| zoo::synthetic_input(&net, s))
                .collect();
            (net, xs, None)
        }
    };
    if inputs.is_empty() {
        bail!("--images must be at least 1");
    }
    let want: Vec<Vec<i64>> = inputs
        .iter()
        .map(|x| network.reference(&field, x))
        .collect::<Result<_, _>>()
        .context("quantized reference")?;
    let counts = network.counts()?;
    let options = ModelOptions {
        policy: policy_choice(args.policy, &None)?,
        relu: args.relu.protocol(),
        ..ModelOptions::default()
    };
    let start = Instant::now();
    let model = Arc::new(ServerModel::new(network, &options)?);
    let prepare_s = start.elapsed().as_secs_f64();
    let policy = model
        .spec
        .public
        .policy
        .layers
        .iter()
        .map(|l| format!("{}:2^{}:{:?}", l.name, l.params.log_n, l.params.encoding))
        .collect();
    let name = model.spec.public.name.clone();
    let r = run_loopback(
        model,
        &inputs,
        true,
        ChannelConfig {
            max_message_len: 1 << 30,
            deadline: Some(Duration::from_secs(600)),
        },
        SecurityCheck::Secure128,
    )?;
    let n = inputs.len() as f64;
    let matches = r
        .predictions
        .iter()
        .zip(&want)
        .filter(|(p, w)| &p.logits == *w)
        .count();
    let correct = labels.map(|l| {
        r.predictions
            .iter()
            .zip(&l)
            .filter(|(p, &y)| p.class == y as usize)
            .count()
    });
    let report = BenchReport {
        net: name,
        images: inputs.len(),
        policy,
        relu: args.relu.protocol().name().to_string(),
        prepare_s,
        setup_s: r.setup.seconds,
        total_s: (r.offline.seconds + r.online.seconds) / n,
        offline_s: r.offline.seconds / n,
        online_s: r.online.seconds / n,
        bytes_total: r.setup.bytes() + r.offline.bytes() + r.online.bytes(),
        bytes: [
            ("setup", Bytes::from(&r.setup)),
            ("offline", Bytes::from(&r.offline)),
            ("online", Bytes::from(&r.online)),
        ]
        .into_iter()
        .collect(),
        relus: counts.relus * inputs.len(),
        ots: r.relu_costs.ots * (counts.relus * inputs.len()) as u64,
        and_gates: r.relu_costs.and_gates * (counts.relus * inputs.len()) as u64,
        client_stored_bytes: r
            .predictions
            .iter()
            .map(|p| p.client_stored_bytes)
            .max()
            .unwrap_or(0),
        peak_memory_mb: peak_memory_mb(),
        matches_reference: matches,
        correct,
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|s| s.trim().to_string()),
        layers: layer_table(&r.client_op_times, &r.server.op_times, n),
    };
    print_report(&report, args.json)?;
    if !args.json {
        println!(
            "{:>3} {:<10} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "#", "op", "len", "c.off s", "s.off s", "c.on s", "s.on s"
        );
        for (i, l) in report.layers.iter().enumerate() {
            println!(
                "{i:>3} {:<10} {:>8} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
                l.op,
                l.len,
                l.client_offline_s,
                l.server_offline_s,
                l.client_online_s,
                l.server_online_s
            );
        }
    }
    if matches != inputs.len() {
        bail!(
            "{} of {} two-party outputs differ from the quantized model",
            inputs.len() - matches,
            inputs.len()
        );
    }
    Ok(())
}
