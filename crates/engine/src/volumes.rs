//! The volume subsystem inside the engine: construction from the daemon
//! settings, the `VolumeBackend` the server calls, and `system df` usage.
//!
//! The container lifecycle uses `engine.volumes` directly (see
//! `berth_volume::service::containers` for the call sequence).

use std::sync::Arc;

use async_trait::async_trait;
use berth_api::backend::VolumeBackend;
use berth_api::types::volume::{
    Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneResponse,
};
use berth_core::Result;
use berth_core::events::EventBus;
use berth_core::filters::Filters;
use berth_core::store::Store;
use berth_volume::VolumeService;

use crate::{Engine, EngineConfig};

/// Open `<data-root>/volumes`.
pub fn open(
    config: &EngineConfig,
    store: Arc<Store>,
    events: Arc<EventBus>,
) -> Result<Arc<VolumeService>> {
    Ok(Arc::new(VolumeService::open(
        config.data_root.join("volumes"),
        store,
        events,
    )?))
}

impl Engine {
    /// Local volumes with `UsageData`, as `GET /system/df` lists them.
    pub async fn volume_usage(&self) -> Result<Vec<serde_json::Value>> {
        let vols = self.volumes.usage().await?;
        Ok(vols
            .into_iter()
            .filter_map(|v| serde_json::to_value(v).ok())
            .collect())
    }
}

#[async_trait]
impl VolumeBackend for Engine {
    async fn volume_list(&self, filters: Filters) -> Result<VolumeListResponse> {
        let (volumes, warnings) = self.volumes.list(&filters).await?;
        Ok(VolumeListResponse { volumes, warnings })
    }

    async fn volume_create(&self, opts: VolumeCreateOptions) -> Result<Volume> {
        Ok(self
            .volumes
            .create(&opts.name, &opts.driver, opts.driver_opts, opts.labels)
            .await?)
    }

    async fn volume_inspect(&self, name: &str) -> Result<Volume> {
        Ok(self.volumes.inspect(name).await?)
    }

    async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        Ok(self.volumes.remove(name, force).await?)
    }

    async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse> {
        Ok(self.volumes.prune(&filters).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::ErrorKind;

    #[tokio::test]
    async fn backend_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(EngineConfig::new(
            dir.path().join("data"),
            dir.path().join("exec"),
        ))
        .unwrap();
        let v = e
            .volume_create(VolumeCreateOptions {
                name: "v1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            v.mountpoint,
            dir.path()
                .join("data/volumes/v1/_data")
                .display()
                .to_string()
        );
        assert_eq!(e.volume_inspect("v1").await.unwrap(), v);
        assert_eq!(
            e.volume_list(Filters::default()).await.unwrap().volumes,
            vec![v]
        );
        let err = e
            .volume_create(VolumeCreateOptions {
                name: "../x".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        e.volume_remove("v1", false).await.unwrap();
        assert_eq!(
            e.volume_inspect("v1").await.unwrap_err().message(),
            "get v1: no such volume"
        );
        assert_eq!(e.volume_usage().await.unwrap().len(), 0);
    }
}
