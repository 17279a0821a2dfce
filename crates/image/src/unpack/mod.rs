//! Applying a layer archive to a directory, safely, whatever the input.
//!
//! The archive may be gzip, zstd or plain tar. Entries are created with the
//! confined `*at` operations of [`fsops`], so nothing can land outside the
//! destination: absolute names, escaping `..`, writes through symlinks (also a
//! directory replaced by a symlink by a later entry), hardlinks to outside or
//! through symlinks, and symlinks whose relative target climbs out of the tree
//! (Docker's own "breakout" rule) are all refused, failing the whole layer.
//! tar-rs (>= 0.4.46, which fixed the PAX size desync) parses the stream.
//!
//! Whiteouts become overlayfs form ([`WhiteoutMode::Overlay`]: `.wh.x` → a 0/0
//! character device `x`, `.wh..wh..opq` → `trusted.overlay.opaque=y`), or are
//! applied as deletions ([`WhiteoutMode::Apply`], for the copy snapshotter).

pub mod decompress;
pub mod fsops;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use tar::EntryType;

use crate::digest::{Digest, HashReader};
use crate::error::{ImageError, Result};

/// Whiteout prefix.
pub const WH_PREFIX: &str = ".wh.";
/// Opaque-directory marker.
pub const WH_OPAQUE: &str = ".wh..wh..opq";
/// Overlay's opaque xattr.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How whiteouts are materialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// As overlayfs whiteouts in an upper directory.
    Overlay,
    /// By deleting the named paths (the directory holds the full tree).
    Apply,
}

/// What applying a layer found.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Digest of the uncompressed tar (the layer's diff id).
    pub diff_id: Digest,
    /// Uncompressed tar size.
    pub tar_size: u64,
    /// Bytes of regular file content written.
    pub size: u64,
}

fn hostile(path: &[u8], reason: impl Into<String>) -> ImageError {
    ImageError::Hostile {
        path: String::from_utf8_lossy(path).into_owned(),
        reason: reason.into(),
    }
}

fn fs_err(path: &[u8], what: &str, e: Errno) -> ImageError {
    if e == Errno::LOOP || e == Errno::XDEV || e == Errno::NOTDIR {
        return hostile(
            path,
            format!("{what}: path goes through a symlink or non-directory"),
        );
    }
    ImageError::io(
        format!("{what} {}", String::from_utf8_lossy(path)),
        e.into(),
    )
}

/// Split an archive path into clean components; refuse absolute and escaping paths.
pub fn clean(path: &[u8]) -> Result<Vec<Vec<u8>>> {
    if path.starts_with(b"/") {
        return Err(hostile(path, "absolute path"));
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(hostile(path, "path escapes the layer"));
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

/// Does a symlink at `comps` with target `target` stay inside the tree (lexically)?
fn symlink_stays_inside(comps: &[Vec<u8>], target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return true; // resolved against the container's root at run time
    }
    let mut depth = comps.len().saturating_sub(1) as i64;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

struct Applier {
    root: OwnedFd,
    mode: WhiteoutMode,
    created: HashSet<Vec<u8>>,
    dirs: Vec<(Vec<u8>, Timestamps)>,
    size: u64,
    buf: Vec<u8>,
}

/// Apply the layer archive read from `input` (any supported compression) to `dest`.
pub fn apply_layer(input: impl Read + Send, dest: &Path, mode: WhiteoutMode) -> Result<Applied> {
    let plain =
        decompress::decompress(input).map_err(|e| ImageError::bad(format!("layer: {e}")))?;
    let root = fsops::open_root(dest)
        .map_err(|e| ImageError::io(format!("open {}", dest.display()), e.into()))?;
    let mut ap = Applier {
        root,
        mode,
        created: HashSet::new(),
        dirs: Vec::new(),
        size: 0,
        buf: vec![0; 1 << 20],
    };
    let mut archive = tar::Archive::new(HashReader::new(plain));
    let entries = archive
        .entries()
        .map_err(|e| ImageError::bad(format!("bad layer archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ImageError::bad(format!("bad layer archive: {e}")))?;
        ap.entry(&mut entry)?;
    }
    let (diff_id, tar_size, _) = archive
        .into_inner()
        .finish()
        .map_err(|e| ImageError::bad(format!("bad layer archive: {e}")))?;
    ap.finish_dirs();
    Ok(Applied {
        diff_id,
        tar_size,
        size: ap.size,
    })
}

fn ts(secs: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: secs as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

impl Applier {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let path = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let comps = clean(&path)?;
        let Some((name, parents)) = comps.split_last() else {
            return if kind == EntryType::Directory {
                Ok(())
            } else {
                Err(hostile(&path, "entry names the layer root"))
            };
        };
        let parents: Vec<&[u8]> = parents.iter().map(Vec::as_slice).collect();
        let pfd = fsops::mkdir_all(self.root.as_fd(), &parents)
            .map_err(|e| fs_err(&path, "create parent", e))?;

        // Whiteouts.
        if let Some(rest) = name.strip_prefix(WH_PREFIX.as_bytes()) {
            return self.whiteout(&path, &comps, &pfd, rest);
        }

        let pax = pax_map(entry);
        let hdr = entry.header();
        let uid = pax.uid.or_else(|| hdr.uid().ok()).unwrap_or(0);
        let gid = pax.gid.or_else(|| hdr.gid().ok()).unwrap_or(0);
        let perm = hdr.mode().unwrap_or(0o644) & 0o7777;
        let mtime = pax.mtime.or_else(|| hdr.mtime().ok()).unwrap_or(0);
        let os_name = OsStr::from_bytes(name);

        // Replace what is there unless both are directories (Docker's rule).
        let existing = fsops::kind_at(pfd.as_fd(), name).map_err(|e| fs_err(&path, "stat", e))?;
        let is_dir = kind == EntryType::Directory;
        if let Some(k) = existing
            && !(is_dir && k == FileType::Directory)
        {
            fsops::remove_all_at(pfd.as_fd(), name).map_err(|e| fs_err(&path, "replace", e))?;
        }

        let chown = |pfd: &OwnedFd| {
            rustix::fs::chownat(
                pfd,
                os_name,
                Some(rustix::fs::Uid::from_raw(uid as u32)),
                Some(rustix::fs::Gid::from_raw(gid as u32)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
        };
        let chmod = |pfd: &OwnedFd| {
            rustix::fs::chmodat(pfd, os_name, Mode::from_raw_mode(perm), AtFlags::empty())
        };

        match kind {
            EntryType::Directory => {
                if existing != Some(FileType::Directory) {
                    rustix::fs::mkdirat(&pfd, os_name, Mode::from_raw_mode(0o700))
                        .map_err(|e| fs_err(&path, "mkdir", e))?;
                }
                chown(&pfd).map_err(|e| fs_err(&path, "chown", e))?;
                chmod(&pfd).map_err(|e| fs_err(&path, "chmod", e))?;
                self.dirs.push((comps.join(&b'/'), ts(mtime)));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = rustix::fs::openat(
                    &pfd,
                    os_name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| fs_err(&path, "create", e))?;
                let mut file = std::fs::File::from(fd);
                loop {
                    let n = entry
                        .read(&mut self.buf)
                        .map_err(|e| ImageError::bad(format!("bad layer archive: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&self.buf[..n])
                        .map_err(|e| ImageError::io("write layer file", e))?;
                    self.size += n as u64;
                }
                rustix::fs::fchown(
                    &file,
                    Some(rustix::fs::Uid::from_raw(uid as u32)),
                    Some(rustix::fs::Gid::from_raw(gid as u32)),
                )
                .map_err(|e| fs_err(&path, "chown", e))?;
                rustix::fs::fchmod(&file, Mode::from_raw_mode(perm))
                    .map_err(|e| fs_err(&path, "chmod", e))?;
                rustix::fs::futimens(&file, &ts(mtime)).map_err(|e| fs_err(&path, "utimes", e))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(hostile(&path, "symlink without target"));
                }
                if !symlink_stays_inside(&comps, &target) {
                    return Err(hostile(
                        &path,
                        format!(
                            "symlink target {:?} escapes the layer",
                            String::from_utf8_lossy(&target)
                        ),
                    ));
                }
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &pfd, os_name)
                    .map_err(|e| fs_err(&path, "symlink", e))?;
                chown(&pfd).map_err(|e| fs_err(&path, "chown", e))?;
                let _ = rustix::fs::utimensat(&pfd, os_name, &ts(mtime), AtFlags::SYMLINK_NOFOLLOW);
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let tcomps = clean(&target)
                    .map_err(|_| hostile(&path, "hardlink target outside the layer"))?;
                let Some((tname, tparents)) = tcomps.split_last() else {
                    return Err(hostile(&path, "hardlink to the layer root"));
                };
                let tparents: Vec<&[u8]> = tparents.iter().map(Vec::as_slice).collect();
                let tpfd = open_existing(&self.root, &tparents)
                    .map_err(|e| fs_err(&path, "hardlink target", e))?;
                match fsops::kind_at(tpfd.as_fd(), tname)
                    .map_err(|e| fs_err(&path, "hardlink target", e))?
                {
                    None => return Err(hostile(&path, "hardlink target not found in the layer")),
                    Some(FileType::Directory) => {
                        return Err(hostile(&path, "hardlink to a directory"));
                    }
                    Some(_) => {}
                }
                rustix::fs::linkat(
                    &tpfd,
                    OsStr::from_bytes(tname),
                    &pfd,
                    os_name,
                    AtFlags::empty(),
                )
                .map_err(|e| fs_err(&path, "link", e))?;
                self.created.insert(comps.join(&b'/'));
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let ft = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(
                    hdr.device_major().ok().flatten().unwrap_or(0),
                    hdr.device_minor().ok().flatten().unwrap_or(0),
                );
                rustix::fs::mknodat(&pfd, os_name, ft, Mode::from_raw_mode(perm), dev)
                    .map_err(|e| fs_err(&path, "mknod", e))?;
                chown(&pfd).map_err(|e| fs_err(&path, "chown", e))?;
                // mknod applies the umask; set the exact mode.
                chmod(&pfd).map_err(|e| fs_err(&path, "chmod", e))?;
                let _ = rustix::fs::utimensat(&pfd, os_name, &ts(mtime), AtFlags::SYMLINK_NOFOLLOW);
            }
            other => {
                tracing::debug!(entry = %String::from_utf8_lossy(&path), kind = ?other, "skipping unsupported tar entry");
                return Ok(());
            }
        }
        for (key, value) in &pax.xattrs {
            // Overlay's own xattrs in an archive could forge whiteouts or redirects.
            if key.starts_with(b"trusted.overlay.") || key.starts_with(b"security.selinux") {
                continue;
            }
            match fsops::set_xattr_at(pfd.as_fd(), name, key, value) {
                Ok(()) | Err(Errno::NOTSUP) | Err(Errno::PERM) => {}
                Err(e) => return Err(fs_err(&path, "setxattr", e)),
            }
        }
        self.created.insert(comps.join(&b'/'));
        Ok(())
    }

    fn whiteout(
        &mut self,
        path: &[u8],
        comps: &[Vec<u8>],
        pfd: &OwnedFd,
        rest: &[u8],
    ) -> Result<()> {
        let parent_key = comps[..comps.len() - 1].join(&b'/');
        if comps.last().map(Vec::as_slice) == Some(WH_OPAQUE.as_bytes()) {
            match self.mode {
                WhiteoutMode::Overlay => {
                    fsops::set_xattr_at(pfd.as_fd(), b".", OPAQUE_XATTR.as_bytes(), b"y")
                        .map_err(|e| fs_err(path, "mark opaque", e))?;
                }
                WhiteoutMode::Apply => {
                    let created = &self.created;
                    fsops::clear_dir(pfd.as_fd(), |child| {
                        let mut k = parent_key.clone();
                        if !k.is_empty() {
                            k.push(b'/');
                        }
                        k.extend_from_slice(child);
                        !created.contains(&k)
                    })
                    .map_err(|e| fs_err(path, "opaque dir", e))?;
                }
            }
            return Ok(());
        }
        if rest.starts_with(WH_PREFIX.as_bytes())
            || rest.is_empty()
            || rest == b"."
            || rest == b".."
            || rest.contains(&b'/')
        {
            // Other AUFS metadata (.wh..wh.plnk, ...) carries nothing for us.
            return Ok(());
        }
        fsops::remove_all_at(pfd.as_fd(), rest).map_err(|e| fs_err(path, "whiteout", e))?;
        if self.mode == WhiteoutMode::Overlay {
            rustix::fs::mknodat(
                pfd,
                OsStr::from_bytes(rest),
                FileType::CharacterDevice,
                Mode::empty(),
                0,
            )
            .map_err(|e| fs_err(path, "whiteout", e))?;
        }
        Ok(())
    }

    fn finish_dirs(&mut self) {
        // Children changed directory mtimes; restore them last, deepest first.
        for (rel, t) in self.dirs.iter().rev() {
            if let Ok(fd) = fsops::open_dir(self.root.as_fd(), rel) {
                let _ = rustix::fs::futimens(&fd, t);
            }
        }
    }
}

fn open_existing(root: &OwnedFd, comps: &[&[u8]]) -> rustix::io::Result<OwnedFd> {
    fsops::open_dir(root.as_fd(), &comps.join(&b'/'))
}

#[derive(Default)]
struct Pax {
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<u64>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn pax_map<R: Read>(entry: &mut tar::Entry<'_, R>) -> Pax {
    let mut out = Pax::default();
    let Ok(Some(exts)) = entry.pax_extensions() else {
        return out;
    };
    for ext in exts.flatten() {
        let key = ext.key_bytes();
        let num = || {
            std::str::from_utf8(ext.value_bytes())
                .ok()
                .and_then(|s| s.split('.').next()?.parse().ok())
        };
        match key {
            b"uid" => out.uid = num(),
            b"gid" => out.gid = num(),
            b"mtime" => out.mtime = num(),
            k => {
                if let Some(x) = k.strip_prefix(b"SCHILY.xattr.") {
                    out.xattrs.push((x.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    out
}

/// Drain a reader, for callers that must hash a whole stream.
pub fn drain(mut r: impl Read) -> io::Result<u64> {
    io::copy(&mut r, &mut io::sink())
}

#[cfg(test)]
mod tests;
