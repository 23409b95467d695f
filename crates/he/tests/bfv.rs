//! End-to-end BFV tests: every operation decrypts to the clear result exactly.

use henn_he::bfv::{
    self, BatchEncoder, BfvParameters, BfvParametersBuilder, Decryptor, Encryptor, Evaluator,
    PRESETS,
};
use henn_he::rlwe::{Ciphertext, GaloisKeys, KeyGenerator, PublicKey, RelinearizationKey};
use henn_he::HeError;
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

const T: u64 = 65537;

struct Ctx {
    params: Arc<BfvParameters>,
    keygen: KeyGenerator,
    pk: PublicKey,
    rlk: RelinearizationKey,
    gk: GaloisKeys,
    encoder: BatchEncoder,
}

fn build(q_bits: &[u32], p_bits: &[u32], dnum: usize, log_n: u32) -> Ctx {
    let params = BfvParametersBuilder::new()
        .log_n(log_n)
        .q_bits(q_bits)
        .p_bits(p_bits)
        .dnum(dnum)
        .plaintext_modulus(T)
        .insecure_build()
        .unwrap();
    let mut keygen = KeyGenerator::new(params.rlwe());
    let pk = keygen.public_key();
    let rlk = keygen.relinearization_key();
    let gk = keygen
        .galois_keys(&bfv::galois_elements(&params, &[1, -1, 2, 3, 5], true))
        .unwrap();
    let encoder = BatchEncoder::new(&params).unwrap();
    Ctx {
        params,
        keygen,
        pk,
        rlk,
        gk,
        encoder,
    }
}

/// n = 32, three 50-bit primes, one digit per prime.
fn ctx() -> &'static Ctx {
    static C: OnceLock<Ctx> = OnceLock::new();
    C.get_or_init(|| build(&[50, 50, 50], &[51], 3, 5))
}

/// n = 64, four 40-bit primes in two digits of two, two special primes.
fn ctx_two_digit() -> &'static Ctx {
    static C: OnceLock<Ctx> = OnceLock::new();
    C.get_or_init(|| build(&[40, 40, 40, 40], &[45, 45], 2, 6))
}

fn modt(x: i128) -> i64 {
    let t = T as i128;
    let v = x.rem_euclid(t);
    (if v > t / 2 { v - t } else { v }) as i64
}

impl Ctx {
    fn n(&self) -> usize {
        self.params.degree()
    }
    fn enc(&self, v: &[i64]) -> Ciphertext {
        Encryptor::with_public_key(&self.params, &self.pk)
            .encrypt(&self.encoder.encode(v).unwrap())
            .unwrap()
    }
    fn dec(&self, ct: &Ciphertext) -> Vec<i64> {
        let d = Decryptor::new(&self.params, self.keygen.secret_key());
        self.encoder.decode(&d.decrypt(ct).unwrap()).unwrap()
    }
    fn budget(&self, ct: &Ciphertext) -> u32 {
        Decryptor::new(&self.params, self.keygen.secret_key())
            .noise_budget(ct)
            .unwrap()
    }
    /// Column rotation of the clear 2 × n/2 matrix.
    fn rot(&self, v: &[i64], step: i64) -> Vec<i64> {
        let h = self.n() / 2;
        (0..self.n())
            .map(|i| {
                let (row, col) = (i / h, i % h);
                v[row * h + ((col as i64 + step).rem_euclid(h as i64)) as usize]
            })
            .collect()
    }
}

fn vals(n: usize) -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(-(T as i64 / 2)..(T as i64 / 2), n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn add_sub_negate_exact(a in vals(32), b in vals(32)) {
        let c = ctx();
        let ev = Evaluator::new(&c.params);
        let (ca, cb) = (c.enc(&a), c.enc(&b));
        let sum = c.dec(&ev.add(&ca, &cb).unwrap());
        let diff = c.dec(&ev.sub(&ca, &cb).unwrap());
        let neg = c.dec(&ev.negate(&ca).unwrap());
        for i in 0..32 {
            prop_assert_eq!(sum[i], modt(a[i] as i128 + b[i] as i128));
            prop_assert_eq!(diff[i], modt(a[i] as i128 - b[i] as i128));
            prop_assert_eq!(neg[i], modt(-(a[i] as i128)));
        }
    }

    #[test]
    fn mul_plain_scalar_add_plain_exact(a in vals(32), w in vals(32), s in any::<i64>()) {
        let c = ctx();
        let ev = Evaluator::new(&c.params);
        let ca = c.enc(&a);
        let op = c.encoder.encode_operand(&w, ca.level()).unwrap();
        let prod = c.dec(&ev.mul_plain(&ca, &op).unwrap());
        let sc = c.dec(&ev.mul_integer(&ca, s).unwrap());
        let mut ap = ca.clone();
        ev.add_plain_assign(&mut ap, &c.encoder.encode(&w).unwrap()).unwrap();
        let ap = c.dec(&ap);
        for i in 0..32 {
            prop_assert_eq!(prod[i], modt(a[i] as i128 * w[i] as i128));
            prop_assert_eq!(sc[i], modt(a[i] as i128 * s as i128));
            prop_assert_eq!(ap[i], modt(a[i] as i128 + w[i] as i128));
        }
    }

    #[test]
    fn multiply_and_square_exact(a in vals(32), b in vals(32)) {
        let c = ctx();
        let ev = Evaluator::new(&c.params);
        let (ca, cb) = (c.enc(&a), c.enc(&b));
        let prod = c.dec(&ev.multiply(&ca, &cb, &c.rlk).unwrap());
        let sq = c.dec(&ev.square(&ca, &c.rlk).unwrap());
        for i in 0..32 {
            prop_assert_eq!(prod[i], modt(a[i] as i128 * b[i] as i128));
            prop_assert_eq!(sq[i], modt(a[i] as i128 * a[i] as i128));
        }
    }
}

fn check_rotations(c: &Ctx) {
    let n = c.n();
    let ev = Evaluator::new(&c.params);
    let v: Vec<i64> = (0..n as i64).map(|i| i * 7 - 100).collect();
    let ct = c.enc(&v);
    for step in [1i64, -1, 2, 3, 5] {
        let r = ev.rotate(&ct, step, &c.gk).unwrap();
        assert_eq!(c.dec(&r), c.rot(&v, step), "step {step}");
    }
    let swapped = c.dec(&ev.rotate_rows(&ct, &c.gk).unwrap());
    let h = n / 2;
    let expect: Vec<i64> = (0..n).map(|i| v[(i + h) % n]).collect();
    assert_eq!(swapped, expect);
    let steps = [1i64, 2, 3, 5, -1, 0];
    let hoisted = ev.rotate_hoisted(&ct, &steps, &c.gk).unwrap();
    for (r, &s) in hoisted.iter().zip(&steps) {
        assert_eq!(c.dec(r), c.rot(&v, s), "hoisted step {s}");
    }
    assert!(matches!(
        ev.rotate(&ct, 4, &c.gk),
        Err(HeError::MissingGaloisKey(_))
    ));
}

#[test]
fn rotations_single_digit_prime() {
    check_rotations(ctx());
}

#[test]
fn rotations_and_multiply_two_prime_digits() {
    let c = ctx_two_digit();
    check_rotations(c);
    let ev = Evaluator::new(&c.params);
    let v: Vec<i64> = (0..64).map(|i| i * 3 - 90).collect();
    let ct = c.enc(&v);
    let sq = c.dec(&ev.square(&ct, &c.rlk).unwrap());
    let expect: Vec<i64> = v.iter().map(|&x| modt(x as i128 * x as i128)).collect();
    assert_eq!(sq, expect);
}

#[test]
fn secret_key_and_seeded_encryption() {
    let c = ctx();
    let v: Vec<i64> = (0..32).map(|i| 1000 - i * i).collect();
    let pt = c.encoder.encode(&v).unwrap();
    let enc = Encryptor::with_secret_key(&c.params, c.keygen.secret_key());
    assert_eq!(c.dec(&enc.encrypt(&pt).unwrap()), v);
    let seeded = enc.encrypt_seeded(&pt).unwrap();
    assert_eq!(c.dec(&seeded.expand(&c.params).unwrap()), v);
    let pk_enc = Encryptor::with_public_key(&c.params, &c.pk);
    assert!(pk_enc.encrypt_seeded(&pt).is_err());
}

#[test]
fn drop_level_keeps_message_and_ops_work_below() {
    let c = ctx();
    let ev = Evaluator::new(&c.params);
    let v: Vec<i64> = (0..32).map(|i| i * 11 - 150).collect();
    let ct = c.enc(&v);
    let low = ev.drop_level(&ct).unwrap();
    assert_eq!(low.level(), ct.level() - 1);
    assert_eq!(c.dec(&low), v);
    let w: Vec<i64> = (0..32).map(|i| 3 - i).collect();
    let op = c.encoder.encode_operand(&w, c.params.max_level()).unwrap();
    let prod = ev.mul_plain(&low, &op).unwrap();
    let expect: Vec<i64> = v
        .iter()
        .zip(&w)
        .map(|(&a, &b)| modt(a as i128 * b as i128))
        .collect();
    assert_eq!(c.dec(&prod), expect);
    let sq = ev.square(&low, &c.rlk).unwrap();
    let expect: Vec<i64> = v.iter().map(|&a| modt(a as i128 * a as i128)).collect();
    assert_eq!(c.dec(&sq), expect);
    let r = ev.rotate(&low, 1, &c.gk).unwrap();
    assert_eq!(c.dec(&r), c.rot(&v, 1));
    let mut lowest = ct.clone();
    ev.drop_to_level_assign(&mut lowest, 0).unwrap();
    assert_eq!(c.dec(&lowest), v);
    assert!(ev.drop_level(&lowest).is_err());
    assert!(ev.add(&ct, &low).is_err());
}

#[test]
fn noise_budget_decreases_as_predicted() {
    let c = ctx();
    let ev = Evaluator::new(&c.params);
    let v: Vec<i64> = (0..32).map(|i| i - 16).collect();
    let ct = c.enc(&v);
    let log_q = 150.0;
    let log_t = (T as f64).log2();
    let fresh = c.budget(&ct) as f64;
    // fresh noise: ‖e·u + e_0 + e_1·s‖ ≤ ~ n·σ·... : a few dozen bits at most below log Q/t
    assert!(
        fresh <= log_q - log_t && fresh >= log_q - log_t - 25.0,
        "fresh {fresh}"
    );
    let sq = ev.square(&ct, &c.rlk).unwrap();
    let after = c.budget(&sq) as f64;
    let drop = fresh - after;
    // BFV multiplication multiplies the invariant noise by about t·n (FV12 Lemma 2):
    // the budget falls by log2(t) + O(log2 n) bits.
    let log_n = 5.0;
    assert!(
        drop >= log_t && drop <= log_t + 2.0 * log_n + 8.0,
        "drop {drop}"
    );
    let twice = ev.square(&sq, &c.rlk).unwrap();
    assert!((c.budget(&twice) as f64) < after);
}

#[test]
fn crt_combine_of_per_prime_instances_is_exact() {
    let builder = BfvParametersBuilder::new()
        .log_n(5)
        .q_bits(&[55, 55, 55])
        .p_bits(&[56])
        .dnum(3);
    let primes = [65537u64, 114689, 147457];
    let product: u128 = primes.iter().map(|&t| t as u128).product();
    let big: Vec<i128> = (0..32).map(|i| (i as i128 - 16) * 1_000_000_007).collect();
    let mut residues = Vec::new();
    for &t in &primes {
        let p = builder
            .clone()
            .plaintext_modulus(t)
            .insecure_build()
            .unwrap();
        let encoder = BatchEncoder::new(&p).unwrap();
        let mut kg = KeyGenerator::new(p.rlwe());
        let rlk = kg.relinearization_key();
        let v: Vec<u64> = big
            .iter()
            .map(|&x| x.rem_euclid(t as i128) as u64)
            .collect();
        let ct = Encryptor::with_secret_key(&p, kg.secret_key())
            .encrypt(&encoder.encode_u64(&v).unwrap())
            .unwrap();
        let sq = Evaluator::new(&p).square(&ct, &rlk).unwrap();
        residues.push(
            encoder
                .decode_u64(&Decryptor::new(&p, kg.secret_key()).decrypt(&sq).unwrap())
                .unwrap(),
        );
    }
    let t = product as i128;
    for (c, &x) in big.iter().enumerate() {
        let r: Vec<u64> = residues.iter().map(|v| v[c]).collect();
        let v = (x * x).rem_euclid(t);
        let v = if v > t / 2 { v - t } else { v };
        assert_eq!(bfv::crt_combine(&r, &primes, product), v);
    }
}

#[test]
fn presets_are_secure_and_oversized_is_refused() {
    for p in PRESETS.iter().take(3) {
        let params = bfv::BfvParametersBuilder::preset(*p)
            .plaintext_modulus(786433)
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert!(params.rlwe().is_secure());
        let bound = henn_he::rlwe::params::max_log_qp_128(p.log_n).unwrap();
        assert!(params.rlwe().log_qp_bits() <= bound, "{}", p.name);
    }
    let too_big = BfvParametersBuilder::new()
        .log_n(13)
        .q_bits(&[55, 55, 55])
        .p_bits(&[55])
        .plaintext_modulus(786433)
        .build();
    assert!(matches!(too_big, Err(HeError::Insecure(_))));
    let small_n = BfvParametersBuilder::new()
        .log_n(5)
        .q_bits(&[50])
        .p_bits(&[50])
        .plaintext_modulus(T)
        .build();
    assert!(matches!(small_n, Err(HeError::Insecure(_))));
}

#[test]
fn preset_logn13_end_to_end() {
    let params = BfvParametersBuilder::preset(bfv::BFV_128BIT_LOGN13_LOGQP218)
        .plaintext_modulus(786433)
        .build()
        .unwrap();
    let mut kg = KeyGenerator::new(params.rlwe());
    let pk = kg.public_key();
    let rlk = kg.relinearization_key();
    let gk = kg
        .galois_keys(&bfv::galois_elements(&params, &[1, 7], false))
        .unwrap();
    let enc = BatchEncoder::new(&params).unwrap();
    let ev = Evaluator::new(&params);
    let n = params.degree();
    let v: Vec<i64> = (0..n as i64).map(|i| (i * 37) % 1000 - 500).collect();
    let w: Vec<i64> = (0..n as i64).map(|i| (i % 13) - 6).collect();
    let ct = Encryptor::with_public_key(&params, &pk)
        .encrypt(&enc.encode(&v).unwrap())
        .unwrap();
    let x = ev
        .mul_plain(&ct, &enc.encode_operand(&w, ct.level()).unwrap())
        .unwrap();
    let x = ev.square(&x, &rlk).unwrap();
    let rs = ev.rotate_hoisted(&x, &[1, 7], &gk).unwrap();
    let x = ev.square(&ev.add(&rs[0], &rs[1]).unwrap(), &rlk).unwrap();
    let dec = Decryptor::new(&params, kg.secret_key());
    assert!(dec.noise_budget(&x).unwrap() > 0);
    let out = enc.decode(&dec.decrypt(&x).unwrap()).unwrap();
    let t = 786433i128;
    let h = n / 2;
    let y: Vec<i128> = v
        .iter()
        .zip(&w)
        .map(|(&a, &b)| (a as i128 * b as i128).pow(2))
        .collect();
    for i in [0usize, 1, h - 1, h, n - 1] {
        let (row, col) = (i / h, i % h);
        let at = |s: usize| y[row * h + (col + s) % h];
        let z = (at(1) + at(7)).pow(2).rem_euclid(t);
        let z = if z > t / 2 { z - t } else { z };
        assert_eq!(out[i] as i128, z, "slot {i}");
    }
}
