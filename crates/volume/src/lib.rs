//! berth-volume: volumes and mount specifications.
//!
//! - [`driver`]: the [`VolumeDriver`] contract, shaped after Docker's remote volume
//!   plugin protocol so a plugin is one more implementation; [`local`] is the
//!   built-in driver (`<data-root>/volumes/<name>/_data`, options `type`/`device`/`o`);
//!   [`remote`] makes a `VolumeDriver` plugin one (looked up lazily through
//!   [`VolumeService::set_plugins`]).
//! - [`spec`]: from a container's `HostConfig` and `Config.Volumes` to validated
//!   [`MountRequest`]s ([`plan_mounts`], pure), with Docker's parsing and messages.
//! - [`service`]: [`VolumeService`], the engine's entry point: volume API operations,
//!   records in `volume.volumes`, reference counting per container, mounting for
//!   containers ([`ResolvedMount`]), copy-up, restore after a restart.
//! - [`mounter`]: the kernel seam (mount/unmount) of the local driver.
//!
//! Depends on berth-core, berth-api types and berth-plugin only; knows no HTTP and no runtime.

pub mod driver;
pub mod error;
pub mod fsops;
pub mod local;
pub mod mounter;
pub mod names;
pub mod remote;
pub mod service;
pub mod spec;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use driver::{Capabilities, DriverVolume, LOCAL, Scope, VolumeDriver};
pub use error::VolumeError;
pub use local::LocalDriver;
pub use service::VolumeService;
pub use service::containers::{ContainerUse, ResolvedMount, mount_id};
pub use spec::{
    MountKind, MountRequest, Origin, VolumesFrom, mount_points, parse_volumes_from, plan_mounts,
};
