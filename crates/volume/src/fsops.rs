//! Filesystem work on volume data: copy-up of an image directory into a new
//! volume, disk usage, and resolving a path inside a root without escaping it.
//!
//! Written by hand because the copy must keep what an image ships (owners,
//! modes with setuid bits, symlinks, hard links, device nodes, times) and
//! `fs_extra`-style crates keep only contents and permissions. Extended
//! attributes are not copied.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};

/// Open `rel` (absolute or not) as a directory inside `root`, resolving `..` and
/// symlinks as if `root` were `/` (openat2 `RESOLVE_IN_ROOT`). `Ok(None)` when it
/// does not exist or is not a directory.
pub fn open_dir_in_root(root: &Path, rel: &str) -> io::Result<Option<std::os::fd::OwnedFd>> {
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    match rustix::fs::openat2(
        &root_fd,
        rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The path of an open fd (`/proc/self/fd/N`), valid while the fd is open.
pub fn fd_path(fd: &std::os::fd::OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Is `dir` an empty directory?
pub fn is_empty_dir(dir: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(dir)?.next().is_none())
}

/// `path` inside `root` for a relative `sub` (already checked lexically local),
/// refusing symlinks that lead out of `root`. The path must exist.
pub fn resolve_within(root: &Path, sub: &str) -> io::Result<PathBuf> {
    let root = fs::canonicalize(root)?;
    let p = fs::canonicalize(root.join(sub))?;
    if !p.starts_with(&root) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{sub} leaves the volume"),
        ));
    }
    Ok(p)
}

fn ts(secs: i64, nsecs: i64) -> Timespec {
    Timespec {
        tv_sec: secs,
        tv_nsec: nsecs,
    }
}

/// Owner, mode and times of `md` onto `path` (not following a final symlink).
fn apply_meta(path: &Path, md: &fs::Metadata) -> io::Result<()> {
    let (uid, gid) = (
        rustix::fs::Uid::from_raw(md.uid()),
        rustix::fs::Gid::from_raw(md.gid()),
    );
    rustix::fs::chownat(CWD, path, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
    if !md.file_type().is_symlink() {
        // After chown, which clears setuid/setgid bits.
        rustix::fs::chmod(path, Mode::from_raw_mode(md.mode() & 0o7777))?;
    }
    let times = Timestamps {
        last_access: ts(md.atime(), md.atime_nsec()),
        last_modification: ts(md.mtime(), md.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Copy the content of directory `src` into the existing directory `dst`, and
/// `src`'s owner and mode onto `dst`. Returns the bytes of file data copied.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<u64> {
    let mut links = HashMap::new();
    let bytes = copy_dir(src, dst, &mut links)?;
    apply_meta(dst, &fs::metadata(src)?)?;
    Ok(bytes)
}

fn copy_dir(src: &Path, dst: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> io::Result<u64> {
    let mut bytes = 0;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (sp, dp) = (entry.path(), dst.join(entry.file_name()));
        let md = fs::symlink_metadata(&sp)?;
        let ft = md.file_type();
        if ft.is_dir() {
            match fs::create_dir(&dp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            bytes += copy_dir(&sp, &dp, links)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&sp)?, &dp)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    fs::hard_link(first, &dp)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), dp.clone());
            }
            bytes += fs::copy(&sp, &dp)?;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_fifo() {
                FileType::Fifo
            } else if ft.is_char_device() {
                FileType::CharacterDevice
            } else {
                FileType::BlockDevice
            };
            rustix::fs::mknodat(
                CWD,
                &dp,
                kind,
                Mode::from_raw_mode(md.mode() & 0o7777),
                md.rdev(),
            )?;
        } else {
            // Sockets belong to a process that no longer exists; nothing to copy.
            continue;
        }
        apply_meta(&dp, &md)?;
    }
    Ok(bytes)
}

/// Bytes used by the files under `dir` (apparent sizes, hard links counted once,
/// directories not counted), as Docker's `system df` reports volume sizes.
pub fn dir_size(dir: &Path) -> io::Result<u64> {
    let mut seen = HashMap::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let md = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if md.is_dir() {
                stack.push(entry.path());
            } else if seen.insert((md.dev(), md.ino()), ()).is_none() {
                total += md.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn copy_keeps_links_modes_and_owner() {
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::create_dir(&dst).unwrap();
        fs::write(src.join("sub/f"), b"hello").unwrap();
        rustix::fs::chownat(
            CWD,
            src.join("sub/f"),
            Some(rustix::fs::Uid::from_raw(1234)),
            None,
            AtFlags::empty(),
        )
        .unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o4750)).unwrap();
        fs::hard_link(src.join("sub/f"), src.join("h")).unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        rustix::fs::mknodat(
            CWD,
            src.join("p"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o711)).unwrap();

        assert_eq!(copy_tree(&src, &dst).unwrap(), 5);
        assert_eq!(fs::read(dst.join("sub/f")).unwrap(), b"hello");
        let md = fs::metadata(dst.join("sub/f")).unwrap();
        assert_eq!((md.mode() & 0o7777, md.uid()), (0o4750, 1234));
        assert_eq!(
            md.ino(),
            fs::metadata(dst.join("h")).unwrap().ino(),
            "hard link kept"
        );
        assert_eq!(fs::read_link(dst.join("l")).unwrap(), Path::new("sub/f"));
        assert!(
            fs::symlink_metadata(dst.join("p"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o7777, 0o711);
        // The file once (hard link), plus the symlink's own length, as Docker counts.
        assert_eq!(dir_size(&dst).unwrap(), 5 + 5);
    }

    #[test]
    fn in_root_resolution_cannot_escape() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("data")).unwrap();
        fs::create_dir_all(t.path().join("outside")).unwrap();
        fs::write(t.path().join("outside/secret"), b"x").unwrap();
        std::os::unix::fs::symlink("/../../outside", root.join("evil")).unwrap();
        fs::write(root.join("file"), b"f").unwrap();
        assert!(open_dir_in_root(&root, "/data").unwrap().is_some());
        assert!(open_dir_in_root(&root, "/missing").unwrap().is_none());
        assert!(open_dir_in_root(&root, "/file").unwrap().is_none());
        // The symlink resolves inside the root, where `/outside` does not exist.
        assert!(open_dir_in_root(&root, "/evil").unwrap().is_none());

        std::os::unix::fs::symlink(t.path().join("outside"), root.join("data/out")).unwrap();
        assert!(resolve_within(&root.join("data"), "out").is_err());
        fs::create_dir(root.join("data/in")).unwrap();
        assert!(resolve_within(&root.join("data"), "in").is_ok());
    }
}
