//! The host firewall as one declarative [`Ruleset`]: the bridge driver computes
//! the whole of it from its state after every change and hands it to a
//! [`Firewall`], which replaces berth's table atomically. One owner, one table,
//! so teardown is one `delete table`, and a restart (even after `kill -9`)
//! converges by re-applying the ruleset computed from the restored state.
//!
//! Rules exist only for networks that have endpoints and for ports that are
//! published, so with nothing running the table holds only empty chains.
//!
//! Published ports reach containers from the host's own IPv4 loopback through
//! `route_localnet` on each bridge plus a masquerade of `127.0.0.0/8` leaving
//! the bridge, not through the userland proxy: the kernel path survives a
//! daemon crash or restart untouched and costs no copy per connection. Only
//! what no rule can carry (`[::1]`, IPv6 to an IPv4-only container) is left
//! to [`crate::proxy`]. Hairpin traffic (a container reaching a published
//! port through a host address) is masqueraded to the gateway so replies
//! return through the host.

pub mod nft;

use std::net::IpAddr;

use async_trait::async_trait;
use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::NetResult;
use crate::ports::Proto;

/// Rules for one bridge network with endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    /// The bridge link's name.
    pub name: String,
    /// Its IPv4 subnet.
    pub subnet: Ipv4Net,
    /// Its IPv6 subnet (`--ipv6`), masqueraded like the IPv4 one.
    pub subnet_v6: Option<Ipv6Net>,
    /// `--internal`: no traffic in or out of the bridge.
    pub internal: bool,
    /// Inter-container communication allowed.
    pub icc: bool,
    /// Masquerade traffic leaving for other interfaces.
    pub masquerade: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// Protocol.
    pub proto: Proto,
    /// Host address, `None` = every local address (of the container address's family).
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Container address (IPv4, or IPv6 on `--ipv6` networks).
    pub container_ip: IpAddr,
    /// Container port.
    pub container_port: u16,
}

/// The whole of berth's firewall state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Bridges with endpoints.
    pub bridges: Vec<BridgeRules>,
    /// Published ports.
    pub ports: Vec<PortRule>,
}

/// Applies rulesets; the kernel seam of NAT, publishing and isolation.
#[async_trait]
pub trait Firewall: Send + Sync {
    /// Replace berth's rules with `rules`, atomically.
    async fn apply(&self, rules: &Ruleset) -> NetResult<()>;
    /// Remove berth's table altogether.
    async fn remove_all(&self) -> NetResult<()>;
}

/// The firewall when the daemon must leave the host's alone (`--iptables=false`).
#[derive(Debug, Default)]
pub struct NoFirewall;

#[async_trait]
impl Firewall for NoFirewall {
    async fn apply(&self, _rules: &Ruleset) -> NetResult<()> {
        Ok(())
    }
    async fn remove_all(&self) -> NetResult<()> {
        Ok(())
    }
}
