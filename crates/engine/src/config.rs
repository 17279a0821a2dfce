//! Engine settings, filled by berthd from flags and the config file.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Relay published-port traffic nat cannot carry (dockerd's `--userland-proxy`).
    pub userland_proxy: bool,
    /// Default bridge link (dockerd `--bridge`); `None`: `berth0`, or a name
    /// derived from the exec root when it is not the default, so several
    /// daemons (tests) never share a bridge or firewall table.
    pub bridge_name: Option<String>,
    /// Default bridge subnet (dockerd `--bip`: `172.17.0.1/16` or `172.17.0.0/16`);
    /// `None` picks the first default pool no host route uses.
    pub bridge_subnet: Option<String>,
    /// `default-address-pools` as `base/len,size` (`10.10.0.0/16,24`); empty: Docker's.
    pub default_address_pools: Vec<String>,
    /// Upstream resolvers of the embedded DNS (`ip` or `ip:port`); empty: the host's resolv.conf.
    pub dns_upstream: Vec<String>,
    /// Where plugin sockets are looked for; empty: `/run/berth/plugins`, `/run/docker/plugins`.
    pub plugin_socket_dirs: Vec<PathBuf>,
    /// Where plugin `.spec`/`.json` files are looked for; empty: berth's and Docker's
    /// `/etc/…/plugins`, `/usr/lib/…/plugins`.
    pub plugin_spec_dirs: Vec<PathBuf>,
    /// Limit of one plugin call; `None`: 60 s.
    pub plugin_call_timeout: Option<Duration>,
    /// How long connection failures and plugins not present yet are retried; `None`: 30 s (Docker's).
    pub plugin_retry_timeout: Option<Duration>,
    /// Authorization plugins, in order (`--authorization-plugin`; `info` lists them).
    pub authorization_plugins: Vec<String>,
    /// VM isolation (`default-isolation`, `vm-*`).
    pub vm: VmSettings,
}

/// VM isolation settings (daemon.json `default-isolation`, `vm-qemu`, `vm-kernel`,
/// `vm-initrd`, `vm-pvm-kernel`, `vm-memory`, `vm-cpus`, `vm-boot-timeout`).
#[derive(Debug, Clone, Default)]
pub struct VmSettings {
    /// Isolation of containers that ask for none: `process` (`""`) or `hyperv`.
    pub default_isolation: String,
    /// QEMU binary (default: `qemu-system-x86_64` on `PATH`).
    pub qemu: Option<PathBuf>,
    /// Guest kernel, a PVH `vmlinux` (default: [`DEFAULT_VM_KERNEL`]); its
    /// `modules/` sibling, when present, goes into the initramfs.
    pub kernel: Option<PathBuf>,
    /// A ready initramfs (default: built from the agent and the modules on first
    /// use, under `<data-root>/vm/`).
    pub initrd: Option<PathBuf>,
    /// A PVM guest kernel, used with KVM on PVM hosts.
    pub pvm_kernel: Option<PathBuf>,
    /// Guest memory in MiB when the container sets no memory limit (default 512).
    pub memory_mib: Option<u32>,
    /// vCPUs when the container sets no CPU limit (default 1).
    pub cpus: Option<u32>,
    /// How long a guest may take to boot (default 15 s with KVM, 90 s with TCG).
    pub boot_timeout: Option<Duration>,
}

/// Where `scripts/vm/kernel-debian.sh` puts the kernel it selects.
pub const DEFAULT_VM_KERNEL: &str = "/var/cache/berth/vm/current/vmlinux";

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
            userland_proxy: true,
            bridge_name: None,
            bridge_subnet: None,
            default_address_pools: Vec::new(),
            dns_upstream: Vec::new(),
            plugin_socket_dirs: Vec::new(),
            plugin_spec_dirs: Vec::new(),
            plugin_call_timeout: None,
            plugin_retry_timeout: None,
            authorization_plugins: Vec::new(),
            vm: VmSettings::default(),
        }
    }
}

impl EngineConfig {
    /// The plugin registry's directories and time limits.
    pub fn plugin_registry(&self) -> berth_plugin::Registry {
        let mut dirs = berth_plugin::Dirs::default();
        if !self.plugin_socket_dirs.is_empty() {
            dirs.sockets = self.plugin_socket_dirs.clone();
        }
        if !self.plugin_spec_dirs.is_empty() {
            dirs.specs = self.plugin_spec_dirs.clone();
        }
        let mut settings = berth_plugin::Settings::default();
        if let Some(t) = self.plugin_call_timeout {
            settings.call_timeout = t;
        }
        if let Some(t) = self.plugin_retry_timeout {
            settings.retry_budget = t;
        }
        berth_plugin::Registry::new(dirs, settings)
    }
}
