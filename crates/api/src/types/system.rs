//! `/version`, `/info`, `/system/df`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Platform` of `/version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    /// Server title printed by `docker version`.
    pub name: String,
}

/// One entry of `Components` in `/version`; the CLI renders the Engine one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    /// `Engine`, ...
    pub name: String,
    /// Component version.
    pub version: String,
    /// Free-form details (`ApiVersion`, `GitCommit`, `GoVersion`, `Os`, `Arch`, ...).
    pub details: BTreeMap<String, String>,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemVersion {
    /// Server title.
    pub platform: Platform,
    /// Components; the docker CLI requires one named `Engine`.
    pub components: Vec<ComponentVersion>,
    /// berth's version.
    pub version: String,
    /// Newest API version served.
    pub api_version: String,
    /// Oldest API version served.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// Source revision.
    pub git_commit: String,
    /// Docker reports its Go version here; berth reports the Rust compiler.
    pub go_version: String,
    /// `linux`.
    pub os: String,
    /// `amd64`, ...
    pub arch: String,
    /// Host kernel release.
    pub kernel_version: String,
    /// Experimental features on.
    pub experimental: bool,
    /// Build time, RFC 3339.
    pub build_time: String,
}

/// `Plugins` of `/info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    /// Volume drivers.
    pub volume: Vec<String>,
    /// Network drivers.
    pub network: Vec<String>,
    /// Authorization plugins.
    pub authorization: Option<Vec<String>>,
    /// Log drivers.
    pub log: Vec<String>,
}

/// `RegistryConfig` of `/info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryServiceConfig {
    /// CIDRs whose registries may be reached over plain HTTP.
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    /// Per-registry settings.
    pub index_configs: BTreeMap<String, IndexInfo>,
    /// Mirror URLs for docker.io.
    pub mirrors: Vec<String>,
}

/// One registry of `RegistryConfig.IndexConfigs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexInfo {
    /// Registry host.
    pub name: String,
    /// Mirrors.
    pub mirrors: Vec<String>,
    /// TLS verified.
    pub secure: bool,
    /// Docker Hub.
    pub official: bool,
}

/// A runtime of `/info.Runtimes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RuntimeInfo {
    /// Executable path.
    pub path: String,
    /// Extra args.
    #[serde(rename = "runtimeArgs", skip_serializing_if = "Option::is_none")]
    pub runtime_args: Option<Vec<String>>,
}

/// `Swarm` of `/info`; berth has no swarm, so it is always inactive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    /// `inactive`.
    pub local_node_state: String,
    /// Empty.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Empty.
    pub node_addr: String,
    /// False.
    pub control_available: bool,
    /// Empty.
    pub error: String,
    /// Null.
    pub remote_managers: Option<Vec<serde_json::Value>>,
}

impl Default for SwarmInfo {
    fn default() -> Self {
        SwarmInfo {
            local_node_state: "inactive".into(),
            node_id: String::new(),
            node_addr: String::new(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
        }
    }
}

/// `{"ID": "..."}` commit references in `/info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Commit {
    /// Revision.
    #[serde(rename = "ID")]
    pub id: String,
}

/// `GET /info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub docker_root_dir: String,
    pub plugins: PluginsInfo,
    pub memory_limit: bool,
    pub swap_limit: bool,
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub bridge_nf_iptables: bool,
    pub bridge_nf_ip6tables: bool,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: u64,
    pub n_goroutines: u64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub n_events_listener: u64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub index_server_address: String,
    pub registry_config: RegistryServiceConfig,
    pub generic_resources: Option<Vec<serde_json::Value>>,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    pub default_runtime: String,
    pub swarm: SwarmInfo,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub containerd_commit: Commit,
    pub runc_commit: Commit,
    pub init_commit: Commit,
    pub security_options: Vec<String>,
    pub default_address_pools: Vec<AddressPool>,
    pub warnings: Vec<String>,
    #[serde(rename = "CDISpecDirs")]
    pub cdi_spec_dirs: Vec<String>,
}

/// One of `DefaultAddressPools`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressPool {
    /// CIDR.
    pub base: String,
    /// Prefix length of each network carved out of it.
    pub size: u32,
}

/// `GET /system/df`. The per-object arrays reuse each resource's summary type,
/// carried as JSON values so this module needs none of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemDataUsage {
    /// Bytes used by all unpacked layers.
    pub layers_size: i64,
    /// Image summaries (with `Containers` counts).
    pub images: Vec<serde_json::Value>,
    /// Container summaries (with `SizeRw`, `SizeRootFs`).
    pub containers: Vec<serde_json::Value>,
    /// Volumes (with `UsageData`).
    pub volumes: Vec<serde_json::Value>,
    /// Build cache records.
    pub build_cache: Vec<serde_json::Value>,
}
