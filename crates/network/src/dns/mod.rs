//! Embedded DNS for user-defined networks, as Docker's 127.0.0.11 resolver.
//!
//! [`DnsTable`] holds every name the controller knows, per network (container
//! names, aliases, short ids, hostnames, plus `<name>.<network>`), and which
//! networks each sandbox may see. It is updated live as endpoints come and go;
//! the per-sandbox servers ([`server`]) read it on every query, so nothing is
//! cached in the container. Names not found are forwarded to upstream resolvers
//! ([`forward`]) unless every network of the sandbox is `--internal`.

pub mod forward;
pub mod server;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;

/// The address the resolver listens on inside each sandbox.
pub const RESOLVER_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 11);
/// TTL of the records it serves (Docker's value).
pub const TTL: u32 = 600;

#[derive(Debug, Clone)]
struct Entry {
    names: Vec<String>,
    addrs: Vec<IpAddr>,
    /// Answer of a reverse lookup: `<container name>.<network name>`.
    ptr: String,
}

#[derive(Debug, Default)]
struct NetNames {
    name: String,
    entries: HashMap<String, Entry>,
}

/// What one sandbox's resolver may answer and where it forwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxDns {
    /// DNS-enabled networks the sandbox is attached to, in join order.
    pub networks: Vec<String>,
    /// The container's own `--dns` servers (take precedence over the daemon's).
    pub upstream: Vec<SocketAddr>,
    /// Forward unknown names (false when every network is internal).
    pub forward: bool,
    /// `--link target:alias` on user networks, as `(network id, alias,
    /// target)`: names only this sandbox resolves (to the target's addresses
    /// on that network), as libnetwork does.
    pub links: Vec<(String, String, String)>,
}

/// Every name the embedded DNS serves.
#[derive(Debug, Default)]
pub struct DnsTable {
    nets: RwLock<HashMap<String, NetNames>>,
    sandboxes: RwLock<HashMap<String, SandboxDns>>,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsTable {
    /// Register (or replace) an endpoint's names on a network.
    pub fn add_endpoint(
        &self,
        network_id: &str,
        network_name: &str,
        endpoint_id: &str,
        names: &[String],
        addrs: &[IpAddr],
    ) {
        let mut nets = self.nets.write().unwrap_or_else(|p| p.into_inner());
        let n = nets.entry(network_id.to_string()).or_default();
        n.name = norm(network_name);
        let names: Vec<String> = names
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| norm(s))
            .collect();
        let ptr = format!("{}.{}", names.first().cloned().unwrap_or_default(), n.name);
        n.entries.insert(
            endpoint_id.to_string(),
            Entry {
                names,
                addrs: addrs.to_vec(),
                ptr,
            },
        );
    }

    /// Forget an endpoint.
    pub fn remove_endpoint(&self, network_id: &str, endpoint_id: &str) {
        let mut nets = self.nets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = nets.get_mut(network_id) {
            n.entries.remove(endpoint_id);
            if n.entries.is_empty() {
                nets.remove(network_id);
            }
        }
    }

    /// Set what a sandbox sees.
    pub fn set_sandbox(&self, sandbox_id: &str, dns: SandboxDns) {
        self.sandboxes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sandbox_id.to_string(), dns);
    }

    /// Forget a sandbox.
    pub fn remove_sandbox(&self, sandbox_id: &str) {
        self.sandboxes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sandbox_id);
    }

    /// What a sandbox sees.
    pub fn sandbox(&self, sandbox_id: &str) -> Option<SandboxDns> {
        self.sandboxes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sandbox_id)
            .cloned()
    }

    /// Addresses of `name` as seen from a sandbox: from the first of its
    /// networks that knows the name; `None` when no network knows it.
    pub fn lookup(&self, sandbox_id: &str, name: &str) -> Option<Vec<IpAddr>> {
        let q = norm(name);
        let sb = self.sandbox(sandbox_id)?;
        let nets = self.nets.read().unwrap_or_else(|p| p.into_inner());
        for nid in &sb.networks {
            let Some(n) = nets.get(nid) else { continue };
            let bare = q.strip_suffix(&format!(".{}", n.name));
            let linked = sb.links.iter().find(|(lnid, alias, _)| {
                lnid == nid && (*alias == q || Some(alias.as_str()) == bare)
            });
            let target = linked.map(|(_, _, t)| t.clone());
            let q = target.as_deref().unwrap_or(&q);
            let bare = if target.is_some() { None } else { bare };
            let mut hits: Vec<IpAddr> = Vec::new();
            let mut known = false;
            for e in n.entries.values() {
                if e.names.iter().any(|x| *x == q || Some(x.as_str()) == bare) {
                    known = true;
                    hits.extend(e.addrs.iter().copied());
                }
            }
            if known {
                hits.sort();
                hits.dedup();
                return Some(hits);
            }
        }
        None
    }

    /// The name of an address, for reverse lookups from a sandbox.
    pub fn reverse(&self, sandbox_id: &str, ip: IpAddr) -> Option<String> {
        let sb = self.sandbox(sandbox_id)?;
        let nets = self.nets.read().unwrap_or_else(|p| p.into_inner());
        sb.networks
            .iter()
            .filter_map(|nid| nets.get(nid))
            .find_map(|n| {
                n.entries
                    .values()
                    .find(|e| e.addrs.contains(&ip))
                    .map(|e| e.ptr.clone())
            })
    }
}

/// `4.3.2.1.in-addr.arpa` → `1.2.3.4` (IPv4 only).
pub fn parse_reverse(name: &str) -> Option<IpAddr> {
    let n = norm(name);
    let rest = n.strip_suffix(".in-addr.arpa")?;
    let parts: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u8>>>()?;
    if parts.len() != 4 {
        return None;
    }
    Some(IpAddr::from([parts[3], parts[2], parts[1], parts[0]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_aliases_scoped_and_live() {
        let t = DnsTable::default();
        t.add_endpoint(
            "n1",
            "front",
            "e1",
            &["web".into(), "www".into()],
            &[ip("10.0.0.2")],
        );
        t.add_endpoint("n2", "back", "e2", &["db".into()], &[ip("10.1.0.2")]);
        t.set_sandbox(
            "s",
            SandboxDns {
                networks: vec!["n1".into()],
                ..Default::default()
            },
        );
        assert_eq!(t.lookup("s", "WEB.").unwrap(), vec![ip("10.0.0.2")]);
        assert_eq!(t.lookup("s", "www.front").unwrap(), vec![ip("10.0.0.2")]);
        assert!(
            t.lookup("s", "db").is_none(),
            "other network must be invisible"
        );
        assert_eq!(t.reverse("s", ip("10.0.0.2")).unwrap(), "web.front");
        // A link alias resolves to its target, for the linking sandbox only.
        t.set_sandbox(
            "s",
            SandboxDns {
                networks: vec!["n1".into()],
                links: vec![("n1".into(), "site".into(), "web".into())],
                ..Default::default()
            },
        );
        assert_eq!(t.lookup("s", "site").unwrap(), vec![ip("10.0.0.2")]);
        assert_eq!(t.lookup("s", "site.front").unwrap(), vec![ip("10.0.0.2")]);
        t.set_sandbox(
            "other",
            SandboxDns {
                networks: vec!["n1".into()],
                ..Default::default()
            },
        );
        assert!(t.lookup("other", "site").is_none());
        t.remove_endpoint("n1", "e1");
        assert!(t.lookup("s", "web").is_none());
        assert_eq!(
            parse_reverse("2.0.0.10.in-addr.arpa.").unwrap(),
            ip("10.0.0.2")
        );
    }
}
