//! `docker create`: validate, resolve the image, merge its defaults, reserve the
//! name, prepare the read-write layer and persist the records — in that order,
//! undoing earlier steps when a later one fails so nothing is half-created.

use std::sync::Arc;

use berth_api::types::container::{ContainerConfig, ContainerCreateBody, ContainerCreateResponse};
use berth_core::{Error, Result};

use super::record::{CONFIG_TABLE, STATE_TABLE};
use super::{ConfigRecord, Container, StateRecord, merge, names};
use crate::{Engine, host};

/// Image defaults in API form (the image crate keeps Docker's field names).
pub fn image_defaults(img: &berth_image::image::Image) -> ContainerConfig {
    serde_json::to_value(&img.config)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl Engine {
    /// Create a container; see the module doc for the order of steps.
    pub async fn create_container(
        self: &Arc<Self>,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        let mut body = body;
        // The docker CLI files endpoint settings under the mode it sent, `default`;
        // the daemon's default network on Linux is `bridge`.
        if let Some(eps) = body
            .networking_config
            .as_mut()
            .and_then(|n| n.endpoints_config.as_mut())
            && let Some(s) = eps.remove("default")
        {
            eps.entry("bridge".to_string()).or_insert(s);
        }
        let cgroup_v2 = host::cgroup_version() == "2";
        let (host_config, warnings) = merge::host_defaults(
            body.host_config.clone().unwrap_or_default(),
            host::ncpu(),
            cgroup_v2,
        )?;
        if body.config.image.is_empty() {
            return Err(Error::invalid(
                "config cannot be empty in order to create a container",
            ));
        }
        let image_ref = body.config.image.clone();
        let image = self
            .images
            .resolve(&image_ref)
            .map_err(berth_core::Error::from)?;
        let mut config = merge::merge_config(body.config, &image_defaults(&image));
        config.image = image_ref.clone();
        let (path, args) = merge::path_and_args(&config)?;
        validate_config(&config)?;
        let planned = self.plan_container_mounts(&host_config, &config)?;
        self.validate_networks(&host_config, body.networking_config.as_ref())
            .await?;

        let id = berth_core::id::generate();
        if config.hostname.is_empty() && !matches!(host_config.network_mode.as_str(), "host") {
            config.hostname = id[..12].to_string();
        } else if config.hostname.is_empty() {
            config.hostname = host::hostname();
        }
        let name = self.pick_name(name.as_deref(), &id)?;
        let undo_name = |e: Error| {
            self.containers.release_name(&name);
            e
        };

        let dir = self.container_dir(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| undo_name(Error::internal(format!("create {}: {e}", dir.display()))))?;
        let images = self.images.clone();
        let (rid, iid) = (id.clone(), image.id.clone());
        let prepared = tokio::task::spawn_blocking(move || images.prepare_rw(&rid, &iid)).await;
        match prepared {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(undo_name(e.into()));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(undo_name(Error::internal(format!("prepare layer: {e}"))));
            }
        }

        let mount_requests = match self.volumes.create_mounts(&id, planned).await {
            Ok(m) => m,
            Err(e) => {
                let _ = self.images.remove_rw(&id);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(undo_name(e.into()));
            }
        };
        let rec = ConfigRecord {
            id: id.clone(),
            name: name.clone(),
            created: berth_core::timefmt::now_rfc3339(),
            image_ref: image_ref.clone(),
            image_id: image.id.clone(),
            config,
            host_config,
            networking: body.networking_config.unwrap_or_default(),
            path,
            args,
            mounts: berth_volume::mount_points(&mount_requests),
            mount_requests,
        };
        let st = StateRecord::default();
        let saved = self.store.write(|t| {
            t.put(CONFIG_TABLE, &id, &rec)?;
            t.put(STATE_TABLE, &id, &st)
        });
        if let Err(e) = saved {
            self.volumes.release(&id, true).await;
            let _ = self.images.remove_rw(&id);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(undo_name(e));
        }
        let c = Arc::new(Container::new(rec, st));
        self.containers.insert(c.clone());
        self.emit_container(&c, "create", &[]);
        Ok(ContainerCreateResponse { id, warnings })
    }

    /// Unknown networks and bad endpoint settings fail the create (404/400), as in Docker.
    async fn validate_networks(
        &self,
        hc: &berth_api::types::container::HostConfig,
        nc: Option<&berth_api::types::container::NetworkingConfig>,
    ) -> Result<()> {
        let (_, primary) = crate::networks::attach::parse_mode(&hc.network_mode);
        let mut nets: Vec<(String, berth_api::types::container::EndpointSettings)> = Vec::new();
        if let Some(p) = primary {
            let s = nc
                .and_then(|n| n.endpoints_config.as_ref())
                .and_then(|m| m.get(p))
                .cloned()
                .unwrap_or_default();
            nets.push((p.to_string(), s));
        }
        for (n, s) in nc
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default()
        {
            if Some(n.as_str()) != primary {
                nets.push((n, s));
            }
        }
        for (net, s) in nets {
            let req = crate::networks::attach::endpoint_request(&s)?;
            match self
                .networks
                .validate_endpoint(&net, &req)
                .await
                .map_err(berth_core::Error::from)
            {
                Ok(_) => {}
                // Docker creates the container anyway; the start reports the missing network
                // (and a 404 here would make the docker CLI try to pull the image).
                Err(e) if e.kind() == berth_core::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn pick_name(&self, wanted: Option<&str>, id: &str) -> Result<String> {
        match wanted.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = names::validate(n)?;
                self.containers.reserve_name(&n, id)?;
                Ok(n)
            }
            None => {
                for attempt in 0..100 {
                    let n = names::generate(attempt);
                    if self.containers.reserve_name(&n, id).is_ok() {
                        return Ok(n);
                    }
                }
                Err(Error::internal(
                    "could not generate a unique container name",
                ))
            }
        }
    }
}

fn validate_config(c: &ContainerConfig) -> Result<()> {
    for e in c.env.iter().flatten() {
        if e.starts_with('=') || e.is_empty() {
            return Err(Error::invalid(format!("invalid environment variable: {e}")));
        }
    }
    for p in c.exposed_ports.iter().flatten().map(|(k, _)| k) {
        let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
        let ok_port = match port.split_once('-') {
            Some((a, b)) => a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok(),
            None => port.parse::<u16>().is_ok(),
        };
        if !ok_port || !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(Error::invalid(format!(
                "invalid port specification: \"{p}\""
            )));
        }
    }
    if !c.working_dir.is_empty() && !c.working_dir.starts_with('/') {
        return Err(Error::invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            c.working_dir
        )));
    }
    Ok(())
}
