//! [`ImageService`]: the entry point of berth-image. It owns the content store,
//! the snapshotter and layer store, and the image and reference records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use berth_core::events::EventBus;
use berth_core::store::Store;

use crate::content::ContentStore;
use crate::digest::{Digest, chain_ids};
use crate::error::{ImageError, IoContext, Result};
use crate::image::Image;
use crate::layers::LayerStore;
use crate::lease::Leases;
use crate::records::{COMPRESSED, Compressed, IMAGES, ImageRecord, REFS, RefRecord};
use crate::reference::Reference;
use crate::registry::RegistryOptions;
use crate::snapshot::{Snapshotter, naive::Naive, overlay::Overlay};
use crate::spec::ImageConfig;

/// A container using an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// Container id.
    pub container_id: String,
    /// Is it running (then even `rmi -f` is refused)?
    pub running: bool,
}

/// Who uses images; implemented by the engine, set after construction.
pub trait ImageUsers: Send + Sync {
    /// Containers made from `image_id` (`sha256:…`).
    fn containers_using(&self, image_id: &str) -> Vec<ImageUser>;
}

/// Settings for [`ImageService::open`].
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// `overlayfs`, `naive`, or `None` to pick overlayfs when the host supports it.
    pub snapshotter: Option<String>,
    /// Registry settings (mirrors, insecure registries).
    pub registry: RegistryOptions,
}

/// The image subsystem.
pub struct ImageService {
    pub(crate) root: PathBuf,
    pub(crate) store: Arc<Store>,
    pub(crate) events: Arc<EventBus>,
    pub(crate) content: ContentStore,
    pub(crate) layers: LayerStore,
    pub(crate) leases: Leases,
    pub(crate) users: RwLock<Option<Arc<dyn ImageUsers>>>,
    pub(crate) registry: crate::registry::Registry,
    /// Serialises reference changes, deletions and garbage collection.
    pub(crate) meta_lock: Mutex<()>,
    configs: Mutex<HashMap<String, Arc<ImageConfig>>>,
}

pub(crate) fn now() -> String {
    berth_core::timefmt::now_rfc3339()
}

impl ImageService {
    /// Open the image store under `root` (`<data-root>/image`).
    pub fn open(
        root: PathBuf,
        store: Arc<Store>,
        events: Arc<EventBus>,
        opts: ImageOptions,
    ) -> Result<ImageService> {
        std::fs::create_dir_all(&root).ctx(|| format!("create {}", root.display()))?;
        let content = ContentStore::open(&root.join("content"))?;
        let snap = open_snapshotter(&root, store.clone(), opts.snapshotter.as_deref())?;
        tracing::info!(snapshotter = snap.name(), root = %root.display(), "image store open");
        let layers = LayerStore::open(snap, store.clone())?;
        let svc = ImageService {
            root,
            store,
            events,
            content,
            layers,
            leases: Leases::default(),
            users: RwLock::new(None),
            registry: crate::registry::Registry::new(opts.registry)?,
            meta_lock: Mutex::new(()),
            configs: Mutex::new(HashMap::new()),
        };
        // Whatever a crash left unreferenced goes now.
        if let Err(e) = svc.gc() {
            tracing::warn!("image garbage collection at start failed: {e}");
        }
        Ok(svc)
    }

    /// Install the in-use check (the engine's container list).
    pub fn set_users(&self, users: Arc<dyn ImageUsers>) {
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = Some(users);
    }

    pub(crate) fn users_of(&self, id: &str) -> Vec<ImageUser> {
        match self
            .users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(u) => u.containers_using(id),
            None => Vec::new(),
        }
    }

    /// Name of the snapshotter in use (`overlayfs` or `naive`).
    pub fn snapshotter(&self) -> &'static str {
        self.layers.snap.name()
    }

    /// Root directory of the image store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn record(&self, id: &str) -> Result<Option<ImageRecord>> {
        Ok(self.store.get(IMAGES, id)?)
    }

    pub(crate) fn config(&self, id: &str) -> Result<Arc<ImageConfig>> {
        if let Some(c) = self
            .configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(c.clone());
        }
        let d = Digest::parse(id)?;
        let raw = self.content.read(&d)?;
        let cfg: ImageConfig = serde_json::from_slice(&raw)
            .map_err(|e| ImageError::bad(format!("image config {id}: {e}")))?;
        let cfg = Arc::new(cfg);
        self.configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), cfg.clone());
        Ok(cfg)
    }

    /// All references, grouped by image id.
    pub(crate) fn refs_by_image(&self) -> Result<HashMap<String, Vec<(Reference, RefRecord)>>> {
        let mut out: HashMap<String, Vec<(Reference, RefRecord)>> = HashMap::new();
        for (k, r) in self.store.list::<RefRecord>(REFS)? {
            if let Ok(parsed) = Reference::parse(&k) {
                out.entry(r.image.clone()).or_default().push((parsed, r));
            }
        }
        Ok(out)
    }

    pub(crate) fn build_image(
        &self,
        rec: &ImageRecord,
        refs: &[(Reference, RefRecord)],
    ) -> Result<Image> {
        let cfg = self.config(&rec.id)?;
        let mut repo_tags = Vec::new();
        let mut repo_digests = Vec::new();
        let mut sorted: Vec<&(Reference, RefRecord)> = refs.iter().collect();
        // Docker lists references in lexical order of their full form.
        sorted.sort_by_key(|a| a.0.to_string());
        for (r, _) in sorted {
            if r.digest.is_some() {
                repo_digests.push(r.familiar());
            } else {
                repo_tags.push(r.familiar());
            }
        }
        let diff_ids: Vec<String> = cfg.rootfs.diff_ids.clone();
        let parsed: Vec<Digest> = diff_ids
            .iter()
            .filter_map(|d| Digest::parse(d).ok())
            .collect();
        Ok(Image {
            id: rec.id.clone(),
            repo_tags,
            repo_digests,
            parent: rec.parent.clone(),
            created: cfg.created.clone().unwrap_or_default(),
            size: rec.size,
            config: cfg.config.clone().unwrap_or_default(),
            top_layer: chain_ids(&parsed).last().map(Digest::to_string),
            diff_ids,
            history: cfg.history.clone(),
            author: cfg.author.clone(),
            comment: cfg.comment.clone(),
            docker_version: cfg.docker_version.clone(),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone(),
            os: cfg.os.clone(),
            os_version: cfg.os_version.clone(),
            last_tag_time: rec.last_tag_time.clone(),
            added: rec.added.clone(),
            raw_config: (*cfg).clone(),
            manifest: rec.manifest.clone(),
        })
    }

    /// The image id `name_or_id` names: a reference (normalised like Docker), a
    /// full or short id (with or without `sha256:`), or `name@digest`.
    pub fn resolve_id(&self, name: &str) -> Result<String> {
        let not_found = || ImageError::NoSuchImage(name.to_string());
        if let Some(hex) = name.strip_prefix("sha256:") {
            if berth_core::id::is_full(hex) {
                return self.record(name)?.map(|r| r.id).ok_or_else(not_found);
            }
            return self.by_prefix(hex)?.ok_or_else(not_found);
        }
        if let Ok(r) = Reference::parse(name) {
            let r = r.with_default_tag();
            if let Some(rr) = self.store.get::<RefRecord>(REFS, &r.to_string())? {
                return Ok(rr.image);
            }
            // name:tag@digest also matches by the digest alone.
            if r.tag.is_some() && r.digest.is_some() {
                let d = Reference {
                    tag: None,
                    ..r.clone()
                };
                if let Some(rr) = self.store.get::<RefRecord>(REFS, &d.to_string())? {
                    return Ok(rr.image);
                }
            }
        }
        if berth_core::id::is_prefix(name)
            && let Some(id) = self.by_prefix(name)?
        {
            return Ok(id);
        }
        Err(not_found())
    }

    fn by_prefix(&self, hex: &str) -> Result<Option<String>> {
        if !berth_core::id::is_prefix(hex) {
            return Ok(None);
        }
        if berth_core::id::is_full(hex) {
            return Ok(self.record(&format!("sha256:{hex}"))?.map(|r| r.id));
        }
        let found: Vec<String> = self
            .store
            .list::<ImageRecord>(IMAGES)?
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k[7..].starts_with(hex))
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(ImageError::Invalid(format!(
                "multiple IDs found with provided prefix: {hex}"
            ))),
        }
    }

    /// Resolve an image by reference, id or id prefix. `NotFound`: `No such image: <name>`.
    pub fn resolve(&self, name_or_id: &str) -> Result<Image> {
        let id = self.resolve_id(name_or_id)?;
        let rec = self
            .record(&id)?
            .ok_or_else(|| ImageError::NoSuchImage(name_or_id.to_string()))?;
        let refs = self.refs_by_image()?.remove(&id).unwrap_or_default();
        self.build_image(&rec, &refs)
    }

    /// Every image.
    pub fn list(&self) -> Result<Vec<Image>> {
        let mut refs = self.refs_by_image()?;
        let mut out = Vec::new();
        for (_, rec) in self.store.list::<ImageRecord>(IMAGES)? {
            let r = refs.remove(&rec.id).unwrap_or_default();
            match self.build_image(&rec, &r) {
                Ok(img) => out.push(img),
                Err(e) => tracing::warn!(image = %rec.id, "skipping unreadable image: {e}"),
            }
        }
        Ok(out)
    }

    /// Ids of images whose parent is `id`.
    pub(crate) fn children(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .list::<ImageRecord>(IMAGES)?
            .into_iter()
            .filter(|(_, r)| r.parent == id)
            .map(|(k, _)| k)
            .collect())
    }

    /// Publish an image event with Docker's attributes (`name` plus the image labels).
    pub(crate) fn emit(&self, action: &str, id: &str, name: &str) {
        let mut attrs: HashMap<String, String> = HashMap::new();
        if let Ok(cfg) = self.config(id)
            && let Some(labels) = cfg.config.as_ref().and_then(|c| c.labels.clone())
        {
            attrs.extend(labels);
        }
        if !name.is_empty() {
            attrs.insert("name".to_string(), name.to_string());
        }
        self.events.emit("image", action, id, attrs);
    }

    /// Point `target` (a reference; `:latest` added when no tag) at the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<String> {
        let id = self.resolve_id(source)?;
        let r = Reference::parse(target)?;
        if r.digest.is_some() {
            return Err(ImageError::Invalid(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let r = r.with_default_tag();
        self.set_refs(&id, std::slice::from_ref(&r))?;
        self.emit("tag", &id, &r.familiar());
        Ok(r.familiar())
    }

    /// Set references to `id`; returns the ids they pointed at before (if other).
    /// An image removed meanwhile (an `rmi` racing a push) is NoSuchImage and
    /// gets no reference.
    pub(crate) fn set_refs(
        &self,
        id: &str,
        refs: &[Reference],
    ) -> Result<Vec<(Reference, String)>> {
        let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let t = now();
        let id_owned = id.to_string();
        let moved = self.store.write(|txn| {
            if txn.get::<ImageRecord>(IMAGES, &id_owned)?.is_none() {
                return Ok(None);
            }
            let mut moved = Vec::new();
            for r in refs {
                let key = r.to_string();
                if let Some(old) = txn.get::<RefRecord>(REFS, &key)? {
                    if old.image == id_owned {
                        continue;
                    }
                    moved.push((r.clone(), old.image));
                }
                txn.put(
                    REFS,
                    &key,
                    &RefRecord {
                        image: id_owned.clone(),
                        added: t.clone(),
                    },
                )?;
            }
            if let Some(mut rec) = txn.get::<ImageRecord>(IMAGES, &id_owned)?
                && refs.iter().any(|r| r.digest.is_none())
            {
                rec.last_tag_time = t.clone();
                txn.put(IMAGES, &id_owned, &rec)?;
            }
            Ok(Some(moved))
        })?;
        moved.ok_or_else(|| ImageError::NoSuchImage(id.to_string()))
    }

    /// Register finished images (records and references) in one transaction.
    /// Returns, per reference, the image it pointed at before.
    ///
    /// Bulk layer data is not fsynced first (as Docker's layer store does not):
    /// a killed daemon loses nothing the page cache holds, and the records
    /// themselves are durable once the transaction commits.
    pub(crate) fn register(
        &self,
        images: &[(ImageRecord, Vec<Reference>)],
    ) -> Result<Vec<(Reference, String)>> {
        let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        // Everything named must be on disk before the records say so.
        for (rec, _) in images {
            self.content.read(&Digest::parse(&rec.id)?)?;
            for l in &rec.layers {
                if !self.content.has(&Digest::parse(&l.digest)?) {
                    return Err(ImageError::bad(format!(
                        "layer blob {} is missing",
                        l.digest
                    )));
                }
            }
        }
        let t = now();
        Ok(self.store.write(|txn| {
            let mut moved = Vec::new();
            for (rec, refs) in images {
                let mut rec = rec.clone();
                if let Some(old) = txn.get::<ImageRecord>(IMAGES, &rec.id)? {
                    rec.added = old.added;
                    rec.last_tag_time = old.last_tag_time;
                    if rec.manifest.is_none() {
                        rec.manifest = old.manifest;
                    }
                    if rec.parent.is_empty() {
                        rec.parent = old.parent;
                    }
                }
                if refs.iter().any(|r| r.digest.is_none()) {
                    rec.last_tag_time = t.clone();
                }
                txn.put(IMAGES, &rec.id, &rec)?;
                for r in refs {
                    let key = r.to_string();
                    if let Some(old) = txn.get::<RefRecord>(REFS, &key)?
                        && old.image != rec.id
                    {
                        moved.push((r.clone(), old.image));
                    }
                    txn.put(
                        REFS,
                        &key,
                        &RefRecord {
                            image: rec.id.clone(),
                            added: t.clone(),
                        },
                    )?;
                }
            }
            Ok(moved)
        })?)
    }

    /// Delete unreferenced layers and blobs. Returns bytes of layers freed.
    pub fn gc(&self) -> Result<i64> {
        let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.gc_locked()
    }

    pub(crate) fn gc_locked(&self) -> Result<i64> {
        let images = self.store.list::<ImageRecord>(IMAGES)?;
        let leased = self.leases.held();
        let mut chains = HashSet::new();
        let mut blobs: HashSet<String> = HashSet::new();
        let mut diff_ids = HashSet::new();
        for (_, rec) in &images {
            blobs.insert(rec.id.clone());
            if let Some(m) = &rec.manifest {
                blobs.insert(m.clone());
            }
            let diffs: Vec<Digest> = rec
                .layers
                .iter()
                .filter_map(|l| Digest::parse(&l.diff_id).ok())
                .collect();
            chains.extend(chain_ids(&diffs).into_iter().map(String::from));
            for l in &rec.layers {
                blobs.insert(l.digest.clone());
                diff_ids.insert(l.diff_id.clone());
            }
        }
        let freed = self.layers.gc(&chains, &leased)?;
        for (diff, c) in self.store.list::<Compressed>(COMPRESSED)? {
            if diff_ids.contains(&diff) {
                blobs.insert(c.digest);
            } else if !leased.contains(&c.digest) {
                self.store.delete(COMPRESSED, &diff)?;
            }
        }
        for d in self.content.list() {
            if !blobs.contains(d.as_str()) && !leased.contains(d.as_str()) {
                self.content.delete(&d);
            }
        }
        let live: HashSet<String> = images.iter().map(|(k, _)| k.clone()).collect();
        self.configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| live.contains(k));
        Ok(freed)
    }

    /// Sizes of all unpacked layers by chain id (for shared-size and `system df`).
    pub fn layer_sizes(&self) -> Result<BTreeMap<String, i64>> {
        Ok(self
            .store
            .list::<crate::records::LayerRecord>(crate::records::LAYERS)?
            .into_iter()
            .map(|(k, v)| (k, v.size))
            .collect())
    }
}

fn open_snapshotter(
    root: &Path,
    store: Arc<Store>,
    wanted: Option<&str>,
) -> Result<Arc<dyn Snapshotter>> {
    let overlay_root = root.join("overlayfs");
    let naive_root = root.join("naive");
    let choice = match wanted {
        Some("overlayfs" | "overlay" | "overlay2") => "overlayfs",
        Some("naive" | "vfs") => "naive",
        Some(other) => {
            return Err(ImageError::Invalid(format!(
                "unknown snapshotter {other:?} (overlayfs, naive)"
            )));
        }
        None if naive_root.exists() && !overlay_root.exists() => "naive",
        None => {
            std::fs::create_dir_all(&overlay_root)
                .ctx(|| format!("create {}", overlay_root.display()))?;
            if overlay_supported(&overlay_root) {
                "overlayfs"
            } else {
                "naive"
            }
        }
    };
    Ok(match choice {
        "overlayfs" => Arc::new(Overlay::open(&overlay_root, store)?),
        _ => Arc::new(Naive::open(&naive_root, store)?),
    })
}

/// Whether overlayfs works at `root`, remembered per kernel release in
/// `root/.probed` so a daemon restart skips the mount probe (~3 ms).
fn overlay_supported(root: &Path) -> bool {
    let marker = root.join(".probed");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if !kernel.is_empty() && std::fs::read_to_string(&marker).is_ok_and(|k| k == kernel) {
        return true;
    }
    let ok = Overlay::supported(root);
    if ok && !kernel.is_empty() {
        // A lost marker only costs the next start a probe.
        let _ = berth_core::fsutil::atomic_write(&marker, kernel.as_bytes());
    }
    ok
}
