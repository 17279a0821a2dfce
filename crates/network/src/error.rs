//! Errors of the network subsystem, each classified for the HTTP layer.
//!
//! Messages follow Docker's wording where Docker has one (`network x not found`,
//! `Pool overlaps with other one on this address space`, …) because clients and
//! scripts match on them.

use berth_core::{Classify, ErrorKind};

/// Everything that can go wrong in berth-network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// `network x not found` (404).
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// A bad request: subnet, address, option (400).
    #[error("{0}")]
    Invalid(String),
    /// A name or bridge already taken, or a state that forbids the call (409).
    #[error("{0}")]
    Conflict(String),
    /// Docker answers these with 403: predefined networks, overlapping pools,
    /// active endpoints, duplicate endpoints.
    #[error("{0}")]
    Forbidden(String),
    /// Something else that does not exist (endpoint, sandbox, driver) (404).
    #[error("{0}")]
    NotFound(String),
    /// Address pool exhausted, or a driver cannot serve now (503).
    #[error("{0}")]
    Unavailable(String),
    /// A kernel call failed while doing `what`.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A netlink request failed while doing `what`.
    #[error("{what}: {message}")]
    Netlink {
        /// What was being done.
        what: String,
        /// rtnetlink's error text.
        message: String,
    },
    /// An operation failed in a way Docker reports as a server error (500),
    /// e.g. `Bind for 0.0.0.0:8080 failed: port is already allocated`.
    #[error("{0}")]
    Failed(String),
    /// Programming the firewall failed.
    #[error("firewall: {0}")]
    Firewall(String),
    /// A failure reported by another berth crate (the store).
    #[error(transparent)]
    Core(#[from] berth_core::Error),
}

impl NetError {
    /// Wrap an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> NetError {
        NetError::Io {
            what: what.into(),
            source,
        }
    }

    /// Wrap a netlink error with what was being done.
    pub fn netlink(what: impl Into<String>, err: impl std::fmt::Display) -> NetError {
        NetError::Netlink {
            what: what.into(),
            message: err.to_string(),
        }
    }

    /// A 400 with `msg`.
    pub fn invalid(msg: impl Into<String>) -> NetError {
        NetError::Invalid(msg.into())
    }

    /// A 403 with `msg`.
    pub fn forbidden(msg: impl Into<String>) -> NetError {
        NetError::Forbidden(msg.into())
    }
}

impl Classify for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetError::NoSuchNetwork(_) | NetError::NotFound(_) => ErrorKind::NotFound,
            NetError::Invalid(_) => ErrorKind::InvalidArgument,
            NetError::Conflict(_) => ErrorKind::Conflict,
            NetError::Forbidden(_) => ErrorKind::Forbidden,
            NetError::Unavailable(_) => ErrorKind::Unavailable,
            NetError::Io { .. }
            | NetError::Netlink { .. }
            | NetError::Firewall(_)
            | NetError::Failed(_) => ErrorKind::Internal,
            NetError::Core(e) => e.kind(),
        }
    }
}

berth_core::classified!(NetError);

/// Result alias inside this crate.
pub type NetResult<T> = Result<T, NetError>;
