//! End-to-end CKKS tests: every operation decrypts to the clear computation within an explicit
//! tolerance. Small insecure parameters (n = 1024) unless the test name says 128-bit.

use henn_he::ckks::{
    self, Ciphertext, CkksParameters, CkksParametersBuilder, Complex64, Decryptor, Encoder,
    Encryptor, Evaluator,
};
use henn_he::rlwe::{GaloisKeys, KeyGenerator, RelinearizationKey};
use henn_he::HeError;
use std::sync::Arc;

/// Tolerance of a fresh encryption at `Δ = 2^40`, n = 1024: CKKS17 Lemma 1's
/// high-probability bound on the fresh error in the canonical embedding,
/// `B_clean = 8√2·σ·n + 6σ√n + 16σ√(h·n)` (σ = 3.2, `h <= n` the secret's weight), over `Δ`
/// (2^-23.5 here; the measured error is about 2^-27).
const FRESH: f64 = 1.0 / (1u64 << 23) as f64;

/// `B_clean / Δ` of CKKS17 Lemma 1 for degree `n`, with `h = n`.
fn fresh_bound(n: usize, scale: f64) -> f64 {
    let (n, sigma) = (n as f64, 3.2);
    (8.0 * 2f64.sqrt() * sigma * n + 6.0 * sigma * n.sqrt() + 16.0 * sigma * n) / scale
}
/// Tolerance after one product and rescale: the task's requirement of 20 bits of precision.
const AFTER_MUL: f64 = 1.0 / (1u64 << 20) as f64;

struct Setup {
    params: Arc<CkksParameters>,
    keygen: KeyGenerator,
    rlk: RelinearizationKey,
    encryptor: Encryptor,
    decryptor: Decryptor,
    eval: Evaluator,
}

fn setup(params: Arc<CkksParameters>) -> Setup {
    let mut keygen = KeyGenerator::new(params.rlwe());
    let pk = keygen.public_key();
    let rlk = keygen.relinearization_key();
    let encryptor = Encryptor::with_public_key(&params, &pk);
    let decryptor = Decryptor::new(&params, keygen.secret_key());
    let eval = Evaluator::new(&params);
    Setup {
        params,
        keygen,
        rlk,
        encryptor,
        decryptor,
        eval,
    }
}

fn small_params() -> Arc<CkksParameters> {
    CkksParametersBuilder::new()
        .log_n(10)
        .q_bits(&[50, 40, 40, 40])
        .p_bits(&[51])
        .log_scale(40)
        .insecure_build()
        .unwrap()
}

/// Deterministic test vectors in the unit disc (SplitMix64).
fn values(seed: u64, len: usize) -> Vec<Complex64> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..len)
        .map(|_| Complex64::new(next(), next()) * 0.7)
        .collect()
}

fn max_error(expected: &[Complex64], got: &[Complex64]) -> f64 {
    assert_eq!(expected.len(), got.len());
    expected
        .iter()
        .zip(got)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max)
}

fn assert_close(what: &str, expected: &[Complex64], got: &[Complex64], tolerance: f64) {
    let err = max_error(expected, got);
    assert!(
        err < tolerance,
        "{what}: max error {err:e} (2^{:.1}) above {tolerance:e}",
        err.log2()
    );
}

impl Setup {
    fn encrypt(&mut self, z: &[Complex64]) -> Ciphertext {
        self.encryptor.encrypt_values(z).unwrap()
    }

    fn decrypt(&self, ct: &Ciphertext) -> Vec<Complex64> {
        self.decryptor.decrypt_values(ct).unwrap()
    }

    fn galois_keys(&mut self, steps: &[i64], conjugate: bool) -> GaloisKeys {
        let elements = ckks::galois_elements(&self.params, steps, conjugate).unwrap();
        self.keygen.galois_keys(&elements).unwrap()
    }
}

#[test]
fn public_and_secret_key_encryption_decrypt_to_the_message() {
    let mut s = setup(small_params());
    assert!(FRESH > fresh_bound(1024, s.params.default_scale()));
    let z = values(1, s.params.slots());
    let ct = s.encrypt(&z);
    assert_eq!(ct.level(), s.params.max_level());
    assert_eq!(ct.scale(), s.params.default_scale());
    assert_close("pk encryption", &z, &s.decrypt(&ct), FRESH);

    let sk_encryptor = Encryptor::with_secret_key(&s.params, s.keygen.secret_key());
    let ct = sk_encryptor.encrypt_values(&z).unwrap();
    assert_close("sk encryption", &z, &s.decrypt(&ct), FRESH);

    // A plaintext at a lower level and another scale encrypts at that level and scale.
    let encoder = Encoder::new(&s.params);
    let pt = encoder.encode(&z, 1, 2f64.powi(35)).unwrap();
    let ct = s.encryptor.encrypt(&pt).unwrap();
    assert_eq!((ct.level(), ct.scale()), (1, 2f64.powi(35)));
    assert_close("level-1 encryption", &z, &s.decrypt(&ct), 32.0 * FRESH);
    // decrypt → decode equals decrypt_values.
    let decoded = encoder.decode(&s.decryptor.decrypt(&ct).unwrap()).unwrap();
    assert_close("decrypt+decode", &s.decrypt(&ct), &decoded, 1e-12);
}

#[test]
fn a_wrong_key_does_not_decrypt() {
    let mut s = setup(small_params());
    let z = values(2, s.params.slots());
    let ct = s.encrypt(&z);
    let other = KeyGenerator::new(s.params.rlwe());
    let wrong = Decryptor::new(&s.params, other.secret_key());
    assert!(max_error(&z, &wrong.decrypt_values(&ct).unwrap()) > 1.0);
}

#[test]
fn additions_subtractions_and_constants() {
    let mut s = setup(small_params());
    let n = s.params.slots();
    let (a, b) = (values(3, n), values(4, n));
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let sum: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let diff: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert_close(
        "ct + ct",
        &sum,
        &s.decrypt(&s.eval.add(&ca, &cb).unwrap()),
        FRESH,
    );
    assert_close(
        "ct - ct",
        &diff,
        &s.decrypt(&s.eval.sub(&ca, &cb).unwrap()),
        FRESH,
    );
    let neg: Vec<Complex64> = a.iter().map(|x| -x).collect();
    assert_close("-ct", &neg, &s.decrypt(&s.eval.negate(&ca).unwrap()), FRESH);

    let encoder = Encoder::new(&s.params);
    let pb = encoder
        .encode(&b, s.params.max_level(), ca.scale())
        .unwrap();
    assert_close(
        "ct + pt",
        &sum,
        &s.decrypt(&s.eval.add_plain(&ca, &pb).unwrap()),
        FRESH,
    );
    assert_close(
        "ct - pt",
        &diff,
        &s.decrypt(&s.eval.sub_plain(&ca, &pb).unwrap()),
        FRESH,
    );

    let plus: Vec<Complex64> = a.iter().map(|x| x + 2.5).collect();
    assert_close(
        "ct + 2.5",
        &plus,
        &s.decrypt(&s.eval.add_real(&ca, 2.5).unwrap()),
        FRESH,
    );
    let times: Vec<Complex64> = a.iter().map(|x| x * -3.0).collect();
    let ct = s.eval.mul_integer(&ca, -3).unwrap();
    assert_eq!(ct.scale(), ca.scale());
    assert_close("ct * -3", &times, &s.decrypt(&ct), 3.0 * FRESH);

    // Adding operands at different levels works at the lower level.
    let low = s.eval.drop_to_level(&cb, 1).unwrap();
    let mixed = s.eval.add(&ca, &low).unwrap();
    assert_eq!(mixed.level(), 1);
    assert_close("ct + ct(level 1)", &sum, &s.decrypt(&mixed), FRESH);
}

#[test]
fn plaintext_and_real_products_with_rescale() {
    let mut s = setup(small_params());
    let n = s.params.slots();
    let (a, b) = (values(5, n), values(6, n));
    let ca = s.encrypt(&a);
    let prod: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let pb = Encoder::new(&s.params)
        .encode(&b, ca.level(), s.params.default_scale())
        .unwrap();
    let ct = s.eval.mul_plain(&ca, &pb).unwrap();
    assert_eq!(ct.scale(), ca.scale() * pb.scale());
    let ct = s.eval.rescale(&ct).unwrap();
    assert_eq!(ct.level(), ca.level() - 1);
    assert_close("ct * pt, rescaled", &prod, &s.decrypt(&ct), AFTER_MUL);

    // In place: acc += ca · pb, acc += ca · pc equals the two allocating products summed,
    // polynomial for polynomial, and a plaintext above the level is read at the level.
    let c = values(7, n);
    let pc = Encoder::new(&s.params)
        .encode(&c, ca.level(), s.params.default_scale())
        .unwrap();
    let mut acc = s.eval.mul_plain(&ca, &pb).unwrap();
    s.eval.mul_plain_accumulate(&mut acc, &ca, &pc).unwrap();
    let want = s
        .eval
        .add(
            &s.eval.mul_plain(&ca, &pb).unwrap(),
            &s.eval.mul_plain(&ca, &pc).unwrap(),
        )
        .unwrap();
    assert_eq!(acc.rlwe(), want.rlwe());
    let mut twice = s.eval.mul_plain(&ca, &pb).unwrap();
    s.eval
        .add_assign(&mut twice, &s.eval.mul_plain(&ca, &pc).unwrap())
        .unwrap();
    assert_eq!(twice.rlwe(), want.rlwe());
    let low = s.eval.drop_to_level(&ca, ca.level() - 1).unwrap();
    let mut acc_low = s.eval.mul_plain(&low, &pb).unwrap();
    s.eval
        .mul_plain_accumulate(&mut acc_low, &low, &pc)
        .unwrap();
    let sum: Vec<Complex64> = a
        .iter()
        .zip(&b)
        .zip(&c)
        .map(|((x, y), z)| x * y + x * z)
        .collect();
    let acc_low = s.eval.rescale(&acc_low).unwrap();
    assert_close(
        "ct * pt accumulated, rescaled",
        &sum,
        &s.decrypt(&acc_low),
        2.0 * AFTER_MUL,
    );
    // Mismatched levels and scales are errors, not panics.
    assert!(s
        .eval
        .mul_plain_accumulate(&mut acc_low.clone(), &ca, &pc)
        .is_err());
    assert!(s
        .eval
        .mul_plain_accumulate(&mut ca.clone(), &ca, &pc)
        .is_err());
    assert!(s.eval.add_assign(&mut ca.clone(), &low).is_err());

    // mul_real encodes the constant at scale q_l, so rescaling restores the scale exactly.
    let ct = s.eval.rescale(&s.eval.mul_real(&ca, 0.3).unwrap()).unwrap();
    assert_eq!(ct.scale(), ca.scale());
    let expected: Vec<Complex64> = a.iter().map(|x| x * 0.3).collect();
    assert_close("ct * 0.3, rescaled", &expected, &s.decrypt(&ct), AFTER_MUL);
}

#[test]
fn ciphertext_product_keeps_20_bits_after_rescale_and_goes_to_depth_3() {
    let mut s = setup(small_params());
    let n = s.params.slots();
    let (a, b) = (values(7, n), values(8, n));
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let prod: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let ct = s.eval.multiply(&ca, &cb, &s.rlk).unwrap();
    assert_eq!(ct.len(), 2);
    let ct = s.eval.rescale(&ct).unwrap();
    let scale = s.params.default_scale();
    let q_top = s.params.q_moduli()[s.params.max_level()] as f64;
    assert_eq!(ct.scale(), scale * scale / q_top);
    let err = max_error(&prod, &s.decrypt(&ct));
    assert!(err < AFTER_MUL, "error {err:e} = 2^{:.1}", err.log2());

    // a^8 by three squarings: all three rescaling primes used, level 0 reached.
    let mut x = ca.clone();
    for _ in 0..3 {
        x = s.eval.mul_and_rescale(&x, &x, &s.rlk).unwrap();
    }
    assert_eq!(x.level(), 0);
    let a8: Vec<Complex64> = a.iter().map(|v| v.powu(8)).collect();
    assert_close("a^8", &a8, &s.decrypt(&x), AFTER_MUL);
    assert!(matches!(
        s.eval.rescale(&x),
        Err(HeError::LevelTooLow {
            operation: "rescale",
            ..
        })
    ));

    // Three-polynomial ciphertexts decrypt too, and relinearize to the same message.
    let raw = s.eval.mul_without_relinearization(&ca, &cb).unwrap();
    assert_eq!(raw.len(), 3);
    let direct = s.decrypt(&s.eval.rescale(&raw).unwrap());
    assert_close("unrelinearized product", &prod, &direct, AFTER_MUL);
}

#[test]
fn rotations_and_conjugation_permute_slots() {
    let mut s = setup(small_params());
    let n = s.params.slots();
    let steps = [1i64, 2, 7, -1, -100, 300];
    let gk = s.galois_keys(&steps, true);
    let z = values(9, n);
    let ct = s.encrypt(&z);
    let rotate = |k: i64| -> Vec<Complex64> {
        (0..n)
            .map(|j| z[(j as i64 + k).rem_euclid(n as i64) as usize])
            .collect()
    };
    for &k in &steps {
        let rotated = s.eval.rotate(&ct, k, &gk).unwrap();
        assert_close(
            &format!("rotate {k}"),
            &rotate(k),
            &s.decrypt(&rotated),
            FRESH,
        );
    }
    let hoisted = s.eval.rotate_hoisted(&ct, &steps, &gk).unwrap();
    for (&k, rotated) in steps.iter().zip(&hoisted) {
        assert_close(
            &format!("hoisted rotate {k}"),
            &rotate(k),
            &s.decrypt(rotated),
            FRESH,
        );
    }
    let conj: Vec<Complex64> = z.iter().map(|x| x.conj()).collect();
    assert_close(
        "conjugate",
        &conj,
        &s.decrypt(&s.eval.conjugate(&ct, &gk).unwrap()),
        FRESH,
    );
    // Real part via (z + conj z) / 2: the usual use of conjugation.
    let sum = s
        .eval
        .add(&ct, &s.eval.conjugate(&ct, &gk).unwrap())
        .unwrap();
    let real = s
        .eval
        .rescale(&s.eval.mul_real(&sum, 0.5).unwrap())
        .unwrap();
    let expected: Vec<Complex64> = z.iter().map(|x| Complex64::new(x.re, 0.0)).collect();
    assert_close("real part", &expected, &s.decrypt(&real), AFTER_MUL);
    // Rotation after a product and rescale (lower level).
    let sq = s.eval.mul_and_rescale(&ct, &ct, &s.rlk).unwrap();
    let squares: Vec<Complex64> = rotate(7).iter().map(|x| x * x).collect();
    assert_close(
        "rotate 7 of z^2",
        &squares,
        &s.decrypt(&s.eval.rotate(&sq, 7, &gk).unwrap()),
        AFTER_MUL,
    );
    // A missing key is a clear error.
    assert!(matches!(
        s.eval.rotate(&ct, 3, &gk),
        Err(HeError::MissingGaloisKey(_))
    ));
}

#[test]
fn mismatched_scales_and_bad_levels_are_errors() {
    let mut s = setup(small_params());
    let z = values(10, 8);
    let ct = s.encrypt(&z);
    let sq = s.eval.mul_and_rescale(&ct, &ct, &s.rlk).unwrap();
    // Δ²/q_L is close to but not exactly Δ.
    assert!(matches!(
        s.eval.add(&ct, &sq),
        Err(HeError::ScaleMismatch {
            operation: "addition",
            ..
        })
    ));
    let pt = Encoder::new(&s.params)
        .encode(&z, 1, 2f64.powi(30))
        .unwrap();
    assert!(matches!(
        s.eval.add_plain(&ct, &pt),
        Err(HeError::ScaleMismatch { .. })
    ));
    assert!(matches!(
        Encoder::new(&s.params).encode(&z, 9, 2f64.powi(30)),
        Err(HeError::InvalidLevel { level: 9, .. })
    ));
    assert!(matches!(
        s.eval.drop_to_level(&sq, 3),
        Err(HeError::LevelTooLow { .. })
    ));
    assert!(matches!(
        s.eval.mul_real(&ct, f64::INFINITY),
        Err(HeError::InvalidConstant { .. })
    ));
    // A ciphertext of another ring degree is rejected, not a panic.
    let other = setup(
        CkksParametersBuilder::new()
            .log_n(11)
            .q_bits(&[50, 40, 40, 40])
            .p_bits(&[51])
            .insecure_build()
            .unwrap(),
    );
    assert!(matches!(
        other.eval.add(&ct, &ct),
        Err(HeError::LengthMismatch { .. })
    ));
    assert!(matches!(
        other.decryptor.decrypt_values(&ct),
        Err(HeError::LengthMismatch { .. })
    ));
    // set_scale reinterprets: after it, the addition is accepted.
    let mut relabelled = sq.clone();
    relabelled.set_scale(ct.scale()).unwrap();
    assert!(matches!(
        relabelled.clone().set_scale(f64::NAN),
        Err(HeError::InvalidScale { .. })
    ));
    assert!(s.eval.add(&ct, &relabelled).is_ok());
}

#[test]
fn sparse_slots_encrypt_multiply_and_rotate() {
    let params = CkksParametersBuilder::new()
        .log_n(10)
        .q_bits(&[50, 40])
        .p_bits(&[51])
        .log_scale(40)
        .slots(64)
        .insecure_build()
        .unwrap();
    let mut s = setup(params);
    assert_eq!(s.params.slots(), 64);
    let gk = s.galois_keys(&[5], false);
    let z = values(11, 64);
    let ct = s.encrypt(&z);
    let sq = s.eval.mul_and_rescale(&ct, &ct, &s.rlk).unwrap();
    let rotated = s.eval.rotate(&sq, 5, &gk).unwrap();
    let expected: Vec<Complex64> = (0..64).map(|j| z[(j + 5) % 64] * z[(j + 5) % 64]).collect();
    assert_close(
        "sparse rotate of square",
        &expected,
        &s.decrypt(&rotated),
        AFTER_MUL,
    );
}

#[test]
fn preset_128bit_logn13_multiplies_rescales_and_rotates() {
    let params = CkksParametersBuilder::preset(ckks::CKKS_128BIT_LOGN13_LOGQP218)
        .build()
        .unwrap();
    assert!(params.rlwe().is_secure());
    assert_eq!(params.slots(), 4096);
    let mut s = setup(params);
    let gk = s.galois_keys(&[1, -3], true);
    let (a, b) = (values(12, 4096), values(13, 4096));
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let bound = fresh_bound(8192, s.params.default_scale());
    assert_close("fresh (n = 8192)", &a, &s.decrypt(&ca), bound);
    let prod = s.eval.mul_and_rescale(&ca, &cb, &s.rlk).unwrap();
    let expected: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let err = max_error(&expected, &s.decrypt(&prod));
    assert!(
        err < AFTER_MUL,
        "n = 8192 product: error 2^{:.1}",
        err.log2()
    );
    let rotated = s.eval.rotate_hoisted(&prod, &[1, -3], &gk).unwrap();
    for (k, ct) in [1i64, -3].iter().zip(&rotated) {
        let e: Vec<Complex64> = (0..4096)
            .map(|j| expected[(j as i64 + k).rem_euclid(4096) as usize])
            .collect();
        assert_close("n = 8192 rotation", &e, &s.decrypt(ct), AFTER_MUL);
    }
    let conj: Vec<Complex64> = expected.iter().map(|x| x.conj()).collect();
    assert_close(
        "n = 8192 conjugation",
        &conj,
        &s.decrypt(&s.eval.conjugate(&prod, &gk).unwrap()),
        AFTER_MUL,
    );
}

/// Prints the measured precision (run with `--nocapture`); asserts the documented bounds.
#[test]
fn precision_report() {
    let mut s = setup(small_params());
    let n = s.params.slots();
    let (a, b) = (values(14, n), values(15, n));
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let fresh = max_error(&a, &s.decrypt(&ca));
    let prod: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let mul = max_error(
        &prod,
        &s.decrypt(&s.eval.mul_and_rescale(&ca, &cb, &s.rlk).unwrap()),
    );
    eprintln!(
        "n = 1024, Δ = 2^40: fresh error 2^{:.1}, after mul+rescale 2^{:.1} (max over {n} slots)",
        fresh.log2(),
        mul.log2()
    );
    assert!(fresh < FRESH && mul < AFTER_MUL);
}

#[test]
fn preset_128bit_logn14_goes_through_all_eight_levels() {
    let params = CkksParametersBuilder::preset(ckks::CKKS_128BIT_LOGN14_LOGQP438)
        .build()
        .unwrap();
    assert!(params.rlwe().is_secure());
    assert_eq!(params.max_level(), 8);
    let mut s = setup(params);
    // Points on the unit circle keep |z^k| = 1 through the whole chain.
    let z: Vec<Complex64> = values(16, 8192)
        .iter()
        .map(|v| Complex64::from_polar(1.0, v.re * std::f64::consts::PI))
        .collect();
    let x = s.encrypt(&z);
    let mut y = x.clone();
    for power in 2..=9 {
        y = s.eval.mul_and_rescale(&y, &x, &s.rlk).unwrap();
        assert_eq!(y.level(), 9 - power);
    }
    // Each product by a fresh |x| = 1 adds x's fresh error (rescaling and key-switching terms
    // are far smaller), so err(z^9) <= 9·B_clean/Δ (2^-16.4 here; measured about 2^-19).
    let z9: Vec<Complex64> = z.iter().map(|v| v.powu(9)).collect();
    let err = max_error(&z9, &s.decrypt(&y));
    let bound = 9.0 * fresh_bound(16384, s.params.default_scale());
    assert!(err < bound, "z^9 at level 0: error 2^{:.1}", err.log2());
}
