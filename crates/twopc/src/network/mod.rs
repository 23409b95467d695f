//! Networks for the two-party protocol: a sequence of [`Op`]s in fixed point over the share
//! field `Z_p`, their public description ([`PublicNetwork`], what the client may know) and the
//! exact plaintext reference ([`Network::reference`]) the two-party output must equal
//! bit-exactly.
//!
//! # Fixed-point scheme
//!
//! Every activation is a signed integer `v` standing for the real number `v / 2^f`, where the
//! *scale* `f` (fractional bits) is fixed per position in the network and public:
//!
//! * the input is quantized at `input_frac_bits` (`round(x · 2^f_in)`);
//! * a convolution or dense layer ([`Op::Linear`]) with weights quantized at `f_w` bits
//!   (`round(w · 2^f_w)`) maps scale `f` to `f + f_w`; its bias is quantized at `f + f_w`;
//! * [`Op::Relu`] computes `⌊max(v, 0) / 2^t⌋` (the truncation folded into the garbled
//!   circuit, [`crate::gc::relu`]) and maps `f` to `f − t`;
//! * [`Op::AvgPool`] sums each window and multiplies by a public integer `m`: for a window of
//!   `k²` elements it adds `log2(k²)` fractional bits with `m = 1` when `k²` is a power of two
//!   (exact average), otherwise `m = round(2^g / k²)` adds `g` bits;
//! * [`Op::AddShortcut`] adds the saved activation times `2^shift` (aligning its scale with the
//!   branch's); [`Op::Square`] doubles the scale (no truncation: Beaver triples are exact);
//! * the outputs (logits) are at `output_frac_bits`; the class is their argmax.
//!
//! All of this is exact integer arithmetic. The two-party protocol computes it modulo `p`;
//! the two agree exactly as long as no intermediate value leaves `(−p/2, p/2)`.
//! [`Network::reference`] computes in `i128` and **fails** with [`TwoPcError::Config`] if any
//! value would wrap, so "the 2PC output equals the reference" is a statement about the integer
//! network. [`Network::worst_case_bits`] bounds every value over *all* inputs in the input
//! range by interval arithmetic; for the shipped `relu-cnn` this static bound is below `p/2`,
//! so no input can wrap.

pub(crate) mod fast;
pub mod quantize;
pub mod zoo;

use crate::error::TwoPcError;
use crate::linear::{Kernel, LayerShape, LinearLayer, PublicLayer};
use crate::share::ShareField;
use serde::{Deserialize, Serialize};

/// Largest number of values of any activation or layer dimension product accepted in a
/// (possibly peer-supplied) network description: bounds every allocation it implies.
pub const MAX_ACTIVATION_LEN: usize = 1 << 22;

/// Largest number of operations of a network description.
pub const MAX_OPS: usize = 4096;

/// One operation of a network (activations are flattened CHW vectors).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A convolution or dense layer with the server's secret weights, evaluated with HE
    /// offline (DELPHI §4); the bias is added by the server online.
    Linear {
        /// The layer's name (its key in the HE policy).
        name: String,
        /// The quantized layer ([`LinearLayer::Conv2d`] or [`LinearLayer::Dense`]).
        layer: LinearLayer,
    },
    /// Window sums times a public multiplier, per channel, no padding (local on shares).
    AvgPool {
        /// Channels.
        channels: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Window side.
        window: usize,
        /// Stride.
        stride: usize,
        /// Public multiplier of each window sum.
        multiplier: i64,
    },
    /// Push the current activation on the shortcut stack (start of a residual block).
    SaveShortcut,
    /// Pop the last saved activation and add it times `2^shift` (identity shortcut; with
    /// `stride > 1` or more output channels, ResNet's parameter-free "option A": spatial
    /// subsampling and zero channels padded equally on both sides).
    AddShortcut {
        /// Scale alignment: the saved value is multiplied by `2^shift`.
        shift: u32,
        /// Saved activation's `(channels, height, width)`.
        from: (usize, usize, usize),
        /// Current activation's `(channels, height, width)`.
        to: (usize, usize, usize),
    },
    /// `⌊max(v, 0) / 2^frac_bits⌋` (two-party: the pluggable ReLU protocol).
    Relu {
        /// Fractional bits truncated.
        frac_bits: u32,
    },
    /// `v²` (two-party: Beaver square pairs).
    Square,
}

/// A quantized network: what the server holds (weights included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Name (e.g. `relu-cnn`).
    pub name: String,
    /// Input `(channels, height, width)`.
    pub input_shape: (usize, usize, usize),
    /// Fractional bits of the quantized input.
    pub input_frac_bits: u32,
    /// Fractional bits of the outputs.
    pub output_frac_bits: u32,
    /// The operations in order.
    pub ops: Vec<Op>,
}

/// The public shape of an HE linear layer, serializable (mirrors [`LayerShape`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicShape {
    /// Convolution dimensions.
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
    /// Dense dimensions.
    Dense {
        /// Inputs.
        inputs: usize,
        /// Outputs.
        outputs: usize,
    },
}

impl PublicShape {
    /// The serializable mirror of `s`.
    pub fn of(s: &LayerShape) -> Self {
        match *s {
            LayerShape::Conv {
                in_channels,
                out_channels,
                height,
                width,
                kernel_h,
                kernel_w,
                stride,
                pad,
            } => PublicShape::Conv {
                in_channels,
                out_channels,
                height,
                width,
                kernel_h,
                kernel_w,
                stride,
                pad,
            },
            LayerShape::Dense { inputs, outputs } => PublicShape::Dense { inputs, outputs },
        }
    }

    /// The [`LayerShape`], after checking every dimension and product against
    /// [`MAX_ACTIVATION_LEN`] (a peer-supplied shape must not make us allocate without bound).
    pub fn to_shape(&self) -> Result<LayerShape, TwoPcError> {
        let bad = || TwoPcError::Protocol(format!("layer shape {self:?} out of bounds"));
        let ok = |dims: &[usize]| -> Result<(), TwoPcError> {
            let prod = dims
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d.max(1)))
                .ok_or_else(bad)?;
            if dims.iter().any(|&d| d > MAX_ACTIVATION_LEN) || prod > MAX_ACTIVATION_LEN {
                return Err(bad());
            }
            Ok(())
        };
        let s = match *self {
            PublicShape::Conv {
                in_channels,
                out_channels,
                height,
                width,
                kernel_h,
                kernel_w,
                stride,
                pad,
            } => {
                ok(&[in_channels, height + pad.0 + pad.1, width + pad.2 + pad.3])?;
                ok(&[out_channels, in_channels, kernel_h, kernel_w])?;
                ok(&[out_channels, height, width])?;
                if [pad.0, pad.1, pad.2, pad.3, kernel_h, kernel_w, stride]
                    .iter()
                    .any(|&d| d > 1 << 12)
                {
                    return Err(bad());
                }
                LayerShape::Conv {
                    in_channels,
                    out_channels,
                    height,
                    width,
                    kernel_h,
                    kernel_w,
                    stride,
                    pad,
                }
            }
            PublicShape::Dense { inputs, outputs } => {
                ok(&[inputs])?;
                ok(&[outputs])?;
                ok(&[inputs, outputs])?;
                LayerShape::Dense { inputs, outputs }
            }
        };
        if s.input_len() == 0 || s.output_len() == 0 {
            return Err(bad());
        }
        Ok(s)
    }
}

/// The public part of an operation: [`Op`] without weights.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicOp {
    /// An HE linear layer: name, shape and the weights' bit-width bound.
    Linear {
        /// Name (policy key).
        name: String,
        /// Shape.
        shape: PublicShape,
        /// Bound on `|w|` (a bit width `2^k − 1`, public as in DELPHI).
        weight_bound: u64,
    },
    /// As [`Op::AvgPool`].
    AvgPool {
        /// Channels.
        channels: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Window side.
        window: usize,
        /// Stride.
        stride: usize,
        /// Multiplier.
        multiplier: i64,
    },
    /// As [`Op::SaveShortcut`].
    SaveShortcut,
    /// As [`Op::AddShortcut`].
    AddShortcut {
        /// Shift.
        shift: u32,
        /// Saved shape.
        from: (usize, usize, usize),
        /// Current shape.
        to: (usize, usize, usize),
    },
    /// As [`Op::Relu`].
    Relu {
        /// Truncated bits.
        frac_bits: u32,
    },
    /// As [`Op::Square`].
    Square,
}

impl PublicOp {
    /// The public layer of an HE linear op (shape checked against the bounds).
    pub fn public_layer(&self) -> Result<Option<(String, PublicLayer)>, TwoPcError> {
        match self {
            PublicOp::Linear {
                name,
                shape,
                weight_bound,
            } => Ok(Some((
                name.clone(),
                PublicLayer {
                    shape: shape.to_shape()?,
                    residual: false,
                    weight_bound: *weight_bound,
                },
            ))),
            _ => Ok(None),
        }
    }
}

fn avg_pool_out(
    channels: usize,
    height: usize,
    width: usize,
    window: usize,
    stride: usize,
) -> Option<(usize, usize, usize)> {
    if window == 0 || stride == 0 || window > height || window > width {
        return None;
    }
    Some((
        channels,
        (height - window) / stride + 1,
        (width - window) / stride + 1,
    ))
}

/// Checks a sequence of public ops and returns the length of each op's output (and the final
/// output length). The same check runs on the server's network and on the description the
/// client receives.
pub fn check_ops(input_len: usize, ops: &[PublicOp]) -> Result<Vec<usize>, TwoPcError> {
    let bad = |i: usize, m: String| TwoPcError::Protocol(format!("network op {i}: {m}"));
    if ops.len() > MAX_OPS || input_len == 0 || input_len > MAX_ACTIVATION_LEN {
        return Err(TwoPcError::Protocol(format!(
            "network with {} ops and input length {input_len} out of bounds",
            ops.len()
        )));
    }
    let mut len = input_len;
    let mut stack: Vec<usize> = Vec::new();
    let mut lens = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        len = match op {
            PublicOp::Linear { shape, .. } => {
                let s = shape.to_shape()?;
                if s.input_len() != len {
                    return Err(bad(
                        i,
                        format!("layer takes {} values, gets {len}", s.input_len()),
                    ));
                }
                s.output_len()
            }
            PublicOp::AvgPool {
                channels,
                height,
                width,
                window,
                stride,
                ..
            } => {
                let (c, h, w) = avg_pool_out(*channels, *height, *width, *window, *stride)
                    .ok_or_else(|| bad(i, "pooling window does not fit".into()))?;
                if channels
                    .checked_mul(*height)
                    .and_then(|v| v.checked_mul(*width))
                    != Some(len)
                {
                    return Err(bad(i, format!("pooling input is not {len} values")));
                }
                c * h * w
            }
            PublicOp::SaveShortcut => {
                stack.push(len);
                len
            }
            PublicOp::AddShortcut { shift, from, to } => {
                let saved = stack
                    .pop()
                    .ok_or_else(|| bad(i, "shortcut without a saved activation".into()))?;
                let prod = |s: &(usize, usize, usize)| {
                    s.0.checked_mul(s.1).and_then(|v| v.checked_mul(s.2))
                };
                if prod(from) != Some(saved) || prod(to) != Some(len) || *shift > 40 {
                    return Err(bad(i, "shortcut shapes do not match".into()));
                }
                let stride = from.1.checked_div(to.1).unwrap_or(0);
                if to.0 < from.0
                    || (to.0 - from.0) % 2 != 0
                    || stride == 0
                    || from.1.div_ceil(stride) != to.1
                    || from.2.div_ceil(stride) != to.2
                {
                    return Err(bad(i, "shortcut is not an identity / option-A map".into()));
                }
                len
            }
            PublicOp::Relu { frac_bits } => {
                if *frac_bits > 40 {
                    return Err(bad(i, "truncation too large".into()));
                }
                len
            }
            PublicOp::Square => len,
        };
        lens.push(len);
    }
    if !stack.is_empty() {
        return Err(TwoPcError::Protocol(
            "network ends with an unconsumed shortcut".into(),
        ));
    }
    Ok(lens)
}

/// Window sums times `multiplier` over `Z_p` or the integers (`add`, `scale` given).
pub(crate) fn avg_pool<T: Copy>(
    x: &[T],
    (channels, height, width, window, stride): (usize, usize, usize, usize, usize),
    zero: T,
    add: impl Fn(T, T) -> T,
    scale: impl Fn(T) -> T,
) -> Vec<T> {
    let Some((_, oh, ow)) = avg_pool_out(channels, height, width, window, stride) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(channels * oh * ow);
    for c in 0..channels {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = zero;
                for ky in 0..window {
                    for kx in 0..window {
                        acc = add(
                            acc,
                            x[(c * height + oy * stride + ky) * width + ox * stride + kx],
                        );
                    }
                }
                out.push(scale(acc));
            }
        }
    }
    out
}

/// `to`-shaped shortcut of `x` (`from`-shaped): subsample by the stride and pad channels with
/// zeros equally on both sides (identity when the shapes are equal).
pub(crate) fn shortcut<T: Copy>(
    x: &[T],
    from: (usize, usize, usize),
    to: (usize, usize, usize),
    zero: T,
) -> Vec<T> {
    let stride = (from.1 / to.1.max(1)).max(1);
    let offset = (to.0 - from.0.min(to.0)) / 2;
    let mut out = vec![zero; to.0 * to.1 * to.2];
    for c in 0..from.0.min(to.0) {
        for y in 0..to.1 {
            for xx in 0..to.2 {
                out[((c + offset) * to.1 + y) * to.2 + xx] =
                    x[(c * from.1 + y * stride) * from.2 + xx * stride];
            }
        }
    }
    out
}

impl Op {
    /// The public part.
    pub fn public(&self) -> PublicOp {
        match self {
            Op::Linear { name, layer } => {
                let p = PublicLayer::of(layer);
                PublicOp::Linear {
                    name: name.clone(),
                    shape: PublicShape::of(&p.shape),
                    weight_bound: p.weight_bound,
                }
            }
            &Op::AvgPool {
                channels,
                height,
                width,
                window,
                stride,
                multiplier,
            } => PublicOp::AvgPool {
                channels,
                height,
                width,
                window,
                stride,
                multiplier,
            },
            Op::SaveShortcut => PublicOp::SaveShortcut,
            &Op::AddShortcut { shift, from, to } => PublicOp::AddShortcut { shift, from, to },
            &Op::Relu { frac_bits } => PublicOp::Relu { frac_bits },
            Op::Square => PublicOp::Square,
        }
    }
}

/// Counts of a network's two-party work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkCounts {
    /// HE linear layers.
    pub linear_layers: usize,
    /// ReLU evaluations per prediction.
    pub relus: usize,
    /// Squares per prediction.
    pub squares: usize,
    /// Weights (multiply-accumulates are more).
    pub weights: usize,
}

impl Network {
    /// Validates the structure (shapes chain, shortcuts balance, weights match the shapes,
    /// linear layers are convolutions or dense) and returns each op's output length.
    pub fn validate(&self) -> Result<Vec<usize>, TwoPcError> {
        let (c, h, w) = self.input_shape;
        let input_len = c
            .checked_mul(h)
            .and_then(|v| v.checked_mul(w))
            .ok_or_else(|| TwoPcError::Config("input shape overflows".into()))?;
        for op in &self.ops {
            if let Op::Linear { name, layer } = op {
                if !matches!(layer, LinearLayer::Conv2d(_) | LinearLayer::Dense(_)) {
                    return Err(TwoPcError::Config(format!(
                        "linear op `{name}` must be a convolution or dense layer"
                    )));
                }
                layer.validate()?;
            }
        }
        let public: Vec<PublicOp> = self.ops.iter().map(Op::public).collect();
        check_ops(input_len, &public).map_err(|e| TwoPcError::Config(e.to_string()))
    }

    /// Input length (`c·h·w`).
    pub fn input_len(&self) -> usize {
        let (c, h, w) = self.input_shape;
        c * h * w
    }

    /// The HE linear layers `(name, layer)` in order.
    pub fn linear_layers(&self) -> Vec<(&str, &LinearLayer)> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::Linear { name, layer } => Some((name.as_str(), layer)),
                _ => None,
            })
            .collect()
    }

    /// ReLUs, squares, linear layers and weights.
    pub fn counts(&self) -> Result<NetworkCounts, TwoPcError> {
        let lens = self.validate()?;
        let mut c = NetworkCounts::default();
        for (op, &len) in self.ops.iter().zip(&lens) {
            match op {
                Op::Linear { layer, .. } => {
                    c.linear_layers += 1;
                    c.weights += match layer.kernel() {
                        Kernel::Conv(k) => k.weights.len(),
                        Kernel::Dense(d) => d.weights.len(),
                    };
                }
                Op::Relu { .. } => c.relus += len,
                Op::Square => c.squares += len,
                _ => {}
            }
        }
        Ok(c)
    }

    /// Quantizes a real-valued input (`round(x · 2^input_frac_bits)`); non-finite values are
    /// an error.
    pub fn quantize_input(&self, x: &[f32]) -> Result<Vec<i64>, TwoPcError> {
        if x.len() != self.input_len() {
            return Err(TwoPcError::Config(format!(
                "input of {} values for a network taking {}",
                x.len(),
                self.input_len()
            )));
        }
        let s = (1u64 << self.input_frac_bits) as f64;
        x.iter()
            .map(|&v| {
                let q = (v as f64 * s).round();
                if !q.is_finite() || q.abs() > (1u64 << 40) as f64 {
                    return Err(TwoPcError::Config(format!("input value {v} out of range")));
                }
                Ok(q as i64)
            })
            .collect()
    }

    /// The exact integer evaluation (the two-party protocol's specification): every value is
    /// checked to stay in `(−p/2, p/2)` of `field`, so the result equals the computation
    /// modulo `p`; a value that would wrap is an error naming the op.
    pub fn reference(&self, field: &ShareField, input: &[i64]) -> Result<Vec<i64>, TwoPcError> {
        self.validate()?;
        if input.len() != self.input_len() {
            return Err(TwoPcError::Config(format!(
                "input of {} values for a network taking {}",
                input.len(),
                self.input_len()
            )));
        }
        let half = (field.modulus() / 2) as i128;
        let check = |i: usize, v: &[i128]| -> Result<(), TwoPcError> {
            match v.iter().find(|x| x.abs() > half) {
                Some(x) => Err(TwoPcError::Config(format!(
                    "op {i}: value {x} leaves (−p/2, p/2): the quantized network would wrap"
                ))),
                None => Ok(()),
            }
        };
        let mut x: Vec<i128> = input.iter().map(|&v| v as i128).collect();
        check(0, &x)?;
        let mut stack: Vec<Vec<i128>> = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            x = match op {
                Op::Linear { layer, .. } => linear_i128(layer, &x),
                &Op::AvgPool {
                    channels,
                    height,
                    width,
                    window,
                    stride,
                    multiplier,
                } => avg_pool(
                    &x,
                    (channels, height, width, window, stride),
                    0i128,
                    |a, b| a + b,
                    |a| a * multiplier as i128,
                ),
                Op::SaveShortcut => {
                    stack.push(x.clone());
                    x
                }
                &Op::AddShortcut { shift, from, to } => {
                    let saved = stack.pop().unwrap_or_default();
                    let s = shortcut(&saved, from, to, 0i128);
                    x.iter().zip(&s).map(|(&a, &b)| a + (b << shift)).collect()
                }
                &Op::Relu { frac_bits } => x
                    .iter()
                    .map(|&v| if v > 0 { v >> frac_bits } else { 0 })
                    .collect(),
                Op::Square => x.iter().map(|&v| v * v).collect(),
            };
            check(i, &x)?;
        }
        Ok(x.into_iter().map(|v| v as i64).collect())
    }

    /// Interval arithmetic over every input with `|x_q| ≤ input_bound`: the largest possible
    /// `log2 |value|` of each op's output. If every entry is below `log2(p/2)`, no input in the
    /// range can make the network wrap modulo `p`.
    pub fn worst_case_bits(&self, input_bound: u64) -> Result<Vec<f64>, TwoPcError> {
        self.validate()?;
        // Per-element bounds (f64: only a bound, no exactness needed; magnitudes way above
        // 2^53 just report large numbers).
        let mut b: Vec<f64> = vec![input_bound as f64; self.input_len()];
        let mut stack: Vec<Vec<f64>> = Vec::new();
        let mut out = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            b = match op {
                Op::Linear { layer, .. } => linear_bound(layer, &b),
                &Op::AvgPool {
                    channels,
                    height,
                    width,
                    window,
                    stride,
                    multiplier,
                } => avg_pool(
                    &b,
                    (channels, height, width, window, stride),
                    0.0,
                    |a, c| a + c,
                    |a| a * multiplier.unsigned_abs() as f64,
                ),
                Op::SaveShortcut => {
                    stack.push(b.clone());
                    b
                }
                &Op::AddShortcut { shift, from, to } => {
                    let saved = stack.pop().unwrap_or_default();
                    let s = shortcut(&saved, from, to, 0.0);
                    b.iter()
                        .zip(&s)
                        .map(|(&a, &c)| a + c * (shift as f64).exp2())
                        .collect()
                }
                &Op::Relu { frac_bits } => b
                    .iter()
                    .map(|&v| (v / (frac_bits as f64).exp2()).floor())
                    .collect(),
                Op::Square => b.iter().map(|&v| v * v).collect(),
            };
            out.push(b.iter().fold(0f64, |m, &v| m.max(v)).max(1.0).log2());
        }
        Ok(out)
    }
}

pub(crate) fn linear_i128(layer: &LinearLayer, x: &[i128]) -> Vec<i128> {
    let bias = layer.output_bias();
    let mut y = match layer.kernel() {
        Kernel::Conv(c) => {
            let (oh, ow) = c.output_hw();
            let (pt, _, pl, _) = c.pad;
            let mut out = vec![0i128; c.out_channels * oh * ow];
            for o in 0..c.out_channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0i128;
                        for ci in 0..c.in_channels {
                            for ky in 0..c.kernel_h {
                                let iy = (oy * c.stride + ky) as isize - pt as isize;
                                if iy < 0 || iy as usize >= c.height {
                                    continue;
                                }
                                for kx in 0..c.kernel_w {
                                    let ix = (ox * c.stride + kx) as isize - pl as isize;
                                    if ix < 0 || ix as usize >= c.width {
                                        continue;
                                    }
                                    let v =
                                        x[(ci * c.height + iy as usize) * c.width + ix as usize];
                                    acc += c.weight(o, ci, ky, kx) as i128 * v;
                                }
                            }
                        }
                        out[(o * oh + oy) * ow + ox] = acc;
                    }
                }
            }
            out
        }
        Kernel::Dense(d) => (0..d.outputs)
            .map(|o| {
                d.weights[o * d.inputs..(o + 1) * d.inputs]
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| w as i128 * v)
                    .sum()
            })
            .collect(),
    };
    for (v, &b) in y.iter_mut().zip(&bias) {
        *v += b as i128;
    }
    y
}

fn linear_bound(layer: &LinearLayer, b: &[f64]) -> Vec<f64> {
    // |M x + bias| ≤ |M|·b + |bias|: the same loops with absolute values.
    let abs: LinearLayer = match layer.kernel() {
        Kernel::Conv(c) => {
            let mut c = c.into_owned();
            c.weights.iter_mut().for_each(|w| *w = w.abs());
            c.bias.iter_mut().for_each(|w| *w = w.abs());
            LinearLayer::Conv2d(c)
        }
        Kernel::Dense(d) => {
            let mut d = d.clone();
            d.weights.iter_mut().for_each(|w| *w = w.abs());
            d.bias.iter_mut().for_each(|w| *w = w.abs());
            LinearLayer::Dense(d)
        }
    };
    // Bounds can exceed i128 only for absurd networks; saturate through f64 instead.
    let xi: Vec<i128> = b.iter().map(|&v| v.min(1e24) as i128).collect();
    linear_i128(&abs, &xi)
        .into_iter()
        .map(|v| v as f64)
        .collect()
}

/// The argmax of the logits (first on ties), the predicted class.
pub fn argmax(logits: &[i64]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}
