//! The exec-root layout shared by the daemon and the shims, and the shim's
//! configuration file.
//!
//! ```text
//! <exec-root>/
//!   shims/<id>/            one directory per container shim (the shim's cwd)
//!     shim.json            ShimConfig written by the daemon before spawning
//!     ctl.sock             the shim's control socket (protocol: crate::proto)
//!     shim.pid             the shim's pid
//!     exit.json            ExitStatus of the init process, written atomically
//!     shim.log             the shim's own diagnostics
//!     con.sock, e-N.sock   transient console sockets for TTY handoff
//!   runtime/youki/<id>/    libcontainer's state
//!   runtime/runc/<id>/     runc's state (--root)
//!   berth-init             the static init binary for `--init`
//!   cgroup.lock            record lock serialising cgroup parent creation and removal
//! ```
//!
//! Unix socket paths must stay under 108 bytes. With a 64-digit id the control socket
//! needs an exec root of at most 27 bytes (`/run/berth` is 10). Longer roots still
//! work: [`connect_path`] goes through `/proc/self/fd/N/` of the opened directory,
//! and the shim binds relative to its own cwd.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which OCI runtime a shim drives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// youki's libcontainer, linked into the shim.
    #[default]
    Youki,
    /// The `runc` binary.
    Runc,
    /// A VM per container (`--isolation=hyperv`): the shim boots it with the VMM
    /// named in `<bundle>/vm.json` (see [`crate::vm`]). Chosen by isolation, never
    /// by `--runtime`.
    Vm,
}

impl RuntimeKind {
    /// Directory name and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Youki => "youki",
            RuntimeKind::Runc => "runc",
            RuntimeKind::Vm => "vm",
        }
    }

    /// Parse Docker's `--runtime` value (`runc`, `youki`; `io.containerd.runc.v2` = runc).
    pub fn parse(s: &str) -> Option<RuntimeKind> {
        match s {
            "youki" | "" | "berth" => Some(RuntimeKind::Youki),
            "runc" | "io.containerd.runc.v2" => Some(RuntimeKind::Runc),
            _ => None,
        }
    }
}

/// Log drivers the shim writes itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogDriver {
    /// Docker's `json-file` format.
    #[default]
    #[serde(rename = "json-file")]
    JsonFile,
    /// berth's compact binary format (see [`crate::logs::local`]).
    #[serde(rename = "local")]
    Local,
    /// No log at all.
    #[serde(rename = "none")]
    None,
}

/// Log settings for one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// Driver.
    pub driver: LogDriver,
    /// The current log file (rotated files are `<path>.1` .. `<path>.<max_files-1>`).
    pub path: PathBuf,
    /// Rotate when the current file would exceed this many bytes; 0 disables rotation.
    pub max_size: u64,
    /// Files kept including the current one (≥ 1).
    pub max_files: u32,
}

impl LogConfig {
    /// Defaults: `json-file` rotates at 10 MiB keeping 3 files (Docker itself does not
    /// rotate json-file by default; unbounded logs are the top disk-full cause, so berth
    /// does); `local` uses Docker's local-driver defaults, 20 MiB × 5.
    pub fn with_defaults(driver: LogDriver, path: PathBuf) -> LogConfig {
        let (max_size, max_files) = match driver {
            LogDriver::Local => (20 << 20, 5),
            _ => (10 << 20, 3),
        };
        LogConfig {
            driver,
            path,
            max_size,
            max_files,
        }
    }
}

/// Everything a shim needs to know, written to `shim.json` by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShimConfig {
    /// Protocol version of the writer.
    pub v: u32,
    /// Container id.
    pub id: String,
    /// OCI bundle (holds `config.json`).
    pub bundle: PathBuf,
    /// The exec root.
    pub exec_root: PathBuf,
    /// Which runtime.
    pub runtime: RuntimeKind,
    /// The runc binary for [`RuntimeKind::Runc`] (default: `runc` on `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runc_path: Option<PathBuf>,
    /// The spec's `process.terminal`.
    pub tty: bool,
    /// Keep stdin open (`-i`); otherwise stdin is `/dev/null`.
    pub stdin: bool,
    /// Logging.
    pub log: LogConfig,
}

/// Paths under one exec root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// A layout rooted at `exec_root`.
    pub fn new(exec_root: impl Into<PathBuf>) -> Layout {
        Layout {
            root: exec_root.into(),
        }
    }
    /// The exec root.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Directory of all shim directories.
    pub fn shims_dir(&self) -> PathBuf {
        self.root.join(SHIMS_DIR)
    }
    /// Directory of one shim.
    pub fn shim_dir(&self, id: &str) -> PathBuf {
        self.shims_dir().join(id)
    }
    /// Its control socket.
    pub fn ctl_sock(&self, id: &str) -> PathBuf {
        self.shim_dir(id).join(CTL_SOCK)
    }
    /// Its exit file.
    pub fn exit_file(&self, id: &str) -> PathBuf {
        self.shim_dir(id).join(EXIT_FILE)
    }
    /// Its config file.
    pub fn config_file(&self, id: &str) -> PathBuf {
        self.shim_dir(id).join(CONFIG_FILE)
    }
    /// State root of a runtime.
    pub fn runtime_root(&self, kind: RuntimeKind) -> PathBuf {
        self.root.join("runtime").join(kind.as_str())
    }
    /// The static init binary.
    pub fn init_binary(&self) -> PathBuf {
        self.root.join("berth-init")
    }
    /// The cgroup lock file.
    pub fn cgroup_lock(&self) -> PathBuf {
        self.root.join("cgroup.lock")
    }
}

/// The exec root's directory of shim directories (`shims/<id>`).
pub const SHIMS_DIR: &str = "shims";

/// File names inside a shim directory.
pub const CTL_SOCK: &str = "ctl.sock";
/// Exit file name.
pub const EXIT_FILE: &str = "exit.json";
/// Config file name.
pub const CONFIG_FILE: &str = "shim.json";
/// Pid file name.
pub const PID_FILE: &str = "shim.pid";
/// Diagnostics file name.
pub const SHIM_LOG: &str = "shim.log";

/// Replace `path` with `data` atomically (temp file + rename), without fsync.
///
/// For the exec root's files (bundles, `shim.json`, exit files): they describe
/// processes that do not survive a reboot, and the exec root is normally a tmpfs, so
/// durability buys nothing; on a disk-backed exec root the two fsyncs of
/// `berth_core::fsutil::atomic_write` cost milliseconds on the container start path.
/// Readers still never see a partial file.
pub fn replace_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".tmp-");
    tmp_name.push(name);
    tmp_name.push(format!(".{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let r = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(data))
        .and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Longest path `sun_path` holds, without the NUL.
pub const MAX_SUN_PATH: usize = 107;

/// A path usable for `connect(2)` on `sock`, plus a directory handle that must stay
/// open until connected when the path is too long and goes through `/proc/self/fd`.
pub fn connect_path(sock: &Path) -> std::io::Result<(PathBuf, Option<std::fs::File>)> {
    if sock.as_os_str().len() <= MAX_SUN_PATH {
        return Ok((sock.to_path_buf(), None));
    }
    let dir = sock
        .parent()
        .ok_or_else(|| std::io::Error::other("socket path has no parent"))?;
    let name = sock
        .file_name()
        .ok_or_else(|| std::io::Error::other("socket path has no name"))?;
    let f = std::fs::File::open(dir)?;
    let p = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd())).join(name);
    Ok((p, Some(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_config_shape() {
        let l = Layout::new("/run/berth");
        let id = "a".repeat(64);
        assert!(l.ctl_sock(&id).as_os_str().len() <= MAX_SUN_PATH);
        let c = ShimConfig {
            v: 1,
            id: "x".into(),
            bundle: "/b".into(),
            exec_root: "/run/berth".into(),
            runtime: RuntimeKind::Runc,
            runc_path: None,
            tty: false,
            stdin: true,
            log: LogConfig::with_defaults(LogDriver::JsonFile, "/l".into()),
        };
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains(r#""runtime":"runc""#) && s.contains(r#""driver":"json-file""#));
        assert_eq!(serde_json::from_str::<ShimConfig>(&s).unwrap(), c);
        assert_eq!(
            RuntimeKind::parse("io.containerd.runc.v2"),
            Some(RuntimeKind::Runc)
        );
    }

    #[test]
    fn replace_file_swaps_contents() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("exit.json");
        replace_file(&p, b"one").unwrap();
        replace_file(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn long_socket_paths_go_through_proc() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let sock = deep.join("ctl.sock");
        let (p, keep) = connect_path(&sock).unwrap();
        assert!(p.starts_with("/proc/self/fd/") && keep.is_some());
        assert!(p.as_os_str().len() <= MAX_SUN_PATH);
    }
}
