//! The embedded metadata store: one redb file (`<data-root>/meta.db`) with ACID
//! transactions across tables.
//!
//! # Schema (version 1)
//!
//! Every table maps a UTF-8 key to a JSON document. Each subsystem owns the tables
//! whose names start with its prefix and nothing else touches them:
//!
//! ```text
//! meta                  schema_version -> 1                         (this module)
//! image.*               image records, references, layers           (berth-image)
//! container.*           container config and state                   (berth-engine)
//! network.*             networks, endpoints, IPAM pools and leases   (berth-network)
//! volume.*              volume records                               (berth-volume)
//! ```
//!
//! Changing what a table holds means bumping [`SCHEMA_VERSION`] and adding a
//! migration; a store written by a newer berth is refused rather than misread.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// A named table of JSON documents keyed by strings.
#[derive(Debug, Clone, Copy)]
pub struct Table(pub &'static str);

impl Table {
    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.0)
    }
}

/// Handle to the metadata database; cheap to share behind an `Arc`.
pub struct Store {
    db: redb::Database,
}

fn db_err(err: impl Into<redb::Error>) -> Error {
    let err: redb::Error = err.into();
    Error::with_kind(ErrorKind::Internal, &err).context("metadata store")
}

fn decode<T: DeserializeOwned>(table: Table, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::with_kind(ErrorKind::Internal, &e)
            .context(format_args!("corrupt record {}/{key}", table.0))
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::with_kind(ErrorKind::Internal, &e))
}

impl Store {
    /// Open (or create) the store at `path`, checking the schema version.
    pub fn open(path: &Path) -> Result<Store> {
        let db = redb::Database::create(path).map_err(db_err)?;
        let store = Store { db };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<()> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let found = match meta.get("schema_version").map_err(db_err)? {
                Some(v) => Some(decode::<u64>(Table("meta"), "schema_version", v.value())?),
                None => None,
            };
            match found {
                None => {
                    let v = encode(&SCHEMA_VERSION)?;
                    meta.insert("schema_version", v.as_slice())
                        .map_err(db_err)?;
                }
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(Error::internal(format!(
                        "metadata store has schema version {v}, newer than this berth ({SCHEMA_VERSION}); refusing to open it"
                    )));
                }
                Some(_) => {}
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Read one document.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = match txn.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db_err(e)),
        };
        match t.get(key).map_err(db_err)? {
            Some(v) => decode(table, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every document of a table, in key order.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = match txn.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db_err(e)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let key = k.value().to_string();
            let value = decode(table, &key, v.value())?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Write one document in its own transaction.
    #[track_caller]
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        self.write(|txn| txn.put(table, key, value))
    }

    /// Delete one document in its own transaction; true when it existed.
    #[track_caller]
    pub fn delete(&self, table: Table, key: &str) -> Result<bool> {
        self.write(|txn| txn.delete(table, key))
    }

    /// Run `f` in one write transaction: all of its writes commit together or not at all.
    #[track_caller]
    pub fn write<R>(&self, f: impl FnOnce(&mut WriteTxn<'_>) -> Result<R>) -> Result<R> {
        tracing::trace!(at = %std::panic::Location::caller(), "store commit");
        let txn = self.db.begin_write().map_err(db_err)?;
        let mut w = WriteTxn { txn: &txn };
        let out = f(&mut w)?;
        txn.commit().map_err(db_err)?;
        Ok(out)
    }
}

/// A write transaction spanning any number of tables.
pub struct WriteTxn<'a> {
    txn: &'a redb::WriteTransaction,
}

impl WriteTxn<'_> {
    /// Insert or replace a document.
    pub fn put<T: Serialize>(&mut self, table: Table, key: &str, value: &T) -> Result<()> {
        let bytes = encode(value)?;
        let mut t = self.txn.open_table(table.def()).map_err(db_err)?;
        t.insert(key, bytes.as_slice()).map_err(db_err)?;
        Ok(())
    }

    /// Read a document inside the transaction (sees its own writes).
    pub fn get<T: DeserializeOwned>(&mut self, table: Table, key: &str) -> Result<Option<T>> {
        let t = self.txn.open_table(table.def()).map_err(db_err)?;
        let found = t.get(key).map_err(db_err)?;
        match found {
            Some(v) => decode(table, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Delete a document; true when it existed.
    pub fn delete(&mut self, table: Table, key: &str) -> Result<bool> {
        let mut t = self.txn.open_table(table.def()).map_err(db_err)?;
        let existed = t.remove(key).map_err(db_err)?.is_some();
        Ok(existed)
    }

    /// Every document of a table, in key order, as seen by this transaction.
    pub fn list<T: DeserializeOwned>(&mut self, table: Table) -> Result<Vec<(String, T)>> {
        let t = self.txn.open_table(table.def()).map_err(db_err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let key = k.value().to_string();
            out.push((key.clone(), decode(table, &key, v.value())?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table("test.things");

    #[test]
    fn put_get_list_delete_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.get::<String>(T, "a").unwrap(), None);
            assert!(s.list::<String>(T).unwrap().is_empty());
            s.put(T, "b", &"two".to_string()).unwrap();
            s.put(T, "a", &"one".to_string()).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get::<String>(T, "a").unwrap().as_deref(), Some("one"));
        let all = s.list::<String>(T).unwrap();
        assert_eq!(
            all,
            vec![("a".into(), "one".into()), ("b".into(), "two".into())]
        );
        assert!(s.delete(T, "a").unwrap());
        assert!(!s.delete(T, "a").unwrap());
    }

    #[test]
    fn failed_transaction_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("meta.db")).unwrap();
        let res: Result<()> = s.write(|txn| {
            txn.put(T, "x", &1u32)?;
            Err(Error::conflict("abort"))
        });
        assert!(res.is_err());
        assert_eq!(s.get::<u32>(T, "x").unwrap(), None);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            let s = Store::open(&path).unwrap();
            s.put(Table("meta"), "schema_version", &(SCHEMA_VERSION + 1))
                .unwrap();
        }
        let err = Store::open(&path).err().unwrap();
        assert!(err.message().contains("newer"), "{err}");
    }
}
