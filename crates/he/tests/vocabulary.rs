//! One engine vocabulary: the operations BFV and CKKS share have the same names, an `_assign`
//! form that computes what the allocating form computes, and the same fallibility (a ciphertext
//! or plaintext that does not fit the parameters is an error, not a panic). Small insecure
//! parameters (n = 32 and n = 64).

use henn_he::bfv::{self, BatchEncoder, BfvParametersBuilder};
use henn_he::ckks::{self, CkksParametersBuilder, Complex64};
use henn_he::rlwe::KeyGenerator;
use henn_he::HeError;

fn bfv_params(log_n: u32) -> std::sync::Arc<bfv::BfvParameters> {
    BfvParametersBuilder::new()
        .log_n(log_n)
        .q_bits(&[50, 40, 40])
        .p_bits(&[51])
        .plaintext_modulus(if log_n == 5 { 65537 } else { 786433 })
        .insecure_build()
        .unwrap()
}

#[test]
fn bfv_plain_operations_and_level_drop() {
    let p = bfv_params(5);
    let kg = KeyGenerator::new(p.rlwe());
    let enc = BatchEncoder::new(&p).unwrap();
    let encryptor = bfv::Encryptor::with_secret_key(&p, kg.secret_key());
    let dec = bfv::Decryptor::new(&p, kg.secret_key());
    let ev = bfv::Evaluator::new(&p);
    let v: Vec<i64> = (0..32).map(|i| i * 3 - 40).collect();
    let w: Vec<i64> = (0..32).map(|i| 7 - i).collect();
    let ct = encryptor.encrypt(&enc.encode(&v).unwrap()).unwrap();
    let pw = enc.encode(&w).unwrap();
    let decode = |c: &henn_he::rlwe::Ciphertext| enc.decode(&dec.decrypt(c).unwrap()).unwrap();

    let sum = ev.add_plain(&ct, &pw).unwrap();
    let mut sum2 = ct.clone();
    ev.add_plain_assign(&mut sum2, &pw).unwrap();
    assert_eq!(sum, sum2);
    let want: Vec<i64> = v.iter().zip(&w).map(|(a, b)| a + b).collect();
    assert_eq!(decode(&sum), want);

    let diff = ev.sub_plain(&ct, &pw).unwrap();
    let mut diff2 = ct.clone();
    ev.sub_plain_assign(&mut diff2, &pw).unwrap();
    assert_eq!(diff, diff2);
    let want: Vec<i64> = v.iter().zip(&w).map(|(a, b)| a - b).collect();
    assert_eq!(decode(&diff), want);

    let low = ev.drop_to_level(&ct, 0).unwrap();
    assert_eq!(low.level(), 0);
    assert_eq!(decode(&low), v);
    let mut low2 = ct.clone();
    ev.drop_to_level_assign(&mut low2, 0).unwrap();
    assert_eq!(low, low2);
    assert!(ev.drop_to_level(&low, 1).is_err());
}

#[test]
fn ckks_assign_forms_compute_the_allocating_forms() {
    let p = CkksParametersBuilder::new()
        .log_n(5)
        .q_bits(&[50, 40, 40])
        .p_bits(&[51])
        .log_scale(30)
        .insecure_build()
        .unwrap();
    let kg = KeyGenerator::new(p.rlwe());
    let encryptor = ckks::Encryptor::with_secret_key(&p, kg.secret_key());
    let dec = ckks::Decryptor::new(&p, kg.secret_key());
    let ev = ckks::Evaluator::new(&p);
    let x: Vec<f64> = (0..p.slots()).map(|i| i as f64 / 10.0 - 0.5).collect();
    let y: Vec<f64> = (0..p.slots()).map(|i| 0.3 - i as f64 / 20.0).collect();
    let a = encryptor.encrypt_real(&x).unwrap();
    let b = encryptor.encrypt_real(&y).unwrap();
    let encoder = ckks::Encoder::new(&p);
    let yc: Vec<Complex64> = y.iter().map(|&r| Complex64::new(r, 0.0)).collect();
    let pt = encoder.encode(&yc, 1, p.default_scale()).unwrap();

    let mut s = a.clone();
    ev.sub_assign(&mut s, &b).unwrap();
    assert_eq!(s, ev.sub(&a, &b).unwrap());
    let got = dec.decrypt_real(&s).unwrap();
    for i in 0..x.len() {
        assert!((got[i] - (x[i] - y[i])).abs() < 1e-5, "slot {i}");
    }

    let mut n = a.clone();
    ev.negate_assign(&mut n).unwrap();
    assert_eq!(n, ev.negate(&a).unwrap());

    let mut m = a.clone();
    ev.mul_integer_assign(&mut m, -3).unwrap();
    assert_eq!(m, ev.mul_integer(&a, -3).unwrap());

    let mut ap = a.clone();
    ev.add_plain_assign(&mut ap, &pt).unwrap();
    assert_eq!(ap, ev.add_plain(&a, &pt).unwrap());
    assert_eq!(ap.level(), 1);
    let mut sp = a.clone();
    ev.sub_plain_assign(&mut sp, &pt).unwrap();
    assert_eq!(sp, ev.sub_plain(&a, &pt).unwrap());
    let mut mp = a.clone();
    ev.mul_plain_assign(&mut mp, &pt).unwrap();
    assert_eq!(mp, ev.mul_plain(&a, &pt).unwrap());

    let mut d = a.clone();
    ev.drop_to_level_assign(&mut d, 0).unwrap();
    assert_eq!(d, ev.drop_to_level(&a, 0).unwrap());
    assert_eq!(d.level(), 0);
    assert!(ev.drop_to_level_assign(&mut d, 1).is_err());
}

/// Objects of another ring degree are errors in BFV (as they are in CKKS), not panics.
#[test]
fn bfv_objects_of_other_parameters_are_errors() {
    let small = bfv_params(5);
    let large = bfv_params(6);
    let kg = KeyGenerator::new(small.rlwe());
    let kg_large = KeyGenerator::new(large.rlwe());
    let enc_large = BatchEncoder::new(&large).unwrap();
    let pt_large = enc_large.encode(&[1, 2, 3]).unwrap();
    let encryptor = bfv::Encryptor::with_secret_key(&small, kg.secret_key());
    assert!(matches!(
        encryptor.encrypt(&pt_large),
        Err(HeError::LengthMismatch { .. })
    ));
    assert!(encryptor.encrypt_seeded(&pt_large).is_err());
    assert!(BatchEncoder::new(&small)
        .unwrap()
        .decode(&pt_large)
        .is_err());

    let ct_large = bfv::Encryptor::with_secret_key(&large, kg_large.secret_key())
        .encrypt(&pt_large)
        .unwrap();
    let dec = bfv::Decryptor::new(&small, kg.secret_key());
    assert!(matches!(
        dec.decrypt(&ct_large),
        Err(HeError::LengthMismatch { .. })
    ));
    assert!(dec.noise_budget(&ct_large).is_err());
    let ev = bfv::Evaluator::new(&small);
    assert!(ev.negate(&ct_large).is_err());
    assert!(ev.add(&ct_large, &ct_large).is_err());
    assert!(ev.drop_level(&ct_large).is_err());
    let pt_small = BatchEncoder::new(&small).unwrap().encode(&[1]).unwrap();
    assert!(ev.add_plain(&ct_large, &pt_small).is_err());

    let seeded = bfv::Encryptor::with_secret_key(&large, kg_large.secret_key())
        .encrypt_seeded(&pt_large)
        .unwrap();
    assert!(seeded.expand(&small).is_err());
    assert!(seeded.expand(&large).is_ok());
}
