//! Garbled-circuit throughput: AND gates per second of half-gates garbling and evaluation
//! (the ReLU circuit, in memory, one core each), and the two-party ReLU protocol over loopback
//! TCP (ReLUs per second offline and online, bytes per ReLU printed once).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use henn_twopc::block::os_rng;
use henn_twopc::channel::{loopback_pair, ChannelConfig, Phase};
use henn_twopc::gc::protocol::{ReluClient, ReluConfig, ReluServer};
use henn_twopc::gc::relu::relu_circuit;
use henn_twopc::gc::{Evaluator, Garbler};
use henn_twopc::share::{ShareField, DEFAULT_SHARE_PRIME};

const RELUS: usize = 4096;

fn bench_gc(c: &mut Criterion) {
    let field = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
    let circuit = relu_circuit(&field, 0).unwrap();
    let ands = circuit.and_gates() as u64;
    let mut g = c.benchmark_group("gc");
    g.sample_size(10);

    // In-memory garbling and evaluation of 256 ReLU circuits.
    let n = 256;
    let mut garbler = Garbler::new(os_rng());
    let gz = garbler.fresh_labels(circuit.garbler_inputs());
    let ez = garbler.fresh_labels(circuit.evaluator_inputs());
    g.throughput(Throughput::Elements(ands * n as u64));
    g.bench_function("garble_relu_x256_and_gates", |b| {
        let mut tables = Vec::with_capacity(2 * circuit.and_gates() * n);
        b.iter(|| {
            tables.clear();
            for _ in 0..n {
                garbler.garble(&circuit, &gz, &ez, &mut tables).unwrap();
            }
        })
    });
    let mut tables = Vec::new();
    let mut g2 = Garbler::new(os_rng());
    for _ in 0..n {
        g2.garble(&circuit, &gz, &ez, &mut tables).unwrap();
    }
    let per = 2 * circuit.and_gates();
    g.bench_function("evaluate_relu_x256_and_gates", |b| {
        b.iter(|| {
            let mut ev = Evaluator::new();
            for t in tables.chunks_exact(per) {
                ev.evaluate(&circuit, &gz, &ez, t).unwrap();
            }
        })
    });

    // The same 256 circuits garbled and evaluated 32 at a time in lockstep.
    let k = 32;
    let gzk: Vec<_> = (0..k).flat_map(|_| gz.clone()).collect();
    let ezk: Vec<_> = (0..k).flat_map(|_| ez.clone()).collect();
    g.bench_function("garble_relu_x256_lockstep32_and_gates", |b| {
        let mut tables = Vec::with_capacity(2 * circuit.and_gates() * n);
        b.iter(|| {
            tables.clear();
            for _ in 0..n / k {
                garbler
                    .garble_batch(&circuit, k, &gzk, &ezk, &mut tables)
                    .unwrap();
            }
        })
    });
    let mut tables = Vec::new();
    let mut g3 = Garbler::new(os_rng());
    for _ in 0..n / k {
        g3.garble_batch(&circuit, k, &gzk, &ezk, &mut tables)
            .unwrap();
    }
    g.bench_function("evaluate_relu_x256_lockstep32_and_gates", |b| {
        b.iter(|| {
            let mut ev = Evaluator::new();
            for t in tables.chunks_exact(per * k) {
                ev.evaluate_batch(&circuit, k, &gzk, &ezk, t).unwrap();
            }
        })
    });

    // The protocol over loopback TCP, offline and online measured separately.
    let cfg = ReluConfig::new(field, 0, 1024).unwrap();
    let p = field.modulus();
    let a: Vec<u64> = (0..RELUS as u64)
        .map(|i| (i * 0x9e37_79b9_7f4a) % p)
        .collect();
    let b: Vec<u64> = (0..RELUS as u64)
        .map(|i| (i * 0x1234_5678_9abc) % p)
        .collect();
    g.throughput(Throughput::Elements(RELUS as u64));
    for phase in ["offline", "online", "streamed"] {
        let mut printed = false;
        g.bench_function(format!("relu_protocol_{phase}_x{RELUS}"), |bch| {
            bch.iter_custom(|iters| {
                let (mut cs, mut cc) = loopback_pair(ChannelConfig::default()).unwrap();
                let (tx, rx) = mpsc::channel::<()>();
                let b2 = b.clone();
                let server = std::thread::spawn(move || {
                    let mut s = ReluServer::setup(&mut cs, cfg, os_rng()).unwrap();
                    while rx.recv().is_ok() {
                        let r = s.fresh_masks(RELUS);
                        if phase == "streamed" {
                            s.streamed(&mut cs, &b2, &r).unwrap();
                        } else {
                            cs.set_phase(Phase::Offline);
                            let prep = s.offline(&mut cs, &r).unwrap();
                            cs.set_phase(Phase::Online);
                            s.online(&mut cs, prep, &b2).unwrap();
                        }
                    }
                    cs.counters()
                });
                let mut client = ReluClient::setup(&mut cc, cfg, os_rng()).unwrap();
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    tx.send(()).unwrap();
                    if phase == "streamed" {
                        let start = Instant::now();
                        client.streamed(&mut cc, &a).unwrap();
                        total += start.elapsed();
                    } else {
                        cc.set_phase(Phase::Offline);
                        let start = Instant::now();
                        let prep = client.offline(&mut cc, &a).unwrap();
                        let mid = Instant::now();
                        cc.set_phase(Phase::Online);
                        client.online(&mut cc, prep).unwrap();
                        total += if phase == "offline" {
                            mid - start
                        } else {
                            mid.elapsed()
                        };
                    }
                }
                drop(tx);
                let sc = server.join().unwrap();
                if !printed && iters > 0 {
                    printed = true;
                    let per = |v: u64| v as f64 / (iters as f64 * RELUS as f64);
                    eprintln!(
                        "bytes per ReLU ({phase}, {ands} ANDs): offline server->client {:.0}, client->server {:.0}; online server->client {:.0}, client->server {:.0}",
                        per(sc.sent(Phase::Offline)),
                        per(sc.received(Phase::Offline)),
                        per(sc.sent(Phase::Online)),
                        per(sc.received(Phase::Online)),
                    );
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_gc);
criterion_main!(benches);
