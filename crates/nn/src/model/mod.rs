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
