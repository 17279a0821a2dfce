//! VM isolation (`--isolation=hyperv`, alias `vm`): the host half.
//!
//! A VM container runs like a process-isolated one from the daemon's point of view:
//! the same OCI bundle, the same shim protocol. Its shim picks the VM backend
//! ([`crate::layout::RuntimeKind::Vm`]), reads [`VmConfig`] from `<bundle>/vm.json`,
//! and boots a small VM whose PID 1 is berth's guest agent (`berth-vm-agent`):
//!
//! - [`vmm`]: the [`vmm::Vmm`] trait and its QEMU `microvm` backend (room for Cloud
//!   Hypervisor later: the trait is "a command line from a [`vmm::VmSpec`]").
//! - [`probe`]: what this host can do: QEMU present, accelerator (KVM on VT-x/AMD-V,
//!   KVM with a PVM guest kernel on PVM hosts, TCG otherwise), seccomp sandbox.
//! - [`guest`]: the OCI spec translated for the agent (shares, mounts, process).
//! - [`initramfs`]: the guest's initramfs (the static agent + kernel modules).
//! - [`proto`]: the host↔agent wire protocol (from `berth-vm-agent`).
//!
//! The guest kernel is a PVH `vmlinux` made by `scripts/vm/kernel-debian.sh` (or
//! `kernel-minimal.sh`); the root filesystem and volumes are shared over virtio-9p,
//! the control channel is a virtio-serial port, networking is a tap per endpoint.

pub mod guest;
pub mod initramfs;
pub mod probe;
pub mod vmm;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use berth_vm_agent::proto;

use crate::error::{Result, RuntimeError};

/// File name of the VM settings in a bundle.
pub const CONFIG_FILE: &str = "vm.json";

/// `HostConfig.Isolation` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Namespaces and cgroups (`""`, `default`, `process`).
    Process,
    /// A VM per container (`hyperv`, `vm`).
    Vm,
}

impl Isolation {
    /// Parse Docker's value; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Isolation> {
        match s.to_ascii_lowercase().as_str() {
            "" | "default" | "process" => Some(Isolation::Process),
            "hyperv" | "vm" => Some(Isolation::Vm),
            _ => None,
        }
    }
}

/// CPU virtualisation of the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware (or PVM) virtualisation through `/dev/kvm`.
    Kvm,
    /// QEMU's software emulation.
    Tcg,
}

impl Accel {
    /// QEMU's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The VM of one container, written by the daemon to `<bundle>/vm.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmConfig {
    /// The VMM (`qemu`).
    pub vmm: String,
    /// Its binary.
    pub binary: PathBuf,
    /// PVH `vmlinux`.
    pub kernel: PathBuf,
    /// initramfs with the agent.
    pub initrd: PathBuf,
    /// Firmware, when the kernel needs one (PVM guests boot through qboot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<PathBuf>,
    /// Accelerator.
    pub accel: Accel,
    /// CPU model (default: `host` with KVM, `max` with TCG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// vCPUs.
    pub cpus: u32,
    /// Run QEMU under its seccomp sandbox (`-sandbox on,…`).
    pub sandbox: bool,
    /// How long the agent may take to say `Ready`, in ms.
    pub boot_timeout_ms: u64,
    /// Extra kernel command line.
    #[serde(default)]
    pub cmdline: String,
}

/// Write `vm.json` into `bundle`.
pub fn write_config(bundle: &Path, cfg: &VmConfig) -> Result<()> {
    let data = serde_json::to_vec_pretty(cfg).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
    berth_core::fsutil::atomic_write(&bundle.join(CONFIG_FILE), &data)
        .map_err(|e| RuntimeError::Shim(format!("write {CONFIG_FILE}: {e}")))
}

/// Read `vm.json` from `bundle`.
pub fn read_config(bundle: &Path) -> Result<VmConfig> {
    let p = bundle.join(CONFIG_FILE);
    let data =
        std::fs::read(&p).map_err(|e| RuntimeError::io(format!("read {}", p.display()), e))?;
    serde_json::from_slice(&data)
        .map_err(|e| RuntimeError::Invalid(format!("{}: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_values_and_config_file() {
        assert_eq!(Isolation::parse("HyperV"), Some(Isolation::Vm));
        assert_eq!(Isolation::parse("vm"), Some(Isolation::Vm));
        assert_eq!(Isolation::parse(""), Some(Isolation::Process));
        assert_eq!(Isolation::parse("default"), Some(Isolation::Process));
        assert_eq!(Isolation::parse("process"), Some(Isolation::Process));
        assert_eq!(Isolation::parse("bogus"), None);
        let d = tempfile::tempdir().unwrap();
        let c = VmConfig {
            vmm: "qemu".into(),
            binary: "qemu-system-x86_64".into(),
            kernel: "/k".into(),
            initrd: "/i".into(),
            firmware: None,
            accel: Accel::Tcg,
            cpu: None,
            memory_mib: 256,
            cpus: 1,
            sandbox: true,
            boot_timeout_ms: 1000,
            cmdline: String::new(),
        };
        write_config(d.path(), &c).unwrap();
        assert_eq!(read_config(d.path()).unwrap(), c);
    }
}
