//! Network namespaces: created as bind mounts of a thread's namespace under
//! `<exec-root>/netns/<id>`, entered by short-lived threads, removed by
//! unmount + unlink.
//!
//! Why threads: `setns(CLONE_NEWNET)` and `unshare(CLONE_NEWNET)` change only
//! the calling thread, and a socket stays bound to the namespace it was created
//! in. So a throwaway `std::thread` enters (or creates) the namespace, creates
//! the sockets or writes the sysctls it needs, and exits; the daemon's own
//! threads never change namespace. Never sweep `/run/netns`: other tools keep
//! their namespaces there; berth only ever touches its own directory.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::mount::{UnmountFlags, mount_bind, unmount};
use rustix::thread::{LinkNameSpaceType, UnshareFlags, move_into_link_name_space, unshare_unsafe};

use crate::error::{NetError, NetResult};

/// The namespace berth treats as "the host": where bridges, host-side veths,
/// the firewall table, sysctls and port reservations live.
///
/// The daemon uses [`HostNs::Current`]; tests run the whole controller inside a
/// throwaway namespace ([`HostNs::Path`]) so the real host is never touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostNs {
    /// The daemon's own network namespace.
    Current,
    /// A bind-mounted namespace file.
    Path(PathBuf),
}

impl HostNs {
    /// Run `f` in this namespace: inline for `Current`, in a setns'd thread otherwise.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<R> + Send + 'static,
    ) -> NetResult<R> {
        match self {
            HostNs::Current => f().map_err(|e| NetError::io("host namespace", e)),
            HostNs::Path(p) => run_in(p, f),
        }
    }

    /// The namespace file, if not the daemon's own.
    pub fn path(&self) -> Option<&Path> {
        match self {
            HostNs::Current => None,
            HostNs::Path(p) => Some(p),
        }
    }
}

/// Create a new network namespace bound at `path`, running `f` inside it
/// before the creating thread exits (e.g. to open a netlink socket there).
pub fn create<R: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> NetResult<R> {
    let what = format!("create network namespace {}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io(&what, e))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| NetError::io(&what, e))?;
    let target = path.to_path_buf();
    let res = std::thread::spawn(move || -> io::Result<R> {
        // SAFETY: CLONE_NEWNET only changes this thread's network namespace;
        // no file descriptor table is unshared, so other threads are unaffected.
        unsafe { unshare_unsafe(UnshareFlags::NEWNET) }?;
        mount_bind("/proc/thread-self/ns/net", &target)?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")));
    match res {
        Ok(r) => Ok(r),
        Err(e) => {
            let _ = remove(path);
            Err(NetError::io(what, e))
        }
    }
}

/// Run `f` in a thread that joined the namespace at `path`.
pub fn run_in<R: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> NetResult<R> {
    let what = format!("enter network namespace {}", path.display());
    let file = File::open(path).map_err(|e| NetError::io(&what, e))?;
    std::thread::spawn(move || -> io::Result<R> {
        move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))?;
        drop(file);
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    .map_err(|e| NetError::io(what, e))
}

/// Unmount and unlink a namespace file; absent or already unmounted is fine.
pub fn remove(path: &Path) -> NetResult<()> {
    match unmount(path, UnmountFlags::DETACH) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOENT => {}
        Err(e) => {
            return Err(NetError::io(
                format!("unmount {}", path.display()),
                e.into(),
            ));
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(format!("remove {}", path.display()), e)),
    }
}

/// True when `path` is a bind-mounted namespace (so it is still usable).
pub fn is_namespace(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    // An nsfs file reports the namespace's inode; a plain empty file does not
    // live on nsfs. Checking the filesystem magic is cheaper than mountinfo.
    match rustix::fs::fstatfs(&f) {
        Ok(st) => st.f_type == 0x6e73_6673, // NSFS_MAGIC
        Err(_) => false,
    }
}

/// Remove every entry of `dir` whose name is not in `keep` (berth's own directory only).
pub fn sweep(dir: &Path, keep: &HashSet<String>) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !keep.contains(&name) && remove(&e.path()).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Write a sysctl under `/proc/sys` (slash form, `net/ipv4/ip_forward`, so
/// interface names with dots survive) in the calling thread's namespace
/// (`/proc/sys/net` shows the namespace of the thread that opens it).
pub fn sysctl(key: &str, value: &str) -> io::Result<()> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).map_err(|e| io::Error::new(e.kind(), format!("write {path}: {e}")))
}

/// Read a sysctl in the calling thread's namespace.
pub fn read_sysctl(key: &str) -> io::Result<String> {
    let path = format!("/proc/sys/{key}");
    Ok(std::fs::read_to_string(path)?.trim().to_string())
}
