//! youki's libcontainer, called in-process. The shim is single-threaded, so
//! libcontainer's raw clone3 children inherit no foreign locks.
//!
//! libcontainer reads a private copy of the bundle's spec (`<shim-dir>/config.json`), in
//! which the seccomp profile is replaced by [`super::seccomp`]'s precompiled filter
//! and executor; the daemon's bundle is never rewritten.

use std::path::{Path, PathBuf};

use anyhow::Context;
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompArgBuilder, LinuxSeccompOperator, Process, Spec,
};
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use super::seccomp::{self, Prepared, SeccompExecutor};
use super::{Backend, ChildStdio, RuntimeCtx};

/// libcontainer backend.
pub struct Youki {
    ctx: RuntimeCtx,
    /// Where compiled seccomp programs are cached.
    cache: PathBuf,
    /// The container's filter, also loaded into every exec'd process.
    seccomp: Option<Prepared>,
    /// The container's cgroup (relative to each hierarchy), when deleting it needs
    /// nothing of libcontainer's (no hooks): see [`Youki::delete`].
    plain_cgroup: Option<PathBuf>,
}

impl Youki {
    /// A backend for `ctx`; compiled seccomp filters are cached in `cache`.
    pub fn new(ctx: RuntimeCtx, cache: PathBuf) -> Youki {
        Youki {
            ctx,
            cache,
            seccomp: None,
            plain_cgroup: None,
        }
    }

    fn builder(
        &self,
        stdio: Option<ChildStdio>,
        console: Option<&Path>,
    ) -> anyhow::Result<ContainerBuilder> {
        std::fs::create_dir_all(&self.ctx.root)
            .with_context(|| format!("create {}", self.ctx.root.display()))?;
        let mut b = ContainerBuilder::new(self.ctx.id.clone(), SyscallType::default())
            .with_root_path(&self.ctx.root)?
            .with_console_socket(console.map(|p| self.ctx.dir.join(p)));
        if let Some(s) = stdio {
            b = b
                .with_stdin(s.stdin)
                .with_stdout(s.stdout)
                .with_stderr(s.stderr);
        }
        Ok(b)
    }

    fn load(&self) -> anyhow::Result<Container> {
        Container::load(self.ctx.root.join(&self.ctx.id)).context("load container state")
    }

    /// Write the spec libcontainer runs (see the module doc) and return its bundle
    /// and the executor for the init process.
    fn private_bundle(&mut self) -> anyhow::Result<(PathBuf, Option<SeccompExecutor>)> {
        let src = self.ctx.bundle.join("config.json");
        let mut spec = Spec::load(&src).with_context(|| format!("read {}", src.display()))?;
        if let Some(root) = spec.root_mut().as_mut()
            && root.path().is_relative()
        {
            root.set_path(self.ctx.bundle.join(root.path()));
        }
        self.plain_cgroup = match (spec.hooks(), spec.linux()) {
            (None, Some(l)) if l.intel_rdt().is_none() => l
                .cgroups_path()
                .as_ref()
                .filter(|p| p.is_absolute())
                .map(|p| p.strip_prefix("/").unwrap_or(p).to_path_buf()),
            _ => None,
        };
        let profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        let mut executor = None;
        match profile {
            Some(p) if seccomp::supported(&p) => {
                let prepared = Prepared::new(&p, &self.cache)?;
                if let Some(l) = spec.linux_mut().as_mut() {
                    l.set_seccomp(None);
                }
                if let Some(proc) = spec.process_mut().as_mut() {
                    executor = Some(widen(&prepared, proc));
                }
                self.seccomp = Some(prepared);
            }
            Some(p) => {
                if let Some(l) = spec.linux_mut().as_mut() {
                    l.set_seccomp(Some(swap_masked_eq(p)));
                }
            }
            None => {}
        }
        // The shim's own directory is the bundle (one file fewer to create).
        let dir = self.ctx.dir.clone();
        spec.save(dir.join("config.json"))
            .with_context(|| format!("write {}", dir.display()))?;
        Ok((dir, executor))
    }
}

/// Widen `proc`'s capabilities for `prepared`'s executor.
fn widen(prepared: &Prepared, proc: &mut Process) -> SeccompExecutor {
    let nnp = proc.no_new_privileges() == Some(true);
    let mut caps = proc.capabilities().clone();
    let e = prepared.widen(caps.as_mut(), nnp);
    proc.set_capabilities(caps);
    e
}

impl Backend for Youki {
    fn create(&mut self, stdio: Option<ChildStdio>, console: Option<&Path>) -> anyhow::Result<i32> {
        let (bundle, executor) = self.private_bundle()?;
        let b = self.builder(stdio, console)?;
        let b = match executor {
            Some(e) => b.with_executor(e),
            None => b.with_executor(DefaultExecutor {}),
        };
        let c = b
            .validate_id()?
            .as_init(&bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()?;
        c.pid()
            .map(|p| p.as_raw())
            .context("container has no pid after create")
    }

    fn start(&mut self) -> anyhow::Result<()> {
        Ok(self.load()?.start()?)
    }

    fn exec(
        &mut self,
        process: &Path,
        stdio: Option<ChildStdio>,
        console: Option<&Path>,
    ) -> anyhow::Result<i32> {
        let mut b = self.builder(stdio, console)?;
        // libcontainer 0.7 gives exec'd processes no seccomp profile; ours loads the
        // container's, as runc does.
        if let Some(prepared) = &self.seccomp {
            let file = self.ctx.dir.join(process);
            let mut proc: Process =
                serde_json::from_slice(&std::fs::read(&file)?).context("read exec process")?;
            let e = widen(prepared, &mut proc);
            std::fs::write(&file, serde_json::to_vec(&proc)?)?;
            b = b.with_executor(e);
        }
        let pid = b
            .as_tenant()
            .with_detach(true)
            .with_process(Some(self.ctx.dir.join(process)))
            .build()?;
        Ok(pid.as_raw())
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        Ok(self.load()?.pause()?)
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        Ok(self.load()?.resume()?)
    }

    fn delete(&mut self, force: bool) -> anyhow::Result<()> {
        // The shim calls this once the init has been reaped. Without hooks, all
        // libcontainer would do is remove the cgroup and its state directory; its
        // cgroup manager costs ~1.5 ms of procfs parsing on every `docker run --rm`.
        let state = self.ctx.root.join(&self.ctx.id);
        if let Some(rel) = &self.plain_cgroup
            && state.exists()
        {
            crate::cgroup::remove_leaf(rel)?;
            return std::fs::remove_dir_all(&state)
                .with_context(|| format!("remove {}", state.display()));
        }
        match self.load() {
            Ok(mut c) => Ok(c.delete(force)?),
            // Never created (or already deleted): nothing of libcontainer's to remove.
            Err(_) => Ok(()),
        }
    }
}

/// libcontainer 0.7 reads `SCMP_CMP_MASKED_EQ` as `(arg & valueTwo) == value`, while
/// runc and Docker's profiles mean `(arg & value) == valueTwo`: swap the two for a
/// profile libcontainer compiles itself.
fn swap_masked_eq(mut p: LinuxSeccomp) -> LinuxSeccomp {
    let mut calls = p.syscalls().clone().unwrap_or_default();
    for call in &mut calls {
        let mut args = call.args().clone().unwrap_or_default();
        for a in &mut args {
            if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq
                && let Ok(swapped) = LinuxSeccompArgBuilder::default()
                    .index(a.index())
                    .op(a.op())
                    .value(a.value_two().unwrap_or(0))
                    .value_two(a.value())
                    .build()
            {
                *a = swapped;
            }
        }
        if call.args().is_some() {
            call.set_args(Some(args));
        }
    }
    if p.syscalls().is_some() {
        p.set_syscalls(Some(calls));
    }
    p
}
