//! Snapshot metadata shared by the backends: one store table per backend
//! (`image.snapshots.<backend>`), directories `snapshots/<id>` under the
//! backend's root. Records change in store transactions; directories are made
//! before and removed after their record, and [`Meta::cleanup`] sweeps what a
//! crash left between the two.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_core::store::{Store, Table};

use super::{Info, Kind};
use crate::error::{ImageError, IoContext, Result};

const IDS: Table = Table("image.snapshot_ids");

/// Snapshot records of one backend.
pub struct Meta {
    store: Arc<Store>,
    table: Table,
    root: PathBuf,
}

impl Meta {
    /// Records in `table`, directories under `root/snapshots`.
    pub fn open(store: Arc<Store>, table: Table, root: &Path) -> Result<Meta> {
        fs::create_dir_all(root.join("snapshots")).ctx(|| format!("create {}", root.display()))?;
        Ok(Meta {
            store,
            table,
            root: root.to_path_buf(),
        })
    }

    /// Directory of snapshot `id`.
    pub fn dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    /// One record.
    pub fn get(&self, key: &str) -> Result<Option<Info>> {
        Ok(self.store.get(self.table, key)?)
    }

    /// A record that must exist.
    pub fn need(&self, key: &str) -> Result<Info> {
        self.get(key)?
            .ok_or_else(|| ImageError::Invalid(format!("snapshot {key} does not exist")))
    }

    /// All records.
    pub fn list(&self) -> Result<Vec<Info>> {
        Ok(self
            .store
            .list::<Info>(self.table)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// Allocate a record. With `pending_parent` the parent need not be committed yet
    /// (it must be by the time this snapshot is committed or mounted).
    pub fn create(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        pending_parent: bool,
    ) -> Result<Info> {
        let table = self.table;
        let name = table.0;
        Ok(self.store.write(|txn| {
            if txn.get::<Info>(table, key)?.is_some() {
                return Err(berth_core::Error::conflict(format!(
                    "snapshot {key} already exists"
                )));
            }
            if let Some(p) = parent {
                match txn.get::<Info>(table, p)? {
                    Some(pi) if pi.kind == Kind::Committed => {}
                    Some(_) => {
                        return Err(berth_core::Error::invalid(format!(
                            "parent snapshot {p} is not committed"
                        )));
                    }
                    None if pending_parent => {}
                    None => {
                        return Err(berth_core::Error::not_found(format!(
                            "parent snapshot {p} does not exist"
                        )));
                    }
                }
            }
            let id = txn.get::<u64>(IDS, name)?.unwrap_or(0) + 1;
            txn.put(IDS, name, &id)?;
            let info = Info {
                key: key.to_string(),
                parent: parent.map(str::to_string),
                kind,
                id,
            };
            txn.put(table, key, &info)?;
            Ok(info)
        })?)
    }

    /// Rename active `key` to committed `name`.
    pub fn commit(&self, name: &str, key: &str) -> Result<Info> {
        let table = self.table;
        Ok(self.store.write(|txn| {
            let Some(mut info) = txn.get::<Info>(table, key)? else {
                return Err(berth_core::Error::not_found(format!(
                    "snapshot {key} does not exist"
                )));
            };
            if info.kind != Kind::Active {
                return Err(berth_core::Error::invalid(format!(
                    "snapshot {key} is not active"
                )));
            }
            if txn.get::<Info>(table, name)?.is_some() {
                return Err(berth_core::Error::conflict(format!(
                    "snapshot {name} already exists"
                )));
            }
            if let Some(p) = &info.parent {
                match txn.get::<Info>(table, p)? {
                    Some(pi) if pi.kind == Kind::Committed => {}
                    _ => {
                        return Err(berth_core::Error::invalid(format!(
                            "parent snapshot {p} is not committed"
                        )));
                    }
                }
            }
            txn.delete(table, key)?;
            info.key = name.to_string();
            info.kind = Kind::Committed;
            txn.put(table, name, &info)?;
            Ok(info)
        })?)
    }

    /// Delete a record (not the directory); refused while children exist.
    pub fn remove(&self, key: &str) -> Result<Info> {
        let table = self.table;
        Ok(self.store.write(|txn| {
            let Some(info) = txn.get::<Info>(table, key)? else {
                return Err(berth_core::Error::not_found(format!(
                    "snapshot {key} does not exist"
                )));
            };
            let all = txn.list::<Info>(table)?;
            if let Some((child, _)) = all.iter().find(|(_, i)| i.parent.as_deref() == Some(key)) {
                return Err(berth_core::Error::conflict(format!(
                    "snapshot {key} has child {child}"
                )));
            }
            txn.delete(table, key)?;
            Ok(info)
        })?)
    }

    /// The committed ancestors of `info`, nearest first.
    pub fn ancestors(&self, info: &Info) -> Result<Vec<Info>> {
        let mut out = Vec::new();
        let mut cur = info.parent.clone();
        while let Some(p) = cur {
            let pi = self
                .get(&p)?
                .ok_or_else(|| ImageError::bad(format!("parent snapshot {p} is missing")))?;
            if pi.kind != Kind::Committed {
                return Err(ImageError::bad(format!(
                    "parent snapshot {p} is not committed"
                )));
            }
            cur = pi.parent.clone();
            out.push(pi);
            if out.len() > 1000 {
                return Err(ImageError::bad("snapshot parent chain too long or cyclic"));
            }
        }
        Ok(out)
    }

    /// Remove directories without a record (a crash between the two steps).
    pub fn cleanup(&self) -> Result<usize> {
        let live: std::collections::HashSet<String> =
            self.list()?.into_iter().map(|i| i.id.to_string()).collect();
        let mut n = 0;
        if let Ok(entries) = fs::read_dir(self.root.join("snapshots")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !live.contains(&name) {
                    remove_tree(&e.path())?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// Remove a directory tree that may hold immutable or odd files.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImageError::io(format!("remove {}", path.display()), e)),
    }
}
