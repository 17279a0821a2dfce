//! Errors of the builder, classified for the HTTP layer.

use berth_core::{Classify, ErrorKind};

/// Everything that can fail in a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse (`dockerfile parse error on line N: …`).
    #[error(transparent)]
    Parse(#[from] crate::dockerfile::ParseError),
    /// A bad request or Dockerfile content found while building.
    #[error("{0}")]
    Invalid(String),
    /// A RUN step exited non-zero; `code` becomes `errorDetail.code`.
    #[error("{message}")]
    Run {
        /// Docker's text: `The command '…' returned a non-zero code: N`.
        message: String,
        /// The exit code.
        code: i64,
    },
    /// Something named does not exist (a base image, a stage).
    #[error("{0}")]
    NotFound(String),
    /// The client went away or asked to stop.
    #[error("Build cancelled")]
    Cancelled,
    /// A host failure while doing `what`.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An image-store failure.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// A failure reported by another berth crate (the engine's runner, the store).
    #[error(transparent)]
    Core(#[from] berth_core::Error),
}

impl BuildError {
    /// Wrap an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> BuildError {
        BuildError::Io {
            what: what.into(),
            source,
        }
    }

    /// The `errorDetail.code` of this error in a build stream, when it has one.
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::Run { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl Classify for BuildError {
    fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Parse(_) | BuildError::Invalid(_) => ErrorKind::InvalidArgument,
            BuildError::Run { .. } => ErrorKind::Internal,
            BuildError::NotFound(_) => ErrorKind::NotFound,
            BuildError::Cancelled => ErrorKind::Internal,
            BuildError::Io { .. } => ErrorKind::Internal,
            BuildError::Image(e) => e.kind(),
            BuildError::Core(e) => e.kind(),
        }
    }
}

berth_core::classified!(BuildError);

/// Result alias of this crate.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;
