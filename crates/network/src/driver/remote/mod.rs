//! Remote network drivers: a `NetworkDriver` plugin found through
//! berth-plugin's registry becomes one more [`NetworkDriver`], each contract
//! call one `POST /NetworkDriver.<Method>` (libnetwork's remote driver).
//!
//! The plugin creates the interface (`CreateEndpoint`/`Join`) in the host
//! namespace and names it (`SrcName`); the controller moves it into the
//! sandbox as `<DstPrefix><n>` and configures it, as it does for every driver
//! (`in_sandbox` is always false here). Ports are the plugin's business:
//! `ProgramExternalConnectivity` gets them as Docker's options, and a 404 there
//! (not implemented) is fine. [`serve`] is the other direction.

pub mod serve;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{Classify, ErrorKind};
use berth_plugin::dto::Empty;
use berth_plugin::dto::network as dto;
use berth_plugin::{Plugin, PluginError};

use super::{
    Capabilities, CreateEndpointRequest, CreateNetworkRequest, ExternalConnectivity, InterfaceInfo,
    JoinInfo, JoinRequest, NetworkDriver,
};
use crate::error::{NetError, NetResult};
use crate::ports::PortMapping;

/// A plugin error as the network subsystem reports it (kind kept, message
/// naming the plugin and method). Docker's wording for an overlapping pool
/// is Forbidden whoever reports it.
pub fn plugin_error(e: PluginError) -> NetError {
    let msg = e.to_string();
    if e.remote_message()
        .is_some_and(|m| m.contains("overlaps with other one"))
    {
        return NetError::Forbidden(msg);
    }
    match e.kind() {
        ErrorKind::NotFound => NetError::NotFound(msg),
        ErrorKind::Unavailable => NetError::Unavailable(msg),
        ErrorKind::InvalidArgument => NetError::Invalid(msg),
        _ => NetError::Failed(msg),
    }
}

/// A remote network driver.
pub struct RemoteDriver {
    plugin: Arc<Plugin>,
}

impl RemoteDriver {
    /// A driver calling `plugin` (activated, implementing `NetworkDriver`).
    pub fn new(plugin: Arc<Plugin>) -> RemoteDriver {
        RemoteDriver { plugin }
    }

    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        req: Option<&Req>,
    ) -> NetResult<Resp> {
        self.plugin
            .client()
            .call(&format!("NetworkDriver.{method}"), req)
            .await
            .map_err(plugin_error)
    }

    /// An optional call: 404 means not implemented, which is fine.
    async fn optional<Req: serde::Serialize>(&self, method: &str, req: &Req) -> NetResult<()> {
        match self
            .plugin
            .client()
            .call::<_, Empty>(&format!("NetworkDriver.{method}"), Some(req))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found_status() => Ok(()),
            Err(e) => Err(plugin_error(e)),
        }
    }

    /// `DiscoverNew` (node discovery; berth has no cluster, so nothing calls it yet).
    pub async fn discover_new(&self, data: serde_json::Value) -> NetResult<()> {
        let req = dto::Discovery {
            discovery_type: 1,
            discovery_data: data,
        };
        self.optional("DiscoverNew", &req).await
    }

    /// `DiscoverDelete`.
    pub async fn discover_delete(&self, data: serde_json::Value) -> NetResult<()> {
        let req = dto::Discovery {
            discovery_type: 1,
            discovery_data: data,
        };
        self.optional("DiscoverDelete", &req).await
    }
}

fn ep_ref(network_id: &str, endpoint_id: &str) -> dto::EndpointRef {
    dto::EndpointRef {
        network_id: network_id.to_string(),
        endpoint_id: endpoint_id.to_string(),
    }
}

/// Fill what the controller left empty; a different value for a field it set
/// is the driver's error (libnetwork: "driver modified interface …").
fn merge(asked: &InterfaceInfo, got: InterfaceInfo) -> NetResult<InterfaceInfo> {
    fn pick<T: PartialEq + Copy>(what: &str, a: Option<T>, g: Option<T>) -> NetResult<Option<T>> {
        match (a, g) {
            (Some(a), Some(g)) if a != g => Err(NetError::Failed(format!(
                "driver modified interface {what}"
            ))),
            (a, g) => Ok(a.or(g)),
        }
    }
    Ok(InterfaceInfo {
        address: pick("address", asked.address, got.address)?,
        address_v6: pick("IPv6 address", asked.address_v6, got.address_v6)?,
        mac: pick("MAC address", asked.mac, got.mac)?,
    })
}

#[async_trait]
impl NetworkDriver for RemoteDriver {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    async fn capabilities(&self) -> NetResult<Capabilities> {
        let c: dto::Capabilities = self.call::<(), _>("GetCapabilities", None).await?;
        let scope = c.scope.to_ascii_lowercase();
        if scope != "local" && scope != "global" {
            return Err(NetError::Failed(format!(
                "plugin \"{}\": invalid capability: expecting 'local' or 'global', got {:?}",
                self.name(),
                c.scope
            )));
        }
        let connectivity = match c.connectivity_scope.to_ascii_lowercase() {
            s if s.is_empty() => scope.clone(),
            s => s,
        };
        Ok(Capabilities {
            scope,
            connectivity_scope: connectivity,
            gw_alloc_checker: c.gw_alloc_checker,
        })
    }

    async fn create_network(&self, req: &CreateNetworkRequest) -> NetResult<()> {
        self.call::<_, Empty>("CreateNetwork", Some(&wire::create_network(req)))
            .await
            .map(|_| ())
    }

    async fn delete_network(&self, network_id: &str) -> NetResult<()> {
        let req = dto::NetworkRef {
            network_id: network_id.to_string(),
        };
        self.call::<_, Empty>("DeleteNetwork", Some(&req))
            .await
            .map(|_| ())
    }

    async fn create_endpoint(&self, req: &CreateEndpointRequest) -> NetResult<InterfaceInfo> {
        let wire_req = dto::CreateEndpoint {
            network_id: req.network_id.clone(),
            endpoint_id: req.endpoint_id.clone(),
            interface: Some(wire::interface(&req.interface)),
            options: wire::string_map(&req.options),
        };
        let resp: dto::CreateEndpointResponse =
            self.call("CreateEndpoint", Some(&wire_req)).await?;
        let got = match &resp.interface {
            Some(i) => wire::interface_back(i)?,
            None => InterfaceInfo::default(),
        };
        match merge(&req.interface, got) {
            Ok(i) => Ok(i),
            Err(e) => {
                let _ = self
                    .delete_endpoint(&req.network_id, &req.endpoint_id)
                    .await;
                Err(e)
            }
        }
    }

    async fn delete_endpoint(&self, network_id: &str, endpoint_id: &str) -> NetResult<()> {
        self.call::<_, Empty>("DeleteEndpoint", Some(&ep_ref(network_id, endpoint_id)))
            .await
            .map(|_| ())
    }

    async fn endpoint_info(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> NetResult<BTreeMap<String, serde_json::Value>> {
        let r: dto::EndpointInfoResponse = self
            .call("EndpointOperInfo", Some(&ep_ref(network_id, endpoint_id)))
            .await?;
        Ok(r.value.into_iter().collect())
    }

    async fn join(&self, req: &JoinRequest) -> NetResult<JoinInfo> {
        let wire_req = dto::Join {
            network_id: req.network_id.clone(),
            endpoint_id: req.endpoint_id.clone(),
            sandbox_key: req.sandbox_key.display().to_string(),
            options: wire::string_map(&req.options),
        };
        let r: dto::JoinResponse = self.call("Join", Some(&wire_req)).await?;
        let parsed = (|| -> NetResult<JoinInfo> {
            let name = r.interface_name.clone().unwrap_or_default();
            Ok(JoinInfo {
                src_name: name.src_name,
                dst_prefix: if name.dst_prefix.is_empty() {
                    "eth".to_string()
                } else {
                    name.dst_prefix
                },
                gateway: wire::ip("gateway", &r.gateway)?,
                gateway_v6: wire::ip("IPv6 gateway", &r.gateway_ipv6)?,
                static_routes: wire::routes_back(&r.static_routes)?,
                disable_gateway_service: r.disable_gateway_service,
                in_sandbox: false,
            })
        })();
        if parsed.is_err() {
            let _ = self.leave(&req.network_id, &req.endpoint_id).await;
        }
        parsed
    }

    async fn leave(&self, network_id: &str, endpoint_id: &str) -> NetResult<()> {
        self.call::<_, Empty>("Leave", Some(&ep_ref(network_id, endpoint_id)))
            .await
            .map(|_| ())
    }

    async fn program_external_connectivity(
        &self,
        network_id: &str,
        endpoint_id: &str,
        req: &ExternalConnectivity,
    ) -> NetResult<Vec<PortMapping>> {
        let wire_req = dto::ProgramExternalConnectivity {
            network_id: network_id.to_string(),
            endpoint_id: endpoint_id.to_string(),
            options: wire::connectivity_options(req),
        };
        self.optional("ProgramExternalConnectivity", &wire_req)
            .await?;
        Ok(Vec::new())
    }

    async fn revoke_external_connectivity(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> NetResult<()> {
        self.optional(
            "RevokeExternalConnectivity",
            &ep_ref(network_id, endpoint_id),
        )
        .await
    }
}
