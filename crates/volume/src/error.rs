//! Errors of the volume subsystem, worded as Docker words them.

use berth_core::{Classify, ErrorKind};

/// Everything that can go wrong with volumes and mount specifications.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// `get x: no such volume` and other lookups of a missing volume.
    #[error("{op} {name}: no such volume")]
    NoSuchVolume {
        /// What was being done (`get`, `remove`, `mount`).
        op: &'static str,
        /// The volume.
        name: String,
    },
    /// A volume referenced by containers cannot be removed.
    #[error("remove {name}: volume is in use - [{}]", refs.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// Ids of the containers using it.
        refs: Vec<String>,
    },
    /// A named driver is not registered.
    #[error("error looking up volume plugin {0}: plugin \"{0}\" not found")]
    NoSuchDriver(String),
    /// Bad request: invalid name, option, mount specification (Docker's text).
    #[error("{0}")]
    Invalid(String),
    /// The state forbids the operation (name taken by another driver, prune running).
    #[error("{0}")]
    Conflict(String),
    /// A driver cannot serve now (a remote plugin is down).
    #[error("{0}")]
    Unavailable(String),
    /// A host operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An error that is already classified (metadata store, a wrapped driver error).
    #[error("{0}")]
    Core(berth_core::Error),
}

impl VolumeError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> VolumeError {
        VolumeError::Io {
            context: context.into(),
            source,
        }
    }

    /// Prefix the message with `op name: ` (Docker's `OpErr`), keeping the kind.
    #[must_use]
    pub fn op(self, op: &str, name: &str) -> VolumeError {
        match self {
            // Already carries its own operation and name.
            e @ (VolumeError::NoSuchVolume { .. } | VolumeError::InUse { .. }) => e,
            other => {
                let err = berth_core::Error::from(other);
                VolumeError::Core(berth_core::Error::new(
                    err.kind(),
                    format!("{op} {name}: {}", err.message()),
                ))
            }
        }
    }
}

impl Classify for VolumeError {
    fn kind(&self) -> ErrorKind {
        match self {
            VolumeError::NoSuchVolume { .. } | VolumeError::NoSuchDriver(_) => ErrorKind::NotFound,
            VolumeError::InUse { .. } | VolumeError::Conflict(_) => ErrorKind::Conflict,
            VolumeError::Invalid(_) => ErrorKind::InvalidArgument,
            VolumeError::Unavailable(_) => ErrorKind::Unavailable,
            VolumeError::Io { .. } => ErrorKind::Internal,
            VolumeError::Core(e) => e.kind(),
        }
    }
}

berth_core::classified!(VolumeError);

impl From<berth_core::Error> for VolumeError {
    fn from(e: berth_core::Error) -> Self {
        VolumeError::Core(e)
    }
}

/// Result alias of this crate.
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_wording_and_kinds() {
        let e = VolumeError::InUse {
            name: "v".into(),
            refs: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.to_string(), "remove v: volume is in use - [a, b]");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        let e = VolumeError::NoSuchVolume {
            op: "get",
            name: "x".into(),
        };
        assert_eq!(
            berth_core::Error::from(e).message(),
            "get x: no such volume"
        );
        let e = VolumeError::Invalid("bad".into()).op("create", "x");
        assert_eq!(
            (e.kind(), e.to_string().as_str()),
            (ErrorKind::InvalidArgument, "create x: bad")
        );
        assert_eq!(
            VolumeError::NoSuchDriver("nope".into()).to_string(),
            "error looking up volume plugin nope: plugin \"nope\" not found"
        );
    }
}
