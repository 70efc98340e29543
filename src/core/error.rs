//! The core's one error type. Every refusal names what was wrong; a refused command changes
//! nothing (the engine validates before it mutates).

use thiserror::Error;

/// Why the engine refused a command. The gRPC layer maps each variant to one status code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// The request itself is malformed (bad level, empty id, unknown strategy…).
    #[error("{0}")]
    InvalidArgument(String),
    /// A named queue, agent or contact does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but the current state forbids it (offer held by another agent,
    /// queue not empty…).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A limit is reached (queue full, too many agents…); the message names the limit.
    #[error("{0}")]
    ResourceExhausted(String),
}

impl CoreError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        CoreError::InvalidArgument(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        CoreError::NotFound(msg.into())
    }
    pub fn precondition(msg: impl Into<String>) -> Self {
        CoreError::FailedPrecondition(msg.into())
    }
    pub fn exhausted(msg: impl Into<String>) -> Self {
        CoreError::ResourceExhausted(msg.into())
    }
}
