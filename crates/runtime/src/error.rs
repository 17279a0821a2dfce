//! Errors of the runtime crate, classified for the API layer.

use berth_core::{Classify, ErrorKind};

/// What can go wrong while generating a spec, talking to a shim or reading logs.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A user-supplied option is malformed or impossible (bad `--user`, `--ulimit`, profile...).
    #[error("{0}")]
    Invalid(String),
    /// The named object (user, group, container, exec, log) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The container is in the wrong state for the operation (not running, paused...).
    #[error("{0}")]
    Conflict(String),
    /// The shim reported a failure or broke the protocol.
    #[error("shim: {0}")]
    Shim(String),
    /// The shim cannot be reached (not running, socket gone).
    #[error("shim for container {id} is not reachable: {source}")]
    Unreachable {
        /// Container id.
        id: String,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    /// An I/O failure on a named path or stream.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the object.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The OCI spec could not be built.
    #[error("oci spec: {0}")]
    Spec(String),
}

impl RuntimeError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            what: what.into(),
            source,
        }
    }
}

impl Classify for RuntimeError {
    fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::Invalid(_) => ErrorKind::InvalidArgument,
            RuntimeError::NotFound(_) => ErrorKind::NotFound,
            RuntimeError::Conflict(_) => ErrorKind::Conflict,
            RuntimeError::Unreachable { .. } => ErrorKind::Unavailable,
            RuntimeError::Shim(_) | RuntimeError::Io { .. } | RuntimeError::Spec(_) => {
                ErrorKind::Internal
            }
        }
    }
}

berth_core::classified!(RuntimeError);

impl From<oci_spec::OciSpecError> for RuntimeError {
    fn from(e: oci_spec::OciSpecError) -> Self {
        RuntimeError::Spec(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
