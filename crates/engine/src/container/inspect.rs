//! `docker inspect` and `docker ps` views of a container.

use std::collections::BTreeMap;

use berth_api::types::inspect::{
    ContainerInspect, ContainerState, ContainerSummary, DriverData, NetworkSettings, Port,
    SummaryHostConfig, SummaryNetworkSettings,
};
use berth_core::timefmt::ZERO_TIME;
use chrono::Utc;

use super::state::{Status, ps_status};
use super::{ConfigRecord, Container, StateRecord};

fn or_zero(t: &str) -> String {
    if t.is_empty() {
        ZERO_TIME.to_string()
    } else {
        t.to_string()
    }
}

/// `State` of inspect.
pub fn state_view(st: &StateRecord) -> ContainerState {
    ContainerState {
        status: st.status.as_str().to_string(),
        running: st.status.is_alive() || st.status == Status::Restarting && st.pid > 0,
        paused: st.status == Status::Paused,
        restarting: st.status == Status::Restarting,
        oom_killed: st.oom_killed,
        dead: st.status == Status::Dead,
        pid: if st.status.is_alive() { st.pid } else { 0 },
        exit_code: st.exit_code,
        error: st.error.clone(),
        started_at: or_zero(&st.started_at),
        finished_at: or_zero(&st.finished_at),
        health: st.health.clone(),
    }
}

/// Paths of a container's files, given its directory.
#[derive(Debug, Clone, Default)]
pub struct ContainerPaths {
    /// `/etc/resolv.conf` source.
    pub resolv_conf: String,
    /// `/etc/hostname` source.
    pub hostname: String,
    /// `/etc/hosts` source.
    pub hosts: String,
    /// Log file.
    pub log: String,
}

/// Build the full inspect document.
pub fn inspect_view(
    c: &Container,
    paths: ContainerPaths,
    graph: BTreeMap<String, String>,
    network: NetworkSettings,
    sizes: Option<(i64, i64)>,
) -> ContainerInspect {
    let rec = c.config();
    let st = c.state();
    let execs = c.exec_ids.lock().map(|e| e.clone()).unwrap_or_default();
    ContainerInspect {
        id: rec.id.clone(),
        created: rec.created.clone(),
        path: rec.path.clone(),
        args: rec.args.clone(),
        state: state_view(&st),
        image: rec.image_id.clone(),
        resolv_conf_path: paths.resolv_conf,
        hostname_path: paths.hostname,
        hosts_path: paths.hosts,
        log_path: paths.log,
        name: format!("/{}", rec.name),
        restart_count: st.restart_count,
        driver: "overlay2".to_string(),
        platform: "linux".to_string(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: if execs.is_empty() { None } else { Some(execs) },
        host_config: rec.host_config.clone(),
        graph_driver: DriverData {
            name: "overlay2".to_string(),
            data: graph,
        },
        size_rw: sizes.map(|s| s.0),
        size_root_fs: sizes.map(|s| s.1),
        mounts: rec.mounts.clone(),
        config: rec.config.clone(),
        network_settings: network,
    }
}

/// `Command` column: path and args joined by spaces.
pub fn command_line(rec: &ConfigRecord) -> String {
    let mut parts = vec![rec.path.clone()];
    parts.extend(rec.args.iter().cloned());
    parts.join(" ")
}

/// Published ports as `docker ps` lists them.
pub fn ports_view(net: &NetworkSettings) -> Vec<Port> {
    let mut out = Vec::new();
    for (key, bindings) in &net.ports {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(private) = port.parse::<u16>() else {
            continue;
        };
        match bindings {
            Some(b) if !b.is_empty() => {
                for hb in b {
                    out.push(Port {
                        ip: hb.host_ip.clone(),
                        private_port: private,
                        public_port: hb.host_port.parse().unwrap_or(0),
                        kind: proto.to_string(),
                    });
                }
            }
            _ => out.push(Port {
                ip: String::new(),
                private_port: private,
                public_port: 0,
                kind: proto.to_string(),
            }),
        }
    }
    out.sort();
    out
}

/// One `docker ps` row.
pub fn summary_view(
    c: &Container,
    network: &NetworkSettings,
    sizes: Option<(i64, i64)>,
) -> ContainerSummary {
    let rec = c.config();
    let st = c.state();
    let created = berth_core::timefmt::parse_rfc3339(&rec.created)
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let health = st.health.as_ref().map(|h| h.status.clone());
    ContainerSummary {
        id: rec.id.clone(),
        names: vec![format!("/{}", rec.name)],
        image: rec.image_ref.clone(),
        image_id: rec.image_id.clone(),
        command: command_line(&rec),
        created,
        ports: ports_view(network),
        size_rw: sizes.map(|s| s.0),
        size_root_fs: sizes.map(|s| s.1),
        labels: rec.config.labels.clone().unwrap_or_default(),
        state: st.status.as_str().to_string(),
        status: ps_status(
            st.status,
            st.exit_code,
            &st.started_at,
            &st.finished_at,
            health.as_deref(),
            Utc::now(),
        ),
        host_config: SummaryHostConfig {
            network_mode: rec.host_config.network_mode.clone(),
            annotations: None,
        },
        network_settings: SummaryNetworkSettings {
            networks: network.networks.clone(),
        },
        mounts: rec.mounts.clone(),
    }
}
