//! Single-thread micro-benchmarks of BFV operations at n = 8192 (log QP = 217) and
//! n = 16384 (log QP = 438), t = 786433. Run: `cargo bench -p henn-he --bench ops`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use henn_he::bfv::{self, BatchEncoder, BfvParametersBuilder, Decryptor, Encryptor, Evaluator};
use henn_he::rlwe::KeyGenerator;
use std::time::Duration;

fn bench_preset(c: &mut Criterion, preset: bfv::Preset) {
    let params = BfvParametersBuilder::preset(preset)
        .plaintext_modulus(786433)
        .build()
        .expect("preset parameters");
    let n = params.degree();
    let mut kg = KeyGenerator::new(params.rlwe());
    let pk = kg.public_key();
    let rlk = kg.relinearization_key();
    let steps: Vec<i64> = (1..=8).collect();
    let gk = kg
        .galois_keys(&bfv::galois_elements(&params, &steps, true))
        .expect("galois keys");
    let encoder = BatchEncoder::new(&params).expect("batching");
    let ev = Evaluator::new(&params);
    let enc_pk = Encryptor::with_public_key(&params, &pk);
    let enc_sk = Encryptor::with_secret_key(&params, kg.secret_key());
    let dec = Decryptor::new(&params, kg.secret_key());
    let v: Vec<i64> = (0..n as i64).map(|i| (i * 7 + 3) % 786433).collect();
    let pt = encoder.encode(&v).expect("encode");
    let ct1 = enc_pk.encrypt(&pt).unwrap();
    let ct2 = enc_pk.encrypt(&pt).unwrap();
    let op = encoder.encode_operand(&v, ct1.level()).expect("operand");

    let mut g = c.benchmark_group(preset.name);
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    g.bench_function("encode", |b| b.iter(|| encoder.encode(&v)));
    g.bench_function("encode_operand", |b| {
        b.iter(|| encoder.encode_operand(&v, ct1.level()))
    });
    g.bench_function("encrypt_pk", |b| b.iter(|| enc_pk.encrypt(&pt).unwrap()));
    g.bench_function("encrypt_sk", |b| b.iter(|| enc_sk.encrypt(&pt).unwrap()));
    g.bench_function("decrypt", |b| b.iter(|| dec.decrypt(&ct1).unwrap()));
    g.bench_function("add", |b| b.iter(|| ev.add(&ct1, &ct2)));
    g.bench_function("mul_plain", |b| b.iter(|| ev.mul_plain(&ct1, &op)));
    g.bench_function("mul_scalar", |b| b.iter(|| ev.mul_integer(&ct1, 5)));
    g.bench_function("mul_relin", |b| b.iter(|| ev.multiply(&ct1, &ct2, &rlk)));
    g.bench_function("square_relin", |b| b.iter(|| ev.square(&ct1, &rlk)));
    g.bench_function("rotate_1", |b| b.iter(|| ev.rotate(&ct1, 1, &gk)));
    g.bench_function("row_swap", |b| b.iter(|| ev.rotate_rows(&ct1, &gk)));
    g.bench_function(BenchmarkId::new("rotate_hoisted", 8), |b| {
        b.iter(|| ev.rotate_hoisted(&ct1, &steps, &gk))
    });
    g.bench_function("drop_level", |b| b.iter(|| ev.drop_level(&ct1)));
    g.bench_function("keygen_relin", |b| b.iter(|| kg.relinearization_key()));
    g.finish();
}

fn ops(c: &mut Criterion) {
    // single thread, as the peers are measured
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    bench_preset(c, bfv::BFV_128BIT_LOGN13_LOGQP218);
    bench_preset(c, bfv::BFV_128BIT_LOGN14_LOGQP438);
}

criterion_group!(benches, ops);
criterion_main!(benches);
