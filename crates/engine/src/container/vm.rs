//! VM isolation on the engine side: which containers run in a VM, what this
//! host offers (probed once: QEMU, accelerator, guest kernel), the guest's
//! initramfs (built on first use under `<data-root>/vm/`), and the `vm.json` a VM
//! container's bundle carries for its shim. `docker info` reports the probe.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use berth_core::{Error, Result};
use berth_runtime::vm::{self, Accel, Isolation, VmConfig, probe};

use super::ConfigRecord;
use crate::Engine;
use crate::config::{DEFAULT_VM_KERNEL, VmSettings};

/// What the host offers VM isolation.
#[derive(Debug, Clone)]
pub struct VmProbe {
    /// The VMM binary.
    pub qemu: Option<PathBuf>,
    /// The guest kernel.
    pub kernel: Option<PathBuf>,
    /// Its modules directory, for a modular kernel.
    pub modules: Option<PathBuf>,
    /// Firmware (PVM guests boot through qboot).
    pub firmware: Option<PathBuf>,
    /// Accelerator.
    pub accel: Accel,
    /// Why the accelerator is not KVM.
    pub accel_note: Option<String>,
    /// QEMU has its seccomp sandbox.
    pub sandbox: bool,
    /// Why VM isolation cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// Engine state of VM isolation: the probe and the built initramfs.
#[derive(Debug, Default)]
pub struct VmState {
    probe: OnceLock<VmProbe>,
    initrd: tokio::sync::Mutex<Option<PathBuf>>,
}

/// Probe the host for `s`.
pub fn probe_host(s: &VmSettings) -> VmProbe {
    let kvm = probe::kvm();
    let pvm_kernel = s.pvm_kernel.clone().filter(|p| p.is_file());
    let (accel, accel_note) = probe::accel(kvm, pvm_kernel.is_some());
    let qemu = match &s.qemu {
        Some(q) => probe::find_binary(&q.to_string_lossy()),
        None => probe::find_binary("qemu-system-x86_64"),
    };
    let kernel = match (kvm, &pvm_kernel) {
        (probe::Kvm::Pvm, Some(k)) => k.clone(),
        _ => s
            .kernel
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_VM_KERNEL)),
    };
    let mut problem = None;
    if qemu.is_none() {
        problem = Some(match &s.qemu {
            Some(q) => format!("the VMM {} was not found", q.display()),
            None => "qemu-system-x86_64 was not found (apt-get install qemu-system-x86)".into(),
        });
    } else if !probe::is_elf(&kernel) {
        problem = Some(format!(
            "no guest kernel (a PVH vmlinux) at {} (run scripts/vm/kernel-debian.sh, or set vm-kernel)",
            kernel.display()
        ));
    } else if let Some(i) = s.initrd.as_ref().filter(|i| !i.is_file()) {
        problem = Some(format!("vm-initrd {} does not exist", i.display()));
    }
    let modules = kernel
        .parent()
        .map(|d| d.join("modules"))
        .filter(|m| m.join("modules.order").is_file());
    let firmware = (kvm == probe::Kvm::Pvm && accel == Accel::Kvm)
        .then(|| PathBuf::from("/usr/share/qemu/qboot.rom"))
        .filter(|p| p.is_file());
    let sandbox = qemu.as_deref().is_some_and(probe::qemu_sandbox);
    VmProbe {
        qemu,
        kernel: Some(kernel),
        modules,
        firmware,
        accel,
        accel_note,
        sandbox,
        problem,
    }
}

/// A cache key for the initramfs: the agent and the modules it packs.
fn initrd_key(modules: Option<&Path>) -> String {
    let mut h = std::hash::DefaultHasher::new();
    berth_vm_agent_bytes().hash(&mut h);
    if let Some(dir) = modules {
        let order = std::fs::read_to_string(dir.join("modules.order")).unwrap_or_default();
        order.hash(&mut h);
        for m in order.lines() {
            std::fs::read(dir.join(m.trim()))
                .unwrap_or_default()
                .hash(&mut h);
        }
    }
    format!("{:016x}", h.finish())
}

/// Host processes in a container's cgroup (for a VM: its supervisor and VMM).
pub fn cgroup_pids(id: &str) -> std::collections::HashSet<i64> {
    ["pids", "memory", "cpu"]
        .iter()
        .find_map(|c| std::fs::read_to_string(super::cgroup::dir(c, id).join("cgroup.procs")).ok())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn berth_vm_agent_bytes() -> &'static [u8] {
    berth_runtime::vm::initramfs::AGENT
}

impl Engine {
    /// The VM probe (run once).
    pub fn vm_probe(&self) -> &VmProbe {
        self.vm.probe.get_or_init(|| probe_host(&self.config.vm))
    }

    /// The isolation a container runs with: its own, else the daemon's default.
    pub fn isolation_of(&self, rec: &ConfigRecord) -> Result<Isolation> {
        let own = rec.host_config.isolation.as_str();
        let v = if matches!(own, "" | "default") {
            self.config.vm.default_isolation.as_str()
        } else {
            own
        };
        Isolation::parse(v).ok_or_else(|| Error::invalid(format!("invalid isolation: {v:?}")))
    }

    /// Refuse VM isolation early when the host cannot do it.
    pub fn check_vm_available(&self) -> Result<()> {
        match &self.vm_probe().problem {
            Some(p) => Err(Error::invalid(format!(
                "VM isolation is not available: {p}"
            ))),
            None => Ok(()),
        }
    }

    /// The initramfs: configured, or built once per agent and module set.
    async fn vm_initrd(&self) -> Result<PathBuf> {
        if let Some(i) = &self.config.vm.initrd {
            return Ok(i.clone());
        }
        let mut cached = self.vm.initrd.lock().await;
        if let Some(p) = cached.as_ref().filter(|p| p.is_file()) {
            return Ok(p.clone());
        }
        let modules = self.vm_probe().modules.clone();
        let dir = self.config.data_root.join("vm");
        let out = tokio::task::spawn_blocking(move || -> Result<PathBuf> {
            let out = dir.join(format!("initramfs-{}.cpio", initrd_key(modules.as_deref())));
            if !out.is_file() {
                vm::initramfs::build(&out, berth_vm_agent_bytes(), modules.as_deref())?;
                // Older builds (another agent or module set) are of no use.
                if let Ok(rd) = std::fs::read_dir(&dir) {
                    for e in rd.flatten() {
                        let n = e.file_name().to_string_lossy().into_owned();
                        if n.starts_with("initramfs-") && e.path() != out {
                            let _ = std::fs::remove_file(e.path());
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| Error::internal(format!("build initramfs: {e}")))??;
        *cached = Some(out.clone());
        Ok(out)
    }

    /// `vm.json` for a VM container: the host's VM, sized by the container's limits.
    pub async fn vm_config(&self, rec: &ConfigRecord) -> Result<VmConfig> {
        self.check_vm_available()?;
        let hc = &rec.host_config;
        if hc.network_mode == "host" || hc.network_mode.starts_with("container:") {
            return Err(Error::invalid(format!(
                "VM isolation does not support --network {}: a VM has its own network stack",
                hc.network_mode
            )));
        }
        let p = self.vm_probe().clone();
        let s = &self.config.vm;
        let res = &hc.resources;
        let memory_mib = if res.memory > 0 {
            ((res.memory >> 20) as u32).max(128)
        } else {
            s.memory_mib.unwrap_or(512)
        };
        let period = if res.cpu_period > 0 {
            res.cpu_period as u64
        } else {
            100_000
        };
        let cpus = if res.nano_cpus > 0 {
            (res.nano_cpus as u64).div_ceil(1_000_000_000) as u32
        } else if res.cpu_quota > 0 {
            (res.cpu_quota as u64).div_ceil(period) as u32
        } else {
            s.cpus.unwrap_or(1)
        };
        let boot = s.boot_timeout.unwrap_or(match p.accel {
            Accel::Kvm => Duration::from_secs(15),
            Accel::Tcg => Duration::from_secs(90),
        });
        Ok(VmConfig {
            vmm: "qemu".into(),
            binary: p.qemu.clone().unwrap_or_default(),
            kernel: p.kernel.clone().unwrap_or_default(),
            initrd: self.vm_initrd().await?,
            firmware: p.firmware.clone(),
            accel: p.accel,
            // PVM's KVM refuses IA32_ARCH_CAPABILITIES (MSR 0x10a) of `-cpu host`.
            cpu: (p.accel == Accel::Kvm && probe::kvm() == probe::Kvm::Pvm)
                .then(|| "host,-arch-capabilities".to_string()),
            memory_mib,
            cpus: cpus.max(1),
            sandbox: p.sandbox,
            boot_timeout_ms: boot.as_millis() as u64,
            cmdline: String::new(),
        })
    }

    /// `docker info`'s `Isolation` and VM lines for `Warnings`.
    pub fn vm_info(&self) -> (String, Vec<String>) {
        let s = &self.config.vm;
        let default = match Isolation::parse(&s.default_isolation) {
            Some(Isolation::Vm) => "hyperv",
            _ => "",
        };
        let p = self.vm_probe();
        // Hosts without QEMU that never asked for VMs hear nothing about them.
        let relevant = p.qemu.is_some() || !default.is_empty() || s.kernel.is_some();
        let mut warnings = Vec::new();
        if relevant {
            match (&p.problem, &p.accel_note) {
                (Some(why), _) => warnings.push(format!("WARNING: VM isolation (--isolation=hyperv) is not available: {why}")),
                (None, Some(why)) => warnings.push(format!(
                    "WARNING: VM isolation (--isolation=hyperv) runs under TCG software emulation, several times slower than KVM: {why}"
                )),
                (None, None) => {}
            }
        }
        (default.to_string(), warnings)
    }
}
