//! CKKS bootstrapping at the insecure test parameters `BOOTSTRAP_LOGN10_INSECURE_TEST`: each
//! building block against its clear counterpart, then full bootstrapping.

use henn_he::ckks::bootstrapping::{
    dft, mod_raise, Bootstrapper, BootstrappingKeys, BootstrappingParameters,
    EncodedLinearTransform, EvalModPolynomial, LinearTransform, BOOTSTRAP_LOGN10_INSECURE_TEST,
};
use henn_he::ckks::{
    galois_elements, Ciphertext, CkksEncoder, Complex64, Decryptor, Encoder, Encryptor, Evaluator,
};
use henn_he::rlwe::{KeyGenerator, SecretKey};
use henn_ring::sampler;
use std::sync::{Arc, OnceLock};

struct Fixture {
    params: BootstrappingParameters,
    sk: SecretKey,
    bootstrapper: Bootstrapper,
    keys: Arc<BootstrappingKeys>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let params = BootstrappingParameters::new(BOOTSTRAP_LOGN10_INSECURE_TEST).unwrap();
        let keygen = KeyGenerator::new(params.ckks().rlwe());
        let sk = keygen.secret_key().clone();
        let keys = Arc::new(BootstrappingKeys::generate(&params, &sk).unwrap());
        let bootstrapper = Bootstrapper::new(&params, keys.clone()).unwrap();
        Fixture {
            params,
            sk,
            bootstrapper,
            keys,
        }
    })
}

/// Deterministic pseudo-random values in [-1, 1] (splitmix64), so failures reproduce.
fn values(seed: u64, count: usize) -> Vec<f64> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x = x.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

fn complex_values(seed: u64, count: usize) -> Vec<Complex64> {
    let v = values(seed, 2 * count);
    (0..count)
        .map(|i| Complex64::new(v[2 * i], v[2 * i + 1]))
        .collect()
}

/// (mean, min) bits of precision: -log2 of the error per slot (both parts).
fn precision(got: &[Complex64], want: &[Complex64]) -> (f64, f64) {
    let bits: Vec<f64> = got
        .iter()
        .zip(want)
        .flat_map(|(g, w)| [(g.re - w.re).abs(), (g.im - w.im).abs()])
        .map(|e| -(e.max(1e-300)).log2())
        .collect();
    let mean = bits.iter().sum::<f64>() / bits.len() as f64;
    let min = bits.iter().copied().fold(f64::INFINITY, f64::min);
    (mean, min)
}

#[test]
fn dft_factors_match_the_encoder() {
    let f = fixture();
    let ckks = f.params.ckks();
    let (n, slots) = (ckks.degree(), ckks.slots());
    let encoder = CkksEncoder::new(n).unwrap();
    let w = complex_values(1, slots);
    // Clear CoeffsToSlots (factor 1): BR · U^{-1}(w), against the encoder's interpolation.
    let scale = 2f64.powi(50);
    let coeffs = encoder.encode_to_f64(&w, scale).unwrap();
    let z: Vec<Complex64> = (0..slots)
        .map(|k| Complex64::new(coeffs[k] / scale, coeffs[k + n / 2] / scale))
        .collect();
    let mut x = w.clone();
    for t in dft::coeffs_to_slots(n, slots, 3, 1.0) {
        x = t.apply(&x).unwrap();
    }
    let want = dft::bit_reverse(&z);
    let (_, min) = precision(&x, &want);
    assert!(min > 40.0, "CoeffsToSlots factors: {min} bits");
    // Clear SlotsToCoeffs (factor 1) of the bit-reversed packing gives back the slots.
    let mut y = want.clone();
    for t in dft::slots_to_coeffs(n, slots, 3, 1.0) {
        y = t.apply(&y).unwrap();
    }
    let (_, min) = precision(&y, &w);
    assert!(min > 35.0, "SlotsToCoeffs factors: {min} bits");
    // Each merged factor is sparse: at most 2^{k+1} - 1 diagonals for k stages.
    for t in dft::coeffs_to_slots(n, slots, 3, 1.0) {
        assert!(t.diagonals().len() <= 15, "{}", t.diagonals().len());
    }
}

#[test]
fn homomorphic_linear_transform_matches_clear() {
    let f = fixture();
    let ckks = f.params.ckks();
    let slots = ckks.slots();
    let mut t = LinearTransform::zero(slots);
    let v = complex_values(7, 6 * slots);
    for (d, offset) in [0i64, 1, 3, 16, -5, 200].iter().enumerate() {
        for row in 0..slots {
            t.add_entry(row, *offset, v[d * slots + row]);
        }
    }
    let top = ckks.max_level();
    let encoded = EncodedLinearTransform::new(ckks, &t, top).unwrap();
    let mut keygen_rng = sampler::os_rng();
    let gk = henn_he::rlwe::GaloisKeys::generate(
        &f.sk,
        &galois_elements(ckks, &encoded.rotations(), false).unwrap(),
        &mut keygen_rng,
    )
    .unwrap();
    let x = complex_values(8, slots);
    let enc = Encryptor::with_secret_key(ckks, &f.sk);
    let ct = enc.encrypt_values(&x).unwrap();
    let out = encoded.evaluate(&Evaluator::new(ckks), &ct, &gk).unwrap();
    assert_eq!(out.level(), top - 1);
    assert!((out.scale() - ct.scale()).abs() < 1e-6 * ct.scale());
    let got = Decryptor::new(ckks, &f.sk).decrypt_values(&out).unwrap();
    let want = t.apply(&x).unwrap();
    let (_, min) = precision(&got, &want);
    assert!(min > 25.0, "linear transform: {min} bits");
}

#[test]
fn mod_raise_adds_a_small_multiple_of_q0() {
    let f = fixture();
    let ckks = f.params.ckks();
    let x = complex_values(3, ckks.slots());
    let pt = Encoder::new(ckks)
        .encode(&x, 0, ckks.default_scale())
        .unwrap();
    let ct = Encryptor::with_secret_key(ckks, &f.sk)
        .encrypt(&pt)
        .unwrap();
    let top = ckks.max_level();
    let raised = mod_raise(ckks, &ct, top).unwrap();
    assert_eq!(raised.level(), top);
    let basis = ckks.rlwe().q_basis();
    let n = ckks.degree();
    let dec = Decryptor::new(ckks, &f.sk);
    let mut low = dec.decrypt(&ct).unwrap().poly().clone();
    low.ntt_backward(basis);
    let mut high = dec.decrypt(&raised).unwrap().poly().clone();
    high.ntt_backward(basis);
    let q0 = *basis.modulus(0);
    let centered: Vec<i64> = low.limb(0).iter().map(|&v| q0.center(v)).collect();
    // (raised - phase_0) ≡ q_0·I (mod q_i) with the same small I in every limb.
    let mut max_i = 0i64;
    let mut first: Vec<i64> = Vec::new();
    for i in 1..=top {
        let m = *basis.modulus(i);
        let inv = m.inv(m.reduce(q0.value())).unwrap();
        let is: Vec<i64> = (0..n)
            .map(|k| {
                let d = m.sub(high.limb(i)[k], m.reduce_i64(centered[k]));
                m.center(m.mul(d, inv))
            })
            .collect();
        if i == 1 {
            first = is.clone();
        } else {
            assert_eq!(is, first, "limb {i}");
        }
        max_i = max_i.max(is.iter().map(|v| v.abs()).max().unwrap());
    }
    // dense ternary secret: |I| <= (1 + ‖s‖_1)/2 <= (n + 1)/2
    assert!(max_i <= (n as i64 + 1) / 2, "I = {max_i}");
    assert!(max_i > 0, "I must not vanish for a uniform c_1");
}

#[test]
fn encapsulated_mod_raise_has_sparse_overflow() {
    let f = fixture();
    let ckks = f.params.ckks();
    let x = complex_values(4, ckks.slots());
    let pt = Encoder::new(ckks)
        .encode(&x, 0, ckks.default_scale())
        .unwrap();
    let ct = Encryptor::with_secret_key(ckks, &f.sk)
        .encrypt(&pt)
        .unwrap();
    let raised = f.bootstrapper.mod_raise(&ct).unwrap();
    // Decrypting the raised ciphertext modulo q_1 (not q_0): t = m' + q_0·I; |I| < K.
    let basis = ckks.rlwe().q_basis();
    let dec = Decryptor::new(ckks, &f.sk);
    let mut high = dec.decrypt(&raised).unwrap().poly().clone();
    high.ntt_backward(basis);
    let mut low = dec.decrypt(&ct).unwrap().poly().clone();
    low.ntt_backward(basis);
    let (q0, q1) = (*basis.modulus(0), *basis.modulus(1));
    let factor = (f.params.input_scale() / ckks.default_scale()).round() as i64;
    let inv = q1.inv(q1.reduce(q0.value())).unwrap();
    let k = f.params.preset().k as i64;
    let mut max_i = 0;
    for j in 0..ckks.degree() {
        let m = q0.center(low.limb(0)[j]) * factor; // scaled message (+ small noise)
        let d = q1.sub(high.limb(1)[j], q1.reduce_i64(m));
        // d = q_0·I + (key-switching noise, far below q_0): round to the multiple of q_0.
        let dc = q1.center(d) as i128;
        let i = ((dc as f64) / q0.value() as f64).round() as i64;
        let _ = inv;
        max_i = max_i.max(i.abs());
    }
    assert!(max_i < k, "overflow {max_i} >= K = {k}");
}

#[test]
fn eval_mod_matches_the_clear_polynomial() {
    let f = fixture();
    let ckks = f.params.ckks();
    let start = f.params.eval_mod_start_level();
    let scale = ckks.q_moduli()[start] as f64;
    let y: Vec<f64> = values(5, ckks.slots()).iter().map(|v| v * 0.95).collect();
    let pt = Encoder::new(ckks).encode_real(&y, start, scale).unwrap();
    let ct = Encryptor::with_secret_key(ckks, &f.sk)
        .encrypt(&pt)
        .unwrap();
    let out = f.bootstrapper.eval_mod(&ct).unwrap();
    let poly = EvalModPolynomial::new(
        f.params.preset().k as f64,
        f.params.preset().sine_degree,
        f.params.preset().double_angle,
    );
    assert_eq!(out.level(), start - poly.depth());
    let got = Decryptor::new(ckks, &f.sk).decrypt_values(&out).unwrap();
    let want: Vec<Complex64> = y
        .iter()
        .map(|&v| Complex64::new(poly.evaluate_clear(v), 0.0))
        .collect();
    let (mean, min) = precision(&got, &want);
    assert!(min > 25.0, "EvalMod: mean {mean}, min {min} bits");
}

fn bootstrap_once(f: &Fixture, ct: &Ciphertext) -> Ciphertext {
    f.bootstrapper.bootstrap(ct).unwrap()
}

#[test]
fn bootstrapping_recovers_random_complex_vectors() {
    let f = fixture();
    let ckks = f.params.ckks();
    let x = complex_values(11, ckks.slots());
    let pt = Encoder::new(ckks)
        .encode(&x, 0, ckks.default_scale())
        .unwrap();
    let ct = Encryptor::with_secret_key(ckks, &f.sk)
        .encrypt(&pt)
        .unwrap();
    let out = bootstrap_once(f, &ct);
    assert_eq!(out.level(), f.params.output_level());
    assert_eq!(out.scale(), ckks.default_scale());
    let got = Decryptor::new(ckks, &f.sk).decrypt_values(&out).unwrap();
    let (mean, min) = precision(&got, &x);
    eprintln!("bootstrap precision: mean {mean:.2} bits, min {min:.2} bits");
    assert!(mean > 20.0 && min > 15.0, "mean {mean}, min {min}");
    let _ = &f.keys;
}
