//! The lifecycle half of the shim: start, kill, exec, reaping exits (with the exit
//! file and OOM check) and delete. The I/O half is in `server`.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use berth_runtime::proto::{self, AttachReq, ErrorKindWire, ExecReq, ExitStatus, Response, Status};

use crate::server::{ConnState, Proc, Shim, Target, err, line, ok};
use crate::stdio::ParentIo;
use crate::{cgroup, diag, stdio};

/// Exited execs remembered for `wait`.
const MAX_EXITED_EXECS: usize = 256;

impl Shim {
    pub(crate) fn start(&mut self) -> Response {
        if self.status != Status::Created {
            return err(
                ErrorKindWire::Conflict,
                format!("container {} is already started", self.cfg.id),
            );
        }
        let mark = crate::trace::mark(std::path::Path::new(berth_runtime::layout::SHIM_LOG));
        match self.backend.start() {
            Ok(()) => {
                self.status = Status::Running;
                self.started_at = Some(berth_core::timefmt::now_rfc3339());
                ok(())
            }
            Err(e) => err(
                ErrorKindWire::Internal,
                format!("{:#}", crate::with_detail(e, mark)),
            ),
        }
    }

    pub(crate) fn kill(&mut self, t: Target, signal: i32) -> Response {
        let paused = self.status == Status::Paused;
        let Some(p) = self.proc_ref(&t) else {
            return err(ErrorKindWire::NotFound, "No such exec instance");
        };
        if p.exit.is_some() || p.pid <= 0 {
            return err(
                ErrorKindWire::Conflict,
                format!("Container {} is not running", self.cfg.id),
            );
        }
        // SAFETY: kill has no memory effects; the pid is our unreaped child, so it cannot
        // have been recycled.
        if unsafe { libc::kill(p.pid, signal) } < 0 {
            return err(
                ErrorKindWire::Internal,
                format!("kill: {}", std::io::Error::last_os_error()),
            );
        }
        // A frozen task only dies when thawed; Docker unpauses on SIGKILL too.
        if paused && signal == libc::SIGKILL && t == Target::Init && self.backend.resume().is_ok() {
            self.status = Status::Running;
        }
        ok(())
    }

    pub(crate) fn exec(
        &mut self,
        req: ExecReq,
    ) -> Result<(Response, Option<(Target, AttachReq)>), Response> {
        if let Some(r) = self.not_running() {
            return Err(r);
        }
        if self.execs.contains_key(&req.exec_id) {
            return Err(err(
                ErrorKindWire::Conflict,
                format!("exec {} already exists", req.exec_id),
            ));
        }
        let tty = req
            .process
            .get("terminal")
            .and_then(|t| t.as_bool())
            .unwrap_or(false);
        self.exec_seq += 1;
        let n = self.exec_seq;
        let spec_file = PathBuf::from(format!("e-{n}.json"));
        let sock = PathBuf::from(format!("e-{n}.sock"));
        let mut run = || -> anyhow::Result<(i32, ParentIo)> {
            std::fs::write(&spec_file, serde_json::to_vec(&req.process)?)?;
            let res = if tty {
                let l = stdio::console_listener(&sock)?;
                let pid = self.backend.exec(&spec_file, None, Some(&sock))?;
                (pid, stdio::receive_pty(&l, &sock, req.stdin)?)
            } else {
                let (child, parent) = stdio::pipes(req.stdin)?;
                (self.backend.exec(&spec_file, Some(child), None)?, parent)
            };
            Ok(res)
        };
        let mark = crate::trace::mark(std::path::Path::new(berth_runtime::layout::SHIM_LOG));
        let r = run().map_err(|e| crate::with_detail(e, mark));
        let _ = std::fs::remove_file(&spec_file);
        let _ = std::fs::remove_file(&sock);
        crate::trim_heap();
        match r {
            Ok((pid, io)) => {
                self.execs
                    .insert(req.exec_id.clone(), Proc::new(pid, io, false));
                let attach = req.attach.then(|| {
                    let a = AttachReq {
                        exec_id: Some(req.exec_id.clone()),
                        stdin: req.stdin,
                        stdout: true,
                        stderr: true,
                    };
                    (Target::Exec(req.exec_id.clone()), a)
                });
                // A detached exec's output is read and dropped so it never blocks.
                Ok((ok(proto::ExecStarted { pid }), attach))
            }
            Err(e) => Err(err(ErrorKindWire::Internal, format!("{e:#}"))),
        }
    }

    /// Collect exited children (init, execs, and re-parented orphans).
    pub(crate) fn reap(&mut self) {
        let mut b = [0u8; 64];
        // SAFETY: draining the self-pipe into a stack buffer.
        while unsafe { libc::read(self.sig_r.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) } > 0 {}
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes one int we own.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            self.on_exit(pid, status);
        }
    }

    pub(crate) fn on_exit(&mut self, pid: i32, status: i32) {
        let (code, signal) = if libc::WIFSIGNALED(status) {
            (128 + libc::WTERMSIG(status), Some(libc::WTERMSIG(status)))
        } else {
            (libc::WEXITSTATUS(status), None)
        };
        let finished_at = berth_core::timefmt::now_rfc3339();
        if pid == self.init.pid && self.init.exit.is_none() {
            let oom_killed = self.cgroup.as_deref().is_some_and(cgroup::oom_killed);
            let e = ExitStatus {
                code,
                signal,
                oom_killed,
                finished_at,
                error: self.backend.exit_error(),
            };
            if let Err(err) = write_exit_file(&self.exit_path, &e) {
                diag!("write exit file: {err}");
            }
            self.init.exit = Some(e);
            self.status = Status::Stopped;
            self.answer_waiters(&Target::Init);
            return;
        }
        let id = self
            .execs
            .iter()
            .find(|(_, p)| p.pid == pid && p.exit.is_none())
            .map(|(k, _)| k.clone());
        if let Some(id) = id {
            if let Some(p) = self.execs.get_mut(&id) {
                p.exit = Some(ExitStatus {
                    code,
                    signal,
                    oom_killed: false,
                    finished_at,
                    error: None,
                });
            }
            self.answer_waiters(&Target::Exec(id.clone()));
            self.exited_order.push(id);
            while self.exited_order.len() > MAX_EXITED_EXECS {
                let old = self.exited_order.remove(0);
                if self.execs.get(&old).is_some_and(|p| p.io.outs.is_empty()) {
                    self.execs.remove(&old);
                }
            }
        }
    }

    pub(crate) fn answer_waiters(&mut self, t: &Target) {
        let Some(exit) = self.proc_ref(t).and_then(|p| p.exit.clone()) else {
            return;
        };
        let msg = line(&ok(exit));
        for c in &mut self.conns {
            if matches!(&c.state, ConnState::Waiting(w) if w == t) {
                c.out.extend_from_slice(&msg);
                c.state = ConnState::Closing;
            }
        }
    }

    pub(crate) fn delete(&mut self, i: usize, force: bool) -> Response {
        if self.init.exit.is_none() {
            if !force && self.status != Status::Created {
                return err(
                    ErrorKindWire::Conflict,
                    format!("cannot delete running container {}", self.cfg.id),
                );
            }
            if self.status == Status::Paused {
                let _ = self.backend.resume();
            }
            // SAFETY: kill and waitpid on our own unreaped child; `st` is a live int.
            unsafe {
                libc::kill(self.init.pid, libc::SIGKILL);
                let mut st = 0;
                if libc::waitpid(self.init.pid, &mut st, 0) == self.init.pid {
                    self.on_exit(self.init.pid, st);
                }
            }
        }
        let res = self.backend.delete(true);
        if let Some(cg) = &self.cgroup {
            let _l = cgroup::lock(&self.cfg.exec_root.join("cgroup.lock"), true);
            cgroup::remove_parents(cg);
        }
        if let Err(e) = res {
            return err(ErrorKindWire::Internal, format!("{e:#}"));
        }
        // Remove our directory, then answer synchronously and exit: once the client
        // has the answer, nothing of the shim is left.
        if let Ok(dir) = std::env::current_dir() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let c = &mut self.conns[i];
        c.out.extend_from_slice(&line(&ok(())));
        let _ = c.sock.set_nonblocking(false);
        let _ = c.sock.write_all(&c.out);
        std::process::exit(0);
    }
}

fn write_exit_file(path: &std::path::Path, e: &ExitStatus) -> anyhow::Result<()> {
    let data = serde_json::to_vec(e)?;
    berth_runtime::layout::replace_file(path, &data)?;
    Ok(())
}
