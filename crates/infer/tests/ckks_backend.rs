//! The CKKS backend against the clear computation: every backend operation, every kernel and
//! whole planned networks decrypt to the plain `f64` result within a stated error bound.
//!
//! Error bound (documented once): with `Δ ≈ 2^40`, `n = 2^11` and values of magnitude at most
//! a few units, fresh encryption, rescaling and key switching each add errors far below
//! `2^-20` per slot (CKKS17 Lemmas 1–3; see `henn_he::ckks::evaluator`). Kernels chain a
//! handful of such operations with weights of at most 8 in magnitude and sums of at most a few
//! hundred terms, so every slot must be within `TOL = 1e-5` of the clear result relative to
//! `max(1, |expected|)`, and whole networks within `1e-5` relative to the largest output.

use std::sync::Arc;

use henn_he::ckks::{CkksParameters, CkksParametersBuilder};
use henn_infer::backend::ckks::{
    chain_for_depth, parameters_for_depth, CkksBackend, KeySpec, PlaintextCache, MIN_LOG_SCALE,
    SPECIAL_PRIME_MARGIN_BITS,
};
use henn_infer::backend::clear::ClearBackend;
use henn_infer::backend::{BackendError, SlotEncoding, SlotEncryptor, SlotEvaluator};
use henn_infer::conv::{Conv2dGeometry, Padding};
use henn_infer::encrypted::{decrypt_vector, encrypt_vector};
use henn_infer::kernels::{bsgs, combine, convolution, elementwise, row_major, sparse, stacked};
use henn_infer::matrix::Matrix;
use henn_infer::network::{IntLayer, IntNetwork};
use henn_infer::plan::{execute, key_requirements, plan, Strategy};
use henn_infer::representation::{Convolution, Representation, SlotGeometry};

const TOL: f64 = 1e-5;

/// Insecure small test parameters: n = 2^11 (1024 slots), eight 40-bit rescaling primes.
fn params() -> Arc<CkksParameters> {
    CkksParametersBuilder::new()
        .log_n(11)
        .q_bits(&[50, 40, 40, 40, 40, 40, 40, 40, 40])
        .p_bits(&[58])
        .log_scale(40)
        .insecure_build()
        .expect("test parameters")
}

/// A backend with every power-of-two rotation (both signs), the BSGS steps used below and
/// the relinearization key.
fn backend() -> CkksBackend {
    let p = params();
    let half = p.slots();
    let mut steps = Vec::new();
    let mut s = 1;
    while s < half {
        steps.push(s);
        steps.push(half - s);
        s *= 2;
    }
    // Baby and giant steps of the BSGS kernels and the combine shifts below.
    steps.extend((3..64).chain((64..=256).step_by(8)));
    steps.extend([half - 3, half - 36, half - 72]);
    let spec = KeySpec {
        rotation_steps: steps,
        row_swap: false,
        relinearization: true,
    };
    CkksBackend::generate(&p, &spec).expect("backend")
}

/// Deterministic pseudo-random reals in `[-range, range]`.
fn reals(len: usize, seed: u64, range: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * range
        })
        .collect()
}

fn matrix(rows: usize, cols: usize, seed: u64) -> Matrix<f64> {
    Matrix::new(rows, cols, reals(rows * cols, seed, 1.0)).expect("matrix")
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}: slot {i}: {g} vs {w} (error {})",
            (g - w).abs()
        );
    }
}

fn rescaled(
    b: &CkksBackend,
    x: &henn_infer::encrypted::EncryptedVector<henn_he::ckks::Ciphertext>,
) -> henn_infer::encrypted::EncryptedVector<henn_he::ckks::Ciphertext> {
    elementwise::rescale(&b.evaluator, x).expect("rescale")
}

#[test]
fn backend_operations_match_clear_slots() {
    let b = backend();
    let n = b.encryptor.slots();
    assert_eq!((b.encryptor.rows(), b.encryptor.row_len()), (1, 1024));
    let top = b.encryptor.max_level();
    let x = reals(n, 1, 4.0);
    let y = reals(n, 2, 4.0);
    let w = reals(n, 3, 1.0);
    let dec = |c: &henn_he::ckks::Ciphertext| {
        b.encryptor
            .decode(&b.encryptor.decrypt(c).unwrap())
            .unwrap()
    };
    // Encode/decode round trip and encryption.
    assert_close(
        &b.encryptor
            .decode(&b.encryptor.encode(&x, top).unwrap())
            .unwrap(),
        &x,
        1e-9,
        "encode",
    );
    let cx = b
        .encryptor
        .encrypt(&b.encryptor.encode(&x, top).unwrap())
        .unwrap();
    let cy = b
        .encryptor
        .encrypt(&b.encryptor.encode(&y, top).unwrap())
        .unwrap();
    assert_eq!(b.encryptor.level(&cx), top);
    assert_close(&dec(&cx), &x, 1e-8, "encrypt");
    let sum: Vec<f64> = x.iter().zip(&y).map(|(a, c)| a + c).collect();
    assert_close(&dec(&b.evaluator.add(&cx, &cy).unwrap()), &sum, 1e-8, "add");
    let mut acc = cx.clone();
    b.evaluator.add_assign(&mut acc, &cy).unwrap();
    assert_close(&dec(&acc), &sum, 1e-8, "add_assign");
    let diff: Vec<f64> = x.iter().zip(&y).map(|(a, c)| a - c).collect();
    assert_close(
        &dec(&b.evaluator.sub(&cx, &cy).unwrap()),
        &diff,
        1e-8,
        "sub",
    );
    // Plaintext operands are encoded at the scale the operation needs.
    let pw = b.encryptor.encode(&w, top).unwrap();
    assert_close(
        &dec(&b.evaluator.add_plain(&cx, &pw).unwrap()),
        &x.iter().zip(&w).map(|(a, c)| a + c).collect::<Vec<_>>(),
        1e-8,
        "add_plain",
    );
    let xw: Vec<f64> = x.iter().zip(&w).map(|(a, c)| a * c).collect();
    let prod = b
        .evaluator
        .rescale(&b.evaluator.mul_plain(&cx, &pw).unwrap())
        .unwrap();
    assert_eq!(b.encryptor.level(&prod), top - 1);
    assert!(
        (prod.scale() / cx.scale() - 1.0).abs() < 1e-12,
        "ct x pt + rescale keeps the scale"
    );
    assert_close(&dec(&prod), &xw, 1e-7, "mul_plain");
    let scaled = b
        .evaluator
        .rescale(&b.evaluator.mul_scalar(&cx, -0.375).unwrap())
        .unwrap();
    assert_close(
        &dec(&scaled),
        &x.iter().map(|a| -0.375 * a).collect::<Vec<_>>(),
        1e-7,
        "mul_scalar",
    );
    let mut acc = b.evaluator.mul_scalar(&cx, 0.5).unwrap();
    b.evaluator
        .mul_scalar_add_assign(&mut acc, &cy, 0.25)
        .unwrap();
    assert_close(
        &dec(&b.evaluator.rescale(&acc).unwrap()),
        &x.iter()
            .zip(&y)
            .map(|(a, c)| 0.5 * a + 0.25 * c)
            .collect::<Vec<_>>(),
        1e-7,
        "mul_scalar_add_assign",
    );
    let xy: Vec<f64> = x.iter().zip(&y).map(|(a, c)| a * c).collect();
    assert_close(
        &dec(&b
            .evaluator
            .rescale(&b.evaluator.mul(&cx, &cy).unwrap())
            .unwrap()),
        &xy,
        1e-6,
        "mul",
    );
    let sq = b
        .evaluator
        .rescale(&b.evaluator.square(&cx).unwrap())
        .unwrap();
    assert_close(
        &dec(&sq),
        &x.iter().map(|a| a * a).collect::<Vec<_>>(),
        1e-6,
        "square",
    );
    // Rotations: left by k, negative right; hoisted equals one by one; 0 is a copy.
    let rot = |k: isize| -> Vec<f64> {
        (0..n)
            .map(|i| x[(i as isize + k).rem_euclid(n as isize) as usize])
            .collect()
    };
    for k in [1isize, 3, -1, -3, 512] {
        assert_close(
            &dec(&b.evaluator.rotate(&cx, k).unwrap()),
            &rot(k),
            1e-7,
            "rotate",
        );
    }
    let steps = [0isize, 1, 2, 5, 7, -1];
    let hoisted = b.evaluator.rotate_hoisted(&cx, &steps).unwrap();
    for (c, &k) in hoisted.iter().zip(&steps) {
        assert_close(&dec(c), &rot(k), 1e-7, "rotate_hoisted");
    }
    assert_close(
        &dec(&b.evaluator.swap_rows(&cx).unwrap()),
        &x,
        1e-8,
        "swap_rows is the identity",
    );
    // Levels: drop, mismatch is an error, exhaustion is an error.
    let low = b.evaluator.drop_level(&cx, 2).unwrap();
    assert_eq!(b.encryptor.level(&low), top - 2);
    assert_close(&dec(&low), &x, 1e-8, "drop_level");
    assert!(matches!(
        b.evaluator.add(&cx, &low),
        Err(BackendError::LevelMismatch { .. })
    ));
    assert!(matches!(
        b.evaluator.mul_plain(&low, &pw),
        Err(BackendError::LevelMismatch { .. })
    ));
    let bottom = b.evaluator.drop_level(&cx, top).unwrap();
    assert!(matches!(
        b.evaluator.rescale(&bottom),
        Err(BackendError::LevelsExhausted { .. })
    ));
    assert!(b.evaluator.drop_level(&cx, top + 1).is_err());
    // Bad inputs are errors, not panics.
    assert!(matches!(
        b.encryptor.encode(&vec![0.0; n + 1], top),
        Err(BackendError::TooManyValues { .. })
    ));
    assert!(b.encryptor.encode(&[f64::NAN], top).is_err());
    assert!(b.encryptor.encode(&[1.0], top + 1).is_err());
}

#[test]
fn seeded_encryption_round_trips_and_halves_the_upload() {
    let b = backend();
    let x = reals(b.encryptor.slots(), 9, 2.0);
    let pt = b.encryptor.encode(&x, b.encryptor.max_level()).unwrap();
    let seeded = b.encryptor.encrypt_seeded(&pt).unwrap();
    let ct = b.evaluator.expand_seeded(&seeded).unwrap();
    assert_close(
        &b.encryptor
            .decode(&b.encryptor.decrypt(&ct).unwrap())
            .unwrap(),
        &x,
        1e-8,
        "seeded",
    );
    let full = b.evaluator.ciphertext_bytes(&ct);
    let half = b.encryptor.seeded_bytes(&seeded);
    assert!(half * 2 < full + 100, "seeded {half} vs full {full}");
    assert!(b.evaluator.evaluation_key_bytes().unwrap() > 0);
}

#[test]
fn kernels_match_clear_arithmetic() {
    let b = backend();
    let g = SlotGeometry::of(&b.evaluator);
    let clear =
        ClearBackend::<f64>::new(1, b.encryptor.row_len(), b.encryptor.max_level()).unwrap();
    // Dense vector - row major (→ sparse), then sparse → dense and sparse column major.
    let (k, r) = (300, 7);
    let (w, v) = (matrix(r, k, 1), reals(k, 2, 1.0));
    let x = encrypt_vector(&b.encryptor, Representation::dense(k), &v).unwrap();
    let y = rescaled(&b, &row_major::row_major(&b.evaluator, &x, &w).unwrap());
    let wv = w.mul_vec(&v).unwrap();
    assert_close(
        &decrypt_vector(&b.encryptor, &y).unwrap(),
        &wv,
        TOL,
        "dense row major",
    );
    let w2 = matrix(40, r, 3);
    let z = rescaled(
        &b,
        &sparse::sparse_column_major(&b.evaluator, &y, &w2).unwrap(),
    );
    assert_close(
        &decrypt_vector(&b.encryptor, &z).unwrap(),
        &w2.mul_vec(&wv).unwrap(),
        TOL,
        "sparse column major",
    );
    let d = rescaled(&b, &sparse::sparse_to_dense(&b.evaluator, &y).unwrap());
    assert_close(
        &decrypt_vector(&b.encryptor, &d).unwrap(),
        &wv,
        TOL,
        "sparse to dense",
    );

    // Stack, stacked vector - row major (→ interleaved), combine (mask), interleaved row major.
    let (k, r) = (100, 20);
    let (w, v) = (matrix(r, k, 4), reals(k, 5, 1.0));
    let x = encrypt_vector(&b.encryptor, Representation::dense(k), &v).unwrap();
    let (block, cpr, rows_used) = stacked::max_stacking(&b.evaluator, k, None).unwrap();
    let st = stacked::stack(&b.evaluator, &x, block, cpr, rows_used).unwrap();
    assert_close(
        &decrypt_vector(&b.encryptor, &st).unwrap(),
        &v,
        TOL,
        "stack",
    );
    let y = rescaled(
        &b,
        &stacked::stacked_row_major(&b.evaluator, &st, &w).unwrap(),
    );
    let wv = w.mul_vec(&v).unwrap();
    assert_close(
        &decrypt_vector(&b.encryptor, &y).unwrap(),
        &wv,
        TOL,
        "stacked row major",
    );
    assert!(combine::combine_multiplies(&y, &g));
    let one = rescaled(&b, &combine::combine(&b.evaluator, &y).unwrap());
    assert_eq!(one.cts.len(), 1);
    assert_close(
        &decrypt_vector(&b.encryptor, &one).unwrap(),
        &wv,
        TOL,
        "combine",
    );
    let w3 = matrix(3, r, 6);
    let out = rescaled(&b, &row_major::row_major(&b.evaluator, &one, &w3).unwrap());
    assert_close(
        &decrypt_vector(&b.encryptor, &out).unwrap(),
        &w3.mul_vec(&wv).unwrap(),
        TOL,
        "interleaved row major",
    );

    // Diagonal BSGS (hybrid and square), hoisted baby steps.
    for (r, k, d) in [(10, 60, 64), (64, 50, 64), (100, 200, 256)] {
        let (w, v) = (matrix(r, k, r as u64), reals(k, k as u64, 1.0));
        let x = encrypt_vector(&b.encryptor, Representation::dense(k), &v).unwrap();
        let st = stacked::stack(&b.evaluator, &x, d, b.encryptor.row_len() / d, 1).unwrap();
        let y = rescaled(
            &b,
            &bsgs::diagonal_bsgs(&b.evaluator, &st, &w, None).unwrap(),
        );
        assert_close(
            &decrypt_vector(&b.encryptor, &y).unwrap(),
            &w.mul_vec(&v).unwrap(),
            TOL,
            "bsgs",
        );
    }

    // Convolution representation, convolution row major, combine, bias, square.
    let geo = Conv2dGeometry {
        in_channels: 1,
        in_h: 12,
        in_w: 12,
        out_channels: 3,
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
    let weights = reals(3 * 9, 7, 1.0);
    let input = reals(geo.input_len(), 8, 1.0);
    let repr = Representation::Convolution(Convolution::conv2d(&geo).unwrap());
    let x = encrypt_vector(&b.encryptor, repr.clone(), &input).unwrap();
    let y = rescaled(
        &b,
        &convolution::convolution_row_major(&b.evaluator, &x, &weights, 3).unwrap(),
    );
    let direct = geo.apply(&weights, &input).unwrap();
    assert_close(
        &decrypt_vector(&b.encryptor, &y).unwrap(),
        &direct,
        TOL,
        "convolution",
    );
    let one = combine::combine(&b.evaluator, &y).unwrap();
    let bias = reals(direct.len(), 9, 1.0);
    let sq = rescaled(
        &b,
        &elementwise::square(
            &b.evaluator,
            &elementwise::add_bias(&b.evaluator, &one, &bias).unwrap(),
        )
        .unwrap(),
    );
    let want: Vec<f64> = direct
        .iter()
        .zip(&bias)
        .map(|(a, c)| (a + c) * (a + c))
        .collect();
    assert_close(
        &decrypt_vector(&b.encryptor, &sq).unwrap(),
        &want,
        TOL,
        "bias + square",
    );
    // The clear backend agrees on the same kernel (same code path, exact arithmetic).
    let xc = encrypt_vector(&clear, repr, &input).unwrap();
    let yc = convolution::convolution_row_major(&clear, &xc, &weights, 3).unwrap();
    assert_close(
        &decrypt_vector(&clear, &yc).unwrap(),
        &direct,
        1e-12,
        "clear convolution",
    );
}

/// conv (1×8×8 → 2 maps 3×3 stride 2, pad top/left 1) → square → dense 6 → square → dense 3,
/// real weights.
fn tiny_network(seed: u64) -> IntNetwork<f64> {
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
    let conv_out = g.output_len();
    IntNetwork {
        name: "tiny".into(),
        input_len: 64,
        layers: vec![
            IntLayer::Conv2d {
                geometry: g,
                weights: reals(18, seed, 0.5),
                bias: Some(reals(2, seed + 1, 0.5)),
            },
            IntLayer::Square,
            IntLayer::Dense {
                weights: Matrix::new(6, conv_out, reals(6 * conv_out, seed + 2, 0.3)).unwrap(),
                bias: Some(reals(6, seed + 3, 0.5)),
            },
            IntLayer::Square,
            IntLayer::Dense {
                weights: Matrix::new(3, 6, reals(18, seed + 4, 0.5)).unwrap(),
                bias: Some(reals(3, seed + 5, 0.5)),
            },
        ],
    }
}

fn run_network(strategy: Strategy, seed: u64) {
    let net = tiny_network(seed);
    let p = params();
    let geometry = SlotGeometry {
        rows: 1,
        row_len: p.slots(),
    };
    let pl = plan(&net, geometry, strategy).unwrap();
    assert!(pl.rescale);
    let keys = key_requirements(&net, &pl, p.max_level()).unwrap();
    let spec = KeySpec {
        rotation_steps: keys.rotation_steps.iter().copied().collect(),
        row_swap: keys.row_swap,
        relinearization: keys.relinearization,
    };
    let b = CkksBackend::generate(&p, &spec).unwrap();
    b.evaluator.set_plaintext_cache(PlaintextCache::Record);
    let zero = encrypt_vector(&b.encryptor, pl.input.clone(), &[0.0; 64]).unwrap();
    execute(&b.evaluator, &net, &pl, zero, |_, _, _, _| {}).unwrap();
    b.evaluator.set_plaintext_cache(PlaintextCache::Frozen);
    let prepared = b.evaluator.cached_plaintexts();
    assert!(prepared > 0);
    for i in 0..2 {
        let x = reals(64, seed * 10 + i, 1.0);
        let want = net.forward(&x).unwrap();
        let ct = encrypt_vector(&b.encryptor, pl.input.clone(), &x).unwrap();
        let out = execute(&b.evaluator, &net, &pl, ct, |_, _, _, _| {}).unwrap();
        let got = decrypt_vector(&b.encryptor, &out).unwrap();
        let largest = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= TOL * largest,
                "{strategy:?}: {got:?} vs {want:?}"
            );
        }
    }
    assert_eq!(b.evaluator.cached_plaintexts(), prepared);
}

#[test]
fn lola_plan_on_ckks_matches_the_real_forward_pass() {
    run_network(Strategy::LoLa, 1);
}

#[test]
fn lola_bsgs_plan_on_ckks_matches_the_real_forward_pass() {
    run_network(Strategy::LoLaBsgs, 2);
}

#[test]
fn chains_fit_the_security_bound_and_cover_the_largest_digit() {
    for log_n in 13u32..=15 {
        let bound = henn_he::rlwe::params::max_log_qp_128(log_n).unwrap();
        for depth in 1..=12 {
            let Ok(c) = chain_for_depth(log_n, depth, 6) else {
                continue;
            };
            assert_eq!(c.q_bits.len(), depth + 1);
            let total: u32 = c.q_bits.iter().chain(&c.p_bits).sum();
            assert!(total <= bound, "n = 2^{log_n}, depth {depth}: {c:?}");
            assert!(c.p_bits.iter().all(|&b| b <= 60));
            // P exceeds every digit (consecutive primes, the first digit the largest) by the
            // margin, so key switching adds little noise.
            let alpha = c.q_bits.len().div_ceil(c.dnum);
            let largest: u32 = c.q_bits[..alpha].iter().sum();
            let p: u32 = c.p_bits.iter().sum();
            assert!(p >= largest + SPECIAL_PRIME_MARGIN_BITS, "{c:?}");
            // Fewer digits only while the scale stays at or above the floor.
            assert!(
                c.dnum == c.q_bits.len() || c.log_scale >= MIN_LOG_SCALE,
                "{c:?}"
            );
            // Deep chains of small primes may run out of NTT-friendly primes: an error then.
            if let Ok(params) = parameters_for_depth(log_n, depth, 6) {
                assert_eq!(params.rlwe().dnum(), c.dnum);
                assert!(params.rlwe().log_qp_bits() <= bound);
            }
        }
    }
    // lola-mnist's depth 5 at n = 8192 takes three digits of two primes (scale 2^25).
    let c = chain_for_depth(13, 5, 6).unwrap();
    assert_eq!((c.dnum, c.log_scale), (3, 25));
    assert_eq!(parameters_for_depth(13, 5, 6).unwrap().rlwe().dnum(), 3);
    assert!(chain_for_depth(13, 30, 6).is_err());
}
