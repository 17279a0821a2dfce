//! Networks: the engine's [`berth_network::Controller`] (built in
//! `Engine::open`), `NetworkBackend` for the `/networks` endpoints, and the
//! container-facing glue ([`attach`]: sandbox + joins at start, release at
//! exit; [`settings`]: `NetworkSettings` for inspect).

pub mod attach;
pub mod settings;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use berth_api::backend::network::NetworkBackend;
use berth_api::types::network::{
    EndpointSettings, Ipam, IpamConfig, Network, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse, NetworkPruneResponse,
};
use berth_core::filters::Filters;
use berth_core::store::Store;
use berth_core::{Error, Result};
use berth_network::config::{NetworkConfig, PoolSpec};
use berth_network::model::{IpamConfigSpec, NetworkCreate, NetworkInfo, NetworkRecord};
use berth_network::{Controller, nl};

use crate::{Engine, EngineConfig};

/// The controller's settings from the engine's.
pub fn network_config(cfg: &EngineConfig) -> Result<NetworkConfig> {
    let mut n = NetworkConfig::new(cfg.exec_root.clone());
    n.firewall = cfg.firewall;
    n.userland_proxy = cfg.userland_proxy;
    let default_exec = cfg.exec_root == std::path::Path::new("/run/berth");
    // A daemon on another exec root gets its own bridge and table, so two
    // daemons on one host (tests) never clobber each other's links or rules.
    let tag = (!default_exec).then(|| {
        let mut h: u32 = 2166136261;
        for b in cfg.exec_root.to_string_lossy().bytes() {
            h = (h ^ b as u32).wrapping_mul(16777619);
        }
        format!("{:06x}", h & 0xff_ffff)
    });
    n.bridge_name = match (&cfg.bridge_name, &tag) {
        (Some(b), _) => b.clone(),
        (None, Some(t)) => format!("berth{t}"),
        (None, None) => "berth0".into(),
    };
    if let Some(t) = &tag {
        n.nft_table = format!("berth_{t}");
    }
    if let Some(s) = &cfg.bridge_subnet {
        let net: ipnet::Ipv4Net = s
            .parse()
            .map_err(|_| Error::invalid(format!("invalid bridge subnet {s:?}")))?;
        n.bridge_subnet = Some(net.trunc());
    }
    if !cfg.default_address_pools.is_empty() {
        n.default_pools = cfg
            .default_address_pools
            .iter()
            .map(|p| {
                PoolSpec::parse(p)
                    .ok_or_else(|| Error::invalid(format!("invalid default address pool {p:?}")))
            })
            .collect::<Result<_>>()?;
    }
    if !cfg.dns_upstream.is_empty() {
        let ups = cfg
            .dns_upstream
            .iter()
            .map(|s| {
                s.parse::<SocketAddr>()
                    .or_else(|_| {
                        s.parse::<std::net::IpAddr>()
                            .map(|ip| SocketAddr::new(ip, 53))
                    })
                    .map_err(|_| Error::invalid(format!("invalid DNS upstream {s:?}")))
            })
            .collect::<Result<_>>()?;
        n.dns_upstream = Some(ups);
    }
    Ok(n)
}

/// Build the controller (loads lazily on first use; needs a tokio runtime).
pub fn open(cfg: &EngineConfig, store: Arc<Store>) -> Result<Arc<Controller>> {
    Ok(Controller::new(network_config(cfg)?, store)?)
}

/// A network as the API shows it; `Containers` only for inspect.
pub fn network_view(info: &NetworkInfo, with_containers: bool) -> Network {
    let n = &info.network;
    let config = n
        .pools
        .iter()
        .map(|p| {
            let spec = n.ipam_config.iter().find(|c| {
                c.subnet.parse::<ipnet::IpNet>().ok().map(|s| s.trunc()) == Some(p.subnet)
            });
            IpamConfig {
                subnet: p.subnet.to_string(),
                ip_range: p.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                gateway: p.gateway.map(|g| g.addr().to_string()).unwrap_or_default(),
                auxiliary_addresses: spec.filter(|s| !s.aux.is_empty()).map(|s| s.aux.clone()),
            }
        })
        .collect();
    let mut containers = BTreeMap::new();
    if with_containers {
        for (cid, name, ep) in &info.endpoints {
            containers.insert(
                cid.clone(),
                NetworkContainer {
                    name: name.clone(),
                    endpoint_id: ep.id.clone(),
                    mac_address: ep.iface.mac.map(|m| nl::format_mac(&m)).unwrap_or_default(),
                    ipv4_address: ep.iface.address.map(|a| a.to_string()).unwrap_or_default(),
                    ipv6_address: ep
                        .iface
                        .address_v6
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                },
            );
        }
    }
    Network {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: n.scope.clone(),
        driver: n.driver.clone(),
        enable_ipv4: n.enable_ipv4,
        enable_ipv6: n.enable_ipv6,
        ipam: Ipam {
            driver: n.ipam_driver.clone(),
            options: (!n.ipam_options.is_empty()).then(|| n.ipam_options.clone()),
            config,
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: n.ingress,
        config_from: Default::default(),
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

fn matches(f: &Filters, info: &NetworkInfo) -> Result<bool> {
    let n = &info.network;
    let labels: HashMap<String, String> = n.labels.clone().into_iter().collect();
    let kind_ok = f.any("type", |t| (t == "builtin") == n.predefined);
    let dangling_ok = match f.bool_value("dangling")? {
        None => true,
        Some(true) => !n.predefined && info.endpoints.is_empty(),
        Some(false) => n.predefined || !info.endpoints.is_empty(),
    };
    Ok(f.any("driver", |d| d == n.driver)
        && f.any("id", |i| n.id.starts_with(i) || n.id.contains(i))
        && f.any("name", |x| n.name.contains(x))
        && f.any("scope", |s| s == n.scope)
        && f.match_labels("label", &labels)
        && kind_ok
        && dangling_ok)
}

/// `k` or `k=v` holds for `labels`.
fn label_is(filter: &str, labels: &HashMap<String, String>) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

fn create_request(req: NetworkCreateRequest) -> NetworkCreate {
    let ipam = req.ipam.unwrap_or_default();
    NetworkCreate {
        name: req.name,
        driver: req.driver,
        scope: req.scope,
        internal: req.internal,
        attachable: req.attachable,
        ingress: req.ingress,
        config_only: req.config_only,
        config_from: req.config_from.map(|c| c.network).unwrap_or_default(),
        enable_ipv4: req.enable_ipv4,
        enable_ipv6: req.enable_ipv6,
        ipam_driver: ipam.driver,
        ipam_options: ipam.options.unwrap_or_default(),
        ipam_config: ipam
            .config
            .into_iter()
            .map(|c| IpamConfigSpec {
                subnet: c.subnet,
                ip_range: c.ip_range,
                gateway: c.gateway,
                aux: c.auxiliary_addresses.unwrap_or_default(),
            })
            .collect(),
        options: req.options.unwrap_or_default(),
        labels: req.labels.unwrap_or_default(),
    }
}

impl Engine {
    fn network_event(&self, action: &str, n: &NetworkRecord, container: Option<&str>) {
        let mut attrs = HashMap::from([
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.clone()),
        ]);
        if let Some(c) = container {
            attrs.insert("container".to_string(), c.to_string());
        }
        self.events.emit("network", action, &n.id, attrs);
    }
}

#[async_trait]
impl NetworkBackend for Engine {
    async fn network_list(&self, filters: Filters) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        for info in self.networks.networks().await? {
            if matches(&filters, &info)? {
                out.push(network_view(&info, false));
            }
        }
        Ok(out)
    }

    async fn network_inspect(&self, id: &str, _verbose: bool, scope: &str) -> Result<Network> {
        let info = self.networks.network(id).await?;
        if !scope.is_empty() && scope != info.network.scope {
            return Err(Error::not_found(format!("network {id} not found")));
        }
        Ok(network_view(&info, true))
    }

    async fn network_create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let (info, warning) = self.networks.create_network(create_request(req)).await?;
        self.network_event("create", &info.network, None);
        Ok(NetworkCreateResponse {
            id: info.network.id,
            warning,
        })
    }

    async fn network_remove(&self, id: &str) -> Result<()> {
        let n = self.networks.remove_network(id).await?;
        self.network_event("destroy", &n, None);
        Ok(())
    }

    async fn network_connect(
        &self,
        id: &str,
        container: &str,
        config: Option<EndpointSettings>,
    ) -> Result<()> {
        let n = self
            .connect_container(id, container, config.unwrap_or_default())
            .await?;
        self.network_event("connect", &n, Some(container));
        Ok(())
    }

    async fn network_disconnect(&self, id: &str, container: &str, force: bool) -> Result<()> {
        let n = self.disconnect_container(id, container, force).await?;
        self.network_event("disconnect", &n, Some(container));
        Ok(())
    }

    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse> {
        let now = chrono::Utc::now();
        let until = match filters.get("until").first() {
            Some(u) => Some(
                berth_core::timefmt::parse_timestamp(u, now)
                    .ok_or_else(|| Error::invalid(format!("invalid value for until: {u:?}")))?,
            ),
            None => None,
        };
        let keep_labels = filters.clone();
        let deleted = self
            .networks
            .prune(|n| {
                let labels: HashMap<String, String> = n.labels.clone().into_iter().collect();
                let old = until.is_none_or(|u| {
                    berth_core::timefmt::parse_rfc3339(&n.created).is_some_and(|c| c < u)
                });
                let negated = keep_labels
                    .get("label!")
                    .iter()
                    .all(|l| !label_is(l, &labels));
                old && keep_labels.match_labels("label", &labels) && negated
            })
            .await;
        for name in &deleted {
            self.events.emit(
                "network",
                "destroy",
                name,
                HashMap::from([("name".to_string(), name.clone())]),
            );
        }
        Ok(NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }
}

#[cfg(test)]
mod tests;
