//! Container configuration as clients send it (`POST /containers/create`) and
//! as `inspect` shows it: `Config`, `HostConfig`, `NetworkingConfig`.
//!
//! Fields Docker marshals with `omitempty` are skipped when empty; lists Docker
//! keeps as `null` are `Option<Vec<_>>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::strslice;

/// `{}`: the value type of Docker's port and volume sets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Empty {}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `Config`: the container's portable configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "strslice::deserialize")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "is_false")]
    pub args_escaped: bool,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    #[serde(deserialize_with = "strslice::deserialize")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_false")]
    pub network_disabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strslice::deserialize"
    )]
    pub shell: Option<Vec<String>>,
}

/// `Healthcheck`: durations in nanoseconds; 0 means "inherit/default".
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", args…]`, `["CMD-SHELL", cmd]`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strslice::deserialize"
    )]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "null_default")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "null_default")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "null_default")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "null_default")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero", deserialize_with = "null_default")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// `null` as the type's default, as Go's decoder leaves a non-pointer field
/// untouched on `null` (docker-py sends `"Interval": null` for unset durations).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One host binding of a container port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host IP (`""` = all).
    pub host_ip: String,
    /// Host port (`""` = ephemeral).
    pub host_port: String,
}

/// `"80/tcp" -> [bindings]`; `null` bindings mean exposed but not published.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// `RestartPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `""`/`no`, `always`, `unless-stopped`, `on-failure`.
    pub name: String,
    /// For `on-failure`.
    pub maximum_retry_count: i64,
}

/// `LogConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// `json-file`, `local`, `none`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Driver options (`max-size`, `max-file`, …); compose sends `null` for none.
    #[serde(deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
}

/// `Ulimits` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `Devices` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// `Mounts` entry of HostConfig (the `--mount` form).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    pub target: String,
    pub source: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `BindOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(skip_serializing_if = "is_false")]
    pub non_recursive: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub create_mountpoint: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_non_recursive: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_force_recursive: bool,
}

/// `VolumeOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// `DriverConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfig {
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
}

/// `TmpfsOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// `HostConfig`: the non-portable, host-specific configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<PortMap>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    pub console_size: [u32; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    pub runtime: String,
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// Weight for one device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// Rate for one device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// `Resources`: limits; also the body of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    pub cpu_shares: i64,
    pub memory: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<serde_json::Value>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub nano_cpus: i64,
    pub oom_kill_disable: Option<bool>,
    pub init: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
}

/// `IPAMConfig` of an endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

/// A container's settings on one network (request and inspect).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(rename = "Links")]
    pub links: Option<Vec<String>>,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "Aliases")]
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "DriverOpts")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "GwPriority")]
    pub gw_priority: i64,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// `NetworkingConfig` of a create request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// `POST /containers/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContainerCreateBody {
    /// The portable part, at the top level of the body.
    #[serde(flatten)]
    pub config: ContainerConfig,
    /// Host-specific settings.
    #[serde(rename = "HostConfig")]
    pub host_config: Option<HostConfig>,
    /// Networks to join at create time.
    #[serde(rename = "NetworkingConfig")]
    pub networking_config: Option<NetworkingConfig>,
}

/// `201` of `POST /containers/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_accepts_docker_cli_json() {
        let body = r#"{"Hostname":"","User":"","AttachStdout":true,"Tty":false,"Env":[],"Cmd":["echo","hi"],
          "Image":"bb","Volumes":{},"Entrypoint":null,"Labels":{},
          "HostConfig":{"Binds":null,"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
            "RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"Memory":67108864,"NanoCpus":500000000,
            "Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],"UTSMode":"","ConsoleSize":[24,80]},
          "NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let b: ContainerCreateBody = serde_json::from_str(body).unwrap();
        assert_eq!(b.config.cmd.unwrap(), ["echo", "hi"]);
        let hc = b.host_config.unwrap();
        assert!(hc.auto_remove);
        assert_eq!(hc.resources.memory, 64 << 20);
        assert_eq!(hc.resources.nano_cpus, 500_000_000);
        assert_eq!(
            hc.port_bindings.unwrap()["80/tcp"].as_ref().unwrap()[0].host_port,
            "8080"
        );
    }

    #[test]
    fn strslice_accepts_a_string() {
        let c: ContainerConfig =
            serde_json::from_str(r#"{"Cmd":"echo hi","Entrypoint":["sh","-c"]}"#).unwrap();
        assert_eq!(c.cmd.unwrap(), ["echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["sh", "-c"]);
    }

    #[test]
    fn host_config_serializes_flat_resources() {
        let hc = HostConfig {
            resources: Resources {
                memory: 5,
                ..Default::default()
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&hc).unwrap();
        assert_eq!(v["Memory"], 5);
        assert_eq!(v["UTSMode"], "");
        assert_eq!(v["IOMaximumIOps"], 0);
        assert!(v["Binds"].is_null());
    }
}
