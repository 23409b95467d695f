//! Helpers shared by the integration tests: a deterministic generator and small models.
#![allow(dead_code)]

use henn_nn::model::{Layer, Model, Padding, Tensor};

/// A tiny deterministic generator (SplitMix64) so tests need no RNG crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
    pub fn tensor(&mut self, shape: Vec<usize>, lo: f32, hi: f32) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape, self.vec(n, lo, hi)).unwrap()
    }
}

/// LoLa's MNIST network shape on a small input: conv 3x3 stride 2 top/left padding 1, square,
/// dense, square, dense.
pub fn small_lola(rng: &mut Rng) -> Model {
    Model::new(
        "small-lola",
        vec![1, 8, 8],
        vec![
            Layer::Conv2d {
                weight: rng.tensor(vec![3, 1, 3, 3], -0.5, 0.5),
                bias: Some(rng.tensor(vec![3], -0.1, 0.1)),
                stride: (2, 2),
                padding: Padding {
                    top: 1,
                    left: 1,
                    bottom: 0,
                    right: 0,
                },
            },
            Layer::Square,
            Layer::Flatten,
            Layer::Dense {
                weight: rng.tensor(vec![6, 48], -0.3, 0.3),
                bias: Some(rng.tensor(vec![6], -0.1, 0.1)),
            },
            Layer::Square,
            Layer::Dense {
                weight: rng.tensor(vec![4, 6], -0.5, 0.5),
                bias: None,
            },
        ],
    )
}

/// A model using every layer kind.
pub fn every_kind(rng: &mut Rng) -> Model {
    Model::new(
        "every-kind",
        vec![2, 6, 6],
        vec![
            Layer::BatchNorm {
                gamma: rng.tensor(vec![2], 0.5, 1.5),
                beta: rng.tensor(vec![2], -0.2, 0.2),
                mean: rng.tensor(vec![2], -0.2, 0.2),
                var: rng.tensor(vec![2], 0.5, 2.0),
                eps: 1e-5,
            },
            Layer::Conv2d {
                weight: rng.tensor(vec![3, 2, 2, 2], -0.5, 0.5),
                bias: None,
                stride: (1, 1),
                padding: Padding::uniform(1),
            },
            Layer::Relu,
            Layer::AvgPool {
                kernel: (2, 2),
                stride: (2, 2),
                padding: Padding::default(),
            },
            Layer::SumPool {
                kernel: (2, 2),
                stride: (1, 1),
                padding: Padding {
                    top: 0,
                    left: 1,
                    bottom: 1,
                    right: 0,
                },
            },
            Layer::Square,
            Layer::Flatten,
            Layer::Dense {
                weight: rng.tensor(vec![5, 27], -0.3, 0.3),
                bias: Some(rng.tensor(vec![5], -0.1, 0.1)),
            },
        ],
    )
}
