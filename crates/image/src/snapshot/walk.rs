//! fd-relative tree walks: copying a tree with full fidelity, measuring it, and
//! comparing two trees. Nothing here follows a symlink, so a container that
//! rearranges its own read-write layer while the daemon walks it cannot point
//! the daemon at host files.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};

use super::Usage;
use crate::error::{ImageError, Result};
use crate::unpack::fsops;

fn err(what: &str, path: &[u8], e: rustix::io::Errno) -> ImageError {
    ImageError::io(
        format!("{what} {}", String::from_utf8_lossy(path)),
        e.into(),
    )
}

/// Stat `name` in `dir` without following it.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<Stat> {
    rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)
}

/// File type from a stat.
pub fn ftype(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn join(base: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = base.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// A walk visitor: `(rel_path, parent_fd, name, stat)` → descend into it?
pub type Visit<'a> = dyn FnMut(&[u8], BorrowedFd<'_>, &[u8], &Stat) -> Result<bool> + 'a;

/// Visit every entry below `root` (pre-order, sorted by name): `f(rel_path, parent_fd, name, stat)`.
/// Returning `false` from `f` for a directory skips its contents.
pub fn walk(root: &Path, f: &mut Visit<'_>) -> Result<()> {
    let fd = fsops::open_root(root).map_err(|e| err("open", root.as_os_str().as_bytes(), e))?;
    walk_fd(fd.as_fd(), b"", f)
}

fn walk_fd(dir: BorrowedFd<'_>, base: &[u8], f: &mut Visit<'_>) -> Result<()> {
    let mut names = fsops::list_dir(dir).map_err(|e| err("list", base, e))?;
    names.sort();
    for name in names {
        let rel = join(base, &name);
        let st = match lstat_at(dir, &name) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(err("stat", &rel, e)),
        };
        let descend = f(&rel, dir, &name, &st)?;
        if descend && ftype(&st) == FileType::Directory {
            match fsops::open_dir(dir, &name) {
                Ok(sub) => walk_fd(sub.as_fd(), &rel, f)?,
                // Replaced by a symlink or removed meanwhile: not ours to follow.
                Err(
                    rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::NOENT,
                ) => {}
                Err(e) => return Err(err("open", &rel, e)),
            }
        }
    }
    Ok(())
}

/// Disk usage of a tree (file sizes, hardlinks counted once).
pub fn usage(root: &Path) -> Result<Usage> {
    let mut seen = std::collections::HashSet::new();
    let mut u = Usage::default();
    walk(root, &mut |_, _, _, st| {
        if seen.insert((st.st_dev, st.st_ino)) {
            u.inodes += 1;
            if ftype(st) == FileType::RegularFile {
                u.size += st.st_size;
            }
        }
        Ok(true)
    })?;
    Ok(u)
}

fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    p
}

/// Extended attributes of `name` in `dir` (not following it).
pub fn xattrs_at(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let p = proc_path(dir, name);
    let path = OsStr::from_bytes(&p);
    let mut list = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(path, &mut list[..]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for key in list[..n].split(|b| *b == 0).filter(|k| !k.is_empty()) {
        let mut val = vec![0u8; 65536];
        if let Ok(m) = rustix::fs::lgetxattr(path, OsStr::from_bytes(key), &mut val[..]) {
            val.truncate(m);
            out.push((key.to_vec(), val));
        }
    }
    out
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// Copy the tree at `src` into the existing empty directory `dst`, keeping
/// owners, modes, times, xattrs, devices, FIFOs, symlinks and hardlinks.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let s = fsops::open_root(src).map_err(|e| err("open", src.as_os_str().as_bytes(), e))?;
    let d = fsops::open_root(dst).map_err(|e| err("open", dst.as_os_str().as_bytes(), e))?;
    let mut links = HashMap::new();
    copy_dir(s.as_fd(), d.as_fd(), b"", &mut links)?;
    // The root directory's own attributes.
    let st = rustix::fs::fstat(&s).map_err(|e| err("stat", b".", e))?;
    apply_meta(d.as_fd(), b".", &st, b".")?;
    Ok(())
}

fn apply_meta(dir: BorrowedFd<'_>, name: &[u8], st: &Stat, rel: &[u8]) -> Result<()> {
    let os = OsStr::from_bytes(name);
    let kind = ftype(st);
    rustix::fs::chownat(
        dir,
        os,
        Some(rustix::fs::Uid::from_raw(st.st_uid)),
        Some(rustix::fs::Gid::from_raw(st.st_gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| err("chown", rel, e))?;
    if kind != FileType::Symlink {
        rustix::fs::chmodat(
            dir,
            os,
            Mode::from_raw_mode(st.st_mode & 0o7777),
            AtFlags::empty(),
        )
        .map_err(|e| err("chmod", rel, e))?;
    }
    let _ = rustix::fs::utimensat(dir, os, &times(st), AtFlags::SYMLINK_NOFOLLOW);
    Ok(())
}

fn copy_dir(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    base: &[u8],
    links: &mut HashMap<(u64, u64), Vec<u8>>,
) -> Result<()> {
    let mut names = fsops::list_dir(src).map_err(|e| err("list", base, e))?;
    names.sort();
    for name in names {
        let rel = join(base, &name);
        let os = OsStr::from_bytes(&name);
        let st = lstat_at(src, &name).map_err(|e| err("stat", &rel, e))?;
        let kind = ftype(&st);
        if kind != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = links.get(&key) {
                link_from_root(dst, base, first, &name).map_err(|e| err("link", &rel, e))?;
                continue;
            }
            links.insert(key, rel.clone());
        }
        match kind {
            FileType::Directory => {
                rustix::fs::mkdirat(dst, os, Mode::from_raw_mode(0o700))
                    .map_err(|e| err("mkdir", &rel, e))?;
                let s = fsops::open_dir(src, &name).map_err(|e| err("open", &rel, e))?;
                let d = fsops::open_dir(dst, &name).map_err(|e| err("open", &rel, e))?;
                copy_dir(s.as_fd(), d.as_fd(), &rel, links)?;
            }
            FileType::RegularFile => {
                let sf: OwnedFd = rustix::fs::openat(
                    src,
                    os,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| err("open", &rel, e))?;
                let df: OwnedFd = rustix::fs::openat(
                    dst,
                    os,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| err("create", &rel, e))?;
                let mut sfile = std::fs::File::from(sf);
                let mut dfile = std::fs::File::from(df);
                std::io::copy(&mut sfile, &mut dfile).map_err(|e| {
                    ImageError::io(format!("copy {}", String::from_utf8_lossy(&rel)), e)
                })?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(src, os, Vec::new())
                    .map_err(|e| err("readlink", &rel, e))?;
                rustix::fs::symlinkat(target.as_c_str(), dst, os)
                    .map_err(|e| err("symlink", &rel, e))?;
            }
            FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Fifo
            | FileType::Socket => {
                rustix::fs::mknodat(
                    dst,
                    os,
                    kind,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    st.st_rdev,
                )
                .map_err(|e| err("mknod", &rel, e))?;
            }
            FileType::Unknown => continue,
        }
        for (k, v) in xattrs_at(src, &name) {
            let _ = fsops::set_xattr_at(dst, &name, &k, &v);
        }
        apply_meta(dst, &name, &st, &rel)?;
    }
    Ok(())
}

/// Hardlink `first` (a path relative to the copy's root) as `name` in `dst`.
/// `dst` is `base` below the root, so the root is reached with `..` steps,
/// all inside the tree being built.
fn link_from_root(
    dst: BorrowedFd<'_>,
    base: &[u8],
    first: &[u8],
    name: &[u8],
) -> rustix::io::Result<()> {
    let depth = if base.is_empty() {
        0
    } else {
        base.split(|b| *b == b'/').count()
    };
    let mut up = Vec::new();
    for _ in 0..depth {
        up.extend_from_slice(b"../");
    }
    up.extend_from_slice(first);
    rustix::fs::linkat(
        dst,
        OsStr::from_bytes(&up),
        dst,
        OsStr::from_bytes(name),
        AtFlags::empty(),
    )
}
