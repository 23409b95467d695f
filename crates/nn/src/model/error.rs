//! Errors of model description, files and evaluation.

use std::path::PathBuf;

/// Everything that can be wrong with a model, its files or its inputs. Layer errors name the
/// layer index (0-based, in evaluation order) and kind.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is larger than henn accepts.
    #[error("{path}: file of {size} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// `model.json` is not valid JSON of the expected structure.
    #[error("model.json: {0}")]
    Json(String),
    /// `model.json` names another format.
    #[error("model.json: format {found:?} is not {expected:?}")]
    UnknownFormat {
        /// Format found.
        found: String,
        /// Format expected.
        expected: &'static str,
    },
    /// `model.json` has a format version this build does not read.
    #[error("model.json: format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found.
        found: u64,
        /// Version supported.
        supported: u64,
    },
    /// A layer of `model.json` has a kind this build does not know.
    #[error("layer {index}: unknown layer kind {kind:?}")]
    UnknownLayerKind {
        /// Layer index.
        index: usize,
        /// The kind found.
        kind: String,
    },
    /// A layer is malformed or inconsistent with its input.
    #[error("layer {index} ({kind}): {reason}")]
    InvalidLayer {
        /// Layer index.
        index: usize,
        /// Layer kind.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The model's input shape is unusable.
    #[error("input shape {0:?} is invalid: {1}")]
    InvalidInputShape(Vec<usize>, String),
    /// A shape's element count overflows.
    #[error("shape {0:?}: element count overflows")]
    ShapeOverflow(Vec<usize>),
    /// A tensor's data length does not match its shape.
    #[error("tensor of shape {shape:?} needs {expected} values, got {got}")]
    TensorLength {
        /// Shape.
        shape: Vec<usize>,
        /// Values the shape needs.
        expected: usize,
        /// Values present.
        got: usize,
    },
    /// The weights file is not a valid safetensors file.
    #[error("weights.safetensors: {0}")]
    Safetensors(String),
    /// A tensor named in `model.json` is wrong in the weights file.
    #[error("layer {index} ({kind}): tensor {name:?}: {reason}")]
    BadTensor {
        /// Layer index.
        index: usize,
        /// Layer kind.
        kind: &'static str,
        /// Tensor name in the safetensors file.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An input has the wrong number of values.
    #[error("input has {got} values, the model expects {expected}")]
    InputLength {
        /// Values expected.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A transformation (batch-norm folding, collapsing) cannot be applied.
    #[error("layer {index} ({kind}): cannot {operation}: {reason}")]
    Unsupported {
        /// Layer index.
        index: usize,
        /// Layer kind.
        kind: &'static str,
        /// The transformation.
        operation: &'static str,
        /// Why.
        reason: String,
    },
}

impl ModelError {
    pub(crate) fn layer(index: usize, kind: &'static str, reason: impl Into<String>) -> Self {
        ModelError::InvalidLayer {
            index,
            kind,
            reason: reason.into(),
        }
    }
}
