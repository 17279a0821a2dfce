//! The exec root lives on a tmpfs.
//!
//! Everything under `--exec-root` (shim sockets and state, bundles, netns
//! handles, the runtime's state) describes processes of this boot only, and a
//! container's start and removal create and delete a dozen small files there.
//! On a normal host `/run` is a tmpfs and that costs nothing; where it is not
//! (this project's machines run `/run` on ext4 without a journal, where every
//! new inode skips past the recently deleted ones), those files cost ~2 ms of
//! CPU per `docker run`. So when the exec root is not on a tmpfs and holds no
//! live container, berthd mounts one there (source `berth-exec`, so it can be
//! recognised), and unmounts it at shutdown when no container is left.

use std::path::Path;

use berth_network::config::{FIREWALL_MARKER, NETNS_DIR};
use berth_runtime::layout::SHIMS_DIR;
use rustix::fs::StatFs;
use rustix::mount::{MountFlags, UnmountFlags};

/// The mount source that marks a tmpfs as berthd's own.
const SOURCE: &str = "berth-exec";
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Make sure `dir` exists and is on a tmpfs; returns true when this call mounted one.
///
/// A directory that already holds container state (shims or netns handles left
/// by a previous daemon on a non-tmpfs root) is left as it is: mounting over it
/// would hide running containers from live restore.
pub fn ensure_tmpfs(dir: &Path) -> std::io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    if is_tmpfs(dir) || holds_containers(dir) {
        return Ok(false);
    }
    // A stale firewall marker says a table of a previous daemon may still
    // exist; carry it over so start-up still removes that table.
    let marker = std::fs::read(dir.join(FIREWALL_MARKER)).ok();
    rustix::mount::mount(
        SOURCE,
        dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        c"mode=0711",
    )?;
    if let Some(m) = marker {
        let _ = std::fs::write(dir.join(FIREWALL_MARKER), m);
    }
    Ok(true)
}

/// Unmount berthd's own tmpfs at `dir` when no container state is left in it
/// (and no firewall marker, which the next start needs to find a stale table).
pub fn release(dir: &Path) {
    if !is_own_mount(dir) || holds_containers(dir) || dir.join(FIREWALL_MARKER).exists() {
        return;
    }
    if let Err(e) = rustix::mount::unmount(dir, UnmountFlags::DETACH) {
        tracing::debug!(dir = %dir.display(), "exec root tmpfs stays mounted: {e}");
    }
}

// `f_type`'s integer type differs between targets (i64 here, u32 on others).
#[allow(clippy::unnecessary_cast)]
fn is_tmpfs(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|s: StatFs| s.f_type as i64 == TMPFS_MAGIC)
}

/// Shim state or a netns handle under `dir` means a container may be alive.
fn holds_containers(dir: &Path) -> bool {
    [SHIMS_DIR, NETNS_DIR].iter().any(|sub| {
        std::fs::read_dir(dir.join(sub)).is_ok_and(|mut entries| entries.next().is_some())
    })
}

/// Is `dir` the mount point of a tmpfs with berthd's source name?
fn is_own_mount(dir: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = dir.to_string_lossy();
    info.lines().any(|line| {
        // "<id> <parent> <dev> <root> <mount point> <opts> ... - <fstype> <source> <super opts>"
        let mut halves = line.splitn(2, " - ");
        let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
            return false;
        };
        let point = left.split(' ').nth(4).unwrap_or_default();
        let mut r = right.split(' ');
        point == want && r.next() == Some("tmpfs") && r.next() == Some(SOURCE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mount is made, recognised as berthd's, and released when empty;
    /// a directory with shim state is never mounted over.
    #[test]
    fn mounts_and_releases_only_when_no_container_is_there() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let tmp = tempfile::tempdir_in("/var/tmp").expect("tempdir");
        let dir = tmp.path().join("exec");
        if is_tmpfs(tmp.path()) {
            eprintln!("skipped: /var/tmp is a tmpfs here");
            return;
        }
        std::fs::create_dir_all(dir.join("shims/abc")).expect("shim dir");
        assert!(
            !ensure_tmpfs(&dir).expect("ensure"),
            "mounted over live shims"
        );
        assert!(!is_tmpfs(&dir));

        std::fs::remove_dir_all(dir.join("shims")).expect("rm shims");
        std::fs::write(dir.join("firewall-table"), "berth-x").expect("marker");
        assert!(ensure_tmpfs(&dir).expect("ensure"));
        assert!(is_tmpfs(&dir) && is_own_mount(&dir));
        assert_eq!(
            std::fs::read_to_string(dir.join("firewall-table"))
                .ok()
                .as_deref(),
            Some("berth-x"),
            "the firewall marker is carried over"
        );
        assert!(!ensure_tmpfs(&dir).expect("second ensure"), "mounted twice");

        release(&dir);
        assert!(is_tmpfs(&dir), "released with a firewall marker left");
        std::fs::remove_file(dir.join("firewall-table")).expect("rm marker");
        std::fs::create_dir_all(dir.join("netns")).expect("netns dir");
        std::fs::write(dir.join("netns/c1"), "").expect("netns handle");
        release(&dir);
        assert!(is_tmpfs(&dir), "released with a container left");
        std::fs::remove_file(dir.join("netns/c1")).expect("rm handle");
        release(&dir);
        assert!(!is_tmpfs(&dir), "not released when empty");
    }
}
