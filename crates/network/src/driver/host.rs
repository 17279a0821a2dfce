//! The `host` driver behind the predefined `host` network: the container
//! shares the daemon's namespace, so there is no interface to create and every
//! call is a no-op (published ports are discarded, as Docker warns).

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{
    Capabilities, CreateEndpointRequest, CreateNetworkRequest, InterfaceInfo, JoinInfo,
    JoinRequest, NetworkDriver,
};
use crate::error::NetResult;

/// The `host` driver.
#[derive(Debug, Default)]
pub struct HostDriver;

#[async_trait]
impl NetworkDriver for HostDriver {
    fn name(&self) -> &str {
        "host"
    }
    async fn capabilities(&self) -> NetResult<Capabilities> {
        Ok(Capabilities::local())
    }
    async fn create_network(&self, _req: &CreateNetworkRequest) -> NetResult<()> {
        Ok(())
    }
    async fn delete_network(&self, _network_id: &str) -> NetResult<()> {
        Ok(())
    }
    async fn create_endpoint(&self, _req: &CreateEndpointRequest) -> NetResult<InterfaceInfo> {
        Ok(InterfaceInfo::default())
    }
    async fn delete_endpoint(&self, _network_id: &str, _endpoint_id: &str) -> NetResult<()> {
        Ok(())
    }
    async fn endpoint_info(
        &self,
        _n: &str,
        _e: &str,
    ) -> NetResult<BTreeMap<String, serde_json::Value>> {
        Ok(BTreeMap::new())
    }
    async fn join(&self, _req: &JoinRequest) -> NetResult<JoinInfo> {
        Ok(JoinInfo {
            disable_gateway_service: true,
            ..JoinInfo::default()
        })
    }
    async fn leave(&self, _network_id: &str, _endpoint_id: &str) -> NetResult<()> {
        Ok(())
    }
}
