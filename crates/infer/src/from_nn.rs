//! From a `henn_nn` model to the [`IntNetwork`] the planner compiles (LoLa section 4.3: fold
//! batch norms, collapse adjacent linear layers, quantize to integers).
//!
//! The mapping is one to one (see [`crate::network`]): `Conv2d` → [`IntLayer::Conv2d`] with
//! the same `[out, in, kh, kw]` weights, stride and padding (input shape from the quantized
//! model's shape propagation), `Dense` → [`IntLayer::Dense`], `Square` → [`IntLayer::Square`],
//! `Flatten` disappears (everything is flattened CHW). ReLU and pooling have no place in an
//! HE-only network and are rejected with an error naming the layer.

use henn_nn::model::{Layer, Model};
use henn_nn::quant::{QuantConfig, QuantizedLayer, QuantizedModel};

use crate::conv::{Conv2dGeometry, Padding};
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;
use crate::network::{IntLayer, IntNetwork};

/// Folds batch norms, collapses linear layers and quantizes `model` with `config`; returns the
/// quantized model (the exact plaintext reference) and its [`IntNetwork`].
pub fn quantize_model(
    model: &Model,
    config: &QuantConfig,
) -> InferResult<(QuantizedModel, IntNetwork<i128>)> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        InferError::InvalidModel(format!("{what} of model {}: {e}", model.name))
    };
    let folded = model
        .fold_batch_norm()
        .map_err(|e| err("folding batch norms", &e))?;
    let collapsed = folded
        .collapse_linear()
        .map_err(|e| err("collapsing linear layers", &e))?;
    let q = QuantizedModel::new(&collapsed, config).map_err(|e| err("quantizing", &e))?;
    let net = int_network(&q)?;
    Ok((q, net))
}

fn chw(shape: &[usize], index: usize) -> InferResult<(usize, usize, usize)> {
    match shape {
        [c, h, w] => Ok((*c, *h, *w)),
        [h, w] => Ok((1, *h, *w)),
        _ => Err(InferError::InvalidModel(format!(
            "layer {index}: convolution input shape {shape:?} is not CHW"
        ))),
    }
}

/// Converts a quantized model into an [`IntNetwork`] (see the module docs).
pub fn int_network(q: &QuantizedModel) -> InferResult<IntNetwork<i128>> {
    let mut layers = Vec::new();
    for (index, layer) in q.layers.iter().enumerate() {
        let in_shape: &[usize] = if index == 0 {
            &q.input_shape
        } else {
            q.shapes.get(index - 1).ok_or_else(|| {
                InferError::InvalidModel(format!("no shape for layer {}", index - 1))
            })?
        };
        match layer {
            QuantizedLayer::Conv2d {
                shape,
                weight,
                bias,
                stride,
                padding,
            } => {
                let (c, h, w) = chw(in_shape, index)?;
                if c != shape[1] {
                    return Err(InferError::InvalidModel(format!(
                        "layer {index}: {} input channels, weights expect {}",
                        c, shape[1]
                    )));
                }
                layers.push(IntLayer::Conv2d {
                    geometry: Conv2dGeometry {
                        in_channels: c,
                        in_h: h,
                        in_w: w,
                        out_channels: shape[0],
                        kernel_h: shape[2],
                        kernel_w: shape[3],
                        stride: *stride,
                        padding: Padding {
                            top: padding.top,
                            left: padding.left,
                            bottom: padding.bottom,
                            right: padding.right,
                        },
                    },
                    weights: weight.iter().map(|&v| i128::from(v)).collect(),
                    bias: Some(bias.clone()),
                });
            }
            QuantizedLayer::Dense {
                shape,
                weight,
                bias,
            } => layers.push(IntLayer::Dense {
                weights: Matrix::new(
                    shape[0],
                    shape[1],
                    weight.iter().map(|&v| i128::from(v)).collect(),
                )?,
                bias: Some(bias.clone()),
            }),
            QuantizedLayer::Square => layers.push(IntLayer::Square),
            QuantizedLayer::Flatten => {}
            other => {
                return Err(InferError::NotSupportedByHeOnly {
                    index,
                    kind: other.kind(),
                })
            }
        }
    }
    let net = IntNetwork {
        name: q.name.clone(),
        input_len: q.input_len(),
        layers,
    };
    net.validate()?;
    Ok(net)
}

/// Folds batch norms and collapses linear layers of `model` and converts it with its **float**
/// weights (no quantization) into a real [`IntNetwork`] for CKKS (LoLa section 5 names
/// HEAAN/CKKS as the scheme that tolerates message growth). The mapping is the one of
/// [`int_network`]; weights are widened from `f32` to `f64`.
pub fn real_network(model: &Model) -> InferResult<IntNetwork<f64>> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        InferError::InvalidModel(format!("{what} of model {}: {e}", model.name))
    };
    let folded = model
        .fold_batch_norm()
        .map_err(|e| err("folding batch norms", &e))?;
    let collapsed = folded
        .collapse_linear()
        .map_err(|e| err("collapsing linear layers", &e))?;
    let shapes = collapsed
        .output_shapes()
        .map_err(|e| err("shape propagation", &e))?;
    let widen =
        |t: &henn_nn::model::Tensor| -> Vec<f64> { t.data.iter().map(|&v| f64::from(v)).collect() };
    let mut layers = Vec::new();
    for (index, layer) in collapsed.layers.iter().enumerate() {
        let in_shape: &[usize] = if index == 0 {
            &collapsed.input_shape
        } else {
            shapes.get(index - 1).ok_or_else(|| {
                InferError::InvalidModel(format!("no shape for layer {}", index - 1))
            })?
        };
        match layer {
            Layer::Conv2d {
                weight,
                bias,
                stride,
                padding,
            } => {
                let (c, h, w) = chw(in_shape, index)?;
                let [out, cin, kh, kw] = weight.shape[..] else {
                    return Err(InferError::InvalidModel(format!(
                        "layer {index}: convolution weights of shape {:?}",
                        weight.shape
                    )));
                };
                if c != cin {
                    return Err(InferError::InvalidModel(format!(
                        "layer {index}: {c} input channels, weights expect {cin}"
                    )));
                }
                layers.push(IntLayer::Conv2d {
                    geometry: Conv2dGeometry {
                        in_channels: c,
                        in_h: h,
                        in_w: w,
                        out_channels: out,
                        kernel_h: kh,
                        kernel_w: kw,
                        stride: *stride,
                        padding: Padding {
                            top: padding.top,
                            left: padding.left,
                            bottom: padding.bottom,
                            right: padding.right,
                        },
                    },
                    weights: widen(weight),
                    bias: bias.as_ref().map(widen),
                });
            }
            Layer::Dense { weight, bias } => {
                let [rows, cols] = weight.shape[..] else {
                    return Err(InferError::InvalidModel(format!(
                        "layer {index}: dense weights of shape {:?}",
                        weight.shape
                    )));
                };
                layers.push(IntLayer::Dense {
                    weights: Matrix::new(rows, cols, widen(weight))?,
                    bias: bias.as_ref().map(widen),
                });
            }
            Layer::Square => layers.push(IntLayer::Square),
            Layer::Flatten => {}
            other => {
                return Err(InferError::NotSupportedByHeOnly {
                    index,
                    kind: other.kind(),
                })
            }
        }
    }
    let net = IntNetwork {
        name: collapsed.name.clone(),
        input_len: collapsed.input_len(),
        layers,
    };
    net.validate()?;
    Ok(net)
}
