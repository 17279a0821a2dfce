//! Builds (`POST /build`, `/build/prune`): the engine side of berth-builder.
//!
//! The builder does everything but RUN; RUN steps come here through
//! [`berth_builder::StepRunner`], implemented with the engine's public
//! container verbs: create (with `LogConfig none`, labelled with the build),
//! attach before start (through an in-process duplex pipe), start, wait for
//! the exit, commit the read-write layer, remove. Intermediate containers are
//! removed when their step ends; containers of a build that is no longer
//! running (a daemon crash mid-build) are removed when the next build starts.

mod runner;

use std::sync::Arc;

use async_trait::async_trait;
use berth_api::backend::build::{BuildBackend, BuildPruneQuery, BuildQuery};
use berth_api::backend::container::ByteStream;
use berth_api::backend::image::JsonStream;
use berth_api::types::build::BuildPruneResponse;
use berth_api::types::jsonmessage::{ErrorDetail, JsonMessage};
use berth_builder::{BuildOptions, Builder, Context, HostSettings, Loaded, Output};
use berth_core::{Error, Result};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::Engine;

pub use runner::{BUILD_LABEL, EngineRunner};

/// Cancels the build when the client's stream is dropped.
struct CancelOnDrop(CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn options(q: &BuildQuery) -> BuildOptions {
    BuildOptions {
        dockerfile: q.dockerfile.clone(),
        tags: q.tags.clone(),
        build_args: q.build_args.clone(),
        labels: q.labels.clone(),
        target: q.target.clone(),
        no_cache: q.no_cache,
        pull: q.pull,
        rm: q.rm,
        force_rm: q.force_rm,
        quiet: q.quiet,
        cache_from: q.cache_from.clone(),
        platform: q.platform.clone(),
        host: HostSettings {
            network_mode: q.network_mode.clone(),
            extra_hosts: q.extra_hosts.clone(),
            shm_size: q.shm_size,
            memory: q.memory,
            memory_swap: q.memory_swap,
            cpu_shares: q.cpu_shares,
            cpuset_cpus: q.cpuset_cpus.clone(),
            cpuset_mems: q.cpuset_mems.clone(),
            cpu_period: q.cpu_period,
            cpu_quota: q.cpu_quota,
            cgroup_parent: q.cgroup_parent.clone(),
            security_opt: Vec::new(),
        },
    }
}

impl Engine {
    /// The builder over this engine's images, store and containers.
    pub fn builder(self: &Arc<Self>) -> Arc<Builder> {
        Arc::new(Builder {
            images: self.images.clone(),
            store: self.store.clone(),
            runner: Arc::new(EngineRunner {
                engine: self.clone(),
            }),
            root: self.data_path("builder"),
        })
    }

    /// Read the request body (or the `remote` URL) into a context.
    async fn load_context(self: &Arc<Self>, remote: &str, mut body: ByteStream) -> Result<Loaded> {
        let tmp = self.data_path("builder/tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::internal(format!("create {}: {e}", tmp.display())))?;
        if !remote.is_empty() {
            if berth_builder::fetch::is_git(remote) {
                return Err(Error::invalid(format!(
                    "unable to prepare context: git contexts are not supported: {remote}"
                )));
            }
            if !berth_builder::fetch::is_url(remote) {
                return Err(Error::invalid(format!(
                    "unable to prepare context: unsupported remote context {remote:?}"
                )));
            }
            let d = berth_builder::fetch::get(remote)
                .await
                .map_err(Error::from)?;
            return tokio::task::spawn_blocking(move || Context::load(&d.data[..], &tmp))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
                .map_err(Error::from);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let feeder = tokio::spawn(async move {
            while let Some(chunk) = body.next().await {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        let loaded = tokio::task::spawn_blocking(move || {
            Context::load(berth_image::pipe::ChannelReader::new(rx), &tmp)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        feeder.abort();
        loaded.map_err(Error::from)
    }

    /// Remove containers of builds that are no longer running.
    async fn sweep_build_containers(self: &Arc<Self>) {
        for c in self.containers.all() {
            let build = c.with_config(|r| {
                r.config
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(BUILD_LABEL).cloned())
            });
            if let Some(b) = build
                && !berth_builder::build::is_active(&b)
                && let Err(e) = self.remove_container(&c.id, true, true, false).await
            {
                tracing::warn!(id = %c.id, "remove stale build container: {e}");
            }
        }
    }
}

#[async_trait]
impl BuildBackend for Engine {
    async fn build(&self, q: BuildQuery, context: ByteStream) -> Result<JsonStream> {
        let engine = self.me();
        let loaded = engine.load_context(&q.remote, context).await?;
        let builder = engine.builder();
        let opts = options(&q);
        let b2 = builder.clone();
        let prepared = tokio::task::spawn_blocking(move || b2.prepare(loaded, opts))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(Error::from)?;
        engine.sweep_build_containers().await;
        let (out, rx) = Output::channel(q.quiet);
        let cancel = CancellationToken::new();
        let task_cancel = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = builder.run(prepared, out.clone(), task_cancel).await {
                let code = e.code();
                let message = Error::from(e).message().to_string();
                out.always(JsonMessage {
                    error_detail: Some(ErrorDetail {
                        code,
                        message: message.clone(),
                    }),
                    error: Some(message),
                    ..Default::default()
                });
            }
        });
        let guard = CancelOnDrop(cancel);
        let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(move |m| {
            let _keep = &guard;
            Ok(m)
        });
        Ok(Box::pin(stream))
    }

    async fn build_prune(&self, _q: BuildPruneQuery) -> Result<BuildPruneResponse> {
        let engine = self.me();
        let builder = engine.builder();
        let (keys, bytes) = tokio::task::spawn_blocking(move || builder.prune())
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(Error::from)?;
        Ok(BuildPruneResponse {
            caches_deleted: Some(keys),
            space_reclaimed: bytes,
        })
    }
}
