//! Datasets: MNIST-format IDX files (also Fashion-MNIST), the 8x8 digits CSV, CIFAR-10 binary.
//!
//! Every reader validates what it reads (magic numbers, dimensions, record counts, label and
//! pixel ranges) and bounds memory before allocating; errors name the file and the fault.
//! Pixels are scaled to `[0, 1]` `f32`, the input range of the LoLa networks (section 4.3).

mod cifar;
mod digits;
mod error;
mod file;
mod idx;

pub use cifar::{
    load_cifar10, read_cifar10_batch, CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, CIFAR10_SHAPE,
    CIFAR10_TRAIN_BATCHES,
};
pub use digits::{load_digits, DIGITS_CLASSES, DIGITS_MAX_PIXEL, DIGITS_SIDE};
pub use error::DataError;
pub use file::{read_bytes, MAX_FILE_BYTES};
pub use idx::{
    load_idx_pair, load_mnist, read_idx_images, read_idx_labels, IdxImages, IDX1_UBYTE_MAGIC,
    IDX3_UBYTE_MAGIC, MNIST_CLASSES,
};

/// Which part of a dataset to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training examples (MNIST: 60,000).
    Train,
    /// The held-out test examples (MNIST: 10,000).
    Test,
}

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

    /// The examples at `indices`, in that order; `None` if any index is out of range.
    pub fn select(&self, indices: &[usize]) -> Option<Dataset> {
        let d = self.example_len();
        let mut images = Vec::with_capacity(indices.len() * d);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i)?);
            labels.push(*self.labels.get(i)?);
        }
        Some(Dataset {
            shape: self.shape,
            images,
            labels,
            classes: self.classes,
        })
    }

    /// The first `n` examples (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            shape: self.shape,
            images: self.images[..n * self.example_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            classes: self.classes,
        }
    }
}

#[cfg(test)]
mod tests;
