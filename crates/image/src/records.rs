//! What berth-image keeps in the metadata store (tables `image.*`).
//!
//! ```text
//! image.images      image id (sha256:…)        -> ImageRecord
//! image.refs        docker.io/library/bb:latest -> RefRecord   (also name@sha256:… digests)
//! image.layers      chain id                    -> LayerRecord
//! image.rw          container layer key         -> RwRecord
//! image.sources     blob digest                 -> ["host/repo", …] where the registry has it
//! image.compressed  diff id                     -> Compressed (gzip blob made for a push)
//! image.snapshots.* snapshotter records (see snapshot::meta)
//! ```
//! An image record is written only after every blob and layer it names exists,
//! in the same transaction as its references, so a crash never leaves an image
//! pointing at missing content.

use berth_core::store::Table;
use serde::{Deserialize, Serialize};

/// Images by id.
pub const IMAGES: Table = Table("image.images");
/// References (tags and digests) to image ids.
pub const REFS: Table = Table("image.refs");
/// Unpacked layers by chain id.
pub const LAYERS: Table = Table("image.layers");
/// Container read-write layers.
pub const RW: Table = Table("image.rw");
/// Registry repositories known to hold a blob (for cross-repository mounts).
pub const SOURCES: Table = Table("image.sources");
/// Compressed variants of uncompressed layers, made for pushes.
pub const COMPRESSED: Table = Table("image.compressed");

/// One layer blob of an image, aligned with the config's diff ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerDesc {
    /// Blob digest in the content store.
    pub digest: String,
    /// Media type (tells compression).
    pub media_type: String,
    /// Blob size.
    pub size: i64,
    /// Uncompressed digest.
    pub diff_id: String,
}

/// An image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// `sha256:` + config digest.
    pub id: String,
    /// Layer blobs.
    pub layers: Vec<LayerDesc>,
    /// Stored manifest blob (pulled or generated), if any.
    #[serde(default)]
    pub manifest: Option<String>,
    /// Parent image id (commits and builds), or empty.
    #[serde(default)]
    pub parent: String,
    /// Sum of unpacked layer sizes.
    pub size: i64,
    /// When it arrived here (RFC 3339).
    pub added: String,
    /// Last time a tag was set (RFC 3339) or empty.
    #[serde(default)]
    pub last_tag_time: String,
}

/// A reference to an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefRecord {
    /// Image id.
    pub image: String,
    /// When the reference was set.
    pub added: String,
}

/// An unpacked layer (a committed snapshot named by its chain id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    /// Chain id (also the snapshot name).
    pub chain_id: String,
    /// Diff id.
    pub diff_id: String,
    /// Parent chain id.
    pub parent: Option<String>,
    /// Bytes of file content unpacked.
    pub size: i64,
    /// Uncompressed tar size.
    pub tar_size: i64,
}

/// A container read-write layer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RwRecord {
    /// Caller's key (container id).
    pub key: String,
    /// Image it was made from.
    pub image: String,
}

/// A compressed copy of an uncompressed layer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Compressed {
    /// gzip blob digest.
    pub digest: String,
    /// Its size.
    pub size: i64,
}
