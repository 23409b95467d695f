//! The networks of the LoLa paper with synthetic integer weights, for plans, profiles and
//! benchmarks (latency and operation counts do not depend on the weight values; accuracy does,
//! and comes from trained, quantized models of `henn_nn`).
//!
//! Weights are drawn uniformly from `-w..=w` by a fixed linear congruential generator, so the
//! same seed gives the same network everywhere.

use crate::backend::SlotValue;
use crate::conv::{Conv2dGeometry, Padding};
use crate::error::InferResult;
use crate::matrix::Matrix;
use crate::network::{IntLayer, IntNetwork};

/// Deterministic pseudo-random small integers (Knuth's MMIX LCG).
#[derive(Clone, Debug)]
pub struct SmallInts {
    state: u64,
}

impl SmallInts {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x5851_f42d_4c95_7f2d,
        }
    }

    /// The next value in `-w..=w`.
    pub fn next_in(&mut self, w: i64) -> i64 {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let span = (2 * w.max(0) + 1) as u64;
        ((self.state >> 33) % span) as i64 - w.max(0)
    }

    /// `n` values in `-w..=w`.
    pub fn vec<V: SlotValue>(&mut self, n: usize, w: i64) -> Vec<V> {
        (0..n).map(|_| V::from_i64(self.next_in(w))).collect()
    }
}

/// LoLa's MNIST convolution: 28×28 → 5×5 stride 2, 5 maps, padding top/left 1 → 5×13×13.
pub fn mnist_conv_geometry() -> Conv2dGeometry {
    Conv2dGeometry {
        in_channels: 1,
        in_h: 28,
        in_w: 28,
        out_channels: 5,
        kernel_h: 5,
        kernel_w: 5,
        stride: (2, 2),
        padding: Padding {
            top: 1,
            left: 1,
            bottom: 0,
            right: 0,
        },
    }
}

fn conv<V: SlotValue>(g: Conv2dGeometry, rng: &mut SmallInts, w: i64) -> IntLayer<V> {
    IntLayer::Conv2d {
        geometry: g,
        weights: rng.vec(g.out_channels * g.window(), w),
        bias: Some(rng.vec(g.out_channels, w)),
    }
}

fn dense<V: SlotValue>(
    rows: usize,
    cols: usize,
    rng: &mut SmallInts,
    w: i64,
) -> InferResult<IntLayer<V>> {
    Ok(IntLayer::Dense {
        weights: Matrix::new(rows, cols, rng.vec(rows * cols, w))?,
        bias: Some(rng.vec(rows, w)),
    })
}

/// LoLa MNIST (section 4.3): conv 5×5 s2 5 maps → square → dense 100 → square → dense 10.
pub fn lola_mnist<V: SlotValue>(seed: u64, w: i64) -> InferResult<IntNetwork<V>> {
    let mut rng = SmallInts::new(seed);
    Ok(IntNetwork {
        name: "lola-mnist".into(),
        input_len: 784,
        layers: vec![
            conv(mnist_conv_geometry(), &mut rng, w),
            IntLayer::Square,
            dense(100, 845, &mut rng, w)?,
            IntLayer::Square,
            dense(10, 100, &mut rng, w)?,
        ],
    })
}

/// LoLa-Small (section 4.3): conv 5×5 s2 5 maps → square → dense 10.
pub fn lola_small<V: SlotValue>(seed: u64, w: i64) -> InferResult<IntNetwork<V>> {
    let mut rng = SmallInts::new(seed);
    Ok(IntNetwork {
        name: "lola-small".into(),
        input_len: 784,
        layers: vec![
            conv(mnist_conv_geometry(), &mut rng, w),
            IntLayer::Square,
            dense(10, 845, &mut rng, w)?,
        ],
    })
}

/// LoLa's CIFAR-10 network after collapsing linear layers (section 4.4): 3×32×32 →
/// conv 8×8 stride 2, 83 maps (padding 1 on every side: 14×14 outputs, 16268 values) →
/// square → conv 6×6×83 stride 2, 163 maps (5×5 outputs, 4075 values) → square → dense 10.
/// The paper gives no padding; 1 on every side is what makes 32 → 14.
pub fn lola_cifar<V: SlotValue>(seed: u64, w: i64) -> InferResult<IntNetwork<V>> {
    let mut rng = SmallInts::new(seed);
    let c1 = Conv2dGeometry {
        in_channels: 3,
        in_h: 32,
        in_w: 32,
        out_channels: 83,
        kernel_h: 8,
        kernel_w: 8,
        stride: (2, 2),
        padding: Padding {
            top: 1,
            left: 1,
            bottom: 1,
            right: 1,
        },
    };
    let c2 = Conv2dGeometry {
        in_channels: 83,
        in_h: 14,
        in_w: 14,
        out_channels: 163,
        kernel_h: 6,
        kernel_w: 6,
        stride: (2, 2),
        padding: Padding::default(),
    };
    Ok(IntNetwork {
        name: "lola-cifar".into(),
        input_len: 3 * 32 * 32,
        layers: vec![
            conv(c1, &mut rng, w),
            IntLayer::Square,
            conv(c2, &mut rng, w),
            IntLayer::Square,
            dense(10, c2.output_len(), &mut rng, w)?,
        ],
    })
}
