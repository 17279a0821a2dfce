//! What is persisted about a container, and where.
//!
//! # Tables (schema v1, owned by the engine)
//!
//! ```text
//! container.config   <id> -> ConfigRecord   what the user asked for at create time
//!                                            (changed only by rename and update)
//! container.state    <id> -> StateRecord    what is true now (rewritten on every transition)
//! ```
//!
//! Both are written in one transaction at create; a state change rewrites only
//! the small state record. Per-container files live in `<data-root>/containers/<id>/`.

use api::types::container::{ContainerConfig, HostConfig, NetworkingConfig};
use api::types::inspect::{Health, MountPoint};
use berth_api as api;
use berth_core::store::Table;
use serde::{Deserialize, Serialize};

use super::state::Status;

/// Create-time configuration table.
pub const CONFIG_TABLE: Table = Table("container.config");
/// Runtime state table.
pub const STATE_TABLE: Table = Table("container.state");

/// Create-time configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// 64 hex digits.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// RFC 3339 nanos.
    pub created: String,
    /// The image reference the user gave (`bb`, `busybox:latest`).
    pub image_ref: String,
    /// `sha256:<config digest>`.
    pub image_id: String,
    /// Config merged with the image's defaults.
    pub config: ContainerConfig,
    /// Host config as given (with defaults filled).
    pub host_config: HostConfig,
    /// Networks asked for at create time.
    pub networking: NetworkingConfig,
    /// Entrypoint[0] (or Cmd[0]).
    pub path: String,
    /// The rest of entrypoint + cmd.
    pub args: Vec<String>,
    /// Resolved mounts as inspect shows them.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
    /// The validated mount requests (volumes, binds, tmpfs), as the volume service keeps them.
    #[serde(default)]
    pub mount_requests: Vec<berth_volume::MountRequest>,
}

/// Runtime state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateRecord {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
    pub restart_count: i64,
    /// Ever started (restart policies and `unless-stopped` look at this).
    pub has_been_started: bool,
    /// Stopped by the user: restart policies must not bring it back.
    pub manually_stopped: bool,
    /// Health, when the container has a health check.
    pub health: Option<Health>,
    /// Boot id of the host when the process was started (reboot detection).
    #[serde(default)]
    pub boot_id: String,
    /// Number of exits seen, for `wait?condition=next-exit`.
    #[serde(default)]
    pub exits: u64,
}
