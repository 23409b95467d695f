//! Linear layers independent of any encoding, with a plain reference over `Z_p`.
//!
//! Values are signed fixed-point integers mapped into `Z_p` ([`ShareField::from_signed`]);
//! weights and biases are signed integers (already scaled). Tensors are flattened in CHW
//! order. Every layer is `y = M·x + b`; the HE offline phase (DELPHI §4) evaluates only the
//! linear part `M·x` (the bias is added locally by the server online), so the reference offers
//! both [`LinearLayer::apply`] (`M·x + b`) and [`LinearLayer::apply_linear`] (`M·x`).
//!
//! Average pooling is sum pooling times a fixed-point multiplier `round(2^f / k²)`; batch norm is
//! folded into the preceding convolution or dense layer ([`fold_batch_norm`]); a residual
//! addition with an identity shortcut is `y = body(x) + x` ([`LinearLayer::Residual`]), whose
//! identity part is local on additive shares (no HE).

use crate::error::TwoPcError;
use crate::share::ShareField;
use serde::{Deserialize, Serialize};

/// A 2-d convolution: `out[o][y][x] = Σ_{c,ky,kx} w[o][c][ky][kx] · in_pad[c][y·s+ky][x·s+kx]`
/// where `in_pad` is the input with `pad = (top, bottom, left, right)` zero rows/columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding `(top, bottom, left, right)` (asymmetric allowed).
    pub pad: (usize, usize, usize, usize),
    /// Weights `[o][c][ky][kx]`, signed fixed point.
    pub weights: Vec<i64>,
    /// Bias per output channel (at the output scale).
    pub bias: Vec<i64>,
}

/// A dense layer `y = W·x + b` with `W` of shape `outputs × inputs` (row-major).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dense {
    /// Input length.
    pub inputs: usize,
    /// Output length.
    pub outputs: usize,
    /// Row-major weights `[out][in]`.
    pub weights: Vec<i64>,
    /// Bias per output.
    pub bias: Vec<i64>,
}

/// Sum pooling (multiplier 1) or average pooling (multiplier `round(2^f / k²)`) per channel,
/// window `window × window`, no padding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Window side.
    pub window: usize,
    /// Stride.
    pub stride: usize,
    /// Fixed-point multiplier of the window sum (1 for sum pooling).
    pub multiplier: i64,
}

impl Pool {
    /// Average pooling with the `1/k²` factor as the fixed-point multiplier `round(2^f/k²)`:
    /// the output carries `f` extra fractional bits (truncated later, e.g. in the ReLU circuit).
    pub fn average(
        channels: usize,
        height: usize,
        width: usize,
        window: usize,
        stride: usize,
        frac_bits: u32,
    ) -> Self {
        let k2 = (window * window) as f64;
        Self {
            channels,
            height,
            width,
            window,
            stride,
            multiplier: ((1u64 << frac_bits) as f64 / k2).round() as i64,
        }
    }

    /// The pooling as a convolution whose channel-mixing weights are diagonal.
    pub fn to_conv(&self) -> Conv2d {
        let (c, k) = (self.channels, self.window);
        let mut weights = vec![0i64; c * c * k * k];
        for o in 0..c {
            for i in 0..k * k {
                weights[(o * c + o) * k * k + i] = self.multiplier;
            }
        }
        Conv2d {
            in_channels: c,
            out_channels: c,
            height: self.height,
            width: self.width,
            kernel_h: k,
            kernel_w: k,
            stride: self.stride,
            pad: (0, 0, 0, 0),
            weights,
            bias: vec![0; c],
        }
    }
}

/// A linear layer of a network evaluated in the DELPHI offline phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinearLayer {
    /// Convolution (batch norm folded in, see [`fold_batch_norm`]).
    Conv2d(Conv2d),
    /// Fully connected layer (batch norm folded in).
    Dense(Dense),
    /// Sum or average pooling.
    Pool(Pool),
    /// `y = body(x) + x` (identity shortcut; `body` must preserve the shape).
    Residual(Box<LinearLayer>),
}

/// The public shape of a layer (what the client knows: no weights). The HE layouts depend only
/// on it, so both parties derive the same packing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerShape {
    /// A convolution's dimensions (pooling is lowered to this).
    Conv {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Kernel height.
        kernel_h: usize,
        /// Kernel width.
        kernel_w: usize,
        /// Stride.
        stride: usize,
        /// Padding `(top, bottom, left, right)`.
        pad: (usize, usize, usize, usize),
    },
    /// A dense layer's dimensions.
    Dense {
        /// Inputs.
        inputs: usize,
        /// Outputs.
        outputs: usize,
    },
}

impl LayerShape {
    /// Input length.
    pub fn input_len(&self) -> usize {
        match *self {
            LayerShape::Conv {
                in_channels,
                height,
                width,
                ..
            } => in_channels * height * width,
            LayerShape::Dense { inputs, .. } => inputs,
        }
    }

    /// Output length.
    pub fn output_len(&self) -> usize {
        match *self {
            LayerShape::Conv { out_channels, .. } => {
                let (oh, ow) = self.conv_output_hw();
                out_channels * oh * ow
            }
            LayerShape::Dense { outputs, .. } => outputs,
        }
    }

    /// Padded height and width `(H_p, W_p)` of a convolution's input (`(0, 0)` for dense).
    pub fn padded_hw(&self) -> (usize, usize) {
        match *self {
            LayerShape::Conv {
                height, width, pad, ..
            } => (height + pad.0 + pad.1, width + pad.2 + pad.3),
            LayerShape::Dense { .. } => (0, 0),
        }
    }

    /// Every input pixel of a convolution as `(channel, offset in the padded channel
    /// (row-major, width W_p), input index)`, in input order (empty for dense).
    pub fn conv_input_pixels(&self) -> Vec<(usize, usize, usize)> {
        let LayerShape::Conv {
            in_channels,
            height,
            width,
            pad,
            ..
        } = *self
        else {
            return Vec::new();
        };
        let wp = self.padded_hw().1;
        (0..in_channels * height * width)
            .map(|idx| {
                let (c, y, x) = (idx / (height * width), idx / width % height, idx % width);
                (c, (y + pad.0) * wp + x + pad.2, idx)
            })
            .collect()
    }

    /// Every output of a convolution as `(output channel, offset of its receptive field's
    /// top-left pixel in the padded channel: (y·s)·W_p + x·s)`, in output order.
    pub fn conv_output_anchors(&self) -> Vec<(usize, usize)> {
        let LayerShape::Conv {
            out_channels,
            stride,
            ..
        } = *self
        else {
            return Vec::new();
        };
        let wp = self.padded_hw().1;
        let (oh, ow) = self.conv_output_hw();
        (0..out_channels * oh * ow)
            .map(|idx| {
                let (o, y, x) = (idx / (oh * ow), idx / ow % oh, idx % ow);
                (o, y * stride * wp + x * stride)
            })
            .collect()
    }

    /// Output height and width of a convolution (`(1, 1)` for dense).
    pub fn conv_output_hw(&self) -> (usize, usize) {
        match *self {
            LayerShape::Conv {
                kernel_h,
                kernel_w,
                stride,
                ..
            } => {
                let (hp, wp) = self.padded_hw();
                if hp < kernel_h || wp < kernel_w || stride == 0 {
                    return (0, 0);
                }
                ((hp - kernel_h) / stride + 1, (wp - kernel_w) / stride + 1)
            }
            LayerShape::Dense { .. } => (1, 1),
        }
    }
}

impl Conv2d {
    /// Output height and width.
    pub fn output_hw(&self) -> (usize, usize) {
        self.shape().conv_output_hw()
    }

    fn shape(&self) -> LayerShape {
        LayerShape::Conv {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            height: self.height,
            width: self.width,
            kernel_h: self.kernel_h,
            kernel_w: self.kernel_w,
            stride: self.stride,
            pad: self.pad,
        }
    }

    /// Weight `w[o][c][ky][kx]`.
    pub fn weight(&self, o: usize, c: usize, ky: usize, kx: usize) -> i64 {
        self.weights[((o * self.in_channels + c) * self.kernel_h + ky) * self.kernel_w + kx]
    }

    fn validate(&self) -> Result<(), TwoPcError> {
        let (oh, ow) = self.output_hw();
        if self.in_channels == 0 || self.out_channels == 0 || oh == 0 || ow == 0 {
            return Err(TwoPcError::Config(
                "convolution with an empty input, kernel larger than the padded input, or stride 0"
                    .into(),
            ));
        }
        let expect = self.out_channels * self.in_channels * self.kernel_h * self.kernel_w;
        if self.weights.len() != expect || self.bias.len() != self.out_channels {
            return Err(TwoPcError::Config(format!(
                "convolution has {} weights and {} biases, expected {expect} and {}",
                self.weights.len(),
                self.bias.len(),
                self.out_channels
            )));
        }
        Ok(())
    }
}

impl LinearLayer {
    /// Checks that weight and bias counts match the dimensions.
    pub fn validate(&self) -> Result<(), TwoPcError> {
        match self {
            LinearLayer::Conv2d(c) => c.validate(),
            LinearLayer::Pool(p) => p.to_conv().validate(),
            LinearLayer::Dense(d) => {
                if d.inputs == 0
                    || d.outputs == 0
                    || d.weights.len() != d.inputs * d.outputs
                    || d.bias.len() != d.outputs
                {
                    return Err(TwoPcError::Config(format!(
                        "dense {}→{} with {} weights and {} biases",
                        d.inputs,
                        d.outputs,
                        d.weights.len(),
                        d.bias.len()
                    )));
                }
                Ok(())
            }
            LinearLayer::Residual(body) => {
                body.validate()?;
                if matches!(**body, LinearLayer::Residual(_)) {
                    return Err(TwoPcError::Config("nested residual".into()));
                }
                let s = body.shape();
                if s.input_len() != s.output_len() {
                    return Err(TwoPcError::Config(format!(
                        "residual body maps {} to {} values; the identity shortcut needs equal shapes",
                        s.input_len(),
                        s.output_len()
                    )));
                }
                Ok(())
            }
        }
    }

    /// The public shape (residual: the body's shape).
    pub fn shape(&self) -> LayerShape {
        match self {
            LinearLayer::Conv2d(c) => c.shape(),
            LinearLayer::Pool(p) => p.to_conv().shape(),
            LinearLayer::Dense(d) => LayerShape::Dense {
                inputs: d.inputs,
                outputs: d.outputs,
            },
            LinearLayer::Residual(body) => body.shape(),
        }
    }

    /// Whether the layer adds its input to the output (identity shortcut).
    pub fn is_residual(&self) -> bool {
        matches!(self, LinearLayer::Residual(_))
    }

    /// The matrix part as a convolution or dense layer (pooling lowered, residual unwrapped).
    pub fn kernel(&self) -> Kernel<'_> {
        match self {
            LinearLayer::Conv2d(c) => Kernel::Conv(std::borrow::Cow::Borrowed(c)),
            LinearLayer::Pool(p) => Kernel::Conv(std::borrow::Cow::Owned(p.to_conv())),
            LinearLayer::Dense(d) => Kernel::Dense(d),
            LinearLayer::Residual(body) => body.kernel(),
        }
    }

    /// The largest absolute weight (a public quantization bound used by the noise estimate).
    pub fn max_abs_weight(&self) -> u64 {
        match self.kernel() {
            Kernel::Conv(c) => c
                .weights
                .iter()
                .map(|w| w.unsigned_abs())
                .max()
                .unwrap_or(0),
            Kernel::Dense(d) => d
                .weights
                .iter()
                .map(|w| w.unsigned_abs())
                .max()
                .unwrap_or(0),
        }
    }

    /// `M·x` over `Z_p` (residual: `body(x) + x`), no bias. `x` holds reduced field elements.
    pub fn apply_linear(&self, field: &ShareField, x: &[u64]) -> Result<Vec<u64>, TwoPcError> {
        self.validate()?;
        let shape = self.shape();
        if x.len() != shape.input_len() {
            return Err(TwoPcError::Config(format!(
                "input of {} values for a layer taking {}",
                x.len(),
                shape.input_len()
            )));
        }
        let mut y = match self.kernel() {
            Kernel::Conv(c) => conv_reference(field, &c, x),
            Kernel::Dense(d) => (0..d.outputs)
                .map(|o| {
                    let row = &d.weights[o * d.inputs..(o + 1) * d.inputs];
                    row.iter().zip(x).fold(0u64, |acc, (&w, &v)| {
                        field.add(acc, field.mul(field.from_signed(w), v))
                    })
                })
                .collect(),
        };
        if self.is_residual() {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = field.add(*o, v);
            }
        }
        Ok(y)
    }

    /// `M·x + b` over `Z_p` (the plaintext layer).
    pub fn apply(&self, field: &ShareField, x: &[u64]) -> Result<Vec<u64>, TwoPcError> {
        let mut y = self.apply_linear(field, x)?;
        let bias = self.output_bias();
        for (o, &b) in y.iter_mut().zip(&bias) {
            *o = field.add(*o, field.from_signed(b));
        }
        Ok(y)
    }

    /// The bias expanded to every output (per channel for convolutions).
    pub fn output_bias(&self) -> Vec<i64> {
        match self.kernel() {
            Kernel::Conv(c) => {
                let (oh, ow) = c.output_hw();
                c.bias
                    .iter()
                    .flat_map(|&b| std::iter::repeat_n(b, oh * ow))
                    .collect()
            }
            Kernel::Dense(d) => d.bias.clone(),
        }
    }
}

/// The matrix part of a layer.
#[derive(Clone, Debug)]
pub enum Kernel<'a> {
    /// A convolution (pooling is one with diagonal channel mixing).
    Conv(std::borrow::Cow<'a, Conv2d>),
    /// A dense matrix.
    Dense(&'a Dense),
}

fn conv_reference(field: &ShareField, c: &Conv2d, x: &[u64]) -> Vec<u64> {
    let (oh, ow) = c.output_hw();
    let (pt, _, pl, _) = c.pad;
    let mut out = vec![0u64; c.out_channels * oh * ow];
    for o in 0..c.out_channels {
        for y in 0..oh {
            for xo in 0..ow {
                let mut acc = 0u64;
                for ci in 0..c.in_channels {
                    for ky in 0..c.kernel_h {
                        for kx in 0..c.kernel_w {
                            let iy = (y * c.stride + ky) as isize - pt as isize;
                            let ix = (xo * c.stride + kx) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy as usize >= c.height || ix as usize >= c.width
                            {
                                continue;
                            }
                            let v = x[(ci * c.height + iy as usize) * c.width + ix as usize];
                            let w = field.from_signed(c.weight(o, ci, ky, kx));
                            acc = field.add(acc, field.mul(w, v));
                        }
                    }
                }
                out[(o * oh + y) * ow + xo] = acc;
            }
        }
    }
    out
}

/// Batch-norm statistics of one layer's outputs (per output channel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// Scale `γ`.
    pub gamma: Vec<f64>,
    /// Shift `β`.
    pub beta: Vec<f64>,
    /// Running mean.
    pub mean: Vec<f64>,
    /// Running variance.
    pub var: Vec<f64>,
    /// `ε`.
    pub eps: f64,
}

/// Folds batch norm into real-valued weights and biases of a convolution or dense layer and
/// quantizes them: with `a_o = γ_o / sqrt(var_o + ε)`, `w' = a_o·w` and
/// `b' = a_o·(b − mean_o) + β_o`; weights are rounded at `weight_frac_bits` fractional bits,
/// biases at `bias_frac_bits` (the input scale plus the weight scale). `weights` are grouped by
/// output channel (`weights.len() = out_channels · per_output`). Returns `(weights, biases)`.
pub fn fold_batch_norm(
    weights: &[f64],
    bias: &[f64],
    bn: &BatchNorm,
    weight_frac_bits: u32,
    bias_frac_bits: u32,
) -> Result<(Vec<i64>, Vec<i64>), TwoPcError> {
    let out = bias.len();
    if out == 0
        || !weights.len().is_multiple_of(out)
        || [bn.gamma.len(), bn.beta.len(), bn.mean.len(), bn.var.len()]
            .iter()
            .any(|&l| l != out)
    {
        return Err(TwoPcError::Config(
            "batch norm statistics do not match the layer's output channels".into(),
        ));
    }
    let per = weights.len() / out;
    let ws = (1u64 << weight_frac_bits) as f64;
    let bs = (1u64 << bias_frac_bits) as f64;
    let mut qw = Vec::with_capacity(weights.len());
    let mut qb = Vec::with_capacity(out);
    for o in 0..out {
        let denom = (bn.var[o] + bn.eps).sqrt();
        if !(denom.is_finite() && denom > 0.0) {
            return Err(TwoPcError::Config(format!(
                "batch norm variance of channel {o} is not positive"
            )));
        }
        let a = bn.gamma[o] / denom;
        for &w in &weights[o * per..(o + 1) * per] {
            qw.push((a * w * ws).round() as i64);
        }
        qb.push(((a * (bias[o] - bn.mean[o]) + bn.beta[o]) * bs).round() as i64);
    }
    Ok((qw, qb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::DEFAULT_SHARE_PRIME;

    fn field() -> ShareField {
        ShareField::new(DEFAULT_SHARE_PRIME).unwrap()
    }

    fn signed(f: &ShareField, v: &[i64]) -> Vec<u64> {
        v.iter().map(|&x| f.from_signed(x)).collect()
    }

    #[test]
    fn conv_with_asymmetric_padding_and_stride_matches_hand_computation() {
        let f = field();
        // 1 channel 3×3 input, 2×2 kernel, stride 2, pad top 1 / left 0 / right 1 / bottom 0
        let conv = Conv2d {
            in_channels: 1,
            out_channels: 1,
            height: 3,
            width: 3,
            kernel_h: 2,
            kernel_w: 2,
            stride: 2,
            pad: (1, 0, 0, 1),
            weights: vec![1, 2, 3, -4],
            bias: vec![5],
        };
        let layer = LinearLayer::Conv2d(conv);
        // padded 4×4: row 0 zero, column 3 zero
        let x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        let y = layer.apply(&f, &signed(&f, &x)).unwrap();
        // out(0,0): pad rows 0..2, cols 0..2: [0,0;1,2] → 3·1 − 4·2 = −5, +5 = 0
        // out(0,1): cols 2..4: [0,0;3,0] → 3·3 = 9, +5 = 14
        // out(1,0): rows 2..4: [4,5;7,8] → 4 + 10 + 21 − 32 = 3, +5 = 8
        // out(1,1): [6,0;9,0] → 6 + 27 = 33, +5 = 38
        let got: Vec<i64> = y.iter().map(|&v| f.to_signed(v)).collect();
        assert_eq!(got, vec![0, 14, 8, 38]);
        assert_eq!(layer.shape().output_len(), 4);
    }

    #[test]
    fn pooling_sums_windows_per_channel() {
        let f = field();
        let pool = LinearLayer::Pool(Pool {
            channels: 2,
            height: 2,
            width: 4,
            window: 2,
            stride: 2,
            multiplier: 3,
        });
        let x: Vec<i64> = (1..=16).collect();
        let y = pool.apply(&f, &signed(&f, &x)).unwrap();
        let got: Vec<i64> = y.iter().map(|&v| f.to_signed(v)).collect();
        // channel 0: [1,2,5,6]=14, [3,4,7,8]=22; channel 1: [9,10,13,14]=46, [11,12,15,16]=54
        assert_eq!(got, vec![42, 66, 138, 162]);
        assert_eq!(Pool::average(1, 4, 4, 2, 2, 8).multiplier, 64);
    }

    #[test]
    fn dense_and_residual() {
        let f = field();
        let d = Dense {
            inputs: 2,
            outputs: 2,
            weights: vec![1, -2, 3, 4],
            bias: vec![10, -10],
        };
        let x = signed(&f, &[5, -7]);
        let plain = LinearLayer::Dense(d.clone()).apply(&f, &x).unwrap();
        assert_eq!(f.to_signed(plain[0]), 5 + 14 + 10);
        assert_eq!(f.to_signed(plain[1]), 15 - 28 - 10);
        let res = LinearLayer::Residual(Box::new(LinearLayer::Dense(d)));
        let y = res.apply(&f, &x).unwrap();
        assert_eq!(f.to_signed(y[0]), 29 + 5);
        assert_eq!(f.to_signed(y[1]), -23 - 7);
        let bad = LinearLayer::Residual(Box::new(LinearLayer::Dense(Dense {
            inputs: 2,
            outputs: 1,
            weights: vec![1, 1],
            bias: vec![0],
        })));
        assert!(bad.validate().is_err());
        assert!(LinearLayer::Dense(Dense {
            inputs: 2,
            outputs: 2,
            weights: vec![1],
            bias: vec![0, 0],
        })
        .apply(&f, &x)
        .is_err());
    }

    #[test]
    fn folded_batch_norm_matches_float_layer_then_norm() {
        let w = [0.5, -0.25, 1.0, 0.75];
        let b = [0.1, -0.2];
        let bn = BatchNorm {
            gamma: vec![2.0, 0.5],
            beta: vec![0.3, -0.1],
            mean: vec![0.05, 0.2],
            var: vec![0.25, 4.0],
            eps: 0.0,
        };
        let (qw, qb) = fold_batch_norm(&w, &b, &bn, 12, 12).unwrap();
        let x = [1.5, -2.0];
        for o in 0..2 {
            let pre: f64 = (0..2).map(|i| w[o * 2 + i] * x[i]).sum::<f64>() + b[o];
            let expect =
                bn.gamma[o] * (pre - bn.mean[o]) / (bn.var[o] + bn.eps).sqrt() + bn.beta[o];
            let folded: f64 = (0..2)
                .map(|i| qw[o * 2 + i] as f64 / 4096.0 * x[i])
                .sum::<f64>()
                + qb[o] as f64 / 4096.0;
            assert!((folded - expect).abs() < 1e-2, "{folded} vs {expect}");
        }
        let bad = BatchNorm {
            var: vec![-1.0, 1.0],
            ..bn
        };
        assert!(fold_batch_norm(&w, &b, &bad, 12, 12).is_err());
    }
}
