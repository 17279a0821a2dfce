//! Containers and execs: lifecycle, inspection, streams.
//!
//! Streams that need a hijacked connection (attach, exec start) are two-phase:
//! the backend validates and *registers* the session first (so output produced
//! right after a following `start` is not lost), the server answers `101`, then
//! hands the upgraded connection to [`StreamSession::run`].

use std::pin::Pin;

use async_trait::async_trait;
use berth_core::Result;
use berth_core::filters::Filters;
use bytes::Bytes;
use futures::Stream;
use futures::future::BoxFuture;

use crate::types::container::{ContainerCreateBody, ContainerCreateResponse};
use crate::types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use crate::types::inspect::{
    ContainerInspect, ContainerPruneResponse, ContainerSummary, FilesystemChange, TopResponse,
    UpdateBody, UpdateResponse, WaitResponse,
};

/// A stream of bytes (logs, export, archives).
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The upgraded, bidirectional client connection.
pub trait HijackedIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> HijackedIo for T {}

/// A registered attach or exec session waiting for its connection.
pub struct StreamSession {
    /// Raw stream (TTY) or stdcopy-multiplexed.
    pub tty: bool,
    /// Pump the session over the upgraded connection until it ends.
    pub run: Box<dyn FnOnce(Box<dyn HijackedIo>) -> BoxFuture<'static, ()> + Send>,
}

/// `GET /containers/json` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

/// Attach options (`POST /containers/{id}/attach`).
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stream: bool,
    pub logs: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: Option<String>,
}

/// Logs options (`GET /containers/{id}/logs`).
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix nanoseconds.
    pub since: Option<i64>,
    /// Unix nanoseconds.
    pub until: Option<i64>,
    pub timestamps: bool,
    /// `None` = all.
    pub tail: Option<usize>,
}

/// Logs: already framed for the wire (stdcopy unless `tty`).
pub struct LogsStream {
    pub tty: bool,
    pub body: ByteStream,
}

/// `POST /commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    pub config: Option<crate::types::container::ContainerConfig>,
}

/// Stat of a path in a container (`X-Docker-Container-Path-Stat`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go `os.FileMode` bits.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Container lifecycle and inspection.
#[async_trait]
pub trait ContainerBackend {
    /// Create. NotFound for an unknown image (`No such image: x`), Conflict for a taken name,
    /// InvalidArgument for bad settings.
    async fn container_create(&self, name: Option<String>, body: ContainerCreateBody) -> Result<ContainerCreateResponse>;
    /// Inspect. NotFound (`No such container: x`).
    async fn container_inspect(&self, id: &str, size: bool) -> Result<ContainerInspect>;
    /// List.
    async fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>>;
    /// Start. NotModified when already running; Conflict when paused or being removed.
    async fn container_start(&self, id: &str) -> Result<()>;
    /// Stop (signal, then SIGKILL after the timeout). NotModified when not running.
    async fn container_stop(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()>;
    /// Restart.
    async fn container_restart(&self, id: &str, signal: Option<String>, timeout: Option<i64>) -> Result<()>;
    /// Send a signal. Conflict when not running.
    async fn container_kill(&self, id: &str, signal: &str) -> Result<()>;
    /// Freeze. Conflict when not running or already paused.
    async fn container_pause(&self, id: &str) -> Result<()>;
    /// Thaw. Conflict when not paused.
    async fn container_unpause(&self, id: &str) -> Result<()>;
    /// Register a wait for `condition` (`not-running`, `next-exit`, `removed`); the returned
    /// future resolves when it is met. Registration happens before this returns.
    async fn container_wait(&self, id: &str, condition: &str) -> Result<BoxFuture<'static, WaitResponse>>;
    /// Remove. Conflict when running without `force`.
    async fn container_remove(&self, id: &str, force: bool, volumes: bool, link: bool) -> Result<()>;
    /// Rename. Conflict for a taken name.
    async fn container_rename(&self, id: &str, name: &str) -> Result<()>;
    /// Update resources and restart policy.
    async fn container_update(&self, id: &str, body: UpdateBody) -> Result<UpdateResponse>;
    /// Processes. Conflict when not running.
    async fn container_top(&self, id: &str, ps_args: &str) -> Result<TopResponse>;
    /// Filesystem changes against the image.
    async fn container_changes(&self, id: &str) -> Result<Vec<FilesystemChange>>;
    /// Logs.
    async fn container_logs(&self, id: &str, opts: LogsOptions) -> Result<LogsStream>;
    /// Stats samples as JSON values (`ContainerStatsResponse`).
    async fn container_stats(&self, id: &str, stream: bool, one_shot: bool) -> Result<Pin<Box<dyn Stream<Item = serde_json::Value> + Send>>>;
    /// Export the root filesystem as a tar stream.
    async fn container_export(&self, id: &str) -> Result<ByteStream>;
    /// Remove stopped containers.
    async fn container_prune(&self, filters: Filters) -> Result<ContainerPruneResponse>;
    /// Attach (see the module doc).
    async fn container_attach(&self, id: &str, opts: AttachOptions) -> Result<StreamSession>;
    /// Resize the TTY.
    async fn container_resize(&self, id: &str, height: u32, width: u32) -> Result<()>;
    /// Stat a path (HEAD archive). NotFound when absent.
    async fn container_stat_path(&self, id: &str, path: &str) -> Result<PathStat>;
    /// Tar of a path (GET archive).
    async fn container_get_archive(&self, id: &str, path: &str) -> Result<(PathStat, ByteStream)>;
    /// Extract a tar into a directory (PUT archive).
    async fn container_put_archive(&self, id: &str, path: &str, no_overwrite_dir_non_dir: bool, copy_uid_gid: bool, body: ByteStream) -> Result<()>;
    /// Commit the container's changes as a new image; returns the image id.
    async fn container_commit(&self, opts: CommitOptions) -> Result<String>;
}

/// Exec instances.
#[async_trait]
pub trait ExecBackend {
    /// Create. Conflict when the container is not running or is paused.
    async fn exec_create(&self, container: &str, cfg: ExecConfig) -> Result<String>;
    /// Start attached (returns a session) or detached (`None`).
    async fn exec_start(&self, id: &str, cfg: ExecStartConfig) -> Result<Option<StreamSession>>;
    /// Resize an exec's TTY.
    async fn exec_resize(&self, id: &str, height: u32, width: u32) -> Result<()>;
    /// Inspect.
    async fn exec_inspect(&self, id: &str) -> Result<ExecInspect>;
}
