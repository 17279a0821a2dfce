//! `docker rename`.

use berth_core::{Error, Result};

use super::names;
use crate::Engine;

impl Engine {
    /// Rename a container; 409 when the new name is taken.
    pub async fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let c = self.container(key)?;
        let new_name = names::validate(new_name)?;
        let old = c.name();
        if old == new_name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name".to_string(),
            ));
        }
        self.containers.reserve_name(&new_name, &c.id)?;
        c.update_config(|r| r.name = new_name.clone());
        if let Err(e) = self.save_config(&c) {
            c.update_config(|r| r.name = old.clone());
            self.containers.release_name(&new_name);
            return Err(e);
        }
        self.containers.release_name(&old);
        if let Err(e) = self.networks.rename_container(&c.id, &new_name).await {
            tracing::warn!(id = %c.id, "rename in the network service: {e}");
        }
        self.emit_container(&c, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }
}
