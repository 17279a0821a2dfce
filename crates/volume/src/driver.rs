//! The `VolumeDriver` contract: the eight calls of Docker's remote volume plugin
//! protocol (`Create`, `Remove`, `Mount`, `Unmount`, `Path`, `Get`, `List`,
//! `Capabilities`), so a remote plugin is one more implementation that turns
//! each call into `POST /VolumeDriver.<Method>`.
//!
//! A driver owns its volumes' data and its own state; labels, create options and
//! who uses a volume are the service's business (see [`crate::service`]).
//! Every implementation passes the one suite in [`crate::conformance`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::Result;

/// Name of the built-in driver.
pub const LOCAL: &str = "local";

/// Where a driver's volumes exist (`Capabilities.Scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only on this machine.
    Local,
    /// Cluster-wide.
    Global,
}

impl Scope {
    /// `local` / `global`, as `Volume.Scope` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Global => "global",
        }
    }

    /// A plugin's answer: lower-cased; anything but `global` is `local` (Docker's rule).
    pub fn parse(s: &str) -> Scope {
        if s.eq_ignore_ascii_case("global") {
            Scope::Global
        } else {
            Scope::Local
        }
    }
}

/// `Capabilities` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Scope of the driver's volumes.
    pub scope: Scope,
}

/// What a driver knows of one volume (`Get`/`List` answers).
#[derive(Debug, Clone, PartialEq)]
pub struct DriverVolume {
    /// Name.
    pub name: String,
    /// Host path of the data; may be empty until mounted (remote drivers).
    pub mountpoint: PathBuf,
    /// RFC 3339, when the driver knows it.
    pub created_at: Option<String>,
    /// Free-form details shown by `volume inspect`.
    pub status: Option<BTreeMap<String, serde_json::Value>>,
}

/// A volume driver. Errors: a missing volume is [`crate::VolumeError::NoSuchVolume`]
/// (NotFound); a driver that cannot be reached is `Unavailable`.
#[async_trait]
pub trait VolumeDriver: Send + Sync {
    /// The name users pass to `--driver`.
    fn name(&self) -> &str;
    /// Create `name` with driver options; creating an existing volume returns it unchanged.
    async fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()>;
    /// Remove `name` and its data.
    async fn remove(&self, name: &str) -> Result<()>;
    /// Make the volume available for the mount `id` (one per container mount point) and
    /// return its host path. Mounts are counted per call; the data stays available until
    /// the matching number of [`VolumeDriver::unmount`] calls.
    async fn mount(&self, name: &str, id: &str) -> Result<PathBuf>;
    /// Release the mount `id`.
    async fn unmount(&self, name: &str, id: &str) -> Result<()>;
    /// The host path of the volume (may be empty for a remote volume not mounted).
    async fn path(&self, name: &str) -> Result<PathBuf>;
    /// One volume.
    async fn get(&self, name: &str) -> Result<DriverVolume>;
    /// Every volume of the driver.
    async fn list(&self) -> Result<Vec<DriverVolume>>;
    /// The driver's capabilities.
    async fn capabilities(&self) -> Result<Capabilities>;
}
