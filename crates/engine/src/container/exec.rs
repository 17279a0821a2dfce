//! `docker exec`: exec instances live in memory (as in Docker, they do not
//! survive a daemon restart); the process itself is started by the shim inside
//! the running container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_api::backend::container::{HijackedIo, StreamSession};
use berth_api::types::exec::{ExecConfig, ExecInspect, ExecProcessConfig, ExecStartConfig};
use berth_core::{Error, Result};
use berth_runtime::proto::ExecReq;
use berth_runtime::spec as rt;
use futures::FutureExt;

use super::attach::{parse_detach_keys, pump};
use super::spec::{Resolved, container_spec};
use crate::Engine;

/// One exec instance.
#[derive(Debug, Clone, Default)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

/// All exec instances.
#[derive(Debug, Default)]
pub struct Execs {
    map: Mutex<HashMap<String, ExecRecord>>,
}

impl Execs {
    fn get(&self, id: &str) -> Result<ExecRecord> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        if let Some(r) = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            f(r);
        }
    }
}

fn describe(cfg: &ExecConfig) -> String {
    cfg.cmd.clone().unwrap_or_default().join(" ")
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub async fn exec_create(&self, key: &str, cfg: ExecConfig) -> Result<String> {
        let c = self.container(key)?;
        c.status().check_exec(&c.id)?;
        if cfg.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(Error::invalid("No exec command specified"));
        }
        if !cfg.detach_keys.is_empty() {
            parse_detach_keys(&cfg.detach_keys)?;
        }
        let id = berth_core::id::generate();
        let rec = ExecRecord {
            id: id.clone(),
            container_id: c.id.clone(),
            config: cfg.clone(),
            ..Default::default()
        };
        self.execs
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), rec);
        c.exec_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id.clone());
        self.emit_container(
            &c,
            &format!("exec_create: {}", describe(&cfg)),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    /// Forget the execs of a removed container.
    pub fn drop_execs_of(&self, container_id: &str) {
        self.execs
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, r| r.container_id != container_id);
    }

    /// The OCI process for a health probe (no TTY).
    pub(crate) fn exec_process_for(
        &self,
        rec: &super::ConfigRecord,
        cfg: &ExecConfig,
    ) -> Result<serde_json::Value> {
        self.exec_process(rec, cfg, false)
    }

    /// The OCI process of an exec: the container's spec with the exec's args, env, user and cwd.
    fn exec_process(
        &self,
        rec: &super::ConfigRecord,
        cfg: &ExecConfig,
        tty: bool,
    ) -> Result<serde_json::Value> {
        let mut r = rec.clone();
        let mut env = r.config.env.take().unwrap_or_default();
        for e in cfg.env.iter().flatten() {
            let k = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(a, _)| a) != k);
            env.push(e.clone());
        }
        r.config.env = Some(env);
        if !cfg.user.is_empty() {
            r.config.user = cfg.user.clone();
        }
        if !cfg.working_dir.is_empty() {
            r.config.working_dir = cfg.working_dir.clone();
        }
        r.config.tty = tty;
        let mut args = cfg.cmd.clone().unwrap_or_default();
        r.path = args.remove(0);
        r.args = args;
        r.host_config.privileged = cfg.privileged || r.host_config.privileged;
        r.host_config.resources.init = None;
        let dir = self.container_dir(&rec.id);
        let join = |_: &str, _: &str| Ok(std::path::PathBuf::new());
        let spec = container_spec(
            &r,
            Resolved {
                rootfs: self.rootfs_dir(&rec.id),
                dir: &dir,
                mounts: Vec::new(),
                netns: None,
                init: None,
                join: &join,
            },
        )?;
        let built = rt::build(&spec)?;
        let process = built
            .spec
            .process()
            .clone()
            .ok_or_else(|| Error::internal("spec without process"))?;
        serde_json::to_value(process).map_err(|e| Error::internal(e.to_string()))
    }

    /// `POST /exec/{id}/start`: detached (`None`) or a session to pump.
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        start: ExecStartConfig,
    ) -> Result<Option<StreamSession>> {
        let ex = self.execs.get(id)?;
        if ex.started {
            return Err(Error::conflict(format!(
                "Error: Exec command {id} is already running"
            )));
        }
        let c = self.container(&ex.container_id)?;
        c.status().check_exec(&c.id)?;
        let rec = c.config();
        let tty = start.tty || ex.config.tty;
        let process = self.exec_process(&rec, &ex.config, tty)?;
        // As in Docker, the start request's Tty alone decides whether the output
        // is multiplexed: an exec created with a TTY but started with Tty=false
        // (docker-py's default) gets stdcopy frames.
        let raw_out = start.tty;
        let stdin = ex.config.attach_stdin && !start.detach;
        let detach_keys = parse_detach_keys(if ex.config.detach_keys.is_empty() {
            "ctrl-p,ctrl-q"
        } else {
            &ex.config.detach_keys
        })?;
        let req = ExecReq {
            exec_id: id.to_string(),
            process,
            stdin,
            attach: !start.detach,
        };
        self.execs.update(id, |r| {
            r.started = true;
            r.running = true;
        });
        let h = self.shim(&c);
        let what = describe(&ex.config);
        if start.detach {
            let (started, _) = h
                .exec(req)
                .await
                .inspect_err(|_| self.execs.update(id, |r| r.running = false))?;
            self.execs.update(id, |r| r.pid = i64::from(started.pid));
            self.emit_container(
                &c,
                &format!("exec_start: {what}"),
                &[("execID", id.to_string())],
            );
            let engine = self.clone();
            let (eid, cid) = (id.to_string(), c.id.clone());
            tokio::spawn(async move { engine.finish_exec(&cid, &eid).await });
            return Ok(None);
        }
        let engine = self.clone();
        let eid = id.to_string();
        let size = start.console_size.or(ex.config.console_size);
        let run = move |io: Box<dyn HijackedIo>| {
            async move {
                let (started, attach) = match h.exec(req).await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(exec = %eid, "exec failed: {e}");
                        engine.execs.update(&eid, |r| {
                            r.running = false;
                            r.exit_code = Some(126);
                        });
                        return;
                    }
                };
                engine
                    .execs
                    .update(&eid, |r| r.pid = i64::from(started.pid));
                if let Ok(c) = engine.container(&ex.container_id) {
                    engine.emit_container(
                        &c,
                        &format!("exec_start: {what}"),
                        &[("execID", eid.clone())],
                    );
                }
                if let (true, Some([hgt, wid])) = (tty, size) {
                    let _ = h.resize(Some(&eid), wid as u16, hgt as u16).await;
                }
                let cid = ex.container_id.clone();
                let (e2, id2) = (engine.clone(), eid.clone());
                let finish = async move { e2.finish_exec(&cid, &id2).await }.boxed();
                if let Some(a) = attach {
                    pump(io, a, raw_out, stdin, true, detach_keys, Some(finish)).await;
                } else {
                    finish.await;
                }
            }
            .boxed()
        };
        Ok(Some(StreamSession {
            tty: raw_out,
            run: Box::new(run),
        }))
    }

    async fn finish_exec(&self, container_id: &str, id: &str) {
        let Ok(c) = self.container(container_id) else {
            return;
        };
        let code = match self.shim(&c).wait_exec(id).await {
            Ok(x) => i64::from(x.code),
            Err(e) => {
                tracing::debug!(exec = %id, "exec wait: {e}");
                126
            }
        };
        self.execs.update(id, |r| {
            r.running = false;
            r.exit_code = Some(code);
        });
        self.emit_container(
            &c,
            "exec_die",
            &[("execID", id.to_string()), ("exitCode", code.to_string())],
        );
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, id: &str, height: u32, width: u32) -> Result<()> {
        let ex = self.execs.get(id)?;
        let c = self.container(&ex.container_id)?;
        self.shim(&c)
            .resize(
                Some(id),
                width.min(u16::MAX as u32) as u16,
                height.min(u16::MAX as u32) as u16,
            )
            .await?;
        Ok(())
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let ex = self.execs.get(id)?;
        let mut args = ex.config.cmd.clone().unwrap_or_default();
        let entrypoint = if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        };
        Ok(ExecInspect {
            can_remove: !ex.running,
            detach_keys: ex.config.detach_keys.clone(),
            id: ex.id.clone(),
            running: ex.running,
            exit_code: ex.exit_code,
            process_config: ExecProcessConfig {
                tty: ex.config.tty,
                entrypoint,
                arguments: args,
                privileged: ex.config.privileged,
                user: ex.config.user.clone(),
            },
            open_stdin: ex.config.attach_stdin,
            open_stderr: ex.config.attach_stderr,
            open_stdout: ex.config.attach_stdout,
            container_id: ex.container_id.clone(),
            pid: ex.pid,
        })
    }
}
