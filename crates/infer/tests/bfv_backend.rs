//! Encrypted LoLa inference with the BFV CRT backend is exact: decrypted logits equal the
//! plain integer forward pass bit for bit.

use henn_he::bfv::BfvParametersBuilder;
use henn_he::rlwe::RlweParameters;
use henn_infer::backend::bfv::{plaintext_primes, BfvCrtBackend, KeySpec, PlaintextCache};
use henn_infer::backend::{SlotEncoding, SlotEncryptor, SlotEvaluator};
use henn_infer::conv::{Conv2dGeometry, Padding};
use henn_infer::encrypted::{decrypt_vector, encrypt_vector};
use henn_infer::matrix::Matrix;
use henn_infer::network::{IntLayer, IntNetwork};
use henn_infer::plan::{execute, key_requirements, plan, Strategy};
use henn_infer::representation::SlotGeometry;
use henn_infer::zoo::SmallInts;
use std::sync::Arc;

/// Insecure, small test ring: n = 256 (2 × 128 slots), four 55-bit q primes (depth of the BSGS masks).
fn small_rlwe() -> Arc<RlweParameters> {
    // t is irrelevant here: only the RLWE part is reused.
    let p = BfvParametersBuilder::new()
        .log_n(8)
        .q_bits(&[55, 55, 55, 55])
        .p_bits(&[56])
        .plaintext_modulus(7681)
        .insecure_build()
        .expect("test parameters");
    p.rlwe().clone()
}

/// Three 20-bit primes ≡ 1 mod 512 chosen by the backend: T ≈ 2^59.
fn primes() -> Vec<u64> {
    let p = plaintext_primes(59, 256, 20).expect("primes");
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|&t| t % 512 == 1 && t < 1 << 20));
    p
}

/// conv (1×8×8 → 2 maps 3×3 stride 2, pad top/left 1) → square → dense 6 → square → dense 3.
fn tiny_network(seed: u64) -> IntNetwork<i128> {
    let g = Conv2dGeometry {
        in_channels: 1,
        in_h: 8,
        in_w: 8,
        out_channels: 2,
        kernel_h: 3,
        kernel_w: 3,
        stride: (2, 2),
        padding: Padding {
            top: 1,
            left: 1,
            bottom: 0,
            right: 0,
        },
    };
    let mut rng = SmallInts::new(seed);
    let conv_out = g.output_len();
    IntNetwork {
        name: "tiny".into(),
        input_len: 64,
        layers: vec![
            IntLayer::Conv2d {
                geometry: g,
                weights: rng.vec(2 * 9, 3),
                bias: Some(rng.vec(2, 3)),
            },
            IntLayer::Square,
            IntLayer::Dense {
                weights: Matrix::new(6, conv_out, rng.vec(6 * conv_out, 2)).expect("matrix"),
                bias: Some(rng.vec(6, 3)),
            },
            IntLayer::Square,
            IntLayer::Dense {
                weights: Matrix::new(3, 6, rng.vec(18, 3)).expect("matrix"),
                bias: Some(rng.vec(3, 3)),
            },
        ],
    }
}

fn run(strategy: Strategy, seed: u64) {
    let net = tiny_network(seed);
    let rlwe = small_rlwe();
    let geometry = SlotGeometry {
        rows: 2,
        row_len: rlwe.degree() / 2,
    };
    let mut p = plan(&net, geometry, strategy).expect("plan");
    p.rescale = false;
    let keys = key_requirements(&net, &p, 0).expect("keys");
    let spec = KeySpec {
        rotation_steps: keys.rotation_steps.iter().copied().collect(),
        row_swap: keys.row_swap,
        relinearization: keys.relinearization,
    };
    let b = BfvCrtBackend::generate(&rlwe, &primes(), &spec).expect("backend");
    // Prepare: record the weight plaintexts with a zero input, then freeze.
    b.evaluator.set_plaintext_cache(PlaintextCache::Record);
    let zero =
        encrypt_vector(&b.encryptor, p.input.clone(), &vec![0i128; net.input_len]).expect("enc");
    execute(&b.evaluator, &net, &p, zero, |_, _, _, _| {}).expect("prepare");
    b.evaluator.set_plaintext_cache(PlaintextCache::Frozen);
    let prepared = b.evaluator.cached_plaintexts();
    assert!(prepared > 0);

    let mut rng = SmallInts::new(seed + 100);
    for _ in 0..2 {
        let x: Vec<i128> = rng.vec(64, 4);
        let want = net.forward(&x).expect("forward");
        assert!(
            want.iter()
                .all(|v| 2 * v.abs() < b.evaluator.plaintext_modulus()),
            "test network must fit T"
        );
        let ct = encrypt_vector(&b.encryptor, p.input.clone(), &x).expect("encrypt");
        let out = execute(&b.evaluator, &net, &p, ct, |_, _, _, _| {}).expect("execute");
        assert!(b.encryptor.noise_budget(&out.cts[0]).unwrap() > 0);
        let got = decrypt_vector(&b.encryptor, &out).expect("decrypt");
        assert_eq!(got, want, "{strategy:?}");
    }
    // Serving never adds client inputs to the prepared plaintexts.
    assert_eq!(b.evaluator.cached_plaintexts(), prepared);
}

#[test]
fn lola_plan_is_exact() {
    run(Strategy::LoLa, 1);
}

#[test]
fn lola_bsgs_plan_is_exact() {
    run(Strategy::LoLaBsgs, 2);
}

#[test]
fn crt_decoding_covers_values_beyond_one_prime() {
    let rlwe = small_rlwe();
    let spec = KeySpec {
        rotation_steps: vec![1],
        row_swap: true,
        relinearization: true,
    };
    let b = BfvCrtBackend::generate(&rlwe, &primes(), &spec).expect("backend");
    let big = b.evaluator.plaintext_modulus() / 2 - 5;
    let x: Vec<i128> = (0..b.encryptor.slots() as i128)
        .map(|i| (i - 100) * 1000)
        .collect();
    let ct = b
        .encryptor
        .encrypt(
            &b.encryptor
                .encode(&x, b.encryptor.max_level())
                .expect("encode"),
        )
        .expect("enc");
    // x² exceeds each prime but stays inside T/2.
    let sq = b.evaluator.square(&ct).expect("square");
    let y = b
        .encryptor
        .decode(&b.encryptor.decrypt(&sq).expect("dec"))
        .expect("decode");
    for (a, v) in x.iter().zip(&y) {
        assert!(a * a < big);
        assert_eq!(*v, a * a);
    }
    // Rotation by one to the left, row swap.
    let r = b.evaluator.rotate(&ct, 1).expect("rotate");
    let y = b
        .encryptor
        .decode(&b.encryptor.decrypt(&r).expect("dec"))
        .expect("decode");
    let half = b.encryptor.row_len();
    assert_eq!(y[0], x[1]);
    assert_eq!(y[half - 1], x[0]);
    let s = b.evaluator.swap_rows(&ct).expect("swap");
    let y = b
        .encryptor
        .decode(&b.encryptor.decrypt(&s).expect("dec"))
        .expect("decode");
    assert_eq!(y[0], x[half]);
    // A missing Galois key is an engine error, not a panic.
    assert!(b.evaluator.rotate(&ct, 3).is_err());
}

/// The noise estimate refuses what fails and accepts what works, on real BFV: the tiny
/// two-square network with one 55-bit `q` prime (estimate negative, decryption wrong) and with
/// four (estimate positive and below the measured budget, decryption exact).
#[test]
fn noise_estimate_refuses_failing_plan_and_accepts_working_one() {
    use henn_infer::params::estimate_budget;
    let net = tiny_network(5);
    for limbs in [1usize, 4] {
        let q_bits = vec![55u32; limbs];
        let params = BfvParametersBuilder::new()
            .log_n(8)
            .q_bits(&q_bits)
            .p_bits(&[56])
            .plaintext_modulus(7681)
            .insecure_build()
            .expect("test parameters");
        let rlwe = params.rlwe().clone();
        let geometry = SlotGeometry {
            rows: 2,
            row_len: rlwe.degree() / 2,
        };
        let mut p = plan(&net, geometry, Strategy::LoLaBsgs).expect("plan");
        p.rescale = false;
        let primes = primes();
        let noise = henn_infer::backend::noise::NoiseParameters {
            log_n: 8,
            q_bits: q_bits.iter().map(|&b| f64::from(b)).collect(),
            p_bits: 56.0,
            dnum: limbs,
            t_bits: primes
                .iter()
                .map(|&t| (t as f64).log2())
                .fold(0.0, f64::max),
        };
        let (estimate, steps) = estimate_budget(&net, &p, noise).expect("estimate");
        assert_eq!(steps.len(), p.steps.len());
        let keys = key_requirements(&net, &p, 0).expect("keys");
        let spec = KeySpec {
            rotation_steps: keys.rotation_steps.iter().copied().collect(),
            row_swap: keys.row_swap,
            relinearization: keys.relinearization,
        };
        let b = BfvCrtBackend::generate(&rlwe, &primes, &spec).expect("backend");
        let x: Vec<i128> = SmallInts::new(9).vec(64, 4);
        let want = net.forward(&x).expect("forward");
        let ct = encrypt_vector(&b.encryptor, p.input.clone(), &x).expect("encrypt");
        let out = execute(&b.evaluator, &net, &p, ct, |_, _, _, _| {}).expect("execute");
        let measured = out
            .cts
            .iter()
            .map(|c| b.encryptor.noise_budget(c).unwrap())
            .min()
            .unwrap_or(0);
        let got = decrypt_vector(&b.encryptor, &out).expect("decrypt");
        if limbs == 1 {
            assert!(estimate < 0.0, "estimate {estimate} should refuse one limb");
            assert_eq!(measured, 0);
            assert_ne!(got, want, "one limb cannot decrypt correctly");
        } else {
            assert!(
                estimate > 0.0,
                "estimate {estimate} should accept four limbs"
            );
            assert!(f64::from(measured) >= estimate, "{measured} < {estimate}");
            assert_eq!(got, want);
        }
    }
}

/// Many threads encrypting at once with one backend (as the service's clients and the
/// server's workers do) neither deadlock nor mix up randomness: every ciphertext decrypts to
/// its own input. The encryptors once held a lock across their rayon jobs, which hung as
/// soon as more threads than rayon workers encrypted concurrently.
#[test]
fn concurrent_encryptions_complete_and_decrypt() {
    let rlwe = small_rlwe();
    let spec = KeySpec {
        rotation_steps: vec![],
        row_swap: false,
        relinearization: false,
    };
    let b = Arc::new(BfvCrtBackend::generate(&rlwe, &primes(), &spec).expect("backend"));
    let threads: Vec<_> = (0..16i128)
        .map(|j| {
            let b = b.clone();
            std::thread::spawn(move || {
                (0..16i128).all(|k| {
                    let x: Vec<i128> = (0..b.encryptor.slots() as i128)
                        .map(|i| i * j - k)
                        .collect();
                    let pt = b
                        .encryptor
                        .encode(&x, b.encryptor.max_level())
                        .expect("encode");
                    let ct = b.encryptor.encrypt(&pt).expect("encrypt");
                    let seeded = b
                        .evaluator
                        .expand_seeded(&b.encryptor.encrypt_seeded(&pt).expect("seeded"));
                    let y = b
                        .encryptor
                        .decode(&b.encryptor.decrypt(&ct).expect("dec"))
                        .expect("decode");
                    let z = b
                        .encryptor
                        .decode(&b.encryptor.decrypt(&seeded.expect("expand")).expect("dec"))
                        .expect("decode");
                    (x == y) && (x == z)
                })
            })
        })
        .collect();
    // A deadlock fails the test instead of hanging it.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ok = threads.into_iter().all(|t| t.join().unwrap_or(false));
        let _ = done.send(ok);
    });
    let ok = finished
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("concurrent encryptions deadlocked");
    assert!(ok, "a ciphertext decrypted wrongly");
}
