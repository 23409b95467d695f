//! Integer (or real) network descriptions the planner compiles: the shape of LoLa's networks
//! after adjacent linear layers are collapsed and weights quantized (section 4.3: "conv 5×5
//! stride 2, 5 maps → square → dense 100 → square → dense 10").
//!
//! This is deliberately small and independent of `henn_nn`: the quantizer's output (a
//! `henn_nn::model::Model` whose Conv2d / Dense / Square layers carry integer-valued weights)
//! maps one to one onto [`IntLayer`] — Conv2d → [`IntLayer::Conv2d`] with the same
//! `[out, in, kh, kw]` weight order and padding, Dense → [`IntLayer::Dense`] with `[out, in]`
//! weights, Square → [`IntLayer::Square`]; Flatten is implicit (everything is flattened CHW).

use crate::backend::SlotValue;
use crate::conv::Conv2dGeometry;
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;

/// One layer of an integer (`V = i64`, BFV) or real (`V = f64`, CKKS) network.
#[derive(Clone, Debug, PartialEq)]
pub enum IntLayer<V> {
    /// 2-D convolution on the flattened CHW input.
    Conv2d {
        /// Shapes, stride and padding.
        geometry: Conv2dGeometry,
        /// Weights `[out, in, kh, kw]`, row-major.
        weights: Vec<V>,
        /// Per-map bias, broadcast over positions.
        bias: Option<Vec<V>>,
    },
    /// Fully connected `W x + b`.
    Dense {
        /// Weights `[out, in]`.
        weights: Matrix<V>,
        /// Bias `[out]`.
        bias: Option<Vec<V>>,
    },
    /// Element-wise square.
    Square,
}

impl<V: SlotValue> IntLayer<V> {
    /// Output length of the layer for an input of `input_len`.
    pub fn output_len(&self, input_len: usize) -> usize {
        match self {
            IntLayer::Conv2d { geometry, .. } => geometry.output_len(),
            IntLayer::Dense { weights, .. } => weights.rows(),
            IntLayer::Square => input_len,
        }
    }

    /// The bias expanded to one value per output element (conv: repeated over positions).
    pub fn expanded_bias(&self) -> Option<Vec<V>> {
        match self {
            IntLayer::Conv2d { geometry, bias, .. } => bias.as_ref().map(|b| {
                b.iter()
                    .flat_map(|&x| std::iter::repeat_n(x, geometry.positions()))
                    .collect()
            }),
            IntLayer::Dense { bias, .. } => bias.clone(),
            IntLayer::Square => None,
        }
    }

    /// The layer as a matrix (a convolution unrolled), for kernels that need one.
    pub fn matrix(&self) -> InferResult<Option<Matrix<V>>> {
        match self {
            IntLayer::Conv2d {
                geometry, weights, ..
            } => Ok(Some(geometry.to_matrix(weights)?)),
            IntLayer::Dense { weights, .. } => Ok(Some(weights.clone())),
            IntLayer::Square => Ok(None),
        }
    }
}

/// A feed-forward network of [`IntLayer`]s on a flattened input.
#[derive(Clone, Debug, PartialEq)]
pub struct IntNetwork<V> {
    /// Short name, e.g. `lola-mnist`.
    pub name: String,
    /// Length of the flattened input.
    pub input_len: usize,
    /// Layers in evaluation order.
    pub layers: Vec<IntLayer<V>>,
}

impl<V: SlotValue> IntNetwork<V> {
    /// Checks that every layer's input length matches the previous output and that weights
    /// and biases have the right sizes.
    pub fn validate(&self) -> InferResult<()> {
        let mut len = self.input_len;
        if len == 0 {
            return Err(InferError::InvalidModel("empty input".into()));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let bad = |what: String| Err(InferError::InvalidModel(format!("layer {i}: {what}")));
            match layer {
                IntLayer::Conv2d {
                    geometry,
                    weights,
                    bias,
                } => {
                    geometry.validate()?;
                    if geometry.input_len() != len {
                        return bad(format!(
                            "convolution input {} vs {len}",
                            geometry.input_len()
                        ));
                    }
                    geometry.check_weights(weights)?;
                    if bias
                        .as_ref()
                        .is_some_and(|b| b.len() != geometry.out_channels)
                    {
                        return bad("bias length differs from the number of maps".into());
                    }
                }
                IntLayer::Dense { weights, bias } => {
                    if weights.cols() != len || weights.rows() == 0 {
                        return bad(format!(
                            "{}x{} weights for an input of {len}",
                            weights.rows(),
                            weights.cols()
                        ));
                    }
                    if bias.as_ref().is_some_and(|b| b.len() != weights.rows()) {
                        return bad("bias length differs from the number of outputs".into());
                    }
                }
                IntLayer::Square => {}
            }
            len = layer.output_len(len);
        }
        Ok(())
    }

    /// Plain forward pass with checked arithmetic: the reference encrypted inference must equal
    /// (exactly for `i64`).
    pub fn forward(&self, input: &[V]) -> InferResult<Vec<V>> {
        self.validate()?;
        if input.len() != self.input_len {
            return Err(InferError::ShapeMismatch(format!(
                "input of {}, network expects {}",
                input.len(),
                self.input_len
            )));
        }
        let mut x = input.to_vec();
        for layer in &self.layers {
            x = match layer {
                IntLayer::Conv2d {
                    geometry, weights, ..
                } => geometry.apply(weights, &x)?,
                IntLayer::Dense { weights, .. } => weights.mul_vec(&x)?,
                IntLayer::Square => x
                    .iter()
                    .map(|&v| v.checked_mul(v))
                    .collect::<Option<Vec<V>>>()
                    .ok_or_else(|| InferError::ShapeMismatch("overflow in square".into()))?,
            };
            if let Some(bias) = layer.expanded_bias() {
                x = x
                    .iter()
                    .zip(&bias)
                    .map(|(&a, &c)| a.checked_add(c))
                    .collect::<Option<Vec<V>>>()
                    .ok_or_else(|| InferError::ShapeMismatch("overflow in bias".into()))?;
            }
        }
        Ok(x)
    }
}
