//! The runtime-neutral description of a container that the engine fills in.
//!
//! These types carry Docker's `Config`/`HostConfig` meaning after the engine has
//! resolved everything that needs other subsystems: the rootfs is mounted, volumes
//! are paths, `container:<id>` namespace modes are `/proc/<pid>/ns/*` paths, and the
//! network files exist on disk.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything needed to generate a container's OCI `config.json`.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Container id (64 hex digits); also the default cgroup leaf name.
    pub id: String,
    /// Absolute path of the mounted root filesystem.
    pub rootfs: PathBuf,
    /// Entrypoint + command, already merged.
    pub args: Vec<String>,
    /// `KEY=value` pairs (image env merged with `--env`).
    pub env: Vec<String>,
    /// Working directory; empty means `/`.
    pub cwd: String,
    /// Docker's `--user`: `""`, `name`, `uid`, `name:group`, `uid:gid`...
    pub user: String,
    /// `--group-add` entries (names or ids).
    pub group_add: Vec<String>,
    /// Hostname inside the UTS namespace (ignored with a shared UTS namespace).
    pub hostname: String,
    /// NIS domain name.
    pub domainname: String,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub open_stdin: bool,
    /// Extra mounts (binds, volumes, tmpfs), in any order.
    pub mounts: Vec<MountSpec>,
    /// Host files bind-mounted at `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`.
    pub network_files: NetworkFiles,
    /// Namespace choices.
    pub namespaces: Namespaces,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add` (with or without `CAP_`, or `ALL`).
    pub cap_add: Vec<String>,
    /// `--cap-drop` (with or without `CAP_`, or `ALL`).
    pub cap_drop: Vec<String>,
    /// Seccomp choice from `--security-opt seccomp=...`.
    pub seccomp: SeccompMode,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// Size of `/dev/shm` in bytes; `None` is Docker's 64 MiB.
    pub shm_size: Option<u64>,
    /// `--device` host devices to expose.
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule` entries (`c 1:3 rwm`).
    pub device_cgroup_rules: Vec<String>,
    /// `--ulimit` entries.
    pub ulimits: Vec<Ulimit>,
    /// Resource limits.
    pub resources: Resources,
    /// `--sysctl` pairs.
    pub sysctls: BTreeMap<String, String>,
    /// cgroup path, e.g. `/berth/<id>`; empty means `/berth/<id>`.
    pub cgroups_path: String,
    /// Host path of the static init binary when `--init` is on (mounted at `/sbin/docker-init`).
    pub init: Option<PathBuf>,
    /// `HostConfig.MaskedPaths` override; `None` is Docker's default list.
    pub masked_paths: Option<Vec<String>>,
    /// `HostConfig.ReadonlyPaths` override; `None` is Docker's default list.
    pub readonly_paths: Option<Vec<String>>,
}

/// One extra mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// What kind of mount.
    pub kind: MountKind,
    /// Host path for binds and volumes; ignored for tmpfs.
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    /// Mount read-only.
    pub readonly: bool,
    /// Extra options: tmpfs `size=`/`mode=`, `nosuid`, ...
    pub options: Vec<String>,
    /// Bind propagation; `None` is `rprivate`.
    pub propagation: Option<Propagation>,
    /// Bind without `rbind` (`bind-recursive=disabled`).
    pub non_recursive: bool,
}

/// Kinds of extra mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// `-v /host:/ctr` or `--mount type=bind`.
    Bind,
    /// A named or anonymous volume (a bind of the volume's directory).
    Volume,
    /// `--tmpfs` or `--mount type=tmpfs`.
    Tmpfs,
}

/// Mount propagation modes Docker accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// `private`
    Private,
    /// `rprivate` (Docker's default)
    RPrivate,
    /// `shared`
    Shared,
    /// `rshared`
    RShared,
    /// `slave`
    Slave,
    /// `rslave`
    RSlave,
}

impl Propagation {
    /// The mount option string.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::RPrivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::RShared => "rshared",
            Propagation::Slave => "slave",
            Propagation::RSlave => "rslave",
        }
    }
}

/// Host files for the network configuration; each `None` leaves the image's file.
#[derive(Debug, Clone, Default)]
pub struct NetworkFiles {
    /// Mounted at `/etc/hosts`.
    pub hosts: Option<PathBuf>,
    /// Mounted at `/etc/hostname`.
    pub hostname: Option<PathBuf>,
    /// Mounted at `/etc/resolv.conf`.
    pub resolv_conf: Option<PathBuf>,
}

/// How a namespace is provided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NsMode {
    /// A new namespace of its own (Docker's default; `--network none` too).
    #[default]
    Private,
    /// The host's namespace (`--network host`, `--pid host`...).
    Host,
    /// Join the namespace at this path (`container:<id>` resolved, or a netns file).
    Join(PathBuf),
}

/// Namespace choices per kind. Mount namespaces are always private.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    /// Network.
    pub network: NsMode,
    /// IPC.
    pub ipc: NsMode,
    /// PID.
    pub pid: NsMode,
    /// UTS.
    pub uts: NsMode,
    /// cgroup (`--cgroupns`): Docker's default is private on cgroup v2 and host on v1.
    pub cgroup: Option<NsMode>,
}

/// Seccomp choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompMode {
    /// Docker's default profile.
    #[default]
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// A profile in Docker's JSON format (the CLI sends the file's content).
    Custom(String),
}

/// A `--device` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    /// Host device path.
    pub host: PathBuf,
    /// Path in the container; empty means the host path.
    pub container: String,
    /// Cgroup permissions, e.g. `rwm`.
    pub permissions: String,
}

/// One `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Docker's name: `nofile`, `nproc`, `core`, ...
    pub name: String,
    /// Soft limit (-1 for unlimited).
    pub soft: i64,
    /// Hard limit (-1 for unlimited).
    pub hard: i64,
}

/// Resource limits, with Docker's units and "0 means unset" convention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `--memory` bytes.
    pub memory: i64,
    /// `--memory-swap` bytes (memory + swap); -1 unlimited; 0 means twice `memory`.
    pub memory_swap: i64,
    /// `--memory-reservation` bytes.
    pub memory_reservation: i64,
    /// `--memory-swappiness`.
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--cpus` in units of 1e-9 CPUs.
    pub nano_cpus: i64,
    /// `--cpu-shares`.
    pub cpu_shares: i64,
    /// `--cpu-period` microseconds.
    pub cpu_period: i64,
    /// `--cpu-quota` microseconds.
    pub cpu_quota: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--pids-limit`; `None`, 0 or -1 mean unlimited.
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (10..1000; 0 unset).
    pub blkio_weight: u16,
    /// `--oom-score-adj`.
    pub oom_score_adj: i32,
}
