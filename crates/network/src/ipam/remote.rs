//! Remote IPAM drivers: an `IpamDriver` plugin as one more [`IpamDriver`],
//! each call one `POST /IpamDriver.<Method>` (libnetwork's remote IPAM; its
//! error field is `Error`). Requests carry bare IPs, answers CIDRs.
//! `PoolRequest::exclude` has no wire field: a remote IPAM picks its own pools.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use berth_plugin::Plugin;
use berth_plugin::dto::Empty;
use berth_plugin::dto::ipam as dto;
use ipnet::IpNet;

use super::{AddressSpaces, AllocatedPool, IpamCapabilities, IpamDriver, PoolRequest};
use crate::driver::remote::plugin_error;
use crate::driver::remote::wire::{cidr, opt_text};
use crate::error::{NetError, NetResult};

/// A remote IPAM driver.
pub struct RemoteIpam {
    plugin: Arc<Plugin>,
}

impl RemoteIpam {
    /// An IPAM calling `plugin` (activated, implementing `IpamDriver`).
    pub fn new(plugin: Arc<Plugin>) -> RemoteIpam {
        RemoteIpam { plugin }
    }

    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        req: Option<&Req>,
    ) -> NetResult<Resp> {
        self.plugin
            .client()
            .call(&format!("IpamDriver.{method}"), req)
            .await
            .map_err(plugin_error)
    }

    fn answer_error(&self, method: &str, what: &str) -> NetError {
        NetError::Failed(format!(
            "plugin \"{}\": IpamDriver.{method}: {what}",
            self.plugin.name()
        ))
    }
}

#[async_trait]
impl IpamDriver for RemoteIpam {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    async fn capabilities(&self) -> NetResult<IpamCapabilities> {
        // Optional: any failure means "no capabilities" (Docker's rule).
        match self
            .call::<(), dto::Capabilities>("GetCapabilities", None)
            .await
        {
            Ok(c) => Ok(IpamCapabilities {
                requires_mac_address: c.requires_mac_address,
                requires_request_replay: c.requires_request_replay,
            }),
            Err(e) => {
                tracing::debug!("{e}: no IPAM capabilities");
                Ok(IpamCapabilities::default())
            }
        }
    }

    async fn default_address_spaces(&self) -> NetResult<AddressSpaces> {
        let r: dto::AddressSpaces = self.call::<(), _>("GetDefaultAddressSpaces", None).await?;
        Ok(AddressSpaces {
            local: r.local_default_address_space,
            global: r.global_default_address_space,
        })
    }

    async fn request_pool(&self, req: PoolRequest) -> NetResult<AllocatedPool> {
        let wire_req = dto::RequestPool {
            address_space: req.address_space,
            pool: opt_text(req.pool),
            sub_pool: opt_text(req.sub_pool),
            options: req.options,
            v6: req.v6,
        };
        let r: dto::RequestPoolResponse = self.call("RequestPool", Some(&wire_req)).await?;
        let pool = cidr("pool", &r.pool)
            .map_err(|e| self.answer_error("RequestPool", &e.to_string()))?
            .ok_or_else(|| self.answer_error("RequestPool", "no pool returned"))?;
        if r.pool_id.is_empty() {
            return Err(self.answer_error("RequestPool", "no pool id returned"));
        }
        Ok(AllocatedPool {
            pool_id: r.pool_id,
            pool,
            data: r.data,
        })
    }

    async fn release_pool(&self, pool_id: &str) -> NetResult<()> {
        let req = dto::ReleasePool {
            pool_id: pool_id.to_string(),
        };
        self.call::<_, Empty>("ReleasePool", Some(&req))
            .await
            .map(|_| ())
    }

    async fn request_address(
        &self,
        pool_id: &str,
        preferred: Option<IpAddr>,
        options: &BTreeMap<String, String>,
    ) -> NetResult<IpNet> {
        let req = dto::RequestAddress {
            pool_id: pool_id.to_string(),
            address: opt_text(preferred),
            options: options.clone(),
        };
        let r: dto::RequestAddressResponse = self.call("RequestAddress", Some(&req)).await?;
        cidr("address", &r.address)
            .map_err(|e| self.answer_error("RequestAddress", &e.to_string()))?
            .ok_or_else(|| self.answer_error("RequestAddress", "no address returned"))
    }

    async fn release_address(&self, pool_id: &str, addr: IpAddr) -> NetResult<()> {
        let req = dto::ReleaseAddress {
            pool_id: pool_id.to_string(),
            address: addr.to_string(),
        };
        self.call::<_, Empty>("ReleaseAddress", Some(&req))
            .await
            .map(|_| ())
    }
}
