//! `docker inspect` and `docker ps` on the engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::backend::container::ListOptions;
use berth_api::types::inspect::{ContainerInspect, ContainerSummary, NetworkSettings};
use berth_core::Result;

use super::inspect::{ContainerPaths, inspect_view, summary_view};
use super::{Container, filter};
use crate::Engine;

impl Engine {
    /// Files of a container as inspect shows them.
    pub fn container_paths(&self, c: &Container) -> ContainerPaths {
        let dir = self.container_dir(&c.id);
        let log_kind = c.with_config(|r| r.host_config.log_config.kind.clone());
        ContainerPaths {
            resolv_conf: dir.join("resolv.conf").display().to_string(),
            hostname: dir.join("hostname").display().to_string(),
            hosts: dir.join("hosts").display().to_string(),
            log: match log_kind.as_str() {
                "none" => String::new(),
                "local" => dir
                    .join("local-logs")
                    .join("container.log")
                    .display()
                    .to_string(),
                _ => dir.join(format!("{}-json.log", c.id)).display().to_string(),
            },
        }
    }

    /// The network view of a container, from the network service.
    pub async fn network_settings(&self, c: &Container) -> NetworkSettings {
        let rec = c.config();
        self.container_network_settings(&rec).await
    }

    /// (SizeRw, SizeRootFs).
    fn sizes(&self, c: &Container) -> Option<(i64, i64)> {
        let rw = self.images.rw_usage(&c.id).unwrap_or(0);
        let image = c.with_config(|r| r.image_id.clone());
        let base = self.images.resolve(&image).map(|i| i.size).unwrap_or(0);
        Some((rw, rw + base))
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect_container(&self, key: &str, size: bool) -> Result<ContainerInspect> {
        let c = self.container(key)?;
        let graph = self.graph_data(&c);
        let sizes = if size { self.sizes(&c) } else { None };
        let net = self.network_settings(&c).await;
        Ok(inspect_view(
            &c,
            self.container_paths(&c),
            graph,
            net,
            sizes,
        ))
    }

    fn graph_data(&self, c: &Container) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        if let Ok(mounts) = self.images.rw_mounts(&c.id) {
            for m in mounts.iter().filter(|m| m.kind == "overlay") {
                for o in &m.options {
                    if let Some((k, v)) = o.split_once('=') {
                        let key = match k {
                            "lowerdir" => "LowerDir",
                            "upperdir" => "UpperDir",
                            "workdir" => "WorkDir",
                            _ => continue,
                        };
                        data.insert(key.to_string(), v.to_string());
                    }
                }
            }
        }
        data.insert(
            "MergedDir".into(),
            self.rootfs_dir(&c.id).display().to_string(),
        );
        data
    }

    /// `GET /containers/json`.
    pub async fn list_containers(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let f = &opts.filters;
        filter::validate(f)?;
        let mut all: Vec<Arc<Container>> = self.containers.all();
        all.sort_by(|a, b| {
            let ka = a.with_config(|r| r.created.clone());
            let kb = b.with_config(|r| r.created.clone());
            kb.cmp(&ka).then_with(|| b.id.cmp(&a.id))
        });
        // `before`/`since` cut the (newest-first) list at a given container.
        let pos = |key: &str| -> Result<usize> {
            let c = self.container(key)?;
            Ok(all.iter().position(|x| x.id == c.id).unwrap_or(0))
        };
        let mut lo = 0usize;
        let mut hi = all.len();
        if let Some(b) = f.get("before").first() {
            lo = lo.max(pos(b)? + 1);
        }
        if let Some(s) = f.get("since").first() {
            hi = hi.min(pos(s)?);
        }
        let ancestors: Vec<String> = f
            .get("ancestor")
            .iter()
            .filter_map(|a| self.images.resolve(a).ok().map(|i| i.id))
            .collect();
        let show_all =
            opts.all || opts.limit.is_some() || f.contains("status") || f.contains("exited");
        let mut out = Vec::new();
        for c in all.iter().take(hi).skip(lo) {
            let st = c.status();
            if !show_all && !st.is_alive() && st != super::Status::Restarting {
                continue;
            }
            let ns = self.network_settings(c).await;
            let sizes = if opts.size { self.sizes(c) } else { None };
            let s = summary_view(c, &ns, sizes);
            let health = c
                .state()
                .health
                .map(|h| h.status)
                .unwrap_or_else(|| "none".into());
            if filter::keep(&s, f, &ancestors, &health) {
                out.push(s);
            }
            if opts.limit.is_some_and(|l| l > 0 && out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }
}
