//! Errors of representations, kernels and plans.

use thiserror::Error;

use crate::backend::BackendError;

/// Errors of HE inference: bad representations, shapes that do not match, layouts that do not
/// fit the backend, and backend failures.
#[derive(Debug, Error)]
pub enum InferError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A kernel was given a vector in a representation it does not accept.
    #[error("{kernel} needs a {expected} vector, got {got}")]
    WrongRepresentation {
        /// The kernel.
        kernel: &'static str,
        /// What it accepts.
        expected: &'static str,
        /// What it got.
        got: &'static str,
    },
    /// Sizes of a vector, matrix or convolution disagree.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// A layout needs more slots (or a longer row) than the backend has.
    #[error("does not fit the backend: {0}")]
    DoesNotFit(String),
    /// A representation is internally inconsistent (e.g. two elements in one slot).
    #[error("invalid representation: {0}")]
    InvalidRepresentation(String),
    /// A model or layer description is invalid.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// Bytes or a document from outside (a peer, a file) do not parse or do not fit the model.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A request that does not fit the session (wrong input length, non-finite values, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A valid layer that HE-only inference cannot evaluate (ReLU, pooling, ...: LoLa section 3
    /// admits only linear layers and squares); the two-party protocol evaluates it.
    #[error(
        "layer {index} ({kind}) is not supported by HE-only inference (use the two-party protocol)"
    )]
    NotSupportedByHeOnly {
        /// Index of the layer in the model.
        index: usize,
        /// Its kind (`relu`, `max_pool`, ...).
        kind: &'static str,
    },
}

/// Result of HE inference operations.
pub type InferResult<T> = Result<T, InferError>;
