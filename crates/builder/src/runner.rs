//! What the builder needs from the engine to run a RUN step: a container made
//! from an image with a given config, its output, its exit code, its layer
//! committed, and its removal. The engine implements [`StepRunner`] with its
//! container machinery; the builder knows nothing of containers.

use std::path::PathBuf;

use async_trait::async_trait;
use berth_image::spec::ContainerConfig;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::output::Output;

/// A mount for a RUN step (`RUN --mount=…`), resolved to host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// A host directory bound at `target`.
    Bind {
        /// Host directory or file.
        source: PathBuf,
        /// Path in the container.
        target: String,
        /// Read-only.
        read_only: bool,
    },
    /// A tmpfs at `target`.
    Tmpfs {
        /// Path in the container.
        target: String,
        /// Size in bytes (0: the default).
        size: i64,
    },
}

/// Resources and host settings of build containers (the build request's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// `networkmode` (empty: the default network).
    pub network_mode: String,
    /// `extrahosts` (`host:ip`).
    pub extra_hosts: Vec<String>,
    /// `shmsize` bytes.
    pub shm_size: i64,
    /// `memory` bytes.
    pub memory: i64,
    /// `memswap` bytes.
    pub memory_swap: i64,
    /// `cpushares`.
    pub cpu_shares: i64,
    /// `cpusetcpus`.
    pub cpuset_cpus: String,
    /// `cpusetmems`.
    pub cpuset_mems: String,
    /// `cpuperiod`.
    pub cpu_period: i64,
    /// `cpuquota`.
    pub cpu_quota: i64,
    /// `cgroupparent`.
    pub cgroup_parent: String,
    /// `securityopt`? Not sent by the classic CLI; kept for API clients.
    pub security_opt: Vec<String>,
}

/// One RUN step's container.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Image id to start from.
    pub image: String,
    /// The container's config (command, environment with build args, user,
    /// working directory, shell, no health check, empty entrypoint).
    pub config: ContainerConfig,
    /// Host settings (the step's `--network` already applied).
    pub host: HostSettings,
    /// `--mount`s.
    pub mounts: Vec<RunMount>,
    /// Marks the container as belonging to this build (cleanup after a crash).
    pub build_id: String,
}

/// What the engine provides.
#[async_trait]
pub trait StepRunner: Send + Sync {
    /// Create the container; returns its id.
    async fn create(&self, spec: &RunSpec) -> Result<String>;
    /// Start it with its output going to `out` as `stream` messages and wait
    /// for its exit code. On `cancel` the container is killed and
    /// [`crate::BuildError::Cancelled`] returned.
    async fn run(&self, id: &str, out: &Output, cancel: &CancellationToken) -> Result<i64>;
    /// Commit the container's read-write layer on top of `parent` (an empty
    /// layer when nothing changed); returns the new image id.
    async fn commit(
        &self,
        id: &str,
        parent: Option<&str>,
        opts: berth_image::CommitOptions,
    ) -> Result<String>;
    /// Remove the container (and its anonymous volumes).
    async fn remove(&self, id: &str) -> Result<()>;
    /// Pull `reference` (for FROM and `--from`), reporting progress to `out`;
    /// returns the image id.
    async fn pull(&self, reference: &str, platform: Option<&str>, out: &Output) -> Result<String>;
}
