//! The kernel seam of the local driver: mount, unmount, "is this mounted".
//!
//! [`SysMounter`] does it with mount(2) through rustix; options are Docker's
//! comma list (`o=size=10m,uid=1000,ro`): names of mount flags become flags, the
//! rest is passed to the filesystem as data (as moby's `mount.Mount` does).

use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

/// Mount operations the local driver needs.
pub trait Mounter: Send + Sync {
    /// Mount `device` of type `fstype` on `target` with Docker-style `options`.
    fn mount(
        &self,
        device: &str,
        target: &Path,
        fstype: &str,
        options: &str,
    ) -> std::io::Result<()>;
    /// Unmount `target` (no error when nothing is mounted there).
    fn unmount(&self, target: &Path) -> std::io::Result<()>;
    /// Is something mounted exactly at `target`?
    fn is_mounted(&self, target: &Path) -> std::io::Result<bool>;
}

/// mount(2) on this host.
#[derive(Debug, Default, Clone, Copy)]
pub struct SysMounter;

/// What one mount option does: set flags, clear flags, or nothing (a data option).
fn flag_of(opt: &str) -> Option<(bool, MountFlags)> {
    Some(match opt {
        // Mandatory locking is gone from current kernels: `mand` is accepted and ignored.
        "defaults" | "rw" | "async" | "atime" | "mand" | "nomand" | "diratime" | "norelatime"
        | "nostrictatime" => (false, MountFlags::empty()),
        "suid" => (false, MountFlags::NOSUID),
        "dev" => (false, MountFlags::NODEV),
        "exec" => (false, MountFlags::NOEXEC),
        "ro" => (true, MountFlags::RDONLY),
        "nosuid" => (true, MountFlags::NOSUID),
        "nodev" => (true, MountFlags::NODEV),
        "noexec" => (true, MountFlags::NOEXEC),
        "sync" => (true, MountFlags::SYNCHRONOUS),
        "dirsync" => (true, MountFlags::DIRSYNC),
        "noatime" => (true, MountFlags::NOATIME),
        "nodiratime" => (true, MountFlags::NODIRATIME),
        "relatime" => (true, MountFlags::RELATIME),
        "strictatime" => (true, MountFlags::STRICTATIME),
        "bind" => (true, MountFlags::BIND),
        "rbind" => (true, MountFlags::BIND | MountFlags::REC),
        _ => return None,
    })
}

/// Split Docker's option list into flags and filesystem data.
pub fn parse_options(options: &str) -> (MountFlags, String) {
    let mut flags = MountFlags::empty();
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match flag_of(o) {
            Some((true, f)) => flags |= f,
            Some((false, f)) => flags &= !f,
            None => data.push(o),
        }
    }
    (flags, data.join(","))
}

impl Mounter for SysMounter {
    fn mount(
        &self,
        device: &str,
        target: &Path,
        fstype: &str,
        options: &str,
    ) -> std::io::Result<()> {
        let (flags, data) = parse_options(options);
        let data = std::ffi::CString::new(data)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        if flags.contains(MountFlags::BIND) {
            // A bind ignores the type and data; read-only needs a remount (the kernel
            // ignores MS_RDONLY on the first bind call).
            rustix::mount::mount(
                device,
                target,
                "",
                flags & (MountFlags::BIND | MountFlags::REC),
                None,
            )?;
            let rest = flags & !(MountFlags::BIND | MountFlags::REC);
            if !rest.is_empty() {
                rustix::mount::mount_remount(target, MountFlags::BIND | rest, "")?;
            }
            return Ok(());
        }
        rustix::mount::mount(device, target, fstype, flags, Some(data.as_c_str()))?;
        Ok(())
    }

    fn unmount(&self, target: &Path) -> std::io::Result<()> {
        match rustix::mount::unmount(target, UnmountFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
            // Still busy (a process has its cwd there): detach so the path is free now.
            Err(rustix::io::Errno::BUSY) => {
                Ok(rustix::mount::unmount(target, UnmountFlags::DETACH)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn is_mounted(&self, target: &Path) -> std::io::Result<bool> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")?;
        let target = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
        Ok(mount_points(&info).any(|p| Path::new(&p) == target))
    }
}

/// The mount points listed in a `mountinfo` text (field 5, octal escapes decoded).
pub fn mount_points(info: &str) -> impl Iterator<Item = String> + '_ {
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
}

/// Decode `\040`-style escapes of mountinfo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = (b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)))
        .then(|| {
            b[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, c| n * 8 + u32::from(c - b'0'))
        })
        .and_then(|n| u8::try_from(n).ok());
        if let Some(c) = code {
            out.push(c);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_data_are_split() {
        let (f, d) = parse_options("size=10m,ro,uid=1000,noexec");
        assert!(f.contains(MountFlags::RDONLY | MountFlags::NOEXEC));
        assert_eq!(d, "size=10m,uid=1000");
        let (f, d) = parse_options("bind");
        assert_eq!((f, d.as_str()), (MountFlags::BIND, ""));
        let (f, _) = parse_options("noexec,exec");
        assert!(!f.contains(MountFlags::NOEXEC));
    }

    #[test]
    fn mountinfo_points_unescape() {
        let info =
            "36 35 98:0 / /mnt/a\\040b rw - ext4 /dev/x rw\n37 35 0:5 / /run rw - tmpfs tmpfs rw\n";
        let pts: Vec<String> = mount_points(info).collect();
        assert_eq!(pts, ["/mnt/a b", "/run"]);
    }
}
