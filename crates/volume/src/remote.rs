//! Remote volume drivers: a `VolumeDriver` plugin found through berth-plugin's
//! registry becomes one more [`VolumeDriver`], each call one
//! `POST /VolumeDriver.<Method>`.
//!
//! Docker's rules kept here: `Create` and `Mount` get twice the per-call
//! timeout of the other calls (Docker: 2 min vs 1 min); any error of `Get`
//! from the plugin itself means the volume does not exist; `Capabilities` is
//! asked once and a failure (or 404) means `local`; the mount id is the
//! service's 64-hex id per container mount point, reused for `Unmount`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{Classify, ErrorKind};
use berth_plugin::dto::Empty;
use berth_plugin::dto::volume as dto;
use berth_plugin::{Plugin, PluginError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::driver::{Capabilities, DriverVolume, Scope, VolumeDriver};
use crate::error::{Result, VolumeError};

/// A remote volume driver.
pub struct RemoteVolumeDriver {
    plugin: Arc<Plugin>,
    caps: tokio::sync::OnceCell<Capabilities>,
}

/// Does a plugin's error text say the volume is missing?
fn says_missing(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "no such volume",
        "not found",
        "does not exist",
        "doesn't exist",
        "not exist",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// A plugin error as the volume subsystem reports it.
pub fn plugin_error(e: PluginError) -> VolumeError {
    match e.kind() {
        ErrorKind::Unavailable => VolumeError::Unavailable(e.to_string()),
        _ => VolumeError::Core(e.into()),
    }
}

impl RemoteVolumeDriver {
    /// A driver calling `plugin` (activated, implementing `VolumeDriver`).
    pub fn new(plugin: Arc<Plugin>) -> RemoteVolumeDriver {
        RemoteVolumeDriver {
            plugin,
            caps: tokio::sync::OnceCell::new(),
        }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
        long: bool,
    ) -> std::result::Result<Resp, PluginError> {
        let c = self.plugin.client();
        let t = c.settings().call_timeout;
        let t = if long { t * 2 } else { t };
        c.call_with(&format!("VolumeDriver.{method}"), Some(req), t, true)
            .await
    }

    fn named(name: &str) -> dto::Named {
        dto::Named {
            name: name.to_string(),
        }
    }

    fn missing(op: &'static str, name: &str, e: PluginError) -> VolumeError {
        match e.remote_message() {
            Some(m) if says_missing(m) => VolumeError::NoSuchVolume {
                op,
                name: name.to_string(),
            },
            _ => plugin_error(e),
        }
    }
}

fn volume(v: dto::Volume) -> DriverVolume {
    DriverVolume {
        name: v.name,
        mountpoint: PathBuf::from(v.mountpoint),
        created_at: (!v.created_at.is_empty()).then_some(v.created_at),
        status: v.status,
    }
}

#[async_trait]
impl VolumeDriver for RemoteVolumeDriver {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    async fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
        let req = dto::Create {
            name: name.to_string(),
            // Go sends a nil map as null.
            opts: (!opts.is_empty()).then(|| opts.clone()),
        };
        self.call::<_, Empty>("Create", &req, true)
            .await
            .map(|_| ())
            .map_err(plugin_error)
    }

    async fn remove(&self, name: &str) -> Result<()> {
        self.call::<_, Empty>("Remove", &Self::named(name), false)
            .await
            .map(|_| ())
            .map_err(|e| Self::missing("remove", name, e))
    }

    async fn mount(&self, name: &str, id: &str) -> Result<PathBuf> {
        let req = dto::MountRequest {
            name: name.to_string(),
            id: id.to_string(),
        };
        let r: dto::MountResponse = self
            .call("Mount", &req, true)
            .await
            .map_err(|e| Self::missing("mount", name, e))?;
        let p = PathBuf::from(r.mountpoint);
        if !p.is_absolute() {
            return Err(VolumeError::Invalid(format!(
                "plugin \"{}\": VolumeDriver.Mount: mountpoint {:?} is not an absolute path",
                self.name(),
                p
            )));
        }
        Ok(p)
    }

    async fn unmount(&self, name: &str, id: &str) -> Result<()> {
        let req = dto::MountRequest {
            name: name.to_string(),
            id: id.to_string(),
        };
        self.call::<_, Empty>("Unmount", &req, false)
            .await
            .map(|_| ())
            .map_err(|e| Self::missing("unmount", name, e))
    }

    async fn path(&self, name: &str) -> Result<PathBuf> {
        let r: dto::MountResponse = self
            .call("Path", &Self::named(name), false)
            .await
            .map_err(|e| Self::missing("get", name, e))?;
        Ok(PathBuf::from(r.mountpoint))
    }

    async fn get(&self, name: &str) -> Result<DriverVolume> {
        let no_such = || VolumeError::NoSuchVolume {
            op: "get",
            name: name.to_string(),
        };
        match self
            .call::<_, dto::GetResponse>("Get", &Self::named(name), false)
            .await
        {
            Ok(dto::GetResponse { volume: Some(v) }) => Ok(volume(v)),
            Ok(_) => Err(no_such()),
            // Docker: whatever the plugin itself says to Get means "no such volume".
            Err(PluginError::Remote { .. }) => Err(no_such()),
            Err(e) => Err(plugin_error(e)),
        }
    }

    async fn list(&self) -> Result<Vec<DriverVolume>> {
        let r: dto::ListResponse = self
            .call("List", &serde_json::json!({}), false)
            .await
            .map_err(plugin_error)?;
        Ok(r.volumes.into_iter().map(volume).collect())
    }

    async fn capabilities(&self) -> Result<Capabilities> {
        let c = self
            .caps
            .get_or_try_init(|| async {
                match self
                    .call::<_, dto::CapabilitiesResponse>(
                        "Capabilities",
                        &serde_json::json!({}),
                        false,
                    )
                    .await
                {
                    Ok(r) => Ok(Capabilities {
                        scope: Scope::parse(&r.capabilities.scope),
                    }),
                    // Optional call: not implemented, or a plugin error, means local.
                    Err(PluginError::Remote { .. }) => Ok(Capabilities {
                        scope: Scope::Local,
                    }),
                    Err(e) => Err(plugin_error(e)),
                }
            })
            .await?;
        Ok(*c)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_volume_wording() {
        for m in [
            "no such volume",
            "Volume x not found",
            "volume does not exist",
        ] {
            assert!(super::says_missing(m), "{m}");
        }
        assert!(!super::says_missing("permission denied"));
    }
}
