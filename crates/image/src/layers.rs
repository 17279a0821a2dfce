//! Unpacked layers: committed snapshots named by chain id, shared by every
//! image whose layer stack starts the same way. A layer lives while an image
//! or a container layer (through its snapshot parents) or a lease needs it;
//! [`LayerStore::gc`] removes the rest, children first.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

use berth_core::store::Store;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::records::{LAYERS, LayerRecord};
use crate::snapshot::{Kind, Snapshotter};
use crate::unpack::{Applied, apply_layer};

/// Layers on top of a snapshotter.
pub struct LayerStore {
    /// The snapshotter in use.
    pub snap: Arc<dyn Snapshotter>,
    store: Arc<Store>,
}

/// A layer unpacked into an active snapshot, waiting to be committed.
pub struct Pending {
    key: String,
    chain: Digest,
    parent: Option<Digest>,
    applied: Applied,
}

impl Pending {
    /// Bytes of file content.
    pub fn applied(&self) -> &Applied {
        &self.applied
    }
}

impl LayerStore {
    /// Layers on `snap`, records in `store`; drops unpacks a crash interrupted.
    pub fn open(snap: Arc<dyn Snapshotter>, store: Arc<Store>) -> Result<LayerStore> {
        for info in snap.list()? {
            // Unpacks and container init layers a crash interrupted.
            if info.kind == Kind::Active
                && (info.key.starts_with("extract-") || info.key.starts_with("init-active-"))
            {
                let _ = snap.remove(&info.key);
            }
        }
        Ok(LayerStore { snap, store })
    }

    /// The record of an unpacked layer.
    pub fn get(&self, chain: &str) -> Result<Option<LayerRecord>> {
        let rec: Option<LayerRecord> = self.store.get(LAYERS, chain)?;
        // Both the record and the committed snapshot must exist.
        Ok(match rec {
            Some(r)
                if self
                    .snap
                    .stat(chain)?
                    .is_some_and(|i| i.kind == Kind::Committed) =>
            {
                Some(r)
            }
            _ => None,
        })
    }

    /// Unpack `input` as layer `chain` (diff id `diff_id`) on top of `parent`.
    /// Blocking. With a parallel-capable snapshotter the parent may still be pending.
    pub fn unpack(
        &self,
        chain: &Digest,
        parent: Option<&Digest>,
        diff_id: &Digest,
        input: impl Read + Send,
    ) -> Result<Pending> {
        let key = format!("extract-{:016x}-{}", rand::random::<u64>(), chain.hex());
        self.snap.prepare(&key, parent.map(Digest::as_str))?;
        let result = self
            .snap
            .apply_dir(&key)
            .and_then(|dir| apply_layer(input, &dir, self.snap.whiteout_mode()));
        let applied = match result {
            Ok(a) if &a.diff_id == diff_id => a,
            Ok(a) => {
                let _ = self.snap.remove(&key);
                return Err(ImageError::bad(format!(
                    "layer {}: content digest {} does not match diff id {diff_id}",
                    chain.short(),
                    a.diff_id
                )));
            }
            Err(e) => {
                let _ = self.snap.remove(&key);
                return Err(e);
            }
        };
        Ok(Pending {
            key,
            chain: chain.clone(),
            parent: parent.cloned(),
            applied,
        })
    }

    /// Commit a pending layer (its parent must be committed by now).
    pub fn commit(&self, p: Pending) -> Result<LayerRecord> {
        let rec = LayerRecord {
            chain_id: p.chain.to_string(),
            diff_id: p.applied.diff_id.to_string(),
            parent: p.parent.as_ref().map(Digest::to_string),
            size: p.applied.size as i64,
            tar_size: p.applied.tar_size as i64,
        };
        let committed = |s: &Self| -> Result<bool> {
            Ok(s.snap
                .stat(p.chain.as_str())?
                .is_some_and(|i| i.kind == Kind::Committed))
        };
        if !committed(self)?
            && let Err(e) = self.snap.commit(p.chain.as_str(), &p.key)
            && !committed(self)?
        {
            let _ = self.snap.remove(&p.key);
            return Err(e);
        }
        // Someone else may have unpacked the same layer meanwhile: keep theirs.
        let _ = self.snap.remove(&p.key);
        if let Some(existing) = self.store.get::<LayerRecord>(LAYERS, p.chain.as_str())? {
            return Ok(existing);
        }
        self.store.put(LAYERS, p.chain.as_str(), &rec)?;
        Ok(rec)
    }

    /// Drop a pending layer.
    pub fn abort(&self, p: Pending) {
        let _ = self.snap.remove(&p.key);
    }

    /// Remove every committed layer not in `keep`, not leased, and not an
    /// ancestor of a kept, active or view snapshot. Returns bytes freed.
    pub fn gc(&self, keep: &HashSet<String>, leased: &HashSet<String>) -> Result<i64> {
        let all = self.snap.list()?;
        let by_key: std::collections::HashMap<&str, &crate::snapshot::Info> =
            all.iter().map(|i| (i.key.as_str(), i)).collect();
        let mut live: HashSet<String> = HashSet::new();
        let roots = all
            .iter()
            .filter(|i| {
                i.kind != Kind::Committed
                    || keep.contains(&i.key)
                    || leased.contains(&i.key)
                    // A shared init layer lives as long as the layer it sits on.
                    || (i.key.starts_with(crate::rw::SHARED_INIT_PREFIX)
                        && i.parent.as_ref().is_none_or(|p| keep.contains(p)))
            })
            .map(|i| i.key.clone());
        for k in roots {
            let mut cur = Some(k);
            while let Some(c) = cur {
                if !live.insert(c.clone()) {
                    break;
                }
                cur = by_key.get(c.as_str()).and_then(|i| i.parent.clone());
            }
        }
        // Remove children before parents: repeat while progress is made.
        let mut dead: Vec<&crate::snapshot::Info> =
            all.iter().filter(|i| !live.contains(&i.key)).collect();
        let mut freed = 0;
        while !dead.is_empty() {
            let before = dead.len();
            let parents: HashSet<String> = dead.iter().filter_map(|i| i.parent.clone()).collect();
            let mut rest = Vec::new();
            for i in dead {
                if parents.contains(&i.key) {
                    rest.push(i);
                    continue;
                }
                let rec: Option<LayerRecord> = self.store.get(LAYERS, &i.key)?;
                self.store.delete(LAYERS, &i.key)?;
                if let Err(e) = self.snap.remove(&i.key) {
                    tracing::warn!(layer = %i.key, "cannot remove layer: {e}");
                    continue;
                }
                freed += rec.map(|r| r.size).unwrap_or(0);
            }
            if rest.len() == before {
                break;
            }
            dead = rest;
        }
        Ok(freed)
    }
}
