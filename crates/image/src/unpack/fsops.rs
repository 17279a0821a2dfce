//! Filesystem operations confined to one directory tree.
//!
//! Every path is resolved component by component from a directory fd with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV)`, and every change is made with an `*at` call relative to the
//! final parent directory's fd. A symlink anywhere on the way is an error, never
//! followed, so an archive cannot write outside the tree by planting a symlink
//! (or swapping a directory for one) and then writing through it. This is
//! written by hand because tar-rs's `unpack_in` checks paths by canonicalising
//! them (racy, and it follows symlinks inside the tree) and does not create
//! device nodes or FIFOs at all.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Flags for confined resolution.
pub fn confined() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
}

/// Open `rel` (relative, no `..`) under `dir` as a directory fd, without following symlinks.
pub fn open_dir(dir: BorrowedFd<'_>, rel: &[u8]) -> rustix::io::Result<OwnedFd> {
    let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
    rustix::fs::openat2(
        dir,
        OsStr::from_bytes(rel),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        confined(),
    )
}

/// Open the root of a tree.
pub fn open_root(path: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Open (creating with mode 0755 where missing) each directory of `comps` below `root`.
/// `Err(ELOOP/ENOTDIR)` means a component is a symlink or not a directory.
pub fn mkdir_all(root: BorrowedFd<'_>, comps: &[&[u8]]) -> rustix::io::Result<OwnedFd> {
    let mut cur = open_dir(root, b".")?;
    for c in comps {
        let name = OsStr::from_bytes(c);
        match open_dir(cur.as_fd(), c) {
            Ok(fd) => cur = fd,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(cur.as_fd(), name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                cur = open_dir(cur.as_fd(), c)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

/// The type of `name` in `dir` without following symlinks, or `None`.
pub fn kind_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<Option<FileType>> {
    match rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove `name` in `dir`, recursively for directories, never following symlinks.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<()> {
    let os = OsStr::from_bytes(name);
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(FileType::Directory) => {
            let sub = open_dir(dir, name)?;
            clear_dir(sub.as_fd(), |_| true)?;
            rustix::fs::unlinkat(dir, os, AtFlags::REMOVEDIR)
        }
        Some(_) => rustix::fs::unlinkat(dir, os, AtFlags::empty()),
    }
}

/// Remove every child of `dir` for which `pred(name)` holds.
pub fn clear_dir(dir: BorrowedFd<'_>, pred: impl Fn(&[u8]) -> bool) -> rustix::io::Result<()> {
    for name in list_dir(dir)? {
        if pred(&name) {
            remove_all_at(dir, &name)?;
        }
    }
    Ok(())
}

/// Names in a directory (without `.` and `..`).
pub fn list_dir(dir: BorrowedFd<'_>) -> rustix::io::Result<Vec<Vec<u8>>> {
    let fd = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = rustix::fs::Dir::read_from(&fd)?;
    let mut out = Vec::new();
    while let Some(ent) = d.read() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    Ok(out)
}

/// `lsetxattr` on `name` inside `dir`, via the directory's `/proc/self/fd` link so
/// no path outside the tree is ever walked. The final component is not followed.
pub fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    key: &[u8],
    value: &[u8],
) -> rustix::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    rustix::fs::lsetxattr(
        OsStr::from_bytes(&p),
        OsStr::from_bytes(key),
        value,
        rustix::fs::XattrFlags::empty(),
    )
}
