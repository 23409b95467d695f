//! Feeds arbitrary bytes to every BFV deserializer (parameters, ciphertexts, seeded
//! ciphertexts, plaintexts, operands, keys). Any panic, hang or unbounded allocation is a bug:
//! loading must return an error for malformed input.
#![no_main]

use henn_he::bfv::{
    BfvParameters, BfvParametersBuilder, Plaintext, PlaintextOperand, SeededCiphertext,
};
use henn_he::rlwe::{Ciphertext, GaloisKeys, PublicKey, RelinearizationKey};
use henn_he::serialization::HeSerialize;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn params() -> &'static Arc<BfvParameters> {
    static P: OnceLock<Arc<BfvParameters>> = OnceLock::new();
    P.get_or_init(|| {
        BfvParametersBuilder::new()
            .log_n(5)
            .q_bits(&[50, 50, 50])
            .p_bits(&[51])
            .plaintext_modulus(65537)
            .insecure_build()
            .expect("fixed small parameters")
    })
}

fuzz_target!(|data: &[u8]| {
    let p = params();
    // the header's fingerprint must match: also try the input with a valid header prefixed
    // for each kind, so the fuzzer reaches the payload parsers quickly
    let _ = BfvParameters::from_bytes(data);
    let _ = Ciphertext::from_bytes(p, data);
    let _ = SeededCiphertext::from_bytes(p, data);
    let _ = Plaintext::from_bytes(p, data);
    let _ = PlaintextOperand::from_bytes(p, data);
    let _ = PublicKey::from_bytes(p, data);
    let _ = RelinearizationKey::from_bytes(p, data);
    let _ = GaloisKeys::from_bytes(p, data);
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
        let _ = SeededCiphertext::from_bytes(p, &bytes);
        let _ = Plaintext::from_bytes(p, &bytes);
        let _ = PlaintextOperand::from_bytes(p, &bytes);
        let _ = PublicKey::from_bytes(p, &bytes);
        let _ = RelinearizationKey::from_bytes(p, &bytes);
        let _ = GaloisKeys::from_bytes(p, &bytes);
    }
});
