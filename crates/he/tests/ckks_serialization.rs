//! CKKS serialization: round trips of parameters, ciphertexts (with their scale and level),
//! plaintexts and keys; keys shared with BFV bytes; corrupted, truncated and random bytes
//! rejected without panics. Small insecure parameters (n = 32).

use henn_he::bfv::{BfvParametersBuilder, Evaluator as BfvEvaluator};
use henn_he::ckks::{
    self, Ciphertext, CkksParameters, CkksParametersBuilder, Complex64, Decryptor, Encoder,
    Encryptor, Evaluator,
};
use henn_he::rlwe::{GaloisKeys, KeyGenerator, PublicKey, RelinearizationKey};
use henn_he::serialization::HeSerialize;
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

struct Ctx {
    params: Arc<CkksParameters>,
    kg: KeyGenerator,
    values: Vec<Complex64>,
    ct: Ciphertext,
    ct_bytes: Vec<u8>,
    gk_bytes: Vec<u8>,
    rlk_bytes: Vec<u8>,
}

fn builder() -> CkksParametersBuilder {
    CkksParametersBuilder::new()
        .log_n(5)
        .q_bits(&[50, 40, 40])
        .p_bits(&[51])
        .log_scale(30)
}

fn ctx() -> &'static Ctx {
    static C: OnceLock<Ctx> = OnceLock::new();
    C.get_or_init(|| {
        let params = builder().insecure_build().unwrap();
        let mut kg = KeyGenerator::new(params.rlwe());
        let pk = kg.public_key();
        let elements = ckks::galois_elements(&params, &[1, 2], true).unwrap();
        let gk = kg.galois_keys(&elements).unwrap();
        let rlk = kg.relinearization_key();
        let values: Vec<Complex64> = (0..params.slots())
            .map(|i| Complex64::new(i as f64 / 20.0 - 0.3, 0.25 - i as f64 / 50.0))
            .collect();
        let ct = Encryptor::with_public_key(&params, &pk)
            .encrypt_values(&values)
            .unwrap();
        let ct_bytes = ct.to_bytes(&params);
        let gk_bytes = gk.to_bytes(&params);
        let rlk_bytes = rlk.to_bytes(&params);
        Ctx {
            params,
            kg,
            values,
            ct,
            ct_bytes,
            gk_bytes,
            rlk_bytes,
        }
    })
}

fn max_error(a: &[Complex64], b: &[Complex64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}

#[test]
fn parameters_round_trip_and_bad_parameters_are_refused() {
    let c = ctx();
    // insecure parameters are refused on load: loading re-runs the 128-bit check
    assert!(CkksParameters::from_bytes(&c.params.to_bytes()).is_err());
    let secure = CkksParametersBuilder::preset(ckks::CKKS_128BIT_LOGN13_LOGQP218)
        .build()
        .unwrap();
    let bytes = secure.to_bytes();
    let back = CkksParameters::from_bytes(&bytes).unwrap();
    assert_eq!(back.fingerprint(), secure.fingerprint());
    assert_eq!(back.default_scale(), secure.default_scale());
    assert_eq!(back.slots(), secure.slots());
    assert_eq!(
        back.rlwe().qp_basis().moduli(),
        secure.rlwe().qp_basis().moduli()
    );
    // another scale gives another fingerprint
    let other = CkksParametersBuilder::preset(ckks::CKKS_128BIT_LOGN13_LOGQP218)
        .log_scale(38)
        .build()
        .unwrap();
    assert_ne!(other.fingerprint(), secure.fingerprint());
    // every single-byte corruption of the parameter bytes is rejected (fingerprint, primality,
    // security, scale or length checks)
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        assert!(CkksParameters::from_bytes(&b).is_err(), "byte {i} accepted");
    }
    for cut in 0..bytes.len() {
        assert!(CkksParameters::from_bytes(&bytes[..cut]).is_err());
    }
}

#[test]
fn ciphertexts_plaintexts_and_keys_round_trip_and_still_compute() {
    let c = ctx();
    let p = &c.params;
    let ct = Ciphertext::from_bytes(p, &c.ct_bytes).unwrap();
    assert_eq!(ct, c.ct);
    assert_eq!(ct.scale(), c.ct.scale());
    // header 16 + level, size + scale 8 + 2 polynomials of (50 + 40 + 40) bits x 32
    assert_eq!(c.ct_bytes.len(), 16 + 2 + 8 + 2 * 32 * (50 + 40 + 40) / 8);
    let dec = Decryptor::new(p, c.kg.secret_key());
    assert!(max_error(&dec.decrypt_values(&ct).unwrap(), &c.values) < 1e-5);

    let encoder = Encoder::new(p);
    let pt = encoder.encode(&c.values, 1, 2f64.powi(25)).unwrap();
    let pt2 = ckks::Plaintext::from_bytes(p, &pt.to_bytes(p)).unwrap();
    assert_eq!(pt2, pt);
    assert_eq!(pt2.level(), 1);

    // loaded keys relinearize and rotate correctly
    let rlk = RelinearizationKey::from_bytes(p, &c.rlk_bytes).unwrap();
    assert_eq!(rlk.to_bytes(p), c.rlk_bytes);
    let gk = GaloisKeys::from_bytes(p, &c.gk_bytes).unwrap();
    assert_eq!(gk.to_bytes(p), c.gk_bytes);
    let ev = Evaluator::new(p);
    let sq = ev.rescale(&ev.multiply(&ct, &ct, &rlk).unwrap()).unwrap();
    let expected: Vec<Complex64> = c.values.iter().map(|z| z * z).collect();
    assert!(max_error(&dec.decrypt_values(&sq).unwrap(), &expected) < 1e-3);
    let rot = ev.rotate(&ct, 1, &gk).unwrap();
    let slots = c.values.len();
    let expected: Vec<Complex64> = (0..slots).map(|i| c.values[(i + 1) % slots]).collect();
    assert!(max_error(&dec.decrypt_values(&rot).unwrap(), &expected) < 1e-4);

    let mut kg = KeyGenerator::new(p.rlwe());
    let pk = kg.public_key();
    let pk2 = PublicKey::from_bytes(p, &pk.to_bytes(p)).unwrap();
    assert_eq!(pk2, pk);
}

/// Keys are RLWE objects: the bytes written under CKKS parameters are those written under BFV
/// parameters of the same ring and primes, and load under either; ciphertexts do not cross.
#[test]
fn keys_are_scheme_independent_ciphertexts_are_not() {
    let c = ctx();
    let q = c.params.rlwe().q_basis().moduli();
    let pp = c.params.rlwe().p_basis().moduli();
    let bfv = BfvParametersBuilder::new()
        .log_n(5)
        .primes(&q, &pp)
        .plaintext_modulus(65537)
        .insecure_build()
        .unwrap();
    let rlk = RelinearizationKey::from_bytes(&bfv, &c.rlk_bytes).unwrap();
    assert_eq!(rlk.to_bytes(&bfv), c.rlk_bytes);
    assert!(GaloisKeys::from_bytes(&bfv, &c.gk_bytes).is_ok());
    // a CKKS ciphertext is not a BFV ciphertext (kind tag and fingerprint differ)
    assert!(henn_he::rlwe::Ciphertext::from_bytes(&bfv, &c.ct_bytes).is_err());
    let _ = BfvEvaluator::new(&bfv);
    // a ciphertext for other CKKS parameters (another scale) is refused
    let other = builder().log_scale(29).insecure_build().unwrap();
    assert!(Ciphertext::from_bytes(&other, &c.ct_bytes).is_err());
}

/// The reverse direction over the same ring and primes: BFV ciphertexts, seeded ciphertexts and
/// plaintexts are not CKKS ones. The kind tag refuses them; with the tag forged to the CKKS
/// kind, the fingerprint (which covers `t`, or the scale and slot count) still does.
#[test]
fn bfv_objects_do_not_load_as_ckks_ones() {
    let c = ctx();
    let q = c.params.rlwe().q_basis().moduli();
    let pp = c.params.rlwe().p_basis().moduli();
    let bfv = BfvParametersBuilder::new()
        .log_n(5)
        .primes(&q, &pp)
        .plaintext_modulus(65537)
        .insecure_build()
        .unwrap();
    assert_eq!(bfv.rlwe().fingerprint(), c.params.rlwe().fingerprint());
    let mut kg = KeyGenerator::new(bfv.rlwe());
    let pk = kg.public_key();
    let enc = henn_he::bfv::BatchEncoder::new(&bfv).unwrap();
    let pt = enc
        .encode(&(0..32).map(|i| i - 16).collect::<Vec<_>>())
        .unwrap();
    let encryptor = henn_he::bfv::Encryptor::with_public_key(&bfv, &pk);
    let ct = encryptor.encrypt(&pt).unwrap().to_bytes(&bfv);
    let seeded = henn_he::bfv::Encryptor::with_secret_key(&bfv, kg.secret_key())
        .encrypt_seeded(&pt)
        .unwrap()
        .to_bytes(&bfv);
    let pt = pt.to_bytes(&bfv);
    let is_kind_error = |r: Result<(), henn_he::HeError>| matches!(r, Err(henn_he::HeError::Deserialize(m)) if m.contains("expected kind"));
    let is_fingerprint_error = |r: Result<(), henn_he::HeError>| matches!(r, Err(henn_he::HeError::Deserialize(m)) if m.contains("fingerprint"));
    let p = &c.params;
    assert!(is_kind_error(Ciphertext::from_bytes(p, &ct).map(drop)));
    assert!(is_kind_error(
        ckks::SeededCiphertext::from_bytes(p, &seeded).map(drop)
    ));
    assert!(is_kind_error(ckks::Plaintext::from_bytes(p, &pt).map(drop)));
    // byte 6 is the kind tag: forge the CKKS ciphertext kind onto the BFV ciphertext
    let mut forged = ct.clone();
    assert_eq!(forged[6], henn_he::serialization::Kind::Ciphertext as u8);
    forged[6] = henn_he::serialization::Kind::CkksCiphertext as u8;
    assert!(is_fingerprint_error(
        Ciphertext::from_bytes(p, &forged).map(drop)
    ));
    // and the BFV bytes still load under the BFV parameters they were written for
    assert!(henn_he::rlwe::Ciphertext::from_bytes(&bfv, &ct).is_ok());
}

#[test]
fn invalid_scale_is_rejected() {
    let c = ctx();
    // scale field: after header (16) + level + size
    for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
        let mut b = c.ct_bytes.clone();
        b[18..26].copy_from_slice(&bad.to_bits().to_le_bytes());
        assert!(Ciphertext::from_bytes(&c.params, &b).is_err(), "{bad}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_ciphertext_bytes_never_panic(pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let c = ctx();
        let mut b = c.ct_bytes.clone();
        let i = pos.index(b.len());
        b[i] ^= xor;
        // a flipped residue bit can stay reduced, a flipped scale bit can stay valid
        if let Ok(ct) = Ciphertext::from_bytes(&c.params, &b) {
            prop_assert!(i >= 18);
            prop_assert!(ct.level() <= c.params.max_level());
            prop_assert_eq!(ct.len(), 2);
            prop_assert!(ct.scale().is_finite() && ct.scale() > 0.0);
        }
        let truncated = &c.ct_bytes[..cut.index(c.ct_bytes.len())];
        prop_assert!(Ciphertext::from_bytes(&c.params, truncated).is_err());
    }

    #[test]
    fn mutated_key_bytes_never_panic(pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let c = ctx();
        let mut b = c.gk_bytes.clone();
        let i = pos.index(b.len());
        b[i] ^= xor;
        let _ = GaloisKeys::from_bytes(&c.params, &b);
        let truncated = &c.gk_bytes[..cut.index(c.gk_bytes.len())];
        prop_assert!(GaloisKeys::from_bytes(&c.params, truncated).is_err());
        let mut b = c.rlk_bytes.clone();
        let i = pos.index(b.len());
        b[i] ^= xor;
        // the header (magic, version, kind, fingerprint) is always checked
        if i < 16 {
            prop_assert!(RelinearizationKey::from_bytes(&c.params, &b).is_err());
        } else {
            let _ = RelinearizationKey::from_bytes(&c.params, &b);
        }
    }

    #[test]
    fn random_bytes_rejected(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let c = ctx();
        prop_assert!(Ciphertext::from_bytes(&c.params, &bytes).is_err());
        prop_assert!(ckks::Plaintext::from_bytes(&c.params, &bytes).is_err());
        prop_assert!(GaloisKeys::from_bytes(&c.params, &bytes).is_err());
        prop_assert!(CkksParameters::from_bytes(&bytes).is_err());
    }
}
