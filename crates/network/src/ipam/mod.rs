//! IP address management: the [`IpamDriver`] contract (shaped after Docker's
//! remote `IpamDriver` plugin protocol, so a remote driver is one more
//! implementation) and the built-in [`default::DefaultIpam`].
//!
//! Call order on `network create`: `default_address_spaces` → `request_pool`
//! (per configured subnet, or one dynamic pool) → `request_address(gateway)` →
//! `request_address(aux…)`; on container join `request_address`; on leave
//! `release_address`; on `network rm` release gateway/aux then `release_pool`.

pub mod addr;
pub mod default;
pub mod remote;

use std::collections::BTreeMap;
use std::net::IpAddr;

use async_trait::async_trait;
use ipnet::IpNet;

use crate::error::NetResult;

/// Docker's local default address space.
pub const LOCAL_DEFAULT: &str = "LocalDefault";
/// Docker's global default address space.
pub const GLOBAL_DEFAULT: &str = "GlobalDefault";
/// Option key telling the IPAM what an address is for.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";
/// Its value for a gateway.
pub const GATEWAY_ADDRESS: &str = "com.docker.network.gateway";
/// Option key carrying an endpoint's MAC (for drivers that require it).
pub const MAC_ADDRESS_OPTION: &str = "com.docker.network.endpoint.macaddress";

/// What an IPAM driver needs from the controller (`GetCapabilities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpamCapabilities {
    /// Pass the endpoint's MAC in `request_address` options.
    pub requires_mac_address: bool,
    /// At daemon start, replay `request_pool` and `request_address` for every
    /// restored network and endpoint (the driver keeps no state on disk).
    pub requires_request_replay: bool,
}

/// `GetDefaultAddressSpaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpaces {
    /// For local-scope networks.
    pub local: String,
    /// For global-scope networks.
    pub global: String,
}

/// `RequestPool`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolRequest {
    /// Address space (from `default_address_spaces`).
    pub address_space: String,
    /// A static pool, or `None` for "pick one".
    pub pool: Option<IpNet>,
    /// The sub-range dynamic addresses come from (`--ip-range`).
    pub sub_pool: Option<IpNet>,
    /// `--ipam-opt` values.
    pub options: BTreeMap<String, String>,
    /// Pick an IPv6 pool when `pool` is `None`.
    pub v6: bool,
    /// Networks a dynamic pool must not overlap (host routes, nameservers).
    /// Built-in drivers honour it; the remote protocol has no such field.
    pub exclude: Vec<IpNet>,
}

/// `RequestPool`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedPool {
    /// Opaque id, passed back in every later call.
    pub pool_id: String,
    /// The pool.
    pub pool: IpNet,
    /// Extra data (`com.docker.network.gateway` may suggest a gateway).
    pub data: BTreeMap<String, String>,
}

/// The IPAM contract.
#[async_trait]
pub trait IpamDriver: Send + Sync {
    /// The driver's name (`default`, or a plugin's).
    fn name(&self) -> &str;
    /// `GetCapabilities`.
    async fn capabilities(&self) -> NetResult<IpamCapabilities>;
    /// `GetDefaultAddressSpaces`.
    async fn default_address_spaces(&self) -> NetResult<AddressSpaces>;
    /// `RequestPool`. An overlapping static pool is `Forbidden` with Docker's
    /// `invalid pool request: Pool overlaps with other one on this address space`.
    async fn request_pool(&self, req: PoolRequest) -> NetResult<AllocatedPool>;
    /// `ReleasePool`.
    async fn release_pool(&self, pool_id: &str) -> NetResult<()>;
    /// `RequestAddress`: `preferred` or any free address; the answer carries the
    /// pool's prefix length.
    async fn request_address(
        &self,
        pool_id: &str,
        preferred: Option<IpAddr>,
        options: &BTreeMap<String, String>,
    ) -> NetResult<IpNet>;
    /// `ReleaseAddress`; releasing a free address is not an error.
    async fn release_address(&self, pool_id: &str, addr: IpAddr) -> NetResult<()>;
}

/// Options for a gateway request.
pub fn gateway_options() -> BTreeMap<String, String> {
    BTreeMap::from([(
        REQUEST_ADDRESS_TYPE.to_string(),
        GATEWAY_ADDRESS.to_string(),
    )])
}
