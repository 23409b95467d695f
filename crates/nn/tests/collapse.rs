//! Batch-norm folding and linear-layer collapsing preserve the network's function.

mod common;

use common::Rng;
use henn_nn::model::{Layer, Model, ModelError, Padding, Tensor};
use proptest::prelude::*;

/// Largest difference relative to the largest magnitude (at least 1).
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn assert_same_function(a: &Model, b: &Model, rng: &mut Rng, trials: usize) {
    for _ in 0..trials {
        let x = rng.vec(a.input_len(), -1., 1.);
        let (ya, yb) = (a.forward(&x).unwrap(), b.forward(&x).unwrap());
        let d = rel_diff(&ya, &yb);
        assert!(d < 1e-4, "relative difference {d}: {ya:?} vs {yb:?}");
    }
}

fn kinds(m: &Model) -> Vec<&'static str> {
    m.layers.iter().map(|l| l.kind()).collect()
}

fn bn(rng: &mut Rng, c: usize) -> Layer {
    Layer::BatchNorm {
        gamma: rng.tensor(vec![c], 0.5, 1.5),
        beta: rng.tensor(vec![c], -0.5, 0.5),
        mean: rng.tensor(vec![c], -0.5, 0.5),
        var: rng.tensor(vec![c], 0.2, 2.0),
        eps: 1e-5,
    }
}

fn conv(rng: &mut Rng, oc: usize, ic: usize, k: usize, s: usize, p: Padding) -> Layer {
    Layer::Conv2d {
        weight: rng.tensor(vec![oc, ic, k, k], -0.5, 0.5),
        bias: Some(rng.tensor(vec![oc], -0.2, 0.2)),
        stride: (s, s),
        padding: p,
    }
}

fn dense(rng: &mut Rng, o: usize, i: usize) -> Layer {
    Layer::Dense {
        weight: rng.tensor(vec![o, i], -0.3, 0.3),
        bias: Some(rng.tensor(vec![o], -0.2, 0.2)),
    }
}

#[test]
fn batch_norm_folds_into_preceding_layers() {
    let mut rng = Rng(30);
    let m = Model::new(
        "t",
        vec![1, 6, 6],
        vec![
            conv(&mut rng, 2, 1, 3, 1, Padding::uniform(1)),
            bn(&mut rng, 2),
            Layer::Square,
            Layer::Flatten,
            dense(&mut rng, 4, 72),
            bn(&mut rng, 4),
            Layer::Relu,
        ],
    );
    let f = m.fold_batch_norm().unwrap();
    assert_eq!(kinds(&f), ["conv2d", "square", "flatten", "dense", "relu"]);
    assert_same_function(&m, &f, &mut rng, 10);
}

#[test]
fn batch_norm_folds_into_following_layers() {
    let mut rng = Rng(31);
    let m = Model::new(
        "t",
        vec![2, 5, 5],
        vec![
            bn(&mut rng, 2),
            conv(&mut rng, 3, 2, 2, 1, Padding::default()),
            Layer::Relu,
            bn(&mut rng, 3),
            Layer::Flatten,
            dense(&mut rng, 4, 48),
        ],
    );
    let f = m.fold_batch_norm().unwrap();
    assert_eq!(kinds(&f), ["conv2d", "relu", "flatten", "dense"]);
    assert_same_function(&m, &f, &mut rng, 10);
}

#[test]
fn unfoldable_batch_norm_is_reported() {
    let mut rng = Rng(32);
    let padded = Model::new(
        "t",
        vec![1, 5, 5],
        vec![
            bn(&mut rng, 1),
            conv(&mut rng, 1, 1, 3, 1, Padding::uniform(1)),
        ],
    );
    assert!(matches!(
        padded.fold_batch_norm(),
        Err(ModelError::Unsupported {
            index: 0,
            kind: "batch_norm",
            ..
        })
    ));
    let between = Model::new(
        "t",
        vec![2],
        vec![Layer::Relu, bn(&mut rng, 2), Layer::Relu],
    );
    assert!(matches!(
        between.fold_batch_norm(),
        Err(ModelError::Unsupported { index: 1, .. })
    ));
}

#[test]
fn lola_style_training_network_collapses_to_conv_square_dense_square_dense() {
    let mut rng = Rng(33);
    let pad = Padding {
        top: 1,
        left: 1,
        bottom: 0,
        right: 0,
    };
    let m = Model::new(
        "t",
        vec![1, 12, 12],
        vec![
            conv(&mut rng, 3, 1, 3, 1, pad),
            Layer::AvgPool {
                kernel: (2, 2),
                stride: (2, 2),
                padding: Padding::default(),
            },
            conv(&mut rng, 4, 3, 2, 1, Padding::default()),
            bn(&mut rng, 4),
            Layer::Square,
            Layer::Flatten,
            dense(&mut rng, 8, 64),
            dense(&mut rng, 6, 8),
            Layer::Square,
            dense(&mut rng, 3, 6),
        ],
    );
    let c = m.collapse_linear().unwrap();
    assert_eq!(kinds(&c), ["conv2d", "square", "dense", "square", "dense"]);
    // conv 3/1 then pool 2/2 then conv 2/1: K = 3 + 1 + 2 = 6, S = 2.
    let Layer::Conv2d {
        weight,
        stride,
        padding,
        ..
    } = &c.layers[0]
    else {
        unreachable!()
    };
    assert_eq!(weight.shape, vec![4, 1, 6, 6]);
    assert_eq!(*stride, (2, 2));
    assert_eq!(*padding, pad);
    assert_same_function(&m, &c, &mut rng, 10);
}

#[test]
fn conv_into_dense_becomes_dense() {
    let mut rng = Rng(34);
    let m = Model::new(
        "t",
        vec![1, 6, 6],
        vec![
            conv(&mut rng, 2, 1, 3, 2, Padding::uniform(1)),
            Layer::Flatten,
            dense(&mut rng, 3, 18),
        ],
    );
    let c = m.collapse_linear().unwrap();
    assert_eq!(kinds(&c), ["dense"]);
    assert_same_function(&m, &c, &mut rng, 10);
}

#[test]
fn padded_second_layer_is_not_a_convolution() {
    let mut rng = Rng(35);
    let layers = vec![
        conv(&mut rng, 2, 1, 3, 1, Padding::default()),
        conv(&mut rng, 2, 2, 3, 1, Padding::uniform(1)),
    ];
    // Output stays CHW: the run is kept.
    let m = Model::new("t", vec![1, 6, 6], layers.clone());
    assert_eq!(kinds(&m.collapse_linear().unwrap()), ["conv2d", "conv2d"]);
    // Output flat: one dense layer.
    let mut with_flatten = layers;
    with_flatten.push(Layer::Flatten);
    let m = Model::new("t", vec![1, 6, 6], with_flatten);
    let c = m.collapse_linear().unwrap();
    assert_eq!(kinds(&c), ["dense"]);
    assert_same_function(&m, &c, &mut rng, 10);
}

#[derive(Debug, Clone)]
struct Window {
    kind: u8,
    k: usize,
    s: usize,
    pad: [usize; 4],
    out: usize,
}

fn window() -> impl Strategy<Value = Window> {
    (
        0u8..3,
        1usize..=3,
        1usize..=2,
        [0usize..=1, 0..=1, 0..=1, 0..=1],
        1usize..=3,
    )
        .prop_map(|(kind, k, s, pad, out)| Window {
            kind,
            k,
            s,
            pad,
            out,
        })
}

fn build(rng: &mut Rng, w: &Window, c: usize, pad: bool) -> (Layer, usize) {
    let p = if pad {
        Padding {
            top: w.pad[0],
            left: w.pad[1],
            bottom: w.pad[2],
            right: w.pad[3],
        }
    } else {
        Padding::default()
    };
    match w.kind {
        0 => (conv(rng, w.out, c, w.k, w.s, p), w.out),
        1 => (
            Layer::AvgPool {
                kernel: (w.k, w.k),
                stride: (w.s, w.s),
                padding: p,
            },
            c,
        ),
        _ => (
            Layer::SumPool {
                kernel: (w.k, w.k),
                stride: (w.s, w.s),
                padding: p,
            },
            c,
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random conv/pool/bn chains with a dense tail collapse to the same function.
    #[test]
    fn collapsed_models_compute_the_same_function(
        seed in any::<u64>(),
        cin in 1usize..=2,
        h in 4usize..=9,
        w in 4usize..=9,
        first in window(),
        second in window(),
        pad_second in any::<bool>(),
        with_bn in any::<bool>(),
        hidden in 1usize..=4,
    ) {
        let mut rng = Rng(seed);
        let (l1, c1) = build(&mut rng, &first, cin, true);
        let mut layers = vec![l1];
        if with_bn {
            layers.push(bn(&mut rng, c1));
        }
        let (l2, c2) = build(&mut rng, &second, c1, pad_second);
        layers.push(l2);
        let probe = Model::new("p", vec![cin, h, w], layers.clone());
        let Ok(shape) = probe.output_shape() else { return Err(TestCaseError::reject("shape")) };
        let n: usize = shape.iter().product();
        prop_assume!(shape[0] == c2);
        layers.push(Layer::Square);
        layers.push(Layer::Flatten);
        layers.push(dense(&mut rng, hidden, n));
        layers.push(dense(&mut rng, 2, hidden));
        let m = Model::new("p", vec![cin, h, w], layers);
        prop_assert!(m.validate().is_ok());
        let c = m.collapse_linear().unwrap();
        prop_assert!(c.layers.len() < m.layers.len());
        prop_assert_eq!(c.output_shape().unwrap(), vec![2]);
        for _ in 0..3 {
            let x = rng.vec(m.input_len(), -1., 1.);
            let d = rel_diff(&m.forward(&x).unwrap(), &c.forward(&x).unwrap());
            prop_assert!(d < 1e-4, "relative difference {}", d);
        }
        if with_bn {
            let f = m.fold_batch_norm();
            if let Ok(f) = f {
                let x = rng.vec(m.input_len(), -1., 1.);
                let d = rel_diff(&m.forward(&x).unwrap(), &f.forward(&x).unwrap());
                prop_assert!(d < 1e-4, "fold: relative difference {}", d);
            }
        }
    }
}

#[test]
fn tensor_helpers() {
    assert!(Tensor::new(vec![2, 2], vec![0.; 3]).is_err());
    assert_eq!(Tensor::zeros(vec![2, 3]).unwrap().len(), 6);
}
