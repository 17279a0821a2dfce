//! The `null` driver behind the predefined `none` network: the container gets
//! its own namespace with loopback only, so every call is a no-op.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{
    Capabilities, CreateEndpointRequest, CreateNetworkRequest, InterfaceInfo, JoinInfo,
    JoinRequest, NetworkDriver,
};
use crate::error::NetResult;

/// The `null` driver.
#[derive(Debug, Default)]
pub struct NullDriver;

#[async_trait]
impl NetworkDriver for NullDriver {
    fn name(&self) -> &str {
        "null"
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
    async fn create_endpoint(&self, req: &CreateEndpointRequest) -> NetResult<InterfaceInfo> {
        Ok(InterfaceInfo {
            mac: req.interface.mac,
            ..InterfaceInfo::default()
        })
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
