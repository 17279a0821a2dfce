//! Sandboxes and endpoints: a container's namespace, its attachment to
//! networks, the interface plumbing inside the namespace, published ports and
//! the embedded DNS.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net};

use super::validate::validate_endpoint;
use super::{Controller, Sandbox, State};
use crate::driver::{
    CreateEndpointRequest, ExternalConnectivity, InterfaceInfo, JoinInfo, JoinRequest,
};
use crate::error::{NetError, NetResult};
use crate::model::{
    EndpointRecord, EndpointRequest, EndpointView, NetworkMode, NetworkRecord, SANDBOXES,
    SandboxRecord, SandboxRequest, SandboxView,
};
use crate::nl::{Nl, parse_mac};
use crate::ns;

/// First 12 characters of an id.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn default_route() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).unwrap_or_default()
}

impl Controller {
    /// Create the network sandbox of a container about to start: a fresh
    /// namespace (with `lo` up) under `<exec-root>/netns`, the host's, or
    /// another container's. A stale sandbox of the same container is removed
    /// first. Then [`Controller::join`] each network.
    pub async fn create_sandbox(&self, req: SandboxRequest) -> NetResult<SandboxView> {
        self.ready().await?;
        let mut st = self.st.lock().await;
        let id = req.container_id.clone();
        if st.sbs.contains_key(&id) {
            self.delete_sandbox_locked(&mut st, &id).await?;
        }
        let (key, nl) = match &req.mode {
            NetworkMode::Host => (PathBuf::new(), None),
            NetworkMode::Container(other) => {
                let o = st.sbs.get(other).ok_or_else(|| {
                    NetError::Conflict(format!(
                        "cannot join network of a non running container: {other}"
                    ))
                })?;
                (o.rec.key.clone(), None)
            }
            NetworkMode::Private => {
                let path = self.cfg.netns_dir().join(short(&id));
                ns::remove(&path)?;
                let rt = crate::nl::runtime()?;
                let nl = ns::create(&path, move || Nl::connect_here(&rt))?;
                if let Err(e) = nl.up(1).await {
                    let _ = ns::remove(&path);
                    return Err(e);
                }
                (path, Some(nl))
            }
        };
        let rec = SandboxRecord {
            request: req,
            key,
            endpoints: Vec::new(),
        };
        if let Err(e) = self.store.put(SANDBOXES, &id, &rec) {
            if rec.request.mode == NetworkMode::Private {
                let _ = ns::remove(&rec.key);
            }
            return Err(e.into());
        }
        let sb = Sandbox { rec, nl, dns: None };
        let view = st.view(&sb);
        st.sbs.insert(id, sb);
        Ok(view)
    }

    /// Attach a container's sandbox to a network (container start, or
    /// `network connect` on a running container: the interface appears live).
    pub async fn join(
        &self,
        container_id: &str,
        network: &str,
        req: EndpointRequest,
    ) -> NetResult<EndpointView> {
        self.ready().await?;
        let mut st = self.st.lock().await;
        let net = st.find(network)?.clone();
        let sb = st.sbs.get(container_id).ok_or_else(|| {
            NetError::Conflict(format!("container {container_id} is not running"))
        })?;
        let host_net = |n: &NetworkRecord| n.driver == "host";
        match &sb.rec.request.mode {
            NetworkMode::Container(_) => {
                return Err(NetError::forbidden(
                    "container sharing network namespace with another container or host cannot be connected to any other network",
                ));
            }
            NetworkMode::Host if !host_net(&net) => {
                return Err(NetError::forbidden(
                    "container cannot be disconnected from host network or connected to host network",
                ));
            }
            NetworkMode::Private if host_net(&net) => {
                return Err(NetError::forbidden(
                    "container cannot be disconnected from host network or connected to host network",
                ));
            }
            _ => {}
        }
        let has_null = sb.rec.endpoints.iter().any(|e| {
            st.nets
                .get(&e.network_id)
                .is_some_and(|n| n.driver == "null")
        });
        if (net.driver == "null" && !sb.rec.endpoints.is_empty()) || has_null {
            return Err(NetError::forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode",
            ));
        }
        if sb.rec.endpoints.iter().any(|e| e.network_id == net.id) {
            return Err(NetError::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                sb.rec.request.container_name, net.name
            )));
        }
        validate_endpoint(&net, &req)?;
        let ep = self.attach(&mut st, container_id, &net, req).await?;
        self.refresh_dns(&mut st, container_id)?;
        Ok(EndpointView {
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            driver: net.driver.clone(),
            endpoint: ep,
        })
    }

    async fn attach(
        &self,
        st: &mut State,
        cid: &str,
        net: &NetworkRecord,
        req: EndpointRequest,
    ) -> NetResult<EndpointRecord> {
        let driver = self.driver(&net.driver).await?;
        let ipam = self.ipam(&net.ipam_driver).await?;
        // An address from each of the network's pools (IPv4, and IPv6 with --ipv6),
        // released again if a later step fails.
        let mut held: Vec<(&str, IpAddr)> = Vec::new();
        let mut assigned: [Option<IpNet>; 2] = [None, None];
        for (slot, pool, preferred) in [(0, net.pool_v4(), req.ipv4), (1, net.pool_v6(), req.ipv6)]
        {
            let Some(p) = pool else { continue };
            match ipam
                .request_address(&p.pool_id, preferred, &Default::default())
                .await
            {
                Ok(a) => {
                    held.push((p.pool_id.as_str(), a.addr()));
                    assigned[slot] = Some(a);
                }
                Err(e) => {
                    rollback(&*driver, &*ipam, &net.id, None, &held).await;
                    return Err(e);
                }
            }
        }
        let [address, address_v6] = assigned;
        let eid = berth_core::id::generate();
        let mac = req.mac.as_deref().and_then(parse_mac);
        let creq = CreateEndpointRequest {
            network_id: net.id.clone(),
            endpoint_id: eid.clone(),
            interface: InterfaceInfo {
                address,
                address_v6,
                mac,
            },
            options: req.driver_opts.clone(),
        };
        let iface = match driver.create_endpoint(&creq).await {
            Ok(i) => i,
            Err(e) => {
                rollback(&*driver, &*ipam, &net.id, None, &held).await;
                return Err(e);
            }
        };
        let Some(sb) = st.sbs.get_mut(cid) else {
            rollback(&*driver, &*ipam, &net.id, Some(&eid), &held).await;
            return Err(NetError::NotFound(format!("sandbox of {cid} vanished")));
        };
        let ifname = next_ifname(&sb.rec.endpoints, "eth");
        let jreq = JoinRequest {
            network_id: net.id.clone(),
            endpoint_id: eid.clone(),
            sandbox_key: sb.rec.key.clone(),
            ifname: ifname.clone(),
            options: Default::default(),
        };
        let join = match driver.join(&jreq).await {
            Ok(j) => j,
            Err(e) => {
                rollback(&*driver, &*ipam, &net.id, Some(&eid), &held).await;
                return Err(e);
            }
        };
        let is_gateway = join.gateway.is_some() && !sb.rec.endpoints.iter().any(|e| e.is_gateway);
        let ifname = match (join.src_name.is_empty(), join.in_sandbox) {
            (true, _) => String::new(),
            (false, true) => ifname,
            (false, false) => next_ifname(&sb.rec.endpoints, &join.dst_prefix),
        };
        if let Err(e) = self
            .plumb(sb, &join, &ifname, &iface, &req.link_local_ips, is_gateway)
            .await
        {
            if !join.in_sandbox {
                let _ = self.host_nl.delete_named(&join.src_name).await;
            }
            rollback(&*driver, &*ipam, &net.id, Some(&eid), &held).await;
            return Err(e);
        }
        let name = sb.rec.request.container_name.clone();
        let mut ep = EndpointRecord {
            id: eid.clone(),
            network_id: net.id.clone(),
            iface,
            ifname,
            gateway: join.gateway,
            gateway_v6: join.gateway_v6,
            is_gateway,
            dns_names: Vec::new(),
            request: req,
            ports: Vec::new(),
        };
        if net.dns_enabled() {
            let mut names = vec![name.clone()];
            names.extend(ep.request.aliases.iter().cloned());
            names.push(short(cid).to_string());
            names.dedup();
            ep.dns_names = names;
        }
        if is_gateway && !sb.rec.request.ports.is_empty() {
            let ext = ExternalConnectivity {
                bindings: sb.rec.request.ports.clone(),
                exposed: sb.rec.request.exposed.clone(),
            };
            match driver
                .program_external_connectivity(&net.id, &eid, &ext)
                .await
            {
                Ok(p) => ep.ports = p,
                Err(e) => {
                    rollback(&*driver, &*ipam, &net.id, Some(&eid), &held).await;
                    return Err(NetError::Failed(format!(
                        "driver failed programming external connectivity on endpoint {name} ({eid}): {e}"
                    )));
                }
            }
        }
        sb.rec.endpoints.push(ep.clone());
        if let Err(e) = self.store.put(SANDBOXES, cid, &sb.rec) {
            sb.rec.endpoints.pop();
            let _ = driver.revoke_external_connectivity(&net.id, &eid).await;
            rollback(&*driver, &*ipam, &net.id, Some(&eid), &held).await;
            return Err(e.into());
        }
        if net.dns_enabled() {
            let addrs = ep.addresses();
            self.dns
                .add_endpoint(&net.id, &net.name, &eid, &ep.dns_names, &addrs);
        }
        Ok(ep)
    }

    /// Move the driver's interface into the sandbox and configure it there.
    async fn plumb(
        &self,
        sb: &mut Sandbox,
        join: &JoinInfo,
        ifname: &str,
        iface: &InterfaceInfo,
        link_local: &[IpAddr],
        is_gateway: bool,
    ) -> NetResult<()> {
        if join.src_name.is_empty() || sb.rec.key.as_os_str().is_empty() {
            return Ok(());
        }
        if !join.in_sandbox {
            let link = self.host_nl.link(&join.src_name).await?.ok_or_else(|| {
                NetError::NotFound(format!("interface {} not found", join.src_name))
            })?;
            let nsfile = std::fs::File::open(&sb.rec.key)
                .map_err(|e| NetError::io("open sandbox namespace", e))?;
            self.host_nl.move_to(link.index, nsfile.as_raw_fd()).await?;
        }
        let nl = sandbox_nl(sb)?;
        let l = nl.link(&join.src_name).await?.ok_or_else(|| {
            NetError::NotFound(format!("interface {} not found in sandbox", join.src_name))
        })?;
        if join.in_sandbox {
            nl.up(l.index).await?;
        } else {
            nl.rename_up(l.index, ifname, iface.mac).await?;
        }
        for a in iface.address.iter().chain(iface.address_v6.iter()) {
            nl.add_addr(l.index, *a).await?;
        }
        for ip in link_local {
            let prefix = if ip.is_ipv4() { 16 } else { 64 };
            let net = ipnet::IpNet::new(*ip, prefix).map_err(|e| {
                NetError::invalid(format!("invalid link-local IP address {ip}: {e}"))
            })?;
            nl.add_addr(l.index, net).await?;
        }
        if let (true, Some(IpAddr::V4(gw))) = (is_gateway, join.gateway) {
            nl.add_route_v4(default_route(), Some(gw), None).await?;
        }
        if let (true, Some(IpAddr::V6(gw))) = (is_gateway, join.gateway_v6) {
            nl.add_route_v6(ipnet::Ipv6Net::default(), gw).await?;
        }
        for r in &join.static_routes {
            if let ipnet::IpNet::V4(dst) = r.destination {
                let via = match r.next_hop {
                    Some(IpAddr::V4(v)) => Some(v),
                    _ => None,
                };
                nl.add_route_v4(dst, via, Some(l.index)).await?;
            }
        }
        Ok(())
    }

    /// Detach a container from a network (`network disconnect`): the interface
    /// disappears live; if it carried the default route and the published
    /// ports, the next endpoint with a gateway takes them over.
    pub async fn leave(&self, container_id: &str, network: &str) -> NetResult<()> {
        self.ready().await?;
        let mut st = self.st.lock().await;
        let net = st.find(network)?.clone();
        let sb = st.sbs.get(container_id).ok_or_else(|| {
            NetError::Failed(format!(
                "container {container_id} is not connected to network {}",
                net.name
            ))
        })?;
        let Some(eid) = sb
            .rec
            .endpoints
            .iter()
            .find(|e| e.network_id == net.id)
            .map(|e| e.id.clone())
        else {
            return Err(NetError::Failed(format!(
                "container {container_id} is not connected to network {}",
                net.name
            )));
        };
        if matches!(sb.rec.request.mode, NetworkMode::Host) {
            return Err(NetError::forbidden(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        let was_gateway = self.detach(&mut st, container_id, &eid, true).await;
        if was_gateway {
            self.reselect_gateway(&mut st, container_id).await;
        }
        if let Some(sb) = st.sbs.get(container_id) {
            self.store.put(SANDBOXES, container_id, &sb.rec)?;
        }
        self.refresh_dns(&mut st, container_id)?;
        Ok(())
    }

    /// Undo one endpoint (best effort: every step runs even if one fails, so
    /// nothing is left half-released); `live` when the sandbox stays.
    /// Returns whether it was the gateway.
    async fn detach(&self, st: &mut State, cid: &str, eid: &str, live: bool) -> bool {
        let Some(sb) = st.sbs.get_mut(cid) else {
            return false;
        };
        let Some(idx) = sb.rec.endpoints.iter().position(|e| e.id == eid) else {
            return false;
        };
        let ep = sb.rec.endpoints.remove(idx);
        // The sandbox stays (disconnect): take the interface out now, so it
        // disappears from the running container at once.
        if live
            && !ep.ifname.is_empty()
            && !sb.rec.key.as_os_str().is_empty()
            && let Ok(nl) = sandbox_nl(sb)
            && let Err(e) = nl.delete_named(&ep.ifname).await
        {
            tracing::warn!("remove {} from sandbox: {e}", ep.ifname);
        }
        let net = st.nets.get(&ep.network_id).cloned();
        let Some(net) = net else { return ep.is_gateway };
        self.dns.remove_endpoint(&net.id, &ep.id);
        if let Ok(driver) = self.driver(&net.driver).await {
            if ep.is_gateway
                && let Err(e) = driver.revoke_external_connectivity(&net.id, &ep.id).await
            {
                tracing::warn!("revoke ports of {}: {e}", short(&ep.id));
            }
            if let Err(e) = driver.leave(&net.id, &ep.id).await {
                tracing::warn!("leave {}: {e}", short(&ep.id));
            }
            if let Err(e) = driver.delete_endpoint(&net.id, &ep.id).await {
                tracing::warn!("delete endpoint {}: {e}", short(&ep.id));
            }
        }
        if let Ok(ipam) = self.ipam(&net.ipam_driver).await {
            for (p, a) in net.endpoint_addresses(&ep) {
                let _ = ipam.release_address(&p.pool_id, a).await;
            }
        }
        ep.is_gateway
    }

    /// Give the default route and published ports to the first endpoint that offers a gateway.
    async fn reselect_gateway(&self, st: &mut State, cid: &str) {
        let Some(sb) = st.sbs.get_mut(cid) else {
            return;
        };
        let Some(idx) = sb.rec.endpoints.iter().position(|e| e.gateway.is_some()) else {
            return;
        };
        let (nid, eid, gw) = {
            let ep = &mut sb.rec.endpoints[idx];
            ep.is_gateway = true;
            (ep.network_id.clone(), ep.id.clone(), ep.gateway)
        };
        if let (Ok(nl), Some(IpAddr::V4(gw))) = (sandbox_nl(sb), gw)
            && let Err(e) = nl.add_route_v4(default_route(), Some(gw), None).await
        {
            tracing::warn!("default route via {gw}: {e}");
        }
        if sb.rec.request.ports.is_empty() {
            return;
        }
        let Some(dname) = st.nets.get(&nid).map(|n| n.driver.clone()) else {
            return;
        };
        let Ok(driver) = self.driver(&dname).await else {
            return;
        };
        let ext = ExternalConnectivity {
            bindings: sb.rec.request.ports.clone(),
            exposed: sb.rec.request.exposed.clone(),
        };
        match driver.program_external_connectivity(&nid, &eid, &ext).await {
            Ok(p) => sb.rec.endpoints[idx].ports = p,
            Err(e) => tracing::warn!("publish ports on {}: {e}", short(&eid)),
        }
    }

    /// Remove a container's sandbox: every endpoint, the DNS server, the
    /// namespace. Absent is fine (container stop, remove, daemon restore).
    pub async fn delete_sandbox(&self, container_id: &str) -> NetResult<()> {
        self.ready().await?;
        let mut st = self.st.lock().await;
        self.delete_sandbox_locked(&mut st, container_id).await
    }

    pub(super) async fn delete_sandbox_locked(&self, st: &mut State, cid: &str) -> NetResult<()> {
        let Some(sb) = st.sbs.get_mut(cid) else {
            return Ok(());
        };
        // Close everything that holds the namespace (resolver sockets, the
        // netlink socket), then unmount it: the kernel destroys it with its
        // interfaces in the background, batched with other namespaces.
        sb.dns = None;
        sb.nl = None;
        self.dns.remove_sandbox(cid);
        if sb.rec.request.mode == NetworkMode::Private {
            ns::remove(&sb.rec.key)?;
        }
        let eids: Vec<String> = sb
            .rec
            .endpoints
            .iter()
            .rev()
            .map(|e| e.id.clone())
            .collect();
        for eid in eids {
            self.detach(st, cid, &eid, false).await;
        }
        st.sbs.remove(cid);
        self.store.delete(SANDBOXES, cid)?;
        Ok(())
    }

    /// A container was renamed: its DNS name follows.
    pub async fn rename_container(&self, container_id: &str, new_name: &str) -> NetResult<()> {
        self.ready().await?;
        let mut st = self.st.lock().await;
        let State { nets, sbs, .. } = &mut *st;
        let Some(sb) = sbs.get_mut(container_id) else {
            return Ok(());
        };
        let old = std::mem::replace(&mut sb.rec.request.container_name, new_name.to_string());
        for ep in &mut sb.rec.endpoints {
            if let Some(first) = ep.dns_names.first_mut().filter(|n| **n == old) {
                *first = new_name.to_string();
            }
            if let Some(n) = nets.get(&ep.network_id).filter(|n| n.dns_enabled()) {
                let addrs = ep.addresses();
                self.dns
                    .add_endpoint(&n.id, &n.name, &ep.id, &ep.dns_names, &addrs);
            }
        }
        self.store.put(SANDBOXES, container_id, &sb.rec)?;
        Ok(())
    }

    /// Point the sandbox's resolver at its current networks, starting it the
    /// first time the sandbox joins a network with embedded DNS.
    pub(super) fn refresh_dns(&self, st: &mut State, cid: &str) -> NetResult<()> {
        let Some(sb) = st.sbs.get(cid) else {
            return Ok(());
        };
        let dns = st.sandbox_dns(&sb.rec);
        let wants = !dns.networks.is_empty();
        self.dns.set_sandbox(cid, dns);
        let Some(sb) = st.sbs.get_mut(cid) else {
            return Ok(());
        };
        if wants && sb.dns.is_none() && sb.rec.request.mode == NetworkMode::Private {
            sb.dns = Some(crate::dns::server::start(
                &sb.rec.key,
                cid,
                self.dns.clone(),
                self.fwd.clone(),
            )?);
        }
        Ok(())
    }
}

/// Undo a half-made endpoint: leave and delete it in the driver, give the address back.
async fn rollback(
    driver: &dyn crate::driver::NetworkDriver,
    ipam: &dyn crate::ipam::IpamDriver,
    network_id: &str,
    endpoint_id: Option<&str>,
    held: &[(&str, IpAddr)],
) {
    if let Some(eid) = endpoint_id {
        let _ = driver.leave(network_id, eid).await;
        let _ = driver.delete_endpoint(network_id, eid).await;
    }
    for (pool_id, addr) in held {
        let _ = ipam.release_address(pool_id, *addr).await;
    }
}

/// The sandbox's netlink connection, opened on first use (after a restart).
fn sandbox_nl(sb: &mut Sandbox) -> NetResult<Nl> {
    if let Some(nl) = &sb.nl {
        return Ok(nl.clone());
    }
    let nl = Nl::open_in(&sb.rec.key)?;
    sb.nl = Some(nl.clone());
    Ok(nl)
}

/// The lowest `<prefix><n>` not used by another endpoint of the sandbox.
fn next_ifname(eps: &[EndpointRecord], prefix: &str) -> String {
    let prefix = if prefix.is_empty() { "eth" } else { prefix };
    (0..)
        .map(|n| format!("{prefix}{n}"))
        .find(|name| !eps.iter().any(|e| e.ifname == *name))
        .unwrap_or_else(|| format!("{prefix}0"))
}
