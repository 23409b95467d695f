//! A trainable network in candle: the layers of an [`Arch`] with their parameters as candle
//! [`Var`]s, a forward pass, and initialisation from a seeded generator (candle's CPU generator
//! cannot be seeded, so henn draws the initial weights itself to make training reproducible).

use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::arch::LayerSpec;
use super::TrainError;
use crate::model::Padding;

/// One layer of a [`Net`].
#[derive(Debug)]
pub(crate) enum NetLayer {
    /// Convolution: input padded with zeros, then a stride-`stride` valid convolution.
    Conv {
        weight: Var,
        bias: Var,
        stride: usize,
        padding: Padding,
    },
    /// `x W^T + b`.
    Dense {
        weight: Var,
        bias: Var,
    },
    Square,
    Relu,
    Flatten,
}

/// A network under training.
#[derive(Debug)]
pub struct Net {
    pub(crate) layers: Vec<NetLayer>,
    pub(crate) input_shape: [usize; 3],
}

/// Uniform values in `[-bound, bound]`.
fn uniform(rng: &mut ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..=bound)).collect()
}

impl Net {
    /// Builds the layers of `spec` for inputs of `input_shape`, drawing weights and biases
    /// uniformly in `±1/sqrt(fan_in)` (PyTorch's default for linear and convolution layers).
    pub fn new(
        spec: &[LayerSpec],
        input_shape: [usize; 3],
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Net, TrainError> {
        let mut shape = input_shape.to_vec();
        let mut layers = Vec::with_capacity(spec.len());
        for layer in spec {
            let net_layer = match *layer {
                LayerSpec::Conv {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    let [c, h, w] = match shape[..] {
                        [c, h, w] => [c, h, w],
                        _ => return Err(TrainError::Shape(format!("conv on shape {shape:?}"))),
                    };
                    let (ph, pw) = (
                        h + padding.top + padding.bottom,
                        w + padding.left + padding.right,
                    );
                    if ph < kernel || pw < kernel || stride == 0 {
                        return Err(TrainError::Shape(format!(
                            "{kernel}x{kernel} conv on padded {ph}x{pw}"
                        )));
                    }
                    let fan_in = c * kernel * kernel;
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    let weight = Var::from_vec(
                        uniform(rng, out_channels * fan_in, bound),
                        (out_channels, c, kernel, kernel),
                        device,
                    )?;
                    let bias =
                        Var::from_vec(uniform(rng, out_channels, bound), out_channels, device)?;
                    shape = vec![
                        out_channels,
                        (ph - kernel) / stride + 1,
                        (pw - kernel) / stride + 1,
                    ];
                    NetLayer::Conv {
                        weight,
                        bias,
                        stride,
                        padding,
                    }
                }
                LayerSpec::Dense { out_features } => {
                    let [fan_in] = shape[..] else {
                        return Err(TrainError::Shape(format!("dense on shape {shape:?}")));
                    };
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    let weight = Var::from_vec(
                        uniform(rng, out_features * fan_in, bound),
                        (out_features, fan_in),
                        device,
                    )?;
                    let bias =
                        Var::from_vec(uniform(rng, out_features, bound), out_features, device)?;
                    shape = vec![out_features];
                    NetLayer::Dense { weight, bias }
                }
                LayerSpec::Square => NetLayer::Square,
                LayerSpec::Relu => NetLayer::Relu,
                LayerSpec::Flatten => {
                    shape = vec![shape.iter().product()];
                    NetLayer::Flatten
                }
            };
            layers.push(net_layer);
        }
        Ok(Net {
            layers,
            input_shape,
        })
    }

    /// All trainable parameters, in layer order (weight then bias).
    pub fn vars(&self) -> Vec<Var> {
        self.layers
            .iter()
            .flat_map(|l| match l {
                NetLayer::Conv { weight, bias, .. } | NetLayer::Dense { weight, bias } => {
                    vec![weight.clone(), bias.clone()]
                }
                _ => Vec::new(),
            })
            .collect()
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Logits `[batch, classes]` for a batch `[batch, channels, height, width]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, TrainError> {
        let mut x = x.to_dtype(DType::F32)?;
        for layer in &self.layers {
            x = match layer {
                NetLayer::Conv {
                    weight,
                    bias,
                    stride,
                    padding,
                } => {
                    let padded = x
                        .pad_with_zeros(2, padding.top, padding.bottom)?
                        .pad_with_zeros(3, padding.left, padding.right)?;
                    let y = padded.conv2d(weight.as_tensor(), 0, *stride, 1, 1)?;
                    let b = bias.as_tensor().reshape((1, bias.elem_count(), 1, 1))?;
                    y.broadcast_add(&b)?
                }
                NetLayer::Dense { weight, bias } => x
                    .matmul(&weight.as_tensor().t()?)?
                    .broadcast_add(bias.as_tensor())?,
                NetLayer::Square => x.sqr()?,
                NetLayer::Relu => x.relu()?,
                NetLayer::Flatten => x.flatten_from(1)?,
            };
        }
        Ok(x)
    }
}
