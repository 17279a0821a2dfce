//! [`berth_builder::StepRunner`] over the engine's container verbs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_api::backend::container::AttachOptions;
use berth_api::backend::image::{ImageBackend, ImagePullQuery};
use berth_api::stdcopy::{Decoder, StreamId};
use berth_api::types::container::{
    ContainerConfig, ContainerCreateBody, HostConfig, LogConfig, Mount, TmpfsOptions,
};
use berth_builder::{BuildError, Output, RunMount, RunSpec, StepRunner};
use berth_core::Error;
use futures::StreamExt;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::Engine;
use crate::container::wait::{Condition, register};

/// Label on build containers: the id of the build they belong to.
pub const BUILD_LABEL: &str = "com.berth.build";

/// Runs RUN steps in engine containers.
pub struct EngineRunner {
    /// The engine.
    pub engine: Arc<Engine>,
}

fn err(e: Error) -> BuildError {
    BuildError::Core(e)
}

fn host_config(spec: &RunSpec) -> HostConfig {
    let h = &spec.host;
    let mut hc = HostConfig {
        network_mode: h.network_mode.clone(),
        extra_hosts: (!h.extra_hosts.is_empty()).then(|| h.extra_hosts.clone()),
        shm_size: h.shm_size,
        log_config: LogConfig {
            kind: "none".into(),
            config: Default::default(),
        },
        security_opt: (!h.security_opt.is_empty()).then(|| h.security_opt.clone()),
        ..Default::default()
    };
    let r = &mut hc.resources;
    r.memory = h.memory;
    r.memory_swap = h.memory_swap;
    r.cpu_shares = h.cpu_shares;
    r.cpuset_cpus = h.cpuset_cpus.clone();
    r.cpuset_mems = h.cpuset_mems.clone();
    r.cpu_period = h.cpu_period;
    r.cpu_quota = h.cpu_quota;
    r.cgroup_parent = h.cgroup_parent.clone();
    let mounts: Vec<Mount> = spec
        .mounts
        .iter()
        .map(|m| match m {
            RunMount::Bind {
                source,
                target,
                read_only,
            } => Mount {
                target: target.clone(),
                source: source.display().to_string(),
                kind: "bind".into(),
                read_only: *read_only,
                ..Default::default()
            },
            RunMount::Tmpfs { target, size } => Mount {
                target: target.clone(),
                kind: "tmpfs".into(),
                tmpfs_options: (*size > 0).then(|| TmpfsOptions {
                    size_bytes: *size,
                    ..Default::default()
                }),
                ..Default::default()
            },
        })
        .collect();
    if !mounts.is_empty() {
        hc.mounts = Some(mounts);
    }
    hc
}

#[async_trait]
impl StepRunner for EngineRunner {
    async fn create(&self, spec: &RunSpec) -> berth_builder::Result<String> {
        let mut config: ContainerConfig = serde_json::to_value(&spec.config)
            .and_then(serde_json::from_value)
            .map_err(|e| BuildError::Invalid(format!("build container config: {e}")))?;
        config.image = spec.image.clone();
        config
            .labels
            .get_or_insert_with(Default::default)
            .insert(BUILD_LABEL.into(), spec.build_id.clone());
        let body = ContainerCreateBody {
            config,
            host_config: Some(host_config(spec)),
            networking_config: None,
        };
        let created = self
            .engine
            .create_container(None, body)
            .await
            .map_err(err)?;
        Ok(created.id)
    }

    async fn run(
        &self,
        id: &str,
        out: &Output,
        cancel: &CancellationToken,
    ) -> berth_builder::Result<i64> {
        let e = &self.engine;
        let opts = AttachOptions {
            stream: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let session = e.attach_container(id, opts).await.map_err(err)?;
        let (mut client, server) = tokio::io::duplex(64 << 10);
        let pump = tokio::spawn((session.run)(Box::new(server)));
        let c = e.container(id).map_err(err)?;
        let exited = register(&c, Condition::NextExit);
        if let Err(start) = e.start_container(id).await {
            pump.abort();
            return Err(err(start));
        }
        let out2 = out.clone();
        let reader = tokio::spawn(async move {
            let mut dec = Decoder::default();
            let mut buf = vec![0u8; 32 << 10];
            loop {
                let n = match client.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                dec.push(&buf[..n]);
                while let Ok(Some((stream, data))) = dec.next_frame() {
                    let text = String::from_utf8_lossy(&data);
                    match stream {
                        StreamId::Stderr => out2.stream_stderr(&text),
                        _ => out2.stream(text.into_owned()),
                    }
                }
            }
        });
        let code = tokio::select! {
            w = exited => w.status_code,
            _ = cancel.cancelled() => {
                let _ = e.kill_container(id, "SIGKILL").await;
                pump.abort();
                reader.abort();
                return Err(BuildError::Cancelled);
            }
        };
        // The output ends shortly after the exit; do not wait forever for it.
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        pump.abort();
        Ok(code)
    }

    async fn commit(
        &self,
        id: &str,
        parent: Option<&str>,
        opts: berth_image::CommitOptions,
    ) -> berth_builder::Result<String> {
        let images = self.engine.images.clone();
        let (id, parent) = (id.to_string(), parent.map(str::to_string));
        tokio::task::spawn_blocking(move || {
            let mut opts = opts;
            opts.empty_layer = images.changes(&id)?.is_empty();
            Ok(images.commit(Some(&id), parent.as_deref(), opts)?)
        })
        .await
        .map_err(|e| BuildError::Invalid(format!("commit task: {e}")))?
    }

    async fn remove(&self, id: &str) -> berth_builder::Result<()> {
        self.engine
            .remove_container(id, true, true, false)
            .await
            .map_err(err)
    }

    async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        out: &Output,
    ) -> berth_builder::Result<String> {
        let q = ImagePullQuery {
            from_image: reference.to_string(),
            tag: String::new(),
            platform: platform.unwrap_or("").to_string(),
        };
        let mut stream = self.engine.image_pull(q, None).await.map_err(err)?;
        while let Some(m) = stream.next().await {
            let m = m.map_err(err)?;
            if let Some(d) = &m.error_detail {
                return Err(BuildError::NotFound(d.message.clone()));
            }
            out.message(m);
        }
        Ok(self.engine.images.resolve(reference)?.id)
    }
}
