//! Creating, removing and pruning networks; pool allocation through the IPAM.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::validate::{parse_ip, validate_endpoint, validate_ipam, validate_name};
use super::{Controller, State};
use crate::driver::{CreateNetworkRequest, IpamData, OPT_INTERNAL};
use crate::error::{NetError, NetResult};
use crate::ipam::addr::with_prefix;
use crate::ipam::{PoolRequest, gateway_options};
use crate::model::{
    EndpointRequest, IpamConfigSpec, NETWORKS, NetworkCreate, NetworkInfo, NetworkRecord,
    PoolRecord,
};

/// Where IPv6 subnets of networks created with `--ipv6` and no `--subnet`
/// come from when no default pool is IPv6: a unique-local /48 whose global id
/// spells "berth" (`62 65 72 74 68`), cut into /64s.
pub const DEFAULT_V6_POOL: &str = "fd62:6572:7468::/48";

/// Names of the predefined networks.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

impl Controller {
    /// `POST /networks/create`. Returns the network and Docker's `Warning` text.
    pub async fn create_network(&self, req: NetworkCreate) -> NetResult<(NetworkInfo, String)> {
        self.ready().await?;
        validate_name(&req.name)?;
        if PREDEFINED.contains(&req.name.as_str()) {
            return Err(NetError::forbidden(format!(
                "{} is a pre-defined network and cannot be created",
                req.name
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        if driver == "host" || driver == "null" {
            return Err(NetError::forbidden(format!(
                "only one instance of \"{driver}\" network is allowed"
            )));
        }
        // Plugins are looked up (and activated) before anything is locked.
        self.driver(&driver).await?;
        self.ipam(&req.ipam_driver).await?;
        if req.config_only || !req.config_from.is_empty() {
            return Err(NetError::invalid(
                "config-only networks are not supported by berth",
            ));
        }
        if req.ingress || !(req.scope.is_empty() || req.scope == "local") {
            return Err(NetError::invalid(
                "only local-scope networks are supported (no swarm)",
            ));
        }
        let enable_ipv6 = req.enable_ipv6.unwrap_or(false);
        if !req.enable_ipv4.unwrap_or(true) {
            return Err(NetError::invalid("bridge networks need IPv4"));
        }
        validate_ipam(&req.ipam_config, enable_ipv6)?;
        let rec = NetworkRecord {
            id: berth_core::id::generate(),
            name: req.name,
            driver,
            scope: "local".into(),
            created: berth_core::timefmt::now_rfc3339(),
            internal: req.internal,
            attachable: req.attachable,
            ingress: false,
            enable_ipv4: true,
            enable_ipv6,
            ipam_driver: if req.ipam_driver.is_empty() {
                "default".into()
            } else {
                req.ipam_driver
            },
            ipam_options: req.ipam_options,
            ipam_config: req.ipam_config,
            pools: Vec::new(),
            options: req.options,
            labels: req.labels,
            predefined: false,
        };
        let name = rec.name.clone();
        {
            let mut st = self.st.lock().await;
            if st.nets.values().any(|n| n.name == name) || st.creating.contains(&name) {
                return Err(NetError::Conflict(format!(
                    "network with name {name} already exists"
                )));
            }
            st.creating.insert(name.clone());
        }
        // The name is reserved: IPAM and driver calls (a plugin may be slow)
        // run without the controller lock, so other networks and containers
        // are not held up.
        let res = self.create_record(rec).await;
        let mut st = self.st.lock().await;
        st.creating.remove(&name);
        let rec = res?;
        st.nets.insert(rec.id.clone(), rec.clone());
        Ok((st.info(&rec), String::new()))
    }

    /// Allocate pools, create in the driver, persist.
    pub(super) async fn create_locked(
        &self,
        st: &mut State,
        rec: NetworkRecord,
    ) -> NetResult<NetworkRecord> {
        let rec = self.create_record(rec).await?;
        st.nets.insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// Allocate pools (every driver but `host` and `null` gets them), create
    /// in the driver, persist; the caller adds it to the state.
    async fn create_record(&self, mut rec: NetworkRecord) -> NetResult<NetworkRecord> {
        if rec.driver != "host" && rec.driver != "null" {
            rec.pools = self.allocate_pools(&rec).await?;
        }
        let driver = self.driver(&rec.driver).await?;
        if let Err(e) = driver.create_network(&driver_request(&rec)).await {
            self.release_pools(&rec).await;
            return Err(e);
        }
        if let Err(e) = self.store.put(NETWORKS, &rec.id, &rec) {
            let _ = driver.delete_network(&rec.id).await;
            self.release_pools(&rec).await;
            return Err(e.into());
        }
        Ok(rec)
    }

    /// One IPv4 pool per configured subnet, or one dynamic pool; with IPv6
    /// enabled, the same for IPv6 (a dynamic one comes from the default
    /// pools, or else from [`DEFAULT_V6_POOL`], as Docker 27+ does).
    async fn allocate_pools(&self, rec: &NetworkRecord) -> NetResult<Vec<PoolRecord>> {
        let ipam = self.ipam(&rec.ipam_driver).await?;
        let space = ipam.default_address_spaces().await?.local;
        let family = |v6: bool| -> Vec<(IpamConfigSpec, bool)> {
            let mut specs: Vec<_> = rec
                .ipam_config
                .iter()
                .filter(|c| c.subnet.contains(':') == v6)
                .map(|c| (c.clone(), v6))
                .collect();
            if specs.is_empty() {
                specs.push((Default::default(), v6));
            }
            specs
        };
        let mut specs = family(false);
        if rec.enable_ipv6 {
            specs.extend(family(true));
        }
        let mut out: Vec<PoolRecord> = Vec::new();
        for (spec, v6) in specs {
            let subnet: Option<IpNet> = spec.subnet.parse().ok();
            let ip_range: Option<IpNet> = spec.ip_range.parse().ok();
            let exclude = if subnet.is_none() {
                self.host_exclusions().await
            } else {
                Vec::new()
            };
            let req = PoolRequest {
                address_space: space.clone(),
                pool: subnet,
                sub_pool: ip_range,
                options: rec.ipam_options.clone(),
                v6,
                exclude,
            };
            let pool = match ipam.request_pool(req.clone()).await {
                Ok(p) => p,
                // No configured IPv6 default pool: a /64 of berth's own ULA range.
                Err(_) if v6 && subnet.is_none() && rec.ipam_driver == "default" => {
                    match self.default_v6_pool(&*ipam, req).await {
                        Ok(p) => p,
                        Err(e) => {
                            self.release_pool_records(&rec.ipam_driver, &out).await;
                            return Err(e);
                        }
                    }
                }
                Err(e) => {
                    self.release_pool_records(&rec.ipam_driver, &out).await;
                    return Err(e);
                }
            };
            let mut p = PoolRecord {
                address_space: space.clone(),
                pool_id: pool.pool_id,
                subnet: pool.pool,
                ip_range,
                gateway: None,
                aux: BTreeMap::new(),
                user_subnet: subnet.is_some(),
            };
            let res = self
                .reserve_pool_addresses(&*ipam, &mut p, &spec.gateway, &spec.aux)
                .await;
            out.push(p);
            if let Err(e) = res {
                self.release_pool_records(&rec.ipam_driver, &out).await;
                return Err(e);
            }
        }
        Ok(out)
    }

    /// The first free /64 of [`DEFAULT_V6_POOL`], as a static pool.
    async fn default_v6_pool(
        &self,
        ipam: &dyn crate::ipam::IpamDriver,
        req: PoolRequest,
    ) -> NetResult<crate::ipam::AllocatedPool> {
        let base: IpNet = DEFAULT_V6_POOL
            .parse()
            .map_err(|e| NetError::invalid(format!("{DEFAULT_V6_POOL}: {e}")))?;
        let subnets = base
            .subnets(64)
            .map_err(|e| NetError::invalid(format!("{DEFAULT_V6_POOL}: {e}")))?;
        for cand in subnets.take(4096) {
            if req
                .exclude
                .iter()
                .any(|x| x.contains(&cand) || cand.contains(x))
            {
                continue;
            }
            let r = PoolRequest {
                pool: Some(cand),
                ..req.clone()
            };
            if let Ok(p) = ipam.request_pool(r).await {
                return Ok(p);
            }
        }
        Err(NetError::invalid(
            "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
        ))
    }

    /// Gateway (given, suggested by the IPAM, or the first free address) and aux addresses.
    async fn reserve_pool_addresses(
        &self,
        ipam: &dyn crate::ipam::IpamDriver,
        p: &mut PoolRecord,
        gateway: &str,
        aux: &BTreeMap<String, String>,
    ) -> NetResult<()> {
        let gw = parse_ip(gateway);
        p.gateway = Some(
            ipam.request_address(&p.pool_id, gw, &gateway_options())
                .await?,
        );
        for (name, a) in aux {
            let ip = parse_ip(a)
                .ok_or_else(|| NetError::invalid(format!("invalid auxiliary address {name}")))?;
            let got = ipam
                .request_address(&p.pool_id, Some(ip), &BTreeMap::new())
                .await?;
            p.aux.insert(name.clone(), got);
        }
        Ok(())
    }

    async fn release_pool_records(&self, ipam_name: &str, pools: &[PoolRecord]) {
        let Ok(ipam) = self.ipam(ipam_name).await else {
            return;
        };
        for p in pools {
            if let Some(g) = p.gateway {
                let _ = ipam.release_address(&p.pool_id, g.addr()).await;
            }
            for a in p.aux.values() {
                let _ = ipam.release_address(&p.pool_id, a.addr()).await;
            }
            let _ = ipam.release_pool(&p.pool_id).await;
        }
    }

    pub(super) async fn release_pools(&self, rec: &NetworkRecord) {
        self.release_pool_records(&rec.ipam_driver, &rec.pools)
            .await;
    }

    /// `DELETE /networks/{id}`.
    pub async fn remove_network(&self, key: &str) -> NetResult<NetworkRecord> {
        self.ready().await?;
        let mut st = self.st.lock().await;
        let n = st.find(key)?.clone();
        if n.predefined {
            return Err(NetError::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let eps = st.info(&n).endpoints;
        if !eps.is_empty() {
            let list: Vec<String> = eps
                .iter()
                .map(|(id, name, _)| {
                    format!("name:\"{name}\" id:\"{}\"", id.get(..12).unwrap_or(id))
                })
                .collect();
            return Err(NetError::forbidden(format!(
                "error while removing network: network {} has active endpoints ({})",
                n.name,
                list.join(", ")
            )));
        }
        self.driver(&n.driver).await?.delete_network(&n.id).await?;
        self.release_pools(&n).await;
        self.store.delete(NETWORKS, &n.id)?;
        st.nets.remove(&n.id);
        Ok(n)
    }

    /// `POST /networks/prune`: removes unused user networks `keep` rejects not; returns their names.
    pub async fn prune(&self, matches: impl Fn(&NetworkRecord) -> bool) -> Vec<String> {
        if self.ready().await.is_err() {
            return Vec::new();
        }
        let candidates: Vec<NetworkRecord> = {
            let st = self.st.lock().await;
            st.nets
                .values()
                .filter(|n| !n.predefined && st.info(n).endpoints.is_empty() && matches(n))
                .cloned()
                .collect()
        };
        let mut out = Vec::new();
        for n in candidates {
            match self.remove_network(&n.id).await {
                Ok(_) => out.push(n.name),
                Err(e) => tracing::debug!("prune: keeping network {}: {e}", n.name),
            }
        }
        out
    }

    /// Check a container's settings for a network before it is created or
    /// connected (`docker create`/`run` fail early, as in Docker).
    pub async fn validate_endpoint(
        &self,
        network: &str,
        req: &EndpointRequest,
    ) -> NetResult<NetworkRecord> {
        self.ready().await?;
        let st = self.st.lock().await;
        let n = st.find(network)?;
        validate_endpoint(n, req)?;
        Ok(n.clone())
    }
}

/// The driver's view of a network.
pub(super) fn driver_request(rec: &NetworkRecord) -> CreateNetworkRequest {
    let mut options = rec.options.clone();
    if rec.internal {
        options.insert(OPT_INTERNAL.to_string(), "true".to_string());
    }
    let data = |v6: bool| -> Vec<IpamData> {
        rec.pools
            .iter()
            .filter(|p| p.subnet.addr().is_ipv6() == v6)
            .map(|p| IpamData {
                address_space: if p.address_space.is_empty() {
                    // Records written before the space was kept: the default IPAM's pool ids start with it.
                    p.pool_id.split('/').next().unwrap_or_default().to_string()
                } else {
                    p.address_space.clone()
                },
                pool: p.subnet,
                gateway: p.gateway.map(|g| with_prefix(g.addr(), &p.subnet)),
                aux_addresses: p.aux.clone(),
            })
            .collect()
    };
    CreateNetworkRequest {
        network_id: rec.id.clone(),
        options,
        internal: rec.internal,
        enable_ipv4: rec.enable_ipv4,
        enable_ipv6: rec.enable_ipv6,
        ipv4: data(false),
        ipv6: data(true),
    }
}
