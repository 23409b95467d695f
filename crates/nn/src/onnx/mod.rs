//! ONNX import: turns an ONNX file (as exported by PyTorch) into a [`Model`].
//!
//! Supported operators (default domain): `Conv` (pads, strides, `group = 1`, dilation 1),
//! `Gemm` (activation as `A` with `transA = 0`; `transB`, `alpha`, `beta`, bias `C` of `N` or
//! one value), `MatMul` with a constant right operand, `Add` of a constant right after
//! `MatMul`/`Gemm`/`Conv` (merged into the bias), `Mul(x, x)` and `Pow(x, 2)` as `Square`,
//! `Relu`, `AveragePool` (zero pads, or `count_include_pad = 1`), `Flatten` (axis 1), `Reshape`
//! to `[1, -1]`-like flat shapes, `BatchNormalization` (inference mode), `Pad` (constant zero,
//! spatial only, merged into the following `Conv` or `AveragePool` padding), `Constant`, and
//! `Identity` / `Dropout` as no-ops. The graph must be a chain: every node reads the previous
//! node's output and constants only, and the last node's output is the graph output. Anything
//! else is an error naming the node's op type and name.
//!
//! Everything read is validated: the file size is bounded before reading, tensor data sizes
//! must match their dims, constants must exist, external data is rejected, and the resulting
//! model is checked with [`Model::validate`].

pub mod proto;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::model::{Layer, Model, ModelError, Padding, Tensor};
use proto::{AttributeProto, ModelProto, NodeProto, TensorProto};

/// Largest ONNX file accepted (bytes).
pub const MAX_ONNX_BYTES: u64 = 1 << 30;

/// ONNX `DataType` codes used here.
const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

/// Errors of ONNX import.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_ONNX_BYTES`].
    #[error("{path}: {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a valid ONNX protobuf.
    #[error("not a valid ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    /// An operator henn cannot express.
    #[error("unsupported ONNX operator {op_type} (node {node:?})")]
    UnsupportedOp {
        /// Operator type.
        op_type: String,
        /// Node name.
        node: String,
    },
    /// A supported operator used in a way henn cannot express or with invalid attributes.
    #[error("node {node:?} ({op_type}): {reason}")]
    InvalidNode {
        /// Node name.
        node: String,
        /// Operator type.
        op_type: String,
        /// What is wrong.
        reason: String,
    },
    /// A constant tensor is missing or malformed.
    #[error("tensor {name:?}: {reason}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The graph as a whole is not a supported chain.
    #[error("graph: {0}")]
    Graph(String),
    /// The imported model is invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// A decoded constant.
struct Const {
    dims: Vec<usize>,
    floats: Option<Vec<f32>>,
    ints: Option<Vec<i64>>,
}

fn tensor_err(t: &TensorProto, reason: impl Into<String>) -> OnnxError {
    OnnxError::Tensor {
        name: t.name.clone(),
        reason: reason.into(),
    }
}

/// Decodes a tensor's dims and values (FLOAT/DOUBLE as floats, INT32/INT64 as ints), checking
/// the data length against the dims.
fn decode_tensor(t: &TensorProto) -> Result<Const, OnnxError> {
    if t.data_location == 1 {
        return Err(tensor_err(t, "external data is not supported"));
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        dims.push(
            usize::try_from(d).map_err(|_| tensor_err(t, format!("negative dimension {d}")))?,
        );
    }
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| tensor_err(t, "element count overflows"))?;
    let raw = |width: usize| -> Result<Option<&[u8]>, OnnxError> {
        if t.raw_data.is_empty() {
            return Ok(None);
        }
        if Some(t.raw_data.len()) != n.checked_mul(width) {
            return Err(tensor_err(
                t,
                format!(
                    "raw_data holds {} bytes, dims {dims:?} need {}",
                    t.raw_data.len(),
                    n.saturating_mul(width)
                ),
            ));
        }
        Ok(Some(&t.raw_data))
    };
    let count = |len: usize| -> Result<(), OnnxError> {
        if len != n {
            return Err(tensor_err(
                t,
                format!("holds {len} values, dims {dims:?} need {n}"),
            ));
        }
        Ok(())
    };
    let (floats, ints) = match t.data_type {
        FLOAT => {
            let v = match raw(4)? {
                Some(b) => b
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                None => {
                    count(t.float_data.len())?;
                    t.float_data.clone()
                }
            };
            (Some(v), None)
        }
        DOUBLE => {
            let v = match raw(8)? {
                Some(b) => b
                    .chunks_exact(8)
                    .map(|c| {
                        f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                    })
                    .collect(),
                None => {
                    count(t.double_data.len())?;
                    t.double_data.iter().map(|v| *v as f32).collect()
                }
            };
            (Some(v), None)
        }
        INT64 => {
            let v = match raw(8)? {
                Some(b) => b
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
                None => {
                    count(t.int64_data.len())?;
                    t.int64_data.clone()
                }
            };
            (None, Some(v))
        }
        INT32 => {
            let v = match raw(4)? {
                Some(b) => b
                    .chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
                None => {
                    count(t.int32_data.len())?;
                    t.int32_data.iter().map(|v| i64::from(*v)).collect()
                }
            };
            (None, Some(v))
        }
        other => {
            return Err(tensor_err(
                t,
                format!("data type {other} is not supported (FLOAT, DOUBLE, INT32, INT64 are)"),
            ))
        }
    };
    Ok(Const { dims, floats, ints })
}

/// One node being imported, for attribute access and error messages.
struct NodeCtx<'a> {
    node: &'a NodeProto,
    name: String,
}

impl<'a> NodeCtx<'a> {
    fn err(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::InvalidNode {
            node: self.name.clone(),
            op_type: self.node.op_type.clone(),
            reason: reason.into(),
        }
    }
    fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).map_or(default, |a| a.i)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).map_or(default, |a| a.f)
    }
    fn ints(&self, name: &str) -> Option<&'a [i64]> {
        self.attr(name).map(|a| a.ints.as_slice())
    }
    fn string(&self, name: &str) -> Option<String> {
        self.attr(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
    /// Input `i`'s name, empty when omitted.
    fn input(&self, i: usize) -> &'a str {
        self.node.input.get(i).map_or("", String::as_str)
    }
    /// Spatial pair attribute (`strides`, `kernel_shape`) with a default.
    fn pair(&self, name: &str, default: usize) -> Result<(usize, usize), OnnxError> {
        match self.ints(name) {
            None => Ok((default, default)),
            Some([a, b]) if *a > 0 && *b > 0 => Ok((*a as usize, *b as usize)),
            Some(v) => Err(self.err(format!("{name} = {v:?} must be two positive values"))),
        }
    }
    /// `pads` attribute `[top, left, bottom, right]` (ONNX: begins then ends).
    fn pads(&self) -> Result<Padding, OnnxError> {
        match self.ints("pads") {
            None => Ok(Padding::default()),
            Some([t, l, b, r]) if [t, l, b, r].iter().all(|v| **v >= 0) => Ok(Padding {
                top: *t as usize,
                left: *l as usize,
                bottom: *b as usize,
                right: *r as usize,
            }),
            Some(v) => Err(self.err(format!("pads = {v:?} must be four non-negative values"))),
        }
    }
    fn check_auto_pad(&self) -> Result<(), OnnxError> {
        match self.string("auto_pad").as_deref() {
            None | Some("NOTSET") | Some("VALID") | Some("") => Ok(()),
            Some(other) => Err(self.err(format!(
                "auto_pad = {other} is not supported; export with explicit pads"
            ))),
        }
    }
}

fn add_padding(a: Padding, b: Padding) -> Padding {
    Padding {
        top: a.top + b.top,
        left: a.left + b.left,
        bottom: a.bottom + b.bottom,
        right: a.right + b.right,
    }
}

/// The importer's state while walking the chain.
struct Importer {
    consts: HashMap<String, Const>,
    layers: Vec<Layer>,
    shape: Vec<usize>,
    current: String,
    pending_pad: Option<(Padding, String)>,
}

impl Importer {
    fn constant(&self, cx: &NodeCtx, name: &str) -> Result<&Const, OnnxError> {
        self.consts.get(name).ok_or_else(|| {
            cx.err(format!(
                "input {name:?} must be a constant (initializer or Constant node); the graph is not a chain henn can express"
            ))
        })
    }

    fn floats(&self, cx: &NodeCtx, name: &str) -> Result<(Vec<usize>, Vec<f32>), OnnxError> {
        let c = self.constant(cx, name)?;
        match &c.floats {
            Some(v) => Ok((c.dims.clone(), v.clone())),
            None => Err(cx.err(format!("constant {name:?} must hold floats"))),
        }
    }

    fn ints(&self, cx: &NodeCtx, name: &str) -> Result<Vec<i64>, OnnxError> {
        let c = self.constant(cx, name)?;
        c.ints
            .clone()
            .ok_or_else(|| cx.err(format!("constant {name:?} must hold integers")))
    }

    fn push(&mut self, cx: &NodeCtx, layer: Layer) -> Result<(), OnnxError> {
        let index = self.layers.len();
        self.shape = layer.output_shape(index, &self.shape).map_err(|e| {
            cx.err(format!(
                "does not fit its input of shape {:?}: {e}",
                self.shape
            ))
        })?;
        self.layers.push(layer);
        Ok(())
    }

    fn dense(
        &mut self,
        cx: &NodeCtx,
        weight: Vec<f32>,
        out: usize,
        inp: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<(), OnnxError> {
        if self.shape.len() != 1 {
            return Err(cx.err(format!(
                "needs a flat input, got shape {:?} (add a Flatten)",
                self.shape
            )));
        }
        let layer = Layer::Dense {
            weight: Tensor::new(vec![out, inp], weight)?,
            bias: bias.map(|b| Tensor::new(vec![out], b)).transpose()?,
        };
        self.push(cx, layer)
    }

    fn node(&mut self, cx: &NodeCtx) -> Result<(), OnnxError> {
        let op = cx.node.op_type.as_str();
        // Every data input must be the chain's current value or a constant.
        for name in &cx.node.input {
            if !name.is_empty() && *name != self.current && !self.consts.contains_key(name) {
                return Err(OnnxError::Graph(format!(
                    "node {:?} ({op}) reads {name:?}, which is neither the previous node's output {:?} nor a constant: the graph is not a chain",
                    cx.name, self.current
                )));
            }
        }
        if op != "Constant" && cx.input(0) != self.current {
            return Err(OnnxError::Graph(format!(
                "node {:?} ({op}) does not read the previous node's output {:?} as its first input",
                cx.name, self.current
            )));
        }
        if self.pending_pad.is_some() && !matches!(op, "Conv" | "AveragePool" | "Pad" | "Identity")
        {
            let pad_node = self
                .pending_pad
                .as_ref()
                .map_or(String::new(), |p| p.1.clone());
            return Err(cx.err(format!(
                "follows Pad node {pad_node:?}; a Pad must be followed by Conv or AveragePool"
            )));
        }
        match op {
            "Identity" | "Dropout" => {}
            "Conv" => {
                if cx.int("group", 1) != 1 {
                    return Err(
                        cx.err("group != 1 (grouped/depthwise convolution) is not supported")
                    );
                }
                if cx
                    .ints("dilations")
                    .is_some_and(|d| d.iter().any(|v| *v != 1))
                {
                    return Err(cx.err("dilations other than 1 are not supported"));
                }
                cx.check_auto_pad()?;
                let (dims, w) = self.floats(cx, cx.input(1))?;
                let [oc, ic, kh, kw] = dims[..] else {
                    return Err(cx.err(format!("weight has shape {dims:?}, expected 4-D")));
                };
                if let Some(k) = cx.ints("kernel_shape") {
                    if k.len() != 2 || k[0] as usize != kh || k[1] as usize != kw {
                        return Err(cx.err(format!(
                            "kernel_shape {k:?} disagrees with the weight shape {dims:?}"
                        )));
                    }
                }
                let bias = match cx.input(2) {
                    "" => None,
                    b => {
                        let (bd, bv) = self.floats(cx, b)?;
                        if bv.len() != oc {
                            return Err(cx.err(format!("bias has shape {bd:?}, expected [{oc}]")));
                        }
                        Some(Tensor::new(vec![oc], bv)?)
                    }
                };
                let mut padding = cx.pads()?;
                if let Some((p, _)) = self.pending_pad.take() {
                    padding = add_padding(padding, p);
                }
                let layer = Layer::Conv2d {
                    weight: Tensor::new(vec![oc, ic, kh, kw], w)?,
                    bias,
                    stride: cx.pair("strides", 1)?,
                    padding,
                };
                self.push(cx, layer)?;
            }
            "Gemm" => {
                if cx.int("transA", 0) != 0 {
                    return Err(cx.err("transA = 1 on the activation is not supported (the activation must be A, a row)"));
                }
                let alpha = cx.float("alpha", 1.0);
                let beta = cx.float("beta", 1.0);
                let (dims, b) = self.floats(cx, cx.input(1))?;
                let [r, c] = dims[..] else {
                    return Err(cx.err(format!("B has shape {dims:?}, expected 2-D")));
                };
                // W must be [out, in].
                let (out, inp, w): (usize, usize, Vec<f32>) = if cx.int("transB", 0) != 0 {
                    (r, c, b.iter().map(|v| v * alpha).collect())
                } else {
                    (
                        c,
                        r,
                        transpose(&b, r, c).iter().map(|v| v * alpha).collect(),
                    )
                };
                let bias = match cx.input(2) {
                    "" => None,
                    name => {
                        let (cd, cv) = self.floats(cx, name)?;
                        Some(
                            broadcast_bias(cx, &cd, &cv, out)?
                                .iter()
                                .map(|v| v * beta)
                                .collect(),
                        )
                    }
                };
                self.dense(cx, w, out, inp, bias)?;
            }
            "MatMul" => {
                let (dims, b) = self.floats(cx, cx.input(1))?;
                let [k, n] = dims[..] else {
                    return Err(cx.err(format!("right operand has shape {dims:?}, expected 2-D")));
                };
                self.dense(cx, transpose(&b, k, n), n, k, None)?;
            }
            "Add" => {
                let other = if cx.input(1) == self.current {
                    cx.input(0)
                } else {
                    cx.input(1)
                };
                if cx.input(0) == cx.input(1) {
                    return Err(cx.err("x + x is not supported"));
                }
                let (cd, cv) = self.floats(cx, other)?;
                match self.layers.last_mut() {
                    Some(Layer::Dense { weight, bias }) => {
                        let out = weight.shape[0];
                        let add = broadcast_bias(cx, &cd, &cv, out)?;
                        let mut b = bias.take().map_or(vec![0.0; out], |b| b.data);
                        b.iter_mut().zip(&add).for_each(|(x, y)| *x += y);
                        *bias = Some(Tensor::new(vec![out], b)?);
                    }
                    Some(Layer::Conv2d { weight, bias, .. }) => {
                        let oc = weight.shape[0];
                        let per_channel = matches!(cd[..], [c, 1, 1] | [1, c, 1, 1] if c == oc);
                        let add = if cv.len() == 1 {
                            vec![cv[0]; oc]
                        } else if per_channel {
                            cv
                        } else {
                            return Err(cx.err(format!("constant of shape {cd:?} is not a per-channel bias of {oc} channels")));
                        };
                        let mut b = bias.take().map_or(vec![0.0; oc], |b| b.data);
                        b.iter_mut().zip(&add).for_each(|(x, y)| *x += y);
                        *bias = Some(Tensor::new(vec![oc], b)?);
                    }
                    _ => return Err(cx.err("adding a constant is only supported right after MatMul, Gemm or Conv (as their bias)")),
                }
            }
            "Mul" => {
                if cx.input(0) != cx.input(1) {
                    return Err(cx.err("only Mul(x, x) (square) is supported"));
                }
                self.push(cx, Layer::Square)?;
            }
            "Pow" => {
                let (_, e) = self.floats(cx, cx.input(1))?;
                if e != [2.0] {
                    return Err(cx.err(format!("only Pow(x, 2) is supported, exponent is {e:?}")));
                }
                self.push(cx, Layer::Square)?;
            }
            "Relu" => self.push(cx, Layer::Relu)?,
            "AveragePool" => {
                cx.check_auto_pad()?;
                if cx.int("ceil_mode", 0) != 0 {
                    return Err(cx.err("ceil_mode = 1 is not supported"));
                }
                if cx
                    .ints("dilations")
                    .is_some_and(|d| d.iter().any(|v| *v != 1))
                {
                    return Err(cx.err("dilations other than 1 are not supported"));
                }
                let own = cx.pads()?;
                if !own.is_zero() && cx.int("count_include_pad", 0) == 0 {
                    return Err(cx.err("padding with count_include_pad = 0 is not a linear map of one weight; henn's AvgPool counts padded zeros"));
                }
                let Some(kernel) = cx
                    .ints("kernel_shape")
                    .map(|_| cx.pair("kernel_shape", 1))
                    .transpose()?
                else {
                    return Err(cx.err("kernel_shape is required"));
                };
                let mut padding = own;
                if let Some((p, _)) = self.pending_pad.take() {
                    padding = add_padding(padding, p);
                }
                self.push(
                    cx,
                    Layer::AvgPool {
                        kernel,
                        stride: cx.pair("strides", 1)?,
                        padding,
                    },
                )?;
            }
            "Flatten" => {
                if cx.int("axis", 1) != 1 {
                    return Err(cx.err("only axis = 1 is supported"));
                }
                self.push(cx, Layer::Flatten)?;
            }
            "Reshape" => {
                let target = self.ints(cx, cx.input(1))?;
                let total = self.shape.iter().product::<usize>() as i64;
                let flat = match target[..] {
                    [a] => a == -1 || a == total,
                    [b, a] => {
                        (-1..=1).contains(&b) && (a == -1 || a == total) && !(b == -1 && a == -1)
                    }
                    _ => false,
                };
                if !flat {
                    return Err(cx.err(format!(
                        "Reshape to {target:?} is not a flatten of {:?}",
                        self.shape
                    )));
                }
                self.push(cx, Layer::Flatten)?;
            }
            "BatchNormalization" => {
                if cx.int("training_mode", 0) != 0 {
                    return Err(cx.err("training_mode = 1 is not supported"));
                }
                if cx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err(cx.err("only the first output (inference mode) may be used"));
                }
                let get = |i: usize| -> Result<Tensor, OnnxError> {
                    let (_, v) = self.floats(cx, cx.input(i))?;
                    Ok(Tensor::new(vec![v.len()], v)?)
                };
                let layer = Layer::BatchNorm {
                    gamma: get(1)?,
                    beta: get(2)?,
                    mean: get(3)?,
                    var: get(4)?,
                    eps: cx.float("epsilon", 1e-5),
                };
                self.push(cx, layer)?;
            }
            "Pad" => {
                let mode = cx.string("mode").unwrap_or_else(|| "constant".into());
                if mode != "constant" {
                    return Err(cx.err(format!(
                        "mode {mode:?} is not supported (only constant zero padding)"
                    )));
                }
                let pads = match cx.ints("pads") {
                    Some(p) => p.to_vec(),
                    None => self.ints(cx, cx.input(1))?,
                };
                let value = match cx.input(2) {
                    "" => cx.float("value", 0.0),
                    name => {
                        let (_, v) = self.floats(cx, name)?;
                        if v.len() != 1 {
                            return Err(cx.err("constant_value must be a scalar"));
                        }
                        v[0]
                    }
                };
                if value != 0.0 {
                    return Err(cx.err(format!("padding value {value} is not zero")));
                }
                if !cx.input(3).is_empty() {
                    return Err(cx.err("the axes input is not supported"));
                }
                let [nb, cb, t, l, ne, ce, b, r] = pads[..] else {
                    return Err(cx.err(format!("pads {pads:?} must have 8 entries (NCHW)")));
                };
                if [nb, cb, ne, ce] != [0; 4] || [t, l, b, r].iter().any(|v| *v < 0) {
                    return Err(cx.err(format!(
                        "pads {pads:?}: only non-negative spatial padding is supported"
                    )));
                }
                let p = Padding {
                    top: t as usize,
                    left: l as usize,
                    bottom: b as usize,
                    right: r as usize,
                };
                let total = self
                    .pending_pad
                    .take()
                    .map_or(p, |(q, _)| add_padding(q, p));
                self.pending_pad = Some((total, cx.name.clone()));
            }
            _ => {
                return Err(OnnxError::UnsupportedOp {
                    op_type: op.to_string(),
                    node: cx.name.clone(),
                })
            }
        }
        match cx.node.output.first() {
            Some(o) if !o.is_empty() => self.current = o.clone(),
            _ => return Err(cx.err("has no output")),
        }
        Ok(())
    }
}

fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// A bias of `n` values from a constant of `n` values (any of `[n]`, `[1, n]`) or one value.
fn broadcast_bias(
    cx: &NodeCtx,
    dims: &[usize],
    v: &[f32],
    n: usize,
) -> Result<Vec<f32>, OnnxError> {
    if v.len() == 1 {
        Ok(vec![v[0]; n])
    } else if v.len() == n && dims.iter().filter(|d| **d != 1).count() <= 1 {
        Ok(v.to_vec())
    } else {
        Err(cx.err(format!(
            "bias of shape {dims:?} does not broadcast to [{n}]"
        )))
    }
}

/// Imports an ONNX model from its bytes; `name` becomes the model's name.
pub fn import_bytes(bytes: &[u8], name: &str) -> Result<Model, OnnxError> {
    let model = ModelProto::decode(bytes)?;
    let graph = model
        .graph
        .ok_or_else(|| OnnxError::Graph("the file holds no graph".into()))?;
    for op in &model.opset_import {
        if !(op.domain.is_empty() || op.domain == "ai.onnx")
            && graph.node.iter().any(|n| n.domain == op.domain)
        {
            return Err(OnnxError::Graph(format!(
                "operator domain {:?} is not supported",
                op.domain
            )));
        }
    }
    let mut consts = HashMap::new();
    for t in &graph.initializer {
        if t.name.is_empty() {
            return Err(OnnxError::Graph("an initializer has no name".into()));
        }
        consts.insert(t.name.clone(), decode_tensor(t)?);
    }
    // The one real input.
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|i| !consts.contains_key(&i.name))
        .collect();
    let [input] = inputs[..] else {
        return Err(OnnxError::Graph(format!(
            "expected exactly one non-constant input, found {}",
            inputs.len()
        )));
    };
    let tt = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| OnnxError::Graph(format!("input {:?} is not a tensor", input.name)))?;
    if tt.elem_type != FLOAT {
        return Err(OnnxError::Graph(format!(
            "input {:?} has element type {}, expected FLOAT",
            input.name, tt.elem_type
        )));
    }
    let dims = tt.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
    let Some((batch, rest)) = dims.split_first() else {
        return Err(OnnxError::Graph(format!(
            "input {:?} has no shape",
            input.name
        )));
    };
    if !(batch.dim_value.is_none() || batch.dim_value == Some(1)) {
        return Err(OnnxError::Graph(format!(
            "input batch dimension {:?} must be 1 or symbolic",
            batch.dim_value
        )));
    }
    let mut input_shape = Vec::with_capacity(rest.len());
    for d in rest {
        match d.dim_value {
            Some(v) if v > 0 => input_shape.push(v as usize),
            _ => {
                return Err(OnnxError::Graph(format!(
                    "input {:?}: every dimension after the batch must be a positive number",
                    input.name
                )))
            }
        }
    }
    if !matches!(input_shape.len(), 1 | 3) {
        return Err(OnnxError::Graph(format!(
            "input shape {input_shape:?} must be [features] or [channels, height, width]"
        )));
    }
    let mut imp = Importer {
        consts,
        layers: Vec::new(),
        shape: input_shape.clone(),
        current: input.name.clone(),
        pending_pad: None,
    };
    for (i, node) in graph.node.iter().enumerate() {
        let cx = NodeCtx {
            node,
            name: if node.name.is_empty() {
                format!("#{i}")
            } else {
                node.name.clone()
            },
        };
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(OnnxError::UnsupportedOp {
                op_type: format!("{}:{}", node.domain, node.op_type),
                node: cx.name,
            });
        }
        if node.op_type == "Constant" {
            let t = cx
                .attr("value")
                .and_then(|a| a.t.as_ref())
                .ok_or_else(|| cx.err("only tensor-valued Constant nodes are supported"))?;
            let out = node
                .output
                .first()
                .filter(|o| !o.is_empty())
                .ok_or_else(|| cx.err("has no output"))?;
            let c = decode_tensor(t)?;
            imp.consts.insert(out.clone(), c);
            continue;
        }
        imp.node(&cx)?;
    }
    if let Some((_, node)) = &imp.pending_pad {
        return Err(OnnxError::Graph(format!(
            "Pad node {node:?} is not followed by Conv or AveragePool"
        )));
    }
    match &graph.output[..] {
        [out] if out.name == imp.current => {}
        [out] => {
            return Err(OnnxError::Graph(format!(
                "graph output {:?} is not the end of the chain {:?}",
                out.name, imp.current
            )))
        }
        outs => {
            return Err(OnnxError::Graph(format!(
                "expected exactly one graph output, found {}",
                outs.len()
            )))
        }
    }
    if imp.layers.is_empty() {
        return Err(OnnxError::Graph("the graph has no layer".into()));
    }
    let model = Model::new(name, input_shape, imp.layers);
    model.validate()?;
    Ok(model)
}

/// Imports an ONNX file (size-limited to [`MAX_ONNX_BYTES`]); the model is named after the file
/// stem.
pub fn import_file(path: &Path) -> Result<Model, OnnxError> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_ONNX_BYTES {
        return Err(OnnxError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_ONNX_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| "onnx".into(), |s| s.to_string_lossy().into_owned());
    import_bytes(&bytes, &name)
}
