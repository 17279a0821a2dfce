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

/// The per-container init layer of containers created before init layers
/// were shared (still removed with their container).
fn init_key(key: &str) -> String {
    format!("init-{key}")
}

/// The init layer shared by every container of images whose layer stack ends
/// in `top` (its content does not depend on the image or the container).
/// Kept by gc while its parent layer lives; see [`SHARED_INIT_PREFIX`].
fn shared_init_key(top: Option<&str>) -> String {
    let top = top
        .map(|t| t.trim_start_matches("sha256:"))
        .unwrap_or("scratch");
    format!("{SHARED_INIT_PREFIX}{top}")
}

/// Prefix of shared init layers (`init-image-<chain hex>`).
pub(crate) const SHARED_INIT_PREFIX: &str = "init-image-";

/// Mount points and files every container has, made in a per-container init
/// layer below its read-write layer (as Docker's `-init` layer), so the
/// runtime's bind mounts land on them without showing in `docker diff` or
/// commits.
const INIT_DIRS: &[&str] = &["dev", "dev/pts", "dev/shm", "proc", "sys", "etc"];
const INIT_FILES: &[&str] = &[
    ".dockerenv",
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "dev/console",
];

fn write_init(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for d in INIT_DIRS {
        let p = dir.join(d);
        if std::fs::symlink_metadata(&p).is_err() {
            std::fs::create_dir(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    for f in INIT_FILES {
        let p = dir.join(f);
        if std::fs::symlink_metadata(&p).is_err() {
            std::fs::File::create(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    let mtab = dir.join("etc/mtab");
    if std::fs::symlink_metadata(&mtab).is_err() {
        std::os::unix::fs::symlink("/proc/mounts", &mtab)?;
    }
    Ok(())
}

impl ImageService {
    /// Create the read-write layer `key` (e.g. a container id) on top of image
    /// `image_id`'s layers and return the mounts of its root filesystem.
    pub fn prepare_rw(&self, key: &str, image_id: &str) -> Result<Vec<Mount>> {
        let img = self.resolve(image_id)?;
        // Under the metadata lock: a concurrent gc (another container's
        // removal) must not see the fresh init layer childless and take it.
        let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.store.get::<RwRecord>(RW, key)?.is_some() {
            return Err(ImageError::Conflict(format!(
                "read-write layer {key} already exists"
            )));
        }
        let snap = &self.layers.snap;
        // Leftovers of an earlier, interrupted attempt with the same key.
        for k in [snap_key(key), init_key(key), format!("init-active-{key}")] {
            if snap.stat(&k)?.is_some() {
                snap.remove(&k)?;
            }
        }
        // One init layer per image top layer, made by the first container:
        // a dozen inodes and a snapshot fewer for every later one.
        let ik = shared_init_key(img.top_layer.as_deref());
        let existing = snap.stat(&ik)?;
        if !existing
            .as_ref()
            .is_some_and(|i| i.kind == crate::snapshot::Kind::Committed)
        {
            if existing.is_some() {
                snap.remove(&ik)?;
            }
            let active = format!("init-active-{key}");
            snap.prepare(&active, img.top_layer.as_deref())?;
            let made = snap
                .apply_dir(&active)
                .and_then(|d| {
                    write_init(&d).map_err(|e| ImageError::io(format!("init layer of {key}"), e))
                })
                .and_then(|_| snap.commit(&ik, &active));
            if let Err(e) = made {
                let _ = snap.remove(&active);
                return Err(e);
            }
        }
        let mounts = snap.prepare(&snap_key(key), Some(&ik))?;
        let rec = RwRecord {
            key: key.to_string(),
            image: img.id.clone(),
        };
        if let Err(e) = self.store.put(RW, key, &rec) {
            let _ = snap.remove(&snap_key(key));
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
        self.store
            .get::<RwRecord>(RW, key)?
            .ok_or_else(|| ImageError::Invalid(format!("no read-write layer {key}")))
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
        // Under the metadata lock: once rw-<key> is gone its init layer is
        // childless, and a concurrent gc would race this removal for it.
        let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        for k in [snap_key(key), init_key(key), format!("init-active-{key}")] {
            if self.layers.snap.stat(&k)?.is_some() {
                self.layers.snap.remove(&k)?;
            }
        }
        self.store.delete(RW, key)?;
        self.gc_locked()?;
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
