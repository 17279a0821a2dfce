//! `docker start`: mount the root filesystem, write the network files, build
//! the OCI bundle, spawn the shim (the container is then CREATED), hand the
//! shim's stdio to clients that attached before the start, start, record the
//! running state and watch for the exit.

use std::sync::Arc;

use berth_core::{Error, Result};
use berth_runtime::client::SpawnOptions;
use berth_runtime::spec as rt;

use super::netfiles::{self, NetFiles};
use super::spec::{Resolved, container_spec};
use super::{Container, Status};
use crate::Engine;

/// Docker's exit codes for a command that cannot run, read from the runtime's message.
pub fn start_error_code(msg: &str) -> i64 {
    // The runtime's own log lines, appended by the shim, are detail, not the cause.
    let m = msg
        .split(" (runtime log: ")
        .next()
        .unwrap_or(msg)
        .to_ascii_lowercase();
    let exec_failed = m.contains("exec") || m.contains("shim");
    if m.contains("executable file not found")
        || m.contains("not found in $path")
        || (exec_failed && m.contains("no such file or directory"))
    {
        127
    } else if exec_failed && m.contains("permission denied") {
        126
    } else {
        128
    }
}

impl Engine {
    /// `POST /containers/{id}/start`.
    pub async fn start_container(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.container(key)?;
        let _op = c.op.lock().await;
        c.status().check_start(&c.id)?;
        self.start_locked(&c).await
    }

    /// Start with the container's `op` lock held.
    pub(crate) async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        match self.try_start(c).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let code = start_error_code(e.message());
                // The docker CLI picks its exit code (127/126) from Docker's wording.
                let e = match code {
                    127 => Error::invalid(format!(
                        "failed to create task for container: OCI runtime create failed: unable to start container process: exec: \"{}\": executable file not found in $PATH: unknown",
                        c.with_config(|r| r.path.clone())
                    )),
                    126 => Error::invalid(format!(
                        "failed to create task for container: OCI runtime create failed: unable to start container process: exec: \"{}\": permission denied: unknown",
                        c.with_config(|r| r.path.clone())
                    )),
                    _ => e,
                };
                let _ = self.shim(c).delete(true).await;
                self.unmount_rootfs(c).await;
                self.release_network(c).await;
                self.unmount_mounts(c).await;
                let msg = e.message().to_string();
                let _ = self.set_state(c, |s| {
                    if s.status != Status::Created || s.has_been_started {
                        s.status = Status::Exited;
                    }
                    s.exit_code = code;
                    s.error = msg.clone();
                    s.pid = 0;
                });
                // Clients attached before the start get EOF.
                c.pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
                // Docker removes an `--rm` container whose start failed (the CLI waits for it).
                if c.with_config(|r| r.host_config.auto_remove) {
                    let engine = self.clone();
                    let id = c.id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = engine.remove_container(&id, true, true, false).await {
                            tracing::warn!(%id, "auto-remove after failed start: {e}");
                        }
                    });
                }
                if code == 127 || code == 126 {
                    return Err(Error::invalid(msg));
                }
                Err(e)
            }
        }
    }

    async fn try_start(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        // Overlap the kernel's cgroup-migration grace period with the steps below.
        self.shims.prime();
        let t0 = std::time::Instant::now();
        let mut steps: Vec<(&str, std::time::Duration)> = Vec::new();
        let lap = |name: &'static str, steps: &mut Vec<(&str, std::time::Duration)>| {
            steps.push((name, t0.elapsed()));
        };
        let mut rec = c.config();
        let dir = self.container_dir(&c.id);
        let rootfs = self.mount_rootfs(c).await?;
        lap("rootfs", &mut steps);
        let net = self.prepare_network(c).await?;
        lap("network", &mut steps);
        let link_env = self.link_env(&rec).await;
        if !link_env.is_empty() {
            // As in Docker, the link variables come first; the container's own win.
            let own = rec.config.env.take().unwrap_or_default();
            rec.config.env = Some(link_env.into_iter().chain(own).collect());
        }
        let hc = &rec.host_config;
        let files = NetFiles {
            hostname: rec.config.hostname.clone(),
            domainname: rec.config.domainname.clone(),
            addresses: net.addresses.clone(),
            extra_hosts: hc.extra_hosts.clone().unwrap_or_default(),
            links: net.links.clone(),
            dns: if hc.dns.as_ref().is_none_or(Vec::is_empty) {
                net.dns.clone()
            } else {
                hc.dns.clone().unwrap_or_default()
            },
            dns_search: hc.dns_search.clone().unwrap_or_default(),
            dns_options: hc.dns_options.clone().unwrap_or_default(),
            host_network: hc.network_mode == "host",
        };
        netfiles::write_all(&dir, &files)?;
        let init = if hc.resources.init == Some(true) {
            Some(self.shims.ensure_init().await?)
        } else {
            None
        };
        let mounts = self.container_mounts(c, &rootfs).await?;
        let join = |key: &str, kind: &str| self.ns_path(key, kind);
        let spec = container_spec(
            &rec,
            Resolved {
                rootfs,
                dir: &dir,
                mounts,
                netns: net.netns.clone(),
                init,
                join: &join,
            },
        )?;
        let built = rt::build(&spec)?;
        let bundle = self.bundle_dir(&c.id);
        rt::write_bundle(&bundle, &built.spec)?;
        // VM isolation: the same bundle, plus the VM the shim boots (vm.json).
        let runtime = match self.isolation_of(&rec)? {
            berth_runtime::vm::Isolation::Vm => {
                berth_runtime::vm::write_config(&bundle, &self.vm_config(&rec).await?)?;
                berth_runtime::layout::RuntimeKind::Vm
            }
            berth_runtime::vm::Isolation::Process => Self::runtime_kind(&rec)?,
        };
        lap("spec", &mut steps);
        let opts = SpawnOptions {
            id: c.id.clone(),
            bundle,
            runtime,
            runc_path: None,
            tty: rec.config.tty,
            stdin: rec.config.open_stdin,
            log: self.log_config(c, &rec)?,
        };
        let h = self.shims.spawn(&opts).await?;
        lap("shim", &mut steps);
        // Attach sessions registered before the start get the shim's stdio now,
        // before the process runs, so they see all of its output.
        let pending: Vec<_> =
            std::mem::take(&mut *c.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            if p.tx.is_closed() {
                continue;
            }
            match h.attach(p.req.clone()).await {
                Ok(a) => {
                    let _ = p.tx.send(a);
                }
                Err(e) => tracing::warn!(id = %c.id, "attach before start failed: {e}"),
            }
        }
        lap("attach", &mut steps);
        h.start().await?;
        let state = h.state().await?;
        lap("started", &mut steps);
        if let Some(exit) = state.exit.as_ref().filter(|x| x.error.is_some()) {
            return Err(Error::invalid(exit.error.clone().unwrap_or_default()));
        }
        let boot = crate::host::boot_id();
        self.set_state(c, |s| {
            s.status = Status::Running;
            s.pid = i64::from(state.pid);
            s.started_at = state
                .started_at
                .clone()
                .unwrap_or_else(berth_core::timefmt::now_rfc3339);
            s.finished_at = String::new();
            s.exit_code = 0;
            s.error = String::new();
            s.oom_killed = false;
            s.has_been_started = true;
            s.manually_stopped = false;
            s.boot_id = boot;
            if s.health.is_some() {
                s.health = Some(berth_api::types::inspect::Health {
                    status: "starting".into(),
                    ..Default::default()
                });
            }
        })?;
        lap("recorded", &mut steps);
        tracing::debug!(id = %c.id, steps = ?steps, "container started");
        self.emit_container(c, "start", &[]);
        self.spawn_monitor(c.clone(), h);
        self.spawn_health(c.clone());
        Ok(())
    }
}
