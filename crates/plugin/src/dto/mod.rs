//! Wire types of the plugin protocols, with Docker's exact JSON names (see
//! /work/shared/notes/plugin-protocol.md). They serve both directions: berth
//! calling a plugin, and berth serving its own drivers as a plugin.
//!
//! Decoding is lenient as Go's is (every field defaults; keys match
//! case-insensitively through [`crate::ci`]); encoding writes what moby writes.

pub mod authz;
pub mod ipam;
pub mod network;
pub mod volume;

use serde::{Deserialize, Serialize};

/// `Plugin.Activate`.
pub const ACTIVATE: &str = "Plugin.Activate";

/// `Plugin.Activate`'s answer: the interfaces the plugin implements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Manifest {
    /// `NetworkDriver`, `IpamDriver`, `VolumeDriver`, `authz`, …
    pub implements: Vec<String>,
}

/// Interface names of `Implements`.
pub mod iface {
    /// Remote network drivers.
    pub const NETWORK: &str = "NetworkDriver";
    /// Remote IPAM drivers.
    pub const IPAM: &str = "IpamDriver";
    /// Volume drivers.
    pub const VOLUME: &str = "VolumeDriver";
    /// Authorization plugins.
    pub const AUTHZ: &str = "authz";
}

/// An answer with nothing but the error field (`{}` or `{"Err": ""}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Empty {}
