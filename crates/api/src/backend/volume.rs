//! Volumes: `/volumes` list, create, inspect, remove, prune.

use async_trait::async_trait;
use berth_core::Result;
use berth_core::filters::Filters;

use crate::types::volume::{Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneResponse};

/// `GET /volumes`, `POST /volumes/create`, `GET|DELETE /volumes/{name}`, `POST /volumes/prune`.
///
/// Errors use Docker's wording: `get x: no such volume` (NotFound),
/// `remove x: volume is in use - [<container ids>]` (Conflict), a bad name or
/// option (InvalidArgument).
#[async_trait]
pub trait VolumeBackend {
    /// List with filters `name`, `driver`, `label`, `dangling` (already validated by the server).
    async fn volume_list(&self, filters: Filters) -> Result<VolumeListResponse>;
    /// Create; creating an existing name returns the existing volume unchanged.
    async fn volume_create(&self, opts: VolumeCreateOptions) -> Result<Volume>;
    /// Inspect.
    async fn volume_inspect(&self, name: &str) -> Result<Volume>;
    /// Remove. `force` ignores a missing volume and drops the record even when the driver
    /// fails; a volume in use by a container is never removed (Conflict), as in Docker.
    async fn volume_remove(&self, name: &str, force: bool) -> Result<()>;
    /// Prune unused local volumes: anonymous ones, or all with the filter `all=true`
    /// (the server adds it for clients older than API 1.42). Filters `label`, `label!`, `all`.
    async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse>;
}
