//! Watching a running container: when its shim reports the exit, clean up the
//! runtime side first (shim, root filesystem, network), then publish the exited
//! state, then apply `--rm` or the restart policy.
//!
//! Restart policies follow Docker: `always`, `unless-stopped` (not after a
//! manual stop), `on-failure[:N]` (non-zero exits, at most N restarts), with a
//! delay doubling from 100 ms up to 1 minute, reset after 10 s of running.

use std::sync::Arc;
use std::time::Duration;

use berth_runtime::client::ShimHandle;
use berth_runtime::proto::ExitStatus;

use super::{Container, Status};
use crate::Engine;

/// Restarts back off up to this delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Should the policy bring the container back after this exit?
pub fn should_restart(
    policy: &str,
    max_retries: i64,
    exit_code: i64,
    restarts: i64,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy {
        "always" | "unless-stopped" => true,
        "on-failure" => exit_code != 0 && (max_retries == 0 || restarts < max_retries),
        _ => false,
    }
}

/// Delay before restart number `n` (0-based), Docker-style.
pub fn backoff(n: i64) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << n.clamp(0, 20));
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

impl Engine {
    /// Watch `c` until its process exits, then handle the exit.
    pub fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>, h: ShimHandle) {
        let engine = self.clone();
        tokio::spawn(async move {
            let exit = match h.wait().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(id = %c.id, "lost the shim: {e}");
                    ExitStatus {
                        code: 255,
                        signal: None,
                        oom_killed: false,
                        finished_at: berth_core::timefmt::now_rfc3339(),
                        error: Some(format!("shim lost: {e}")),
                    }
                }
            };
            engine.handle_exit(&c, &h, exit).await;
        });
    }

    /// Record an exit and apply `--rm` / the restart policy.
    pub async fn handle_exit(
        self: &Arc<Self>,
        c: &Arc<Container>,
        h: &ShimHandle,
        exit: ExitStatus,
    ) {
        let _ = h.delete(true).await;
        self.unmount_rootfs(c).await;
        self.release_network(c).await;
        self.unmount_mounts(c).await;
        let started = c.state().started_at.clone();
        let ran_for = berth_core::timefmt::parse_rfc3339(&started)
            .map(|t| (chrono::Utc::now() - t).num_seconds())
            .unwrap_or(0);
        let st = match self.set_state(c, |s| {
            s.status = Status::Exited;
            s.pid = 0;
            s.exit_code = i64::from(exit.code);
            s.oom_killed = exit.oom_killed;
            s.finished_at = exit.finished_at.clone();
            s.error = exit.error.clone().unwrap_or_default();
            s.exits += 1;
            if let Some(h) = s.health.as_mut() {
                h.status = "unhealthy".into();
            }
        }) {
            Ok(st) => st,
            Err(e) => {
                tracing::error!(id = %c.id, "cannot record exit: {e}");
                c.state()
            }
        };
        if exit.oom_killed {
            self.emit_container(c, "oom", &[]);
        }
        self.emit_container(c, "die", &[("exitCode", exit.code.to_string())]);

        let rec = c.config();
        if rec.host_config.auto_remove {
            let engine = self.clone();
            let c = c.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.remove_container(&c.id, true, true, false).await {
                    tracing::warn!(id = %c.id, "auto-remove failed: {e}");
                }
            });
            return;
        }
        let rp = &rec.host_config.restart_policy;
        let count = if ran_for >= 10 { 0 } else { st.restart_count };
        if should_restart(
            &rp.name,
            rp.maximum_retry_count,
            st.exit_code,
            st.restart_count,
            st.manually_stopped,
        ) {
            let _ = self.set_state(c, |s| s.status = Status::Restarting);
            let delay = backoff(count);
            let engine = self.clone();
            let c = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _op = c.op.lock().await;
                // A stop or removal during the delay cancels the restart.
                if c.status() != Status::Restarting || c.state().manually_stopped {
                    return;
                }
                let _ = engine.set_state(&c, |s| s.restart_count += 1);
                if let Err(e) = engine.start_locked(&c).await {
                    tracing::warn!(id = %c.id, "restart failed: {e}");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_like_docker() {
        assert!(should_restart("always", 0, 0, 5, false));
        assert!(!should_restart("always", 0, 0, 5, true));
        assert!(should_restart("on-failure", 3, 1, 2, false));
        assert!(!should_restart("on-failure", 3, 1, 3, false));
        assert!(!should_restart("on-failure", 0, 0, 0, false));
        assert!(!should_restart("no", 0, 1, 0, false));
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
