//! A container's networking at start and exit, and `network connect` /
//! `disconnect`. The call sequence is the one documented in `berth_network`:
//! `create_sandbox` → `join` (primary network first) → the container starts in
//! `NetPrep::netns` → `delete_sandbox` at exit.
//!
//! Hook for the container code (crates/engine/src/container/net.rs):
//! `prepare_network` = [`Engine::network_attach`], `release_network` =
//! [`Engine::network_release`].

use std::collections::BTreeMap;

use berth_api::types::container::{EndpointSettings, HostConfig};
use berth_core::{Error, Result};
use berth_network::model::{EndpointRequest, NetworkMode, NetworkRecord, SandboxRequest};
use berth_network::ports::{PortBinding, PortProto};

use crate::Engine;
use crate::container::net::NetPrep;
use crate::container::record::{CONFIG_TABLE, ConfigRecord};
use crate::container::{Container, Status};

/// `HostConfig.NetworkMode` → namespace mode and primary network.
pub fn parse_mode(mode: &str) -> (Option<&str>, Option<&str>) {
    match mode {
        "" | "default" | "bridge" => (None, Some("bridge")),
        m => match m.strip_prefix("container:") {
            Some(other) => (Some(other), None),
            None => (None, Some(m)),
        },
    }
}

/// A request's `EndpointSettings` → what the controller takes.
pub fn endpoint_request(s: &EndpointSettings) -> Result<EndpointRequest> {
    let ipam = s.ipam_config.clone().unwrap_or_default();
    let ip = |v: &str, fam: &str| -> Result<Option<std::net::IpAddr>> {
        if v.is_empty() {
            return Ok(None);
        }
        berth_network::controller::parse_ip(v)
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "invalid endpoint settings:\ninvalid {fam} address: {v}"
                ))
            })
    };
    Ok(EndpointRequest {
        aliases: s.aliases.clone().unwrap_or_default(),
        ipv4: ip(&ipam.ipv4_address, "IPv4")?,
        ipv6: ip(&ipam.ipv6_address, "IPv6")?,
        mac: (!s.mac_address.is_empty()).then(|| s.mac_address.clone()),
        links: s.links.clone().unwrap_or_default(),
        driver_opts: s.driver_opts.clone().unwrap_or_default(),
        link_local_ips: ipam
            .link_local_ips
            .iter()
            .flatten()
            .map(|v| {
                berth_network::controller::parse_ip(v).ok_or_else(|| {
                    Error::invalid(format!(
                        "invalid endpoint settings:\ninvalid link-local IP address: {v}"
                    ))
                })
            })
            .collect::<Result<_>>()?,
    })
}

/// Exposed ports of the config (`80/tcp` keys).
pub fn exposed(rec: &ConfigRecord) -> Vec<PortProto> {
    rec.config
        .exposed_ports
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.parse().ok())
        .collect()
}

/// `-p` bindings, plus an ephemeral binding per exposed port for `-P`.
pub fn port_bindings(hc: &HostConfig, exposed: &[PortProto]) -> Result<Vec<PortBinding>> {
    let mut out = Vec::new();
    for (key, list) in hc.port_bindings.iter().flatten() {
        match list.as_deref() {
            Some(list) if !list.is_empty() => {
                for b in list {
                    out.push(PortBinding::parse(key, &b.host_ip, &b.host_port)?);
                }
            }
            _ => out.push(PortBinding::parse(key, "", "")?),
        }
    }
    if hc.publish_all_ports {
        for p in exposed {
            if !out.iter().any(|b| b.container == *p) {
                out.push(PortBinding {
                    container: *p,
                    host_ip: None,
                    host_port: 0,
                    host_port_end: 0,
                });
            }
        }
    }
    Ok(out)
}

/// Networks a container joins at start: the primary one (from its network
/// mode) first, then the others of `NetworkingConfig`, with their settings.
pub fn networks_to_join(rec: &ConfigRecord) -> Vec<(String, EndpointSettings)> {
    let configured: BTreeMap<String, EndpointSettings> =
        rec.networking.endpoints_config.clone().unwrap_or_default();
    let mut out = Vec::new();
    let (_, primary) = parse_mode(&rec.host_config.network_mode);
    if let Some(p) = primary {
        let mut s = configured.get(p).cloned().unwrap_or_default();
        if s.mac_address.is_empty() {
            s.mac_address = rec.config.mac_address.clone();
        }
        out.push((p.to_string(), s));
    }
    for (name, s) in configured {
        if Some(name.as_str()) != primary {
            out.push((name, s));
        }
    }
    out
}

impl Engine {
    /// Create a starting container's sandbox and join its networks.
    pub async fn network_attach(&self, c: &Container) -> Result<NetPrep> {
        let rec = c.config();
        let hc = &rec.host_config;
        let (shared, primary) = parse_mode(&hc.network_mode);
        let mode = match (shared, primary) {
            (Some(other), _) => NetworkMode::Container(self.containers.get(other)?.id.clone()),
            (None, Some("host")) => NetworkMode::Host,
            _ => NetworkMode::Private,
        };
        let exposed = exposed(&rec);
        let req = SandboxRequest {
            container_id: rec.id.clone(),
            container_name: rec.name.clone(),
            hostname: rec.config.hostname.clone(),
            mode: mode.clone(),
            dns: hc
                .dns
                .iter()
                .flatten()
                .filter_map(|d| berth_network::controller::parse_ip(d))
                .collect(),
            ports: if mode == NetworkMode::Private {
                port_bindings(hc, &exposed)?
            } else {
                Vec::new()
            },
            exposed,
        };
        self.networks.create_sandbox(req).await?;
        if !matches!(mode, NetworkMode::Container(_)) {
            for (net, settings) in networks_to_join(&rec) {
                let joined = match endpoint_request(&settings) {
                    Ok(r) => self
                        .networks
                        .join(&rec.id, &net, r)
                        .await
                        .map(|_| ())
                        .map_err(Error::from),
                    Err(e) => Err(e),
                };
                if let Err(e) = joined {
                    let _ = self.networks.delete_sandbox(&rec.id).await;
                    return Err(e);
                }
            }
        }
        let view =
            self.networks.sandbox(&rec.id).await.ok_or_else(|| {
                Error::internal(format!("network sandbox of {} vanished", rec.id))
            })?;
        // /etc/hosts names the container at each of its addresses, IPv6 too.
        let addresses = view
            .endpoints
            .iter()
            .flat_map(|e| e.endpoint.addresses())
            .map(|a| a.to_string())
            .collect();
        Ok(NetPrep {
            addresses,
            links: self.link_hosts(hc).await,
            dns: view.nameservers().unwrap_or_default(),
            netns: (!view.key.as_os_str().is_empty()).then(|| view.key.clone()),
        })
    }

    /// Release a container's networking (exit, failed start, remove); idempotent.
    pub async fn network_release(&self, container_id: &str) {
        if let Err(e) = self.networks.delete_sandbox(container_id).await {
            tracing::warn!("release network of {container_id}: {e}");
        }
    }

    /// The `--link target:alias` entries whose target is running with an
    /// address: (alias, target, its address), in the order given.
    async fn resolved_links(
        &self,
        hc: &HostConfig,
    ) -> Vec<(String, std::sync::Arc<Container>, std::net::IpAddr)> {
        let mut out = Vec::new();
        for link in hc.links.iter().flatten() {
            let (target, alias) = link.split_once(':').unwrap_or((link, link));
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let Ok(t) = self.containers.get(target.trim_start_matches('/')) else {
                continue;
            };
            let Some(view) = self.networks.sandbox(&t.id).await else {
                continue;
            };
            let Some(ip) = view.endpoints.iter().find_map(|e| e.endpoint.iface.address) else {
                continue;
            };
            out.push((alias.to_string(), t, ip.addr()));
        }
        out
    }

    /// `/etc/hosts` lines for `--link target:alias` (default bridge, as Docker).
    async fn link_hosts(&self, hc: &HostConfig) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for (alias, t, ip) in self.resolved_links(hc).await {
            let mut names = vec![alias, t.id.get(..12).unwrap_or(&t.id).to_string(), t.name()];
            names.dedup();
            out.push((ip.to_string(), names));
        }
        out
    }

    /// Docker's legacy link variables for `--link target:alias` on the default
    /// bridge (`ALIAS_NAME`, `ALIAS_PORT*`, `ALIAS_ENV_*`), resolved at start
    /// like the `/etc/hosts` entries. Contiguous port ranges get no extra
    /// `_START`/`_END` variables (Docker adds them; nothing we know reads them).
    pub(crate) async fn link_env(&self, rec: &ConfigRecord) -> Vec<String> {
        let mut env = Vec::new();
        for (alias, t, ip) in self.resolved_links(&rec.host_config).await {
            let prefix = alias.to_uppercase().replace('-', "_");
            let child = t.config();
            let mut ports: Vec<PortProto> = exposed(&child);
            ports.sort_by_key(|p| (p.port, p.proto));
            if let Some(p) = ports.first() {
                env.push(format!(
                    "{prefix}_PORT={}://{ip}:{}",
                    p.proto.as_str(),
                    p.port
                ));
            }
            for p in &ports {
                let (port, proto) = (p.port, p.proto.as_str());
                let key = format!("{prefix}_PORT_{port}_{}", proto.to_uppercase());
                env.push(format!("{key}={proto}://{ip}:{port}"));
                env.push(format!("{key}_ADDR={ip}"));
                env.push(format!("{key}_PORT={port}"));
                env.push(format!("{key}_PROTO={proto}"));
            }
            env.push(format!("{prefix}_NAME=/{}/{alias}", rec.name));
            for var in child.config.env.iter().flatten() {
                // Docker skips the two variables every image sets.
                if let Some((k, v)) = var.split_once('=')
                    && k != "HOME"
                    && k != "PATH"
                {
                    env.push(format!("{prefix}_ENV_{k}={v}"));
                }
            }
        }
        env
    }

    /// `network connect`: live on a running container, and remembered in its
    /// configuration so the next start joins again.
    pub(crate) async fn connect_container(
        &self,
        net: &str,
        container: &str,
        s: EndpointSettings,
    ) -> Result<NetworkRecord> {
        let c = self.containers.get(container)?;
        let req = endpoint_request(&s)?;
        let n = self.networks.validate_endpoint(net, &req).await?;
        let rec = c.config();
        let already = networks_to_join(&rec)
            .iter()
            .any(|(name, _)| *name == n.name || *name == n.id);
        if c.status().is_alive() {
            self.networks.join(&c.id, &n.id, req).await?;
        } else if already {
            return Err(Error::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, n.name
            )));
        }
        self.remember_network(&c, &n.name, Some(s))?;
        Ok(n)
    }

    /// `network disconnect`; `force` also removes the endpoint of a container that is gone.
    pub(crate) async fn disconnect_container(
        &self,
        net: &str,
        container: &str,
        force: bool,
    ) -> Result<NetworkRecord> {
        let info = self.networks.network(net).await?;
        let n = info.network.clone();
        let c = match self.containers.get(container) {
            Ok(c) => c,
            Err(e) if force => {
                let stale = info
                    .endpoints
                    .iter()
                    .find(|(id, name, _)| name == container || id.starts_with(container));
                match stale {
                    Some((id, _, _)) => {
                        self.networks.leave(id, &n.id).await?;
                        return Ok(n);
                    }
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let alive = c.status().is_alive() || c.status() == Status::Restarting;
        if alive && self.networks.sandbox(&c.id).await.is_some() {
            self.networks.leave(&c.id, &n.id).await?;
        } else if !networks_to_join(&c.config())
            .iter()
            .any(|(name, _)| *name == n.name || *name == n.id)
        {
            return Err(Error::internal(format!(
                "container {} is not connected to network {}",
                c.id, n.name
            )));
        }
        self.remember_network(&c, &n.name, None)?;
        Ok(n)
    }

    /// Add (`Some`) or drop (`None`) a network in the container's `NetworkingConfig`.
    // The container record belongs to the container code; this is the one
    // write networks make to it.
    fn remember_network(
        &self,
        c: &Container,
        name: &str,
        s: Option<EndpointSettings>,
    ) -> Result<()> {
        c.update_config(|r| {
            let map = r
                .networking
                .endpoints_config
                .get_or_insert_with(BTreeMap::new);
            match s {
                Some(s) => {
                    map.insert(name.to_string(), s);
                }
                None => {
                    map.remove(name);
                }
            }
        });
        self.store.put(CONFIG_TABLE, &c.id, &c.config())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::types::container::{EndpointIpamConfig, PortBinding as WireBinding};

    #[test]
    fn modes_ports_and_endpoint_settings() {
        assert_eq!(parse_mode("default"), (None, Some("bridge")));
        assert_eq!(parse_mode("container:web"), (Some("web"), None));
        assert_eq!(parse_mode("mynet"), (None, Some("mynet")));
        let mut hc = HostConfig::default();
        let mut pm = BTreeMap::new();
        pm.insert(
            "80/tcp".to_string(),
            Some(vec![WireBinding {
                host_ip: "127.0.0.1".into(),
                host_port: "8080".into(),
            }]),
        );
        pm.insert("53/udp".to_string(), Some(vec![WireBinding::default()]));
        hc.port_bindings = Some(pm);
        hc.publish_all_ports = true;
        let exposed: Vec<PortProto> = vec!["80/tcp".parse().unwrap(), "443/tcp".parse().unwrap()];
        let b = port_bindings(&hc, &exposed).unwrap();
        assert_eq!(b.len(), 3);
        assert!(
            b.iter()
                .any(|x| x.container.port == 443 && x.host_port == 0)
        );
        let s = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: "10.1.0.5".into(),
                ..Default::default()
            }),
            aliases: Some(vec!["web".into()]),
            ..Default::default()
        };
        let r = endpoint_request(&s).unwrap();
        assert_eq!(
            (r.ipv4.unwrap().to_string(), r.aliases),
            ("10.1.0.5".into(), vec!["web".to_string()])
        );
        let bad = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: "10.1.0".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            endpoint_request(&bad).unwrap_err().kind(),
            berth_core::ErrorKind::InvalidArgument
        );
    }
}
