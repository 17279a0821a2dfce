//! Errors of the image subsystem, each classified for the HTTP layer.

use berth_core::{Classify, ErrorKind};

/// Everything that can go wrong in berth-image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Docker's wording: `No such image: busybox:latest`.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// A reference that does not parse.
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// Any other bad argument (filters, changes, platforms).
    #[error("{0}")]
    Invalid(String),
    /// The image is in use, or a tag is ambiguous.
    #[error("{0}")]
    Conflict(String),
    /// A blob or layer failed verification: wrong digest, wrong size, bad archive.
    #[error("{0}")]
    BadContent(String),
    /// A layer archive tried to escape its directory or is otherwise hostile.
    #[error("refusing layer entry {path:?}: {reason}")]
    Hostile {
        /// The entry's path as written in the archive.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// Registry said no (401) or credentials are wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// Registry or remote object not found.
    #[error("{0}")]
    RemoteNotFound(String),
    /// Registry unreachable or answering garbage.
    #[error("{0}")]
    Registry(String),
    /// Not implemented by berth.
    #[error("{0}")]
    NotImplemented(String),
    /// A host failure while doing `what`.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A failure reported by another berth crate.
    #[error(transparent)]
    Core(#[from] berth_core::Error),
}

impl ImageError {
    /// Wrap an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> ImageError {
        ImageError::Io {
            what: what.into(),
            source,
        }
    }

    /// Shorthand for [`ImageError::BadContent`].
    pub fn bad(msg: impl Into<String>) -> ImageError {
        ImageError::BadContent(msg.into())
    }
}

impl Classify for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NoSuchImage(_) | ImageError::RemoteNotFound(_) => ErrorKind::NotFound,
            ImageError::InvalidReference(_) | ImageError::Invalid(_) => ErrorKind::InvalidArgument,
            ImageError::BadContent(_) | ImageError::Hostile { .. } => ErrorKind::InvalidArgument,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Unauthorized(_) => ErrorKind::Unauthorized,
            ImageError::Registry(_) => ErrorKind::Internal,
            ImageError::NotImplemented(_) => ErrorKind::NotImplemented,
            ImageError::Io { .. } => ErrorKind::Internal,
            ImageError::Core(e) => e.kind(),
        }
    }
}

berth_core::classified!(ImageError);

/// Result alias of this crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Attach "what was being done" to io results.
pub trait IoContext<T> {
    /// Map an io error into [`ImageError::Io`].
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ImageError::io(what(), e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ImageError::io(what(), e.into()))
    }
}
