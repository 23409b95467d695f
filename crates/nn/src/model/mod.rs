//! Model description: a sequence of layers over CHW tensors (LoLa section 4.3's networks and
//! anything else built from the supported layers).

/// A dense row-major `f32` tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values, row-major.
    pub data: Vec<f32>,
}

/// Zero padding added around the spatial dimensions. LoLa's MNIST network pads one row on top and
/// one column on the left only (28x28 → 29x29, so a 5x5 stride-2 window gives 13x13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Padding {
    /// Rows added above.
    pub top: usize,
    /// Columns added to the left.
    pub left: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added to the right.
    pub right: usize,
}

/// One layer of a feed-forward network.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// 2-D convolution (cross-correlation, as in PyTorch). `weight` is `[out, in, kh, kw]`,
    /// `bias` is `[out]`.
    Conv2d {
        /// Filter weights `[out_channels, in_channels, kernel_h, kernel_w]`.
        weight: Tensor,
        /// Per-output-channel bias `[out_channels]`.
        bias: Option<Tensor>,
        /// Step between windows `(rows, columns)`.
        stride: (usize, usize),
        /// Zero padding applied before the windows slide.
        padding: Padding,
    },
    /// Fully connected layer `y = W x + b` on the flattened input; `weight` is `[out, in]`.
    Dense {
        /// Weights `[out_features, in_features]`.
        weight: Tensor,
        /// Bias `[out_features]`.
        bias: Option<Tensor>,
    },
    /// Element-wise `x²`, the HE-friendly activation of CryptoNets and LoLa.
    Square,
    /// Element-wise `max(x, 0)`.
    Relu,
    /// Average pooling over `kernel` windows.
    AvgPool {
        /// Window `(rows, columns)`.
        kernel: (usize, usize),
        /// Step `(rows, columns)`.
        stride: (usize, usize),
        /// Zero padding.
        padding: Padding,
    },
    /// Sum pooling (average pooling without the division, as CryptoNets uses).
    SumPool {
        /// Window `(rows, columns)`.
        kernel: (usize, usize),
        /// Step `(rows, columns)`.
        stride: (usize, usize),
        /// Zero padding.
        padding: Padding,
    },
    /// Reshape CHW to a flat vector (a no-op on the row-major data).
    Flatten,
    /// Batch normalisation with running statistics: `gamma (x - mean) / sqrt(var + eps) + beta`
    /// per channel. Folded into the adjacent linear layer before inference.
    BatchNorm {
        /// Scale `[channels]`.
        gamma: Tensor,
        /// Shift `[channels]`.
        beta: Tensor,
        /// Running mean `[channels]`.
        mean: Tensor,
        /// Running variance `[channels]`.
        var: Tensor,
        /// Added to the variance.
        eps: f32,
    },
}

/// A feed-forward network: an input shape and a sequence of layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Short name, e.g. `lola-mnist`.
    pub name: String,
    /// Shape of one input, `[channels, height, width]` or `[features]`.
    pub input_shape: Vec<usize>,
    /// Layers in evaluation order.
    pub layers: Vec<Layer>,
}

mod collapse;
mod error;
mod file;
mod forward;
mod shape;

pub use error::ModelError;
pub use file::{FORMAT_NAME, FORMAT_VERSION, MODEL_JSON, WEIGHTS_FILE};
pub use forward::argmax;
pub(crate) use forward::Window;
pub use shape::MAX_VALUES;

impl Tensor {
    /// A tensor of `shape` holding `data`; errors when the lengths disagree or the element count
    /// overflows `usize`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, ModelError> {
        let n = shape_len(&shape).ok_or_else(|| ModelError::ShapeOverflow(shape.clone()))?;
        if n != data.len() {
            return Err(ModelError::TensorLength {
                shape,
                expected: n,
                got: data.len(),
            });
        }
        Ok(Self { shape, data })
    }

    /// A tensor of `shape` filled with zeros.
    pub fn zeros(shape: Vec<usize>) -> Result<Self, ModelError> {
        let n = shape_len(&shape).ok_or_else(|| ModelError::ShapeOverflow(shape.clone()))?;
        Ok(Self {
            shape,
            data: vec![0.0; n],
        })
    }

    /// Number of elements (`shape.iter().product()`).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Product of the dimensions, `None` on overflow.
pub(crate) fn shape_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Layer {
    /// The layer kind as written in `model.json` (`conv2d`, `dense`, `square`, `relu`,
    /// `avg_pool`, `sum_pool`, `flatten`, `batch_norm`).
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv2d { .. } => "conv2d",
            Layer::Dense { .. } => "dense",
            Layer::Square => "square",
            Layer::Relu => "relu",
            Layer::AvgPool { .. } => "avg_pool",
            Layer::SumPool { .. } => "sum_pool",
            Layer::Flatten => "flatten",
            Layer::BatchNorm { .. } => "batch_norm",
        }
    }

    /// Whether the layer is affine in its input (convolution, dense, pooling, flatten,
    /// batch normalisation): a run of such layers can be collapsed into one (LoLa section 4.3).
    pub fn is_affine(&self) -> bool {
        !matches!(self, Layer::Square | Layer::Relu)
    }

    /// The layer's tensors with their roles (`weight`, `bias`, `gamma`, `beta`, `mean`, `var`).
    pub fn tensors(&self) -> Vec<(&'static str, &Tensor)> {
        match self {
            Layer::Conv2d { weight, bias, .. } | Layer::Dense { weight, bias } => {
                let mut v = vec![("weight", weight)];
                if let Some(b) = bias {
                    v.push(("bias", b));
                }
                v
            }
            Layer::BatchNorm {
                gamma,
                beta,
                mean,
                var,
                ..
            } => vec![
                ("gamma", gamma),
                ("beta", beta),
                ("mean", mean),
                ("var", var),
            ],
            _ => Vec::new(),
        }
    }
}

impl Padding {
    /// The same padding `p` on all four sides.
    pub fn uniform(p: usize) -> Self {
        Self {
            top: p,
            left: p,
            bottom: p,
            right: p,
        }
    }

    /// Whether no padding is added.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

impl Model {
    /// A model named `name` over inputs of `input_shape` with the given layers (not validated;
    /// call [`Model::validate`]).
    pub fn new(name: impl Into<String>, input_shape: Vec<usize>, layers: Vec<Layer>) -> Self {
        Self {
            name: name.into(),
            input_shape,
            layers,
        }
    }

    /// Number of input values (`input_shape.iter().product()`).
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }
}
