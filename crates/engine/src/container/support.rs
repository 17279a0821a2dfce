//! Helpers every verb uses: directories, events, persistence, lookups.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_core::Result;

use super::record::{CONFIG_TABLE, STATE_TABLE};
use super::{Container, StateRecord};
use crate::Engine;

impl Engine {
    /// `<data-root>/containers/<id>`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.config.data_root.join("containers").join(id)
    }

    /// Where the root filesystem of a container is mounted while it runs.
    pub fn rootfs_dir(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("rootfs")
    }

    /// Look a container up (404 `No such container: x`).
    pub fn container(&self, key: &str) -> Result<Arc<Container>> {
        self.containers.get(key)
    }

    /// Publish a container event with Docker's attributes (`image`, `name`, labels, extras).
    pub fn emit_container(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: HashMap<String, String> = HashMap::new();
        c.with_config(|rec| {
            for (k, v) in rec.config.labels.iter().flatten() {
                attrs.insert(k.clone(), v.clone());
            }
            attrs.insert("image".into(), rec.image_ref.clone());
            attrs.insert("name".into(), rec.name.clone());
        });
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.emit("container", action, &c.id, attrs);
    }

    /// Change a container's state and persist it.
    pub fn set_state(
        &self,
        c: &Container,
        f: impl FnOnce(&mut StateRecord),
    ) -> Result<StateRecord> {
        let st = c.update_state(f);
        self.store.put(STATE_TABLE, &c.id, &st)?;
        Ok(st)
    }

    /// Persist a container's configuration after rename or update.
    pub fn save_config(&self, c: &Container) -> Result<()> {
        let rec = c.config();
        self.store.put(CONFIG_TABLE, &c.id, &rec)
    }
}
