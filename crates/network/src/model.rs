//! The controller's records (persisted in the state store) and the request
//! and view types of its public API.
//!
//! # Tables (schema v1, owned by this crate)
//!
//! ```text
//! network.networks   <network id>  -> NetworkRecord   one per network, predefined ones included
//! network.sandboxes  <container id> -> SandboxRecord   a container's namespace and its endpoints
//! ```
//!
//! Endpoints live inside their sandbox's record, so attaching a container to a
//! network is one write. IPAM state is not stored: it is replayed from these
//! records at start (see [`crate::ipam::default`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use berth_core::store::Table;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::driver::InterfaceInfo;
use crate::ports::{PortBinding, PortMapping, PortProto};

/// Networks table.
pub const NETWORKS: Table = Table("network.networks");
/// Sandboxes table.
pub const SANDBOXES: Table = Table("network.sandboxes");

/// One IPAM configuration entry as the user gave it (`--subnet`, `--ip-range`,
/// `--gateway`, `--aux-address`), strings unparsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfigSpec {
    /// `Subnet`.
    pub subnet: String,
    /// `IPRange`.
    pub ip_range: String,
    /// `Gateway`.
    pub gateway: String,
    /// `AuxiliaryAddresses`.
    #[serde(default)]
    pub aux: BTreeMap<String, String>,
}

/// An address pool a network holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRecord {
    /// The IPAM address space the pool was requested in.
    #[serde(default)]
    pub address_space: String,
    /// The IPAM's pool id (re-derived on replay).
    pub pool_id: String,
    /// The subnet.
    pub subnet: IpNet,
    /// `--ip-range`.
    pub ip_range: Option<IpNet>,
    /// The gateway, with the subnet's prefix.
    pub gateway: Option<IpNet>,
    /// Auxiliary addresses.
    #[serde(default)]
    pub aux: BTreeMap<String, IpNet>,
    /// The subnet came from the user (static addresses are allowed only then).
    pub user_subnet: bool,
}

/// A network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Driver name.
    pub driver: String,
    /// `local`.
    pub scope: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `--ingress`.
    pub ingress: bool,
    /// IPv4 enabled.
    pub enable_ipv4: bool,
    /// IPv6 enabled.
    pub enable_ipv6: bool,
    /// IPAM driver.
    pub ipam_driver: String,
    /// IPAM options.
    pub ipam_options: BTreeMap<String, String>,
    /// IPAM configuration as given.
    pub ipam_config: Vec<IpamConfigSpec>,
    /// Pools as allocated.
    pub pools: Vec<PoolRecord>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `bridge`, `host` or `none`: cannot be removed.
    pub predefined: bool,
}

impl NetworkRecord {
    /// Does the embedded DNS serve this network? (Every user-defined network
    /// with interfaces; never the default bridge, as in Docker.)
    pub fn dns_enabled(&self) -> bool {
        !self.predefined && self.driver != "host" && self.driver != "null"
    }

    /// The IPv4 pool.
    pub fn pool_v4(&self) -> Option<&PoolRecord> {
        self.pools.iter().find(|p| p.subnet.addr().is_ipv4())
    }

    /// The network's first IPv6 pool (networks created with `--ipv6`).
    pub fn pool_v6(&self) -> Option<&PoolRecord> {
        self.pools.iter().find(|p| p.subnet.addr().is_ipv6())
    }

    /// The addresses `ep` holds in this network's pools (IPv4, then IPv6).
    pub fn endpoint_addresses<'a>(
        &'a self,
        ep: &EndpointRecord,
    ) -> Vec<(&'a PoolRecord, std::net::IpAddr)> {
        [
            (self.pool_v4(), ep.iface.address),
            (self.pool_v6(), ep.iface.address_v6),
        ]
        .into_iter()
        .filter_map(|(p, a)| Some((p?, a?.addr())))
        .collect()
    }
}

/// How a container's network namespace is provided (`HostConfig.NetworkMode`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// A namespace of its own (bridge, user networks, `none`).
    #[default]
    Private,
    /// The host's namespace (`--network host`).
    Host,
    /// Another container's (`--network container:<id>`; the full id).
    Container(String),
}

/// What the engine knows of a container when it creates its sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRequest {
    /// Full container id.
    pub container_id: String,
    /// Container name without `/` (its first DNS name).
    pub container_name: String,
    /// `--hostname`.
    pub hostname: String,
    /// Namespace mode.
    pub mode: NetworkMode,
    /// `--dns` servers: the embedded DNS forwards to them.
    pub dns: Vec<IpAddr>,
    /// Requested port bindings (`-p`; `-P` adds one per exposed port).
    pub ports: Vec<PortBinding>,
    /// Exposed ports.
    pub exposed: Vec<PortProto>,
}

/// What the engine asks for one network (`EndpointSettings` of the request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRequest {
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ipv4: Option<IpAddr>,
    /// `--ip6`.
    pub ipv6: Option<IpAddr>,
    /// `--mac-address`.
    pub mac: Option<String>,
    /// `--link` (kept for inspect; /etc/hosts is the engine's).
    pub links: Vec<String>,
    /// `--driver-opt`.
    pub driver_opts: BTreeMap<String, String>,
    /// `--link-local-ip`: extra addresses on the interface (`/16` for IPv4,
    /// `/64` for IPv6, as libnetwork configures them).
    #[serde(default)]
    pub link_local_ips: Vec<IpAddr>,
}

/// An endpoint: one container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// 64 hex digits.
    pub id: String,
    /// Network id.
    pub network_id: String,
    /// Interface (addresses, MAC).
    pub iface: InterfaceInfo,
    /// Name in the sandbox (`eth0`); empty without an interface.
    pub ifname: String,
    /// Default gateway this endpoint offers.
    pub gateway: Option<IpAddr>,
    /// Default IPv6 gateway.
    pub gateway_v6: Option<IpAddr>,
    /// This endpoint carries the default route and the published ports.
    pub is_gateway: bool,
    /// Names the embedded DNS answers for it.
    pub dns_names: Vec<String>,
    /// What was asked.
    pub request: EndpointRequest,
    /// Ports as published.
    pub ports: Vec<PortMapping>,
}

impl EndpointRecord {
    /// Its addresses, IPv4 then IPv6 (what the embedded DNS answers with).
    pub fn addresses(&self) -> Vec<std::net::IpAddr> {
        self.iface
            .address
            .iter()
            .chain(self.iface.address_v6.iter())
            .map(|a| a.addr())
            .collect()
    }
}

/// A container's network sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The request it was created from.
    pub request: SandboxRequest,
    /// Namespace file (`<exec-root>/netns/<id12>`); empty for the host's.
    pub key: PathBuf,
    /// Endpoints in join order.
    pub endpoints: Vec<EndpointRecord>,
}

/// A network and the endpoints attached to it, for list and inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// The network.
    pub network: NetworkRecord,
    /// `(container id, container name, endpoint)` of every attachment.
    pub endpoints: Vec<(String, String, EndpointRecord)>,
}

/// One endpoint of a sandbox, with its network's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    /// Network id.
    pub network_id: String,
    /// Network name.
    pub network_name: String,
    /// Network driver.
    pub driver: String,
    /// The endpoint.
    pub endpoint: EndpointRecord,
}

/// A sandbox as the engine sees it (container start, inspect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxView {
    /// Full container id.
    pub container_id: String,
    /// Namespace file to put in the OCI spec; empty for the host's namespace.
    pub key: PathBuf,
    /// Namespace mode.
    pub mode: NetworkMode,
    /// The embedded DNS answers inside: resolv.conf must say `nameserver 127.0.0.11`.
    pub embedded_dns: bool,
    /// Endpoints in join order.
    pub endpoints: Vec<EndpointView>,
    /// Exposed ports.
    pub exposed: Vec<PortProto>,
}

impl SandboxView {
    /// The endpoint carrying the default route and published ports.
    pub fn gateway_endpoint(&self) -> Option<&EndpointView> {
        self.endpoints.iter().find(|e| e.endpoint.is_gateway)
    }

    /// Every published port.
    pub fn ports(&self) -> Vec<PortMapping> {
        self.endpoints
            .iter()
            .flat_map(|e| e.endpoint.ports.iter().copied())
            .collect()
    }

    /// resolv.conf nameservers when the embedded DNS serves this sandbox.
    pub fn nameservers(&self) -> Option<Vec<String>> {
        self.embedded_dns
            .then(|| vec![crate::dns::RESOLVER_IP.to_string()])
    }
}

/// `POST /networks/create`, strings unparsed (the controller validates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkCreate {
    /// Name.
    pub name: String,
    /// Driver (`""` = bridge).
    pub driver: String,
    /// Scope (`""` or `local`).
    pub scope: String,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `--ingress`.
    pub ingress: bool,
    /// `--config-only`.
    pub config_only: bool,
    /// `--config-from`.
    pub config_from: String,
    /// `EnableIPv4` (`None` = true).
    pub enable_ipv4: Option<bool>,
    /// `EnableIPv6` (`None` = false).
    pub enable_ipv6: Option<bool>,
    /// IPAM driver (`""` = default).
    pub ipam_driver: String,
    /// IPAM options.
    pub ipam_options: BTreeMap<String, String>,
    /// IPAM configuration.
    pub ipam_config: Vec<IpamConfigSpec>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}
