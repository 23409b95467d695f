//! Plaintext inference against values worked out by hand.

mod common;

use common::{every_kind, small_lola, Rng};
use henn_nn::model::{Layer, Model, ModelError, Padding, Tensor};

fn t(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::new(shape.to_vec(), data.to_vec()).unwrap()
}

fn run(input_shape: &[usize], layer: Layer, input: &[f32]) -> Vec<f32> {
    Model::new("t", input_shape.to_vec(), vec![layer])
        .forward(input)
        .unwrap()
}

const NINE: [f32; 9] = [1., 2., 3., 4., 5., 6., 7., 8., 9.];

#[test]
fn conv_single_channel() {
    // [[1,2,3],[4,5,6],[7,8,9]] ⋆ [[1,2],[3,4]] + 1: 1+4+12+20+1 = 38, 2+6+15+24+1 = 48, ...
    let out = run(
        &[1, 3, 3],
        Layer::Conv2d {
            weight: t(&[1, 1, 2, 2], &[1., 2., 3., 4.]),
            bias: Some(t(&[1], &[1.])),
            stride: (1, 1),
            padding: Padding::default(),
        },
        &NINE,
    );
    assert_eq!(out, vec![38., 48., 68., 78.]);
}

#[test]
fn conv_stride_and_asymmetric_padding() {
    // Padded top/left by one: rows [0 0 0 0],[0 1 2 3],[0 4 5 6],[0 7 8 9]; 2x2 ones, stride 2.
    let out = run(
        &[1, 3, 3],
        Layer::Conv2d {
            weight: t(&[1, 1, 2, 2], &[1., 1., 1., 1.]),
            bias: None,
            stride: (2, 2),
            padding: Padding {
                top: 1,
                left: 1,
                bottom: 0,
                right: 0,
            },
        },
        &NINE,
    );
    assert_eq!(out, vec![1., 5., 11., 28.]);
}

#[test]
fn conv_multiple_channels() {
    // out0 = ch0 + ch1, out1 = 2 ch0 - ch1 + 10.
    let out = run(
        &[2, 2, 2],
        Layer::Conv2d {
            weight: t(&[2, 2, 1, 1], &[1., 1., 2., -1.]),
            bias: Some(t(&[2], &[0., 10.])),
            stride: (1, 1),
            padding: Padding::default(),
        },
        &[1., 2., 3., 4., 5., 6., 7., 8.],
    );
    assert_eq!(out, vec![6., 8., 10., 12., 7., 8., 9., 10.]);
}

#[test]
fn dense_layer() {
    let out = run(
        &[3],
        Layer::Dense {
            weight: t(&[2, 3], &[1., 2., 3., -1., 0., 1.]),
            bias: Some(t(&[2], &[0.5, -1.])),
        },
        &[1., 2., 3.],
    );
    assert_eq!(out, vec![14.5, 1.]);
}

#[test]
fn activations() {
    assert_eq!(
        run(&[3], Layer::Square, &[-2., 3., 0.5]),
        vec![4., 9., 0.25]
    );
    assert_eq!(run(&[3], Layer::Relu, &[-2., 3., 0.]), vec![0., 3., 0.]);
}

#[test]
fn pooling_counts_padding_in_the_average() {
    // [1 2 3 0; 4 5 6 0] after right padding; windows {1,2,4,5} and {3,0,6,0}.
    let pad = Padding {
        top: 0,
        left: 0,
        bottom: 0,
        right: 1,
    };
    let x = [1., 2., 3., 4., 5., 6.];
    let avg = run(
        &[1, 2, 3],
        Layer::AvgPool {
            kernel: (2, 2),
            stride: (2, 2),
            padding: pad,
        },
        &x,
    );
    assert_eq!(avg, vec![3., 2.25]);
    let sum = run(
        &[1, 2, 3],
        Layer::SumPool {
            kernel: (2, 2),
            stride: (2, 2),
            padding: pad,
        },
        &x,
    );
    assert_eq!(sum, vec![12., 9.]);
}

#[test]
fn flatten_keeps_values() {
    let m = Model::new("t", vec![1, 3, 3], vec![Layer::Flatten]);
    assert_eq!(m.forward(&NINE).unwrap(), NINE.to_vec());
    assert_eq!(m.output_shape().unwrap(), vec![9]);
}

#[test]
fn batch_norm_per_channel() {
    // ch0: 2 (x - 1) / sqrt(3 + 1) + 0 = x - 1; ch1: 1 (x - 0) / sqrt(0 + 1) + 1 = x + 1.
    let out = run(
        &[2, 1, 2],
        Layer::BatchNorm {
            gamma: t(&[2], &[2., 1.]),
            beta: t(&[2], &[0., 1.]),
            mean: t(&[2], &[1., 0.]),
            var: t(&[2], &[3., 0.]),
            eps: 1.,
        },
        &[1., 2., 3., 4.],
    );
    assert_eq!(out, vec![0., 1., 4., 5.]);
}

#[test]
fn two_layer_network_by_hand() {
    // conv ones 2x2 on [[1,2],[3,4]] = 10, square = 100, dense 0.5 x - 1 = 49.
    let m = Model::new(
        "t",
        vec![1, 2, 2],
        vec![
            Layer::Conv2d {
                weight: t(&[1, 1, 2, 2], &[1., 1., 1., 1.]),
                bias: None,
                stride: (1, 1),
                padding: Padding::default(),
            },
            Layer::Square,
            Layer::Flatten,
            Layer::Dense {
                weight: t(&[1, 1], &[0.5]),
                bias: Some(t(&[1], &[-1.])),
            },
        ],
    );
    assert_eq!(m.forward(&[1., 2., 3., 4.]).unwrap(), vec![49.]);
    let trace = m.forward_trace(&[1., 2., 3., 4.]).unwrap();
    assert_eq!(trace[1], vec![100.]);
}

#[test]
fn batch_equals_one_by_one() {
    let mut rng = Rng(20);
    for m in [small_lola(&mut rng), every_kind(&mut rng)] {
        let n = m.input_len();
        let xs = rng.vec(5 * n, 0., 1.);
        let batch = m.forward_batch(&xs).unwrap();
        assert_eq!(batch.len(), 5);
        for (k, out) in batch.iter().enumerate() {
            assert_eq!(out, &m.forward(&xs[k * n..(k + 1) * n]).unwrap());
        }
    }
}

#[test]
fn wrong_input_length_is_an_error() {
    let m = small_lola(&mut Rng(21));
    assert!(matches!(
        m.forward(&[0.; 63]),
        Err(ModelError::InputLength {
            expected: 64,
            got: 63
        })
    ));
    assert!(m.forward_batch(&[0.; 65]).is_err());
}
