//! Linear layers with the shapes of henn's networks and deterministic synthetic weights, for
//! tests, benchmarks and the encoding chooser (not trained models).

use super::layer::{Conv2d, Dense, LinearLayer};

/// Deterministic weights in `[-127, 127]` (8-bit fixed point).
fn synthetic_weights(len: usize, mult: i64) -> Vec<i64> {
    (0..len as i64).map(|k| (k * mult % 255) - 127).collect()
}

/// The linear layers of the shipped relu-cnn (LoLa's MNIST shapes): `conv1` 5×5 stride 2 with
/// 5 maps on 28×28, padding top/left 1 (→ 5×13×13 = 845); `fc1` 845 → 100; `fc2` 100 → 10.
pub fn relu_cnn() -> Vec<(&'static str, LinearLayer)> {
    let conv = LinearLayer::Conv2d(Conv2d {
        in_channels: 1,
        out_channels: 5,
        height: 28,
        width: 28,
        kernel_h: 5,
        kernel_w: 5,
        stride: 2,
        pad: (1, 0, 1, 0),
        weights: synthetic_weights(125, 37),
        bias: vec![0; 5],
    });
    let dense = |i: usize, o: usize| {
        LinearLayer::Dense(Dense {
            inputs: i,
            outputs: o,
            weights: synthetic_weights(i * o, 53),
            bias: vec![0; o],
        })
    };
    vec![
        ("conv1", conv),
        ("fc1", dense(845, 100)),
        ("fc2", dense(100, 10)),
    ]
}
