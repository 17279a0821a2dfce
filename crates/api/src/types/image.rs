//! Images: `/images/*`, `/distribution/*`, `/auth`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// `sha256:…`.
    pub id: String,
    /// Parent image id or `""`.
    pub parent_id: String,
    /// Tags (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// Digests (`busybox@sha256:…`).
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Bytes.
    pub size: i64,
    /// Bytes shared with other images (-1 when not computed).
    pub shared_size: i64,
    /// Deprecated; sent to clients older than API 1.44.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Containers using it (-1 when not computed).
    pub containers: i64,
}

/// `GraphDriver` of image inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// `overlay2`, `naive`.
    pub name: String,
    /// Driver facts.
    pub data: BTreeMap<String, String>,
}

/// `RootFS` of image inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Diff ids.
    pub layers: Vec<String>,
}

/// `Metadata` of image inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    /// RFC 3339, or Go's zero time.
    pub last_tag_time: String,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// `sha256:…`.
    pub id: String,
    /// Tags.
    pub repo_tags: Vec<String>,
    /// Digests.
    pub repo_digests: Vec<String>,
    /// Parent id or `""`.
    pub parent: String,
    /// Commit message.
    pub comment: String,
    /// RFC 3339 (omitted when the image has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Docker version that built it.
    pub docker_version: String,
    /// Author.
    pub author: String,
    /// Container defaults (Docker's image config, empty fields omitted).
    pub config: serde_json::Value,
    /// `amd64`.
    pub architecture: String,
    /// Variant.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// `linux`.
    pub os: String,
    /// OS version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    /// Bytes.
    pub size: i64,
    /// Deprecated; for API < 1.44.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
    /// Storage details.
    pub graph_driver: GraphDriver,
    /// Layers.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    /// Local metadata.
    pub metadata: ImageMetadata,
    /// Deprecated: the container a `docker commit` made it from (the server
    /// shows it to API < 1.45 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Deprecated: that container's `Config` (API < 1.45 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<serde_json::Value>,
}

/// One entry of `GET /images/{name}/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryResponseItem {
    /// Image id or `<missing>`.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// Instruction.
    pub created_by: String,
    /// Tags of this image.
    pub tags: Vec<String>,
    /// Layer size.
    pub size: i64,
    /// Comment.
    pub comment: String,
}

/// One entry of `DELETE /images/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDeleteResponseItem {
    /// A removed reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    /// A removed image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// `POST /images/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePruneResponse {
    /// What went (null when nothing).
    pub images_deleted: Option<Vec<ImageDeleteResponseItem>>,
    /// Bytes freed.
    pub space_reclaimed: i64,
}

/// Registry credentials (`X-Registry-Auth`, `POST /auth`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuthConfig {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// base64(`user:password`), as in config.json.
    #[serde(default)]
    pub auth: String,
    /// Deprecated.
    #[serde(default)]
    pub email: String,
    /// Registry (`https://index.docker.io/v1/`, `127.0.0.1:5000`).
    #[serde(default)]
    pub serveraddress: String,
    /// OAuth refresh token.
    #[serde(default)]
    pub identitytoken: String,
    /// Bearer token for the registry.
    #[serde(default)]
    pub registrytoken: String,
}

/// `POST /auth` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuthResponse {
    /// `Login Succeeded`.
    #[serde(rename = "Status")]
    pub status: String,
    /// Token to store instead of the password, if the registry gave one.
    #[serde(rename = "IdentityToken", default)]
    pub identity_token: String,
}

/// An OCI descriptor (`/distribution/{name}/json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OciDescriptor {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size.
    pub size: i64,
}

/// An OCI platform.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OciPlatform {
    /// `amd64`.
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// OS version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// Variant.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

/// `GET /distribution/{name}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DistributionInspect {
    /// The manifest (or index) the name resolves to.
    pub descriptor: OciDescriptor,
    /// Platforms it offers.
    pub platforms: Vec<OciPlatform>,
}
