//! Datasets: MNIST-format IDX files (also Fashion-MNIST), the 8x8 digits CSV, CIFAR-10 binary.

/// A labelled image dataset held in memory, pixels scaled to `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Shape of one example, `[channels, height, width]` (MNIST: `[1, 28, 28]`).
    pub shape: [usize; 3],
    /// All examples back to back, each `shape.iter().product()` values, row-major (CHW).
    pub images: Vec<f32>,
    /// One class label per example.
    pub labels: Vec<u8>,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the dataset holds no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per example.
    pub fn example_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The `i`-th example's pixels; `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[f32]> {
        let d = self.example_len();
        self.images.get(i * d..(i + 1) * d)
    }
}
