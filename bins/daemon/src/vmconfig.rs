//! VM isolation settings: daemon.json keys and flags (`default-isolation`,
//! `vm-qemu`, `vm-kernel`, `vm-initrd`, `vm-pvm-kernel`, `vm-memory`, `vm-cpus`,
//! `vm-boot-timeout`). Flags win over the file.

use std::path::PathBuf;

use anyhow::{Result, bail};
use berth_engine::config::VmSettings;
use serde::Deserialize;

/// The daemon.json keys (flattened into the file's config).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct VmFile {
    default_isolation: Option<String>,
    vm_qemu: Option<PathBuf>,
    vm_kernel: Option<PathBuf>,
    vm_initrd: Option<PathBuf>,
    vm_pvm_kernel: Option<PathBuf>,
    vm_memory: Option<u32>,
    vm_cpus: Option<u32>,
    vm_boot_timeout: Option<serde_json::Value>,
}

/// The flags (flattened into berthd's).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct VmFlags {
    /// Isolation of containers that ask for none: process or hyperv (a VM each).
    #[arg(long = "default-isolation")]
    pub default_isolation: Option<String>,
    /// QEMU binary for VM isolation (default: qemu-system-x86_64 on PATH).
    #[arg(long = "vm-qemu")]
    pub vm_qemu: Option<PathBuf>,
    /// Guest kernel for VM isolation, a PVH vmlinux (scripts/vm/kernel-debian.sh).
    #[arg(long = "vm-kernel")]
    pub vm_kernel: Option<PathBuf>,
    /// Guest initramfs with berth's agent (default: built on first use).
    #[arg(long = "vm-initrd")]
    pub vm_initrd: Option<PathBuf>,
    /// PVM guest kernel, used with KVM on PVM hosts.
    #[arg(long = "vm-pvm-kernel")]
    pub vm_pvm_kernel: Option<PathBuf>,
    /// Guest memory in MiB for containers without a memory limit.
    #[arg(long = "vm-memory")]
    pub vm_memory: Option<u32>,
    /// vCPUs for containers without a CPU limit.
    #[arg(long = "vm-cpus")]
    pub vm_cpus: Option<u32>,
    /// How long a guest may take to boot (e.g. 30s).
    #[arg(long = "vm-boot-timeout")]
    pub vm_boot_timeout: Option<String>,
}

/// Merge the file and the flags.
pub fn resolve(flags: &VmFlags, file: &VmFile) -> Result<VmSettings> {
    let default_isolation = flags
        .default_isolation
        .clone()
        .or(file.default_isolation.clone())
        .unwrap_or_default();
    if !matches!(
        default_isolation.to_ascii_lowercase().as_str(),
        "" | "default" | "process" | "hyperv" | "vm"
    ) {
        bail!("invalid default-isolation {default_isolation:?}: use process or hyperv");
    }
    let timeout = match (&flags.vm_boot_timeout, &file.vm_boot_timeout) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(serde_json::Value::String(s))) => Some(s.clone()),
        (None, Some(serde_json::Value::Number(n))) => Some(format!("{n}s")),
        (None, Some(other)) => bail!("invalid vm-boot-timeout {other}"),
        (None, None) => None,
    };
    let boot_timeout = match timeout {
        Some(t) => {
            let secs: f64 = t
                .trim_end_matches('s')
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid vm-boot-timeout {t:?}"))?;
            if !secs.is_finite() || secs <= 0.0 {
                bail!("invalid vm-boot-timeout {t:?}");
            }
            Some(std::time::Duration::from_secs_f64(secs))
        }
        None => None,
    };
    Ok(VmSettings {
        default_isolation,
        qemu: flags.vm_qemu.clone().or(file.vm_qemu.clone()),
        kernel: flags.vm_kernel.clone().or(file.vm_kernel.clone()),
        initrd: flags.vm_initrd.clone().or(file.vm_initrd.clone()),
        pvm_kernel: flags.vm_pvm_kernel.clone().or(file.vm_pvm_kernel.clone()),
        memory_mib: flags.vm_memory.or(file.vm_memory),
        cpus: flags.vm_cpus.or(file.vm_cpus),
        boot_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_flags() {
        let file: VmFile = serde_json::from_str(
            r#"{"default-isolation":"hyperv","vm-kernel":"/k","vm-boot-timeout":20}"#,
        )
        .unwrap();
        let flags = VmFlags {
            vm_kernel: Some("/flag".into()),
            ..Default::default()
        };
        let s = resolve(&flags, &file).unwrap();
        assert_eq!(s.default_isolation, "hyperv");
        assert_eq!(s.kernel, Some(PathBuf::from("/flag")));
        assert_eq!(s.boot_timeout, Some(std::time::Duration::from_secs(20)));
        let bad = VmFlags {
            default_isolation: Some("bogus".into()),
            ..Default::default()
        };
        assert!(resolve(&bad, &VmFile::default()).is_err());
    }
}
