//! Criterion benches of the CKKS scheme: the encoder and the homomorphic operations, at the
//! ring degrees of the 128-bit presets, n = 8192 and 16384.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use henn_he::ckks::{
    self, CkksEncoder, CkksParametersBuilder, Complex64, CrtLift, Decryptor, Encoder, Encryptor,
    Evaluator,
};
use henn_he::rlwe::KeyGenerator;

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

/// Homomorphic operations at the 128-bit presets (n = 8192 and 16384, Δ = 2^40), on fresh
/// top-level ciphertexts.
fn operations(c: &mut Criterion) {
    let mut group = c.benchmark_group("ckks_ops");
    group.sample_size(10);
    for preset in [
        ckks::CKKS_128BIT_LOGN13_LOGQP218,
        ckks::CKKS_128BIT_LOGN14_LOGQP438,
    ] {
        let params = CkksParametersBuilder::preset(preset)
            .build()
            .expect("preset builds");
        let n = params.degree();
        let steps: Vec<i64> = (1..=8).collect();
        let mut keygen = KeyGenerator::new(params.rlwe());
        let pk = keygen.public_key();
        let rlk = keygen.relinearization_key();
        let elements = ckks::galois_elements(&params, &steps, true).expect("valid steps");
        let gk = keygen.galois_keys(&elements).expect("valid elements");
        let encryptor = Encryptor::with_public_key(&params, &pk);
        let decryptor = Decryptor::new(&params, keygen.secret_key());
        let eval = Evaluator::new(&params);
        let encoder = Encoder::new(&params);
        let z = slots(params.slots());
        let ct = encryptor.encrypt_values(&z).expect("encrypts");
        let ct2 = encryptor.encrypt_values(&z).expect("encrypts");
        let pt = encoder
            .encode(&z, params.max_level(), params.default_scale())
            .expect("encodes");
        let product = eval.multiply(&ct, &ct2, &rlk).expect("multiplies");
        group.bench_function(BenchmarkId::new("encode", n), |b| {
            b.iter(|| encoder.encode(black_box(&z), params.max_level(), params.default_scale()))
        });
        group.bench_function(BenchmarkId::new("encrypt_pk", n), |b| {
            b.iter(|| encryptor.encrypt(black_box(&pt)))
        });
        group.bench_function(BenchmarkId::new("decrypt_decode", n), |b| {
            b.iter(|| decryptor.decrypt_values(black_box(&ct)))
        });
        group.bench_function(BenchmarkId::new("add", n), |b| {
            b.iter(|| eval.add(black_box(&ct), &ct2))
        });
        group.bench_function(BenchmarkId::new("mul_plain", n), |b| {
            b.iter(|| eval.mul_plain(black_box(&ct), &pt))
        });
        group.bench_function(BenchmarkId::new("mul_relinearize", n), |b| {
            b.iter(|| eval.multiply(black_box(&ct), &ct2, &rlk))
        });
        group.bench_function(BenchmarkId::new("rescale", n), |b| {
            b.iter(|| eval.rescale(black_box(&product)))
        });
        group.bench_function(BenchmarkId::new("rotate", n), |b| {
            b.iter(|| eval.rotate(black_box(&ct), 1, &gk))
        });
        group.bench_function(BenchmarkId::new("rotate_8_hoisted", n), |b| {
            b.iter(|| eval.rotate_hoisted(black_box(&ct), &steps, &gk))
        });
        group.bench_function(BenchmarkId::new("conjugate", n), |b| {
            b.iter(|| eval.conjugate(black_box(&ct), &gk))
        });
    }
    group.finish();
}

criterion_group!(benches, encoder, operations);
criterion_main!(benches);
