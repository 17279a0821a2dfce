//! Conversions between the driver contract and the plugin wire types, shared
//! by the remote driver (berth calling a plugin) and the served driver
//! (berth being the plugin). Addresses are CIDR strings, gateways plain IPs,
//! MACs `aa:bb:…`, and empty strings stand for unset values.

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_plugin::dto::network as dto;
use ipnet::IpNet;
use serde_json::Value;

use crate::driver::{
    CreateNetworkRequest, ExternalConnectivity, InterfaceInfo, IpamData, OPT_INTERNAL, StaticRoute,
};
use crate::error::{NetError, NetResult};
use crate::nl::{format_mac, parse_mac};
use crate::ports::{PortBinding, PortProto, Proto};

/// `""` or the value's text.
pub fn opt_text<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Parse an optional CIDR.
pub fn cidr(what: &str, s: &str) -> NetResult<Option<IpNet>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| NetError::invalid(format!("invalid {what} {s:?}: not an address with prefix")))
}

/// Parse an optional plain IP.
pub fn ip(what: &str, s: &str) -> NetResult<Option<IpAddr>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| NetError::invalid(format!("invalid {what} {s:?}")))
}

/// Parse an optional MAC.
pub fn mac(s: &str) -> NetResult<Option<[u8; 6]>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    parse_mac(s)
        .map(Some)
        .ok_or_else(|| NetError::invalid(format!("invalid MAC address {s:?}")))
}

/// Driver options as a JSON object of strings.
pub fn string_map(m: &BTreeMap<String, String>) -> dto::Options {
    m.iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// A JSON object's values as strings (non-strings in their JSON form).
pub fn from_string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(m)) = v else {
        return BTreeMap::new();
    };
    m.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

fn ipam_data(d: &IpamData) -> dto::IpamData {
    dto::IpamData {
        address_space: d.address_space.clone(),
        pool: d.pool.to_string(),
        gateway: opt_text(d.gateway),
        aux_addresses: d
            .aux_addresses
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
    }
}

fn ipam_data_back(d: &dto::IpamData) -> NetResult<IpamData> {
    Ok(IpamData {
        address_space: d.address_space.clone(),
        pool: cidr("pool", &d.pool)?.ok_or_else(|| NetError::invalid("pool missing"))?,
        gateway: cidr("gateway", &d.gateway)?,
        aux_addresses: d
            .aux_addresses
            .iter()
            .filter_map(|(k, v)| {
                cidr("auxiliary address", v)
                    .ok()
                    .flatten()
                    .map(|a| (k.clone(), a))
            })
            .collect(),
    })
}

/// `CreateNetwork` as libnetwork sends it: user options under
/// `com.docker.network.generic`, the IP families and `--internal` beside them.
pub fn create_network(req: &CreateNetworkRequest) -> dto::CreateNetwork {
    let mut generic = req.options.clone();
    generic.remove(OPT_INTERNAL);
    let mut options = dto::Options::new();
    options.insert(dto::GENERIC.into(), Value::Object(string_map(&generic)));
    options.insert(dto::ENABLE_IPV4.into(), Value::Bool(req.enable_ipv4));
    options.insert(dto::ENABLE_IPV6.into(), Value::Bool(req.enable_ipv6));
    if req.internal {
        options.insert(dto::INTERNAL.into(), Value::Bool(true));
    }
    dto::CreateNetwork {
        network_id: req.network_id.clone(),
        options,
        ipv4_data: req.ipv4.iter().map(ipam_data).collect(),
        ipv6_data: req.ipv6.iter().map(ipam_data).collect(),
    }
}

/// The contract's view of a `CreateNetwork` a plugin received.
pub fn create_network_back(req: &dto::CreateNetwork) -> NetResult<CreateNetworkRequest> {
    let flag = |k: &str, default: bool| match req.options.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => default,
    };
    let internal = flag(dto::INTERNAL, false);
    let mut options = from_string_map(req.options.get(dto::GENERIC));
    if internal {
        options.insert(OPT_INTERNAL.into(), "true".into());
    }
    Ok(CreateNetworkRequest {
        network_id: req.network_id.clone(),
        options,
        internal,
        enable_ipv4: flag(dto::ENABLE_IPV4, true),
        enable_ipv6: flag(dto::ENABLE_IPV6, false),
        ipv4: req
            .ipv4_data
            .iter()
            .map(ipam_data_back)
            .collect::<NetResult<_>>()?,
        ipv6: req
            .ipv6_data
            .iter()
            .map(ipam_data_back)
            .collect::<NetResult<_>>()?,
    })
}

/// An interface on the wire.
pub fn interface(i: &InterfaceInfo) -> dto::EndpointInterface {
    dto::EndpointInterface {
        address: opt_text(i.address),
        address_ipv6: opt_text(i.address_v6),
        mac_address: i.mac.as_ref().map(format_mac).unwrap_or_default(),
    }
}

/// An interface from the wire.
pub fn interface_back(i: &dto::EndpointInterface) -> NetResult<InterfaceInfo> {
    Ok(InterfaceInfo {
        address: cidr("address", &i.address)?,
        address_v6: cidr("IPv6 address", &i.address_ipv6)?,
        mac: mac(&i.mac_address)?,
    })
}

/// Routes from a `Join` answer (type 1 = on-link).
pub fn routes_back(r: &[dto::StaticRoute]) -> NetResult<Vec<StaticRoute>> {
    r.iter()
        .map(|r| {
            Ok(StaticRoute {
                destination: cidr("route destination", &r.destination)?
                    .ok_or_else(|| NetError::invalid("route without destination"))?,
                next_hop: if r.route_type == 1 {
                    None
                } else {
                    ip("next hop", &r.next_hop)?
                },
            })
        })
        .collect()
}

/// Routes for a `Join` answer.
pub fn routes(r: &[StaticRoute]) -> Vec<dto::StaticRoute> {
    r.iter()
        .map(|r| dto::StaticRoute {
            destination: r.destination.to_string(),
            route_type: u8::from(r.next_hop.is_none()),
            next_hop: opt_text(r.next_hop),
        })
        .collect()
}

fn proto_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Sctp => 132,
    }
}

fn proto_back(n: u8) -> Proto {
    match n {
        17 => Proto::Udp,
        132 => Proto::Sctp,
        _ => Proto::Tcp,
    }
}

/// `ProgramExternalConnectivity` options: published and exposed ports.
pub fn connectivity_options(req: &ExternalConnectivity) -> dto::Options {
    let ports: Vec<dto::PortBinding> = req
        .bindings
        .iter()
        .map(|b| dto::PortBinding {
            proto: proto_number(b.container.proto),
            ip: String::new(),
            port: b.container.port,
            host_ip: opt_text(b.host_ip),
            host_port: b.host_port,
            host_port_end: b.host_port_end,
        })
        .collect();
    let exposed: Vec<dto::TransportPort> = req
        .exposed
        .iter()
        .map(|p| dto::TransportPort {
            proto: proto_number(p.proto),
            port: p.port,
        })
        .collect();
    let mut o = dto::Options::new();
    o.insert(
        dto::PORTMAP.into(),
        serde_json::to_value(ports).unwrap_or_default(),
    );
    o.insert(
        dto::EXPOSED_PORTS.into(),
        serde_json::to_value(exposed).unwrap_or_default(),
    );
    o
}

/// The ports of `ProgramExternalConnectivity` options.
pub fn connectivity_back(o: &dto::Options) -> ExternalConnectivity {
    let ports: Vec<dto::PortBinding> = o
        .get(dto::PORTMAP)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let exposed: Vec<dto::TransportPort> = o
        .get(dto::EXPOSED_PORTS)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    ExternalConnectivity {
        bindings: ports
            .iter()
            .map(|p| PortBinding {
                container: PortProto {
                    port: p.port,
                    proto: proto_back(p.proto),
                },
                host_ip: p.host_ip.parse().ok(),
                host_port: p.host_port,
                host_port_end: p.host_port_end.max(p.host_port),
            })
            .collect(),
        exposed: exposed
            .iter()
            .map(|p| PortProto {
                port: p.port,
                proto: proto_back(p.proto),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_network_round_trip() {
        let req = CreateNetworkRequest {
            network_id: "n".into(),
            options: BTreeMap::from([
                ("foo".into(), "bar".into()),
                (OPT_INTERNAL.into(), "true".into()),
            ]),
            internal: true,
            enable_ipv4: true,
            enable_ipv6: false,
            ipv4: vec![IpamData {
                address_space: "LocalDefault".into(),
                pool: "10.1.0.0/16".parse().unwrap(),
                gateway: Some("10.1.0.1/16".parse().unwrap()),
                aux_addresses: BTreeMap::new(),
            }],
            ipv6: Vec::new(),
        };
        let wire = create_network(&req);
        let j = serde_json::to_value(&wire).unwrap();
        assert_eq!(j["Options"][dto::GENERIC]["foo"], "bar");
        assert!(j["Options"][dto::GENERIC].get(OPT_INTERNAL).is_none());
        assert_eq!(j["Options"][dto::INTERNAL], true);
        assert_eq!(j["IPv4Data"][0]["Gateway"], "10.1.0.1/16");
        assert!(j["IPv4Data"][0].get("AuxAddresses").is_none());
        assert_eq!(create_network_back(&wire).unwrap(), req);
    }

    #[test]
    fn routes_and_ports() {
        let r = vec![
            StaticRoute {
                destination: "10.0.0.0/8".parse().unwrap(),
                next_hop: Some("10.1.0.1".parse().unwrap()),
            },
            StaticRoute {
                destination: "192.168.0.0/24".parse().unwrap(),
                next_hop: None,
            },
        ];
        let w = routes(&r);
        assert_eq!((w[0].route_type, w[1].route_type), (0, 1));
        assert_eq!(routes_back(&w).unwrap(), r);
        let ext = ExternalConnectivity {
            bindings: vec![PortBinding::parse("80/udp", "", "8080").unwrap()],
            exposed: vec!["80/udp".parse().unwrap()],
        };
        let o = connectivity_options(&ext);
        assert_eq!(o[dto::PORTMAP][0]["Proto"], 17);
        assert_eq!(connectivity_back(&o), ext);
    }
}
