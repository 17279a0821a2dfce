//! The `runc` binary as a second runtime. runc exits after each command; the
//! container's processes are re-parented to the shim (a child subreaper).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::{Backend, ChildStdio, RuntimeCtx};

/// runc backend.
pub struct Runc {
    ctx: RuntimeCtx,
    bin: PathBuf,
    execs: u32,
}

impl Runc {
    /// A backend for `ctx` using `bin`.
    pub fn new(ctx: RuntimeCtx, bin: PathBuf) -> Runc {
        Runc { ctx, bin, execs: 0 }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(&self.ctx.dir)
            .arg("--root")
            .arg(&self.ctx.root)
            .args(["--log", "runc.log", "--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn run(&self, mut c: Command, what: &str) -> anyhow::Result<()> {
        let status = c
            .status()
            .with_context(|| format!("run {}", self.bin.display()))?;
        if !status.success() {
            bail!(
                "runc {what}: {}",
                self.last_error()
                    .unwrap_or_else(|| format!("exit {status}"))
            );
        }
        Ok(())
    }

    /// The last error message runc logged.
    fn last_error(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.ctx.dir.join("runc.log")).ok()?;
        log.lines().rev().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["level"] == "error").then(|| v["msg"].as_str().unwrap_or_default().to_string())
        })
    }

    /// runc changes into the bundle before dialing the console socket, so a relative
    /// path would miss; `/proc/<shim>/cwd/<name>` is absolute and always short.
    fn console_path(sock: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/cwd", std::process::id())).join(sock)
    }

    fn with_stdio(c: &mut Command, stdio: Option<ChildStdio>) {
        if let Some(s) = stdio {
            c.stdin(Stdio::from(s.stdin))
                .stdout(Stdio::from(s.stdout))
                .stderr(Stdio::from(s.stderr));
        }
    }

    fn read_pid(&self, file: &str) -> anyhow::Result<i32> {
        let s = std::fs::read_to_string(self.ctx.dir.join(file))
            .with_context(|| format!("read {file}"))?;
        let _ = std::fs::remove_file(self.ctx.dir.join(file));
        s.trim()
            .parse()
            .with_context(|| format!("bad pid in {file}"))
    }
}

impl Backend for Runc {
    fn create(&mut self, stdio: Option<ChildStdio>, console: Option<&Path>) -> anyhow::Result<i32> {
        std::fs::create_dir_all(&self.ctx.root)?;
        let mut c = self.cmd();
        c.arg("create")
            .arg("--bundle")
            .arg(&self.ctx.bundle)
            .args(["--pid-file", "init.pid"]);
        if let Some(sock) = console {
            c.arg("--console-socket").arg(Self::console_path(sock));
        }
        c.arg(&self.ctx.id);
        // runc passes its own stdio to the container when there is no terminal.
        Self::with_stdio(&mut c, stdio);
        let status = c.status().context("run runc create")?;
        if !status.success() {
            bail!(
                "runc create: {}",
                self.last_error()
                    .unwrap_or_else(|| format!("exit {status}"))
            );
        }
        self.read_pid("init.pid")
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let mut c = self.cmd();
        c.arg("start").arg(&self.ctx.id);
        self.run(c, "start")
    }

    fn exec(
        &mut self,
        process: &Path,
        stdio: Option<ChildStdio>,
        console: Option<&Path>,
    ) -> anyhow::Result<i32> {
        self.execs += 1;
        let pidfile = format!("exec-{}.pid", self.execs);
        let mut c = self.cmd();
        c.args(["exec", "--detach", "--pid-file", &pidfile, "--process"])
            .arg(process);
        if let Some(sock) = console {
            c.arg("--console-socket").arg(Self::console_path(sock));
        }
        c.arg(&self.ctx.id);
        Self::with_stdio(&mut c, stdio);
        let status = c.status().context("run runc exec")?;
        if !status.success() {
            bail!(
                "runc exec: {}",
                self.last_error()
                    .unwrap_or_else(|| format!("exit {status}"))
            );
        }
        self.read_pid(&pidfile)
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        let mut c = self.cmd();
        c.arg("pause").arg(&self.ctx.id);
        self.run(c, "pause")
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        let mut c = self.cmd();
        c.arg("resume").arg(&self.ctx.id);
        self.run(c, "resume")
    }

    fn delete(&mut self, force: bool) -> anyhow::Result<()> {
        if !self.ctx.root.join(&self.ctx.id).exists() {
            return Ok(());
        }
        let mut c = self.cmd();
        c.arg("delete");
        if force {
            c.arg("--force");
        }
        c.arg(&self.ctx.id);
        self.run(c, "delete")
    }
}
