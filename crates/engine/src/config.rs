//! Engine settings, filled by berthd from flags and the config file.

use std::path::PathBuf;

/// What the engine needs to know about its environment.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state (`/var/lib/berth`).
    pub data_root: PathBuf,
    /// Runtime state (`/run/berth`): sockets, shim dirs, netns.
    pub exec_root: PathBuf,
    /// `--debug`.
    pub debug: bool,
    /// `labels` from the config file.
    pub labels: Vec<String>,
    /// `registry-mirrors`.
    pub registry_mirrors: Vec<String>,
    /// `insecure-registries`.
    pub insecure_registries: Vec<String>,
    /// `live-restore` (berth always keeps containers running across restarts; this is what `info` reports).
    pub live_restore: bool,
    /// Whether berth may program the host firewall (dockerd's `--iptables`).
    pub firewall: bool,
}

impl EngineConfig {
    /// Defaults for a data root and exec root.
    pub fn new(data_root: PathBuf, exec_root: PathBuf) -> EngineConfig {
        EngineConfig {
            data_root,
            exec_root,
            debug: false,
            labels: Vec::new(),
            registry_mirrors: Vec::new(),
            insecure_registries: Vec::new(),
            live_restore: true,
            firewall: true,
        }
    }
}
