//! Quantized integer inference: hand-computed values, overflow detection, agreement with float.

mod common;

use common::{small_lola, Rng};
use henn_nn::model::{argmax, Layer, Model, Padding, Tensor};
use henn_nn::quant::{QuantConfig, QuantError, QuantizedModel};

fn t(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::new(shape.to_vec(), data.to_vec()).unwrap()
}

/// 8-bit inputs (`0..=255`) and weights.
const EIGHT_BITS: QuantConfig = QuantConfig {
    input_bits: 8,
    input_max: 1.0,
    weight_bits: 8,
    layer_weight_bits: std::collections::BTreeMap::new(),
};

fn hand_model() -> Model {
    Model::new(
        "hand",
        vec![1, 2, 2],
        vec![
            Layer::Conv2d {
                weight: t(&[1, 1, 2, 2], &[0.5, -0.25, 1.0, 0.0]),
                bias: Some(t(&[1], &[0.1])),
                stride: (1, 1),
                padding: Padding::default(),
            },
            Layer::Square,
            Layer::Flatten,
            Layer::Dense {
                weight: t(&[2, 1], &[2.0, -1.0]),
                bias: Some(t(&[2], &[0.0, 1.0])),
            },
        ],
    )
}

#[test]
fn integer_forward_matches_hand_computation() {
    // Inputs: 2 bits, scale 1/3. Conv weights: 4 bits (±7), max 1 → scale 1/7, integers
    // [4, -2, 7, 0] (0.5·7 = 3.5 rounds away from zero), bias round(0.1·21) = 2.
    // Dense: 3 bits (±3), max 2 → scale 2/3, integers [3, -2]; its output scale is
    // (1/21)² · 2/3 = 2/1323, bias [0, round(1323/2) = 662].
    let mut config = QuantConfig {
        input_bits: 2,
        weight_bits: 4,
        ..QuantConfig::default()
    };
    config.layer_weight_bits.insert(3, 3);
    let q = QuantizedModel::new(&hand_model(), &config).unwrap();
    let x = q.quantize_input(&[1.0, 0.5, 0.0, 0.2]).unwrap();
    assert_eq!(x, vec![3, 2, 0, 1]);
    // conv: 4·3 − 2·2 + 7·0 + 0·1 + 2 = 10; square 100; dense [3·100, −2·100 + 662].
    let trace = q.forward_trace(&x).unwrap();
    assert_eq!(trace, vec![vec![10], vec![100], vec![100], vec![300, 462]]);
    assert_eq!(q.forward_i64(&x).unwrap(), vec![300, 462]);
    let expect = [1.0 / 21.0, 1.0 / 441.0, 1.0 / 441.0, 2.0 / 1323.0];
    for (s, e) in q.scales.iter().zip(expect) {
        assert!((s - e).abs() < 1e-12 * e, "{s} vs {e}");
    }
    assert_eq!(q.predict(&[1.0, 0.5, 0.0, 0.2]).unwrap(), 1);
    let r = q
        .value_ranges(&[1.0, 0.5, 0.0, 0.2, 0.0, 0.0, 1.0, 1.0])
        .unwrap();
    // second input: [0, 0, 3, 3] → 7·3 + 2 = 23 → 529 → [1587, −1058 + 662 = −396].
    assert_eq!(r.input, 3);
    assert_eq!(r.layers, vec![23, 529, 529, 1587]);
    assert_eq!(r.max(), 1587);
    assert_eq!(r.bits(), 12); // 2·1587 + 1 = 3175 < 4096
}

#[test]
fn average_pool_moves_its_division_into_the_scale() {
    let m = Model::new(
        "avg",
        vec![1, 2, 2],
        vec![Layer::AvgPool {
            kernel: (2, 2),
            stride: (2, 2),
            padding: Padding::default(),
        }],
    );
    let q = QuantizedModel::new(&m, &EIGHT_BITS).unwrap();
    let x = q.quantize_input(&[1.0, 1.0, 0.0, 0.0]).unwrap();
    assert_eq!(q.forward_i64(&x).unwrap(), vec![510]);
    assert!((510.0 * q.output_scale() - 0.5).abs() < 1e-12);
    assert_eq!(q.layers[0].kind(), "sum_pool");
}

#[test]
fn overflow_is_an_error_not_a_wraparound() {
    // 255 squared k times: 2^16, 2^32, 2^64 (past i64), 2^128 (past i128).
    let m = Model::new("pow", vec![1], vec![Layer::Square; 5]);
    let q = QuantizedModel::new(&m, &EIGHT_BITS).unwrap();
    let x = q.quantize_input(&[1.0]).unwrap();
    assert!(matches!(
        q.forward_i128(&x),
        Err(QuantError::Overflow {
            index: 3,
            kind: "square",
            ..
        })
    ));
    assert!(matches!(
        q.forward_i64(&x[..]),
        Err(QuantError::Overflow { .. })
    ));
    let three = Model::new("pow", vec![1], vec![Layer::Square; 3]);
    let q3 = QuantizedModel::new(&three, &EIGHT_BITS).unwrap();
    assert!(matches!(
        q3.forward_i64(&x),
        Err(QuantError::Overflow { index: 2, .. })
    ));
    assert_eq!(q3.forward_i128(&x).unwrap(), vec![255i128.pow(8)]);
}

#[test]
fn enough_bits_agree_with_float() {
    let mut rng = Rng(40);
    let m = small_lola(&mut rng);
    let config = QuantConfig {
        input_bits: 8,
        weight_bits: 10,
        ..QuantConfig::default()
    };
    let q = QuantizedModel::new(&m, &config).unwrap();
    let mut agree = 0;
    let trials = 200;
    for _ in 0..trials {
        let x = rng.vec(m.input_len(), 0., 1.);
        let f = m.forward(&x).unwrap();
        let logits = q.forward_i128(&q.quantize_input(&x).unwrap()).unwrap();
        // Error relative to the largest activation (logits can be small differences of large terms).
        let scale = m
            .forward_trace(&x)
            .unwrap()
            .iter()
            .flatten()
            .fold(0f32, |a, v| a.max(v.abs())) as f64;
        let mut worst = 0f64;
        for (a, b) in f.iter().zip(&logits) {
            let d = (*a as f64 - *b as f64 * q.output_scale()).abs();
            assert!(d < 2e-2 * scale, "{a} vs {}", *b as f64 * q.output_scale());
            worst = worst.max(d);
        }
        let (fa, qa) = (argmax(&f), argmax(&logits));
        if fa == qa {
            agree += 1;
        } else {
            // A disagreement is only allowed on a float near-tie within the rounding error.
            let margin = (f[fa] - f[qa]) as f64;
            assert!(margin <= 2.0 * worst, "margin {margin} > 2 × error {worst}");
        }
    }
    assert!(agree >= trials - 2, "{agree} / {trials}");
    let batch: Vec<f32> = rng.vec(10 * m.input_len(), 0., 1.);
    let preds = q.predict_batch(&batch).unwrap();
    let one_by_one: Vec<usize> = batch
        .chunks(m.input_len())
        .map(|x| q.predict(x).unwrap())
        .collect();
    assert_eq!(preds, one_by_one);
}

#[test]
fn batch_norm_is_folded_and_bad_settings_are_rejected() {
    let mut m = hand_model();
    m.layers.insert(
        1,
        Layer::BatchNorm {
            gamma: t(&[1], &[2.0]),
            beta: t(&[1], &[0.5]),
            mean: t(&[1], &[0.1]),
            var: t(&[1], &[1.0]),
            eps: 0.0,
        },
    );
    let q = QuantizedModel::new(&m, &QuantConfig::default()).unwrap();
    assert_eq!(q.layers.len(), 4);
    assert!(QuantizedModel::new(
        &m,
        &QuantConfig {
            input_bits: 0,
            ..QuantConfig::default()
        }
    )
    .is_err());
    assert!(QuantizedModel::new(
        &m,
        &QuantConfig {
            weight_bits: 40,
            ..QuantConfig::default()
        }
    )
    .is_err());
    assert!(QuantizedModel::new(
        &m,
        &QuantConfig {
            input_max: f32::NAN,
            ..QuantConfig::default()
        }
    )
    .is_err());
    let q = QuantizedModel::new(&hand_model(), &QuantConfig::default()).unwrap();
    assert!(q.quantize_input(&[f32::NAN, 0., 0., 0.]).is_err());
    assert!(q.quantize_input(&[0.; 3]).is_err());
    // Weight bits for a layer without weights.
    let mut c = QuantConfig::default();
    c.layer_weight_bits.insert(1, 4);
    assert!(matches!(
        QuantizedModel::new(&hand_model(), &c),
        Err(QuantError::InvalidConfig(_))
    ));
    let defaults = QuantConfig::default();
    assert_eq!((defaults.input_bits, defaults.weight_bits), (4, 6));
}

#[test]
fn float_value_ranges() {
    let m = hand_model();
    let r = m
        .max_abs_per_layer(&[1.0, 0.5, 0.0, 0.2, 0.0, 0.0, 1.0, 1.0])
        .unwrap();
    // first: 0.5 − 0.125 + 0.1 = 0.475; second: 1.1 → 1.21 → dense [2.42, −0.21]
    let expect = [1.1f32, 1.21, 1.21, 2.42];
    for (a, b) in r.iter().zip(expect) {
        assert!((a - b).abs() < 1e-5, "{r:?}");
    }
}
