//! What the controller is configured with (filled by the engine from the
//! daemon configuration).

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::ns::HostNs;

/// A base network carved into subnets of `size` for networks created without
/// `--subnet` (daemon.json `default-address-pools`: `{"base": …, "size": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// The base network.
    pub base: IpNet,
    /// Prefix length of each subnet.
    pub size: u8,
}

impl PoolSpec {
    /// Parse `base/len,size` or `{"base":…,"size":…}`-style `base:size`.
    pub fn parse(s: &str) -> Option<PoolSpec> {
        let (base, size) = s.split_once([',', ' '])?;
        let size = size.trim().trim_start_matches("size=").parse().ok()?;
        let base: IpNet = base.trim().trim_start_matches("base=").parse().ok()?;
        (size >= base.prefix_len() && size <= base.max_prefix_len()).then_some(PoolSpec {
            base: base.trunc(),
            size,
        })
    }
}

/// The exec root's directory of network namespace handles (`<id12>` bind mounts).
pub const NETNS_DIR: &str = "netns";
/// The exec root's marker file naming berth's nftables table while it may exist.
pub const FIREWALL_MARKER: &str = "firewall-table";

/// Docker's default local pools: 172.17–172.31 as /16s, then 192.168.0.0/16 as /20s.
pub fn docker_default_pools() -> Vec<PoolSpec> {
    let mut v: Vec<PoolSpec> = (17u8..=31)
        .filter_map(|b| Ipv4Net::new(std::net::Ipv4Addr::new(172, b, 0, 0), 16).ok())
        .map(|n| PoolSpec {
            base: IpNet::V4(n),
            size: 16,
        })
        .collect();
    if let Ok(n) = "192.168.0.0/16".parse::<IpNet>() {
        v.push(PoolSpec { base: n, size: 20 });
    }
    v
}

/// The controller's settings.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// `<exec-root>`: network namespaces live in `<exec-root>/netns`.
    pub exec_root: PathBuf,
    /// Where bridges, the firewall table and port reservations live.
    pub host: HostNs,
    /// Subnet of the default `bridge` network (dockerd `--bip`'s network);
    /// `None` picks the first default pool that collides with no host route.
    pub bridge_subnet: Option<Ipv4Net>,
    /// Name of the default bridge's link.
    pub bridge_name: String,
    /// Pools dynamic subnets come from.
    pub default_pools: Vec<PoolSpec>,
    /// Program NAT, port publishing and isolation (dockerd `--iptables`).
    pub firewall: bool,
    /// Relay published-port traffic the nat rules cannot carry (dockerd
    /// `--userland-proxy`, see [`crate::proxy`]).
    pub userland_proxy: bool,
    /// Name of the berth-owned nftables table (`inet <name>`).
    pub nft_table: String,
    /// Upstream resolvers for the embedded DNS; `None` reads the host's
    /// `/etc/resolv.conf` at query time. Tests point this at a fake server.
    pub dns_upstream: Option<Vec<SocketAddr>>,
    /// Default MTU of bridge networks.
    pub mtu: u32,
}

impl NetworkConfig {
    /// Defaults for an exec root, acting on the daemon's own namespace.
    pub fn new(exec_root: PathBuf) -> NetworkConfig {
        NetworkConfig {
            exec_root,
            host: HostNs::Current,
            bridge_subnet: None,
            bridge_name: "berth0".to_string(),
            default_pools: docker_default_pools(),
            firewall: true,
            userland_proxy: true,
            nft_table: "berth".to_string(),
            dns_upstream: None,
            mtu: 1500,
        }
    }

    /// `<exec-root>/netns`.
    pub fn netns_dir(&self) -> PathBuf {
        self.exec_root.join(NETNS_DIR)
    }

    /// `<exec-root>/firewall-table`: present while berth's nftables table may exist.
    pub fn firewall_marker(&self) -> PathBuf {
        self.exec_root.join(FIREWALL_MARKER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_parse_and_default() {
        let p = PoolSpec::parse("10.10.0.0/16,24").unwrap();
        assert_eq!(p.base.to_string(), "10.10.0.0/16");
        assert_eq!(p.size, 24);
        assert!(PoolSpec::parse("10.10.0.0/16,8").is_none());
        let d = docker_default_pools();
        assert_eq!(d[0].base.to_string(), "172.17.0.0/16");
        assert_eq!(d.last().unwrap().size, 20);
    }
}
