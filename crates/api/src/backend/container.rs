//! Containers and execs: lifecycle, inspection, streams.
//!
//! Streams that need a hijacked connection (attach, exec start) are two-phase:
//! the backend validates and *registers* the session first (so output produced
//! right after a following `start` is not lost), the server answers `101`, then
//! hands the upgraded connection to [`StreamSession::run`]. Reading that
//! connection yields the client's stdin; EOF on read means the client
//! half-closed (stdin ended), not that it went away: keep writing output until
//! the session ends.
//!
//! `container_wait` is two-phase too: the wait is registered before the method
//! returns; the server sends the response headers at once and the body when
//! the returned future resolves (the docker CLI waits for those headers before
//! it starts the container).
//!
//! Every method has a default answering `NotImplemented` (501), so the server
//! can route these endpoints before the engine implements them all.
//!
//! Contract notes for implementers:
//! - `container_stop`/`container_restart`: `timeout` is seconds; `None` means the
//!   container's own `StopTimeout` (10 s by default), `-1` waits forever.
//! - `container_kill`: the server passes `SIGKILL` when no signal was given.
//! - `container_top`: `ps_args` is `""` when absent (use `-ef`).
//! - `LogsOptions::details` asks for log attributes (`--details`).

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
pub trait HijackedIo:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> HijackedIo for T {}

/// A registered attach or exec session waiting for its connection.
pub struct StreamSession {
    /// Raw stream (TTY) or stdcopy-multiplexed.
    pub tty: bool,
    /// Pump the session over the upgraded connection until it ends.
    pub run: Box<dyn FnOnce(Box<dyn HijackedIo>) -> BoxFuture<'static, ()> + Send>,
}

/// Filter keys `GET /containers/json` accepts (Docker's `acceptedPsFilterTags`):
/// the server refuses others, the engine interprets these.
pub const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

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
    /// Prefix lines with the log attributes (`--details`).
    pub details: bool,
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

fn unimplemented<T>(what: &str) -> Result<T> {
    Err(berth_core::Error::not_implemented(format!(
        "{what} is not implemented by berth yet"
    )))
}

/// Container lifecycle and inspection.
#[async_trait]
pub trait ContainerBackend {
    /// Create. NotFound for an unknown image (`No such image: x`), Conflict for a taken name,
    /// InvalidArgument for bad settings.
    async fn container_create(
        &self,
        _name: Option<String>,
        _body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        unimplemented("container create")
    }
    /// Inspect. NotFound (`No such container: x`).
    async fn container_inspect(&self, _id: &str, _size: bool) -> Result<ContainerInspect> {
        unimplemented("container inspect")
    }
    /// List.
    async fn container_list(&self, _opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        unimplemented("container list")
    }
    /// Start. NotModified when already running; Conflict when paused or being removed.
    async fn container_start(&self, _id: &str) -> Result<()> {
        unimplemented("container start")
    }
    /// Stop (signal, then SIGKILL after the timeout). NotModified when not running.
    async fn container_stop(
        &self,
        _id: &str,
        _signal: Option<String>,
        _timeout: Option<i64>,
    ) -> Result<()> {
        unimplemented("container stop")
    }
    /// Restart.
    async fn container_restart(
        &self,
        _id: &str,
        _signal: Option<String>,
        _timeout: Option<i64>,
    ) -> Result<()> {
        unimplemented("container restart")
    }
    /// Send a signal. Conflict when not running.
    async fn container_kill(&self, _id: &str, _signal: &str) -> Result<()> {
        unimplemented("container kill")
    }
    /// Freeze. Conflict when not running or already paused.
    async fn container_pause(&self, _id: &str) -> Result<()> {
        unimplemented("container pause")
    }
    /// Thaw. Conflict when not paused.
    async fn container_unpause(&self, _id: &str) -> Result<()> {
        unimplemented("container unpause")
    }
    /// Register a wait for `condition` (`not-running`, `next-exit`, `removed`); the returned
    /// future resolves when it is met. Registration happens before this returns.
    async fn container_wait(
        &self,
        _id: &str,
        _condition: &str,
    ) -> Result<BoxFuture<'static, WaitResponse>> {
        unimplemented("container wait")
    }
    /// Remove. Conflict when running without `force`.
    async fn container_remove(
        &self,
        _id: &str,
        _force: bool,
        _volumes: bool,
        _link: bool,
    ) -> Result<()> {
        unimplemented("container remove")
    }
    /// Rename. Conflict for a taken name.
    async fn container_rename(&self, _id: &str, _name: &str) -> Result<()> {
        unimplemented("container rename")
    }
    /// Update resources and restart policy.
    async fn container_update(&self, _id: &str, _body: UpdateBody) -> Result<UpdateResponse> {
        unimplemented("container update")
    }
    /// Processes. Conflict when not running.
    async fn container_top(&self, _id: &str, _ps_args: &str) -> Result<TopResponse> {
        unimplemented("container top")
    }
    /// Filesystem changes against the image.
    async fn container_changes(&self, _id: &str) -> Result<Vec<FilesystemChange>> {
        unimplemented("container changes")
    }
    /// Logs.
    async fn container_logs(&self, _id: &str, _opts: LogsOptions) -> Result<LogsStream> {
        unimplemented("container logs")
    }
    /// Stats samples as JSON values (`ContainerStatsResponse`).
    async fn container_stats(
        &self,
        _id: &str,
        _stream: bool,
        _one_shot: bool,
    ) -> Result<Pin<Box<dyn Stream<Item = serde_json::Value> + Send>>> {
        unimplemented("container stats")
    }
    /// Export the root filesystem as a tar stream.
    async fn container_export(&self, _id: &str) -> Result<ByteStream> {
        unimplemented("container export")
    }
    /// Remove stopped containers.
    async fn container_prune(&self, _filters: Filters) -> Result<ContainerPruneResponse> {
        unimplemented("container prune")
    }
    /// Attach (see the module doc).
    async fn container_attach(&self, _id: &str, _opts: AttachOptions) -> Result<StreamSession> {
        unimplemented("container attach")
    }
    /// Resize the TTY.
    async fn container_resize(&self, _id: &str, _height: u32, _width: u32) -> Result<()> {
        unimplemented("container resize")
    }
    /// Stat a path (HEAD archive). NotFound when absent.
    async fn container_stat_path(&self, _id: &str, _path: &str) -> Result<PathStat> {
        unimplemented("container archive")
    }
    /// Tar of a path (GET archive).
    async fn container_get_archive(
        &self,
        _id: &str,
        _path: &str,
    ) -> Result<(PathStat, ByteStream)> {
        unimplemented("container archive")
    }
    /// Extract a tar into a directory (PUT archive).
    async fn container_put_archive(
        &self,
        _id: &str,
        _path: &str,
        _no_overwrite_dir_non_dir: bool,
        _copy_uid_gid: bool,
        _body: ByteStream,
    ) -> Result<()> {
        unimplemented("container archive")
    }
    /// Commit the container's changes as a new image; returns the image id.
    async fn container_commit(&self, _opts: CommitOptions) -> Result<String> {
        unimplemented("commit")
    }
}

/// Exec instances.
#[async_trait]
pub trait ExecBackend {
    /// Create. Conflict when the container is not running or is paused.
    async fn exec_create(&self, _container: &str, _cfg: ExecConfig) -> Result<String> {
        unimplemented("exec create")
    }
    /// Start attached (returns a session) or detached (`None`).
    async fn exec_start(&self, _id: &str, _cfg: ExecStartConfig) -> Result<Option<StreamSession>> {
        unimplemented("exec start")
    }
    /// Resize an exec's TTY.
    async fn exec_resize(&self, _id: &str, _height: u32, _width: u32) -> Result<()> {
        unimplemented("exec resize")
    }
    /// Inspect.
    async fn exec_inspect(&self, _id: &str) -> Result<ExecInspect> {
        unimplemented("exec inspect")
    }
}
