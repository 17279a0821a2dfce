//! berth's own drivers offered as a remote plugin (`berthd network-plugin
//! serve`): each `NetworkDriver.*` / `IpamDriver.*` request of another engine
//! (stock dockerd) becomes a call on a [`NetworkDriver`] and an [`IpamDriver`]
//! (the bridge driver and the default IPAM).
//!
//! Docker's engine owns the sandbox, so `Join` here makes the interface in
//! the host namespace and names it (`SrcName`); the engine moves it. A
//! `CreateEndpoint` answer carries only what the engine left empty (the MAC):
//! libnetwork refuses an answer that restates a value it set.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_plugin::ci;
use berth_plugin::dto::{ipam as idto, network as dto};
use berth_plugin::server::{Handler, Reply};
use bytes::Bytes;
use ipnet::IpNet;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire;
use crate::driver::{CreateEndpointRequest, JoinRequest, NetworkDriver};
use crate::error::{NetError, NetResult};
use crate::ipam::{IpamDriver, PoolRequest};
use crate::nl::Nl;

/// A network driver and an IPAM behind the plugin protocol.
pub struct PluginService {
    driver: Arc<dyn NetworkDriver>,
    ipam: Arc<dyn IpamDriver>,
    /// The host namespace's routes are avoided when picking a pool.
    host_nl: Option<Nl>,
}

impl PluginService {
    /// Serve `driver` and `ipam`; `host_nl` reads the routes dynamic pools avoid.
    pub fn new(
        driver: Arc<dyn NetworkDriver>,
        ipam: Arc<dyn IpamDriver>,
        host_nl: Option<Nl>,
    ) -> PluginService {
        PluginService {
            driver,
            ipam,
            host_nl,
        }
    }

    async fn exclusions(&self) -> Vec<IpNet> {
        match &self.host_nl {
            Some(nl) => nl.routes().await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    async fn network(&self, method: &str, body: &[u8]) -> NetResult<serde_json::Value> {
        let d = &self.driver;
        let empty = || Ok(serde_json::json!({}));
        match method {
            "GetCapabilities" => {
                let c = d.capabilities().await?;
                json(&dto::Capabilities {
                    scope: c.scope,
                    connectivity_scope: c.connectivity_scope,
                    gw_alloc_checker: false,
                })
            }
            "CreateNetwork" => {
                let r: dto::CreateNetwork = parse(body)?;
                d.create_network(&wire::create_network_back(&r)?).await?;
                empty()
            }
            "DeleteNetwork" => {
                let r: dto::NetworkRef = parse(body)?;
                d.delete_network(&r.network_id).await?;
                empty()
            }
            "CreateEndpoint" => {
                let r: dto::CreateEndpoint = parse(body)?;
                let asked = match &r.interface {
                    Some(i) => wire::interface_back(i)?,
                    None => Default::default(),
                };
                let got = d
                    .create_endpoint(&CreateEndpointRequest {
                        network_id: r.network_id,
                        endpoint_id: r.endpoint_id,
                        interface: asked.clone(),
                        options: wire::from_string_map(Some(&serde_json::Value::Object(r.options))),
                    })
                    .await?;
                let filled = crate::driver::InterfaceInfo {
                    address: got.address.filter(|_| asked.address.is_none()),
                    address_v6: got.address_v6.filter(|_| asked.address_v6.is_none()),
                    mac: got.mac.filter(|_| asked.mac.is_none()),
                };
                json(&dto::CreateEndpointResponse {
                    interface: Some(wire::interface(&filled)),
                })
            }
            "EndpointOperInfo" => {
                let r: dto::EndpointRef = parse(body)?;
                let v = d.endpoint_info(&r.network_id, &r.endpoint_id).await?;
                json(&dto::EndpointInfoResponse {
                    value: v.into_iter().collect(),
                })
            }
            "DeleteEndpoint" => {
                let r: dto::EndpointRef = parse(body)?;
                d.delete_endpoint(&r.network_id, &r.endpoint_id).await?;
                empty()
            }
            "Join" => {
                let r: dto::Join = parse(body)?;
                let j = d
                    .join(&JoinRequest {
                        network_id: r.network_id,
                        endpoint_id: r.endpoint_id,
                        sandbox_key: r.sandbox_key.into(),
                        // Empty: make the interface in the host namespace.
                        ifname: String::new(),
                        options: BTreeMap::new(),
                    })
                    .await?;
                json(&dto::JoinResponse {
                    interface_name: (!j.src_name.is_empty()).then(|| dto::InterfaceName {
                        src_name: j.src_name,
                        dst_name: String::new(),
                        dst_prefix: j.dst_prefix,
                    }),
                    gateway: wire::opt_text(j.gateway),
                    gateway_ipv6: wire::opt_text(j.gateway_v6),
                    static_routes: wire::routes(&j.static_routes),
                    disable_gateway_service: j.disable_gateway_service,
                })
            }
            "Leave" => {
                let r: dto::EndpointRef = parse(body)?;
                d.leave(&r.network_id, &r.endpoint_id).await?;
                empty()
            }
            "ProgramExternalConnectivity" => {
                let r: dto::ProgramExternalConnectivity = parse(body)?;
                let ext = wire::connectivity_back(&r.options);
                d.program_external_connectivity(&r.network_id, &r.endpoint_id, &ext)
                    .await?;
                empty()
            }
            "RevokeExternalConnectivity" => {
                let r: dto::EndpointRef = parse(body)?;
                d.revoke_external_connectivity(&r.network_id, &r.endpoint_id)
                    .await?;
                empty()
            }
            // No cluster: node discovery needs nothing from a local driver.
            "DiscoverNew" | "DiscoverDelete" => empty(),
            _ => Err(NetError::NotFound(String::new())),
        }
    }

    async fn ipam(&self, method: &str, body: &[u8]) -> NetResult<serde_json::Value> {
        let i = &self.ipam;
        match method {
            "GetCapabilities" => {
                let c = i.capabilities().await?;
                // The served driver keeps its state while it runs; a replay
                // after the engine restarts would collide with it.
                json(&idto::Capabilities {
                    requires_mac_address: c.requires_mac_address,
                    requires_request_replay: false,
                })
            }
            "GetDefaultAddressSpaces" => {
                let s = i.default_address_spaces().await?;
                json(&idto::AddressSpaces {
                    local_default_address_space: s.local,
                    global_default_address_space: s.global,
                })
            }
            "RequestPool" => {
                let r: idto::RequestPool = parse(body)?;
                let pool = wire::cidr("pool", &r.pool)?;
                let exclude = if pool.is_none() {
                    self.exclusions().await
                } else {
                    Vec::new()
                };
                let p = i
                    .request_pool(PoolRequest {
                        address_space: r.address_space,
                        pool,
                        sub_pool: wire::cidr("sub-pool", &r.sub_pool)?,
                        options: r.options,
                        v6: r.v6,
                        exclude,
                    })
                    .await?;
                json(&idto::RequestPoolResponse {
                    pool_id: p.pool_id,
                    pool: p.pool.to_string(),
                    data: p.data,
                })
            }
            "ReleasePool" => {
                let r: idto::ReleasePool = parse(body)?;
                i.release_pool(&r.pool_id).await?;
                Ok(serde_json::json!({}))
            }
            "RequestAddress" => {
                let r: idto::RequestAddress = parse(body)?;
                let a = i
                    .request_address(&r.pool_id, wire::ip("address", &r.address)?, &r.options)
                    .await?;
                json(&idto::RequestAddressResponse {
                    address: a.to_string(),
                    data: BTreeMap::new(),
                })
            }
            "ReleaseAddress" => {
                let r: idto::ReleaseAddress = parse(body)?;
                let a = wire::ip("address", &r.address)?
                    .ok_or_else(|| NetError::invalid("address missing"))?;
                i.release_address(&r.pool_id, a).await?;
                Ok(serde_json::json!({}))
            }
            _ => Err(NetError::NotFound(String::new())),
        }
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> NetResult<T> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    ci::from_slice(body).map_err(|e| NetError::invalid(format!("invalid request: {e}")))
}

fn json<T: Serialize>(v: &T) -> NetResult<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| NetError::Failed(e.to_string()))
}

#[async_trait::async_trait]
impl Handler for PluginService {
    fn implements(&self) -> Vec<String> {
        vec!["NetworkDriver".into(), "IpamDriver".into()]
    }

    async fn call(&self, method: &str, body: Bytes) -> Reply {
        let res = match method.split_once('.') {
            Some(("NetworkDriver", m)) => self.network(m, &body).await,
            Some(("IpamDriver", m)) => self.ipam(m, &body).await,
            _ => return Reply::NotFound,
        };
        match res {
            Ok(v) => Reply::Ok(v),
            Err(NetError::NotFound(m)) if m.is_empty() => Reply::NotFound,
            Err(e) => {
                tracing::warn!(%method, "{e}");
                Reply::Err(e.to_string())
            }
        }
    }
}
