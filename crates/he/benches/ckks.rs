//! Criterion benches of the CKKS scheme (encoder today; homomorphic operations once the RLWE
//! layer lands), at the ring degrees of the 128-bit presets, n = 8192 and 16384.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use henn_he::ckks::{CkksEncoder, Complex64, CrtLift};

/// Three 60-bit and one 40-bit NTT primes (a typical CKKS chain prefix).
const MODULI: [u64; 4] = [
    1_152_921_504_606_584_833,
    1_152_921_504_598_720_513,
    1_152_921_504_597_016_577,
    1_099_511_922_689,
];

fn slots(len: usize) -> Vec<Complex64> {
    (0..len)
        .map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
        .collect()
}

fn encoder(c: &mut Criterion) {
    let scale = 2f64.powi(40);
    let lift = CrtLift::new(&MODULI).expect("valid moduli");
    let mut group = c.benchmark_group("ckks_encoder");
    for log_n in [13u32, 14] {
        let n = 1usize << log_n;
        let encoder = CkksEncoder::new(n).expect("valid degree");
        let z = slots(n / 2);
        group.bench_with_input(BenchmarkId::new("encode", n), &n, |b, _| {
            b.iter(|| encoder.encode(black_box(&z), scale))
        });
        group.bench_with_input(BenchmarkId::new("encode_rns_4_limbs", n), &n, |b, _| {
            b.iter(|| encoder.encode_rns(black_box(&z), scale, &MODULI))
        });
        let coefficients = encoder.encode(&z, scale).expect("encodable");
        group.bench_with_input(BenchmarkId::new("decode", n), &n, |b, _| {
            b.iter(|| encoder.decode(black_box(&coefficients), scale))
        });
        let limbs = encoder.encode_rns(&z, scale, &MODULI).expect("encodable");
        for levels in [1usize, 4] {
            group.bench_with_input(
                BenchmarkId::new(format!("decode_rns_{levels}_limbs"), n),
                &n,
                |b, _| b.iter(|| encoder.decode_rns(&lift, black_box(&limbs[..levels]), scale)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, encoder);
criterion_main!(benches);
