//! Containers: the in-memory registry over the persisted records, and one file
//! per verb (`create.rs`, `start.rs`, `stop.rs`, …) adding methods to `Engine`.
//!
//! Locking: each container has an async `op` lock that serialises lifecycle
//! verbs (start/stop/kill/remove/restart), a std mutex for its small state, and a
//! watch channel that wakes waiters on every state change. No lock is held
//! across a call into another subsystem except `op`.

pub mod attach;
pub mod backend;
pub mod cgroup;
pub mod create;
pub mod exec;
pub mod filter;
pub mod fs;
pub mod health;
pub mod inspect;
pub mod logs;
pub mod merge;
pub mod monitor;
pub mod mounts;
pub mod names;
pub mod net;
pub mod netfiles;
pub mod query;
pub mod record;
pub mod remove;
pub mod rename;
pub mod restore;
pub mod runtime;
pub mod spec;
pub mod start;
pub mod state;
pub mod stats;
pub mod stop;
pub mod support;
pub mod top;
pub mod update;
pub mod users;
pub mod vm;
pub mod wait;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use berth_core::{Error, Result};
use tokio::sync::watch;

pub use record::{ConfigRecord, StateRecord};
pub use state::Status;

/// What waiters watch.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// Current status.
    pub status: Status,
    /// Exits seen so far.
    pub exits: u64,
    /// Last exit code.
    pub exit_code: i64,
    /// Removed from the engine.
    pub removed: bool,
}

/// One container, shared by every request about it.
#[derive(Debug)]
pub struct Container {
    /// Full id.
    pub id: String,
    rec: RwLock<ConfigRecord>,
    st: Mutex<StateRecord>,
    tick: watch::Sender<Tick>,
    /// Serialises lifecycle verbs.
    pub op: tokio::sync::Mutex<()>,
    /// Exec ids of this container (for inspect's `ExecIDs`).
    pub exec_ids: Mutex<Vec<String>>,
    /// Attach sessions waiting for the next start.
    pub pending: Mutex<Vec<attach::PendingAttach>>,
}

impl Container {
    /// Wrap loaded or new records.
    pub fn new(rec: ConfigRecord, st: StateRecord) -> Container {
        let tick = Tick {
            status: st.status,
            exits: st.exits,
            exit_code: st.exit_code,
            removed: false,
        };
        Container {
            id: rec.id.clone(),
            rec: RwLock::new(rec),
            st: Mutex::new(st),
            tick: watch::channel(tick).0,
            op: tokio::sync::Mutex::new(()),
            exec_ids: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// A copy of the configuration.
    pub fn config(&self) -> ConfigRecord {
        self.rec.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Read part of the configuration without cloning all of it.
    pub fn with_config<R>(&self, f: impl FnOnce(&ConfigRecord) -> R) -> R {
        f(&self.rec.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Change the configuration (rename, update); the caller persists it.
    pub fn update_config<R>(&self, f: impl FnOnce(&mut ConfigRecord) -> R) -> R {
        f(&mut self.rec.write().unwrap_or_else(|p| p.into_inner()))
    }

    /// A copy of the state.
    pub fn state(&self) -> StateRecord {
        self.st.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Current status.
    pub fn status(&self) -> Status {
        self.st.lock().unwrap_or_else(|p| p.into_inner()).status
    }

    /// Change the state and wake waiters; returns the new state (the caller persists it).
    pub fn update_state(&self, f: impl FnOnce(&mut StateRecord)) -> StateRecord {
        let snapshot = {
            let mut st = self.st.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut st);
            st.clone()
        };
        self.tick.send_modify(|t| {
            t.status = snapshot.status;
            t.exits = snapshot.exits;
            t.exit_code = snapshot.exit_code;
        });
        snapshot
    }

    /// Mark as removed and wake `condition=removed` waiters.
    pub fn mark_removed(&self) {
        self.tick.send_modify(|t| t.removed = true);
    }

    /// Subscribe to state changes.
    pub fn watch(&self) -> watch::Receiver<Tick> {
        self.tick.subscribe()
    }

    /// Name without `/`.
    pub fn name(&self) -> String {
        self.with_config(|c| c.name.clone())
    }
}

/// All containers, by id and by name.
#[derive(Default)]
pub struct Containers {
    by_id: RwLock<HashMap<String, Arc<Container>>>,
    names: RwLock<HashMap<String, String>>,
}

impl Containers {
    /// Find by full id, name (with or without `/`), or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Container>> {
        let by_id = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = by_id.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(id) = self
            .names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            && let Some(c) = by_id.get(id)
        {
            return Ok(c.clone());
        }
        if berth_core::id::is_prefix(key) {
            let mut found = by_id.iter().filter(|(id, _)| id.starts_with(key));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {key}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(no_such(key))
    }

    /// Claim `name` for `id`; Docker's conflict message when taken.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if let Some(owner) = names.get(name)
            && owner != id
        {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    /// Give a name back.
    pub fn release_name(&self, name: &str) {
        self.names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Is `name` taken?
    pub fn name_taken(&self, name: &str) -> bool {
        self.names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name)
    }

    /// Add a container (its name must be reserved already).
    pub fn insert(&self, c: Arc<Container>) {
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.id.clone(), c);
    }

    /// Drop a container and its name.
    pub fn remove(&self, c: &Container) {
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
        let name = c.name();
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if names.get(&name) == Some(&c.id) {
            names.remove(&name);
        }
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<Container>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// Docker's 404 for containers.
pub fn no_such(key: &str) -> Error {
    Error::not_found(format!("No such container: {key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(id: &str, name: &str) -> Arc<Container> {
        Arc::new(Container::new(
            ConfigRecord {
                id: id.into(),
                name: name.into(),
                ..Default::default()
            },
            StateRecord::default(),
        ))
    }

    #[test]
    fn lookup_by_id_name_and_prefix() {
        let cs = Containers::default();
        let a = "a".repeat(63) + "1";
        let b = "a".repeat(63) + "2";
        for (id, n) in [(&a, "web"), (&b, "db")] {
            cs.reserve_name(n, id).unwrap();
            cs.insert(mk(id, n));
        }
        assert_eq!(cs.get("web").unwrap().id, a);
        assert_eq!(cs.get("/db").unwrap().id, b);
        assert_eq!(cs.get(&b).unwrap().id, b);
        assert_eq!(cs.get(&b[..64]).unwrap().id, b);
        assert!(
            cs.get("aaaa")
                .unwrap_err()
                .message()
                .contains("multiple IDs")
        );
        assert_eq!(
            cs.get("nope").unwrap_err().kind(),
            berth_core::ErrorKind::NotFound
        );
        let e = cs.reserve_name("web", &b).unwrap_err();
        assert_eq!(e.kind(), berth_core::ErrorKind::Conflict);
        assert!(e.message().contains("is already in use by container"));
    }

    #[tokio::test]
    async fn waiters_see_state_changes() {
        let c = mk(&"b".repeat(64), "x");
        let mut rx = c.watch();
        c.update_state(|s| {
            s.status = Status::Exited;
            s.exits += 1;
            s.exit_code = 3;
        });
        rx.changed().await.unwrap();
        let t = rx.borrow().clone();
        assert_eq!((t.status, t.exits, t.exit_code), (Status::Exited, 1, 3));
    }
}
