//! Authorization plugins (`--authorization-plugin`): every API request is
//! offered to each plugin in the configured order (`AuthZReq`), and so is its
//! response (`AuthZRes`); the first deny wins. A plugin that cannot be
//! reached or answers garbage denies too (Docker fails closed).

use std::sync::Arc;

use crate::dto::authz::{AUTHZ_REQ, AUTHZ_RES, Request, Response};
use crate::dto::iface;
use crate::registry::Registry;

/// Why a request or response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The plugin said no (HTTP 403).
    #[error("authorization denied by plugin {plugin}: {msg}")]
    Denied {
        /// Plugin name.
        plugin: String,
        /// Its message.
        msg: String,
    },
    /// The plugin failed (HTTP 500).
    #[error("plugin {plugin} failed with error: {detail}")]
    Failed {
        /// Plugin name.
        plugin: String,
        /// `AuthZPlugin.AuthZReq: <text>`.
        detail: String,
    },
}

/// The configured chain of authorization plugins.
#[derive(Debug, Clone)]
pub struct Chain {
    registry: Arc<Registry>,
    names: Vec<String>,
}

impl Chain {
    /// Plugins `names`, in order, found through `registry`.
    pub fn new(registry: Arc<Registry>, names: Vec<String>) -> Chain {
        Chain { registry, names }
    }

    /// The plugin names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `AuthZReq` to each plugin.
    pub async fn request(&self, req: &Request) -> Result<(), Refusal> {
        self.ask(AUTHZ_REQ, req).await
    }

    /// `AuthZRes` to each plugin.
    pub async fn response(&self, req: &Request) -> Result<(), Refusal> {
        self.ask(AUTHZ_RES, req).await
    }

    async fn ask(&self, method: &str, req: &Request) -> Result<(), Refusal> {
        for name in &self.names {
            let failed = |detail: String| Refusal::Failed {
                plugin: name.clone(),
                detail,
            };
            let plugin = self
                .registry
                .get(name, iface::AUTHZ)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let client = plugin.client();
            let verdict: Response = client
                .call_with(method, Some(req), client.settings().call_timeout, false)
                .await
                .map_err(|e| failed(e.call_detail()))?;
            if !verdict.allow {
                return Err(Refusal::Denied {
                    plugin: name.clone(),
                    msg: verdict.msg,
                });
            }
        }
        Ok(())
    }
}
