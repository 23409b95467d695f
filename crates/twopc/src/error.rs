//! Errors of the two-party protocol.

/// Errors of the two-party protocol: a malformed or truncated peer message, an I/O failure, or a
/// configuration error. Every byte from the peer is validated; a violation ends the session with
/// one of these, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum TwoPcError {
    /// The peer sent a message that does not parse or violates the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Transport failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Invalid configuration (parameters, model, policy file).
    #[error("invalid configuration: {0}")]
    Config(String),
}
