//! Mount specifications: from a container's `HostConfig` (`Binds`, `Mounts`,
//! `Tmpfs`, `VolumesFrom`, `VolumeDriver`) and its `Config.Volumes` (the image's
//! `VOLUME` list merged with the request's) to one validated list of
//! [`MountRequest`]s, by the pure function [`plan_mounts`].
//!
//! A request is what the container record keeps: it names what must exist
//! (a volume to create, a host directory) and renders as inspect's `MountPoint`.
//! Precedence is Docker's: `--volumes-from` first, then `-v`, then `--mount`
//! (both override inherited mounts at the same destination, but not each other:
//! `Duplicate mount point`), then `--tmpfs`, and last anonymous volumes for
//! `Config.Volumes` destinations nothing else covers.

pub mod parse;
pub mod path;
pub mod tmpfs;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use berth_api::types::container::HostConfig;
use berth_api::types::inspect::MountPoint;
use serde::{Deserialize, Serialize};

use crate::driver::LOCAL;
use crate::error::{Result, VolumeError};
pub use parse::{parse_bind, parse_mount, parse_volumes_from};

/// What gets mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path.
    Bind,
    /// A named or anonymous volume.
    Volume,
    /// A fresh tmpfs.
    Tmpfs,
}

impl MountKind {
    /// `bind`, `volume`, `tmpfs` (inspect's `Type`).
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// Where a request came from (decides inspect's `Mode` and a few rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `-v` / `HostConfig.Binds`.
    Bind,
    /// `--mount` / `HostConfig.Mounts`.
    Mount,
    /// `--tmpfs` / `HostConfig.Tmpfs` (not listed in inspect's `Mounts`).
    Tmpfs,
    /// `Config.Volumes`, including the image's `VOLUME` list.
    Image,
    /// `--volumes-from`.
    VolumesFrom,
}

/// One validated mount of a container. Serializable: the engine keeps these in
/// the container record and passes them back to the [`crate::VolumeService`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountRequest {
    /// Bind, volume or tmpfs.
    pub kind: MountKind,
    /// Where it came from.
    pub origin: Origin,
    /// Absolute, cleaned path in the container.
    pub destination: String,
    /// Bind: host path. Volume: the volume's host path once created.
    #[serde(default)]
    pub source: String,
    /// Volume name; empty for an anonymous volume not created yet.
    #[serde(default)]
    pub name: String,
    /// Volume driver; empty means the default (`local`) until created.
    #[serde(default)]
    pub driver: String,
    /// The mode as inspect shows it (`ro`, `z`, …).
    #[serde(default)]
    pub mode: String,
    /// Writable.
    pub rw: bool,
    /// Bind propagation (`rprivate` by default); empty for volumes and tmpfs.
    #[serde(default)]
    pub propagation: String,
    /// Copy the image's content at the destination into the volume when it is empty.
    #[serde(default)]
    pub copy_data: bool,
    /// Created for this container (`-v /dst`, `VOLUME`): removed with `rm -v` / `--rm`.
    #[serde(default)]
    pub anonymous: bool,
    /// Bind without `rbind` (`bind-recursive=disabled`).
    #[serde(default)]
    pub non_recursive: bool,
    /// Create a missing bind source directory at start (`-v`, `bind-create-src`).
    #[serde(default)]
    pub create_source: bool,
    /// Mount only this relative path of the volume (`volume-subpath`).
    #[serde(default)]
    pub subpath: String,
    /// Driver options for creating the volume (`volume-opt`).
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Labels for creating the volume (`volume-label`).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// tmpfs options (`size=10m`, `mode=1777`, `exec`), without `ro`.
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
}

impl MountRequest {
    /// A blank request of `kind` at `destination`.
    pub fn new(kind: MountKind, origin: Origin, destination: &str) -> MountRequest {
        MountRequest {
            kind,
            origin,
            destination: destination.to_string(),
            source: String::new(),
            name: String::new(),
            driver: String::new(),
            mode: String::new(),
            rw: true,
            propagation: String::new(),
            copy_data: false,
            anonymous: false,
            non_recursive: false,
            create_source: false,
            subpath: String::new(),
            driver_opts: None,
            labels: None,
            tmpfs_options: Vec::new(),
        }
    }

    /// The entry of inspect's `Mounts`; `None` for `--tmpfs` mounts, which Docker does not list.
    pub fn mount_point(&self) -> Option<MountPoint> {
        if self.origin == Origin::Tmpfs {
            return None;
        }
        let driver = match self.kind {
            MountKind::Volume if self.driver.is_empty() => LOCAL.to_string(),
            MountKind::Volume => self.driver.clone(),
            _ => String::new(),
        };
        Some(MountPoint {
            kind: self.kind.as_str().to_string(),
            name: self.name.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            driver,
            mode: self.mode.clone(),
            rw: self.rw,
            propagation: self.propagation.clone(),
        })
    }
}

/// The inspect view of a list of requests.
pub fn mount_points(reqs: &[MountRequest]) -> Vec<MountPoint> {
    reqs.iter().filter_map(MountRequest::mount_point).collect()
}

/// Mounts of another container for `--volumes-from`, resolved by the engine.
#[derive(Debug, Clone, Default)]
pub struct VolumesFrom {
    /// `rw` or `ro` (from [`parse_volumes_from`]).
    pub mode: String,
    /// That container's requests.
    pub mounts: Vec<MountRequest>,
}

fn duplicate(dest: &str) -> VolumeError {
    VolumeError::Invalid(format!("Duplicate mount point: {dest}"))
}

/// Turn a container's settings into its validated mount requests (no side effects
/// beyond checking that `--mount` bind sources exist).
///
/// `volumes` are the keys of the container's merged `Config.Volumes` (the image's
/// `VOLUME` list plus `-v /path` entries the CLI puts there).
pub fn plan_mounts(
    hc: &HostConfig,
    volumes: &[String],
    volumes_from: &[VolumesFrom],
) -> Result<Vec<MountRequest>> {
    let mut out: Vec<MountRequest> = Vec::new();
    let put = |out: &mut Vec<MountRequest>, r: MountRequest| match out
        .iter_mut()
        .find(|m| m.destination == r.destination)
    {
        Some(slot) => *slot = r,
        None => out.push(r),
    };
    let tmpfs = hc.tmpfs.clone().unwrap_or_default();
    let tmpfs_dests: Vec<String> = tmpfs.keys().map(|d| path::clean(d)).collect();

    for vf in volumes_from {
        let rw = parse::read_write(&vf.mode);
        for m in vf.mounts.iter().filter(|m| m.origin != Origin::Tmpfs) {
            let mut cp = m.clone();
            cp.rw = m.rw && rw;
            cp.copy_data = false;
            cp.origin = Origin::VolumesFrom;
            cp.mode = String::new();
            put(&mut out, cp);
        }
    }

    let mut claimed: Vec<String> = Vec::new();
    for raw in hc.binds.iter().flatten() {
        let r = parse_bind(raw, &hc.volume_driver)?;
        if claimed.contains(&r.destination) || tmpfs_dests.contains(&r.destination) {
            return Err(duplicate(&r.destination));
        }
        claimed.push(r.destination.clone());
        put(&mut out, r);
    }
    for m in hc.mounts.iter().flatten() {
        let r = parse_mount(m)?;
        if claimed.contains(&r.destination) || tmpfs_dests.contains(&r.destination) {
            return Err(duplicate(&m.target));
        }
        claimed.push(r.destination.clone());
        put(&mut out, r);
    }
    for (dest, data) in &tmpfs {
        parse::check_target(dest).map_err(|e| {
            VolumeError::Invalid(format!("invalid mount config for type \"tmpfs\": {e}"))
        })?;
        let mut r = MountRequest::new(MountKind::Tmpfs, Origin::Tmpfs, &path::clean(dest));
        r.tmpfs_options = tmpfs::merge(data)?;
        put(&mut out, r);
    }
    for v in volumes {
        parse::check_target(v).map_err(|e| {
            VolumeError::Invalid(format!("invalid mount config for type \"volume\": {e}"))
        })?;
        let dest = path::clean(v);
        if out.iter().any(|m| m.destination == dest) {
            continue;
        }
        let mut r = MountRequest::new(MountKind::Volume, Origin::Image, &dest);
        r.driver = hc.volume_driver.clone();
        r.anonymous = true;
        r.copy_data = true;
        out.push(r);
    }
    Ok(out)
}
