//! `henn bench ops`: times henn's BFV operations (single thread) and, in the same run, the
//! same operations in Microsoft SEAL and OpenFHE through their Python packages
//! (`scripts/install-peers.sh`; peer scripts from `../shared/peers/he-ops` or
//! `--peers-dir`). Missing peers are skipped with a message.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use henn_he::bfv::{self, BatchEncoder, BfvParametersBuilder, Decryptor, Encryptor, Evaluator};
use henn_he::rlwe::KeyGenerator;
use henn_he::serialization::HeSerialize;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// `henn bench` arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// Micro-benchmarks of HE operations beside SEAL and OpenFHE.
    Ops(OpsArgs),
    /// End-to-end encrypted inference (LoLa, LoLa+BSGS, LoLa-Dense, CryptoNets; BFV or CKKS),
    /// optionally with the CryptoNets baseline of the same images in the same run.
    Lola(super::bench_lola::LolaArgs),
    /// Load test of the prediction service on loopback (clients x predictions, throughput, p50/p99).
    Serve(super::bench_serve::ServeBenchArgs),
    /// Hybrid two-party inference on loopback (both parties in this process): offline and
    /// online latency, bytes per phase and direction, ReLUs, OTs, AND gates, peak memory.
    #[command(name = "2pc")]
    TwoPc(super::twopc::BenchArgs),
    /// CKKS bootstrapping: latency, precision, levels left, key size, peak memory.
    Bootstrap(super::bench_bootstrap::BootstrapBenchArgs),
}

/// `henn bench ops` arguments.
#[derive(Args, Debug)]
pub struct OpsArgs {
    /// Ring degree: 8192 (log QP 217) or 16384 (log QP 438).
    #[arg(long, default_value_t = 8192)]
    n: usize,
    /// Repetitions per operation (median reported).
    #[arg(long, default_value_t = 11)]
    reps: usize,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// Directory holding bench_seal.py and bench_openfhe.py.
    #[arg(long)]
    peers_dir: Option<PathBuf>,
    /// Python interpreter with `openfhe` installed.
    #[arg(long)]
    openfhe_python: Option<PathBuf>,
    /// Skip the peer libraries.
    #[arg(long)]
    no_peers: bool,
    /// Threads for henn (the peers always run single-threaded; 'henn cpu' then counts the
    /// calling worker only).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Runs `henn bench ...`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchWhat::Ops(a) => ops(a),
        BenchWhat::Lola(a) => super::bench_lola::run(a),
        BenchWhat::Serve(a) => super::bench_serve::run(a),
        BenchWhat::Bootstrap(a) => super::bench_bootstrap::run(a),
        BenchWhat::TwoPc(a) => super::twopc::bench(&a),
    }
}

/// CPU time of the calling thread in nanoseconds (Linux `/proc/thread-self/schedstat`), so
/// that figures stay meaningful on a loaded machine; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Median wall time and mean on-CPU time (ms) of `reps` runs after one warm-up.
fn median_ms(reps: usize, mut f: impl FnMut()) -> (f64, Option<f64>) {
    f();
    let reps = reps.max(1);
    let cpu0 = thread_cpu_ns();
    let mut ts: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 1e6 / reps as f64),
        _ => None,
    };
    ts.sort_by(|a, b| a.total_cmp(b));
    (ts[ts.len() / 2], cpu)
}

/// (our op name, SEAL key, OpenFHE key)
const OPS: &[(&str, &str, &str)] = &[
    ("encode", "encode_simd_ms", "encode_simd_ms"),
    ("encrypt_pk", "encrypt_pk_ms", "encrypt_pk_ms"),
    ("encrypt_sk", "encrypt_sk_ms", "encrypt_sk_ms"),
    ("decrypt", "decrypt_ms", "decrypt_ms"),
    ("add", "add_ct_ct_ms", "add_ct_ct_ms"),
    ("mul_plain", "mul_ct_pt_nttform_ms", "mul_ct_pt_ms"),
    ("mul_scalar", "mul_ct_scalar_ms", "mul_ct_scalar_ms"),
    ("mul_relin", "mul_ct_ct_relin_ms", "mul_ct_ct_relin_ms"),
    ("square_relin", "-", "square_relin_ms"),
    (
        "rotate_1",
        "rotate_columns_by_1_ms",
        "rotate_columns_by_1_ms",
    ),
    ("row_swap", "rotate_rows_swap_ms", "rotate_rows_swap_ms"),
    (
        "rotate_8_hoisted",
        "rotate_8_steps_no_hoisting_ms",
        "rotate_8_steps_hoisted_total_ms",
    ),
    ("drop_level", "mod_switch_down_one_level_ms", "-"),
    ("keygen_relin", "keygen_relin_ms", "keygen_relin_ms"),
    (
        "keygen_galois_9",
        "keygen_galois_9keys_ms",
        "keygen_galois_9keys_ms",
    ),
    (
        "size_ct_bytes",
        "size_ct_fresh_pk_bytes(zstd)",
        "size_ct_fresh_pk_bytes",
    ),
    ("size_relin_key_bytes", "size_relin_key_bytes(zstd)", "-"),
    (
        "size_galois_9keys_bytes",
        "size_galois_9keys_bytes(zstd)",
        "-",
    ),
];

type Figures = BTreeMap<String, f64>;

fn measure_henn(n: usize, reps: usize) -> Result<(Figures, Figures)> {
    let preset = match n {
        8192 => bfv::BFV_128BIT_LOGN13_LOGQP218,
        16384 => bfv::BFV_128BIT_LOGN14_LOGQP438,
        _ => bail!("--n must be 8192 or 16384"),
    };
    let t = 786433;
    let params = BfvParametersBuilder::preset(preset)
        .plaintext_modulus(t)
        .build()?;
    let mut out = BTreeMap::new();
    let mut cpu_out = BTreeMap::new();
    let bar = ProgressBar::new(OPS.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>20} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut kg = KeyGenerator::new(params.rlwe());
    let pk = kg.public_key();
    let steps: Vec<i64> = (1..=8).collect();
    let elements = bfv::galois_elements(&params, &steps, true);
    let start = Instant::now();
    let rlk = kg.relinearization_key();
    out.insert("keygen_relin".into(), start.elapsed().as_secs_f64() * 1e3);
    let start = Instant::now();
    let gk = kg.galois_keys(&elements)?;
    out.insert(
        "keygen_galois_9".into(),
        start.elapsed().as_secs_f64() * 1e3,
    );
    let encoder = BatchEncoder::new(&params)?;
    let ev = Evaluator::new(&params);
    let enc_pk = Encryptor::with_public_key(&params, &pk);
    let enc_sk = Encryptor::with_secret_key(&params, kg.secret_key());
    let dec = Decryptor::new(&params, kg.secret_key());
    let v1: Vec<u64> = (0..n as u64).map(|i| (i * 7 + 3) % t).collect();
    let v2: Vec<u64> = (0..n as u64).map(|i| (i * 13 + 1) % t).collect();
    let pt1 = encoder.encode_u64(&v1)?;
    let pt2 = encoder.encode_u64(&v2)?;
    let c1 = enc_pk.encrypt(&pt1)?;
    let c2 = enc_pk.encrypt(&pt2)?;
    let op2 = pt2.to_operand(&params, c1.level())?;
    let mut record = |name: &str, (ms, cpu): (f64, Option<f64>)| {
        bar.set_message(name.to_string());
        bar.inc(1);
        out.insert(name.to_string(), ms);
        if let Some(c) = cpu {
            cpu_out.insert(name.to_string(), c);
        }
    };
    record("encode", median_ms(reps, || drop(encoder.encode_u64(&v1))));
    record("encrypt_pk", median_ms(reps, || drop(enc_pk.encrypt(&pt1))));
    record("encrypt_sk", median_ms(reps, || drop(enc_sk.encrypt(&pt1))));
    record("decrypt", median_ms(reps, || drop(dec.decrypt(&c1))));
    record("add", median_ms(reps, || drop(ev.add(&c1, &c2))));
    record(
        "mul_plain",
        median_ms(reps, || drop(ev.mul_plain(&c1, &op2))),
    );
    record(
        "mul_scalar",
        median_ms(reps, || drop(ev.mul_integer(&c1, 5))),
    );
    record(
        "mul_relin",
        median_ms(reps, || drop(ev.multiply(&c1, &c2, &rlk))),
    );
    record(
        "square_relin",
        median_ms(reps, || drop(ev.square(&c1, &rlk))),
    );
    record("rotate_1", median_ms(reps, || drop(ev.rotate(&c1, 1, &gk))));
    record(
        "row_swap",
        median_ms(reps, || drop(ev.rotate_rows(&c1, &gk))),
    );
    record(
        "rotate_8_hoisted",
        median_ms(reps, || drop(ev.rotate_hoisted(&c1, &steps, &gk))),
    );
    record("drop_level", median_ms(reps, || drop(ev.drop_level(&c1))));
    record("size_ct_bytes", (c1.to_bytes(&params).len() as f64, None));
    record(
        "size_relin_key_bytes",
        (rlk.to_bytes(&params).len() as f64, None),
    );
    record(
        "size_galois_9keys_bytes",
        (gk.to_bytes(&params).len() as f64, None),
    );
    bar.finish_and_clear();
    // correctness sanity of the measured objects
    let prod = encoder.decode_u64(&dec.decrypt(&ev.multiply(&c1, &c2, &rlk)?)?)?;
    let rot = encoder.decode_u64(&dec.decrypt(&ev.rotate(&c1, 1, &gk)?)?)?;
    if (0..n).any(|i| prod[i] != v1[i] * v2[i] % t) || rot[0] != v1[1] {
        bail!("sanity check of henn results failed");
    }
    Ok((out, cpu_out))
}

fn parse_peer(output: &str) -> BTreeMap<String, f64> {
    output
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(',')?;
            let v = v.split_whitespace().next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

fn run_peer(python: &Path, script: &Path, args: &[String]) -> Result<BTreeMap<String, f64>> {
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(parse_peer(&String::from_utf8_lossy(&out.stdout)))
}

fn peers_dir(arg: &Option<PathBuf>) -> Option<PathBuf> {
    let candidates = [
        arg.clone(),
        std::env::var_os("HENN_PEERS_DIR").map(PathBuf::from),
        Some(PathBuf::from("../shared/peers/he-ops")),
        Some(PathBuf::from("/work/shared/peers/he-ops")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("bench_seal.py").exists())
}

fn openfhe_python(arg: &Option<PathBuf>) -> Option<PathBuf> {
    [
        arg.clone(),
        std::env::var_os("HENN_OPENFHE_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(".peers/openfhe-venv/bin/python")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.exists())
}

fn ops(a: OpsArgs) -> Result<()> {
    eprintln!(
        "henn: measuring n = {} ({} thread(s), {} reps)",
        a.n, a.threads, a.reps
    );
    let (henn, henn_cpu) = henn_he::with_threads(a.threads, || measure_henn(a.n, a.reps))??;
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string));
    let reps = a.reps.to_string();
    let mut seal = None;
    let mut openfhe = None;
    let mut notes = Vec::new();
    if !a.no_peers {
        match peers_dir(&a.peers_dir) {
            None => {
                notes.push("peer scripts not found (use --peers-dir): peers skipped".to_string())
            }
            Some(dir) => {
                eprintln!("SEAL: measuring ...");
                match run_peer(
                    Path::new("python3"),
                    &dir.join("bench_seal.py"),
                    &[
                        a.n.to_string(),
                        "default".into(),
                        "786433".into(),
                        reps.clone(),
                    ],
                ) {
                    Ok(m) => seal = Some(m),
                    Err(e) => notes.push(format!(
                        "SEAL skipped ({e:#}); install with scripts/install-peers.sh"
                    )),
                }
                match openfhe_python(&a.openfhe_python) {
                    None => notes.push(
                        "OpenFHE skipped: no python with openfhe (scripts/install-peers.sh or --openfhe-python)"
                            .into(),
                    ),
                    Some(py) => {
                        eprintln!("OpenFHE: measuring ...");
                        let depth = if a.n == 8192 { "3" } else { "6" };
                        match run_peer(
                            &py,
                            &dir.join("bench_openfhe.py"),
                            &[a.n.to_string(), depth.into(), "786433".into(), reps.clone(), "BV".into()],
                        ) {
                            Ok(m) => openfhe = Some(m),
                            Err(e) => notes.push(format!("OpenFHE skipped ({e:#})")),
                        }
                    }
                }
            }
        }
    }
    let get =
        |m: &Option<BTreeMap<String, f64>>, k: &str| m.as_ref().and_then(|m| m.get(k)).copied();
    if a.json {
        let rows: Vec<serde_json::Value> = OPS
            .iter()
            .map(|(op, sk, ok)| {
                serde_json::json!({
                    "op": op,
                    "henn": henn.get(*op),
                    "henn_cpu": henn_cpu.get(*op),
                    "seal": get(&seal, sk),
                    "openfhe": get(&openfhe, ok),
                })
            })
            .collect();
        let obj = serde_json::json!({
            "n": a.n,
            "threads": a.threads,
            "unit": "ms (sizes in bytes)",
            "ops": rows,
            "notes": notes,
            "load_average_1min": load,
        });
        println!("{obj}");
    } else {
        println!(
            "{:<24} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}",
            "op (ms; sizes bytes)", "henn", "henn cpu", "SEAL", "OpenFHE", "henn/SEAL", "henn/OFHE"
        );
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        for (op, sk, ok) in OPS {
            let h = henn.get(*op).copied();
            let s = get(&seal, sk);
            let o = get(&openfhe, ok);
            println!(
                "{:<24} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}",
                op,
                fmt(h),
                fmt(henn_cpu.get(*op).copied()),
                fmt(s),
                fmt(o),
                ratio(h, s),
                ratio(h, o)
            );
        }
        println!("SEAL rotate_8_hoisted is 8 separate rotations (SEAL has no hoisting API).");
        println!(
            "wall-clock medians; 'henn cpu' is on-CPU time per run (scheduler accounting: coarse below ~1 ms); 1-min load average at start: {}",
            load.as_deref().unwrap_or("?")
        );
        for n in &notes {
            println!("note: {n}");
        }
    }
    Ok(())
}
