//! The n = 32768 preset (`BFV_128BIT_LOGN15_LOGQP881`, 14 + 2 primes of 55 bits) end to end:
//! encrypt, multiply with relinearization, rotate, decrypt — exactly — on a two-thread pool
//! set through [`henn_he::with_threads`]. Measured at 5.4 s in the opt-level-3 test build
//! on the loaded 2-core development machine, so it runs by default.

use henn_he::bfv::{self, BatchEncoder, BfvParametersBuilder, Decryptor, Encryptor, Evaluator};
use henn_he::rlwe::KeyGenerator;

#[test]
fn logn15_preset_multiplies_rotates_and_decrypts_exactly() {
    let t: u64 = 786433; // prime, ≡ 1 mod 2n for n = 32768
    henn_he::with_threads(2, || {
        let params = BfvParametersBuilder::preset(bfv::BFV_128BIT_LOGN15_LOGQP881)
            .plaintext_modulus(t)
            .build()
            .unwrap();
        assert!(params.rlwe().is_secure());
        assert_eq!(params.degree(), 32768);
        let n = params.degree();
        let mut kg = KeyGenerator::new(params.rlwe());
        let pk = kg.public_key();
        let rlk = kg.relinearization_key();
        let gk = kg
            .galois_keys(&bfv::galois_elements(&params, &[1], false))
            .unwrap();
        let encoder = BatchEncoder::new(&params).unwrap();
        let enc = Encryptor::with_public_key(&params, &pk);
        let dec = Decryptor::new(&params, kg.secret_key());
        let ev = Evaluator::new(&params);
        let centre = |v: i128| -> i64 {
            let r = v.rem_euclid(t as i128) as i64;
            if r > (t / 2) as i64 {
                r - t as i64
            } else {
                r
            }
        };
        let a: Vec<i64> = (0..n as i64)
            .map(|i| centre((i * 7919 % 1000) as i128 - 500))
            .collect();
        let b: Vec<i64> = (0..n as i64)
            .map(|i| centre((i * 104729 % 777) as i128 - 300))
            .collect();
        let ca = enc.encrypt(&encoder.encode(&a).unwrap()).unwrap();
        let cb = enc.encrypt(&encoder.encode(&b).unwrap()).unwrap();
        let prod = ev.multiply(&ca, &cb, &rlk).unwrap();
        let got = encoder.decode(&dec.decrypt(&prod).unwrap()).unwrap();
        for i in 0..n {
            assert_eq!(got[i], centre(a[i] as i128 * b[i] as i128), "slot {i}");
        }
        assert!(dec.noise_budget(&prod).unwrap() > 0);
        // square of the product, then a column rotation: still exact
        let sq = ev.square(&prod, &rlk).unwrap();
        let rot = ev.rotate(&sq, 1, &gk).unwrap();
        let got = encoder.decode(&dec.decrypt(&rot).unwrap()).unwrap();
        let half = n / 2;
        for row in 0..2 {
            for j in 0..half {
                let src = row * half + (j + 1) % half;
                let p = centre(a[src] as i128 * b[src] as i128) as i128;
                assert_eq!(got[row * half + j], centre(p * p), "row {row} slot {j}");
            }
        }
    })
    .unwrap();
}
