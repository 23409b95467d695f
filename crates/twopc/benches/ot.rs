//! OTs per second of the IKNP extension (correlated and chosen-message 128-bit OT) between two
//! threads over loopback TCP, setup (128 base OTs) excluded and measured separately.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use henn_twopc::block::{os_rng, Block};
use henn_twopc::channel::{loopback_pair, ChannelConfig};
use henn_twopc::ot::{base, OtReceiver, OtSender};

const BATCH: usize = 1 << 16;

fn bench_ot(c: &mut Criterion) {
    let cfg = ChannelConfig::default();
    let mut g = c.benchmark_group("ot");
    g.sample_size(10);

    g.bench_function("base_ot_128", |b| {
        b.iter_custom(|iters| {
            let (mut cs, mut cr) = loopback_pair(cfg).unwrap();
            let t = std::thread::spawn(move || {
                let mut rng = os_rng();
                for _ in 0..iters {
                    base::base_ot_send(&mut cs, 128, &mut rng).unwrap();
                }
            });
            let mut rng = os_rng();
            let start = Instant::now();
            for _ in 0..iters {
                base::base_ot_receive(&mut cr, &[true; 128], &mut rng).unwrap();
            }
            t.join().unwrap();
            start.elapsed()
        })
    });

    g.throughput(Throughput::Elements(BATCH as u64));
    for kind in ["correlated", "chosen"] {
        g.bench_function(format!("iknp_{kind}_{BATCH}"), |b| {
            b.iter_custom(|iters| {
                let (mut cs, mut cr) = loopback_pair(cfg).unwrap();
                let (tx, rx) = mpsc::channel::<()>();
                let t = std::thread::spawn(move || {
                    let mut rng = os_rng();
                    let mut s = OtSender::setup(&mut cs, &mut rng).unwrap();
                    let delta = Block::random(&mut rng);
                    let msgs: Vec<(Block, Block)> = (0..BATCH)
                        .map(|_| (Block::random(&mut rng), Block::random(&mut rng)))
                        .collect();
                    while rx.recv().is_ok() {
                        if kind == "correlated" {
                            s.send_correlated(&mut cs, delta, BATCH).unwrap();
                        } else {
                            s.send_chosen(&mut cs, &msgs).unwrap();
                        }
                    }
                });
                let mut rng = os_rng();
                let mut r = OtReceiver::setup(&mut cr, &mut rng).unwrap();
                let choices: Vec<bool> = (0..BATCH).map(|i| i % 3 == 0).collect();
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    tx.send(()).unwrap();
                    if kind == "correlated" {
                        r.receive_correlated(&mut cr, &choices).unwrap();
                    } else {
                        r.receive_chosen(&mut cr, &choices).unwrap();
                    }
                    total += start.elapsed();
                }
                drop(tx);
                t.join().unwrap();
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_ot);
criterion_main!(benches);
