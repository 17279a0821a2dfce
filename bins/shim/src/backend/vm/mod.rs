//! The VM backend (`--isolation=hyperv`): each container in its own small VM.
//!
//! The shim's protocol, stdio, logs and reaping stay as they are; only the
//! processes differ. The container's "init" is a supervisor process ([`supervisor`])
//! that owns the VMM and relays to the guest agent; each exec is a relay process
//! ([`relay`]) that talks to the guest through the supervisor's `vm.sock`. Both are
//! children of the shim and exit with their guest process's status, so kill, wait,
//! attach, exec and restart work through the existing code paths. Pause and resume
//! freeze the container's cgroup, where the supervisor and the VMM live.
//!
//! Files in the shim directory: `vm.sock`, `qemu.pid`, `qemu.log` (the VMM's
//! output), `console.log` (the guest's serial console), `vmfiles/` (placeholders
//! the shared single files are bound onto, in the VMM's mount namespace), and
//! `vm.error` (why the VM died, reported as the container's error).

mod io;
mod launch;
mod net;
mod relay;
mod supervisor;

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_runtime::vm::guest;
use berth_runtime::vm::proto::{Frame, Kind};
use nix::unistd::{ForkResult, fork};

use super::{Backend, ChildStdio, RuntimeCtx};
use io::HostIo;

/// The supervisor's socket (relative to the shim directory, the cwd of all of us).
pub const VM_SOCK: &str = "vm.sock";
/// Why the VM died, when it did.
pub const VM_ERROR: &str = "vm.error";

/// VM backend.
pub struct Vm {
    ctx: RuntimeCtx,
    supervisor: Option<i32>,
}

impl Vm {
    /// A backend for `ctx`.
    pub fn new(ctx: RuntimeCtx) -> Vm {
        Vm {
            ctx,
            supervisor: None,
        }
    }

    fn cgroup(&self) -> Option<String> {
        let raw = std::fs::read(self.ctx.bundle.join("config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
        v.pointer("/linux/cgroupsPath")
            .and_then(|p| p.as_str())
            .map(|s| s.trim_start_matches('/').to_string())
    }

    fn freeze(&self, on: bool) -> anyhow::Result<()> {
        let rel = self.cgroup().context("the container has no cgroup")?;
        let v1 = Path::new("/sys/fs/cgroup/freezer")
            .join(&rel)
            .join("freezer.state");
        let v2 = Path::new("/sys/fs/cgroup").join(&rel).join("cgroup.freeze");
        if v1.exists() {
            std::fs::write(&v1, if on { "FROZEN" } else { "THAWED" })?;
            // v1 freezing is asynchronous: wait until it settles.
            let end = Instant::now() + Duration::from_secs(5);
            let want = if on { "FROZEN" } else { "THAWED" };
            while std::fs::read_to_string(&v1).unwrap_or_default().trim() != want
                && Instant::now() < end
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(())
        } else if v2.exists() {
            Ok(std::fs::write(&v2, if on { "1" } else { "0" })?)
        } else {
            bail!("no freezer for cgroup {rel}")
        }
    }
}

/// Host side of the stdio: pipes as given, or a new PTY whose master goes to the
/// shim through `console` (as runc and youki hand theirs over).
fn host_io(stdio: Option<ChildStdio>, console: Option<&Path>) -> anyhow::Result<HostIo> {
    if let Some(s) = stdio {
        return Ok(HostIo::Pipes(s));
    }
    let sock = console.context("neither stdio nor a console socket")?;
    let pty = nix::pty::openpty(None, None)?;
    let conn = UnixStream::connect(sock).with_context(|| format!("connect {}", sock.display()))?;
    let fds = [pty.master.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(b"pty")];
    nix::sys::socket::sendmsg::<()>(
        conn.as_raw_fd(),
        &iov,
        &cmsg,
        nix::sys::socket::MsgFlags::empty(),
        None,
    )?;
    Ok(HostIo::Pty(pty.slave))
}

/// Fork `child`, which reports one line on the pipe; returns its pid and the line.
fn fork_with_report(child: impl FnOnce(OwnedFd), what: &str) -> anyhow::Result<(i32, String)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the shim is single-threaded, so the child may run arbitrary code.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(r);
            // Never unwind into the shim's own code in the child.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child(w)));
            std::process::exit(255)
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut line = String::new();
            BufReader::new(std::fs::File::from(r)).read_line(&mut line)?;
            let line = line.trim().to_string();
            if line.is_empty() {
                let _ = nix::sys::wait::waitpid(child, None);
                bail!("{what} died before reporting");
            }
            Ok((child.as_raw(), line))
        }
    }
}

impl Backend for Vm {
    fn create(&mut self, stdio: Option<ChildStdio>, console: Option<&Path>) -> anyhow::Result<i32> {
        let hio = host_io(stdio, console)?;
        let ctx = self.ctx.clone();
        let (pid, line) =
            fork_with_report(move |w| supervisor::run(&ctx, hio, w), "the VM supervisor")?;
        if let Some(e) = line.strip_prefix("error: ") {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            bail!("{e}");
        }
        self.supervisor = Some(pid);
        Ok(pid)
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let mut s = UnixStream::connect(VM_SOCK).context("connect to the VM supervisor")?;
        io::write_frame(&mut s, &Frame::new(Kind::Run, 0, Vec::new()))?;
        let mut r = io::FrameReader::default();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let f = io::read_frame(&mut s, &mut r, deadline, "the container to start")?;
            match f.kind {
                Kind::Started => return Ok(()),
                Kind::Error => bail!("{}", io::error_text(&f)),
                _ => {}
            }
        }
    }

    fn exec(
        &mut self,
        process: &Path,
        stdio: Option<ChildStdio>,
        console: Option<&Path>,
    ) -> anyhow::Result<i32> {
        let raw = std::fs::read(self.ctx.dir.join(process)).context("read exec process")?;
        let v: serde_json::Value = serde_json::from_slice(&raw)?;
        let hio = host_io(stdio, console)?;
        let p = guest::process(&v, hio.stdin_open())?;
        let (pid, line) = fork_with_report(move |w| relay::run(p, hio, w), "the exec relay")?;
        if let Some(e) = line.strip_prefix("error: ") {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            bail!("{e}");
        }
        Ok(pid)
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        self.freeze(true)
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        self.freeze(false)
    }

    fn delete(&mut self, _force: bool) -> anyhow::Result<()> {
        // The supervisor is dead (the shim killed and reaped it); the VMM gets
        // SIGKILL with it (PDEATHSIG) but may still be exiting. It must be gone
        // before its cgroup can be removed.
        if let Ok(s) = std::fs::read_to_string(self.ctx.dir.join("qemu.pid"))
            && let Ok(pid) = s.trim().parse::<i32>()
            && pid > 1
        {
            let alive = || {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                    st.rsplit(')')
                        .next()
                        .is_some_and(|r| !r.trim_start().starts_with('Z'))
                })
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.starts_with("qemu") {
                // SAFETY: kill takes no pointers; the comm check guards a recycled pid.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                let end = Instant::now() + Duration::from_secs(5);
                while alive() && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            // Re-parented to the shim (a subreaper) when the supervisor died first.
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
        // The shim removes the cgroup after a normal delete; after a failed create
        // nobody else does.
        if let Some(rel) = self.cgroup() {
            launch::remove_cgroup(&rel);
        }
        let _ = std::fs::remove_file(self.ctx.dir.join(VM_SOCK));
        Ok(())
    }

    fn exit_error(&self) -> Option<String> {
        std::fs::read_to_string(self.ctx.dir.join(VM_ERROR))
            .ok()
            .filter(|s| !s.is_empty())
    }
}
