//! `docker rm` and `docker container prune`.

use std::sync::Arc;
use std::time::Duration;

use berth_api::types::inspect::ContainerPruneResponse;
use berth_core::filters::Filters;
use berth_core::{Error, Result};

use super::record::{CONFIG_TABLE, STATE_TABLE};
use super::{Container, Status};
use crate::Engine;

impl Engine {
    /// `DELETE /containers/{id}`.
    pub async fn remove_container(
        self: &Arc<Self>,
        key: &str,
        force: bool,
        volumes: bool,
        link: bool,
    ) -> Result<()> {
        if link {
            return self.remove_link(key);
        }
        let c = self.container(key)?;
        let _op = c.op.lock().await;
        let st = c.status();
        if st == Status::Removing {
            return Err(Error::conflict(format!(
                "removal of container {} is already in progress",
                c.id
            )));
        }
        if st.is_alive() || st == Status::Restarting {
            if !force {
                let what = if st == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(Error::conflict(format!(
                    "cannot remove container \"/{}\": container is {what}: stop the container before removing or force remove",
                    c.name()
                )));
            }
            if st.is_alive() {
                let exits = c.state().exits;
                let _ = self.set_state(&c, |s| s.manually_stopped = true);
                let h = self.shim(&c);
                let _ = h.resume().await;
                let _ = h.kill(None, libc::SIGKILL).await;
                self.emit_container(&c, "kill", &[("signal", libc::SIGKILL.to_string())]);
                let mut rx = c.watch();
                let _ = tokio::time::timeout(Duration::from_secs(30), async {
                    while rx.borrow_and_update().exits <= exits {
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        c.update_state(|s| s.status = Status::Removing);
        self.destroy(&c, volumes).await
    }

    /// `DELETE /containers/<parent>/<alias>?link=1`: drop a legacy link from the
    /// parent's `HostConfig.Links` (its `/etc/hosts` and variables go at the
    /// next start, as in Docker, which also keeps the running process as is).
    fn remove_link(&self, key: &str) -> Result<()> {
        let name = key.trim_start_matches('/');
        let Some((parent, alias)) = name.rsplit_once('/') else {
            return Err(Error::conflict(
                "Conflict, cannot remove the default link name of the container",
            ));
        };
        let c = self.container(parent)?;
        let alias_of = |l: &str| -> String {
            let a = l.split_once(':').map_or(l, |(_, a)| a);
            a.rsplit('/').next().unwrap_or(a).to_string()
        };
        let removed = c.update_config(|r| {
            let links = r.host_config.links.get_or_insert_with(Vec::new);
            let before = links.len();
            links.retain(|l| alias_of(l) != alias);
            before != links.len()
        });
        if !removed {
            return Err(Error::not_found(format!(
                "Could not find container for entity id /{name}"
            )));
        }
        self.save_config(&c)
    }

    /// Remove everything of a stopped container (with `op` held).
    async fn destroy(&self, c: &Arc<Container>, volumes: bool) -> Result<()> {
        let _ = self.shim(c).delete(true).await;
        self.unmount_rootfs(c).await;
        self.release_network(c).await;
        self.release_mounts(c, volumes).await;
        let images = self.images.clone();
        let id = c.id.clone();
        let removed = tokio::task::spawn_blocking(move || images.remove_rw(&id))
            .await
            .map_err(|e| Error::internal(format!("remove layer: {e}")))?;
        if let Err(e) = removed {
            let _ = self.set_state(c, |s| s.status = Status::Dead);
            return Err(Error::from(e).context(format!("remove container {}", c.id)));
        }
        let _ = std::fs::remove_dir_all(self.bundle_dir(&c.id));
        let _ = volumes;
        let _ = std::fs::remove_dir_all(self.container_dir(&c.id));
        self.store.write(|t| {
            t.delete(CONFIG_TABLE, &c.id)?;
            t.delete(STATE_TABLE, &c.id)?;
            Ok(())
        })?;
        self.drop_execs_of(&c.id);
        self.containers.remove(c);
        c.mark_removed();
        self.emit_container(c, "destroy", &[]);
        Ok(())
    }

    /// `POST /containers/prune`.
    pub async fn prune_containers(
        self: &Arc<Self>,
        filters: Filters,
    ) -> Result<ContainerPruneResponse> {
        filters.validate(&["until", "label", "label!"])?;
        let until = match filters.get("until").first() {
            Some(u) => Some(
                berth_core::timefmt::parse_timestamp(u, chrono::Utc::now())
                    .ok_or_else(|| Error::invalid(format!("invalid filter 'until={u}'")))?,
            ),
            None => None,
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for c in self.containers.all() {
            let st = c.status();
            if !matches!(st, Status::Exited | Status::Created | Status::Dead) {
                continue;
            }
            let rec = c.config();
            let labels = rec
                .config
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            if !filters.match_labels("label", &labels) {
                continue;
            }
            if filters.get("label!").iter().any(|l| {
                let f = Filters::from_pairs([("label", l.as_str())]);
                f.match_labels("label", &labels)
            }) {
                continue;
            }
            if let (Some(u), Some(t)) = (until, berth_core::timefmt::parse_rfc3339(&rec.created))
                && t >= u
            {
                continue;
            }
            let size = self.images.rw_usage(&c.id).unwrap_or(0).max(0) as u64;
            if self
                .remove_container(&c.id, false, false, false)
                .await
                .is_ok()
            {
                deleted.push(c.id.clone());
                reclaimed += size;
            }
        }
        self.events.emit(
            "container",
            "prune",
            "",
            [("reclaimed".to_string(), reclaimed.to_string())].into(),
        );
        Ok(ContainerPruneResponse {
            containers_deleted: if deleted.is_empty() {
                None
            } else {
                Some(deleted)
            },
            space_reclaimed: reclaimed,
        })
    }
}
