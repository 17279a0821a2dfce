//! The OCI runtimes a shim can drive, behind one small trait: youki's libcontainer
//! (linked in), the `runc` binary (for differential tests and as a fallback), and
//! [`vm`], which runs the container in its own VM (`--isolation=hyperv`).
//!
//! Both run with the shim as PR_SET_CHILD_SUBREAPER, so the container's init and exec'd
//! processes end up as the shim's children and the shim reaps their exit status.

pub mod runc;
pub mod seccomp;
pub mod vm;
pub mod youki;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The three stdio fds handed to a new process (for a TTY the runtime ignores them
/// and passes the PTY master through the console socket instead).
pub struct ChildStdio {
    /// stdin (read end or /dev/null).
    pub stdin: OwnedFd,
    /// stdout (write end).
    pub stdout: OwnedFd,
    /// stderr (write end).
    pub stderr: OwnedFd,
}

/// Where a runtime keeps state and finds the bundle.
#[derive(Debug, Clone)]
pub struct RuntimeCtx {
    /// Container id.
    pub id: String,
    /// OCI bundle directory.
    pub bundle: PathBuf,
    /// Runtime state root.
    pub root: PathBuf,
    /// The shim's own directory (absolute; also its cwd).
    pub dir: PathBuf,
}

/// An OCI runtime driven by the shim. Every call blocks; the shim is single-threaded.
pub trait Backend {
    /// Create the container (processes set up, user process not started). Returns
    /// the init's host pid. `console` is the console socket for a TTY.
    fn create(&mut self, stdio: Option<ChildStdio>, console: Option<&Path>) -> anyhow::Result<i32>;
    /// Start the user process.
    fn start(&mut self) -> anyhow::Result<()>;
    /// Run `process.json` inside the container; returns its host pid.
    fn exec(
        &mut self,
        process: &Path,
        stdio: Option<ChildStdio>,
        console: Option<&Path>,
    ) -> anyhow::Result<i32>;
    /// Freeze.
    fn pause(&mut self) -> anyhow::Result<()>;
    /// Thaw.
    fn resume(&mut self) -> anyhow::Result<()>;
    /// Remove the container's runtime state and cgroups.
    fn delete(&mut self, force: bool) -> anyhow::Result<()>;
    /// Why the init's exit was abnormal beyond its status (e.g. "the VM died"),
    /// recorded as the container's error. Process runtimes have nothing to add.
    fn exit_error(&self) -> Option<String> {
        None
    }
}
