//! Errors of plugin discovery, activation and calls. Every message names the
//! plugin and, for calls, the method (`VolumeDriver.Mount`), so a user can
//! tell which plugin failed and where.

use std::time::Duration;

use berth_core::{Classify, ErrorKind};

/// Everything that can go wrong talking to a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No socket or spec file of that name in any plugin directory.
    #[error("plugin \"{0}\" not found")]
    NotFound(String),
    /// The plugin's manifest lacks the interface (Docker's wording).
    #[error(
        "Plugin does not implement the requested driver: plugin=\"{name}\", requested implementation=\"{interface}\""
    )]
    NotImplemented {
        /// Plugin name.
        name: String,
        /// Interface asked for (`VolumeDriver`, `NetworkDriver`, `IpamDriver`, `authz`).
        interface: String,
    },
    /// A spec file that cannot be used.
    #[error("plugin \"{name}\": invalid spec file {path}: {reason}")]
    Spec {
        /// Plugin name.
        name: String,
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `Plugin.Activate` failed (the call itself or its answer).
    #[error("plugin \"{name}\": activation failed: {reason}")]
    Activation {
        /// Plugin name.
        name: String,
        /// The underlying failure.
        reason: String,
    },
    /// The plugin could not be reached (after retrying for the configured budget).
    #[error("plugin \"{name}\": {method}: cannot connect to {addr}: {reason}")]
    Connect {
        /// Plugin name.
        name: String,
        /// `Interface.Method`.
        method: String,
        /// Its address.
        addr: String,
        /// The last connection error.
        reason: String,
    },
    /// No complete answer within the per-call timeout.
    #[error("plugin \"{name}\": {method}: no answer within {}s", after.as_secs_f64())]
    Timeout {
        /// Plugin name.
        name: String,
        /// `Interface.Method`.
        method: String,
        /// The timeout.
        after: Duration,
    },
    /// The connection broke or the answer was not HTTP/JSON of the expected shape.
    #[error("plugin \"{name}\": {method}: {reason}")]
    Protocol {
        /// Plugin name.
        name: String,
        /// `Interface.Method`.
        method: String,
        /// What went wrong.
        reason: String,
    },
    /// The plugin answered with an error: a non-200 status, or `Err`/`Error` in a 200.
    #[error("plugin \"{name}\": {method}: {message}")]
    Remote {
        /// Plugin name.
        name: String,
        /// `Interface.Method`.
        method: String,
        /// HTTP status (200 for an application error inside a 200 answer).
        status: u16,
        /// The plugin's `Err` text, or its raw body.
        message: String,
    },
}

impl PluginError {
    /// Did the plugin answer 404 (Docker: the method is not implemented)?
    pub fn is_not_found_status(&self) -> bool {
        matches!(self, PluginError::Remote { status: 404, .. })
    }

    /// The plugin's own error text, for a [`PluginError::Remote`].
    pub fn remote_message(&self) -> Option<&str> {
        match self {
            PluginError::Remote { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Docker's short form `<Method>: <text>` (without the plugin's name),
    /// for wrappers that name the plugin themselves (authorization).
    pub fn call_detail(&self) -> String {
        match self {
            PluginError::Remote {
                method, message, ..
            }
            | PluginError::Protocol {
                method,
                reason: message,
                ..
            } => format!("{method}: {message}"),
            PluginError::Connect {
                method,
                addr,
                reason,
                ..
            } => format!("{method}: cannot connect to {addr}: {reason}"),
            PluginError::Timeout { method, after, .. } => {
                format!("{method}: no answer within {}s", after.as_secs_f64())
            }
            other => other.to_string(),
        }
    }
}

impl Classify for PluginError {
    fn kind(&self) -> ErrorKind {
        match self {
            PluginError::NotFound(_) | PluginError::NotImplemented { .. } => ErrorKind::NotFound,
            PluginError::Connect { .. }
            | PluginError::Timeout { .. }
            | PluginError::Activation { .. } => ErrorKind::Unavailable,
            PluginError::Spec { .. }
            | PluginError::Protocol { .. }
            | PluginError::Remote { .. } => ErrorKind::Internal,
        }
    }
}

berth_core::classified!(PluginError);

/// Result alias of this crate.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;
