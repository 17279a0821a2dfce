//! `VolumeDriver.*`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `Create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Create {
    /// Volume name.
    pub name: String,
    /// Driver options; `null` when none (as Go encodes a nil map).
    pub opts: Option<BTreeMap<String, String>>,
}

/// `Remove`, `Path`, `Get`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Named {
    /// Volume name.
    pub name: String,
}

/// `Mount`, `Unmount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountRequest {
    /// Volume name.
    #[serde(rename = "Name")]
    pub name: String,
    /// The mount's id (64 hex digits), the same for the matching `Unmount`.
    #[serde(rename = "ID")]
    pub id: String,
}

/// `Mount` and `Path` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountResponse {
    /// Host path.
    pub mountpoint: String,
}

/// A volume in `Get`/`List` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// Name.
    pub name: String,
    /// Host path (may be empty).
    pub mountpoint: String,
    /// RFC 3339, optional.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    /// Free-form status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, Value>>,
}

/// `Get` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetResponse {
    /// The volume, or `null`.
    pub volume: Option<Volume>,
}

/// `List` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListResponse {
    /// Every volume.
    pub volumes: Vec<Volume>,
}

/// `Capabilities` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CapabilitiesResponse {
    /// The capabilities.
    pub capabilities: Capability,
}

/// Volume driver capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Capability {
    /// `local` or `global`.
    pub scope: String,
}
