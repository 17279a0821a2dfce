//! `IpamDriver.*` (libnetwork's remote IPAM API). Its error field is `Error`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GetCapabilities` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    /// Wants the endpoint's MAC in `RequestAddress` options.
    #[serde(rename = "RequiresMACAddress")]
    pub requires_mac_address: bool,
    /// Wants pools and addresses replayed at engine start.
    #[serde(rename = "RequiresRequestReplay")]
    pub requires_request_replay: bool,
}

/// `GetDefaultAddressSpaces` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressSpaces {
    /// For local networks.
    pub local_default_address_space: String,
    /// For global networks.
    pub global_default_address_space: String,
}

/// `RequestPool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestPool {
    /// Address space.
    #[serde(rename = "AddressSpace")]
    pub address_space: String,
    /// Static pool, or empty.
    #[serde(rename = "Pool")]
    pub pool: String,
    /// `--ip-range`, or empty.
    #[serde(rename = "SubPool")]
    pub sub_pool: String,
    /// `--ipam-opt`.
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    /// IPv6 pool wanted.
    #[serde(rename = "V6")]
    pub v6: bool,
}

/// `RequestPool` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestPoolResponse {
    /// Opaque pool id.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The pool, CIDR.
    #[serde(rename = "Pool")]
    pub pool: String,
    /// Extra data (`com.docker.network.gateway`).
    #[serde(rename = "Data")]
    pub data: BTreeMap<String, String>,
}

/// `ReleasePool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReleasePool {
    /// Pool id.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
}

/// `RequestAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestAddress {
    /// Pool id.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// Preferred address (bare IP), or empty.
    #[serde(rename = "Address")]
    pub address: String,
    /// Options (`RequestAddressType`, MAC).
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
}

/// `RequestAddress` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestAddressResponse {
    /// The address, CIDR.
    pub address: String,
    /// Extra data.
    pub data: BTreeMap<String, String>,
}

/// `ReleaseAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReleaseAddress {
    /// Pool id.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The address (bare IP).
    #[serde(rename = "Address")]
    pub address: String,
}
