//! The `bridge` driver: one Linux bridge per network (the default `bridge`
//! network's is `berth0`, user networks get `br-<id12>`), one veth pair per
//! endpoint with the host end enslaved to the bridge, NAT/publishing/isolation
//! through the [`Firewall`], host ports through the [`PortAllocator`].
//!
//! Bridge links are created when a network's first endpoint joins and removed
//! once it has had none for a few seconds (`RULES_GRACE`); a container's veth is created with
//! its peer directly inside the sandbox (moving a link between namespaces
//! waits for an RCU grace period) and deleted in the background.
//!
//! State lives in memory; at daemon start [`NetworkDriver::restore`] rebuilds it
//! from the controller's records, re-creates bridges that vanished (host
//! reboot), deletes veths on berth bridges that no endpoint owns (a crash
//! between creating a veth and recording its endpoint), re-takes published
//! ports and re-applies the whole firewall ruleset ([`firewall`] computes the
//! ruleset from this state and applies it).

mod firewall;
pub mod options;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use self::options::BridgeOptions;
use super::{
    Capabilities, CreateEndpointRequest, CreateNetworkRequest, ExternalConnectivity, InterfaceInfo,
    JoinInfo, JoinRequest, NetworkDriver, RestoredEndpoint,
};
use crate::error::{NetError, NetResult};
use crate::firewall::{Firewall, Ruleset};
use crate::nl::{self, Nl};
use crate::ns::{self, HostNs};
use crate::portalloc::PortAllocator;
use crate::ports::PortMapping;

/// Prefix of host-side veth names.
pub const HOST_VETH_PREFIX: &str = "veth";
/// Prefix of the container-side veth before it moves into the sandbox.
pub const PEER_VETH_PREFIX: &str = "vpeer";
/// How long a deleted endpoint's veth is left to the kernel's namespace cleanup.
const DELETE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a network without endpoints keeps its firewall rules.
const RULES_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

struct Net {
    opts: BridgeOptions,
    /// The link's index once it exists: bridges are created when their
    /// first endpoint joins and removed when the last one has been gone for
    /// `RULES_GRACE`, so a daemon with no containers leaves nothing on the host.
    index: Option<u32>,
    subnet: Option<Ipv4Net>,
    gateway: Option<IpNet>,
    /// The IPv6 subnet and the bridge's IPv6 address (networks created with `--ipv6`).
    subnet_v6: Option<Ipv6Net>,
    gateway_v6: Option<IpNet>,
    internal: bool,
}

struct Ep {
    network_id: String,
    host_if: String,
    peer_if: String,
    address: Option<IpNet>,
    address_v6: Option<IpNet>,
    mac: [u8; 6],
    ports: Vec<PortMapping>,
}

#[derive(Default)]
struct State {
    nets: HashMap<String, Net>,
    eps: HashMap<String, Ep>,
    /// Networks whose last endpoint left recently, with when: their rules
    /// stay for [`RULES_GRACE`], so container churn (`run --rm` in a loop)
    /// does not rewrite the firewall twice per container.
    warm: HashMap<String, std::time::Instant>,
}

/// How a bridge driver may treat the host.
#[derive(Debug, Clone, Copy)]
pub struct BridgeSettings {
    /// Program NAT and the host's forwarding setting (dockerd `--iptables`);
    /// without it ports are still reserved and recorded.
    pub firewall: bool,
    /// Relay published-port traffic the nat rules cannot carry (dockerd
    /// `--userland-proxy`; see [`crate::proxy`]).
    pub userland_proxy: bool,
    /// MTU of bridges and veths without a network option saying otherwise.
    pub default_mtu: u32,
}

impl Default for BridgeSettings {
    fn default() -> BridgeSettings {
        BridgeSettings {
            firewall: true,
            userland_proxy: true,
            default_mtu: 1500,
        }
    }
}

/// The bridge driver.
pub struct BridgeDriver {
    host: HostNs,
    nl: Nl,
    firewall: Arc<dyn Firewall>,
    firewall_enabled: bool,
    userland_proxy: bool,
    ports: PortAllocator,
    default_mtu: u32,
    st: Mutex<State>,
    /// Serialises firewall applies and remembers the last one, so a change
    /// that leaves the ruleset as it was costs no `nft` run.
    applied: tokio::sync::Mutex<Option<Ruleset>>,
    /// Link deletions still running in the background.
    pending: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// This driver, for background tasks (a cooldown outlives no driver).
    me: std::sync::Weak<BridgeDriver>,
}

/// Where the proxy relays mapping `m`: the container's address of the host
/// address's family, else its other one (`[::]` to an IPv4-only container).
fn proxy_target(m: &PortMapping, v4: Option<IpAddr>, v6: Option<IpAddr>) -> Option<IpAddr> {
    let (same, other) = if m.host_ip.is_ipv4() {
        (v4, v6)
    } else {
        (v6, v4)
    };
    same.or(other)
}

fn veth_names(endpoint_id: &str) -> (String, String) {
    let short = endpoint_id.get(..7).unwrap_or(endpoint_id);
    (
        format!("{HOST_VETH_PREFIX}{short}"),
        format!("{PEER_VETH_PREFIX}{short}"),
    )
}

impl BridgeDriver {
    /// A driver acting in `host`.
    pub fn new(
        host: HostNs,
        nl: Nl,
        firewall: Arc<dyn Firewall>,
        settings: BridgeSettings,
    ) -> Arc<BridgeDriver> {
        Arc::new_cyclic(|me| BridgeDriver {
            me: me.clone(),
            ports: PortAllocator::new(host.clone()),
            host,
            nl,
            firewall,
            firewall_enabled: settings.firewall,
            userland_proxy: settings.userland_proxy,
            default_mtu: settings.default_mtu,
            st: Mutex::new(State::default()),
            applied: tokio::sync::Mutex::new(None),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// With the userland proxy on, relay what reaches `ports`' sockets to
    /// the container at `v4`/`v6`.
    fn start_proxies(&self, ports: &[PortMapping], v4: Option<IpAddr>, v6: Option<IpAddr>) {
        if !self.userland_proxy {
            return;
        }
        for m in ports {
            if let Some(target) = proxy_target(m, v4, v6) {
                self.ports.proxy(m, target);
            }
        }
    }

    /// Wait until every link deletion started so far has finished, and drop
    /// the rules of networks left without endpoints now rather than later.
    pub async fn settle(&self) {
        let tasks = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
        self.st().warm.clear();
        if let Err(e) = self.sync_firewall(false).await {
            tracing::warn!("firewall: {e}");
        }
        self.remove_idle_links().await;
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A network's settings; no kernel object yet.
    fn parse_net(&self, req: &CreateNetworkRequest) -> NetResult<Net> {
        let opts = BridgeOptions::parse(&req.network_id, &req.options, self.default_mtu)?;
        let v4 = req.ipv4.first();
        let subnet = match v4.map(|d| d.pool) {
            Some(IpNet::V4(n)) => Some(n),
            _ => None,
        };
        let gateway = v4.and_then(|d| d.gateway);
        let v6 = req.ipv6.first();
        let subnet_v6 = match v6.map(|d| d.pool) {
            Some(IpNet::V6(n)) => Some(n),
            _ => None,
        };
        let gateway_v6 = v6.and_then(|d| d.gateway);
        Ok(Net {
            opts,
            index: None,
            subnet,
            gateway,
            subnet_v6,
            gateway_v6,
            internal: req.internal,
        })
    }

    /// Create (or adopt) the bridge link of a network and its host settings;
    /// returns its index.
    async fn ensure_link(&self, network_id: &str) -> NetResult<u32> {
        let (opts, gateway, gateway_v6) = {
            let st = self.st();
            let n = st
                .nets
                .get(network_id)
                .ok_or_else(|| NetError::NoSuchNetwork(network_id.to_string()))?;
            if let Some(i) = n.index {
                return Ok(i);
            }
            (n.opts.clone(), n.gateway, n.gateway_v6)
        };
        let index = self.nl.ensure_bridge(&opts.name, Some(opts.mtu)).await?;
        if let Some(gw) = gateway {
            self.nl.add_addr(index, gw).await?;
        }
        if let Some(gw) = gateway_v6 {
            // A host that disables IPv6 by default hands new links
            // disable_ipv6=1, which refuses the address.
            let key = format!("net/ipv6/conf/{}/disable_ipv6", opts.name);
            self.host.run(move || ns::sysctl(&key, "0"))?;
            self.nl.add_addr(index, gw).await?;
        }
        if self.firewall_enabled {
            // route_localnet lets DNAT'd loopback traffic leave through the
            // bridge (publishing to 127.0.0.1); forwarding carries container
            // traffic out and published ports in, as dockerd sets it (for
            // IPv6 as dockerd with ip6tables; it makes the kernel ignore router
            // advertisements on links with accept_ra=1).
            let key = format!("net/ipv4/conf/{}/route_localnet", opts.name);
            let v6 = gateway_v6.is_some();
            self.host.run(move || {
                ns::sysctl(&key, "1")?;
                let mut forwarding = vec!["net/ipv4/ip_forward"];
                if v6 {
                    forwarding.push("net/ipv6/conf/all/forwarding");
                }
                for f in forwarding {
                    if ns::read_sysctl(f)? != "1" {
                        ns::sysctl(f, "1")?;
                        tracing::info!("enabled forwarding ({f} = 1)");
                    }
                }
                Ok(())
            })?;
        }
        if let Some(n) = self.st().nets.get_mut(network_id) {
            n.index = Some(index);
        }
        Ok(index)
    }

    /// Remove the links of networks with no endpoint and no grace left.
    async fn remove_idle_links(&self) {
        let idle: Vec<(String, u32)> = {
            let mut st = self.st();
            let now = std::time::Instant::now();
            st.warm
                .retain(|_, left| now.duration_since(*left) < RULES_GRACE);
            let used: HashSet<String> = st
                .eps
                .values()
                .map(|e| e.network_id.clone())
                .chain(st.warm.keys().cloned())
                .collect();
            st.nets
                .iter_mut()
                .filter(|(id, _)| !used.contains(*id))
                .filter_map(|(id, n)| n.index.take().map(|i| (id.clone(), i)))
                .collect()
        };
        for (id, index) in idle {
            if let Err(e) = self.nl.delete(index).await {
                tracing::warn!("remove bridge of {id}: {e}");
            }
        }
    }

    /// Ports held by the allocator (tests and diagnostics).
    pub fn ports_held(&self) -> usize {
        self.ports.held()
    }
}

#[async_trait]
impl NetworkDriver for BridgeDriver {
    fn name(&self) -> &str {
        "bridge"
    }

    async fn capabilities(&self) -> NetResult<Capabilities> {
        Ok(Capabilities::local())
    }

    async fn create_network(&self, req: &CreateNetworkRequest) -> NetResult<()> {
        let wanted = BridgeOptions::parse(&req.network_id, &req.options, self.default_mtu)?;
        {
            let st = self.st();
            if st.nets.contains_key(&req.network_id) {
                return Err(NetError::Conflict(format!(
                    "network {} already exists",
                    req.network_id
                )));
            }
            if st.nets.values().any(|n| n.opts.name == wanted.name) {
                return Err(NetError::Conflict(format!(
                    "bridge name {} is already in use",
                    wanted.name
                )));
            }
        }
        if req.ipv4.is_empty() {
            return Err(NetError::invalid("bridge networks need an IPv4 pool"));
        }
        let net = self.parse_net(req)?;
        self.st().nets.insert(req.network_id.clone(), net);
        Ok(())
    }

    async fn delete_network(&self, network_id: &str) -> NetResult<()> {
        let tasks = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
        self.st().warm.remove(network_id);
        let net = self.st().nets.remove(network_id);
        if let Some(i) = net.and_then(|n| n.index) {
            self.nl.delete(i).await?;
        }
        self.sync_firewall(false).await
    }

    async fn create_endpoint(&self, req: &CreateEndpointRequest) -> NetResult<InterfaceInfo> {
        if !self.st().nets.contains_key(&req.network_id) {
            return Err(NetError::NoSuchNetwork(req.network_id.clone()));
        }
        if req.interface.address.is_none() {
            return Err(NetError::invalid("bridge endpoints need an IPv4 address"));
        }
        // The veth itself is made at join, when the sandbox is known, so its
        // container end can be created directly inside it.
        let (host_if, peer_if) = veth_names(&req.endpoint_id);
        let mac = req.interface.mac.unwrap_or_else(nl::random_mac);
        let ep = Ep {
            network_id: req.network_id.clone(),
            host_if,
            peer_if,
            address: req.interface.address,
            address_v6: req.interface.address_v6,
            mac,
            ports: Vec::new(),
        };
        self.st().eps.insert(req.endpoint_id.clone(), ep);
        Ok(InterfaceInfo {
            address: req.interface.address,
            address_v6: req.interface.address_v6,
            mac: Some(mac),
        })
    }

    async fn delete_endpoint(&self, _network_id: &str, endpoint_id: &str) -> NetResult<()> {
        let ep = self.st().eps.remove(endpoint_id);
        let host_if = match &ep {
            Some(ep) => {
                for p in &ep.ports {
                    self.ports.release(p).await;
                }
                ep.host_if.clone()
            }
            None => veth_names(endpoint_id).0,
        };
        // Unregistering a link waits for an RCU grace period (~20 ms) with the
        // RTNL held, so it runs in the background ([`BridgeDriver::settle`]
        // waits for it), and only after a pause: when the sandbox is being
        // removed, the kernel's namespace cleanup destroys the pair in one
        // batch meanwhile, and this finds nothing left to do. The address was
        // released already and the name is unique per endpoint, so nothing
        // collides with the dying link.
        let nl = self.nl.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(DELETE_GRACE).await;
            if let Err(e) = nl.delete_named(&host_if).await {
                tracing::warn!("delete {host_if}: {e}");
            }
        });
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
        if let Some(ep) = &ep {
            let last = {
                let mut st = self.st();
                let last = !st.eps.values().any(|e| e.network_id == ep.network_id);
                if last {
                    st.warm
                        .insert(ep.network_id.clone(), std::time::Instant::now());
                }
                last
            };
            if last {
                self.schedule_cooldown();
            }
        }
        self.sync_firewall(false).await
    }

    async fn endpoint_info(
        &self,
        _network_id: &str,
        endpoint_id: &str,
    ) -> NetResult<BTreeMap<String, serde_json::Value>> {
        let st = self.st();
        let ep = st
            .eps
            .get(endpoint_id)
            .ok_or_else(|| NetError::NotFound(format!("endpoint {endpoint_id} not found")))?;
        let mut out = BTreeMap::new();
        out.insert(
            "com.docker.network.endpoint.macaddress".to_string(),
            serde_json::json!(nl::format_mac(&ep.mac)),
        );
        out.insert(
            "com.docker.network.portmap".to_string(),
            serde_json::to_value(&ep.ports).unwrap_or_default(),
        );
        out.insert("veth".to_string(), serde_json::json!(ep.host_if));
        Ok(out)
    }

    async fn join(&self, req: &JoinRequest) -> NetResult<JoinInfo> {
        let (bridge, mtu, mut info, host_if, mac) = {
            let st = self.st();
            let ep = st.eps.get(&req.endpoint_id).ok_or_else(|| {
                NetError::NotFound(format!("endpoint {} not found", req.endpoint_id))
            })?;
            let n = st
                .nets
                .get(&ep.network_id)
                .ok_or_else(|| NetError::NoSuchNetwork(ep.network_id.clone()))?;
            let info = JoinInfo {
                src_name: ep.peer_if.clone(),
                dst_prefix: "eth".to_string(),
                gateway: if n.internal {
                    None
                } else {
                    n.gateway.map(|g| g.addr())
                },
                gateway_v6: if n.internal {
                    None
                } else {
                    n.gateway_v6.map(|g| g.addr())
                },
                ..JoinInfo::default()
            };
            (
                ep.network_id.clone(),
                n.opts.mtu,
                info,
                ep.host_if.clone(),
                ep.mac,
            )
        };
        let bridge = self.ensure_link(&bridge).await?;
        // Create the container end directly in the sandbox when we can: moving
        // a link between namespaces costs an RCU grace period.
        let nsfile = match (
            req.sandbox_key.as_os_str().is_empty(),
            req.ifname.is_empty(),
        ) {
            (false, false) => Some(
                std::fs::File::open(&req.sandbox_key)
                    .map_err(|e| NetError::io("open sandbox namespace", e))?,
            ),
            _ => None,
        };
        let host_index = match &nsfile {
            Some(f) => {
                use std::os::fd::AsRawFd;
                info.src_name = req.ifname.clone();
                info.in_sandbox = true;
                self.nl
                    .create_veth_into(
                        &host_if,
                        &req.ifname,
                        Some(mtu),
                        bridge,
                        Some(f.as_raw_fd()),
                        Some(mac),
                    )
                    .await?
            }
            None => {
                self.nl
                    .create_veth(&host_if, &info.src_name, Some(mtu), bridge)
                    .await?
            }
        };
        if let Err(e) = self.nl.attach_up(host_index, bridge).await {
            let _ = self.nl.delete(host_index).await;
            return Err(e);
        }
        self.sync_firewall(false).await?;
        Ok(info)
    }

    async fn leave(&self, _network_id: &str, _endpoint_id: &str) -> NetResult<()> {
        Ok(())
    }

    async fn program_external_connectivity(
        &self,
        network_id: &str,
        endpoint_id: &str,
        req: &ExternalConnectivity,
    ) -> NetResult<Vec<PortMapping>> {
        let (host_ip, v4, v6) = {
            let st = self.st();
            let n = st
                .nets
                .get(network_id)
                .ok_or_else(|| NetError::NoSuchNetwork(network_id.to_string()))?;
            if n.internal {
                return Ok(Vec::new());
            }
            let ep = st.eps.get(endpoint_id);
            let v4 = ep.and_then(|e| e.address).map(|a| a.addr());
            let v6 = ep.and_then(|e| e.address_v6).map(|a| a.addr());
            (n.opts.host_ip, v4, v6)
        };
        // As Docker: a port published on every address is published on
        // `0.0.0.0` and, with the same host port, on `[::]` when the
        // container has an IPv6 address or the proxy can carry IPv6 to it.
        let beside_v6 = v6.is_some() || self.userland_proxy;
        let mut got: Vec<PortMapping> = Vec::new();
        for b in &req.bindings {
            let r = self.ports.allocate(b, host_ip).and_then(|m| {
                got.push(m);
                if beside_v6 && m.host_ip == IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED) {
                    let any6 = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
                    got.extend(self.ports.allocate_beside(&m, any6)?);
                }
                Ok(())
            });
            if let Err(e) = r {
                for m in &got {
                    self.ports.release(m).await;
                }
                return Err(e);
            }
        }
        self.start_proxies(&got, v4, v6);
        match self.st().eps.get_mut(endpoint_id) {
            Some(ep) => ep.ports = got.clone(),
            None => {
                return Err(NetError::NotFound(format!(
                    "endpoint {endpoint_id} not found"
                )));
            }
        }
        if let Err(e) = self.sync_firewall(false).await {
            self.revoke_external_connectivity(network_id, endpoint_id)
                .await
                .ok();
            return Err(e);
        }
        Ok(got)
    }

    async fn revoke_external_connectivity(
        &self,
        _network_id: &str,
        endpoint_id: &str,
    ) -> NetResult<()> {
        let ports = match self.st().eps.get_mut(endpoint_id) {
            Some(ep) => std::mem::take(&mut ep.ports),
            None => Vec::new(),
        };
        for p in &ports {
            self.ports.release(p).await;
        }
        if ports.is_empty() {
            Ok(())
        } else {
            self.sync_firewall(false).await
        }
    }

    async fn restore(
        &self,
        networks: &[CreateNetworkRequest],
        endpoints: &[RestoredEndpoint],
    ) -> NetResult<()> {
        // Adopt the bridges that survived; the others appear on first join.
        let links = self.nl.links().await?;
        for req in networks {
            let mut net = match self.parse_net(req) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("restore bridge network {}: {e}", req.network_id);
                    continue;
                }
            };
            net.index = links
                .iter()
                .find(|l| l.name == net.opts.name)
                .map(|l| l.index);
            self.st().nets.insert(req.network_id.clone(), net);
        }
        let mut known: HashSet<String> = HashSet::new();
        for r in endpoints {
            let (host_if, peer_if) = veth_names(&r.endpoint_id);
            known.insert(host_if.clone());
            known.insert(peer_if.clone());
            for p in &r.ports {
                self.ports.retake(p);
            }
            self.start_proxies(
                &r.ports,
                r.interface.address.map(|a| a.addr()),
                r.interface.address_v6.map(|a| a.addr()),
            );
            let mac = r.interface.mac.unwrap_or([0; 6]);
            let ep = Ep {
                network_id: r.network_id.clone(),
                host_if,
                peer_if,
                address: r.interface.address,
                address_v6: r.interface.address_v6,
                mac,
                ports: r.ports.clone(),
            };
            self.st().eps.insert(r.endpoint_id.clone(), ep);
        }
        // Leaked veths: host ends on one of our bridges with no endpoint
        // record owning them (deleting the host end takes its peer along,
        // even a peer never moved into a sandbox). Veths are created already
        // enslaved, so a loose `vpeer*` on the host belongs to another engine
        // on this host (another berthd, or dockerd using berth as a remote
        // driver) and is left alone.
        let bridges: HashSet<u32> = self.st().nets.values().filter_map(|n| n.index).collect();
        for l in links {
            let ours = l.master.is_some_and(|m| bridges.contains(&m));
            if ours && l.kind.as_deref() == Some("veth") && !known.contains(&l.name) {
                tracing::info!("removing leaked link {}", l.name);
                self.nl.delete(l.index).await?;
            }
        }
        let ids: Vec<String> = self
            .st()
            .nets
            .iter()
            .filter(|(_, n)| n.index.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            // Address and sysctls again (a link that survived keeps them; this is idempotent).
            if let Some(n) = self.st().nets.get_mut(&id) {
                n.index = None;
            }
            if let Err(e) = self.ensure_link(&id).await {
                tracing::warn!("restore bridge of {id}: {e}");
            }
        }
        if self.ruleset() == Ruleset::default() {
            // Nothing to program: remove what a previous run may have left.
            *self.applied.lock().await = None;
            self.remove_idle_links().await;
            // In the background (an `nft` run costs ~15 ms of daemon start):
            // under the apply lock, and only while nothing has been applied
            // since, so it can never remove a newer ruleset. `settle` waits.
            if let (true, Some(me)) = (self.firewall_enabled, self.me.upgrade()) {
                let task = tokio::spawn(async move {
                    let applied = me.applied.lock().await;
                    if applied.is_none()
                        && let Err(e) = me.firewall.remove_all().await
                    {
                        tracing::warn!("remove stale firewall table: {e}");
                    }
                });
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(task);
            }
            return Ok(());
        }
        self.sync_firewall(true).await
    }
}
