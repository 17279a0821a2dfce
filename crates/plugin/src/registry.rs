//! The registry of legacy plugins: lazy lookup by name, activation once per
//! daemon lifetime, and the scan behind "every volume plugin".
//!
//! `get(name, interface)` finds the plugin on disk (retrying while it is not
//! there yet, within the retry budget, as Docker does), calls
//! `Plugin.Activate` once and remembers the manifest. Concurrent first users
//! wait for the same activation; a failed activation is forgotten, so the next
//! use tries again (a plugin started late, or fixed).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::client::{Client, Settings, backoff};
use crate::discovery::{self, Dirs, Spec};
use crate::dto::{ACTIVATE, Manifest};
use crate::error::{PluginError, Result};

/// An activated plugin.
#[derive(Debug)]
pub struct Plugin {
    client: Client,
    implements: Vec<String>,
    source: PathBuf,
}

impl Plugin {
    /// Its name.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// Its client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The interfaces of its manifest.
    pub fn implements(&self) -> &[String] {
        &self.implements
    }

    /// Does it implement `interface`?
    pub fn has(&self, interface: &str) -> bool {
        self.implements.iter().any(|i| i == interface)
    }

    /// The socket or spec file it was found through.
    pub fn source(&self) -> &std::path::Path {
        &self.source
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Plugin>>>>;

/// Plugins by name.
pub struct Registry {
    dirs: Dirs,
    settings: Settings,
    slots: Mutex<HashMap<String, Slot>>,
    active: Mutex<BTreeMap<String, Arc<Plugin>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("dirs", &self.dirs)
            .field("settings", &self.settings)
            .finish()
    }
}

impl Registry {
    /// A registry looking in `dirs`.
    pub fn new(dirs: Dirs, settings: Settings) -> Registry {
        Registry {
            dirs,
            settings,
            slots: Mutex::new(HashMap::new()),
            active: Mutex::new(BTreeMap::new()),
        }
    }

    /// Where plugins are looked for.
    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    /// The time limits of calls.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    fn slot(&self, name: &str) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// The plugin `name`, activated, implementing `interface`. Waits for a
    /// plugin that is not on disk yet for the retry budget.
    pub async fn get(&self, name: &str, interface: &str) -> Result<Arc<Plugin>> {
        let p = self.activate(name, true).await?;
        if p.has(interface) {
            Ok(p)
        } else {
            Err(PluginError::NotImplemented {
                name: name.to_string(),
                interface: interface.to_string(),
            })
        }
    }

    /// An activated plugin, if `name` has been activated already (no I/O).
    pub fn cached(&self, name: &str) -> Option<Arc<Plugin>> {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    async fn activate(&self, name: &str, wait: bool) -> Result<Arc<Plugin>> {
        let slot = self.slot(name);
        let mut held = slot.lock().await;
        if let Some(p) = &*held {
            return Ok(p.clone());
        }
        let spec = self.locate(name, wait).await?;
        let client = Client::new(name, spec.addr.clone(), self.settings)?;
        // A scan does not wait for a dead plugin (a stale socket file) to come back.
        let activator = if wait {
            client.clone()
        } else {
            let quick = Settings {
                retry_budget: std::time::Duration::ZERO,
                ..self.settings
            };
            Client::new(name, spec.addr.clone(), quick)?
        };
        let manifest: Manifest = activator
            .call::<(), Manifest>(ACTIVATE, None)
            .await
            .map_err(|e| PluginError::Activation {
                name: name.to_string(),
                reason: e.call_detail(),
            })?;
        tracing::info!(
            plugin = name,
            addr = %spec.addr,
            implements = ?manifest.implements,
            "plugin activated"
        );
        let p = Arc::new(Plugin {
            client,
            implements: manifest.implements,
            source: spec.source,
        });
        *held = Some(p.clone());
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), p.clone());
        Ok(p)
    }

    /// Find the plugin's file, retrying with backoff while it is absent.
    async fn locate(&self, name: &str, wait: bool) -> Result<Spec> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            if let Some(s) = discovery::find(&self.dirs, name)? {
                return Ok(s);
            }
            let pause = backoff(attempt);
            if !wait || start.elapsed() + pause >= self.settings.retry_budget {
                return Err(PluginError::NotFound(name.to_string()));
            }
            tracing::debug!("plugin {name} not found yet, looking again in {pause:?}");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// Names of every plugin on disk.
    pub fn scan(&self) -> Vec<String> {
        discovery::scan(&self.dirs)
    }

    /// Every plugin on disk implementing `interface`, activated (concurrently,
    /// without waiting for absent or unreachable ones; failures are logged
    /// and skipped).
    pub async fn get_all(&self, interface: &str) -> Vec<Arc<Plugin>> {
        let names = self.scan();
        let tries = names.iter().map(|n| self.activate(n, false));
        let mut out = Vec::new();
        for (name, r) in names.iter().zip(futures::future::join_all(tries).await) {
            match r {
                Ok(p) if p.has(interface) => out.push(p),
                Ok(_) => {}
                Err(e) => tracing::warn!("plugin {name}: {e}"),
            }
        }
        out
    }

    /// Names of the activated plugins implementing `interface` (no I/O).
    pub fn activated(&self, interface: &str) -> Vec<String> {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|p| p.has(interface))
            .map(|p| p.name().to_string())
            .collect()
    }
}
