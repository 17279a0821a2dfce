//! The view of an image that callers (engine, runtime, builder) use.

use crate::spec::{ContainerConfig, History, ImageConfig};

/// An image as resolved by [`crate::ImageService::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `sha256:<64 hex>` (the config digest).
    pub id: String,
    /// Familiar tags (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// Familiar digests (`busybox@sha256:…`).
    pub repo_digests: Vec<String>,
    /// Parent image id (commits and builds) or empty.
    pub parent: String,
    /// Creation time from the config (RFC 3339), empty when absent.
    pub created: String,
    /// Sum of unpacked layer sizes.
    pub size: i64,
    /// Container defaults (`Env`, `Cmd`, `Entrypoint`, ...).
    pub config: ContainerConfig,
    /// Uncompressed layer digests, base first.
    pub diff_ids: Vec<String>,
    /// Chain id of the top layer (the snapshot parent of containers), if any layer.
    pub top_layer: Option<String>,
    /// Build history.
    pub history: Vec<History>,
    /// Author.
    pub author: String,
    /// Comment.
    pub comment: String,
    /// Docker version that built it.
    pub docker_version: String,
    /// `amd64`...
    pub architecture: String,
    /// Variant.
    pub variant: String,
    /// `linux`.
    pub os: String,
    /// OS version.
    pub os_version: String,
    /// Last time a tag was set (RFC 3339) or empty.
    pub last_tag_time: String,
    /// When it was stored here (RFC 3339).
    pub added: String,
    /// The full config document.
    pub raw_config: ImageConfig,
    /// Digest of the stored manifest, if any.
    pub manifest: Option<String>,
}

impl Image {
    /// Labels of the image config.
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.config.labels.clone().unwrap_or_default()
    }

    /// `created` as unix seconds (0 when unknown).
    pub fn created_unix(&self) -> i64 {
        berth_core::timefmt::parse_rfc3339(&self.created)
            .map(|t| t.timestamp())
            .unwrap_or(0)
    }
}
