//! Live restore: the recovery sequence run when berthd starts.
//!
//! 1. Load every container record (a record that fails to load is logged and skipped).
//! 2. Reboot check: containers that were running under another boot id are exited.
//! 3. Reconnect: for each container that was running, connect to its shim; if
//!    the shim is alive the container keeps running and a monitor is attached;
//!    if the shim is gone, its exit file gives the real exit code.
//! 4. Restart policies: `always`, and `unless-stopped` unless stopped by hand,
//!    bring stopped containers back.

use std::collections::HashMap;
use std::sync::Arc;

use berth_core::Result;
use berth_runtime::proto::{ExitStatus, Status as ShimStatus};

use super::record::{CONFIG_TABLE, STATE_TABLE};
use super::{ConfigRecord, Container, StateRecord, Status};
use crate::Engine;

fn lost(msg: &str) -> ExitStatus {
    ExitStatus {
        code: 255,
        signal: None,
        oom_killed: false,
        finished_at: berth_core::timefmt::now_rfc3339(),
        error: Some(msg.to_string()),
    }
}

impl Engine {
    /// Run the recovery sequence (see the module doc).
    pub async fn restore_containers(self: &Arc<Self>) -> Result<()> {
        let configs: Vec<(String, ConfigRecord)> = self.store.list(CONFIG_TABLE)?;
        let mut states: HashMap<String, StateRecord> =
            self.store.list(STATE_TABLE)?.into_iter().collect();
        for (id, rec) in configs {
            let st = states.remove(&id).unwrap_or_default();
            if let Err(e) = self.containers.reserve_name(&rec.name, &id) {
                tracing::error!(%id, "skipping container with a clashing name: {e}");
                continue;
            }
            self.containers.insert(Arc::new(Container::new(rec, st)));
        }
        // Volume reference counts live in memory: rebuild them from every record.
        let uses = self
            .containers
            .all()
            .iter()
            .map(|c| berth_volume::ContainerUse {
                container_id: c.id.clone(),
                mounts: c.with_config(|r| r.mount_requests.clone()),
                running: c.status().is_alive(),
            })
            .collect();
        self.volumes.restore(uses).await;
        let boot = crate::host::boot_id();
        let mut tasks = Vec::new();
        for c in self.containers.all() {
            let st = c.state();
            if !matches!(
                st.status,
                Status::Running | Status::Paused | Status::Restarting | Status::Removing
            ) {
                continue;
            }
            let engine = self.clone();
            let boot = boot.clone();
            tasks.push(tokio::spawn(async move {
                let h = engine.shim(&c);
                if st.boot_id != boot && !st.boot_id.is_empty() {
                    engine.handle_exit(&c, &h, lost("host rebooted")).await;
                    return;
                }
                match engine.shims.connect(&c.id).await {
                    Ok(h) => match h.state().await {
                        Ok(s) if s.status == ShimStatus::Stopped => {
                            let exit = s
                                .exit
                                .unwrap_or_else(|| lost("exited while berthd was down"));
                            engine.handle_exit(&c, &h, exit).await;
                        }
                        Ok(s) => {
                            let status = if s.status == ShimStatus::Paused {
                                Status::Paused
                            } else {
                                Status::Running
                            };
                            let _ = engine.set_state(&c, |x| {
                                x.status = status;
                                x.pid = i64::from(s.pid);
                            });
                            tracing::info!(id = %c.id, "reattached to running container");
                            engine.spawn_monitor(c.clone(), h);
                            engine.spawn_health(c);
                        }
                        Err(e) => {
                            engine
                                .handle_exit(&c, &h, lost(&format!("shim state: {e}")))
                                .await
                        }
                    },
                    Err(_) => {
                        let exit = h
                            .exit_status()
                            .unwrap_or_else(|| lost("container shim is gone"));
                        engine.handle_exit(&c, &h, exit).await;
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        // Networks: keep the sandboxes of live containers, sweep the rest.
        let live: std::collections::HashSet<String> = self
            .containers
            .all()
            .iter()
            .filter(|c| c.status().is_alive())
            .map(|c| c.id.clone())
            .collect();
        if let Err(e) = self.networks.restore(&|id| live.contains(id)).await {
            tracing::warn!("network restore: {e}");
        }
        // Restart policies for containers that are not running now.
        for c in self.containers.all() {
            let st = c.state();
            let policy = c.with_config(|r| r.host_config.restart_policy.name.clone());
            let wanted = match policy.as_str() {
                "always" => st.has_been_started,
                "unless-stopped" => st.has_been_started && !st.manually_stopped,
                _ => false,
            };
            if wanted && matches!(st.status, Status::Exited | Status::Created) {
                let engine = self.clone();
                tokio::spawn(async move {
                    let _op = c.op.lock().await;
                    if let Err(e) = engine.start_locked(&c).await {
                        tracing::warn!(id = %c.id, "restart at daemon start failed: {e}");
                    }
                });
            }
        }
        Ok(())
    }
}
