//! The millionaire (OT-based) ReLU against the garbled ReLU in the same run: ReLUs per second
//! offline and online over loopback TCP (both parties in this process, one thread each), and
//! bytes per ReLU per phase and direction (printed once per protocol). A phase ends when both
//! parties have finished it.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use henn_twopc::block::os_rng;
use henn_twopc::channel::{loopback_pair, ChannelConfig, Phase};
use henn_twopc::gc::protocol::{self as gcp, ReluConfig};
use henn_twopc::millionaire as mill;
use henn_twopc::share::{ShareField, DEFAULT_SHARE_PRIME};

const RELUS: usize = 4096;
const FRAC: u32 = 8;

/// Which protocol a run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Gc,
    Millionaire,
}

fn bench_relu(c: &mut Criterion) {
    let field = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
    let cfg = ReluConfig::new(field, FRAC, 4096).unwrap();
    let p = field.modulus();
    let a: Vec<u64> = (0..RELUS as u64)
        .map(|i| (i * 0x9e37_79b9_7f4a) % p)
        .collect();
    let b: Vec<u64> = (0..RELUS as u64)
        .map(|i| (i * 0x1234_5678_9abc) % p)
        .collect();
    let k = mill::costs(cfg).unwrap();
    eprintln!(
        "millionaire per ReLU: {} OTs (+{} reverse), {} ANDs, {} AND levels, {} online flights",
        k.ots_per_relu,
        k.reverse_ots_per_relu,
        k.and_gates_per_relu,
        k.and_levels,
        k.online_flights
    );
    let mut g = c.benchmark_group("relu");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RELUS as u64));
    for proto in [Proto::Millionaire, Proto::Gc] {
        let name = if proto == Proto::Gc {
            "gc"
        } else {
            "millionaire"
        };
        for phase in ["offline", "online"] {
            let mut printed = false;
            g.bench_function(format!("{name}_{phase}_x{RELUS}"), |bch| {
                bch.iter_custom(|iters| {
                    let (mut cs, mut cc) = loopback_pair(ChannelConfig::default()).unwrap();
                    let (tx, rx) = mpsc::channel::<()>();
                    // The server reports the end of its offline phase, so the online timer
                    // starts when both parties are done with it.
                    let (done_tx, done_rx) = mpsc::channel::<()>();
                    let b2 = b.clone();
                    let server = std::thread::spawn(move || {
                        if proto == Proto::Gc {
                            let mut s = gcp::ReluServer::setup(&mut cs, cfg, os_rng()).unwrap();
                            let base = cs.counters();
                            while rx.recv().is_ok() {
                                let r = s.fresh_masks(RELUS);
                                cs.set_phase(Phase::Offline);
                                let prep = s.offline(&mut cs, &r).unwrap();
                                done_tx.send(()).unwrap();
                                cs.set_phase(Phase::Online);
                                s.online(&mut cs, prep, &b2).unwrap();
                            }
                            (base, cs.counters())
                        } else {
                            let mut s = mill::ReluServer::setup(&mut cs, cfg, os_rng()).unwrap();
                            let base = cs.counters();
                            while rx.recv().is_ok() {
                                let r = s.fresh_masks(RELUS);
                                cs.set_phase(Phase::Offline);
                                let prep = s.offline(&mut cs, &r).unwrap();
                                done_tx.send(()).unwrap();
                                cs.set_phase(Phase::Online);
                                s.online(&mut cs, prep, &b2).unwrap();
                            }
                            (base, cs.counters())
                        }
                    });
                    let mut total = Duration::ZERO;
                    let mut gc_client = None;
                    let mut mill_client = None;
                    if proto == Proto::Gc {
                        gc_client = Some(gcp::ReluClient::setup(&mut cc, cfg, os_rng()).unwrap());
                    } else {
                        mill_client =
                            Some(mill::ReluClient::setup(&mut cc, cfg, os_rng()).unwrap());
                    }
                    for _ in 0..iters {
                        tx.send(()).unwrap();
                        cc.set_phase(Phase::Offline);
                        let start = Instant::now();
                        let mid;
                        if let Some(client) = gc_client.as_mut() {
                            let prep = client.offline(&mut cc, &a).unwrap();
                            done_rx.recv().unwrap();
                            mid = Instant::now();
                            cc.set_phase(Phase::Online);
                            client.online(&mut cc, prep).unwrap();
                        } else if let Some(client) = mill_client.as_mut() {
                            let prep = client.offline(&mut cc, &a).unwrap();
                            done_rx.recv().unwrap();
                            mid = Instant::now();
                            cc.set_phase(Phase::Online);
                            client.online(&mut cc, prep).unwrap();
                        } else {
                            unreachable!("one client is set up");
                        }
                        total += if phase == "offline" {
                            mid - start
                        } else {
                            mid.elapsed()
                        };
                    }
                    drop(tx);
                    let (base, sc) = server.join().unwrap();
                    if !printed && iters > 0 {
                        printed = true;
                        let per = |v: u64| v as f64 / (iters as f64 * RELUS as f64);
                        eprintln!(
                            "{name} bytes per ReLU (f = {FRAC}, setup excluded): offline server->client {:.0}, client->server {:.0}; online server->client {:.0}, client->server {:.0}",
                            per(sc.sent(Phase::Offline) - base.sent(Phase::Offline)),
                            per(sc.received(Phase::Offline) - base.received(Phase::Offline)),
                            per(sc.sent(Phase::Online)),
                            per(sc.received(Phase::Online)),
                        );
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_relu);
criterion_main!(benches);
