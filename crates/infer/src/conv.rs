//! Geometry of a 2-D convolution over CHW tensors (the layers of LoLa sections 4.3 and 4.4).
//!
//! Convolutions are cross-correlations as in PyTorch; weights are `[out, in, kh, kw]`
//! row-major; inputs and outputs are flattened CHW. Padding may be asymmetric: LoLa's MNIST
//! network pads one row on top and one column on the left only (28×28 → 29×29 → 13×13 windows
//! of 5×5 with stride 2).

use crate::backend::SlotValue;
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;

/// Zero padding around the spatial dimensions (mirrors `henn_nn::model::Padding`).
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

/// Shapes of one convolution layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Output channels (maps).
    pub out_channels: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride `(rows, columns)`.
    pub stride: (usize, usize),
    /// Zero padding.
    pub padding: Padding,
}

impl Conv2dGeometry {
    /// Checks that the kernel fits the padded input, strides are positive and sizes are sane.
    pub fn validate(&self) -> InferResult<()> {
        let ph = self.in_h + self.padding.top + self.padding.bottom;
        let pw = self.in_w + self.padding.left + self.padding.right;
        let dims = [
            self.in_channels,
            self.in_h,
            self.in_w,
            self.out_channels,
            self.kernel_h,
            self.kernel_w,
            self.stride.0,
            self.stride.1,
        ];
        if dims.contains(&0) {
            return Err(InferError::InvalidModel(format!(
                "zero dimension in {self:?}"
            )));
        }
        if dims.iter().any(|&d| d > 1 << 16) || self.input_len() > 1 << 24 {
            return Err(InferError::InvalidModel(format!(
                "convolution too large: {self:?}"
            )));
        }
        if self.kernel_h > ph || self.kernel_w > pw {
            return Err(InferError::InvalidModel(format!(
                "kernel {}x{} larger than padded input {ph}x{pw}",
                self.kernel_h, self.kernel_w
            )));
        }
        if self.padding.top >= self.kernel_h
            || self.padding.bottom >= self.kernel_h
            || self.padding.left >= self.kernel_w
            || self.padding.right >= self.kernel_w
        {
            return Err(InferError::InvalidModel(
                "padding must be smaller than the kernel".into(),
            ));
        }
        Ok(())
    }

    /// Output height.
    pub fn out_h(&self) -> usize {
        (self.in_h + self.padding.top + self.padding.bottom - self.kernel_h) / self.stride.0 + 1
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        (self.in_w + self.padding.left + self.padding.right - self.kernel_w) / self.stride.1 + 1
    }

    /// Output positions per map, `out_h * out_w`.
    pub fn positions(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// Flattened input length `C·H·W`.
    pub fn input_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    /// Flattened output length `maps · positions`.
    pub fn output_len(&self) -> usize {
        self.out_channels * self.positions()
    }

    /// Window size `r = C_in · kh · kw` (LoLa's r, the number of convolution messages).
    pub fn window(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }

    /// Flattened input index read by window offset `j` (ordered `(ci, dy, dx)`) at output
    /// position `p` (ordered `(oy, ox)`), or `None` where the window covers padding. This is
    /// LoLa's `σ_p(j)` (section 4.2.1, convolution representation).
    pub fn source(&self, j: usize, p: usize) -> Option<usize> {
        let k = self.kernel_h * self.kernel_w;
        let (ci, dy, dx) = (j / k, (j % k) / self.kernel_w, j % self.kernel_w);
        let (oy, ox) = (p / self.out_w(), p % self.out_w());
        let iy = (oy * self.stride.0 + dy).checked_sub(self.padding.top)?;
        let ix = (ox * self.stride.1 + dx).checked_sub(self.padding.left)?;
        (iy < self.in_h && ix < self.in_w).then(|| (ci * self.in_h + iy) * self.in_w + ix)
    }

    /// Checks a weight vector `[out, in, kh, kw]`.
    pub fn check_weights<V>(&self, weights: &[V]) -> InferResult<()> {
        if weights.len() != self.out_channels * self.window() {
            return Err(InferError::ShapeMismatch(format!(
                "{} convolution weights, expected {}x{}",
                weights.len(),
                self.out_channels,
                self.window()
            )));
        }
        Ok(())
    }

    /// The convolution as an `output_len × input_len` matrix (for kernels that treat a
    /// convolution as a dense layer, as LoLa does for CIFAR's second convolution, section 4.4).
    pub fn to_matrix<V: SlotValue>(&self, weights: &[V]) -> InferResult<Matrix<V>> {
        self.check_weights(weights)?;
        let mut m = Matrix::<V>::zeros(self.output_len(), self.input_len());
        let (r, positions) = (self.window(), self.positions());
        for map in 0..self.out_channels {
            for p in 0..positions {
                for j in 0..r {
                    if let Some(src) = self.source(j, p) {
                        let w = weights[map * r + j];
                        let cur: V = m.get(map * positions + p, src);
                        let sum = cur.checked_add(w).ok_or_else(|| {
                            InferError::ShapeMismatch("overflow building conv matrix".into())
                        })?;
                        m.set(map * positions + p, src, sum);
                    }
                }
            }
        }
        Ok(m)
    }

    /// Direct convolution of a flattened CHW input (plain reference).
    pub fn apply<V: SlotValue>(&self, weights: &[V], input: &[V]) -> InferResult<Vec<V>> {
        self.check_weights(weights)?;
        if input.len() != self.input_len() {
            return Err(InferError::ShapeMismatch(format!(
                "convolution input of {}, expected {}",
                input.len(),
                self.input_len()
            )));
        }
        let (r, positions) = (self.window(), self.positions());
        let mut out = Vec::with_capacity(self.output_len());
        for map in 0..self.out_channels {
            for p in 0..positions {
                let mut acc = V::ZERO;
                for j in 0..r {
                    if let Some(src) = self.source(j, p) {
                        acc = weights[map * r + j]
                            .checked_mul(input[src])
                            .and_then(|t| acc.checked_add(t))
                            .ok_or_else(|| InferError::ShapeMismatch("overflow in conv".into()))?;
                    }
                }
                out.push(acc);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lola_mnist_geometry_gives_13x13() {
        let g = Conv2dGeometry {
            in_channels: 1,
            in_h: 28,
            in_w: 28,
            out_channels: 5,
            kernel_h: 5,
            kernel_w: 5,
            stride: (2, 2),
            padding: Padding {
                top: 1,
                left: 1,
                bottom: 0,
                right: 0,
            },
        };
        g.validate().unwrap();
        assert_eq!(
            (g.out_h(), g.out_w(), g.output_len(), g.window()),
            (13, 13, 845, 25)
        );
        // Window 0 at position 0 covers the padding corner.
        assert_eq!(g.source(0, 0), None);
        assert_eq!(g.source(6, 0), Some(0));
    }

    #[test]
    fn matrix_form_equals_direct_convolution() {
        let g = Conv2dGeometry {
            in_channels: 2,
            in_h: 5,
            in_w: 4,
            out_channels: 3,
            kernel_h: 3,
            kernel_w: 2,
            stride: (2, 1),
            padding: Padding {
                top: 1,
                left: 0,
                bottom: 2,
                right: 1,
            },
        };
        g.validate().unwrap();
        let w: Vec<i64> = (0..g.out_channels * g.window())
            .map(|i| (i as i64 % 7) - 3)
            .collect();
        let x: Vec<i64> = (0..g.input_len())
            .map(|i| (i as i64 * 5 % 11) - 5)
            .collect();
        let direct = g.apply(&w, &x).unwrap();
        let via_matrix = g.to_matrix(&w).unwrap().mul_vec(&x).unwrap();
        assert_eq!(direct, via_matrix);
    }
}
