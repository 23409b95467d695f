//! Benchmark networks with seeded synthetic weights of realistic size (there is no CIFAR data
//! here): 7CNET (MiniONN, Liu et al. CCS 2017, figure 13; DELPHI's CIFAR-10 network) and
//! ResNet-32 for CIFAR-100 (He et al. CVPR 2016, section 4.2, identity / option-A shortcuts),
//! plus a tiny network with every op kind for tests.
//!
//! Weights are He-uniform (`U(±√(6/fan_in))`), quantized at `weight_frac_bits`; inputs are
//! seeded uniform values in `[0, 1)` ([`synthetic_input`]).

use super::{Network, Op};
use crate::linear::{Conv2d, Dense, LinearLayer};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Builds a network op by op, tracking the activation shape and scale.
struct Builder {
    ops: Vec<Op>,
    shape: (usize, usize, usize),
    frac: u32,
    wfrac: u32,
    act: u32,
    rng: ChaCha20Rng,
    convs: usize,
    denses: usize,
    saved: Vec<((usize, usize, usize), u32)>,
}

impl Builder {
    fn new(shape: (usize, usize, usize), seed: u64, wfrac: u32) -> Self {
        Self {
            ops: Vec::new(),
            shape,
            frac: 8,
            wfrac,
            act: 8,
            rng: ChaCha20Rng::seed_from_u64(seed),
            convs: 0,
            denses: 0,
            saved: Vec::new(),
        }
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn weights(&mut self, len: usize, fan_in: usize, gain: f64) -> Vec<i64> {
        let a = gain * (6.0 / fan_in as f64).sqrt() * (self.wfrac as f64).exp2();
        (0..len)
            .map(|_| ((2.0 * self.uniform() - 1.0) * a).round() as i64)
            .collect()
    }

    fn conv(&mut self, out: usize, k: usize, stride: usize, pad: usize, gain: f64) {
        let (c, h, w) = self.shape;
        let weights = self.weights(out * c * k * k, c * k * k, gain);
        let bias_scale = ((self.frac + self.wfrac) as f64).exp2() * 0.01;
        let bias = (0..out)
            .map(|_| ((2.0 * self.uniform() - 1.0) * bias_scale).round() as i64)
            .collect();
        let conv = Conv2d {
            in_channels: c,
            out_channels: out,
            height: h,
            width: w,
            kernel_h: k,
            kernel_w: k,
            stride,
            pad: (pad, pad, pad, pad),
            weights,
            bias,
        };
        let (oh, ow) = conv.output_hw();
        self.convs += 1;
        self.ops.push(Op::Linear {
            name: format!("conv{}", self.convs),
            layer: LinearLayer::Conv2d(conv),
        });
        self.shape = (out, oh, ow);
        self.frac += self.wfrac;
    }

    fn dense(&mut self, out: usize) {
        let n = self.shape.0 * self.shape.1 * self.shape.2;
        let weights = self.weights(out * n, n, 1.0);
        self.denses += 1;
        self.ops.push(Op::Linear {
            name: format!("fc{}", self.denses),
            layer: LinearLayer::Dense(Dense {
                inputs: n,
                outputs: out,
                weights,
                bias: vec![0; out],
            }),
        });
        self.shape = (out, 1, 1);
        self.frac += self.wfrac;
    }

    fn relu(&mut self) {
        let t = self.frac.saturating_sub(self.act);
        self.ops.push(Op::Relu { frac_bits: t });
        self.frac -= t;
    }

    fn square(&mut self) {
        self.ops.push(Op::Square);
        self.frac *= 2;
    }

    fn avg_pool(&mut self, k: usize) {
        let (c, h, w) = self.shape;
        self.ops.push(Op::AvgPool {
            channels: c,
            height: h,
            width: w,
            window: k,
            stride: k,
            multiplier: 1,
        });
        self.shape = (c, (h - k) / k + 1, (w - k) / k + 1);
        self.frac += (k * k).trailing_zeros();
    }

    fn save(&mut self) {
        self.ops.push(Op::SaveShortcut);
        self.saved.push((self.shape, self.frac));
    }

    fn add_shortcut(&mut self) {
        let (from, f) = self.saved.pop().unwrap_or((self.shape, self.frac));
        self.ops.push(Op::AddShortcut {
            shift: self.frac - f,
            from,
            to: self.shape,
        });
    }

    fn finish(self, name: &str, input: (usize, usize, usize)) -> Network {
        Network {
            name: name.into(),
            input_shape: input,
            input_frac_bits: 8,
            output_frac_bits: self.frac,
            ops: self.ops,
        }
    }
}

/// 7CNET (MiniONN's CIFAR-10 network, DELPHI's "7-layer CNN"): seven convolutions (3×3 with
/// 64 maps at 32×32 and 16×16, 3×3, 1×1, 1×1 at 8×8), two 2×2 average pools, one dense
/// 1024 → 10; 173,056 ReLUs.
pub fn seven_cnet(seed: u64) -> Network {
    let input = (3, 32, 32);
    let mut b = Builder::new(input, seed, 12);
    b.conv(64, 3, 1, 1, 1.0);
    b.relu();
    b.conv(64, 3, 1, 1, 1.0);
    b.relu();
    b.avg_pool(2);
    b.conv(64, 3, 1, 1, 1.0);
    b.relu();
    b.conv(64, 3, 1, 1, 1.0);
    b.relu();
    b.avg_pool(2);
    b.conv(64, 3, 1, 1, 1.0);
    b.relu();
    b.conv(64, 1, 1, 0, 1.0);
    b.relu();
    b.conv(16, 1, 1, 0, 1.0);
    b.relu();
    b.dense(10);
    b.finish("7cnet", input)
}

/// ResNet-32 for CIFAR-100: a 3×3 convolution to 16 maps, three stages of five basic blocks
/// (two 3×3 convolutions each; 16, 32, 64 maps at 32×32, 16×16, 8×8; the first block of
/// stages two and three has stride 2 and an option-A shortcut), global 8×8 average pooling and
/// a dense 64 → 100: 31 convolutions, 303,104 ReLUs. The second convolution of each block has
/// gain `1/√2` so the residual sums keep their variance without batch norm.
pub fn resnet32(seed: u64) -> Network {
    let input = (3, 32, 32);
    let mut b = Builder::new(input, seed, 12);
    b.conv(16, 3, 1, 1, 1.0);
    b.relu();
    for (stage, maps) in [16usize, 32, 64].into_iter().enumerate() {
        for block in 0..5 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            b.save();
            b.conv(maps, 3, stride, 1, 1.0);
            b.relu();
            b.conv(maps, 3, 1, 1, std::f64::consts::FRAC_1_SQRT_2);
            b.add_shortcut();
            b.relu();
        }
    }
    b.avg_pool(8);
    b.dense(100);
    b.finish("resnet32", input)
}

/// A tiny network with every op kind (convolution, ReLU, residual block, average pooling,
/// square, dense) on a 2×6×6 input, for fast tests.
pub fn tiny(seed: u64) -> Network {
    let input = (2, 6, 6);
    let mut b = Builder::new(input, seed, 6);
    b.conv(3, 3, 1, 1, 1.0);
    b.relu();
    b.save();
    b.conv(3, 3, 1, 1, 1.0);
    b.relu();
    b.conv(3, 3, 1, 1, 1.0);
    b.add_shortcut();
    b.relu();
    b.avg_pool(2);
    b.square();
    b.dense(4);
    b.finish("tiny", input)
}

/// A tiny network without square layers (ReLU only) on a 1×5×5 input, for fast tests of the
/// GC path alone.
pub fn tiny_relu(seed: u64) -> Network {
    let input = (1, 5, 5);
    let mut b = Builder::new(input, seed, 8);
    b.conv(2, 3, 2, 1, 1.0);
    b.relu();
    b.dense(6);
    b.relu();
    b.dense(3);
    b.finish("tiny-relu", input)
}

/// Seeded uniform inputs in `[0, 1)`, quantized for `net`.
pub fn synthetic_input(net: &Network, seed: u64) -> Vec<i64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let s = (net.input_frac_bits as f64).exp2();
    (0..net.input_len())
        .map(|_| (((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * s).floor() as i64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::{ShareField, DEFAULT_SHARE_PRIME};

    #[test]
    fn zoo_shapes_and_counts() {
        let c = seven_cnet(1).counts().unwrap();
        assert_eq!(c.linear_layers, 8);
        assert_eq!(c.relus, 2 * 65536 + 2 * 16384 + 4096 + 4096 + 1024);
        let r = resnet32(1).counts().unwrap();
        assert_eq!(r.linear_layers, 32);
        assert_eq!(r.relus, 16384 * 11 + 8192 * 10 + 4096 * 10);
        let t = tiny(1);
        assert!(t.counts().unwrap().squares > 0);
    }

    #[test]
    fn tiny_reference_does_not_wrap_and_depends_on_the_input() {
        let f = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        for net in [tiny(3), tiny_relu(3)] {
            let a = net.reference(&f, &synthetic_input(&net, 1)).unwrap();
            let b = net.reference(&f, &synthetic_input(&net, 2)).unwrap();
            assert_ne!(a, b, "{}", net.name);
        }
    }
}
