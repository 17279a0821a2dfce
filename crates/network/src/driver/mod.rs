//! The network driver contract, shaped after Docker's remote `NetworkDriver`
//! plugin protocol (see /work/shared/notes/plugin-protocol.md §4) so a remote
//! driver is just another implementation: every call takes ids and plain data,
//! never controller internals.
//!
//! Division of labour, as in libnetwork: the driver creates the interface
//! (`create_endpoint`) and says what it is called (`join` → `src_name`); the
//! controller's sandbox code moves it into the container's namespace, renames
//! it `<dst_prefix><n>`, sets the MAC and addresses, and adds the routes the
//! driver returned. Built-in drivers: [`bridge`], [`host`], [`null`]; plugins
//! through [`remote`] (which also serves berth's drivers as a plugin).

pub mod bridge;
pub mod host;
pub mod null;
pub mod remote;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::NetResult;
use crate::ports::{PortBinding, PortMapping, PortProto};

/// Option key of `--internal`.
pub const OPT_INTERNAL: &str = "com.docker.network.internal";
/// Option key of a network's MTU.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// `GetCapabilities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `local` or `global`.
    pub scope: String,
    /// `local` or `global` (defaults to `scope`).
    pub connectivity_scope: String,
    /// Whether the driver wants `GwAllocCheck` before network creation.
    pub gw_alloc_checker: bool,
}

impl Capabilities {
    /// A local-scope driver.
    pub fn local() -> Capabilities {
        Capabilities {
            scope: "local".into(),
            connectivity_scope: "local".into(),
            gw_alloc_checker: false,
        }
    }
}

/// One address pool of a network as the IPAM gave it (`IPv4Data`/`IPv6Data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamData {
    /// The IPAM address space.
    pub address_space: String,
    /// The pool.
    pub pool: IpNet,
    /// The gateway, with the pool's prefix length.
    pub gateway: Option<IpNet>,
    /// Reserved auxiliary addresses by name.
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, IpNet>,
}

/// `CreateNetwork`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateNetworkRequest {
    /// 64 hex digits.
    pub network_id: String,
    /// Driver options (`-o`, `com.docker.network.generic`).
    pub options: BTreeMap<String, String>,
    /// `--internal`.
    pub internal: bool,
    /// IPv4 enabled.
    pub enable_ipv4: bool,
    /// IPv6 enabled.
    pub enable_ipv6: bool,
    /// IPv4 pools.
    pub ipv4: Vec<IpamData>,
    /// IPv6 pools.
    pub ipv6: Vec<IpamData>,
}

/// An endpoint's interface: what the controller assigned, or what the driver filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceInfo {
    /// IPv4 address with prefix.
    pub address: Option<IpNet>,
    /// IPv6 address with prefix.
    pub address_v6: Option<IpNet>,
    /// MAC address.
    pub mac: Option<[u8; 6]>,
}

/// `CreateEndpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateEndpointRequest {
    /// Network id.
    pub network_id: String,
    /// 64 hex digits.
    pub endpoint_id: String,
    /// Addresses from the IPAM and the requested MAC.
    pub interface: InterfaceInfo,
    /// `--driver-opt` values.
    pub options: BTreeMap<String, String>,
}

/// `Join`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// Network id.
    pub network_id: String,
    /// Endpoint id.
    pub endpoint_id: String,
    /// The sandbox's namespace file.
    pub sandbox_key: PathBuf,
    /// The name the controller gives the interface inside the sandbox
    /// (`eth0`, `eth1`, …); a driver that creates the interface directly in
    /// the sandbox uses it (remote drivers ignore it, as the protocol has no such field).
    pub ifname: String,
    /// Sandbox options.
    pub options: BTreeMap<String, String>,
}

/// A route the driver wants in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// Destination.
    pub destination: IpNet,
    /// Via this address; `None` = on-link (Docker's route type 1).
    pub next_hop: Option<IpAddr>,
}

/// `Join`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinInfo {
    /// Host-side name of the interface to move into the sandbox; empty when the
    /// driver provides none (host, null).
    pub src_name: String,
    /// Prefix of its name in the sandbox (`eth`).
    pub dst_prefix: String,
    /// Default IPv4 gateway this endpoint offers.
    pub gateway: Option<IpAddr>,
    /// Default IPv6 gateway this endpoint offers.
    pub gateway_v6: Option<IpAddr>,
    /// Extra routes.
    pub static_routes: Vec<StaticRoute>,
    /// Do not add a gateway bridge when no default route is offered.
    pub disable_gateway_service: bool,
    /// The driver created the interface directly inside the sandbox, already
    /// named `JoinRequest::ifname` with its MAC and MTU set: the controller
    /// need not move it. Built-in drivers do this because moving a link
    /// between namespaces waits for an RCU grace period (~20 ms) while
    /// creating it there does not.
    pub in_sandbox: bool,
}

/// `ProgramExternalConnectivity`: the ports to publish for the endpoint that
/// is its sandbox's gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalConnectivity {
    /// Requested bindings (`-p`, plus one per exposed port for `-P`).
    pub bindings: Vec<PortBinding>,
    /// Exposed ports (informational).
    pub exposed: Vec<PortProto>,
}

/// What the controller remembers of an endpoint and hands back at restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredEndpoint {
    /// Network id.
    pub network_id: String,
    /// Endpoint id.
    pub endpoint_id: String,
    /// Its interface.
    pub interface: InterfaceInfo,
    /// Ports it had published (to be taken again).
    pub ports: Vec<PortMapping>,
}

/// The network driver contract. All methods but `capabilities` may be called
/// concurrently for different networks; the controller serialises calls for
/// one network.
#[async_trait]
pub trait NetworkDriver: Send + Sync {
    /// The driver's name (`bridge`, `host`, `null`, or a plugin's).
    fn name(&self) -> &str;
    /// `GetCapabilities`.
    async fn capabilities(&self) -> NetResult<Capabilities>;
    /// `CreateNetwork`, after the IPAM allocated pools and gateways.
    async fn create_network(&self, req: &CreateNetworkRequest) -> NetResult<()>;
    /// `DeleteNetwork`; the network has no endpoints left.
    async fn delete_network(&self, network_id: &str) -> NetResult<()>;
    /// `CreateEndpoint`: returns the interface, with anything the request left
    /// empty filled in (never a different value for a field that was set).
    async fn create_endpoint(&self, req: &CreateEndpointRequest) -> NetResult<InterfaceInfo>;
    /// `DeleteEndpoint`; unknown endpoints are not an error (idempotent cleanup).
    async fn delete_endpoint(&self, network_id: &str, endpoint_id: &str) -> NetResult<()>;
    /// `EndpointOperInfo`: free-form data for inspect.
    async fn endpoint_info(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> NetResult<BTreeMap<String, serde_json::Value>>;
    /// `Join`: the endpoint is attached to the sandbox at `sandbox_key`.
    async fn join(&self, req: &JoinRequest) -> NetResult<JoinInfo>;
    /// `Leave`.
    async fn leave(&self, network_id: &str, endpoint_id: &str) -> NetResult<()>;
    /// `ProgramExternalConnectivity`: publish ports; returns the bindings as programmed.
    async fn program_external_connectivity(
        &self,
        _network_id: &str,
        _endpoint_id: &str,
        _req: &ExternalConnectivity,
    ) -> NetResult<Vec<PortMapping>> {
        Ok(Vec::new())
    }
    /// `RevokeExternalConnectivity`.
    async fn revoke_external_connectivity(
        &self,
        _network_id: &str,
        _endpoint_id: &str,
    ) -> NetResult<()> {
        Ok(())
    }
    /// Daemon restart: take back networks and endpoints that survived in the
    /// kernel (built-in drivers keep no state of their own on disk). Remote
    /// drivers keep their own state, hence the no-op default.
    async fn restore(
        &self,
        _networks: &[CreateNetworkRequest],
        _endpoints: &[RestoredEndpoint],
    ) -> NetResult<()> {
        Ok(())
    }
}
