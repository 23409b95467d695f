//! Plaintext `f32` inference (the reference every encrypted evaluation is checked against).
//!
//! Conventions (those of PyTorch): convolution is cross-correlation over zero-padded input;
//! `AvgPool` divides every window by the full window size `kh * kw`, counting padded zeros
//! (PyTorch's default `count_include_pad=True`), so average pooling stays a linear map with one
//! weight, which is what HE evaluation and layer collapsing need; `SumPool` is the same without
//! the division (CryptoNets' scaled mean pool).

use rayon::prelude::*;

use super::{Layer, Model, ModelError, Padding, Tensor};

/// Sliding-window geometry shared by convolution and pooling.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub h: usize,
    pub w: usize,
    pub stride: (usize, usize),
    pub padding: Padding,
}

impl Window {
    /// Input coordinate `(row, col)` read by output `(oy, ox)` at kernel offset `(ky, kx)`, or
    /// `None` when it falls in the padding.
    #[inline]
    pub fn source(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let y = (oy * self.stride.0 + ky).checked_sub(self.padding.top)?;
        let x = (ox * self.stride.1 + kx).checked_sub(self.padding.left)?;
        (y < self.h && x < self.w).then_some((y, x))
    }
}

/// 2-D convolution of a `[c, h, w]` input with `weight` `[oc, c, kh, kw]`.
pub(crate) fn conv2d(
    input: &[f32],
    in_shape: &[usize],
    out_shape: &[usize],
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: (usize, usize),
    padding: Padding,
) -> Vec<f32> {
    let (c, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
    let (oc, oh, ow) = (out_shape[0], out_shape[1], out_shape[2]);
    let (kh, kw) = (weight.shape[2], weight.shape[3]);
    let win = Window {
        h,
        w,
        stride,
        padding,
    };
    let mut out = vec![0f32; oc * oh * ow];
    for o in 0..oc {
        let b = bias.map_or(0.0, |b| b.data[o]);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = b;
                for i in 0..c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some((y, x)) = win.source(oy, ox, ky, kx) {
                                acc += weight.data[((o * c + i) * kh + ky) * kw + kx]
                                    * input[(i * h + y) * w + x];
                            }
                        }
                    }
                }
                out[(o * oh + oy) * ow + ox] = acc;
            }
        }
    }
    out
}

/// Sum of each window per channel, divided by `divisor`.
pub(crate) fn pool(
    input: &[f32],
    in_shape: &[usize],
    out_shape: &[usize],
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
    divisor: f32,
) -> Vec<f32> {
    let (c, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
    let (oh, ow) = (out_shape[1], out_shape[2]);
    let win = Window {
        h,
        w,
        stride,
        padding,
    };
    let mut out = vec![0f32; c * oh * ow];
    for i in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0f32;
                for ky in 0..kernel.0 {
                    for kx in 0..kernel.1 {
                        if let Some((y, x)) = win.source(oy, ox, ky, kx) {
                            acc += input[(i * h + y) * w + x];
                        }
                    }
                }
                out[(i * oh + oy) * ow + ox] = acc / divisor;
            }
        }
    }
    out
}

/// `W x + b` with `W` `[out, in]`.
pub(crate) fn dense(input: &[f32], weight: &Tensor, bias: Option<&Tensor>) -> Vec<f32> {
    let (o, n) = (weight.shape[0], weight.shape[1]);
    (0..o)
        .map(|r| {
            let row = &weight.data[r * n..(r + 1) * n];
            let dot: f32 = row.iter().zip(input).map(|(a, b)| a * b).sum();
            dot + bias.map_or(0.0, |b| b.data[r])
        })
        .collect()
}

impl Layer {
    /// Applies the layer to `input` of shape `in_shape`, producing `out_shape` (as computed by
    /// [`Layer::output_shape`]; the caller guarantees consistency).
    pub(crate) fn apply(&self, input: &[f32], in_shape: &[usize], out_shape: &[usize]) -> Vec<f32> {
        match self {
            Layer::Conv2d {
                weight,
                bias,
                stride,
                padding,
            } => conv2d(
                input,
                in_shape,
                out_shape,
                weight,
                bias.as_ref(),
                *stride,
                *padding,
            ),
            Layer::Dense { weight, bias } => dense(input, weight, bias.as_ref()),
            Layer::Square => input.iter().map(|x| x * x).collect(),
            Layer::Relu => input.iter().map(|x| x.max(0.0)).collect(),
            Layer::AvgPool {
                kernel,
                stride,
                padding,
            } => pool(
                input,
                in_shape,
                out_shape,
                *kernel,
                *stride,
                *padding,
                (kernel.0 * kernel.1) as f32,
            ),
            Layer::SumPool {
                kernel,
                stride,
                padding,
            } => pool(input, in_shape, out_shape, *kernel, *stride, *padding, 1.0),
            Layer::Flatten => input.to_vec(),
            Layer::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                eps,
            } => {
                let c = in_shape[0];
                let per = input.len() / c;
                let mut out = input.to_vec();
                for ch in 0..c {
                    let s = gamma.data[ch] / (var.data[ch] + eps).sqrt();
                    let t = beta.data[ch] - mean.data[ch] * s;
                    for v in &mut out[ch * per..(ch + 1) * per] {
                        *v = *v * s + t;
                    }
                }
                out
            }
        }
    }
}

impl Model {
    fn check_input(&self, input: &[f32]) -> Result<Vec<Vec<usize>>, ModelError> {
        let shapes = self.output_shapes()?;
        let n = self.input_len();
        if input.len() != n {
            return Err(ModelError::InputLength {
                expected: n,
                got: input.len(),
            });
        }
        Ok(shapes)
    }

    /// Evaluates the network on one input (`input_shape` values, row-major CHW) and returns
    /// the output layer's values (logits).
    pub fn forward(&self, input: &[f32]) -> Result<Vec<f32>, ModelError> {
        Ok(self
            .forward_trace(input)?
            .pop()
            .unwrap_or_else(|| input.to_vec()))
    }

    /// Like [`Model::forward`] but returns every layer's output (element `i` is the output of
    /// layer `i`), e.g. to measure intermediate value ranges.
    pub fn forward_trace(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let shapes = self.check_input(input)?;
        let mut outs: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let (x, in_shape) = match i {
                0 => (input, self.input_shape.as_slice()),
                _ => (outs[i - 1].as_slice(), shapes[i - 1].as_slice()),
            };
            let y = layer.apply(x, in_shape, &shapes[i]);
            outs.push(y);
        }
        Ok(outs)
    }

    /// Evaluates many inputs stored back to back (`k * input_len()` values) in parallel with
    /// rayon; returns one output vector per input.
    pub fn forward_batch(&self, inputs: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let n = self.input_len();
        if n == 0 || !inputs.len().is_multiple_of(n) {
            return Err(ModelError::InputLength {
                expected: n,
                got: inputs.len() % n.max(1),
            });
        }
        self.output_shapes()?;
        inputs.par_chunks(n).map(|x| self.forward(x)).collect()
    }

    /// Largest absolute value of each layer's output (element `i` for layer `i`) over many
    /// inputs stored back to back, computed in parallel: the float counterpart of
    /// [`crate::quant::QuantizedModel::value_ranges`].
    pub fn max_abs_per_layer(&self, inputs: &[f32]) -> Result<Vec<f32>, ModelError> {
        let n = self.input_len();
        if n == 0 || !inputs.len().is_multiple_of(n) {
            return Err(ModelError::InputLength {
                expected: n,
                got: inputs.len() % n.max(1),
            });
        }
        let empty = vec![0f32; self.layers.len()];
        inputs
            .par_chunks(n)
            .map(|x| {
                Ok(self
                    .forward_trace(x)?
                    .iter()
                    .map(|o| o.iter().fold(0f32, |m, v| m.max(v.abs())))
                    .collect::<Vec<f32>>())
            })
            .try_reduce(
                || empty.clone(),
                |a, b| Ok(a.iter().zip(&b).map(|(x, y)| x.max(*y)).collect()),
            )
    }

    /// Predictions (argmax of the outputs) of many inputs stored back to back, with the largest
    /// absolute value of each layer's output over them (one pass, in parallel).
    pub fn predict_with_ranges(
        &self,
        inputs: &[f32],
    ) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        let n = self.input_len();
        if n == 0 || !inputs.len().is_multiple_of(n) {
            return Err(ModelError::InputLength {
                expected: n,
                got: inputs.len() % n.max(1),
            });
        }
        let per: Vec<(usize, Vec<f32>)> = inputs
            .par_chunks(n)
            .map(|x| {
                let trace = self.forward_trace(x)?;
                let pred = trace.last().map_or(0, |o| argmax(o));
                Ok((
                    pred,
                    trace
                        .iter()
                        .map(|o| o.iter().fold(0f32, |m, v| m.max(v.abs())))
                        .collect(),
                ))
            })
            .collect::<Result<_, ModelError>>()?;
        let mut ranges = vec![0f32; self.layers.len()];
        let mut preds = Vec::with_capacity(per.len());
        for (p, r) in per {
            preds.push(p);
            ranges.iter_mut().zip(&r).for_each(|(a, b)| *a = a.max(*b));
        }
        Ok((preds, ranges))
    }

    /// The predicted class of one input: the index of the largest output (first on ties).
    pub fn predict(&self, input: &[f32]) -> Result<usize, ModelError> {
        Ok(argmax(&self.forward(input)?))
    }
}

/// Index of the largest value (the first one on ties; 0 for an empty slice). NaN never wins.
pub fn argmax<T: PartialOrd + Copy>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}
