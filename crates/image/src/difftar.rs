//! Writing a layer tar from a snapshot's diff entries: file content read
//! through confined, symlink-refusing opens (the container may be running and
//! rearranging its files), whiteouts as `.wh.` entries, hardlinks kept.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use crate::error::{ImageError, Result};
use crate::snapshot::DiffEntry;
use crate::snapshot::walk::{ftype, lstat_at, xattrs_at};
use crate::unpack::{WH_OPAQUE, WH_PREFIX, fsops};

fn io_err(e: io::Error) -> ImageError {
    ImageError::io("write layer tar", e)
}

fn split(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", rel),
    }
}

fn marker(b: &mut tar::Builder<&mut dyn Write>, path: &str) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(0);
    b.append_data(&mut h, path, io::empty()).map_err(io_err)
}

/// Write a tar of `entries` (content read below `dir`) to `out`.
pub fn write(dir: &Path, entries: &[DiffEntry], out: &mut dyn Write) -> Result<()> {
    let root = fsops::open_root(dir)
        .map_err(|e| ImageError::io(format!("open {}", dir.display()), e.into()))?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    for e in entries {
        match e {
            DiffEntry::Whiteout(rel) => {
                let (p, n) = split(rel);
                let path = if p.is_empty() {
                    format!("{WH_PREFIX}{n}")
                } else {
                    format!("{p}/{WH_PREFIX}{n}")
                };
                marker(&mut b, &path)?;
            }
            DiffEntry::Opaque(rel) => marker(&mut b, &format!("{rel}/{WH_OPAQUE}"))?,
            DiffEntry::Content(rel) => {
                let (p, n) = split(rel);
                let Ok(pfd) = fsops::open_dir(root.as_fd(), p.as_bytes()) else {
                    continue;
                };
                let Ok(st) = lstat_at(pfd.as_fd(), n.as_bytes()) else {
                    continue;
                };
                let kind = ftype(&st);
                let mut h = tar::Header::new_gnu();
                h.set_mode(st.st_mode & 0o7777);
                h.set_uid(st.st_uid as u64);
                h.set_gid(st.st_gid as u64);
                h.set_mtime(st.st_mtime.max(0) as u64);
                h.set_size(0);
                let xattrs: Vec<(Vec<u8>, Vec<u8>)> = xattrs_at(pfd.as_fd(), n.as_bytes())
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with(b"trusted.overlay."))
                    .collect();
                if !xattrs.is_empty() {
                    let pax: Vec<(String, Vec<u8>)> = xattrs
                        .iter()
                        .map(|(k, v)| {
                            (
                                format!("SCHILY.xattr.{}", String::from_utf8_lossy(k)),
                                v.clone(),
                            )
                        })
                        .collect();
                    b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                        .map_err(io_err)?;
                }
                if kind != FileType::Directory && st.st_nlink > 1 {
                    if let Some(first) = links.get(&(st.st_dev, st.st_ino)) {
                        h.set_entry_type(tar::EntryType::Link);
                        b.append_link(&mut h, rel, first).map_err(io_err)?;
                        continue;
                    }
                    links.insert((st.st_dev, st.st_ino), rel.clone());
                }
                match kind {
                    FileType::Directory => {
                        h.set_entry_type(tar::EntryType::Directory);
                        b.append_data(&mut h, format!("{rel}/"), io::empty())
                            .map_err(io_err)?;
                    }
                    FileType::RegularFile => {
                        let fd = match rustix::fs::openat(
                            &pfd,
                            OsStr::from_bytes(n.as_bytes()),
                            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        ) {
                            Ok(fd) => fd,
                            Err(_) => continue,
                        };
                        let size = st.st_size.max(0) as u64;
                        h.set_entry_type(tar::EntryType::Regular);
                        h.set_size(size);
                        // Exactly `size` bytes even if the file changes meanwhile.
                        let data = std::fs::File::from(fd)
                            .take(size)
                            .chain(io::repeat(0).take(size));
                        b.append_data(&mut h, rel, data.take(size))
                            .map_err(io_err)?;
                    }
                    FileType::Symlink => {
                        let target = rustix::fs::readlinkat(
                            &pfd,
                            OsStr::from_bytes(n.as_bytes()),
                            Vec::new(),
                        )
                        .map_err(|e| ImageError::io(format!("readlink {rel}"), e.into()))?;
                        h.set_entry_type(tar::EntryType::Symlink);
                        b.append_link(&mut h, rel, OsStr::from_bytes(target.as_bytes()))
                            .map_err(io_err)?;
                    }
                    FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                        h.set_entry_type(match kind {
                            FileType::CharacterDevice => tar::EntryType::Char,
                            FileType::BlockDevice => tar::EntryType::Block,
                            _ => tar::EntryType::Fifo,
                        });
                        let dev = st.st_rdev;
                        h.set_device_major(rustix::fs::major(dev)).map_err(io_err)?;
                        h.set_device_minor(rustix::fs::minor(dev)).map_err(io_err)?;
                        b.append_data(&mut h, rel, io::empty()).map_err(io_err)?;
                    }
                    _ => {}
                }
            }
        }
    }
    b.finish().map_err(io_err)?;
    Ok(())
}
