//! Linear-layer collapsing (LoLa section 4.3, "after suppressing adjacent linear layers"; the
//! CryptoNets network is evaluated the same way) and batch-norm folding.
//!
//! A run of adjacent affine layers (convolution, dense, pooling, flatten, batch norm) is one
//! affine map, so it can be evaluated as one layer: fewer HE multiplications, less noise, and for
//! BFV a smaller growth of the integer scale. [`Model::collapse_linear`] replaces each run by
//!
//! * a single `Conv2d` when the composition is still a convolution: every layer of the run is
//!   convolution-like (conv, avg/sum pool, batch norm on CHW) and only the first one pads. The
//!   composite kernel is `K = K' + (k - 1) S'`, stride `S = S' s` (applied layer by layer), the
//!   padding is the first layer's; weights are read off by probing the run's linear part with
//!   unit inputs on one `K`-sized patch;
//! * otherwise a single `Dense` layer (weights probed with unit vectors over the whole input),
//!   provided the run ends in a flat vector; a run that ends in CHW and is not a convolution
//!   (e.g. a padded pool after a conv) is kept as it is.
//!
//! Runs with at most one non-flatten layer are left unchanged.

use rayon::prelude::*;

use super::shape::windows;
use super::{shape_len, Layer, Model, ModelError, Padding, Tensor};

/// Per-channel affine map `x ↦ s x + t` of a batch-norm layer.
fn bn_affine(
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let s: Vec<f32> = gamma
        .data
        .iter()
        .zip(&var.data)
        .map(|(g, v)| g / (v + eps).sqrt())
        .collect();
    let t = beta
        .data
        .iter()
        .zip(&mean.data)
        .zip(&s)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (s, t)
}

/// `(kernel, stride, padding)` of a sliding window.
type Geometry = ((usize, usize), (usize, usize), Padding);

/// `(kernel, stride, padding)` of a convolution-like layer on a CHW input; `None` otherwise.
fn conv_geometry(layer: &Layer, in_shape: &[usize]) -> Option<Geometry> {
    if in_shape.len() != 3 {
        return None;
    }
    match layer {
        Layer::Conv2d {
            weight,
            stride,
            padding,
            ..
        } => Some(((weight.shape[2], weight.shape[3]), *stride, *padding)),
        Layer::AvgPool {
            kernel,
            stride,
            padding,
        }
        | Layer::SumPool {
            kernel,
            stride,
            padding,
        } => Some((*kernel, *stride, *padding)),
        Layer::BatchNorm { .. } => Some(((1, 1), (1, 1), Padding::default())),
        _ => None,
    }
}

/// The layer with its constant term removed (bias dropped, batch norm reduced to its scale), so
/// that it is linear.
fn linear_part(layer: &Layer) -> Layer {
    match layer {
        Layer::Conv2d {
            weight,
            stride,
            padding,
            ..
        } => Layer::Conv2d {
            weight: weight.clone(),
            bias: None,
            stride: *stride,
            padding: *padding,
        },
        Layer::Dense { weight, .. } => Layer::Dense {
            weight: weight.clone(),
            bias: None,
        },
        Layer::BatchNorm {
            gamma, var, eps, ..
        } => {
            let zeros = Tensor {
                shape: gamma.shape.clone(),
                data: vec![0.0; gamma.len()],
            };
            Layer::BatchNorm {
                gamma: gamma.clone(),
                beta: zeros.clone(),
                mean: zeros,
                var: var.clone(),
                eps: *eps,
            }
        }
        other => other.clone(),
    }
}

fn with_padding(layer: &Layer, p: Padding) -> Layer {
    let mut l = layer.clone();
    match &mut l {
        Layer::Conv2d { padding, .. }
        | Layer::AvgPool { padding, .. }
        | Layer::SumPool { padding, .. } => *padding = p,
        _ => {}
    }
    l
}

/// Collapses `run` (input shape `in_shape`, output `out_shape`) into one convolution, if it is
/// one.
fn collapse_to_conv(
    run: &[Layer],
    in_shape: &[usize],
    out_shape: &[usize],
) -> Result<Option<Layer>, ModelError> {
    if out_shape.len() != 3 {
        return Ok(None);
    }
    let mut shape = in_shape.to_vec();
    let (mut k, mut s) = ((1usize, 1usize), (1usize, 1usize));
    let mut first_padding = Padding::default();
    for (i, layer) in run.iter().enumerate() {
        let Some((lk, ls, lp)) = conv_geometry(layer, &shape) else {
            return Ok(None);
        };
        if i == 0 {
            first_padding = lp;
        } else if !lp.is_zero() {
            return Ok(None);
        }
        k = (k.0 + (lk.0 - 1) * s.0, k.1 + (lk.1 - 1) * s.1);
        s = (s.0 * ls.0, s.1 * ls.1);
        shape = layer.output_shape(i, &shape)?;
    }
    let (cin, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
    let cout = out_shape[0];
    let oh = windows(h, first_padding.top, first_padding.bottom, k.0, s.0);
    let ow = windows(w, first_padding.left, first_padding.right, k.1, s.1);
    if oh != Some(out_shape[1]) || ow != Some(out_shape[2]) {
        return Ok(None);
    }
    // Probe one interior K-sized window: the first layer's padding is dropped.
    let mut full: Vec<Layer> = run.to_vec();
    full[0] = with_padding(&full[0], Padding::default());
    let linear: Vec<Layer> = full.iter().map(linear_part).collect();
    let patch = vec![cin, k.0, k.1];
    let full = Model::new("probe", patch.clone(), full);
    let linear = Model::new("probe", patch, linear);
    let n = cin * k.0 * k.1;
    let bias = full.forward(&vec![0.0; n])?;
    if bias.len() != cout {
        return Ok(None);
    }
    let columns: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|j| {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            linear.forward(&e)
        })
        .collect::<Result<_, _>>()?;
    let mut weight = vec![0.0; cout * n];
    for (j, col) in columns.iter().enumerate() {
        for (o, v) in col.iter().enumerate() {
            weight[o * n + j] = *v;
        }
    }
    Ok(Some(Layer::Conv2d {
        weight: Tensor::new(vec![cout, cin, k.0, k.1], weight)?,
        bias: Some(Tensor::new(vec![cout], bias)?),
        stride: s,
        padding: first_padding,
    }))
}

/// Collapses `run` into one dense layer on the flattened input.
fn collapse_to_dense(run: &[Layer], in_shape: &[usize]) -> Result<Layer, ModelError> {
    let full = Model::new("probe", in_shape.to_vec(), run.to_vec());
    let linear = Model::new(
        "probe",
        in_shape.to_vec(),
        run.iter().map(linear_part).collect(),
    );
    let n = full.input_len();
    let bias = full.forward(&vec![0.0; n])?;
    let m = bias.len();
    let columns: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|j| {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            linear.forward(&e)
        })
        .collect::<Result<_, _>>()?;
    let mut weight = vec![0.0; m * n];
    for (j, col) in columns.iter().enumerate() {
        for (o, v) in col.iter().enumerate() {
            weight[o * n + j] = *v;
        }
    }
    Ok(Layer::Dense {
        weight: Tensor::new(vec![m, n], weight)?,
        bias: Some(Tensor::new(vec![m], bias)?),
    })
}

impl Model {
    /// Folds every batch-norm layer into an adjacent linear layer (LoLa section 4.3 collapses
    /// such layers before inference):
    ///
    /// * into the **preceding** `Conv2d` (BN on its CHW output) or `Dense` (BN on `[features]`):
    ///   `W'[o] = s_o W[o]`, `b'_o = s_o b_o + t_o` with `s = gamma / sqrt(var + eps)`,
    ///   `t = beta - mean s`;
    /// * otherwise into the **following** `Conv2d` with zero padding (padding would pad the
    ///   normalised input with zeros, which no weight change reproduces) or `Dense` (flatten
    ///   layers in between are allowed): `W'[.., i, ..] = W[.., i, ..] s_i`,
    ///   `b' = b + Σ W t`.
    ///
    /// Anything else (a batch norm between two activations, or before a padded convolution or a
    /// pool) is an [`ModelError::Unsupported`] error naming the layer.
    pub fn fold_batch_norm(&self) -> Result<Model, ModelError> {
        let shapes = self.output_shapes()?;
        let mut layers = self.layers.clone();
        let mut out: Vec<Layer> = Vec::with_capacity(layers.len());
        for i in 0..layers.len() {
            let Layer::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                eps,
            } = &layers[i]
            else {
                out.push(layers[i].clone());
                continue;
            };
            let (s, t) = bn_affine(gamma, beta, mean, var, *eps);
            let in_shape = if i == 0 {
                self.input_shape.clone()
            } else {
                shapes[i - 1].clone()
            };
            let c = in_shape[0];
            let per = shape_len(&in_shape).unwrap_or(0) / c.max(1);
            // Into the preceding layer.
            match out.last_mut() {
                Some(Layer::Conv2d { weight, bias, .. }) if in_shape.len() == 3 => {
                    let per_o = weight.len() / c;
                    let mut b = bias.take().map_or(vec![0.0; c], |b| b.data);
                    for o in 0..c {
                        weight.data[o * per_o..(o + 1) * per_o]
                            .iter_mut()
                            .for_each(|w| *w *= s[o]);
                        b[o] = b[o] * s[o] + t[o];
                    }
                    *bias = Some(Tensor::new(vec![c], b)?);
                    continue;
                }
                Some(Layer::Dense { weight, bias }) if in_shape.len() == 1 => {
                    let n = weight.shape[1];
                    let mut b = bias.take().map_or(vec![0.0; c], |b| b.data);
                    for o in 0..c {
                        weight.data[o * n..(o + 1) * n]
                            .iter_mut()
                            .for_each(|w| *w *= s[o]);
                        b[o] = b[o] * s[o] + t[o];
                    }
                    *bias = Some(Tensor::new(vec![c], b)?);
                    continue;
                }
                _ => {}
            }
            // Into the following layer, skipping flattens.
            let mut j = i + 1;
            while matches!(layers.get(j), Some(Layer::Flatten)) {
                j += 1;
            }
            let fail = |reason: &str| ModelError::Unsupported {
                index: i,
                kind: "batch_norm",
                operation: "fold batch norm",
                reason: reason.into(),
            };
            match layers.get_mut(j) {
                Some(Layer::Conv2d { weight, bias, padding, .. }) if j == i + 1 => {
                    if !padding.is_zero() {
                        return Err(fail("no preceding linear layer and the following convolution pads its input"));
                    }
                    let (oc, ic) = (weight.shape[0], weight.shape[1]);
                    let kk = weight.shape[2] * weight.shape[3];
                    let mut b = bias.take().map_or(vec![0.0; oc], |b| b.data);
                    for (o, bo) in b.iter_mut().enumerate() {
                        for ch in 0..ic {
                            let k = &mut weight.data[(o * ic + ch) * kk..(o * ic + ch + 1) * kk];
                            *bo += t[ch] * k.iter().sum::<f32>();
                            k.iter_mut().for_each(|w| *w *= s[ch]);
                        }
                    }
                    *bias = Some(Tensor::new(vec![oc], b)?);
                }
                Some(Layer::Dense { weight, bias }) => {
                    let (m, n) = (weight.shape[0], weight.shape[1]);
                    let mut b = bias.take().map_or(vec![0.0; m], |b| b.data);
                    for (r, br) in b.iter_mut().enumerate() {
                        for col in 0..n {
                            let ch = col / per.max(1);
                            let w = &mut weight.data[r * n + col];
                            *br += *w * t[ch];
                            *w *= s[ch];
                        }
                    }
                    *bias = Some(Tensor::new(vec![m], b)?);
                }
                _ => return Err(fail("neither the preceding nor the following layer is a convolution or dense layer it can be folded into")),
            }
        }
        let folded = Model::new(self.name.clone(), self.input_shape.clone(), out);
        folded.validate()?;
        Ok(folded)
    }

    /// Merges every run of adjacent affine layers into one `Conv2d` or `Dense` layer (see the
    /// module documentation for which); the result computes the same function up to `f32`
    /// rounding.
    pub fn collapse_linear(&self) -> Result<Model, ModelError> {
        let shapes = self.output_shapes()?;
        let shape_before = |i: usize| {
            if i == 0 {
                self.input_shape.clone()
            } else {
                shapes[i - 1].clone()
            }
        };
        let mut out = Vec::with_capacity(self.layers.len());
        let mut i = 0;
        while i < self.layers.len() {
            if !self.layers[i].is_affine() {
                out.push(self.layers[i].clone());
                i += 1;
                continue;
            }
            let mut end = i;
            while end < self.layers.len() && self.layers[end].is_affine() {
                end += 1;
            }
            let run = &self.layers[i..end];
            let in_shape = shape_before(i);
            let out_shape = shapes[end - 1].clone();
            let effective = run.iter().filter(|l| !matches!(l, Layer::Flatten)).count();
            if effective <= 1 {
                out.extend_from_slice(run);
            } else {
                // A convolution followed by flattens stays a convolution, then one flatten.
                let trailing = run
                    .iter()
                    .rev()
                    .take_while(|l| matches!(l, Layer::Flatten))
                    .count();
                let conv_part = &run[..run.len() - trailing];
                let conv_out = shapes[end - 1 - trailing].clone();
                if let Some(conv) = collapse_to_conv(conv_part, &in_shape, &conv_out)? {
                    out.push(conv);
                    if trailing > 0 {
                        out.push(Layer::Flatten);
                    }
                } else if out_shape.len() == 1 {
                    out.push(collapse_to_dense(run, &in_shape)?);
                } else {
                    out.extend_from_slice(run);
                }
            }
            i = end;
        }
        let collapsed = Model::new(self.name.clone(), self.input_shape.clone(), out);
        collapsed.validate()?;
        Ok(collapsed)
    }
}
