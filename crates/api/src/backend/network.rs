//! Networks: `/networks` list, inspect, create, remove, connect, disconnect, prune.

use async_trait::async_trait;
use berth_core::Result;
use berth_core::filters::Filters;

use crate::types::network::{
    EndpointSettings, Network, NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse,
};

/// `GET /networks`, `GET|DELETE /networks/{id}`, `POST /networks/create`,
/// `POST /networks/{id}/connect|disconnect`, `POST /networks/prune`.
///
/// Networks are found by full id, exact name or unique id prefix. Errors use
/// Docker's wording and kinds: `network x not found` (NotFound); a duplicate
/// name (Conflict); `invalid pool request: Pool overlaps with other one on this
/// address space`, removing a predefined network or one with active endpoints
/// (Forbidden, as Docker answers 403); bad subnets, addresses, options
/// (InvalidArgument).
#[async_trait]
pub trait NetworkBackend {
    /// List, with filters `driver`, `id`, `label`, `name`, `scope`, `type`,
    /// `dangling` (validated by the server). `Containers` is left empty, as Docker does.
    async fn network_list(&self, filters: Filters) -> Result<Vec<Network>>;
    /// Inspect, with `Containers`. `scope` (when not empty) must match the network's.
    async fn network_inspect(&self, id: &str, verbose: bool, scope: &str) -> Result<Network>;
    /// Create.
    async fn network_create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse>;
    /// Remove.
    async fn network_remove(&self, id: &str) -> Result<()>;
    /// Attach a container; on a running container the interface appears live.
    async fn network_connect(
        &self,
        id: &str,
        container: &str,
        config: Option<EndpointSettings>,
    ) -> Result<()>;
    /// Detach a container; `force` also succeeds when the container is gone.
    async fn network_disconnect(&self, id: &str, container: &str, force: bool) -> Result<()>;
    /// Remove unused user networks; filters `until`, `label`, `label!`.
    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse>;
}
