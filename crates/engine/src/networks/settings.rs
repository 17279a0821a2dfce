//! `NetworkSettings` of container inspect (and the summary's networks), as
//! Docker shows them: `Networks.<name>` with addresses, gateway, MAC and
//! endpoint ids for a running container; the configured networks with empty
//! addresses otherwise; `Ports` keyed `80/tcp` with `null` for exposed but
//! unpublished ports; the deprecated top-level `IPAddress`/`Gateway`/
//! `MacAddress`/`EndpointID` filled from the default `bridge` network only.

use std::collections::BTreeMap;

use berth_api::types::container::{EndpointIpamConfig, EndpointSettings, PortBinding, PortMap};
use berth_api::types::inspect::NetworkSettings;
use berth_network::model::{EndpointView, SandboxView};
use berth_network::nl::format_mac;

use super::attach::networks_to_join;
use crate::Engine;
use crate::container::record::ConfigRecord;

fn endpoint_settings(e: &EndpointView) -> EndpointSettings {
    let ep = &e.endpoint;
    let r = &ep.request;
    let ipam = (r.ipv4.is_some() || r.ipv6.is_some() || !r.link_local_ips.is_empty()).then(|| {
        EndpointIpamConfig {
            ipv4_address: r.ipv4.map(|i| i.to_string()).unwrap_or_default(),
            ipv6_address: r.ipv6.map(|i| i.to_string()).unwrap_or_default(),
            link_local_ips: (!r.link_local_ips.is_empty())
                .then(|| r.link_local_ips.iter().map(|i| i.to_string()).collect()),
        }
    });
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    EndpointSettings {
        ipam_config: ipam,
        links: some(&r.links),
        mac_address: ep.iface.mac.map(|m| format_mac(&m)).unwrap_or_default(),
        aliases: some(&r.aliases),
        driver_opts: (!r.driver_opts.is_empty()).then(|| r.driver_opts.clone()),
        gw_priority: 0,
        network_id: e.network_id.clone(),
        endpoint_id: ep.id.clone(),
        gateway: ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
        ip_address: ep
            .iface
            .address
            .map(|a| a.addr().to_string())
            .unwrap_or_default(),
        ip_prefix_len: ep.iface.address.map(|a| a.prefix_len() as i64).unwrap_or(0),
        ipv6_gateway: ep.gateway_v6.map(|g| g.to_string()).unwrap_or_default(),
        global_ipv6_address: ep
            .iface
            .address_v6
            .map(|a| a.addr().to_string())
            .unwrap_or_default(),
        global_ipv6_prefix_len: ep
            .iface
            .address_v6
            .map(|a| a.prefix_len() as i64)
            .unwrap_or(0),
        dns_names: some(&ep.dns_names),
    }
}

/// `Ports`: every exposed or published port; `null` when only exposed.
pub fn ports_map(view: &SandboxView) -> PortMap {
    let mut ports: PortMap = BTreeMap::new();
    for p in &view.exposed {
        ports.entry(p.to_string()).or_insert(None);
    }
    for m in view.ports() {
        let list = ports
            .entry(m.container.to_string())
            .or_insert(None)
            .get_or_insert_with(Vec::new);
        list.push(PortBinding {
            host_ip: m.host_ip_string(),
            host_port: m.host_port.to_string(),
        });
    }
    ports
}

/// `NetworkSettings` of a container with a sandbox.
pub fn running_settings(view: &SandboxView) -> NetworkSettings {
    let mut ns = NetworkSettings {
        sandbox_id: view.container_id.clone(),
        sandbox_key: view.key.display().to_string(),
        ports: ports_map(view),
        ..NetworkSettings::default()
    };
    for e in &view.endpoints {
        let s = endpoint_settings(e);
        if e.network_name == "bridge" {
            ns.endpoint_id = s.endpoint_id.clone();
            ns.gateway = s.gateway.clone();
            ns.ip_address = s.ip_address.clone();
            ns.ip_prefix_len = s.ip_prefix_len;
            ns.mac_address = s.mac_address.clone();
            ns.ipv6_gateway = s.ipv6_gateway.clone();
            ns.global_ipv6_address = s.global_ipv6_address.clone();
            ns.global_ipv6_prefix_len = s.global_ipv6_prefix_len;
        }
        ns.networks.insert(e.network_name.clone(), s);
    }
    ns
}

/// `NetworkSettings` of a container without a sandbox (created, exited):
/// its configured networks, with ids but no addresses.
pub fn stopped_settings(rec: &ConfigRecord, ids: &BTreeMap<String, String>) -> NetworkSettings {
    let mut ns = NetworkSettings::default();
    if rec.host_config.network_mode.starts_with("container:") {
        return ns;
    }
    for (name, mut s) in networks_to_join(rec) {
        s.network_id = ids.get(&name).cloned().unwrap_or_default();
        s.endpoint_id.clear();
        s.ip_address.clear();
        s.gateway.clear();
        ns.networks.insert(name, s);
    }
    ns
}

impl Engine {
    /// `NetworkSettings` for inspect and the container list.
    pub async fn container_network_settings(&self, rec: &ConfigRecord) -> NetworkSettings {
        if let Some(view) = self.networks.sandbox(&rec.id).await {
            return running_settings(&view);
        }
        let mut ids = BTreeMap::new();
        for (name, _) in networks_to_join(rec) {
            if let Ok(info) = self.networks.network(&name).await {
                ids.insert(name, info.network.id);
            }
        }
        stopped_settings(rec, &ids)
    }
}
