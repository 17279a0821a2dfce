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
    let root = Path::new(CGROUP_ROOT);
    let mut mounts: Vec<PathBuf> = Vec::new();
    if root.join("cgroup.procs").exists() {
        mounts.push(root.to_path_buf());
    } else if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let p = e.path();
            // Named or combined hierarchies are links or real dirs; links repeat one.
            if p.join("cgroup.procs").exists() && !e.file_type().is_ok_and(|t| t.is_symlink()) {
                mounts.push(p);
            }
        }
    }
    for m in mounts {
        let dir = m.join(rel);
        std::fs::create_dir_all(&dir).with_context(|| format!("create cgroup {}", dir.display()))?;
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

/// A new v1 cpuset cgroup starts with no CPUs and memory nodes, and nothing can
/// join it: copy the parent's down each level that is still empty.
fn inherit_cpuset(mount: &Path, rel: &str) {
    let mut cur = mount.to_path_buf();
    for comp in Path::new(rel).components() {
        let next = cur.join(comp);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let empty = std::fs::read_to_string(next.join(f)).map(|v| v.trim().is_empty()).unwrap_or(false);
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
}

fn cstring(p: &Path) -> anyhow::Result<std::ffi::CString> {
    Ok(std::ffi::CString::new(p.as_os_str().as_encoded_bytes())?)
}

/// Start the VMM.
pub fn spawn(mut cmd: Command, l: Launch) -> anyhow::Result<Child> {
    let log = File::create(&l.log).with_context(|| format!("create {}", l.log.display()))?;
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let binds: Vec<(std::ffi::CString, std::ffi::CString)> = l
        .binds
        .iter()
        .map(|(a, b)| Ok((cstring(a)?, cstring(b)?)))
        .collect::<anyhow::Result<_>>()?;
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
                if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_SLAVE, std::ptr::null()) < 0 {
                    return Err(err());
                }
                for (src, dst) in &binds {
                    if libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) < 0 {
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
