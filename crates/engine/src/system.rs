//! `SystemBackend` for the engine: version, info, events, disk usage.

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_api::backend::{EventStream, EventsQuery, SystemBackend};
use berth_api::types::system::{
    ComponentVersion, Platform, PluginsInfo, RegistryServiceConfig, RuntimeInfo, SystemDataUsage,
    SystemInfo, SystemVersion,
};
use berth_api::version::{MAX, MIN};
use berth_core::Result;
use berth_core::events::Event;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::{Engine, host};

/// berth's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Engine {
    fn version_doc(&self) -> SystemVersion {
        let mut details = BTreeMap::new();
        details.insert("ApiVersion".to_string(), MAX.to_string());
        details.insert("MinAPIVersion".to_string(), MIN.to_string());
        details.insert("Os".to_string(), "linux".to_string());
        details.insert("Arch".to_string(), host::arch().to_string());
        details.insert("KernelVersion".to_string(), host::kernel_version());
        details.insert("Experimental".to_string(), "false".to_string());
        details.insert(
            "GitCommit".to_string(),
            option_env!("BERTH_GIT_COMMIT")
                .unwrap_or("unknown")
                .to_string(),
        );
        details.insert("GoVersion".to_string(), "rust".to_string());
        details.insert("BuildTime".to_string(), String::new());
        SystemVersion {
            platform: Platform {
                name: "berth Engine".to_string(),
            },
            components: vec![ComponentVersion {
                name: "Engine".to_string(),
                version: VERSION.to_string(),
                details,
            }],
            version: VERSION.to_string(),
            api_version: MAX.to_string(),
            min_api_version: MIN.to_string(),
            git_commit: option_env!("BERTH_GIT_COMMIT")
                .unwrap_or("unknown")
                .to_string(),
            go_version: "rust".to_string(),
            os: "linux".to_string(),
            arch: host::arch().to_string(),
            kernel_version: host::kernel_version(),
            experimental: false,
            build_time: String::new(),
        }
    }
}

#[async_trait]
impl SystemBackend for Engine {
    async fn version(&self) -> Result<SystemVersion> {
        Ok(self.version_doc())
    }

    async fn info(&self) -> Result<SystemInfo> {
        let (os, os_version) = host::os_release();
        let mut runtimes = BTreeMap::new();
        runtimes.insert(
            "berth".to_string(),
            RuntimeInfo {
                path: "berth-shim".into(),
                runtime_args: None,
            },
        );
        let cgroup_version = host::cgroup_version();
        let all = self.containers.all();
        let running = all
            .iter()
            .filter(|c| c.status() == crate::container::Status::Running)
            .count() as u64;
        let paused = all
            .iter()
            .filter(|c| c.status() == crate::container::Status::Paused)
            .count() as u64;
        let images = self.images.list().map(|l| l.len() as u64).unwrap_or(0);
        let (isolation, vm_warnings) = self.vm_info();
        Ok(SystemInfo {
            id: self.engine_id.clone(),
            containers: all.len() as u64,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: all.len() as u64 - running - paused,
            images,
            driver: "overlay2".to_string(),
            driver_status: vec![["Backing Filesystem".into(), "extfs".into()]],
            docker_root_dir: self.config.data_root.display().to_string(),
            plugins: self.plugins_info().await,
            memory_limit: true,
            swap_limit: true,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            oom_kill_disable: cgroup_version == "1",
            ipv4_forwarding: host::ipv4_forwarding(),
            debug: self.config.debug,
            nfd: host::open_fds(),
            n_goroutines: host::threads(),
            system_time: berth_core::timefmt::now_rfc3339(),
            logging_driver: "json-file".to_string(),
            cgroup_driver: "cgroupfs".to_string(),
            cgroup_version: cgroup_version.to_string(),
            n_events_listener: 0,
            kernel_version: host::kernel_version(),
            operating_system: os,
            os_version,
            os_type: "linux".to_string(),
            architecture: std::env::consts::ARCH.to_string(),
            ncpu: host::ncpu(),
            mem_total: host::mem_total(),
            index_server_address: "https://index.docker.io/v1/".to_string(),
            registry_config: RegistryServiceConfig {
                insecure_registry_cidrs: vec!["127.0.0.0/8".into(), "::1/128".into()],
                index_configs: BTreeMap::new(),
                mirrors: self.config.registry_mirrors.clone(),
            },
            name: host::hostname(),
            labels: self.config.labels.clone(),
            server_version: VERSION.to_string(),
            runtimes,
            default_runtime: "berth".to_string(),
            live_restore_enabled: self.config.live_restore,
            isolation,
            warnings: vm_warnings,
            init_binary: "berth-init".to_string(),
            security_options: vec![
                "name=seccomp,profile=builtin".into(),
                "name=cgroupns".into(),
            ],
            ..SystemInfo::default()
        })
    }

    async fn events(&self, query: EventsQuery) -> Result<EventStream> {
        let (past, rx) = self.events.subscribe(query.since_nanos);
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let until = query.until_nanos;
        let filters = query.filters;
        let keep = move |e: &Event| e.matches(&filters) && until.is_none_or(|u| e.time_nano <= u);
        let past: Vec<Event> = past.into_iter().filter(|e| keep(e)).collect();
        let replay = futures::stream::iter(past);
        if until.is_some_and(|u| u <= now) {
            return Ok(replay.boxed());
        }
        let live = BroadcastStream::new(rx).filter_map(move |r| {
            let out = r.ok().filter(|e| keep(e));
            async move { out }
        });
        let live = match until {
            Some(u) => {
                let wait = std::time::Duration::from_nanos(u.saturating_sub(now).max(0) as u64);
                live.take_until(tokio::time::sleep(wait)).boxed()
            }
            None => live.boxed(),
        };
        Ok(replay.chain(live).boxed())
    }

    async fn data_usage(&self, types: &[String]) -> Result<SystemDataUsage> {
        use berth_api::backend::ImageBackend;
        use berth_api::backend::container::ListOptions;
        let want = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        let mut out = SystemDataUsage::default();
        if want("image") {
            let images = self.image_list(Default::default()).await?;
            let mut total = 0i64;
            for mut i in images {
                let used = self
                    .containers
                    .all()
                    .iter()
                    .filter(|c| c.with_config(|r| r.image_id == i.id))
                    .count();
                i.containers = used as i64;
                total += i.size;
                out.images
                    .push(serde_json::to_value(&i).unwrap_or_default());
            }
            out.layers_size = total;
        }
        if want("container") {
            let list = self
                .list_containers(&ListOptions {
                    all: true,
                    size: true,
                    ..Default::default()
                })
                .await?;
            out.containers = list
                .iter()
                .map(|c| serde_json::to_value(c).unwrap_or_default())
                .collect();
        }
        if want("volume") {
            out.volumes = self.volume_usage().await?;
        }
        Ok(out)
    }
}

impl Engine {
    /// `Plugins` of `docker info`: built-in drivers, the plugins activated so
    /// far (a plugin is activated on first use, as in Docker), the drivers of
    /// existing networks, and the configured authorization plugins.
    async fn plugins_info(&self) -> PluginsInfo {
        let mut network = self.networks.driver_names();
        if let Ok(nets) = self.networks.networks().await {
            network.extend(nets.into_iter().map(|n| n.network.driver));
        }
        network.sort();
        network.dedup();
        let mut volume = self.volumes.driver_names();
        volume.sort();
        volume.dedup();
        let authz = &self.config.authorization_plugins;
        PluginsInfo {
            volume,
            network,
            authorization: (!authz.is_empty()).then(|| authz.clone()),
            log: vec!["json-file".into(), "local".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;

    fn engine(dir: &std::path::Path) -> std::sync::Arc<Engine> {
        Engine::open(EngineConfig::new(dir.join("data"), dir.join("exec"))).unwrap()
    }

    #[tokio::test]
    async fn events_until_in_past_ends_with_history() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.events
            .emit("container", "create", "c1", Default::default());
        e.events.emit("image", "tag", "i1", Default::default());
        let q = EventsQuery {
            since_nanos: Some(0),
            until_nanos: Some(chrono::Utc::now().timestamp_nanos_opt().unwrap()),
            filters: berth_core::filters::Filters::from_pairs([("type", "container")]),
        };
        let got: Vec<Event> = e.events(q).await.unwrap().collect().await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].action, "create");
    }

    #[tokio::test]
    async fn engine_id_is_stable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = engine(dir.path()).engine_id.clone();
        let b = engine(dir.path()).engine_id.clone();
        assert_eq!(a, b);
        let info = engine(dir.path()).info().await.unwrap();
        assert_eq!(info.id, a);
        assert!(info.ncpu >= 1 && info.mem_total > 0);
    }
}
