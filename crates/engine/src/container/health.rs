//! Health checks: a probe is an exec inside the container, run every interval;
//! `retries` consecutive failures after the start period make it `unhealthy`.
//! Status changes are published as `health_status: <status>` events.

use std::sync::Arc;
use std::time::Duration;

use berth_api::types::exec::ExecConfig;
use berth_api::types::inspect::{Health, HealthcheckResult};
use berth_runtime::proto::ExecReq;

use super::{Container, Status};
use crate::Engine;

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Probe output kept per result.
const MAX_OUTPUT: usize = 4096;
/// Results kept in `State.Health.Log`.
const MAX_LOG: usize = 5;

fn ns(d: i64, default: Duration) -> Duration {
    if d > 0 {
        Duration::from_nanos(d as u64)
    } else {
        default
    }
}

impl Engine {
    /// Start the health-check loop of a container that has one.
    pub fn spawn_health(self: &Arc<Self>, c: Arc<Container>) {
        let rec = c.config();
        let Some(hc) = rec.config.healthcheck.clone() else {
            return;
        };
        let test = hc.test.clone().unwrap_or_default();
        let cmd: Vec<String> = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => {
                let mut sh = rec
                    .config
                    .shell
                    .clone()
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                sh.push(test[1..].join(" "));
                sh
            }
            _ => return,
        };
        if cmd.is_empty() {
            return;
        }
        let _ = self.set_state(&c, |s| {
            s.health = Some(Health {
                status: "starting".into(),
                ..Default::default()
            })
        });
        let interval = ns(hc.interval, DEFAULT_INTERVAL);
        let timeout = ns(hc.timeout, DEFAULT_TIMEOUT);
        let start_interval = ns(hc.start_interval, DEFAULT_START_INTERVAL);
        let start_period = Duration::from_nanos(hc.start_period.max(0) as u64);
        let retries = if hc.retries > 0 {
            hc.retries
        } else {
            DEFAULT_RETRIES
        };
        let engine = self.clone();
        let started = c.state().started_at.clone();
        tokio::spawn(async move {
            let t0 = std::time::Instant::now();
            loop {
                let in_start = t0.elapsed() < start_period;
                tokio::time::sleep(if in_start && hc.start_interval > 0 {
                    start_interval
                } else {
                    interval
                })
                .await;
                let st = c.state();
                if st.status != Status::Running || st.started_at != started {
                    return;
                }
                let result = engine.probe(&c, &cmd, timeout).await;
                let in_start = t0.elapsed() < start_period;
                let mut changed = None;
                let _ = engine.set_state(&c, |s| {
                    let h = s.health.get_or_insert_with(Health::default);
                    let ok = result.exit_code == 0;
                    if ok {
                        h.failing_streak = 0;
                        if h.status != "healthy" {
                            h.status = "healthy".into();
                            changed = Some("healthy");
                        }
                    } else if !in_start {
                        h.failing_streak += 1;
                        if h.failing_streak >= retries && h.status != "unhealthy" {
                            h.status = "unhealthy".into();
                            changed = Some("unhealthy");
                        }
                    }
                    h.log.push(result.clone());
                    if h.log.len() > MAX_LOG {
                        h.log.remove(0);
                    }
                });
                if let Some(s) = changed {
                    engine.emit_container(&c, &format!("health_status: {s}"), &[]);
                }
            }
        });
    }

    async fn probe(&self, c: &Container, cmd: &[String], timeout: Duration) -> HealthcheckResult {
        let start = berth_core::timefmt::now_rfc3339();
        let fail = |msg: String| HealthcheckResult {
            start: start.clone(),
            end: berth_core::timefmt::now_rfc3339(),
            exit_code: -1,
            output: msg,
        };
        let rec = c.config();
        let cfg = ExecConfig {
            cmd: Some(cmd.to_vec()),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let process = match self.exec_process_for(&rec, &cfg) {
            Ok(p) => p,
            Err(e) => return fail(e.to_string()),
        };
        let id = format!("health-{}", berth_core::id::generate());
        let h = self.shim(c);
        let run = async {
            let (_, attach) = h
                .exec(ExecReq {
                    exec_id: id.clone(),
                    process,
                    stdin: false,
                    attach: true,
                })
                .await?;
            let mut out = Vec::new();
            if let Some(mut a) = attach {
                while let Some((_, data)) = a.output.next().await? {
                    if out.len() < MAX_OUTPUT {
                        out.extend_from_slice(&data[..data.len().min(MAX_OUTPUT - out.len())]);
                    }
                }
            }
            let exit = h.wait_exec(&id).await?;
            Ok::<_, berth_runtime::RuntimeError>((exit.code, out))
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok((code, out))) => HealthcheckResult {
                start,
                end: berth_core::timefmt::now_rfc3339(),
                exit_code: i64::from(code),
                output: String::from_utf8_lossy(&out).into_owned(),
            },
            Ok(Err(e)) => fail(e.to_string()),
            Err(_) => {
                let _ = h.kill(Some(&id), libc::SIGKILL).await;
                fail(format!("Health check exceeded timeout ({timeout:?})"))
            }
        }
    }
}
