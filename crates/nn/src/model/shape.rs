//! Shape propagation and validation: each layer's output shape from its input shape.

use super::{shape_len, Layer, Model, ModelError, Padding, Tensor};

/// Largest number of values an input or a layer output may have (2^28, 1 GiB of `f32`): a
/// model file cannot make evaluation allocate without bound.
pub const MAX_VALUES: usize = 1 << 28;

/// Number of windows along one axis: `(len + before + after - kernel) / stride + 1`, or `None`
/// when the kernel or stride is zero or the kernel is larger than the padded length.
pub(crate) fn windows(
    len: usize,
    before: usize,
    after: usize,
    kernel: usize,
    stride: usize,
) -> Option<usize> {
    let padded = len.checked_add(before)?.checked_add(after)?;
    if kernel == 0 || stride == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

/// Output `(height, width)` of a sliding window over `(h, w)`.
fn spatial_out(
    index: usize,
    kind: &'static str,
    (h, w): (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: &Padding,
) -> Result<(usize, usize), ModelError> {
    if stride.0 == 0 || stride.1 == 0 {
        return Err(ModelError::layer(index, kind, "stride must be positive"));
    }
    if kernel.0 == 0 || kernel.1 == 0 {
        return Err(ModelError::layer(index, kind, "kernel must be non-empty"));
    }
    let oh = windows(h, padding.top, padding.bottom, kernel.0, stride.0);
    let ow = windows(w, padding.left, padding.right, kernel.1, stride.1);
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok((oh, ow)),
        _ => Err(ModelError::layer(
            index,
            kind,
            format!(
                "kernel {}x{} does not fit the padded input {}x{} (input {h}x{w}, padding {padding:?})",
                kernel.0,
                kernel.1,
                h.saturating_add(padding.top).saturating_add(padding.bottom),
                w.saturating_add(padding.left).saturating_add(padding.right)
            ),
        )),
    }
}

fn chw(
    index: usize,
    kind: &'static str,
    shape: &[usize],
) -> Result<(usize, usize, usize), ModelError> {
    match shape {
        [c, h, w] => Ok((*c, *h, *w)),
        _ => Err(ModelError::layer(
            index,
            kind,
            format!("needs a [channels, height, width] input, got {shape:?}"),
        )),
    }
}

fn vector_of(
    index: usize,
    kind: &'static str,
    role: &str,
    t: &Tensor,
    n: usize,
) -> Result<(), ModelError> {
    if t.shape != [n] {
        return Err(ModelError::layer(
            index,
            kind,
            format!("{role} has shape {:?}, expected [{n}]", t.shape),
        ));
    }
    Ok(())
}

impl Layer {
    /// The shape this layer produces from an input of shape `input`, after checking that the
    /// layer's tensors agree with each other and with the input. `index` only labels errors.
    pub fn output_shape(&self, index: usize, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let kind = self.kind();
        for (role, t) in self.tensors() {
            if shape_len(&t.shape) != Some(t.data.len()) {
                return Err(ModelError::layer(
                    index,
                    kind,
                    format!("{role} has shape {:?} but {} values", t.shape, t.data.len()),
                ));
            }
        }
        let out =
            match self {
                Layer::Conv2d {
                    weight,
                    bias,
                    stride,
                    padding,
                } => {
                    let (c, h, w) = chw(index, kind, input)?;
                    let [oc, ic, kh, kw] = weight.shape[..] else {
                        return Err(ModelError::layer(
                            index,
                            kind,
                            format!(
                                "weight has shape {:?}, expected [out, in, kh, kw]",
                                weight.shape
                            ),
                        ));
                    };
                    if ic != c {
                        return Err(ModelError::layer(
                            index,
                            kind,
                            format!("weight expects {ic} input channels, the input has {c}"),
                        ));
                    }
                    if oc == 0 {
                        return Err(ModelError::layer(index, kind, "no output channel"));
                    }
                    if let Some(b) = bias {
                        vector_of(index, kind, "bias", b, oc)?;
                    }
                    let (oh, ow) = spatial_out(index, kind, (h, w), (kh, kw), *stride, padding)?;
                    vec![oc, oh, ow]
                }
                Layer::Dense { weight, bias } => {
                    let [o, i] = weight.shape[..] else {
                        return Err(ModelError::layer(
                            index,
                            kind,
                            format!("weight has shape {:?}, expected [out, in]", weight.shape),
                        ));
                    };
                    let n = shape_len(input).unwrap_or(usize::MAX);
                    if i != n {
                        return Err(ModelError::layer(
                            index,
                            kind,
                            format!("weight expects {i} inputs, the input {input:?} has {n}"),
                        ));
                    }
                    if o == 0 {
                        return Err(ModelError::layer(index, kind, "no output feature"));
                    }
                    if let Some(b) = bias {
                        vector_of(index, kind, "bias", b, o)?;
                    }
                    vec![o]
                }
                Layer::Square | Layer::Relu => input.to_vec(),
                Layer::AvgPool {
                    kernel,
                    stride,
                    padding,
                }
                | Layer::SumPool {
                    kernel,
                    stride,
                    padding,
                } => {
                    let (c, h, w) = chw(index, kind, input)?;
                    let (oh, ow) = spatial_out(index, kind, (h, w), *kernel, *stride, padding)?;
                    vec![c, oh, ow]
                }
                Layer::Flatten => vec![shape_len(input).unwrap_or(usize::MAX)],
                Layer::BatchNorm {
                    gamma,
                    beta,
                    mean,
                    var,
                    eps,
                } => {
                    let Some(&c) = input.first() else {
                        return Err(ModelError::layer(index, kind, "input has no channel axis"));
                    };
                    if input.len() != 1 && input.len() != 3 {
                        return Err(ModelError::layer(
                            index,
                            kind,
                            format!(
                            "needs a [channels] or [channels, height, width] input, got {input:?}"
                        ),
                        ));
                    }
                    for (role, t) in [
                        ("gamma", gamma),
                        ("beta", beta),
                        ("mean", mean),
                        ("var", var),
                    ] {
                        vector_of(index, kind, role, t, c)?;
                    }
                    if !(eps.is_finite() && *eps >= 0.0) {
                        return Err(ModelError::layer(
                            index,
                            kind,
                            format!("eps {eps} is not a finite non-negative number"),
                        ));
                    }
                    if let Some(j) = var.data.iter().position(|&v| {
                        (v + eps).partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
                    }) {
                        return Err(ModelError::layer(
                            index,
                            kind,
                            format!("var[{j}] + eps = {} is not positive", var.data[j] + eps),
                        ));
                    }
                    input.to_vec()
                }
            };
        match shape_len(&out) {
            Some(n) if n <= MAX_VALUES => {}
            _ => {
                return Err(ModelError::layer(
                    index,
                    kind,
                    format!("output shape {out:?} exceeds {MAX_VALUES} values"),
                ))
            }
        }
        Ok(out)
    }
}

impl Model {
    /// Each layer's output shape, propagating the input shape layer by layer (element `i` is the
    /// shape after layer `i`). Checks every layer's tensors against its input; the first
    /// inconsistency is an error naming the layer.
    pub fn output_shapes(&self) -> Result<Vec<Vec<usize>>, ModelError> {
        if self.input_shape.is_empty() || self.input_shape.contains(&0) {
            return Err(ModelError::InvalidInputShape(
                self.input_shape.clone(),
                "needs at least one dimension, all positive".into(),
            ));
        }
        match shape_len(&self.input_shape) {
            Some(n) if n <= MAX_VALUES => {}
            _ => {
                return Err(ModelError::InvalidInputShape(
                    self.input_shape.clone(),
                    format!("more than {MAX_VALUES} values"),
                ))
            }
        }
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut cur = self.input_shape.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            cur = layer.output_shape(i, &cur)?;
            shapes.push(cur.clone());
        }
        Ok(shapes)
    }

    /// Shape of the model's output.
    pub fn output_shape(&self) -> Result<Vec<usize>, ModelError> {
        Ok(self
            .output_shapes()?
            .pop()
            .unwrap_or_else(|| self.input_shape.clone()))
    }

    /// Checks the whole model: shapes consistent layer by layer ([`Model::output_shapes`]) and
    /// every tensor value finite.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.output_shapes()?;
        for (i, layer) in self.layers.iter().enumerate() {
            for (role, t) in layer.tensors() {
                if let Some(j) = t.data.iter().position(|v| !v.is_finite()) {
                    return Err(ModelError::layer(
                        i,
                        layer.kind(),
                        format!("{role}[{j}] = {} is not finite", t.data[j]),
                    ));
                }
            }
        }
        Ok(())
    }
}
