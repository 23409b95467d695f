//! Integer (quantized) models for exact BFV inference.
//!
//! BFV computes exactly on integers modulo a plaintext modulus `t` (LoLa section 3.1; LoLa's
//! MNIST network used four CRT primes around `2^19.5`). A float network is therefore turned into
//! an integer one with a **scale per layer**: a real value `v` is represented by the integer
//! `q ≈ v / s`.
//!
//! * inputs: `q = round(x / s_in)` with `s_in = input_max / (2^input_bits - 1)` (MNIST pixels in
//!   `[0, 1]` with 8 bits become `0..=255`), clamped to `±(2^input_bits - 1)`;
//! * conv / dense: weights scaled per layer to `b`-bit signed integers,
//!   `s_w = max|w| / (2^(b-1) - 1)`, `w_q = round(w / s_w)`; the output scale is `s_in s_w` and
//!   the bias is rounded at that scale, `b_q = round(b / (s_in s_w))`;
//! * square: the scale squares; ReLU, sum pooling and flatten keep it; average pooling is done
//!   as sum pooling and divides the scale by the window size (exact, no integer division).
//!
//! There is no rescaling (BFV cannot divide), so the integers grow layer by layer; the largest
//! absolute value each layer produces over a dataset ([`QuantizedModel::value_ranges`]) is what
//! sizes `t` (it must exceed twice the largest value). Evaluation is exact in `i128` with
//! checked arithmetic: an overflow is an error, never a silent wrap-around.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::model::{argmax, Layer, Model, ModelError, Padding, Window};

/// Errors of quantization and integer evaluation.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The float model is invalid or cannot be folded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A bit width is out of range.
    #[error("invalid quantization setting: {0}")]
    InvalidConfig(String),
    /// A quantized value does not fit the integer type.
    #[error("layer {index} ({kind}): integer overflow ({what})")]
    Overflow {
        /// Layer index (in the quantized model).
        index: usize,
        /// Layer kind.
        kind: &'static str,
        /// Which value overflowed.
        what: &'static str,
    },
    /// An input has the wrong length or a non-finite value.
    #[error("input: {0}")]
    Input(String),
}

/// Bit widths of a quantization.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantConfig {
    /// Bits of the input magnitude: inputs become integers in `±(2^input_bits - 1)`.
    pub input_bits: u32,
    /// The real input value mapped to `2^input_bits - 1` (1.0 for pixels scaled to `[0, 1]`).
    pub input_max: f32,
    /// Signed bit width of every conv/dense layer's weights (magnitude `2^(b-1) - 1`).
    pub weight_bits: u32,
    /// Per-layer overrides of `weight_bits`, keyed by layer index in the (folded) float model.
    pub layer_weight_bits: BTreeMap<usize, u32>,
}

impl Default for QuantConfig {
    /// 4-bit inputs (pixels `0..=15`) and 6-bit signed weights (`±31`).
    ///
    /// Measured with `henn eval --quantized` on the MNIST test set (10,000 images) for LoLa's
    /// network (conv 5x5/2, 5 maps → square → dense 100 → square → dense 10) trained by
    /// `scripts/lola_reference_onnx.py` (float 98.70%): 8/8 bits → 98.70%, largest value 96
    /// signed bits; 4/8 → 98.70%, 80 bits; **4/6 → 98.70%, 65 bits** (agreement 99.87%);
    /// 4/5 → 98.68%, 58 bits; 3/5 → 98.66%, 54 bits; 4/4 → 98.48%, 51 bits. On a weaker
    /// one-epoch model (float 97.52%) 4/6 gives 97.58% while 4/5 loses 0.13 points, so 4/6 is the
    /// smallest setting within 0.1 point on both; 65 bits fits the ~78-bit plaintext space of
    /// LoLa's four CRT primes.
    fn default() -> Self {
        Self {
            input_bits: 4,
            input_max: 1.0,
            weight_bits: 6,
            layer_weight_bits: BTreeMap::new(),
        }
    }
}

/// One layer of a quantized model. Integer tensors are row-major with the same layouts as
/// [`Layer`]'s.
#[derive(Clone, Debug, PartialEq)]
pub enum QuantizedLayer {
    /// Integer convolution; `weight` `[out, in, kh, kw]`, `bias` `[out]`.
    Conv2d {
        /// Weight shape `[out, in, kh, kw]`.
        shape: [usize; 4],
        /// Integer weights.
        weight: Vec<i64>,
        /// Integer bias at the layer's output scale (it can exceed `i64` after squares).
        bias: Vec<i128>,
        /// Stride `(rows, columns)`.
        stride: (usize, usize),
        /// Zero padding.
        padding: Padding,
    },
    /// Integer dense layer; `weight` `[out, in]`.
    Dense {
        /// Weight shape `[out, in]`.
        shape: [usize; 2],
        /// Integer weights.
        weight: Vec<i64>,
        /// Integer bias at the layer's output scale (it can exceed `i64` after squares).
        bias: Vec<i128>,
    },
    /// `x²`.
    Square,
    /// `max(x, 0)`.
    Relu,
    /// Window sums (also used for average pooling, whose division moves into the scale).
    SumPool {
        /// Window `(rows, columns)`.
        kernel: (usize, usize),
        /// Step `(rows, columns)`.
        stride: (usize, usize),
        /// Zero padding.
        padding: Padding,
    },
    /// Reshape to flat (no-op on the data).
    Flatten,
}

impl QuantizedLayer {
    /// Kind name, as for [`Layer::kind`].
    pub fn kind(&self) -> &'static str {
        match self {
            QuantizedLayer::Conv2d { .. } => "conv2d",
            QuantizedLayer::Dense { .. } => "dense",
            QuantizedLayer::Square => "square",
            QuantizedLayer::Relu => "relu",
            QuantizedLayer::SumPool { .. } => "sum_pool",
            QuantizedLayer::Flatten => "flatten",
        }
    }
}

/// An integer network equivalent (up to rounding) to a float [`Model`]; see the module
/// documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedModel {
    /// Name of the source model.
    pub name: String,
    /// Input shape.
    pub input_shape: Vec<usize>,
    /// Real value of one input unit.
    pub input_scale: f64,
    /// Largest input magnitude `2^input_bits - 1`.
    pub input_limit: i64,
    /// Layers in evaluation order.
    pub layers: Vec<QuantizedLayer>,
    /// Real value of one unit of each layer's output (element `i` for layer `i`).
    pub scales: Vec<f64>,
    /// Output shape of each layer.
    pub shapes: Vec<Vec<usize>>,
    /// The configuration used.
    pub config: QuantConfig,
}

/// Largest absolute integer each layer produced over a set of inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueRanges {
    /// Largest absolute quantized input.
    pub input: u128,
    /// Element `i`: largest absolute value of layer `i`'s output.
    pub layers: Vec<u128>,
}

impl ValueRanges {
    /// Takes the larger value of each entry from `other` (same model).
    pub fn merge(&mut self, other: &ValueRanges) {
        self.input = self.input.max(other.input);
        if self.layers.len() < other.layers.len() {
            self.layers.resize(other.layers.len(), 0);
        }
        for (a, b) in self.layers.iter_mut().zip(&other.layers) {
            *a = (*a).max(*b);
        }
    }

    /// The largest value over all layers (a BFV plaintext modulus must exceed twice this).
    pub fn max(&self) -> u128 {
        self.layers.iter().copied().fold(self.input, u128::max)
    }

    /// Bits needed for the signed range: `ceil(log2(2 max + 1))`.
    pub fn bits(&self) -> u32 {
        let m = self.max();
        u128::BITS - (2 * m).leading_zeros()
    }
}

fn round_i64(
    v: f64,
    index: usize,
    kind: &'static str,
    what: &'static str,
) -> Result<i64, QuantError> {
    let r = v.round();
    if r.is_finite() && r.abs() < 9.0e18 {
        Ok(r as i64)
    } else {
        Err(QuantError::Overflow { index, kind, what })
    }
}

fn round_i128(
    v: f64,
    index: usize,
    kind: &'static str,
    what: &'static str,
) -> Result<i128, QuantError> {
    let r = v.round();
    if r.is_finite() && r.abs() < 1.7e38 {
        Ok(r as i128)
    } else {
        Err(QuantError::Overflow { index, kind, what })
    }
}

fn check_bits(
    bits: u32,
    what: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<(), QuantError> {
    if range.contains(&bits) {
        Ok(())
    } else {
        Err(QuantError::InvalidConfig(format!(
            "{what} = {bits} is outside {range:?}"
        )))
    }
}

/// Quantizes `w` to `bits`-bit signed integers; returns them and their scale.
fn quantize_weights(
    w: &[f32],
    bits: u32,
    index: usize,
    kind: &'static str,
) -> Result<(Vec<i64>, f64), QuantError> {
    let max = w.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
    let levels = ((1i64 << (bits - 1)) - 1) as f64;
    let scale = if max > 0.0 { max / levels } else { 1.0 };
    let q = w
        .iter()
        .map(|v| round_i64(f64::from(*v) / scale, index, kind, "weight"))
        .collect::<Result<_, _>>()?;
    Ok((q, scale))
}

impl QuantizedModel {
    /// Quantizes `model` (batch norms are folded first with [`Model::fold_batch_norm`]; collapse
    /// linear layers beforehand with [`Model::collapse_linear`] for the smallest integers).
    pub fn new(model: &Model, config: &QuantConfig) -> Result<Self, QuantError> {
        check_bits(config.input_bits, "input_bits", 1..=24)?;
        check_bits(config.weight_bits, "weight_bits", 2..=24)?;
        for (i, b) in &config.layer_weight_bits {
            check_bits(*b, &format!("weight bits of layer {i}"), 2..=24)?;
        }
        if !(config.input_max.is_finite() && config.input_max > 0.0) {
            return Err(QuantError::InvalidConfig(format!(
                "input_max = {} must be positive",
                config.input_max
            )));
        }
        let model = if model
            .layers
            .iter()
            .any(|l| matches!(l, Layer::BatchNorm { .. }))
        {
            model.fold_batch_norm()?
        } else {
            model.validate()?;
            model.clone()
        };
        for i in config.layer_weight_bits.keys() {
            match model.layers.get(*i) {
                Some(Layer::Conv2d { .. } | Layer::Dense { .. }) => {}
                other => {
                    return Err(QuantError::InvalidConfig(format!(
                        "weight bits given for layer {i}, which is {}",
                        other.map_or("past the last layer", |l| l.kind())
                    )))
                }
            }
        }
        let shapes = model.output_shapes()?;
        let input_limit = (1i64 << config.input_bits) - 1;
        let input_scale = f64::from(config.input_max) / input_limit as f64;
        let mut scale = input_scale;
        let mut layers = Vec::with_capacity(model.layers.len());
        let mut scales = Vec::with_capacity(model.layers.len());
        for (index, layer) in model.layers.iter().enumerate() {
            let kind = layer.kind();
            let bits = config
                .layer_weight_bits
                .get(&index)
                .copied()
                .unwrap_or(config.weight_bits);
            let q = match layer {
                Layer::Conv2d {
                    weight,
                    bias,
                    stride,
                    padding,
                } => {
                    let (w, sw) = quantize_weights(&weight.data, bits, index, kind)?;
                    scale *= sw;
                    let oc = weight.shape[0];
                    let b = match bias {
                        Some(b) => b
                            .data
                            .iter()
                            .map(|v| round_i128(f64::from(*v) / scale, index, kind, "bias"))
                            .collect::<Result<_, _>>()?,
                        None => vec![0; oc],
                    };
                    QuantizedLayer::Conv2d {
                        shape: [
                            weight.shape[0],
                            weight.shape[1],
                            weight.shape[2],
                            weight.shape[3],
                        ],
                        weight: w,
                        bias: b,
                        stride: *stride,
                        padding: *padding,
                    }
                }
                Layer::Dense { weight, bias } => {
                    let (w, sw) = quantize_weights(&weight.data, bits, index, kind)?;
                    scale *= sw;
                    let o = weight.shape[0];
                    let b = match bias {
                        Some(b) => b
                            .data
                            .iter()
                            .map(|v| round_i128(f64::from(*v) / scale, index, kind, "bias"))
                            .collect::<Result<_, _>>()?,
                        None => vec![0; o],
                    };
                    QuantizedLayer::Dense {
                        shape: [weight.shape[0], weight.shape[1]],
                        weight: w,
                        bias: b,
                    }
                }
                Layer::Square => {
                    scale *= scale;
                    QuantizedLayer::Square
                }
                Layer::Relu => QuantizedLayer::Relu,
                Layer::AvgPool {
                    kernel,
                    stride,
                    padding,
                } => {
                    scale /= (kernel.0 * kernel.1) as f64;
                    QuantizedLayer::SumPool {
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                    }
                }
                Layer::SumPool {
                    kernel,
                    stride,
                    padding,
                } => QuantizedLayer::SumPool {
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                },
                Layer::Flatten => QuantizedLayer::Flatten,
                Layer::BatchNorm { .. } => {
                    return Err(QuantError::InvalidConfig(format!(
                        "layer {index}: batch norm left after folding"
                    )))
                }
            };
            if !(scale.is_finite() && scale > 0.0) {
                return Err(QuantError::Overflow {
                    index,
                    kind,
                    what: "scale",
                });
            }
            layers.push(q);
            scales.push(scale);
        }
        Ok(Self {
            name: model.name.clone(),
            input_shape: model.input_shape.clone(),
            input_scale,
            input_limit,
            layers,
            scales,
            shapes,
            config: config.clone(),
        })
    }

    /// Number of input values.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Real value of one unit of the output logits.
    pub fn output_scale(&self) -> f64 {
        self.scales.last().copied().unwrap_or(self.input_scale)
    }

    /// Quantizes one float input: `round(x / input_scale)` clamped to `±input_limit`.
    pub fn quantize_input(&self, x: &[f32]) -> Result<Vec<i64>, QuantError> {
        if x.len() != self.input_len() {
            return Err(QuantError::Input(format!(
                "{} values, the model expects {}",
                x.len(),
                self.input_len()
            )));
        }
        x.iter()
            .enumerate()
            .map(|(i, v)| {
                if !v.is_finite() {
                    return Err(QuantError::Input(format!("value {i} is {v}")));
                }
                let q = (f64::from(*v) / self.input_scale).round();
                Ok((q as i64).clamp(-self.input_limit, self.input_limit))
            })
            .collect()
    }

    /// Exact integer evaluation returning every layer's output (element `i` for layer `i`).
    /// Checked `i128` arithmetic: any overflow is an [`QuantError::Overflow`].
    pub fn forward_trace(&self, input: &[i64]) -> Result<Vec<Vec<i128>>, QuantError> {
        if input.len() != self.input_len() {
            return Err(QuantError::Input(format!(
                "{} values, the model expects {}",
                input.len(),
                self.input_len()
            )));
        }
        let mut outs: Vec<Vec<i128>> = Vec::with_capacity(self.layers.len());
        let first: Vec<i128> = input.iter().map(|&v| i128::from(v)).collect();
        for (index, layer) in self.layers.iter().enumerate() {
            let (x, in_shape) = match index {
                0 => (first.as_slice(), self.input_shape.as_slice()),
                _ => (
                    outs[index - 1].as_slice(),
                    self.shapes[index - 1].as_slice(),
                ),
            };
            let y = apply(layer, x, in_shape, &self.shapes[index]).ok_or(QuantError::Overflow {
                index,
                kind: layer.kind(),
                what: "activation",
            })?;
            outs.push(y);
        }
        Ok(outs)
    }

    /// Exact integer evaluation: the integer logits (real value ≈ logit × [`Self::output_scale`]).
    pub fn forward_i128(&self, input: &[i64]) -> Result<Vec<i128>, QuantError> {
        Ok(self
            .forward_trace(input)?
            .pop()
            .unwrap_or_else(|| input.iter().map(|&v| i128::from(v)).collect()))
    }

    /// Exact integer evaluation where every intermediate layer output must fit `i64` (it is an
    /// [`QuantError::Overflow`] otherwise); the integer logits.
    pub fn forward_i64(&self, input: &[i64]) -> Result<Vec<i64>, QuantError> {
        let trace = self.forward_trace(input)?;
        for (index, out) in trace.iter().enumerate() {
            if out.iter().any(|v| i64::try_from(*v).is_err()) {
                return Err(QuantError::Overflow {
                    index,
                    kind: self.layers[index].kind(),
                    what: "value exceeds i64",
                });
            }
        }
        let last = trace
            .last()
            .map_or_else(|| input.to_vec(), |v| v.iter().map(|&x| x as i64).collect());
        Ok(last)
    }

    /// Predicted class of a float input: quantize, evaluate exactly, argmax.
    pub fn predict(&self, x: &[f32]) -> Result<usize, QuantError> {
        Ok(argmax(&self.forward_i128(&self.quantize_input(x)?)?))
    }

    /// Predictions of many float inputs stored back to back, in parallel.
    pub fn predict_batch(&self, xs: &[f32]) -> Result<Vec<usize>, QuantError> {
        let n = self.input_len();
        if n == 0 || !xs.len().is_multiple_of(n) {
            return Err(QuantError::Input(format!(
                "{} values is not a multiple of {n}",
                xs.len()
            )));
        }
        xs.par_chunks(n).map(|x| self.predict(x)).collect()
    }

    /// Predictions of many float inputs stored back to back together with the value ranges
    /// over them (one pass, in parallel): what `henn eval --quantized` reports.
    pub fn predict_with_ranges(&self, xs: &[f32]) -> Result<(Vec<usize>, ValueRanges), QuantError> {
        let n = self.input_len();
        if n == 0 || !xs.len().is_multiple_of(n) {
            return Err(QuantError::Input(format!(
                "{} values is not a multiple of {n}",
                xs.len()
            )));
        }
        let per: Vec<(usize, ValueRanges)> = xs
            .par_chunks(n)
            .map(|x| {
                let q = self.quantize_input(x)?;
                let trace = self.forward_trace(&q)?;
                let pred = trace.last().map_or(0, |o| argmax(o));
                Ok((
                    pred,
                    ValueRanges {
                        input: q
                            .iter()
                            .map(|v| v.unsigned_abs() as u128)
                            .max()
                            .unwrap_or(0),
                        layers: trace
                            .iter()
                            .map(|o| o.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0))
                            .collect(),
                    },
                ))
            })
            .collect::<Result<_, QuantError>>()?;
        let mut ranges = ValueRanges {
            input: 0,
            layers: vec![0; self.layers.len()],
        };
        let mut preds = Vec::with_capacity(per.len());
        for (p, r) in per {
            preds.push(p);
            ranges.merge(&r);
        }
        Ok((preds, ranges))
    }

    /// Largest absolute integer of the input and of each layer's output over all inputs in
    /// `xs` (back to back), computed in parallel.
    pub fn value_ranges(&self, xs: &[f32]) -> Result<ValueRanges, QuantError> {
        let n = self.input_len();
        if n == 0 || !xs.len().is_multiple_of(n) {
            return Err(QuantError::Input(format!(
                "{} values is not a multiple of {n}",
                xs.len()
            )));
        }
        let empty = ValueRanges {
            input: 0,
            layers: vec![0; self.layers.len()],
        };
        xs.par_chunks(n)
            .map(|x| {
                let q = self.quantize_input(x)?;
                let trace = self.forward_trace(&q)?;
                Ok(ValueRanges {
                    input: q
                        .iter()
                        .map(|v| v.unsigned_abs() as u128)
                        .max()
                        .unwrap_or(0),
                    layers: trace
                        .iter()
                        .map(|o| o.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0))
                        .collect(),
                })
            })
            .try_reduce(
                || empty.clone(),
                |a, b| {
                    Ok(ValueRanges {
                        input: a.input.max(b.input),
                        layers: a
                            .layers
                            .iter()
                            .zip(&b.layers)
                            .map(|(x, y)| *x.max(y))
                            .collect(),
                    })
                },
            )
    }
}

/// One integer layer; `None` on overflow.
fn apply(
    layer: &QuantizedLayer,
    x: &[i128],
    in_shape: &[usize],
    out_shape: &[usize],
) -> Option<Vec<i128>> {
    match layer {
        QuantizedLayer::Conv2d {
            shape,
            weight,
            bias,
            stride,
            padding,
        } => {
            let [oc, c, kh, kw] = *shape;
            let (h, w) = (in_shape[1], in_shape[2]);
            let (oh, ow) = (out_shape[1], out_shape[2]);
            let win = Window {
                h,
                w,
                stride: *stride,
                padding: *padding,
            };
            let mut out = vec![0i128; oc * oh * ow];
            for o in 0..oc {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = bias[o];
                        for i in 0..c {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    if let Some((y, xx)) = win.source(oy, ox, ky, kx) {
                                        let wv =
                                            i128::from(weight[((o * c + i) * kh + ky) * kw + kx]);
                                        acc = acc.checked_add(
                                            wv.checked_mul(x[(i * h + y) * w + xx])?,
                                        )?;
                                    }
                                }
                            }
                        }
                        out[(o * oh + oy) * ow + ox] = acc;
                    }
                }
            }
            Some(out)
        }
        QuantizedLayer::Dense {
            shape,
            weight,
            bias,
        } => {
            let [o, n] = *shape;
            (0..o)
                .map(|r| {
                    weight[r * n..(r + 1) * n]
                        .iter()
                        .zip(x)
                        .try_fold(bias[r], |acc, (wv, xv)| {
                            acc.checked_add(i128::from(*wv).checked_mul(*xv)?)
                        })
                })
                .collect()
        }
        QuantizedLayer::Square => x.iter().map(|v| v.checked_mul(*v)).collect(),
        QuantizedLayer::Relu => Some(x.iter().map(|v| (*v).max(0)).collect()),
        QuantizedLayer::SumPool {
            kernel,
            stride,
            padding,
        } => {
            let (c, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
            let (oh, ow) = (out_shape[1], out_shape[2]);
            let win = Window {
                h,
                w,
                stride: *stride,
                padding: *padding,
            };
            let mut out = vec![0i128; c * oh * ow];
            for i in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0i128;
                        for ky in 0..kernel.0 {
                            for kx in 0..kernel.1 {
                                if let Some((y, xx)) = win.source(oy, ox, ky, kx) {
                                    acc = acc.checked_add(x[(i * h + y) * w + xx])?;
                                }
                            }
                        }
                        out[(i * oh + oy) * ow + ox] = acc;
                    }
                }
            }
            Some(out)
        }
        QuantizedLayer::Flatten => Some(x.to_vec()),
    }
}
