//! Protocol tests at small **insecure** test parameters (`LayerHeParams::insecure_test`).

use super::*;
use crate::share::DEFAULT_SHARE_PRIME;
use henn_ring::sampler::rng_from_seed;

fn field() -> ShareField {
    ShareField::new(DEFAULT_SHARE_PRIME).unwrap()
}

pub(crate) fn small_weights(seed: u8, len: usize, bound: i64) -> Vec<i64> {
    let mut rng = rng_from_seed(&[seed; 32]);
    (0..len)
        .map(|_| (rng.next_u64() % (2 * bound as u64 + 1)) as i64 - bound)
        .collect()
}

pub(crate) fn dense(inputs: usize, outputs: usize, seed: u8) -> LinearLayer {
    LinearLayer::Dense(Dense {
        inputs,
        outputs,
        weights: small_weights(seed, inputs * outputs, 127),
        bias: small_weights(seed ^ 1, outputs, 1000),
    })
}

#[allow(clippy::too_many_arguments)]
fn conv(
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: (usize, usize, usize, usize),
    seed: u8,
) -> LinearLayer {
    LinearLayer::Conv2d(Conv2d {
        in_channels: cin,
        out_channels: cout,
        height: h,
        width: w,
        kernel_h: kh,
        kernel_w: kw,
        stride,
        pad,
        weights: small_weights(seed, cout * cin * kh * kw, 127),
        bias: small_weights(seed ^ 1, cout, 1000),
    })
}

/// Runs the whole offline phase through serialized messages and checks
/// `client + server = M·r` bit-exactly. Returns the context for further checks.
fn run(layer: &LinearLayer, encoding: Encoding) -> LayerHeContext {
    let f = field();
    let ctx = LayerHeContext::new_insecure_test(
        &PublicLayer::of(layer),
        &LayerHeParams::insecure_test(encoding),
    )
    .unwrap();
    let mut client = LinearClient::new(&ctx).unwrap();
    let keys_bytes = client.evaluation_keys().unwrap().to_bytes(&ctx);
    // the server only ever receives bytes: keys and ciphertexts
    let server = LinearServer::new(
        layer,
        &ctx,
        EvaluationKeys::from_bytes(&ctx, &keys_bytes).unwrap(),
    )
    .unwrap();
    let r = client.sample_mask().unwrap();
    let req_bytes = client.request(&r).unwrap().to_bytes(&ctx);
    let req = OfflineRequest::from_bytes(&ctx, &req_bytes).unwrap();
    let (resp, server_share) = server.respond(&req).unwrap();
    let resp_bytes = resp.to_bytes(&ctx);
    let resp = OfflineResponse::from_bytes(&ctx, &resp_bytes).unwrap();
    assert!(resp.outputs.iter().all(|c| c.level() == ctx.output_level));
    let client_share = client.finish(&r, &resp).unwrap();
    // flooding is present at the top level: at least F − log2(B_M) − 2 bits more noise
    // than the unflooded result (and still decryptable)
    let raw = server.evaluate(&req).unwrap();
    let (top_resp, _) = server.respond_at(&req, ctx.params.max_level()).unwrap();
    for (ct, out) in raw.iter().zip(&top_resp.outputs) {
        let (b_raw, b_out) = (
            client.noise_budget(ct).unwrap(),
            client.noise_budget(out).unwrap(),
        );
        let gap = ctx.flood_bits as f64 - ctx.noise_bits - 2.0;
        assert!(
            (b_out as f64) + gap <= b_raw as f64 && b_out > 0,
            "{encoding:?}: flooded budget {b_out}, raw {b_raw}, expected a gap of {gap:.1} bits"
        );
    }
    assert!(client.finish(&r, &resp).is_ok());
    let expect = layer.apply_linear(&f, &r).unwrap();
    let got: Vec<u64> = client_share
        .iter()
        .zip(&server_share)
        .map(|(&c, &s)| f.add(c, s))
        .collect();
    assert_eq!(got, expect, "{encoding:?} shares do not reconstruct M·r");
    // the client's value is exactly M·r − s, s uniform: it is not M·r itself
    assert_ne!(client_share, expect);

    // the worst-case noise bound holds for the unflooded result
    let raw = server.evaluate(&req).unwrap();
    let log_q: f64 = ctx
        .params
        .rlwe()
        .q_basis()
        .moduli()
        .iter()
        .map(|&m| (m as f64).log2())
        .sum();
    for ct in &raw {
        let budget = client.noise_budget(ct).unwrap() as f64;
        let measured = log_q - budget - 1.0 - (DEFAULT_SHARE_PRIME as f64).log2();
        assert!(
            measured <= ctx.noise_bits + 1.0,
            "{encoding:?}: measured noise 2^{measured:.1} above the bound 2^{:.1}",
            ctx.noise_bits
        );
    }
    ctx
}

#[test]
fn dense_wide_both_encodings() {
    let layer = dense(20, 6, 1);
    run(&layer, Encoding::Slot);
    let ctx = run(&layer, Encoding::Coefficient);
    assert!(ctx.packing.rotation_steps.is_empty());
}

#[test]
fn dense_tall_both_encodings() {
    let layer = dense(5, 12, 2);
    run(&layer, Encoding::Slot);
    run(&layer, Encoding::Coefficient);
}

#[test]
fn dense_split_across_coefficient_blocks() {
    // 100·9 > 128: several input and output ciphertexts
    let layer = dense(100, 9, 3);
    let ctx = run(&layer, Encoding::Coefficient);
    assert!(ctx.packing.inputs.len() * ctx.packing.output_cts > 1);
}

#[test]
fn conv_strided_asymmetric_padding_multichannel_both_encodings() {
    let layer = conv(2, 2, 3, 4, 2, 2, 2, (1, 0, 0, 1), 4);
    run(&layer, Encoding::Slot);
    let ctx = run(&layer, Encoding::Coefficient);
    // both output channels share one ciphertext (disjoint coefficient ranges)
    assert_eq!(ctx.packing.output_cts, 1);
}

#[test]
fn conv_channel_groups_coefficient_and_slot_refusal() {
    let layer = conv(3, 2, 6, 6, 3, 3, 1, (0, 1, 1, 0), 5);
    let ctx = run(&layer, Encoding::Coefficient);
    assert_eq!(ctx.packing.inputs.len(), 2);
    let err = LayerHeContext::new_insecure_test(
        &PublicLayer::of(&layer),
        &LayerHeParams::insecure_test(Encoding::Slot),
    )
    .unwrap_err();
    assert!(err.to_string().contains("slots"), "{err}");
}

#[test]
fn pooling_both_encodings() {
    let layer = LinearLayer::Pool(Pool::average(2, 4, 4, 2, 2, 6));
    run(&layer, Encoding::Slot);
    run(&layer, Encoding::Coefficient);
}

#[test]
fn residual_both_encodings() {
    let layer = LinearLayer::Residual(Box::new(conv(2, 2, 3, 3, 3, 3, 1, (1, 1, 1, 1), 6)));
    run(&layer, Encoding::Slot);
    run(&layer, Encoding::Coefficient);
}

#[test]
fn malformed_messages_are_rejected() {
    let layer = dense(20, 6, 7);
    let ctx = LayerHeContext::new_insecure_test(
        &PublicLayer::of(&layer),
        &LayerHeParams::insecure_test(Encoding::Coefficient),
    )
    .unwrap();
    let mut client = LinearClient::new(&ctx).unwrap();
    let keys = client.evaluation_keys().unwrap();
    let server = LinearServer::new(&layer, &ctx, keys).unwrap();
    let r = client.sample_mask().unwrap();
    let bytes = client.request(&r).unwrap().to_bytes(&ctx);
    for cut in [0, 3, 4, 10, bytes.len() - 1] {
        assert!(OfflineRequest::from_bytes(&ctx, &bytes[..cut]).is_err());
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(OfflineRequest::from_bytes(&ctx, &extra).is_err());
    let mut count = bytes.clone();
    count[0] = 9;
    assert!(OfflineRequest::from_bytes(&ctx, &count).is_err());
    let mut huge = bytes.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(OfflineRequest::from_bytes(&ctx, &huge).is_err());
    // a response at the wrong level is refused by the client
    let req = OfflineRequest::from_bytes(&ctx, &bytes).unwrap();
    let raw = server.evaluate(&req).unwrap();
    let wrong = OfflineResponse { outputs: raw };
    assert!(OfflineResponse::from_bytes(&ctx, &wrong.to_bytes(&ctx)).is_err());
    assert!(client.finish(&r, &wrong).is_err());
    // keys for slot encoding must include the Galois keys
    let slot_ctx = LayerHeContext::new_insecure_test(
        &PublicLayer::of(&layer),
        &LayerHeParams::insecure_test(Encoding::Slot),
    )
    .unwrap();
    let coeff_keys = client.evaluation_keys().unwrap().to_bytes(&ctx);
    assert!(EvaluationKeys::from_bytes(&slot_ctx, &coeff_keys).is_err());
}

mod random_shapes {
    use super::*;
    use proptest::prelude::*;

    fn both(layer: &LinearLayer) {
        for enc in [Encoding::Slot, Encoding::Coefficient] {
            let fits = LayerHeContext::new_insecure_test(
                &PublicLayer::of(layer),
                &LayerHeParams::insecure_test(enc),
            );
            match fits {
                Ok(_) => {
                    run(layer, enc);
                }
                // only the packing may refuse a small random layer
                Err(e) => assert!(
                    e.to_string().contains("exceeds") || e.to_string().contains("slots"),
                    "{e}"
                ),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn random_dense_layers(inputs in 1usize..=32, outputs in 1usize..=24, seed in any::<u8>()) {
            both(&dense(inputs, outputs, seed));
        }

        #[test]
        fn random_conv_layers(
            cin in 1usize..=3, cout in 1usize..=3, h in 2usize..=5, w in 2usize..=5,
            kh in 1usize..=3, kw in 1usize..=3, stride in 1usize..=2,
            pad in (0usize..=1, 0usize..=1, 0usize..=1, 0usize..=1), seed in any::<u8>(),
        ) {
            prop_assume!(h + pad.0 + pad.1 >= kh && w + pad.2 + pad.3 >= kw);
            both(&conv(cin, cout, h, w, kh, kw, stride, pad, seed));
        }
    }
}
