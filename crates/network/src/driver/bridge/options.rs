//! The bridge driver's network options (Docker's `com.docker.network.bridge.*`
//! keys), parsed once at network creation.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::driver::OPT_MTU;
use crate::error::{NetError, NetResult};
use crate::ports::ANY_V4;

/// `-o com.docker.network.bridge.name=…`.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Inter-container communication on the bridge.
pub const OPT_ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
/// Masquerade outbound traffic.
pub const OPT_ENABLE_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// Default host address of published ports.
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
/// Marks the predefined `bridge` network.
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";

/// Parsed options of one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeOptions {
    /// Link name.
    pub name: String,
    /// Inter-container communication.
    pub icc: bool,
    /// Masquerade outbound traffic.
    pub masquerade: bool,
    /// Default host address for published ports.
    pub host_ip: IpAddr,
    /// MTU of the bridge and its veths.
    pub mtu: u32,
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &str, v: &str) -> NetResult<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(NetError::invalid(format!(
            "invalid value {v:?} for option {key}: not a boolean"
        ))),
    }
}

/// Valid Linux interface name (at most 15 bytes, no `/`, no whitespace).
pub fn valid_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 15
        && n != "."
        && n != ".."
        && !n.contains(['/', ':'])
        && !n.chars().any(char::is_whitespace)
}

impl BridgeOptions {
    /// Parse `options` of network `network_id`; `default_mtu` applies when none is given.
    pub fn parse(
        network_id: &str,
        options: &BTreeMap<String, String>,
        default_mtu: u32,
    ) -> NetResult<BridgeOptions> {
        let short = network_id.get(..12).unwrap_or(network_id);
        let name = options
            .get(OPT_BRIDGE_NAME)
            .cloned()
            .unwrap_or_else(|| format!("br-{short}"));
        if !valid_ifname(&name) {
            return Err(NetError::invalid(format!(
                "invalid bridge name {name:?}: at most 15 characters, no '/', ':' or spaces"
            )));
        }
        let flag = |key: &str| options.get(key).map(|v| parse_bool(key, v)).transpose();
        let host_ip = match options.get(OPT_HOST_BINDING) {
            Some(v) => v
                .parse()
                .map_err(|_| NetError::invalid(format!("invalid host binding address {v:?}")))?,
            None => ANY_V4,
        };
        let mtu = match options.get(OPT_MTU) {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|m| (68..=65535).contains(m))
                .ok_or_else(|| {
                    NetError::invalid(format!(
                        "invalid MTU {v:?}: must be a number between 68 and 65535"
                    ))
                })?,
            None => default_mtu,
        };
        Ok(BridgeOptions {
            name,
            icc: flag(OPT_ENABLE_ICC)?.unwrap_or(true),
            masquerade: flag(OPT_ENABLE_MASQUERADE)?.unwrap_or(true),
            host_ip,
            mtu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let id = "0123456789abcdef";
        let o = BridgeOptions::parse(id, &BTreeMap::new(), 1500).unwrap();
        assert_eq!(
            (o.name.as_str(), o.icc, o.masquerade, o.mtu),
            ("br-0123456789ab", true, true, 1500)
        );
        let opts = BTreeMap::from([
            (OPT_BRIDGE_NAME.to_string(), "mybr".to_string()),
            (OPT_ENABLE_ICC.to_string(), "false".to_string()),
            (OPT_MTU.to_string(), "1400".to_string()),
        ]);
        let o = BridgeOptions::parse(id, &opts, 1500).unwrap();
        assert_eq!((o.name.as_str(), o.icc, o.mtu), ("mybr", false, 1400));
        let bad = BTreeMap::from([(
            OPT_BRIDGE_NAME.to_string(),
            "a-very-long-bridge-name".to_string(),
        )]);
        assert!(BridgeOptions::parse(id, &bad, 1500).is_err());
        let bad = BTreeMap::from([(OPT_MTU.to_string(), "x".to_string())]);
        assert!(BridgeOptions::parse(id, &bad, 1500).is_err());
    }
}
