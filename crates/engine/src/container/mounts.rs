//! Container ↔ volume service glue: planning mounts at create, mounting them at
//! start (with copy-up of image content into new volumes on the first start),
//! releasing them at stop and removal.

use std::path::{Path, PathBuf};

use berth_api::types::container::{ContainerConfig, HostConfig};
use berth_core::{Error, Result};
use berth_runtime::spec::{MountKind, MountSpec, Propagation};
use berth_volume::{MountRequest, ResolvedMount, VolumesFrom};

use super::Container;
use crate::Engine;

fn propagation(p: Option<&str>) -> Option<Propagation> {
    Some(match p? {
        "private" => Propagation::Private,
        "rprivate" => Propagation::RPrivate,
        "shared" => Propagation::Shared,
        "rshared" => Propagation::RShared,
        "slave" => Propagation::Slave,
        "rslave" => Propagation::RSlave,
        _ => return None,
    })
}

/// A volume-service mount in the runtime's terms.
pub fn to_runtime(m: ResolvedMount) -> MountSpec {
    let kind = match m.kind {
        berth_volume::MountKind::Bind => MountKind::Bind,
        berth_volume::MountKind::Volume => MountKind::Volume,
        berth_volume::MountKind::Tmpfs => MountKind::Tmpfs,
    };
    MountSpec {
        kind,
        source: if m.host_path.as_os_str().is_empty() {
            PathBuf::from("tmpfs")
        } else {
            m.host_path
        },
        destination: m.destination,
        readonly: m.readonly,
        options: m.tmpfs_options,
        propagation: propagation(m.propagation.as_deref()),
        non_recursive: m.non_recursive,
    }
}

impl Engine {
    /// Validate and plan a new container's mounts (no side effects).
    pub fn plan_container_mounts(
        &self,
        hc: &HostConfig,
        config: &ContainerConfig,
    ) -> Result<Vec<MountRequest>> {
        let mut from = Vec::new();
        for spec in hc.volumes_from.iter().flatten() {
            let (key, mode) = berth_volume::parse_volumes_from(spec)?;
            let other = self.container(&key)?;
            from.push(VolumesFrom {
                mode,
                mounts: other.with_config(|r| r.mount_requests.clone()),
            });
        }
        let volumes: Vec<String> = config
            .volumes
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        berth_volume::plan_mounts(hc, &volumes, &from).map_err(Error::from)
    }

    /// Mounts (binds, volumes, tmpfs) for a container about to start.
    pub async fn container_mounts(&self, c: &Container, rootfs: &Path) -> Result<Vec<MountSpec>> {
        let reqs = c.with_config(|r| r.mount_requests.clone());
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let copy_up = (!c.state().has_been_started).then_some(rootfs);
        let resolved = self.volumes.prepare_mounts(&c.id, &reqs, copy_up).await?;
        Ok(resolved.into_iter().map(to_runtime).collect())
    }

    /// Unmount a stopped container's volumes.
    pub async fn unmount_mounts(&self, c: &Container) {
        self.volumes.unmount(&c.id).await;
    }

    /// Release a container's volumes (and remove its anonymous ones when `remove_anonymous`).
    pub async fn release_mounts(&self, c: &Container, remove_anonymous: bool) {
        self.volumes.unmount(&c.id).await;
        self.volumes.release(&c.id, remove_anonymous).await;
    }
}
