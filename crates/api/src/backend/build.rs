//! Builds: `POST /build` (a context tar, or `remote=`, in; a JSON message
//! stream out) and `POST /build/prune`.
//!
//! `build` returns `Err` for anything wrong before the build starts (a
//! Dockerfile that does not parse, an unknown target, an unreadable context):
//! the server answers those with an HTTP error, as Docker does. Failures
//! while building (a RUN exiting non-zero) arrive as the stream's last
//! message, with `errorDetail.code`. Dropping the stream (the client went
//! away) cancels the build.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_core::filters::Filters;
use berth_core::{Error, Result};

use super::container::ByteStream;
use super::image::JsonStream;
use crate::types::build::BuildPruneResponse;

/// `POST /build` query parameters.
#[derive(Debug, Clone, Default)]
pub struct BuildQuery {
    /// `t` (repeated).
    pub tags: Vec<String>,
    /// `dockerfile` (path in the context; default `Dockerfile`).
    pub dockerfile: String,
    /// `buildargs` (JSON map; `null` values: given without a value).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `labels` (JSON map).
    pub labels: BTreeMap<String, String>,
    /// `target`.
    pub target: String,
    /// `nocache`.
    pub no_cache: bool,
    /// `pull`.
    pub pull: bool,
    /// `rm` (default true).
    pub rm: bool,
    /// `forcerm`.
    pub force_rm: bool,
    /// `q`.
    pub quiet: bool,
    /// `remote`: a URL of a context tar (or Dockerfile).
    pub remote: String,
    /// `cachefrom` (JSON list).
    pub cache_from: Vec<String>,
    /// `networkmode`.
    pub network_mode: String,
    /// `shmsize`.
    pub shm_size: i64,
    /// `memory`.
    pub memory: i64,
    /// `memswap`.
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
    /// `extrahosts` (`host:ip`, repeated or comma-separated).
    pub extra_hosts: Vec<String>,
    /// `platform`.
    pub platform: String,
}

/// `POST /build/prune` query parameters.
#[derive(Debug, Clone, Default)]
pub struct BuildPruneQuery {
    /// `all`.
    pub all: bool,
    /// `filters`.
    pub filters: Filters,
    /// `keep-storage` / `reserved-space` bytes.
    pub keep_storage: i64,
}

fn todo(what: &str) -> Error {
    Error::not_implemented(format!("{what} is not implemented"))
}

/// The build routes.
#[async_trait]
pub trait BuildBackend {
    /// `POST /build`. `InvalidArgument` for a bad Dockerfile, target or context.
    async fn build(&self, _q: BuildQuery, _context: ByteStream) -> Result<JsonStream> {
        Err(todo("build"))
    }
    /// `POST /build/prune`.
    async fn build_prune(&self, _q: BuildPruneQuery) -> Result<BuildPruneResponse> {
        Err(todo("build cache prune"))
    }
}
