//! `docker stop`, `kill`, `restart`, `pause`, `unpause`.

use std::sync::Arc;
use std::time::Duration;

use berth_core::{Error, Result};
use berth_runtime::spec::signal::parse_signal;

use super::{Container, Status};
use crate::Engine;

/// Docker's default stop timeout.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

fn parse_sig(s: &str) -> Result<i32> {
    parse_signal(s).map_err(|e| Error::invalid(e.to_string()))
}

impl Engine {
    /// Wait until the container has exited at least once more than `exits`.
    async fn wait_exit(&self, c: &Container, exits: u64, limit: Duration) -> bool {
        let mut rx = c.watch();
        let done = |t: &super::Tick| t.exits > exits || t.removed;
        tokio::time::timeout(limit, async {
            loop {
                if done(&rx.borrow_and_update()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }

    /// `POST /containers/{id}/stop`.
    pub async fn stop_container(
        self: &Arc<Self>,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.container(key)?;
        let _op = c.op.lock().await;
        let st = c.status();
        if st == Status::Restarting {
            self.set_state(&c, |s| {
                s.status = Status::Exited;
                s.manually_stopped = true;
            })?;
            return Ok(());
        }
        if !st.is_alive() {
            return Err(Error::not_modified(format!(
                "container {} is already stopped",
                c.id
            )));
        }
        self.stop_locked(&c, signal, timeout).await
    }

    /// Stop with `op` held: the stop signal, then SIGKILL after the timeout.
    pub(crate) async fn stop_locked(
        &self,
        c: &Arc<Container>,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let rec = c.config();
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_sig(&s)?,
            None if !rec.config.stop_signal.is_empty() => parse_sig(&rec.config.stop_signal)?,
            None => libc::SIGTERM,
        };
        let secs = timeout
            .or(rec.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        self.set_state(c, |s| s.manually_stopped = true)?;
        let exits = c.state().exits;
        let h = self.shim(c);
        if c.status() == Status::Paused {
            let _ = h.resume().await;
        }
        if secs != 0 {
            let _ = h.kill(None, sig).await;
            self.emit_container(c, "kill", &[("signal", sig.to_string())]);
            let limit = if secs < 0 {
                Duration::from_secs(u64::MAX / 4)
            } else {
                Duration::from_secs(secs as u64)
            };
            if self.wait_exit(c, exits, limit).await {
                self.emit_container(c, "stop", &[]);
                return Ok(());
            }
        }
        let _ = h.kill(None, libc::SIGKILL).await;
        self.emit_container(c, "kill", &[("signal", libc::SIGKILL.to_string())]);
        if !self.wait_exit(c, exits, Duration::from_secs(30)).await {
            return Err(Error::internal(format!(
                "container {} did not exit after SIGKILL",
                c.id
            )));
        }
        self.emit_container(c, "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill_container(&self, key: &str, signal: &str) -> Result<()> {
        let c = self.container(key)?;
        let sig = if signal.is_empty() {
            libc::SIGKILL
        } else {
            parse_sig(signal)?
        };
        c.status().check_kill(&c.id)?;
        if c.status() == Status::Restarting {
            self.set_state(&c, |s| {
                s.status = Status::Exited;
                s.manually_stopped = true;
            })?;
            return Ok(());
        }
        if sig == libc::SIGKILL || sig == libc::SIGTERM || sig == libc::SIGINT {
            // Docker treats a kill like a stop for restart policies? No: only `stop`
            // marks manual stops; a killed `always` container is restarted.
        }
        let exits = c.state().exits;
        self.shim(&c).kill(None, sig).await?;
        self.emit_container(&c, "kill", &[("signal", sig.to_string())]);
        if sig == libc::SIGKILL {
            // Docker's kill with SIGKILL returns once the container has exited
            // (clients inspect or remove right after it).
            self.wait_exit(&c, exits, Duration::from_secs(10)).await;
        }
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart_container(
        self: &Arc<Self>,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.container(key)?;
        let _op = c.op.lock().await;
        if c.status().is_alive() {
            self.stop_locked(&c, signal, timeout).await?;
        }
        if c.status() == Status::Restarting {
            self.set_state(&c, |s| s.status = Status::Exited)?;
        }
        self.start_locked(&c).await?;
        self.emit_container(&c, "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause`.
    pub async fn pause_container(&self, key: &str) -> Result<()> {
        let c = self.container(key)?;
        let _op = c.op.lock().await;
        c.status().check_pause(&c.id)?;
        self.shim(&c).pause().await?;
        self.set_state(&c, |s| s.status = Status::Paused)?;
        self.emit_container(&c, "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause_container(&self, key: &str) -> Result<()> {
        let c = self.container(key)?;
        let _op = c.op.lock().await;
        c.status().check_unpause(&c.id)?;
        self.shim(&c).resume().await?;
        self.set_state(&c, |s| s.status = Status::Running)?;
        self.emit_container(&c, "unpause", &[]);
        Ok(())
    }
}
