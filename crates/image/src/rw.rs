//! Container read-write layers: an active snapshot on top of an image's layers.
//! Blocking calls; the engine runs them off the async workers.

use std::path::Path;

use crate::error::{ImageError, Result};
use crate::records::{RW, RwRecord};
use crate::service::ImageService;
use crate::snapshot::{Change, Mount, mount};

fn snap_key(key: &str) -> String {
    format!("rw-{key}")
}

impl ImageService {
    /// Create the read-write layer `key` (e.g. a container id) on top of image
    /// `image_id`'s layers and return the mounts of its root filesystem.
    pub fn prepare_rw(&self, key: &str, image_id: &str) -> Result<Vec<Mount>> {
        let img = self.resolve(image_id)?;
        if self.store.get::<RwRecord>(RW, key)?.is_some() {
            return Err(ImageError::Conflict(format!("read-write layer {key} already exists")));
        }
        let mounts = self.layers.snap.prepare(&snap_key(key), img.top_layer.as_deref())?;
        let rec = RwRecord { key: key.to_string(), image: img.id.clone() };
        if let Err(e) = self.store.put(RW, key, &rec) {
            let _ = self.layers.snap.remove(&snap_key(key));
            return Err(e.into());
        }
        Ok(mounts)
    }

    /// The mounts of an existing read-write layer.
    pub fn rw_mounts(&self, key: &str) -> Result<Vec<Mount>> {
        self.need_rw(key)?;
        self.layers.snap.mounts(&snap_key(key))
    }

    fn need_rw(&self, key: &str) -> Result<RwRecord> {
        self.store.get::<RwRecord>(RW, key)?.ok_or_else(|| ImageError::Invalid(format!("no read-write layer {key}")))
    }

    /// Mount read-write layer `key` on `target` (which must exist).
    pub fn mount_rw(&self, key: &str, target: &Path) -> Result<()> {
        mount::mount_all(&self.rw_mounts(key)?, target)
    }

    /// Unmount what [`ImageService::mount_rw`] mounted.
    pub fn unmount_rw(&self, target: &Path) -> Result<()> {
        mount::unmount(target)
    }

    /// Remove read-write layer `key` (unmount it first); frees image layers
    /// nothing else uses. Removing an unknown key is not an error.
    pub fn remove_rw(&self, key: &str) -> Result<()> {
        let sk = snap_key(key);
        if self.layers.snap.stat(&sk)?.is_some() {
            self.layers.snap.remove(&sk)?;
        }
        self.store.delete(RW, key)?;
        self.gc()?;
        Ok(())
    }

    /// Bytes written to read-write layer `key` (`SizeRw`).
    pub fn rw_usage(&self, key: &str) -> Result<i64> {
        self.need_rw(key)?;
        Ok(self.layers.snap.usage(&snap_key(key))?.size)
    }

    /// Changes of read-write layer `key` against its image (`docker diff`).
    pub fn changes(&self, key: &str) -> Result<Vec<Change>> {
        self.need_rw(key)?;
        self.layers.snap.changes(&snap_key(key))
    }

    /// Write the layer tar of read-write layer `key` (what `docker commit` stores) to `out`.
    pub fn diff_tar(&self, key: &str, out: &mut dyn std::io::Write) -> Result<()> {
        self.need_rw(key)?;
        let sk = snap_key(key);
        let entries = self.layers.snap.diff_entries(&sk)?;
        let dir = self.layers.snap.content_dir(&sk)?;
        crate::difftar::write(&dir, &entries, out)
    }
}
