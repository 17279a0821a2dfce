//! Engine API wire types, one module per resource. Field names follow Docker
//! exactly (`PascalCase` mostly, with Docker's own exceptions spelled out).

pub mod build;
pub mod container;
pub mod exec;
pub mod image;
pub mod inspect;
pub mod jsonmessage;
pub mod network;
pub mod strslice;
pub mod system;
pub mod volume;

use serde::{Deserialize, Serialize};

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorResponse {
    /// Human-readable message, printed by the docker CLI after `Error response from daemon: `.
    pub message: String,
}

/// `{"Id": "..."}` bodies (exec create, commit).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct IdResponse {
    /// The new object's id.
    pub id: String,
}
