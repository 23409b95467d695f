//! Conversion of henn's float models (`henn_nn::model::Model`, the `model.json` +
//! `weights.safetensors` format `henn eval` loads) into a fixed-point [`Network`]
//! (the scheme of the [parent module](super)).
//!
//! Batch norm is folded first (`Model::fold_batch_norm`). Then, with the running scale `f`
//! (starting at [`QuantConfig::input_frac_bits`]):
//!
//! * `conv2d` / `dense`: weights `round(w · 2^f_w)`, bias `round(b · 2^(f + f_w))`, `f += f_w`;
//! * `relu`: truncates `t = f − act_frac_bits` bits (if positive), `f −= t`;
//! * `square`: `f *= 2`;
//! * `avg_pool` with a `k×k` window: window sums, `f += log2(k²)` for a power of two `k²`,
//!   otherwise multiplier `round(2^8/k²)` and `f += 8`; `sum_pool`: window sums, `f` kept;
//! * `flatten`: nothing (activations are flat CHW vectors).
//!
//! Square windows, equal strides and no pooling padding are required; anything else is a
//! [`TwoPcError::Config`] error naming the layer.

use super::{Network, Op};
use crate::error::TwoPcError;
use crate::linear::{Conv2d, Dense, LinearLayer};
use henn_nn::model::{Layer, Model};

/// Bit widths of the fixed-point conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantConfig {
    /// Fractional bits of the input (MNIST pixels in `[0, 1]`: 8 bits keeps all 256 levels).
    pub input_frac_bits: u32,
    /// Fractional bits of every weight.
    pub weight_frac_bits: u32,
    /// Fractional bits every ReLU truncates its output to.
    pub act_frac_bits: u32,
}

impl Default for QuantConfig {
    /// 8-bit input, 12-bit weights, ReLU outputs at 8 fractional bits. For the shipped
    /// `relu-cnn` the worst case over all inputs in `[0, 1]` stays below 2^32, far inside
    /// the 41-bit share field ([`Network::worst_case_bits`]).
    fn default() -> Self {
        Self {
            input_frac_bits: 8,
            weight_frac_bits: 12,
            act_frac_bits: 8,
        }
    }
}

fn quantize_vec(v: &[f32], frac: u32, what: &str) -> Result<Vec<i64>, TwoPcError> {
    let s = (frac as f64).exp2();
    v.iter()
        .map(|&w| {
            let q = (w as f64 * s).round();
            if !q.is_finite() || q.abs() >= (1u64 << 40) as f64 {
                return Err(TwoPcError::Config(format!(
                    "{what} value {w} does not fit at {frac} fractional bits"
                )));
            }
            Ok(q as i64)
        })
        .collect()
}

fn chw(shape: &[usize], i: usize, kind: &str) -> Result<(usize, usize, usize), TwoPcError> {
    match *shape {
        [c, h, w] => Ok((c, h, w)),
        _ => Err(TwoPcError::Config(format!(
            "layer {i} ({kind}) needs a [channels, height, width] input, has {shape:?}"
        ))),
    }
}

/// Converts a float model into a fixed-point network.
pub fn quantize(model: &Model, cfg: &QuantConfig) -> Result<Network, TwoPcError> {
    let cfg_err = |e: henn_nn::model::ModelError| TwoPcError::Config(format!("model: {e}"));
    let model = model.fold_batch_norm().map_err(cfg_err)?;
    let shapes = model.output_shapes().map_err(cfg_err)?;
    let input_shape = chw(&model.input_shape, 0, "input")?;
    let mut f = cfg.input_frac_bits;
    let mut ops = Vec::new();
    let (mut convs, mut denses) = (0, 0);
    for (i, layer) in model.layers.iter().enumerate() {
        let in_shape: &[usize] = if i == 0 {
            &model.input_shape
        } else {
            &shapes[i - 1]
        };
        let kind = layer.kind();
        match layer {
            Layer::Conv2d {
                weight,
                bias,
                stride,
                padding,
            } => {
                let (c, h, w) = chw(in_shape, i, kind)?;
                if stride.0 != stride.1 {
                    return Err(TwoPcError::Config(format!(
                        "layer {i} (conv2d): unequal strides {stride:?}"
                    )));
                }
                let [o, _, kh, kw] = weight.shape[..] else {
                    return Err(TwoPcError::Config(format!(
                        "layer {i} (conv2d): weight shape {:?}",
                        weight.shape
                    )));
                };
                let weights = quantize_vec(&weight.data, cfg.weight_frac_bits, "weight")?;
                let bias = match bias {
                    Some(b) => quantize_vec(&b.data, f + cfg.weight_frac_bits, "bias")?,
                    None => vec![0; o],
                };
                convs += 1;
                ops.push(Op::Linear {
                    name: format!("conv{convs}"),
                    layer: LinearLayer::Conv2d(Conv2d {
                        in_channels: c,
                        out_channels: o,
                        height: h,
                        width: w,
                        kernel_h: kh,
                        kernel_w: kw,
                        stride: stride.0,
                        pad: (padding.top, padding.bottom, padding.left, padding.right),
                        weights,
                        bias,
                    }),
                });
                f += cfg.weight_frac_bits;
            }
            Layer::Dense { weight, bias } => {
                let [o, n] = weight.shape[..] else {
                    return Err(TwoPcError::Config(format!(
                        "layer {i} (dense): weight shape {:?}",
                        weight.shape
                    )));
                };
                let weights = quantize_vec(&weight.data, cfg.weight_frac_bits, "weight")?;
                let bias = match bias {
                    Some(b) => quantize_vec(&b.data, f + cfg.weight_frac_bits, "bias")?,
                    None => vec![0; o],
                };
                denses += 1;
                ops.push(Op::Linear {
                    name: format!("fc{denses}"),
                    layer: LinearLayer::Dense(Dense {
                        inputs: n,
                        outputs: o,
                        weights,
                        bias,
                    }),
                });
                f += cfg.weight_frac_bits;
            }
            Layer::Relu => {
                let t = f.saturating_sub(cfg.act_frac_bits);
                ops.push(Op::Relu { frac_bits: t });
                f -= t;
            }
            Layer::Square => {
                ops.push(Op::Square);
                f *= 2;
            }
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
                let (c, h, w) = chw(in_shape, i, kind)?;
                if kernel.0 != kernel.1 || stride.0 != stride.1 || !padding.is_zero() {
                    return Err(TwoPcError::Config(format!(
                        "layer {i} ({kind}): only square windows, equal strides and no padding"
                    )));
                }
                let k2 = (kernel.0 * kernel.0) as u64;
                let (multiplier, extra) = match layer {
                    Layer::SumPool { .. } => (1, 0),
                    _ if k2.is_power_of_two() => (1, k2.trailing_zeros()),
                    _ => ((256.0 / k2 as f64).round() as i64, 8),
                };
                ops.push(Op::AvgPool {
                    channels: c,
                    height: h,
                    width: w,
                    window: kernel.0,
                    stride: stride.0,
                    multiplier,
                });
                f += extra;
            }
            Layer::Flatten => {}
            Layer::BatchNorm { .. } => {
                return Err(TwoPcError::Config(format!(
                    "layer {i}: batch norm left after folding"
                )))
            }
        }
    }
    let net = Network {
        name: model.name.clone(),
        input_shape,
        input_frac_bits: cfg.input_frac_bits,
        output_frac_bits: f,
        ops,
    };
    net.validate()?;
    Ok(net)
}
