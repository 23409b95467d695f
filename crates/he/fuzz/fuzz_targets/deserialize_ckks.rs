//! Feeds arbitrary bytes to every CKKS deserializer (parameters, ciphertexts, plaintexts,
//! keys). Any panic, hang or unbounded allocation is a bug.
#![no_main]

use henn_he::ckks::{Ciphertext, CkksParameters, CkksParametersBuilder, Plaintext};
use henn_he::rlwe::{GaloisKeys, PublicKey, RelinearizationKey};
use henn_he::serialization::HeSerialize;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn params() -> &'static Arc<CkksParameters> {
    static P: OnceLock<Arc<CkksParameters>> = OnceLock::new();
    P.get_or_init(|| {
        CkksParametersBuilder::new()
            .log_n(5)
            .q_bits(&[50, 40, 40])
            .p_bits(&[51])
            .log_scale(30)
            .insecure_build()
            .expect("fixed small parameters")
    })
}

fuzz_target!(|data: &[u8]| {
    let p = params();
    let _ = CkksParameters::from_bytes(data);
    let _ = Ciphertext::from_bytes(p, data);
    let _ = Plaintext::from_bytes(p, data);
    let _ = PublicKey::from_bytes(p, data);
    let _ = RelinearizationKey::from_bytes(p, data);
    let _ = GaloisKeys::from_bytes(p, data);
    // with a valid header for the kind in the first byte, to reach the payload parsers
    if let Some((&kind, payload)) = data.split_first() {
        let fingerprint = if (6..=8).contains(&kind) {
            p.rlwe().fingerprint()
        } else {
            p.fingerprint()
        };
        let mut bytes = Vec::with_capacity(16 + payload.len());
        bytes.extend_from_slice(henn_he::serialization::MAGIC);
        bytes.extend_from_slice(&henn_he::serialization::VERSION.to_le_bytes());
        bytes.push(kind);
        bytes.push(0);
        bytes.extend_from_slice(&fingerprint.to_le_bytes());
        bytes.extend_from_slice(payload);
        let _ = Ciphertext::from_bytes(p, &bytes);
        let _ = Plaintext::from_bytes(p, &bytes);
        let _ = PublicKey::from_bytes(p, &bytes);
        let _ = RelinearizationKey::from_bytes(p, &bytes);
        let _ = GaloisKeys::from_bytes(p, &bytes);
    }
});
