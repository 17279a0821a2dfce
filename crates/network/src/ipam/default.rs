//! The built-in `default` IPAM: static pools with overlap checks, dynamic
//! pools carved from the configured default address pools, lowest-free address
//! allocation.
//!
//! It keeps its state in memory only and declares `requires_request_replay`:
//! the controller's network and endpoint records are the one source of truth,
//! and at start the controller replays every pool and address. A crash between
//! an allocation and the record that uses it therefore cannot leak an address.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

use async_trait::async_trait;
use ipnet::IpNet;

use super::addr::{bounds, from_u128, overlaps, reserved, to_u128, with_prefix};
use super::{
    AddressSpaces, AllocatedPool, GLOBAL_DEFAULT, IpamCapabilities, IpamDriver, LOCAL_DEFAULT,
    PoolRequest,
};
use crate::config::PoolSpec;
use crate::error::{NetError, NetResult};

/// Docker's wording for an overlapping static pool.
pub const POOL_OVERLAP: &str =
    "invalid pool request: Pool overlaps with other one on this address space";

#[derive(Debug)]
struct Pool {
    space: String,
    net: IpNet,
    range: Option<IpNet>,
    used: BTreeSet<u128>,
}

/// The default IPAM driver.
pub struct DefaultIpam {
    predefined: Vec<PoolSpec>,
    pools: Mutex<HashMap<String, Pool>>,
}

impl DefaultIpam {
    /// A driver carving dynamic pools from `predefined`, in order.
    pub fn new(predefined: Vec<PoolSpec>) -> DefaultIpam {
        DefaultIpam {
            predefined,
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pool>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first predefined subnet overlapping neither a pool of `space` nor `exclude`.
    fn pick(
        &self,
        pools: &HashMap<String, Pool>,
        space: &str,
        v6: bool,
        exclude: &[IpNet],
    ) -> Option<IpNet> {
        for spec in &self.predefined {
            if spec.base.addr().is_ipv6() != v6 {
                continue;
            }
            let Ok(subnets) = spec.base.subnets(spec.size) else {
                continue;
            };
            for cand in subnets {
                let taken = pools
                    .values()
                    .any(|p| p.space == space && overlaps(&p.net, &cand))
                    || exclude.iter().any(|x| overlaps(x, &cand));
                if !taken {
                    return Some(cand);
                }
            }
        }
        None
    }
}

#[async_trait]
impl IpamDriver for DefaultIpam {
    fn name(&self) -> &str {
        "default"
    }

    async fn capabilities(&self) -> NetResult<IpamCapabilities> {
        Ok(IpamCapabilities {
            requires_mac_address: false,
            requires_request_replay: true,
        })
    }

    async fn default_address_spaces(&self) -> NetResult<AddressSpaces> {
        Ok(AddressSpaces {
            local: LOCAL_DEFAULT.to_string(),
            global: GLOBAL_DEFAULT.to_string(),
        })
    }

    async fn request_pool(&self, req: PoolRequest) -> NetResult<AllocatedPool> {
        if req.address_space != LOCAL_DEFAULT && req.address_space != GLOBAL_DEFAULT {
            return Err(NetError::invalid(format!(
                "cannot find address space {}",
                req.address_space
            )));
        }
        if req.pool.is_none() && req.sub_pool.is_some() {
            return Err(NetError::invalid("invalid address subpool"));
        }
        let mut pools = self.lock();
        let net = match req.pool {
            Some(p) => {
                let p = p.trunc();
                if pools
                    .values()
                    .any(|x| x.space == req.address_space && overlaps(&x.net, &p))
                {
                    return Err(NetError::forbidden(POOL_OVERLAP));
                }
                p
            }
            None => self
                .pick(&pools, &req.address_space, req.v6, &req.exclude)
                .ok_or_else(|| {
                    NetError::forbidden("all predefined address pools have been fully subnetted")
                })?,
        };
        let range = req.sub_pool.map(|s| s.trunc());
        if let Some(r) = range {
            if r.addr().is_ipv4() != net.addr().is_ipv4() {
                return Err(NetError::invalid(
                    "pool and subpool are of incompatible address families",
                ));
            }
            if !net.contains(&r.network()) {
                return Err(NetError::invalid(
                    "address space does not contain specified address pool",
                ));
            }
        }
        let pool_id = match range {
            Some(r) => format!("{}/{net}/{r}", req.address_space),
            None => format!("{}/{net}", req.address_space),
        };
        let used = reserved(&net).into_iter().collect();
        pools.insert(
            pool_id.clone(),
            Pool {
                space: req.address_space,
                net,
                range,
                used,
            },
        );
        Ok(AllocatedPool {
            pool_id,
            pool: net,
            data: BTreeMap::new(),
        })
    }

    async fn release_pool(&self, pool_id: &str) -> NetResult<()> {
        self.lock().remove(pool_id);
        Ok(())
    }

    async fn request_address(
        &self,
        pool_id: &str,
        preferred: Option<IpAddr>,
        _options: &BTreeMap<String, String>,
    ) -> NetResult<IpNet> {
        let mut pools = self.lock();
        let pool = pools
            .get_mut(pool_id)
            .ok_or_else(|| NetError::invalid(format!("invalid pool id: {pool_id}")))?;
        if let Some(ip) = preferred {
            if !pool.net.contains(&ip) {
                return Err(NetError::invalid("requested address is out of range"));
            }
            let v = to_u128(ip);
            if !pool.used.insert(v) {
                return Err(NetError::forbidden("Address already in use"));
            }
            return Ok(with_prefix(ip, &pool.net));
        }
        let (mut lo, hi) = bounds(pool.range.as_ref().unwrap_or(&pool.net));
        // An `--ip-range` hands out from its first host address, as Docker does.
        if matches!(pool.range, Some(IpNet::V4(r)) if r.prefix_len() < 31) {
            lo += 1;
        }
        // Lowest free address: linear in the number of used addresses, which
        // is small next to the pool; the set is sorted so gaps are found in order.
        let mut cand = lo;
        for &u in pool.used.range(lo..=hi) {
            if u != cand {
                break;
            }
            cand = u + 1;
        }
        if cand > hi {
            return Err(NetError::Unavailable(
                "no available addresses on this pool".into(),
            ));
        }
        pool.used.insert(cand);
        Ok(with_prefix(from_u128(cand, pool.net.addr()), &pool.net))
    }

    async fn release_address(&self, pool_id: &str, addr: IpAddr) -> NetResult<()> {
        let mut pools = self.lock();
        if let Some(pool) = pools.get_mut(pool_id) {
            let v = to_u128(addr);
            if !reserved(&pool.net).contains(&v) {
                pool.used.remove(&v);
            }
        }
        Ok(())
    }
}
