//! Serialization round trips and rejection of corrupted input.

use henn_he::bfv::{
    self, BatchEncoder, BfvParameters, BfvParametersBuilder, Decryptor, Encryptor, Evaluator,
    Plaintext, PlaintextOperand, SeededCiphertext,
};
use henn_he::rlwe::{Ciphertext, GaloisKeys, KeyGenerator, PublicKey, RelinearizationKey};
use henn_he::serialization::HeSerialize;
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

struct Ctx {
    params: Arc<BfvParameters>,
    kg: KeyGenerator,
    ct: Ciphertext,
    ct_bytes: Vec<u8>,
    gk_bytes: Vec<u8>,
}

fn ctx() -> &'static Ctx {
    static C: OnceLock<Ctx> = OnceLock::new();
    C.get_or_init(|| {
        let params = BfvParametersBuilder::new()
            .log_n(5)
            .q_bits(&[50, 50, 50])
            .p_bits(&[51])
            .plaintext_modulus(65537)
            .insecure_build()
            .unwrap();
        let mut kg = KeyGenerator::new(params.rlwe());
        let pk = kg.public_key();
        let gk = kg
            .galois_keys(&bfv::galois_elements(&params, &[1, 2], true))
            .unwrap();
        let enc = BatchEncoder::new(&params).unwrap();
        let v: Vec<i64> = (0..32).map(|i| i * 5 - 70).collect();
        let ct = Encryptor::with_public_key(&params, &pk)
            .encrypt(&enc.encode(&v).unwrap())
            .unwrap();
        let ct_bytes = ct.to_bytes(&params);
        let gk_bytes = gk.to_bytes(&params);
        Ctx {
            params,
            kg,
            ct,
            ct_bytes,
            gk_bytes,
        }
    })
}

#[test]
fn round_trips() {
    let c = ctx();
    let p = &c.params;
    let enc = BatchEncoder::new(p).unwrap();
    let dec = Decryptor::new(p, c.kg.secret_key());
    let ct = Ciphertext::from_bytes(p, &c.ct_bytes).unwrap();
    assert_eq!(ct, c.ct);
    // three 50-bit limbs, two polynomials, 32 coefficients each, bit-packed
    assert_eq!(c.ct_bytes.len(), 16 + 2 + 2 * 3 * 32 * 50 / 8);
    let gk = GaloisKeys::from_bytes(p, &c.gk_bytes).unwrap();
    assert_eq!(gk.to_bytes(p), c.gk_bytes);
    let rotated = Evaluator::new(p).rotate(&ct, 1, &gk).unwrap();
    let v: Vec<i64> = (0..32).map(|i| i * 5 - 70).collect();
    let out = enc.decode(&dec.decrypt(&rotated).unwrap()).unwrap();
    assert_eq!(out[0], v[1]);

    let mut kg2 = KeyGenerator::new(p.rlwe());
    let pk = kg2.public_key();
    let pk2 = PublicKey::from_bytes(p, &pk.to_bytes(p)).unwrap();
    assert_eq!(pk, pk2);
    let rlk = kg2.relinearization_key();
    let rlk_bytes = rlk.to_bytes(p);
    // seeded: one 32-byte seed + dnum b-polynomials over Q·P (half of a full key)
    assert_eq!(rlk_bytes.len(), 16 + 32 + 3 * 32 * (3 * 50 + 51) / 8);
    assert_eq!(RelinearizationKey::from_bytes(p, &rlk_bytes).unwrap(), rlk);

    let pt = enc.encode(&v).unwrap();
    assert_eq!(Plaintext::from_bytes(p, &pt.to_bytes(p)).unwrap(), pt);
    let op = pt.to_operand(p, 1).unwrap();
    assert_eq!(
        PlaintextOperand::from_bytes(p, &op.to_bytes(p)).unwrap(),
        op
    );

    let sk_enc = Encryptor::with_secret_key(p, c.kg.secret_key());
    let seeded = sk_enc.encrypt_seeded(&pt).unwrap();
    let bytes = seeded.to_bytes(p);
    assert!(bytes.len() * 2 < c.ct_bytes.len() + 100);
    let back = SeededCiphertext::from_bytes(p, &bytes).unwrap();
    assert_eq!(
        enc.decode(&dec.decrypt(&back.expand(p).unwrap()).unwrap())
            .unwrap(),
        v
    );
}

#[test]
fn parameters_round_trip_and_wrong_parameters_rejected() {
    let p = BfvParametersBuilder::preset(bfv::BFV_128BIT_LOGN12_LOGQP109)
        .plaintext_modulus(65537)
        .build()
        .unwrap();
    let bytes = p.to_bytes();
    let q = BfvParameters::from_bytes(&bytes).unwrap();
    assert_eq!(q.fingerprint(), p.fingerprint());
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(BfvParameters::from_bytes(&bad).is_err());
    // a ciphertext made for other parameters is refused
    assert!(Ciphertext::from_bytes(&p, &ctx().ct_bytes).is_err());
    // wrong kind
    assert!(GaloisKeys::from_bytes(&ctx().params, &ctx().ct_bytes).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_ciphertext_bytes_never_panic(pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let c = ctx();
        let mut b = c.ct_bytes.clone();
        let i = pos.index(b.len());
        b[i] ^= xor;
        // either an error or a well-formed ciphertext (a flipped residue can stay reduced)
        if let Ok(ct) = Ciphertext::from_bytes(&c.params, &b) {
            prop_assert!(ct.level() <= c.params.max_level());
            prop_assert_eq!(ct.polys().len(), 2);
        }
        let truncated = &c.ct_bytes[..cut.index(c.ct_bytes.len())];
        prop_assert!(Ciphertext::from_bytes(&c.params, truncated).is_err());
    }

    #[test]
    fn mutated_galois_key_bytes_never_panic(pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let c = ctx();
        let mut b = c.gk_bytes.clone();
        let i = pos.index(b.len());
        b[i] ^= xor;
        let _ = GaloisKeys::from_bytes(&c.params, &b);
        let truncated = &c.gk_bytes[..cut.index(c.gk_bytes.len())];
        prop_assert!(GaloisKeys::from_bytes(&c.params, truncated).is_err());
    }

    #[test]
    fn random_bytes_rejected(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let c = ctx();
        prop_assert!(Ciphertext::from_bytes(&c.params, &bytes).is_err());
        prop_assert!(GaloisKeys::from_bytes(&c.params, &bytes).is_err());
        prop_assert!(BfvParameters::from_bytes(&bytes).is_err());
    }
}

/// Keys depend on the RLWE parameters only: a key serialized under one plaintext modulus loads
/// under another with the same ring and primes; a ciphertext (whose scaling depends on `t`)
/// does not.
#[test]
fn keys_load_under_other_plaintext_modulus_ciphertexts_do_not() {
    let p1 = BfvParametersBuilder::preset(bfv::BFV_128BIT_LOGN12_LOGQP109)
        .plaintext_modulus(65537)
        .build()
        .unwrap();
    let p2 = BfvParametersBuilder::preset(bfv::BFV_128BIT_LOGN12_LOGQP109)
        .plaintext_modulus(786433)
        .build()
        .unwrap();
    assert_ne!(p1.fingerprint(), p2.fingerprint());
    let mut kg = KeyGenerator::new(p1.rlwe());
    let rlk = kg.relinearization_key();
    let pk = kg.public_key();
    let rlk_bytes = rlk.to_bytes(&p1);
    let rlk2 = RelinearizationKey::from_bytes(&p2, &rlk_bytes).unwrap();
    assert_eq!(rlk2.to_bytes(&p2), rlk_bytes);
    let pk_bytes = pk.to_bytes(&p1);
    assert_eq!(
        PublicKey::from_bytes(&p2, &pk_bytes).unwrap().to_bytes(&p1),
        pk_bytes
    );
    let encoder = BatchEncoder::new(&p1).unwrap();
    let ct = Encryptor::with_public_key(&p1, &pk)
        .encrypt(&encoder.encode(&[1, 2, 3]).unwrap())
        .unwrap();
    assert!(Ciphertext::from_bytes(&p2, &ct.to_bytes(&p1)).is_err());
}
