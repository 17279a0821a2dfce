//! What the service persists per volume (`volume.volumes`), its in-memory
//! bookkeeping of which containers use which volumes, and per-name locks.
//!
//! Who uses a volume is not persisted: the container records are the truth, and
//! the engine hands them over at start ([`crate::VolumeService::restore`]), so a
//! crash can never leave a stale count behind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use berth_core::store::Table;
use serde::{Deserialize, Serialize};

/// The service's table: name -> [`VolumeRecord`].
pub const TABLE: Table = Table("volume.volumes");

/// A volume as the service knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    /// Name.
    pub name: String,
    /// Driver name.
    pub driver: String,
    /// Labels given at create time (`None` when none were sent).
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver options given at create time.
    pub options: Option<BTreeMap<String, String>>,
    /// RFC 3339, seconds: for drivers that do not report one.
    pub created_at: String,
}

impl VolumeRecord {
    /// Labels as a map (empty when none).
    pub fn label_map(&self) -> HashMap<String, String> {
        self.labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// True when created with driver options (such volumes are skipped by prune and df, as Docker).
    pub fn has_options(&self) -> bool {
        self.options.as_ref().is_some_and(|o| !o.is_empty())
    }
}

/// One volume a container uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The volume.
    pub volume: String,
    /// Created for that container (removed with it when asked).
    pub anonymous: bool,
}

/// A live mount of a volume for a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Active {
    /// The volume.
    pub volume: String,
    /// Its driver.
    pub driver: String,
    /// The id passed to the driver's mount/unmount.
    pub mount_id: String,
}

/// Container -> volumes it references, and container -> live mounts.
#[derive(Debug, Default)]
pub struct Users {
    uses: Mutex<HashMap<String, Vec<Use>>>,
    active: Mutex<HashMap<String, Vec<Active>>>,
}

impl Users {
    fn uses(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Use>>> {
        self.uses.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Active>>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that `container` uses `volume`.
    pub fn add(&self, container: &str, volume: &str, anonymous: bool) {
        let mut uses = self.uses();
        let list = uses.entry(container.to_string()).or_default();
        match list.iter_mut().find(|u| u.volume == volume) {
            Some(u) => u.anonymous |= anonymous,
            None => list.push(Use {
                volume: volume.to_string(),
                anonymous,
            }),
        }
    }

    /// Drop one reference (undo of [`Users::add`] in a failed create).
    pub fn remove(&self, container: &str, volume: &str) {
        let mut uses = self.uses();
        if let Some(list) = uses.get_mut(container) {
            list.retain(|u| u.volume != volume);
            if list.is_empty() {
                uses.remove(container);
            }
        }
    }

    /// Forget a container; returns the volumes it used.
    pub fn take(&self, container: &str) -> Vec<Use> {
        self.uses().remove(container).unwrap_or_default()
    }

    /// Containers using `volume`, sorted.
    pub fn refs(&self, volume: &str) -> Vec<String> {
        let set: BTreeSet<String> = self
            .uses()
            .iter()
            .filter(|(_, l)| l.iter().any(|u| u.volume == volume))
            .map(|(c, _)| c.clone())
            .collect();
        set.into_iter().collect()
    }

    /// Record a live mount.
    pub fn mounted(&self, container: &str, a: Active) {
        self.active()
            .entry(container.to_string())
            .or_default()
            .push(a);
    }

    /// Take the live mounts of a container.
    pub fn take_active(&self, container: &str) -> Vec<Active> {
        self.active().remove(container).unwrap_or_default()
    }
}

/// One async lock per volume name, so slow driver calls on one volume never block others.
#[derive(Debug, Default)]
pub struct NameLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl NameLocks {
    /// Wait for the lock of `name`.
    pub async fn lock(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            // Forget locks nobody holds or waits for.
            map.retain(|_, m| Arc::strong_count(m) > 1);
            map.entry(name.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }
}
