//! Errors of the prediction service, each with the HTTP status it maps to.

use thiserror::Error;

/// Errors of the service (server, store, wire format and client).
#[derive(Debug, Error)]
pub enum ServeError {
    /// Malformed, truncated or mismatched bytes (wire format, keys, ciphertexts): HTTP 400.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A request that is well formed but invalid (e.g. a key for another model): HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown model or key: HTTP 404.
    #[error("{0}")]
    NotFound(String),
    /// Body larger than allowed: HTTP 413.
    #[error("{what} of {got} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was sent.
        what: &'static str,
        /// Bytes sent (or announced).
        got: u64,
        /// The limit.
        limit: u64,
    },
    /// No or a malformed access token: HTTP 401.
    #[error("{0}")]
    Unauthorized(String),
    /// An access token that does not match the key: HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    /// The client sent its request too slowly (body not received in time): HTTP 408.
    #[error("the request body was not received within {0} s")]
    SlowClient(u64),
    /// A per-client limit (keys stored, requests in flight): HTTP 429.
    #[error("{0}")]
    QuotaExceeded(String),
    /// Stored keys failed their integrity check and were removed: HTTP 500.
    #[error("{0}")]
    CorruptKey(String),
    /// The key store is full: HTTP 507.
    #[error("key store full: {0}")]
    StoreFull(String),
    /// The evaluation queue or the upload slots are full: HTTP 503.
    #[error("evaluation queue full ({0} waiting); retry later")]
    Busy(usize),
    /// The request took too long: HTTP 504.
    #[error("timed out after {0} s")]
    Timeout(u64),
    /// The embedded key store failed: HTTP 500.
    #[error("key store: {0}")]
    Store(String),
    /// Model loading or planning failed.
    #[error("model {model}: {detail}")]
    Model {
        /// Model name.
        model: String,
        /// What failed.
        detail: String,
    },
    /// Homomorphic evaluation failed: HTTP 500.
    #[error("evaluation: {0}")]
    Evaluation(String),
    /// Transport failure seen by the client.
    #[error("{0}")]
    Client(String),
    /// An error answer of the server, seen by the client.
    #[error("server answered {status}: {message}")]
    Remote {
        /// HTTP status.
        status: u16,
        /// The server's `error` message.
        message: String,
    },
    /// A configuration the server cannot start with (e.g. unreadable TLS files).
    #[error("{0}")]
    Config(String),
    /// File input/output.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl ServeError {
    /// A [`ServeError::Malformed`].
    pub fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        ServeError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }

    /// The HTTP status code of this error.
    pub fn status(&self) -> u16 {
        match self {
            ServeError::Malformed { .. } | ServeError::BadRequest(_) => 400,
            ServeError::NotFound(_) => 404,
            ServeError::Unauthorized(_) => 401,
            ServeError::Forbidden(_) => 403,
            ServeError::SlowClient(_) => 408,
            ServeError::QuotaExceeded(_) => 429,
            ServeError::TooLarge { .. } => 413,
            ServeError::StoreFull(_) => 507,
            ServeError::Busy(_) => 503,
            ServeError::Timeout(_) => 504,
            ServeError::Remote { status, .. } => *status,
            _ => 500,
        }
    }
}

impl From<henn_infer::error::InferError> for ServeError {
    /// Malformed peer bytes and invalid inputs are the client's fault (400); everything else
    /// is an evaluation failure (500).
    fn from(e: henn_infer::error::InferError) -> Self {
        use henn_infer::error::InferError;
        match e {
            InferError::Malformed { what, detail } => ServeError::Malformed { what, detail },
            InferError::InvalidInput(d) => ServeError::BadRequest(d),
            other => ServeError::Evaluation(other.to_string()),
        }
    }
}

/// Result of the service.
pub type ServeResult<T> = Result<T, ServeError>;
