//! `NetworkDriver.*` (libnetwork's remote driver API).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// JSON object of free-form options (`map[string]interface{}`).
pub type Options = serde_json::Map<String, Value>;

/// Option key holding the user's `-o` driver options.
pub const GENERIC: &str = "com.docker.network.generic";
/// Option key: IPv4 enabled.
pub const ENABLE_IPV4: &str = "com.docker.network.enable_ipv4";
/// Option key: IPv6 enabled.
pub const ENABLE_IPV6: &str = "com.docker.network.enable_ipv6";
/// Option key: `--internal`.
pub const INTERNAL: &str = "com.docker.network.internal";
/// Option key: published ports.
pub const PORTMAP: &str = "com.docker.network.portmap";
/// Option key: exposed ports.
pub const EXPOSED_PORTS: &str = "com.docker.network.endpoint.exposedports";
/// Option key: the endpoint's MAC address.
pub const MAC_ADDRESS: &str = "com.docker.network.endpoint.macaddress";

/// `GetCapabilities` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Capabilities {
    /// `local` or `global`.
    pub scope: String,
    /// `local` or `global`; empty means `Scope`.
    pub connectivity_scope: String,
    /// Wants `GwAllocCheck` before `CreateNetwork`.
    pub gw_alloc_checker: bool,
}

/// One pool of a network (`IPv4Data`/`IPv6Data`); addresses are CIDR strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamData {
    /// Address space.
    pub address_space: String,
    /// The pool.
    pub pool: String,
    /// Gateway with the pool's prefix length.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// Reserved addresses by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// `CreateNetwork`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateNetwork {
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Options: [`GENERIC`] (user options), [`ENABLE_IPV4`], [`ENABLE_IPV6`], [`INTERNAL`].
    #[serde(rename = "Options")]
    pub options: Options,
    /// IPv4 pools.
    #[serde(rename = "IPv4Data")]
    pub ipv4_data: Vec<IpamData>,
    /// IPv6 pools.
    #[serde(rename = "IPv6Data")]
    pub ipv6_data: Vec<IpamData>,
}

/// `DeleteNetwork`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkRef {
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

/// `DeleteEndpoint`, `EndpointOperInfo`, `Leave`, `RevokeExternalConnectivity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointRef {
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
}

/// An endpoint's interface; empty strings for unset values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointInterface {
    /// IPv4 address, CIDR.
    #[serde(rename = "Address")]
    pub address: String,
    /// IPv6 address, CIDR.
    #[serde(rename = "AddressIPv6")]
    pub address_ipv6: String,
    /// MAC address.
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
}

/// `CreateEndpoint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateEndpoint {
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// What the engine assigned.
    #[serde(rename = "Interface")]
    pub interface: Option<EndpointInterface>,
    /// Endpoint options (ports, MAC, `--driver-opt`).
    #[serde(rename = "Options")]
    pub options: Options,
}

/// `CreateEndpoint` answer: values the driver filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateEndpointResponse {
    /// The interface, or `null`.
    pub interface: Option<EndpointInterface>,
}

/// `EndpointOperInfo` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointInfoResponse {
    /// Free-form data.
    pub value: Options,
}

/// `Join`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Join {
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The sandbox's namespace path.
    #[serde(rename = "SandboxKey")]
    pub sandbox_key: String,
    /// Sandbox options.
    #[serde(rename = "Options")]
    pub options: Options,
}

/// The interface to move into the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InterfaceName {
    /// Its name in the host namespace.
    pub src_name: String,
    /// Unused by the engine (kept for the wire shape).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dst_name: String,
    /// Prefix of its name in the sandbox (`eth`).
    pub dst_prefix: String,
}

/// A route to add in the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StaticRoute {
    /// Destination, CIDR.
    pub destination: String,
    /// 0: via `NextHop`; 1: on-link.
    pub route_type: u8,
    /// Next hop (type 0).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_hop: String,
}

/// `Join` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JoinResponse {
    /// The interface to move.
    #[serde(rename = "InterfaceName")]
    pub interface_name: Option<InterfaceName>,
    /// IPv4 gateway, a plain address.
    #[serde(rename = "Gateway")]
    pub gateway: String,
    /// IPv6 gateway.
    #[serde(rename = "GatewayIPv6")]
    pub gateway_ipv6: String,
    /// Extra routes.
    #[serde(rename = "StaticRoutes")]
    pub static_routes: Vec<StaticRoute>,
    /// No gateway bridge for this endpoint.
    #[serde(rename = "DisableGatewayService")]
    pub disable_gateway_service: bool,
}

/// `ProgramExternalConnectivity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgramExternalConnectivity {
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// [`PORTMAP`], [`EXPOSED_PORTS`].
    #[serde(rename = "Options")]
    pub options: Options,
}

/// `DiscoverNew` / `DiscoverDelete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Discovery {
    /// 1: node discovery.
    pub discovery_type: i64,
    /// Free-form data.
    pub discovery_data: Value,
}

/// A published port in [`PORTMAP`] (`Proto`: 6 tcp, 17 udp, 132 sctp).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// IP protocol number.
    pub proto: u8,
    /// Container address (empty).
    #[serde(rename = "IP")]
    pub ip: String,
    /// Container port.
    pub port: u16,
    /// Host address.
    #[serde(rename = "HostIP")]
    pub host_ip: String,
    /// First host port.
    pub host_port: u16,
    /// Last host port.
    pub host_port_end: u16,
}

/// An exposed port in [`EXPOSED_PORTS`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransportPort {
    /// IP protocol number.
    pub proto: u8,
    /// Port.
    pub port: u16,
}
