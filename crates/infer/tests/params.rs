//! The planner's BFV parameter choice: 128-bit secure, plaintext space large enough, noise
//! estimate positive; and the noise estimate refuses the parameters that failed on LoLa MNIST.

use henn_he::bfv::{BfvParametersBuilder, BFV_128BIT_LOGN13_LOGQP218};
use henn_infer::params::{choose_bfv, estimate_budget, noise_parameters};
use henn_infer::plan::{plan, Strategy};
use henn_infer::representation::SlotGeometry;
use henn_infer::zoo::{lola_mnist, lola_small};

#[test]
fn choice_is_secure_large_enough_and_within_budget() {
    for (net, bits) in [
        (lola_small::<i128>(3, 31).expect("net"), 40u32),
        (lola_mnist::<i128>(3, 31).expect("net"), 68),
    ] {
        let c = choose_bfv(&net, bits, &[Strategy::LoLa, Strategy::LoLaBsgs], None, 4.0)
            .expect("choice");
        // 128-bit: the preset builds with the security check on, for every prime.
        for &t in &c.primes {
            let p = BfvParametersBuilder::preset(c.preset)
                .plaintext_modulus(t)
                .build()
                .expect("secure parameters");
            assert!(p.rlwe().is_secure());
            assert!(p.supports_batching());
        }
        assert!(c.plaintext_bits() >= f64::from(bits), "{}", net.name);
        assert!(c.estimated_budget >= 4.0);
        assert!(c.estimated_ms > 0.0);
    }
}

#[test]
fn estimate_refuses_lola_mnist_with_23_bit_primes_at_8192() {
    // Measured (henn bench lola, LoLaBsgs, n = 8192, primes 8273921, 8257537, 8159233): the
    // noise budget reached 0 and the logits decrypted wrongly.
    let net = lola_mnist::<i128>(3, 31).expect("net");
    let preset = BFV_128BIT_LOGN13_LOGQP218;
    let g = SlotGeometry {
        rows: 2,
        row_len: 4096,
    };
    let mut p = plan(&net, g, Strategy::LoLaBsgs).expect("plan");
    p.rescale = false;
    let (bad, _) = estimate_budget(
        &net,
        &p,
        noise_parameters(&preset, &[8273921, 8257537, 8159233]),
    )
    .expect("estimate");
    assert!(bad < 0.0, "estimate {bad}");
    // Measured on the trained model with 163841, 147457, 114689, 65537: exact, 21 bits left.
    // Smaller primes leave more budget (about 6 bits per multiplication here).
    let (good, _) = estimate_budget(
        &net,
        &p,
        noise_parameters(&preset, &[163841, 147457, 114689, 65537]),
    )
    .expect("estimate");
    assert!(
        good > bad + 20.0 && good <= 21.0,
        "estimate {good} vs {bad}"
    );
    // An impossible range: no preset has room.
    assert!(choose_bfv(&net, 2000, &[Strategy::LoLaBsgs], None, 4.0).is_err());
}
