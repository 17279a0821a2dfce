//! Leases: content and layers an in-flight operation (pull, load, import,
//! commit) has made but no image references yet. Garbage collection skips
//! everything leased, so a concurrent `rmi` cannot delete them midway.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The set of live leases.
#[derive(Default, Clone)]
pub struct Leases {
    inner: Arc<Mutex<HashMap<u64, HashSet<String>>>>,
}

impl Leases {
    /// Start a lease; it ends when the guard drops.
    pub fn lease(&self) -> Lease {
        let id = rand::random();
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, HashSet::new());
        Lease {
            leases: self.clone(),
            id,
        }
    }

    /// Everything currently leased.
    pub fn held(&self) -> HashSet<String> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.values().flatten().cloned().collect()
    }
}

/// One operation's lease.
pub struct Lease {
    leases: Leases,
    id: u64,
}

impl Lease {
    /// Protect a digest or chain id.
    pub fn add(&self, what: &str) {
        let mut g = self.leases.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = g.get_mut(&self.id) {
            set.insert(what.to_string());
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.leases
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}
