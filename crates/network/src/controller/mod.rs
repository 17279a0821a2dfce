//! The controller: owns networks and sandboxes (with their endpoints), keeps
//! them in the state store, drives the drivers and the IPAM, and runs the
//! embedded DNS. One async lock serialises every change, so the records, the
//! kernel and the DNS table move together.

mod networks;
mod restore;
mod sandbox;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock, RwLock};

use berth_core::store::Store;
use ipnet::IpNet;

use crate::config::NetworkConfig;
use crate::dns::forward::Forwarder;
use crate::dns::server::DnsServer;
use crate::dns::{DnsTable, SandboxDns};
use crate::driver::NetworkDriver;
use crate::driver::bridge::{BridgeDriver, BridgeSettings};
use crate::driver::host::HostDriver;
use crate::driver::null::NullDriver;
use crate::driver::remote::{RemoteDriver, plugin_error};
use crate::error::{NetError, NetResult};
use crate::firewall::nft::NftFirewall;
use crate::firewall::{Firewall, NoFirewall};
use crate::ipam::IpamDriver;
use crate::ipam::default::DefaultIpam;
use crate::ipam::remote::RemoteIpam;
use crate::model::{EndpointView, NetworkInfo, NetworkRecord, SandboxRecord, SandboxView};
use crate::nl::Nl;

pub use validate::{parse_ip, validate_ipam};

struct Sandbox {
    rec: SandboxRecord,
    /// Netlink connection inside the sandbox, opened on first use.
    nl: Option<Nl>,
    dns: Option<DnsServer>,
}

#[derive(Default)]
struct State {
    nets: BTreeMap<String, NetworkRecord>,
    sbs: BTreeMap<String, Sandbox>,
    /// Names of networks being created (their driver calls run unlocked).
    creating: BTreeSet<String>,
}

/// The network controller.
pub struct Controller {
    cfg: NetworkConfig,
    store: Arc<Store>,
    host_nl: Nl,
    drivers: BTreeMap<String, Arc<dyn NetworkDriver>>,
    ipams: BTreeMap<String, Arc<dyn IpamDriver>>,
    /// Plugin drivers activated so far, found lazily through `plugins`.
    remote_drivers: RwLock<BTreeMap<String, Arc<dyn NetworkDriver>>>,
    /// Plugin IPAMs activated so far.
    remote_ipams: RwLock<BTreeMap<String, Arc<dyn IpamDriver>>>,
    /// Where unknown driver names are looked up (none: built-ins only).
    plugins: OnceLock<Arc<berth_plugin::Registry>>,
    bridge: Arc<BridgeDriver>,
    firewall: Arc<dyn Firewall>,
    dns: Arc<DnsTable>,
    fwd: Arc<Forwarder>,
    st: tokio::sync::Mutex<State>,
    /// Set once the records are loaded (lazily, on first use, or by `open`).
    loaded: tokio::sync::OnceCell<()>,
}

impl State {
    /// Docker's lookup order: full id, exact name, unique id prefix.
    fn find(&self, key: &str) -> NetResult<&NetworkRecord> {
        if let Some(n) = self.nets.get(key) {
            return Ok(n);
        }
        if let Some(n) = self.nets.values().find(|n| n.name == key) {
            return Ok(n);
        }
        let mut hits = self
            .nets
            .values()
            .filter(|n| !key.is_empty() && n.id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some(n), None) => Ok(n),
            (Some(_), Some(_)) => {
                let count = self.nets.values().filter(|n| n.id.starts_with(key)).count();
                Err(NetError::invalid(format!(
                    "network {key} is ambiguous ({count} matches found based on ID prefix)"
                )))
            }
            _ => Err(NetError::NoSuchNetwork(key.to_string())),
        }
    }

    fn info(&self, n: &NetworkRecord) -> NetworkInfo {
        let mut endpoints = Vec::new();
        for sb in self.sbs.values() {
            for ep in sb.rec.endpoints.iter().filter(|e| e.network_id == n.id) {
                endpoints.push((
                    sb.rec.request.container_id.clone(),
                    sb.rec.request.container_name.clone(),
                    ep.clone(),
                ));
            }
        }
        NetworkInfo {
            network: n.clone(),
            endpoints,
        }
    }

    fn view(&self, sb: &Sandbox) -> SandboxView {
        let endpoints = sb
            .rec
            .endpoints
            .iter()
            .map(|e| {
                let n = self.nets.get(&e.network_id);
                EndpointView {
                    network_id: e.network_id.clone(),
                    network_name: n.map(|n| n.name.clone()).unwrap_or_default(),
                    driver: n.map(|n| n.driver.clone()).unwrap_or_default(),
                    endpoint: e.clone(),
                }
            })
            .collect();
        SandboxView {
            container_id: sb.rec.request.container_id.clone(),
            key: sb.rec.key.clone(),
            mode: sb.rec.request.mode.clone(),
            embedded_dns: sb.dns.is_some(),
            endpoints,
            exposed: sb.rec.request.exposed.clone(),
        }
    }

    /// What the embedded DNS of a sandbox may see.
    fn sandbox_dns(&self, rec: &SandboxRecord) -> SandboxDns {
        let nets: Vec<&NetworkRecord> = rec
            .endpoints
            .iter()
            .filter_map(|e| self.nets.get(&e.network_id))
            .filter(|n| n.dns_enabled())
            .collect();
        SandboxDns {
            networks: nets.iter().map(|n| n.id.clone()).collect(),
            upstream: rec
                .request
                .dns
                .iter()
                .map(|ip| std::net::SocketAddr::new(*ip, 53))
                .collect(),
            forward: nets.iter().any(|n| !n.internal),
            links: rec
                .endpoints
                .iter()
                .filter(|e| nets.iter().any(|n| n.id == e.network_id))
                .flat_map(|e| {
                    e.request.links.iter().map(|l| {
                        let (target, alias) = l.split_once(':').unwrap_or((l, l));
                        let target = target.trim_start_matches('/');
                        let alias = alias.rsplit('/').next().unwrap_or(alias);
                        (
                            e.network_id.clone(),
                            alias.to_ascii_lowercase(),
                            target.to_ascii_lowercase(),
                        )
                    })
                })
                .collect(),
        }
    }
}

impl Controller {
    /// Open the controller: load records, replay the IPAM, create the
    /// predefined networks, let drivers take back what survived in the kernel
    /// and restart the embedded DNS of every sandbox whose namespace still
    /// exists. Call [`Controller::restore`] next with the live containers.
    pub async fn open(cfg: NetworkConfig, store: Arc<Store>) -> NetResult<Arc<Controller>> {
        let c = Controller::new(cfg, store)?;
        c.ready().await?;
        Ok(c)
    }

    /// Build the controller without loading anything (for synchronous
    /// constructors; needs a tokio runtime). The load of [`Controller::open`]
    /// happens on first use or in [`Controller::restore`].
    pub fn new(cfg: NetworkConfig, store: Arc<Store>) -> NetResult<Arc<Controller>> {
        std::fs::create_dir_all(cfg.netns_dir())
            .map_err(|e| NetError::io("create netns directory", e))?;
        let host_nl = Nl::open_host(&cfg.host)?;
        let firewall: Arc<dyn Firewall> = if cfg.firewall {
            Arc::new(
                NftFirewall::new(cfg.host.clone(), cfg.nft_table.clone())
                    .with_marker(cfg.firewall_marker()),
            )
        } else {
            Arc::new(NoFirewall)
        };
        let bridge = BridgeDriver::new(
            cfg.host.clone(),
            host_nl.clone(),
            firewall.clone(),
            BridgeSettings {
                firewall: cfg.firewall,
                userland_proxy: cfg.userland_proxy,
                default_mtu: cfg.mtu,
            },
        );
        let mut drivers: BTreeMap<String, Arc<dyn NetworkDriver>> = BTreeMap::new();
        drivers.insert("bridge".into(), bridge.clone());
        drivers.insert("host".into(), Arc::new(HostDriver));
        drivers.insert("null".into(), Arc::new(NullDriver));
        let mut ipams: BTreeMap<String, Arc<dyn IpamDriver>> = BTreeMap::new();
        ipams.insert(
            "default".into(),
            Arc::new(DefaultIpam::new(cfg.default_pools.clone())),
        );
        let fwd = Arc::new(Forwarder::new(cfg.host.clone(), cfg.dns_upstream.clone()));
        let c = Arc::new(Controller {
            cfg,
            store,
            host_nl,
            drivers,
            ipams,
            remote_drivers: RwLock::new(BTreeMap::new()),
            remote_ipams: RwLock::new(BTreeMap::new()),
            plugins: OnceLock::new(),
            bridge,
            firewall,
            dns: Arc::new(DnsTable::default()),
            fwd,
            st: tokio::sync::Mutex::new(State::default()),
            loaded: tokio::sync::OnceCell::new(),
        });
        Ok(c)
    }

    /// Load the records once; every public entry point calls this first.
    async fn ready(&self) -> NetResult<()> {
        self.loaded
            .get_or_try_init(|| self.load())
            .await
            .map(|_| ())
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.cfg
    }

    /// Look unknown driver names up as plugins in `reg` (Docker's remote
    /// drivers). Set once, right after construction.
    pub fn set_plugins(&self, reg: Arc<berth_plugin::Registry>) {
        let _ = self.plugins.set(reg);
    }

    /// Built-in drivers and the plugin drivers activated so far (`docker info`).
    pub fn driver_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.drivers.keys().cloned().collect();
        v.extend(read(&self.remote_drivers).keys().cloned());
        v
    }

    /// Plugin IPAM drivers activated so far.
    pub fn remote_ipam_names(&self) -> Vec<String> {
        read(&self.remote_ipams).keys().cloned().collect()
    }

    /// The driver `name`: built in, activated already, or a plugin found now
    /// (lookup waits for a plugin not present yet within the registry's retry budget).
    async fn driver(&self, name: &str) -> NetResult<Arc<dyn NetworkDriver>> {
        if let Some(d) = self
            .drivers
            .get(name)
            .or(read(&self.remote_drivers).get(name))
        {
            return Ok(d.clone());
        }
        let not_found = || NetError::NotFound(format!("plugin \"{name}\" not found"));
        let reg = self.plugins.get().ok_or_else(not_found)?;
        let p = reg
            .get(name, berth_plugin::dto::iface::NETWORK)
            .await
            .map_err(plugin_error)?;
        let d: Arc<dyn NetworkDriver> = Arc::new(RemoteDriver::new(p));
        // Docker registers a remote driver only once its capabilities are valid.
        d.capabilities().await?;
        let mut m = self
            .remote_drivers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        Ok(m.entry(name.to_string()).or_insert(d).clone())
    }

    /// The IPAM `name` (`""` is `default`), built in or a plugin.
    async fn ipam(&self, name: &str) -> NetResult<Arc<dyn IpamDriver>> {
        let name = if name.is_empty() { "default" } else { name };
        if let Some(i) = self.known_ipam(name) {
            return Ok(i);
        }
        let not_found = || NetError::NotFound(format!("plugin \"{name}\" not found"));
        let reg = self.plugins.get().ok_or_else(not_found)?;
        let p = reg
            .get(name, berth_plugin::dto::iface::IPAM)
            .await
            .map_err(plugin_error)?;
        let i: Arc<dyn IpamDriver> = Arc::new(RemoteIpam::new(p));
        let mut m = self.remote_ipams.write().unwrap_or_else(|p| p.into_inner());
        Ok(m.entry(name.to_string()).or_insert(i).clone())
    }

    /// An IPAM already known, without any lookup (daemon start must not wait
    /// for plugins; remote IPAMs keep their own state).
    fn known_ipam(&self, name: &str) -> Option<Arc<dyn IpamDriver>> {
        let name = if name.is_empty() { "default" } else { name };
        self.ipams
            .get(name)
            .or(read(&self.remote_ipams).get(name))
            .cloned()
    }

    /// Networks a new dynamic pool must avoid: host routes and nameservers.
    async fn host_exclusions(&self) -> Vec<IpNet> {
        let mut out: Vec<IpNet> = match self.host_nl.routes().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot read host routes: {e}");
                Vec::new()
            }
        };
        if self.cfg.host.path().is_none() {
            let rc = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            for s in crate::dns::forward::resolv_conf_servers(&rc) {
                if !s.ip().is_loopback() {
                    out.push(IpNet::from(s.ip()));
                }
            }
        }
        out
    }

    /// Every network with its endpoints.
    pub async fn networks(&self) -> NetResult<Vec<NetworkInfo>> {
        self.ready().await?;
        let st = self.st.lock().await;
        Ok(st.nets.values().map(|n| st.info(n)).collect())
    }

    /// One network by id, name or unique id prefix.
    pub async fn network(&self, key: &str) -> NetResult<NetworkInfo> {
        self.ready().await?;
        let st = self.st.lock().await;
        let n = st.find(key)?;
        Ok(st.info(n))
    }

    /// The sandbox of a container, if it has one.
    pub async fn sandbox(&self, container_id: &str) -> Option<SandboxView> {
        self.ready().await.ok()?;
        let st = self.st.lock().await;
        st.sbs.get(container_id).map(|sb| st.view(sb))
    }

    /// Every sandbox.
    pub async fn sandboxes(&self) -> Vec<SandboxView> {
        if self.ready().await.is_err() {
            return Vec::new();
        }
        let st = self.st.lock().await;
        st.sbs.values().map(|sb| st.view(sb)).collect()
    }

    /// Wait for background kernel cleanup (link deletions) to finish; tests
    /// and shutdown call it before looking at the host.
    pub async fn settle(&self) {
        self.bridge.settle().await;
    }

    /// Host ports currently reserved (diagnostics and tests).
    pub fn ports_held(&self) -> usize {
        self.bridge.ports_held()
    }

    /// Remove berth's firewall table (tests; a daemon never needs it, since an
    /// empty state leaves an empty table).
    pub async fn remove_firewall(&self) -> NetResult<()> {
        self.firewall.remove_all().await
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
