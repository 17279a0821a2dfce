//! The build cache: a step is reused when its parent image and its probe
//! config (the next image's config with `Cmd` set to the step's history
//! command, which carries the content hash of COPY/ADD sources and the
//! build arguments of RUN) match a step built before.
//!
//! With `--cache-from`, as in Docker's classic builder, only images that are
//! one of the named images or their ancestors (parent chain) are reused; names
//! that do not resolve are skipped, so `--cache-from nosuchtag` turns the
//! cache off. (Docker also matches pulled images, which have no local parent
//! chain, by their history; berth does not.)
//!
//! # Table (owned by berth-builder)
//!
//! ```text
//! build.cache   sha256(parent, probe config) -> CacheRecord
//! build.temp    key -> TempRecord   read-write layers and images a build is using
//!                                   (removed when it ends; swept after a crash)
//! ```

use std::collections::HashSet;

use berth_core::store::{Store, Table};
use berth_image::ImageService;
use berth_image::spec::ContainerConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Cache keys.
pub const CACHE: Table = Table("build.cache");
/// In-use temporary objects.
pub const TEMP: Table = Table("build.temp");

/// A cached step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CacheRecord {
    /// The image the step made.
    pub image: String,
    /// When (RFC 3339).
    pub created: String,
}

/// Something a build created that must not outlive it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TempRecord {
    /// `rw` (a read-write layer key) or `image` (an image id).
    pub kind: String,
    /// The build that owns it.
    pub build: String,
}

/// The cache key of a step.
pub fn key(parent: Option<&str>, probe: &ContainerConfig) -> String {
    let mut h = Sha256::new();
    h.update(b"berth-build-cache-v1\0");
    h.update(parent.unwrap_or("scratch").as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(probe).unwrap_or_default());
    hex::encode(h.finalize())
}

/// Look a step up.
pub fn get(store: &Store, key: &str) -> Option<String> {
    store
        .get::<CacheRecord>(CACHE, key)
        .ok()
        .flatten()
        .map(|r| r.image)
}

/// Remember a step.
pub fn put(store: &Store, key: &str, image: &str) {
    let rec = CacheRecord {
        image: image.to_string(),
        created: berth_core::timefmt::now_rfc3339(),
    };
    if let Err(e) = store.put(CACHE, key, &rec) {
        tracing::warn!("build cache: {e}");
    }
}

/// The images `--cache-from` allows a hit on: each named image that resolves
/// and its ancestors. `None` when no `--cache-from` was given (any hit goes).
pub fn sources(images: &ImageService, refs: &[String]) -> Option<HashSet<String>> {
    if refs.is_empty() {
        return None;
    }
    let mut allowed = HashSet::new();
    for r in refs {
        let mut next = images.resolve(r).ok();
        while let Some(img) = next.take() {
            if !allowed.insert(img.id.clone()) || img.parent.is_empty() {
                break;
            }
            next = images.resolve(&img.parent).ok();
        }
    }
    Some(allowed)
}
