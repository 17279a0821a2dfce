//! youki's libcontainer, called in-process. The shim is single-threaded, so
//! libcontainer's raw clone3 children inherit no foreign locks.

use std::path::Path;

use anyhow::Context;
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use super::{Backend, ChildStdio, RuntimeCtx};

/// libcontainer backend.
pub struct Youki {
    ctx: RuntimeCtx,
}

impl Youki {
    /// A backend for `ctx`.
    pub fn new(ctx: RuntimeCtx) -> Youki {
        Youki { ctx }
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
}

impl Backend for Youki {
    fn create(&mut self, stdio: Option<ChildStdio>, console: Option<&Path>) -> anyhow::Result<i32> {
        fix_masked_eq(&self.ctx.bundle.join("config.json"))?;
        let c = self
            .builder(stdio, console)?
            .validate_id()?
            .as_init(&self.ctx.bundle)
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
        let pid = self
            .builder(stdio, console)?
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
        match self.load() {
            Ok(mut c) => Ok(c.delete(force)?),
            // Never created (or already deleted): nothing of libcontainer's to remove.
            Err(_) => Ok(()),
        }
    }
}

/// libcontainer 0.7 reads `SCMP_CMP_MASKED_EQ` as `(arg & valueTwo) == value`, while
/// runc and Docker's profiles mean `(arg & value) == valueTwo`. Swap the two in the
/// bundle before libcontainer reads it, once (marked by an annotation).
fn fix_masked_eq(config: &Path) -> anyhow::Result<()> {
    const MARK: &str = "berth.seccomp.masked-eq-swapped";
    let raw = std::fs::read(config).with_context(|| format!("read {}", config.display()))?;
    let mut v: serde_json::Value = serde_json::from_slice(&raw)?;
    if v.pointer(&format!("/annotations/{MARK}")).is_some() {
        return Ok(());
    }
    let mut changed = false;
    if let Some(calls) = v
        .pointer_mut("/linux/seccomp/syscalls")
        .and_then(|s| s.as_array_mut())
    {
        for call in calls {
            for arg in call
                .get_mut("args")
                .and_then(|a| a.as_array_mut())
                .into_iter()
                .flatten()
            {
                if arg.get("op").and_then(|o| o.as_str()) == Some("SCMP_CMP_MASKED_EQ") {
                    let value = arg.get("value").cloned().unwrap_or(serde_json::json!(0));
                    let two = arg.get("valueTwo").cloned().unwrap_or(serde_json::json!(0));
                    arg["value"] = two;
                    arg["valueTwo"] = value;
                    changed = true;
                }
            }
        }
    }
    if changed {
        if let Some(obj) = v.as_object_mut() {
            let ann = obj
                .entry("annotations")
                .or_insert_with(|| serde_json::json!({}));
            ann[MARK] = serde_json::json!("true");
        }
        berth_core::fsutil::atomic_write(config, &serde_json::to_vec(&v)?)?;
    }
    Ok(())
}
