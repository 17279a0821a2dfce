//! The copy snapshotter, for filesystems without overlay support: an active
//! snapshot is a full copy of its parent, a view bind-mounts the committed
//! parent read-only, and changes are found by comparing the two trees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_core::store::{Store, Table};
use rustix::fs::{FileType, Stat};

use super::meta::{Meta, remove_tree};
use super::walk::{self, ftype};
use super::{Change, ChangeKind, DiffEntry, Info, Kind, Mount, Snapshotter, Usage};
use crate::error::{ImageError, Result};
use crate::unpack::WhiteoutMode;

const TABLE: Table = Table("image.snapshots.naive");

/// Copy-based snapshots under `<root>/snapshots/<id>/fs`.
pub struct Naive {
    meta: Meta,
}

impl Naive {
    /// Open at `root` (e.g. `<data-root>/image/naive`).
    pub fn open(root: &Path, store: Arc<Store>) -> Result<Naive> {
        let meta = Meta::open(store, TABLE, root)?;
        meta.cleanup()?;
        Ok(Naive { meta })
    }

    fn fs(&self, id: u64) -> PathBuf {
        self.meta.dir(id).join("fs")
    }

    fn parent_fs(&self, info: &Info) -> Result<Option<PathBuf>> {
        Ok(match &info.parent {
            Some(p) => Some(self.fs(self.meta.need(p)?.id)),
            None => None,
        })
    }
}

fn bind(path: &Path, ro: bool) -> Mount {
    Mount {
        kind: "bind".into(),
        source: path.display().to_string(),
        options: vec![if ro { "ro" } else { "rw" }.into(), "rbind".into()],
    }
}

fn tree(root: &Path) -> Result<BTreeMap<Vec<u8>, Stat>> {
    let mut m = BTreeMap::new();
    walk::walk(root, &mut |rel, _, _, st| {
        m.insert(rel.to_vec(), *st);
        Ok(true)
    })?;
    Ok(m)
}

fn differs(a: &Stat, b: &Stat) -> bool {
    let kind = ftype(b);
    a.st_mode != b.st_mode
        || a.st_uid != b.st_uid
        || a.st_gid != b.st_gid
        || a.st_rdev != b.st_rdev
        || (kind != FileType::Directory
            && (a.st_mtime != b.st_mtime
                || a.st_mtime_nsec != b.st_mtime_nsec
                || (kind == FileType::RegularFile && a.st_size != b.st_size)))
}

fn parent_of(p: &[u8]) -> Option<&[u8]> {
    p.iter().rposition(|b| *b == b'/').map(|i| &p[..i])
}

impl Snapshotter for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn whiteout_mode(&self) -> WhiteoutMode {
        WhiteoutMode::Apply
    }

    fn parallel_apply(&self) -> bool {
        false
    }

    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let info = self.meta.create(key, parent, Kind::Active, false)?;
        let fs = self.fs(info.id);
        let made = std::fs::create_dir_all(&fs)
            .map_err(|e| ImageError::io(format!("create snapshot {key}"), e))
            .and_then(|_| match self.parent_fs(&info)? {
                Some(p) => walk::copy_tree(&p, &fs),
                None => Ok(()),
            });
        if let Err(e) = made {
            let _ = self.meta.remove(key);
            let _ = remove_tree(&self.meta.dir(info.id));
            return Err(e);
        }
        Ok(vec![bind(&fs, false)])
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let info = self.meta.create(key, parent, Kind::View, false)?;
        let _ = std::fs::create_dir_all(self.fs(info.id));
        self.mounts(key)
    }

    fn commit(&self, name: &str, key: &str) -> Result<()> {
        self.meta.commit(name, key).map(|_| ())
    }

    fn remove(&self, key: &str) -> Result<()> {
        let info = self.meta.remove(key)?;
        remove_tree(&self.meta.dir(info.id))
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let info = self.meta.need(key)?;
        Ok(match info.kind {
            Kind::Active => vec![bind(&self.fs(info.id), false)],
            _ => match self.parent_fs(&info)? {
                Some(p) => vec![bind(&p, true)],
                None => vec![bind(&self.fs(info.id), true)],
            },
        })
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        let info = self.meta.need(key)?;
        let own = walk::usage(&self.fs(info.id))?;
        // A copy holds its parent's data too; report only what it added.
        let base = match self.parent_fs(&info)? {
            Some(p) if info.kind != Kind::View => walk::usage(&p)?,
            _ => Usage::default(),
        };
        Ok(Usage {
            size: (own.size - base.size).max(0),
            inodes: (own.inodes - base.inodes).max(0),
        })
    }

    fn stat(&self, key: &str) -> Result<Option<Info>> {
        self.meta.get(key)
    }

    fn list(&self) -> Result<Vec<Info>> {
        self.meta.list()
    }

    fn apply_dir(&self, key: &str) -> Result<PathBuf> {
        Ok(self.fs(self.meta.need(key)?.id))
    }

    fn content_dir(&self, key: &str) -> Result<PathBuf> {
        self.apply_dir(key)
    }

    fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let info = self.meta.need(key)?;
        let new = tree(&self.fs(info.id))?;
        let old = match self.parent_fs(&info)? {
            Some(p) => tree(&p)?,
            None => BTreeMap::new(),
        };
        let mut changes: BTreeMap<Vec<u8>, ChangeKind> = BTreeMap::new();
        let mut touched: BTreeSet<Vec<u8>> = BTreeSet::new();
        for (p, st) in &new {
            match old.get(p) {
                None => {
                    changes.insert(p.clone(), ChangeKind::Added);
                    touched.insert(p.clone());
                }
                Some(o) if differs(o, st) => {
                    changes.insert(p.clone(), ChangeKind::Modified);
                }
                Some(_) => {}
            }
        }
        for p in old.keys() {
            let parent_alive =
                parent_of(p).is_none_or(|pp| new.contains_key(pp) && old.contains_key(pp));
            if !new.contains_key(p) && parent_alive {
                changes.insert(p.clone(), ChangeKind::Deleted);
                touched.insert(p.clone());
            }
        }
        // Directories holding added or deleted entries count as modified.
        for p in touched {
            if let Some(parent) = parent_of(&p)
                && !changes.contains_key(parent)
            {
                changes.insert(parent.to_vec(), ChangeKind::Modified);
            }
        }
        Ok(changes
            .into_iter()
            .map(|(p, kind)| Change {
                path: format!("/{}", String::from_utf8_lossy(&p)),
                kind,
            })
            .collect())
    }

    fn diff_entries(&self, key: &str) -> Result<Vec<DiffEntry>> {
        Ok(self
            .changes(key)?
            .into_iter()
            .map(|c| {
                let rel = c.path.trim_start_matches('/').to_string();
                match c.kind {
                    ChangeKind::Deleted => DiffEntry::Whiteout(rel),
                    _ => DiffEntry::Content(rel),
                }
            })
            .collect())
    }
}
