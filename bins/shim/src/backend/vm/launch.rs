//! Launching the VMM with the least privilege that still works: its own cgroup
//! (the container's, so `docker stats` and limits see it), its own mount namespace
//! (where the shared single files are bound onto placeholders), only the
//! capabilities 9p passthrough needs (file ownership and permission overrides,
//! `mknod`), `no_new_privs`, QEMU's seccomp sandbox, and SIGKILL when its
//! supervisor dies.

use std::fs::File;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Capabilities QEMU keeps: CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER,
/// FSETID and MKNOD, which 9p passthrough needs to act for the guest's users.
const KEEP_CAPS: [u32; 6] = [0, 1, 2, 3, 4, 27];

/// Join (creating it) the container's cgroup `rel` in every hierarchy; with
/// `cpu` = (quota, period) the CFS limit is applied too.
pub fn join_cgroup(rel: &str, cpu: Option<(i64, u64)>) -> anyhow::Result<()> {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return Ok(());
    }
    let pid = std::process::id().to_string();
    for dir in hierarchies(rel) {
        let m = dir
            .ancestors()
            .nth(Path::new(rel).components().count())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("create cgroup {}", dir.display()))?;
        if m.join("cpuset.cpus").exists() {
            inherit_cpuset(&m, rel);
        }
        if let Some((quota, period)) = cpu {
            if dir.join("cpu.cfs_quota_us").exists() {
                let _ = std::fs::write(dir.join("cpu.cfs_period_us"), period.to_string());
                let _ = std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string());
            } else if dir.join("cpu.max").exists() {
                let _ = std::fs::write(dir.join("cpu.max"), format!("{quota} {period}"));
            }
        }
        std::fs::write(dir.join("cgroup.procs"), &pid)
            .with_context(|| format!("join cgroup {}", dir.display()))?;
    }
    Ok(())
}

/// Every hierarchy's directory of `rel`.
fn hierarchies(rel: &str) -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    if root.join("cgroup.procs").exists() {
        return vec![root.join(rel)];
    }
    std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    !e.file_type().is_ok_and(|t| t.is_symlink())
                        && e.path().join("cgroup.procs").exists()
                })
                .map(|e| e.path().join(rel))
                .collect()
        })
        .unwrap_or_default()
}

/// Remove the (empty) cgroup `rel` from every hierarchy; its parents are the shim's.
pub fn remove_cgroup(rel: &str) {
    let rel = rel.trim_start_matches('/');
    if !rel.is_empty() {
        for d in hierarchies(rel) {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A new v1 cpuset cgroup starts with no CPUs and memory nodes, and nothing can
/// join it: copy the parent's down each level that is still empty.
fn inherit_cpuset(mount: &Path, rel: &str) {
    let mut cur = mount.to_path_buf();
    for comp in Path::new(rel).components() {
        let next = cur.join(comp);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let empty = std::fs::read_to_string(next.join(f))
                .map(|v| v.trim().is_empty())
                .unwrap_or(false);
            if empty && let Ok(v) = std::fs::read_to_string(cur.join(f)) {
                let _ = std::fs::write(next.join(f), v.trim());
            }
        }
        cur = next;
    }
}

/// What the VMM process inherits and where the shared files go.
pub struct Launch {
    /// Descriptors passed by number (control socket, taps).
    pub pass: Vec<RawFd>,
    /// `(host file, placeholder)` pairs bound in the VMM's mount namespace.
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// stdout and stderr of the VMM.
    pub log: PathBuf,
    /// Paths the VMM uses (shares): mounts above them are kept.
    pub keep: Vec<PathBuf>,
}

/// Mounts the VMM's private mount namespace must not keep: other containers'
/// root filesystems (overlay) and network namespaces (nsfs). A private copy would
/// keep them alive after the host unmounts them, since the host's mounts do not
/// propagate (they are private here, not shared).
fn foreign_mounts(keep: &[PathBuf]) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            let mp = unescape(pre.split_whitespace().nth(4)?);
            let ours = keep.iter().any(|k| k.starts_with(&mp));
            (matches!(fstype, "overlay" | "nsfs") && !ours && mp != Path::new("/")).then_some(mp)
        })
        .collect()
}

fn unescape(s: &str) -> PathBuf {
    PathBuf::from(
        s.replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\012", "\n")
            .replace("\\134", "\\"),
    )
}

fn cstring(p: &Path) -> anyhow::Result<std::ffi::CString> {
    Ok(std::ffi::CString::new(p.as_os_str().as_encoded_bytes())?)
}

/// Start the VMM.
pub fn spawn(mut cmd: Command, l: Launch) -> anyhow::Result<Child> {
    let log = File::create(&l.log).with_context(|| format!("create {}", l.log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let binds: Vec<(std::ffi::CString, std::ffi::CString)> = l
        .binds
        .iter()
        .map(|(a, b)| Ok((cstring(a)?, cstring(b)?)))
        .collect::<anyhow::Result<_>>()?;
    let detach: Vec<std::ffi::CString> = if binds.is_empty() {
        Vec::new()
    } else {
        foreign_mounts(&l.keep)
            .iter()
            .filter_map(|p| cstring(p).ok())
            .collect()
    };
    let pass = l.pass.clone();
    let hook = move || -> std::io::Result<()> {
        let err = std::io::Error::last_os_error;
        // SAFETY: raw syscalls in the forked child with pointers to C strings that
        // live in this closure; the supervisor is single-threaded.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                return Err(err());
            }
            if !binds.is_empty() {
                if libc::unshare(libc::CLONE_NEWNS) < 0 {
                    return Err(err());
                }
                let root = c"/";
                if libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_SLAVE,
                    std::ptr::null(),
                ) < 0
                {
                    return Err(err());
                }
                for m in &detach {
                    libc::umount2(m.as_ptr(), libc::MNT_DETACH);
                }
                for (src, dst) in &binds {
                    if libc::mount(
                        src.as_ptr(),
                        dst.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ) < 0
                    {
                        return Err(err());
                    }
                }
            }
            for fd in &pass {
                let fl = libc::fcntl(*fd, libc::F_GETFD);
                libc::fcntl(*fd, libc::F_SETFD, fl & !libc::FD_CLOEXEC);
            }
            for cap in 0..=libc::c_ulong::from(63u8) {
                if !KEEP_CAPS.contains(&(cap as u32)) {
                    // EINVAL past the kernel's last capability ends nothing.
                    libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
                return Err(err());
            }
        }
        Ok(())
    };
    // SAFETY: the hook only makes syscalls (see above).
    unsafe {
        cmd.pre_exec(hook);
    }
    cmd.spawn().context("start the VMM")
}
