//! The overlayfs snapshotter: every snapshot is a directory `fs` (plus `work`);
//! active snapshots mount as `overlay` with their committed ancestors as
//! lower directories, so unpacked layers are shared, never copied.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_core::store::{Store, Table};
use rustix::fs::FileType;

use super::meta::{Meta, remove_tree};
use super::walk::{self, ftype, lstat_at};
use super::{Change, ChangeKind, DiffEntry, Info, Kind, Mount, Snapshotter, Usage};
use crate::error::{ImageError, Result};
use crate::unpack::{OPAQUE_XATTR, WhiteoutMode, fsops};

const TABLE: Table = Table("image.snapshots.overlayfs");

/// overlayfs-backed snapshots under `<root>/snapshots/<id>/{fs,work}`.
pub struct Overlay {
    meta: Meta,
}

impl Overlay {
    /// Open at `root` (e.g. `<data-root>/image/overlayfs`).
    pub fn open(root: &Path, store: Arc<Store>) -> Result<Overlay> {
        let meta = Meta::open(store, TABLE, root)?;
        meta.cleanup()?;
        Ok(Overlay { meta })
    }

    /// Can overlayfs (with whiteouts and opaque dirs) be mounted on `root`'s filesystem?
    pub fn supported(root: &Path) -> bool {
        let probe = root.join(format!("probe-{:08x}", rand::random::<u32>()));
        let ok = (|| -> std::io::Result<bool> {
            for d in ["l1", "l2", "u", "w", "m"] {
                std::fs::create_dir_all(probe.join(d))?;
            }
            std::fs::write(probe.join("l1/a"), b"a")?;
            rustix::fs::mknodat(
                rustix::fs::CWD,
                probe.join("l2/a"),
                FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                0,
            )?;
            rustix::fs::setxattr(
                probe.join("l2"),
                OPAQUE_XATTR,
                b"y",
                rustix::fs::XattrFlags::empty(),
            )?;
            let m = Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    format!(
                        "lowerdir={}:{}",
                        probe.join("l2").display(),
                        probe.join("l1").display()
                    ),
                    format!("upperdir={}", probe.join("u").display()),
                    format!("workdir={}", probe.join("w").display()),
                ],
            };
            if super::mount::mount_all(&[m], &probe.join("m")).is_err() {
                return Ok(false);
            }
            let hidden = !probe.join("m/a").exists();
            let _ = super::mount::unmount(&probe.join("m"));
            Ok(hidden)
        })()
        .unwrap_or(false);
        let _ = remove_tree(&probe);
        ok
    }

    fn fs(&self, id: u64) -> PathBuf {
        self.meta.dir(id).join("fs")
    }

    fn mounts_for(&self, info: &Info) -> Result<Vec<Mount>> {
        let lowers: Vec<String> = self
            .meta
            .ancestors(info)?
            .iter()
            .map(|a| self.fs(a.id).display().to_string())
            .collect();
        let dir = self.meta.dir(info.id);
        Ok(match (info.kind, lowers.len()) {
            (Kind::Active, 0) => vec![bind(&self.fs(info.id), false)],
            (Kind::Active, _) => vec![Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    format!("lowerdir={}", lowers.join(":")),
                    format!("upperdir={}", dir.join("fs").display()),
                    format!("workdir={}", dir.join("work").display()),
                    "index=off".into(),
                ],
            }],
            (_, 0) => vec![bind(&self.fs(info.id), true)],
            (_, 1) => vec![bind(Path::new(&lowers[0]), true)],
            (_, _) => vec![Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    "ro".into(),
                    format!("lowerdir={}", lowers.join(":")),
                    "index=off".into(),
                ],
            }],
        })
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Info> {
        let info = self.meta.create(key, parent, kind, kind == Kind::Active)?;
        let dir = self.meta.dir(info.id);
        let made = std::fs::create_dir_all(dir.join("fs"))
            .and_then(|_| std::fs::create_dir_all(dir.join("work")));
        if let Err(e) = made {
            let _ = self.meta.remove(key);
            return Err(ImageError::io(format!("create snapshot {key}"), e));
        }
        Ok(info)
    }

    fn lower_roots(&self, info: &Info) -> Result<Vec<std::os::fd::OwnedFd>> {
        self.meta
            .ancestors(info)?
            .iter()
            .map(|a| {
                fsops::open_root(&self.fs(a.id))
                    .map_err(|e| ImageError::io("open lower layer", e.into()))
            })
            .collect()
    }
}

fn bind(path: &Path, ro: bool) -> Mount {
    Mount {
        kind: "bind".into(),
        source: path.display().to_string(),
        options: vec![if ro { "ro" } else { "rw" }.into(), "rbind".into()],
    }
}

fn is_whiteout(st: &rustix::fs::Stat) -> bool {
    ftype(st) == FileType::CharacterDevice && st.st_rdev == 0
}

fn is_opaque(dir: std::os::fd::BorrowedFd<'_>, name: &[u8]) -> bool {
    walk::xattrs_at(dir, name)
        .iter()
        .any(|(k, v)| k == OPAQUE_XATTR.as_bytes() && v == b"y")
}

/// Stat `rel` in a lower layer without following symlinks on the way.
fn lower_stat(lower: &std::os::fd::OwnedFd, rel: &[u8]) -> Option<rustix::fs::Stat> {
    let (parent, name) = match rel.iter().rposition(|b| *b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&b""[..], rel),
    };
    let pfd = fsops::open_dir(lower.as_fd(), parent).ok()?;
    lstat_at(pfd.as_fd(), name).ok()
}

impl Snapshotter for Overlay {
    fn name(&self) -> &'static str {
        "overlayfs"
    }

    fn whiteout_mode(&self) -> WhiteoutMode {
        WhiteoutMode::Overlay
    }

    fn parallel_apply(&self) -> bool {
        true
    }

    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let info = self.create(key, parent, Kind::Active)?;
        match self.mounts_for(&info) {
            Ok(m) => Ok(m),
            // The parent may still be pending (parallel layer unpack).
            Err(_) if parent.is_some() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let info = self.create(key, parent, Kind::View)?;
        self.mounts_for(&info)
    }

    fn commit(&self, name: &str, key: &str) -> Result<()> {
        let info = self.meta.commit(name, key)?;
        let _ = remove_tree(&self.meta.dir(info.id).join("work"));
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<()> {
        let info = self.meta.remove(key)?;
        remove_tree(&self.meta.dir(info.id))
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let info = self.meta.need(key)?;
        self.mounts_for(&info)
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        let info = self.meta.need(key)?;
        walk::usage(&self.fs(info.id))
    }

    fn stat(&self, key: &str) -> Result<Option<Info>> {
        self.meta.get(key)
    }

    fn list(&self) -> Result<Vec<Info>> {
        self.meta.list()
    }

    fn apply_dir(&self, key: &str) -> Result<PathBuf> {
        let info = self.meta.need(key)?;
        Ok(self.fs(info.id))
    }

    fn content_dir(&self, key: &str) -> Result<PathBuf> {
        self.apply_dir(key)
    }

    fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let info = self.meta.need(key)?;
        let lowers = self.lower_roots(&info)?;
        let mut out: Vec<Change> = Vec::new();
        let mut changed_dirs = std::collections::HashSet::new();
        walk::walk(&self.fs(info.id), &mut |rel, dir, name, st| {
            let path = format!("/{}", String::from_utf8_lossy(rel));
            let is_dir = ftype(st) == FileType::Directory;
            let in_lower = || lowers.iter().find_map(|l| lower_stat(l, rel));
            let kind =
                if is_whiteout(st) || (is_dir && is_opaque(dir, name) && in_lower().is_some()) {
                    ChangeKind::Deleted
                } else {
                    match in_lower() {
                        None => ChangeKind::Added,
                        Some(lst) => {
                            let same_dir = is_dir
                                && ftype(&lst) == FileType::Directory
                                && lst.st_size == st.st_size
                                && lst.st_mode == st.st_mode
                                && lst.st_mtime == st.st_mtime
                                && lst.st_mtime_nsec == st.st_mtime_nsec;
                            if same_dir {
                                return Ok(true);
                            }
                            ChangeKind::Modified
                        }
                    }
                };
            if is_dir {
                changed_dirs.insert(path.clone());
            }
            if kind != ChangeKind::Modified
                && let Some((parent, _)) = path.rsplit_once('/')
                && !parent.is_empty()
                && changed_dirs.insert(parent.to_string())
            {
                out.push(Change {
                    path: parent.to_string(),
                    kind: ChangeKind::Modified,
                });
            }
            out.push(Change { path, kind });
            Ok(true)
        })?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn diff_entries(&self, key: &str) -> Result<Vec<DiffEntry>> {
        let info = self.meta.need(key)?;
        let mut out = Vec::new();
        walk::walk(&self.fs(info.id), &mut |rel, dir, name, st| {
            let rel = String::from_utf8_lossy(rel).into_owned();
            if is_whiteout(st) {
                out.push(DiffEntry::Whiteout(rel));
                return Ok(false);
            }
            let opaque = ftype(st) == FileType::Directory && is_opaque(dir, name);
            out.push(DiffEntry::Content(rel.clone()));
            if opaque {
                out.push(DiffEntry::Opaque(rel));
            }
            Ok(true)
        })?;
        Ok(out)
    }
}
