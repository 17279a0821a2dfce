//! Networks as `GET /networks`, `GET /networks/{id}` show them, and the bodies
//! of create, connect, disconnect and prune. A container's settings on a
//! network are [`EndpointSettings`] (shared with container create/inspect).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::container::EndpointSettings;
use super::container::null_default;

/// One IPAM configuration entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct IpamConfig {
    // docker-py sends `null` for unset pool fields (Go leaves them empty).
    #[serde(
        rename = "Subnet",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub ip_range: String,
    #[serde(
        rename = "Gateway",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub gateway: String,
    #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "Option::is_none")]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// `IPAM`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    /// `default` unless a plugin.
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// `null` when none (Docker marshals a nil map).
    pub options: Option<BTreeMap<String, String>>,
    /// Pools.
    #[serde(deserialize_with = "null_default")]
    pub config: Vec<IpamConfig>,
}

/// `ConfigFrom`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigReference {
    pub network: String,
}

/// An endpoint in a network's `Containers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct NetworkContainer {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// With prefix: `172.19.0.2/16`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// A network (list entry and inspect).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Network {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigFrom")]
    pub config_from: ConfigReference,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    /// Keyed by container id; empty in list answers, as in Docker.
    #[serde(rename = "Containers")]
    pub containers: BTreeMap<String, NetworkContainer>,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
}

/// `POST /networks/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct NetworkCreateRequest {
    #[serde(rename = "Name")]
    pub name: String,
    /// Deprecated (always on since API 1.44); accepted and ignored.
    #[serde(rename = "CheckDuplicate", skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    #[serde(rename = "ConfigFrom", skip_serializing_if = "Option::is_none")]
    pub config_from: Option<ConfigReference>,
    #[serde(rename = "IPAM", skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv4", skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "Options")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `201` of `POST /networks/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateResponse {
    pub id: String,
    pub warning: String,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    pub container: String,
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnectRequest {
    pub container: String,
    pub force: bool,
}

/// `POST /networks/prune` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkPruneResponse {
    pub networks_deleted: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_from_docker_cli() {
        let body = r#"{"Name":"n1","CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":null,
            "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.1.0.0/16","IPRange":"10.1.2.0/24","Gateway":"10.1.0.1","AuxiliaryAddresses":{"a":"10.1.0.5"}}]},
            "Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,
            "Options":{"com.docker.network.bridge.name":"br0"},"Labels":{"x":"y"}}"#;
        let r: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        assert!(r.internal && r.enable_ipv6.is_none());
        let ipam = r.ipam.unwrap();
        assert_eq!(ipam.config[0].ip_range, "10.1.2.0/24");
        assert_eq!(
            ipam.config[0].auxiliary_addresses.as_ref().unwrap()["a"],
            "10.1.0.5"
        );
    }

    #[test]
    fn network_serializes_like_docker() {
        let n = Network {
            name: "bridge".into(),
            ipam: Ipam {
                driver: "default".into(),
                options: None,
                config: vec![IpamConfig {
                    subnet: "172.17.0.0/16".into(),
                    gateway: "172.17.0.1".into(),
                    ..Default::default()
                }],
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&n).unwrap();
        assert!(v["IPAM"]["Options"].is_null());
        assert_eq!(
            v["IPAM"]["Config"][0],
            serde_json::json!({"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"})
        );
        assert_eq!(v["ConfigFrom"], serde_json::json!({"Network": ""}));
        assert!(v["Containers"].as_object().unwrap().is_empty());
    }
}
