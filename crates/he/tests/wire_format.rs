//! The serialization format is stable: deterministic objects (keys from a fixed seed,
//! ciphertexts from fixed polynomials, encoded plaintexts, parameter sets) of both schemes
//! serialize to the same bytes as they did when these digests were recorded (the format before
//! the BFV and CKKS traits were unified into one `HeSerialize<P>`), and keys serialize to the
//! same bytes under BFV and CKKS parameters of the same ring. Small insecure parameters
//! (n = 32).

use henn_he::bfv::{BatchEncoder, BfvParametersBuilder, Plaintext as BfvPlaintext};
use henn_he::ckks::{self, CkksParametersBuilder, Complex64, Encoder};
use henn_he::rlwe::{
    Ciphertext, GaloisKeys, PublicKey, RelinearizationKey, RlweParameters, SecretKey,
};
use henn_he::serialization::HeSerialize;
use henn_ring::sampler::{rng_from_seed, uniform_poly};
use henn_ring::Form;

/// 64-bit FNV-1a (stable across Rust versions, unlike `DefaultHasher`).
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn fixed_ciphertext(rl: &RlweParameters, level: usize, seed: u8) -> Ciphertext {
    let mut rng = rng_from_seed(&[seed; 32]);
    let polys = (0..2)
        .map(|_| uniform_poly(&mut rng, rl.q_basis(), level + 1, Form::Ntt))
        .collect();
    Ciphertext::from_polys(rl, polys, level).unwrap()
}

#[test]
fn bytes_match_the_recorded_format() {
    let bfv = BfvParametersBuilder::new()
        .log_n(5)
        .q_bits(&[50, 40, 40])
        .p_bits(&[51])
        .plaintext_modulus(65537)
        .insecure_build()
        .unwrap();
    let q = bfv.rlwe().q_basis().moduli();
    let p = bfv.rlwe().p_basis().moduli();
    let ck = CkksParametersBuilder::new()
        .log_n(5)
        .primes(&q, &p)
        .log_scale(30)
        .insecure_build()
        .unwrap();
    let rl = bfv.rlwe();
    assert_eq!(rl.fingerprint(), ck.rlwe().fingerprint());

    let mut rng = rng_from_seed(&[7; 32]);
    let sk = SecretKey::generate(rl, &mut rng);
    let pk = PublicKey::generate(&sk, &mut rng);
    let rlk = RelinearizationKey::generate(&sk, &mut rng);
    let gk = GaloisKeys::generate(&sk, &[3, 5, 63], &mut rng).unwrap();

    let bfv_ct = fixed_ciphertext(rl, 2, 1);
    let bfv_ct_low = fixed_ciphertext(rl, 1, 2);
    let coeffs: Vec<u64> = (0..32).map(|i| (i * 2047 + 11) % 65537).collect();
    let bfv_pt = BfvPlaintext::from_coefficients(&bfv, &coeffs).unwrap();
    let values: Vec<i64> = (0..32).map(|i| i * 3 - 40).collect();
    let bfv_op = BatchEncoder::new(&bfv)
        .unwrap()
        .encode_operand(&values, 1)
        .unwrap();
    let ck_ct =
        ckks::Ciphertext::from_rlwe(fixed_ciphertext(ck.rlwe(), 2, 3), 2f64.powi(30)).unwrap();
    let cvalues: Vec<Complex64> = (0..ck.slots())
        .map(|i| Complex64::new(i as f64 / 16.0 - 0.4, 0.1 * i as f64))
        .collect();
    let ck_pt = Encoder::new(&ck)
        .encode(&cvalues, 1, 2f64.powi(25))
        .unwrap();

    // keys: one byte string whichever scheme's parameters they are written against
    assert_eq!(pk.to_bytes(&bfv), pk.to_bytes(&ck));
    assert_eq!(rlk.to_bytes(&bfv), rlk.to_bytes(&ck));
    assert_eq!(gk.to_bytes(&bfv), gk.to_bytes(&ck));

    let digests = [
        ("bfv parameters", fnv(&bfv.to_bytes())),
        ("ckks parameters", fnv(&ck.to_bytes())),
        ("public key", fnv(&pk.to_bytes(&bfv))),
        ("relinearization key", fnv(&rlk.to_bytes(&bfv))),
        ("galois keys", fnv(&gk.to_bytes(&bfv))),
        ("bfv ciphertext", fnv(&bfv_ct.to_bytes(&bfv))),
        ("bfv ciphertext level 1", fnv(&bfv_ct_low.to_bytes(&bfv))),
        ("bfv plaintext", fnv(&bfv_pt.to_bytes(&bfv))),
        ("bfv operand", fnv(&bfv_op.to_bytes(&bfv))),
        ("ckks ciphertext", fnv(&ck_ct.to_bytes(&ck))),
        ("ckks plaintext", fnv(&ck_pt.to_bytes(&ck))),
    ];
    assert_eq!(digests, RECORDED);
}

/// FNV-1a digests recorded with the format before the traits were unified (commit 34dd5c0).
const RECORDED: [(&str, u64); 11] = [
    ("bfv parameters", 0xb6e8_1e2e_e48a_a457),
    ("ckks parameters", 0x0a34_9599_456b_e423),
    ("public key", 0x22cd_2913_3f60_0ac1),
    ("relinearization key", 0x5dd6_8c90_51cf_e6c7),
    ("galois keys", 0xe214_10f2_0b07_b48e),
    ("bfv ciphertext", 0xd31d_39d8_540f_bf20),
    ("bfv ciphertext level 1", 0x5f31_ae39_789f_786f),
    ("bfv plaintext", 0xfcc4_e983_819c_34ee),
    ("bfv operand", 0x8cbc_5c4c_642f_7f24),
    ("ckks ciphertext", 0x9357_c817_677f_cb2d),
    ("ckks plaintext", 0x37be_e074_3fc4_6fc1),
];
