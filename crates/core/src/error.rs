//! The one error model of berth.
//!
//! Every library crate defines its own `thiserror` enums and implements
//! [`Classify`] on them; at crate boundaries they become an [`Error`], which
//! carries one [`ErrorKind`] and the flattened message chain. The HTTP layer maps
//! the kind to a status code in exactly one function (`berth_server::status_for`),
//! and the CLI prints the message as `Error response from daemon: <message>`.

use std::fmt;

/// What went wrong, in the terms a client can act on. Each kind maps to one
/// HTTP status in the server; nothing else decides a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or names an impossible value (400).
    InvalidArgument,
    /// The named object does not exist (404).
    NotFound,
    /// The object exists but its state forbids the operation, or a name is taken (409).
    Conflict,
    /// The object is already in the requested state (304).
    NotModified,
    /// Credentials are missing or wrong (401).
    Unauthorized,
    /// The operation is not allowed (403).
    Forbidden,
    /// A dependency (registry, plugin, the daemon itself) cannot serve now (503).
    Unavailable,
    /// berth does not implement this (501).
    NotImplemented,
    /// A bug or an unexpected host failure (500).
    Internal,
}

impl ErrorKind {
    /// Every kind, for table tests that must cover them all.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::NotModified,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::Unavailable,
        ErrorKind::NotImplemented,
        ErrorKind::Internal,
    ];
}

/// Implemented by every error enum in berth's libraries.
pub trait Classify {
    /// The kind of this error; variants wrapping another classified error delegate to it.
    fn kind(&self) -> ErrorKind;
}

/// A classified error with its message chain flattened (`outer: inner: root`).
///
/// This is what crosses crate boundaries and what the server turns into
/// `{"message": ...}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Result alias used at crate boundaries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// 400.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// 304.
    pub fn not_modified(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotModified, message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// 501.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }
    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Wrap any classified std error, flattening its source chain into the message.
    pub fn from_classified<E: Classify + std::error::Error>(err: &E) -> Self {
        Error {
            kind: err.kind(),
            message: chain_message(err),
        }
    }

    /// Wrap any std error with an explicit kind.
    pub fn with_kind<E: std::error::Error + ?Sized>(kind: ErrorKind, err: &E) -> Self {
        Error {
            kind,
            message: chain_message(err),
        }
    }

    /// Prefix the message with what was being done: `"{ctx}: {message}"`. The kind is kept.
    #[must_use]
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{ctx}: {}", self.message),
        }
    }

    /// The kind that decides the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The flattened message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    /// I/O failures inside the daemon are internal unless a caller classifies them first.
    fn from(err: std::io::Error) -> Self {
        Error::with_kind(ErrorKind::Internal, &err)
    }
}

/// Join an error and its sources with `": "`, skipping a source whose text the
/// outer message already repeats.
pub fn chain_message<E: std::error::Error + ?Sized>(err: &E) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(src) = cur {
        let text = src.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = src.source();
    }
    out
}

/// Implement `From<$ty> for berth_core::Error` for a type that is `Classify + std::error::Error`.
#[macro_export]
macro_rules! classified {
    ($ty:ty) => {
        impl ::std::convert::From<$ty> for $crate::Error {
            fn from(err: $ty) -> Self {
                $crate::Error::from_classified(&err)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("disk on fire")]
        Fire,
    }

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot save container {id}")]
        Save {
            id: String,
            #[source]
            source: Inner,
        },
    }

    impl Classify for Outer {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Conflict
        }
    }
    classified!(Outer);

    #[test]
    fn chain_is_flattened_once() {
        let err: Error = Outer::Save {
            id: "abc".into(),
            source: Inner::Fire,
        }
        .into();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(err.message(), "cannot save container abc: disk on fire");
    }

    #[test]
    fn context_prefixes_and_keeps_kind() {
        let err = Error::not_found("no such image: x").context("create");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.to_string(), "create: no such image: x");
    }
}
