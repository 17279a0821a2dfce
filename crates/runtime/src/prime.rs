//! Paying the cgroup migration grace period ahead of time.
//!
//! Moving a process into a cgroup (`echo PID > cgroup.procs`, which every runtime does
//! for the container's first process) takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing. That percpu rwsem switches its readers to
//! the slow path first, and that switch waits for an RCU grace period: 10–15 ms on
//! an idle host (`/sys/kernel/rcu_expedited` would shorten it, but that is a host
//! setting and not ours to change). The switch stays in effect for about one grace
//! period after the last writer, so a migration that follows another within that
//! window is fast (0.1 ms).
//!
//! [`prime_migration_lock`] makes a no-op migration (the caller into its own
//! cgroup) so the grace period elapses while the caller does other work: the daemon
//! calls it on a blocking thread ([`crate::client::ShimRunner::prime`]) when a
//! container start begins. When the runtime moves the container's first process a
//! few milliseconds later, the wait is over or shorter.
//!
//! cgroup v2's `clone3(CLONE_INTO_CGROUP)` avoids the write lock altogether, but
//! libcontainer 0.7 does not use it and it does not exist on cgroup v1.

use std::io::Write;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Move the calling process into the cgroup it is already in (one hierarchy is
/// enough: the lock is global). Blocks for up to one RCU grace period. Returns
/// whether a write succeeded; failure only forgoes the saving.
pub fn prime_migration_lock() -> bool {
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
        return false;
    };
    own.lines().filter_map(procs_file).any(|file| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            // "0" is the writing process itself.
            .and_then(|mut f| f.write_all(b"0"))
            .is_ok()
    })
}

/// `cgroup.procs` of one `/proc/self/cgroup` line (`ID:CONTROLLERS:PATH`).
fn procs_file(line: &str) -> Option<PathBuf> {
    let mut it = line.splitn(3, ':');
    let (_, controllers, path) = (it.next()?, it.next()?, it.next()?);
    let rel = path.trim_start_matches('/');
    let root = Path::new(CGROUP_ROOT);
    let mount = if controllers.is_empty() {
        // cgroup v2: the root itself on a unified host, `unified` on a hybrid one.
        if root.join("cgroup.controllers").exists() {
            root.to_path_buf()
        } else {
            root.join("unified")
        }
    } else {
        let first = controllers.split(',').next()?;
        root.join(first.strip_prefix("name=").unwrap_or(first))
    };
    let file = mount.join(rel).join("cgroup.procs");
    file.exists().then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procs_file_of_each_line_kind() {
        if Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
            assert_eq!(
                procs_file("8:pids:/"),
                Some(PathBuf::from("/sys/fs/cgroup/pids/cgroup.procs"))
            );
        }
        assert_eq!(procs_file("garbage"), None);
        assert_eq!(procs_file("3:nonexistent-controller:/"), None);
    }

    #[test]
    fn priming_is_a_no_op_migration() {
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        assert!(prime_migration_lock());
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
    }
}
