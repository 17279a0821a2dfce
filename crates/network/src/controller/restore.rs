//! Daemon start: load the records, replay the IPAM, create the predefined
//! networks, hand surviving kernel objects back to the drivers, restart the
//! embedded DNS; then [`Controller::restore`] drops the sandboxes of
//! containers that are no longer running and sweeps stray namespaces.
//!
//! After `kill -9` the kernel still has the bridges, veths, namespaces and the
//! firewall table; the records say which of them are berth's. Anything half
//! made when the daemon died (a veth without an endpoint record, a namespace
//! without a sandbox record) is removed here, so nothing leaks.

use std::collections::{BTreeMap, HashSet};

use ipnet::IpNet;

use super::networks::driver_request;
use super::{Controller, Sandbox, State};
use crate::driver::OPT_MTU;
use crate::driver::RestoredEndpoint;
use crate::driver::bridge::options::{
    OPT_BRIDGE_NAME, OPT_DEFAULT_BRIDGE, OPT_ENABLE_ICC, OPT_ENABLE_MASQUERADE, OPT_HOST_BINDING,
};
use crate::error::{NetError, NetResult};
use crate::ipam::addr::overlaps;
use crate::ipam::{PoolRequest, gateway_options};
use crate::model::{
    IpamConfigSpec, NETWORKS, NetworkMode, NetworkRecord, SANDBOXES, SandboxRecord,
};
use crate::ns;

impl Controller {
    pub(super) async fn load(&self) -> NetResult<()> {
        let nets: Vec<(String, NetworkRecord)> = self.store.list(NETWORKS)?;
        let sbs: Vec<(String, SandboxRecord)> = self.store.list(SANDBOXES)?;
        let mut st = self.st.lock().await;
        for (_, mut n) in nets {
            self.replay_pools(&mut n).await;
            st.nets.insert(n.id.clone(), n);
        }
        for (id, rec) in sbs {
            for ep in &rec.endpoints {
                let Some(n) = st.nets.get(&ep.network_id) else {
                    continue;
                };
                let Some(ipam) = self.known_ipam(&n.ipam_driver) else {
                    continue;
                };
                for (p, a) in n.endpoint_addresses(ep) {
                    if let Err(e) = ipam
                        .request_address(&p.pool_id, Some(a), &BTreeMap::new())
                        .await
                    {
                        tracing::warn!("replay address {a} of {}: {e}", super::sandbox::short(&id));
                    }
                }
            }
            st.sbs.insert(
                id,
                Sandbox {
                    rec,
                    nl: None,
                    dns: None,
                },
            );
        }
        self.ensure_predefined(&mut st).await?;
        for (name, driver) in &self.drivers {
            let nets: Vec<_> = st
                .nets
                .values()
                .filter(|n| n.driver == *name)
                .map(driver_request)
                .collect();
            let ids: HashSet<&str> = nets.iter().map(|n| n.network_id.as_str()).collect();
            let eps: Vec<RestoredEndpoint> = st
                .sbs
                .values()
                .flat_map(|sb| sb.rec.endpoints.iter())
                .filter(|e| ids.contains(e.network_id.as_str()))
                .map(|e| RestoredEndpoint {
                    network_id: e.network_id.clone(),
                    endpoint_id: e.id.clone(),
                    interface: e.iface.clone(),
                    ports: e.ports.clone(),
                })
                .collect();
            if let Err(e) = driver.restore(&nets, &eps).await {
                tracing::warn!("restore driver {name}: {e}");
            }
        }
        let ids: Vec<String> = st.sbs.keys().cloned().collect();
        for id in ids {
            self.restore_dns_names(&st, &id);
            let private_alive = st.sbs.get(&id).is_some_and(|sb| {
                sb.rec.request.mode == NetworkMode::Private && ns::is_namespace(&sb.rec.key)
            });
            if private_alive && let Err(e) = self.refresh_dns(&mut st, &id) {
                tracing::warn!(
                    "restart embedded DNS of {}: {e}",
                    super::sandbox::short(&id)
                );
            }
        }
        Ok(())
    }

    fn restore_dns_names(&self, st: &State, cid: &str) {
        let Some(sb) = st.sbs.get(cid) else { return };
        for ep in &sb.rec.endpoints {
            if let Some(n) = st.nets.get(&ep.network_id).filter(|n| n.dns_enabled()) {
                let addrs = ep.addresses();
                self.dns
                    .add_endpoint(&n.id, &n.name, &ep.id, &ep.dns_names, &addrs);
            }
        }
    }

    /// Ask the IPAM for a restored network's pools, gateway and aux addresses again.
    async fn replay_pools(&self, n: &mut NetworkRecord) {
        let Some(ipam) = self.known_ipam(&n.ipam_driver) else {
            return;
        };
        let mut changed = false;
        for p in &mut n.pools {
            let space = p.pool_id.split('/').next().unwrap_or_default().to_string();
            let req = PoolRequest {
                address_space: space,
                pool: Some(p.subnet),
                sub_pool: p.ip_range,
                ..Default::default()
            };
            match ipam.request_pool(req).await {
                Ok(got) => {
                    changed |= got.pool_id != p.pool_id;
                    p.pool_id = got.pool_id;
                }
                Err(e) => {
                    tracing::warn!("replay pool {} of network {}: {e}", p.subnet, n.name);
                    continue;
                }
            }
            if let Some(g) = p.gateway {
                let _ = ipam
                    .request_address(&p.pool_id, Some(g.addr()), &gateway_options())
                    .await;
            }
            for a in p.aux.values() {
                let _ = ipam
                    .request_address(&p.pool_id, Some(a.addr()), &BTreeMap::new())
                    .await;
            }
        }
        if changed && let Err(e) = self.store.put(NETWORKS, &n.id, &*n) {
            tracing::warn!("save network {}: {e}", n.name);
        }
    }

    /// `bridge`, `host` and `none`, created on first start.
    async fn ensure_predefined(&self, st: &mut State) -> NetResult<()> {
        for (name, driver) in [("none", "null"), ("host", "host")] {
            if !st.nets.values().any(|n| n.name == name) {
                self.create_locked(st, predefined(name, driver, BTreeMap::new(), Vec::new()))
                    .await?;
            }
        }
        if st.nets.values().any(|n| n.name == "bridge") {
            return Ok(());
        }
        let subnet: IpNet = match self.cfg.bridge_subnet {
            Some(s) => IpNet::V4(s),
            None => {
                let mut avoid = self.host_exclusions().await;
                avoid.extend(
                    st.nets
                        .values()
                        .flat_map(|n| n.pools.iter().map(|p| p.subnet)),
                );
                self.cfg
                    .default_pools
                    .iter()
                    .filter(|p| p.base.addr().is_ipv4())
                    .filter_map(|p| p.base.subnets(p.size).ok())
                    .flatten()
                    .find(|c| !avoid.iter().any(|a| overlaps(a, c)))
                    .ok_or_else(|| {
                        NetError::Unavailable(
                            "no default address pool is free for the default bridge".into(),
                        )
                    })?
            }
        };
        let gateway = subnet
            .hosts()
            .next()
            .map(|g| g.to_string())
            .unwrap_or_default();
        let options = BTreeMap::from([
            (OPT_DEFAULT_BRIDGE.to_string(), "true".to_string()),
            (OPT_ENABLE_ICC.to_string(), "true".to_string()),
            (OPT_ENABLE_MASQUERADE.to_string(), "true".to_string()),
            (OPT_HOST_BINDING.to_string(), "0.0.0.0".to_string()),
            (OPT_BRIDGE_NAME.to_string(), self.cfg.bridge_name.clone()),
            (OPT_MTU.to_string(), self.cfg.mtu.to_string()),
        ]);
        let spec = IpamConfigSpec {
            subnet: subnet.trunc().to_string(),
            gateway,
            ..Default::default()
        };
        self.create_locked(st, predefined("bridge", "bridge", options, vec![spec]))
            .await?;
        Ok(())
    }

    /// Keep the sandboxes of running containers, drop the others, and remove
    /// namespace files no sandbox owns. Call once after [`Controller::open`],
    /// with the containers the engine found running.
    pub async fn restore(&self, running: &dyn Fn(&str) -> bool) -> NetResult<()> {
        self.ready().await?;
        let mut st = self.st.lock().await;
        let ids: Vec<String> = st.sbs.keys().cloned().collect();
        for id in &ids {
            let Some(sb) = st.sbs.get(id) else { continue };
            let ns_ok =
                sb.rec.request.mode != NetworkMode::Private || ns::is_namespace(&sb.rec.key);
            if running(id) && ns_ok {
                continue;
            }
            tracing::info!(
                "releasing network sandbox of stopped container {}",
                super::sandbox::short(id)
            );
            if let Err(e) = self.delete_sandbox_locked(&mut st, id).await {
                tracing::warn!("release sandbox {}: {e}", super::sandbox::short(id));
            }
        }
        let keep: HashSet<String> = st
            .sbs
            .values()
            .filter(|sb| sb.rec.request.mode == NetworkMode::Private)
            .filter_map(|sb| {
                sb.rec
                    .key
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
            })
            .collect();
        for name in ns::sweep(&self.cfg.netns_dir(), &keep) {
            tracing::info!("removed stray network namespace {name}");
        }
        Ok(())
    }
}

impl Controller {
    /// Daemon shutdown: with no sandbox left (no container running), take
    /// berth's links and firewall table off the host; the records stay, and
    /// the next start re-creates the bridges. With sandboxes, leave everything
    /// so running containers keep their network.
    pub async fn shutdown(&self) {
        if self.loaded.get().is_none() {
            return;
        }
        if !self.st.lock().await.sbs.is_empty() {
            return;
        }
        // Without endpoints, settling removes every bridge link.
        self.settle().await;
        self.bridge.remove_firewall().await;
    }
}

fn predefined(
    name: &str,
    driver: &str,
    options: BTreeMap<String, String>,
    ipam_config: Vec<IpamConfigSpec>,
) -> NetworkRecord {
    NetworkRecord {
        id: berth_core::id::generate(),
        name: name.to_string(),
        driver: driver.to_string(),
        scope: "local".to_string(),
        created: berth_core::timefmt::now_rfc3339(),
        internal: false,
        attachable: false,
        ingress: false,
        enable_ipv4: driver == "bridge",
        enable_ipv6: false,
        ipam_driver: "default".to_string(),
        ipam_options: BTreeMap::new(),
        ipam_config,
        pools: Vec::new(),
        options,
        labels: BTreeMap::new(),
        predefined: true,
    }
}
