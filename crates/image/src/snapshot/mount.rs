//! Performing the [`Mount`]s a snapshotter returns.

use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

use super::Mount;
use crate::error::{ImageError, Result};

/// Mount `mounts` (in order) on `target`.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    for m in mounts {
        mount_one(m, target).map_err(|e| {
            ImageError::io(
                format!("mount {} on {}", m.kind, target.display()),
                e.into(),
            )
        })?;
    }
    Ok(())
}

fn mount_one(m: &Mount, target: &Path) -> rustix::io::Result<()> {
    match m.kind.as_str() {
        "bind" => {
            let mut flags = MountFlags::BIND;
            if m.options.iter().any(|o| o == "rbind") {
                flags |= MountFlags::REC;
            }
            rustix::mount::mount(m.source.as_str(), target, "", flags, None)?;
            if m.options.iter().any(|o| o == "ro") {
                rustix::mount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "")?;
            }
            Ok(())
        }
        kind => {
            let mut flags = MountFlags::empty();
            let mut data = Vec::new();
            for o in &m.options {
                match o.as_str() {
                    "ro" => flags |= MountFlags::RDONLY,
                    "rw" => {}
                    other => data.push(other),
                }
            }
            let data =
                std::ffi::CString::new(data.join(",")).map_err(|_| rustix::io::Errno::INVAL)?;
            rustix::mount::mount(
                m.source.as_str(),
                target,
                kind,
                flags,
                Some(data.as_c_str()),
            )
        }
    }
}

/// Unmount `target` (lazily when busy is not wanted: plain unmount, then detach on EBUSY).
pub fn unmount(target: &Path) -> Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::BUSY) => rustix::mount::unmount(target, UnmountFlags::DETACH)
            .map_err(|e| ImageError::io(format!("unmount {}", target.display()), e.into())),
        Err(e) => Err(ImageError::io(
            format!("unmount {}", target.display()),
            e.into(),
        )),
    }
}
