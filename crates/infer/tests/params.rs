//! The planner's BFV parameter choice: 128-bit secure, plaintext space large enough, noise
//! estimate positive; and the noise estimate refuses the parameters that failed on LoLa MNIST.

use henn_he::bfv::{BfvParametersBuilder, BFV_128BIT_LOGN13_LOGQP218};
use henn_infer::params::{choose_bfv, estimate_budget, noise_parameters};
use henn_infer::plan::{plan, Strategy};
use henn_infer::representation::SlotGeometry;
use henn_infer::session::costs::bfv_costs;
use henn_infer::zoo::{lola_mnist, lola_small};

#[test]
fn choice_is_secure_large_enough_and_within_budget() {
    for (net, bits) in [
        (lola_small::<i128>(3, 31).expect("net"), 40u32),
        (lola_mnist::<i128>(3, 31).expect("net"), 68),
    ] {
        let c = choose_bfv(
            &net,
            bits,
            &[Strategy::LoLa, Strategy::LoLaBsgs],
            None,
            4.0,
            bfv_costs,
        )
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
    assert!(choose_bfv(&net, 2000, &[Strategy::LoLaBsgs], None, 4.0, bfv_costs).is_err());
}

#[test]
fn ckks_choice_fits_the_depth_and_prefers_the_cheaper_plan() {
    use henn_infer::backend::clear::OpKind;
    use henn_infer::cost::OpCosts;
    use henn_infer::network::IntLayer;
    use henn_infer::params::choose_ckks;
    use henn_infer::representation::Representation;
    // Rotations dominate, as on the engine.
    let costs = OpCosts {
        ms: vec![
            (OpKind::MulPlain, 0.1),
            (OpKind::MulRelin, 5.0),
            (OpKind::Rotate, 1.5),
            (OpKind::HoistedRotate, 0.8),
        ],
    };
    let net = lola_mnist::<f64>(5, 1).expect("net");
    let mut asked = Vec::new();
    let choice = choose_ckks(
        &net,
        &[Strategy::LoLa, Strategy::LoLaBsgs],
        &[13, 14],
        6,
        |log_n, chain| {
            asked.push((log_n, chain.clone()));
            Ok(costs.clone())
        },
    )
    .expect("lola-mnist fits CKKS at n = 8192");
    assert_eq!(choice.log_n, 13);
    assert_eq!(choice.plan.strategy, Strategy::LoLaBsgs);
    assert!(matches!(
        choice.plan.input,
        Representation::StackedConvolution(_)
    ));
    // conv, square, dense, square, dense: five rescalings, one prime each above q_0.
    assert_eq!(choice.depth, 5);
    assert_eq!(choice.chain.q_bits.len(), 6);
    let bound = henn_he::rlwe::params::max_log_qp_128(13).expect("bound");
    assert!(
        choice
            .chain
            .q_bits
            .iter()
            .chain(&choice.chain.p_bits)
            .sum::<u32>()
            <= bound
    );
    assert!(asked.iter().any(|(l, _)| *l == 14));
    assert!(choice.estimated_ms > 0.0);

    // Too deep for any ring degree offered: a clear error, not a panic.
    let mut deep = lola_small::<f64>(5, 1).expect("net");
    for _ in 0..12 {
        deep.layers.push(IntLayer::Square);
    }
    let err = choose_ckks(&deep, &[Strategy::LoLaBsgs], &[13], 6, |_, _| {
        Ok(costs.clone())
    })
    .expect_err("depth 15 does not fit n = 8192");
    assert!(err.to_string().contains("CKKS"), "{err}");
}
