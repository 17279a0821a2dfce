//! Container ↔ network service glue: the hooks start, exit and removal call.

use std::path::PathBuf;

use berth_core::Result;

use super::Container;
use crate::Engine;

/// What starting a container needs from the network side.
#[derive(Debug, Clone, Default)]
pub struct NetPrep {
    /// Addresses of the container (for /etc/hosts).
    pub addresses: Vec<String>,
    /// `/etc/hosts` entries for links.
    pub links: Vec<(String, Vec<String>)>,
    /// DNS servers to put in resolv.conf (the embedded DNS on user networks).
    pub dns: Vec<String>,
    /// The network namespace to join, when the network service made one.
    pub netns: Option<PathBuf>,
}

impl Engine {
    /// Set up networking for a container about to start (the network service's sandbox and endpoints).
    pub async fn prepare_network(&self, c: &Container) -> Result<NetPrep> {
        self.network_attach(c).await
    }

    /// Tear down what [`Engine::prepare_network`] set up (idempotent).
    pub async fn release_network(&self, c: &Container) {
        self.network_release(&c.id).await;
    }
}
