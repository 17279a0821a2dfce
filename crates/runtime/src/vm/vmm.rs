//! The VMM behind a small trait. A VMM turns a [`VmSpec`] into the command that
//! runs the VM; the caller (the container's shim) owns the process: it passes the
//! control socket and tap fds, drops privileges, and waits for it.
//!
//! [`Qemu`] drives QEMU's `microvm` machine: no firmware, no PCI, virtio-mmio
//! devices described in ACPI (so a stock distribution kernel finds them), PVH
//! direct boot of a `vmlinux`. About 70 ms from launch to guest code under KVM.
//! A Cloud Hypervisor backend would implement the same trait (its virtio-fs needs
//! virtiofsd instead of 9p, and it has no TCG).

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::process::Command;

use super::{Accel, VmConfig};

/// A directory of the host shared with the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostShare {
    /// Mount tag (≤ 31 bytes).
    pub tag: String,
    /// Host directory.
    pub path: PathBuf,
    /// Refuse writes.
    pub readonly: bool,
}

/// A network interface of the guest, backed by an open tap fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tap {
    /// The tap's fd, open in the caller and inherited by the VMM.
    pub fd: RawFd,
    /// The guest interface's MAC.
    pub mac: String,
}

/// Everything one VM needs.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Settings from the daemon.
    pub config: VmConfig,
    /// Connected stream socket for the agent's control port (inherited fd).
    pub control_fd: RawFd,
    /// Shares.
    pub shares: Vec<HostShare>,
    /// Network interfaces.
    pub taps: Vec<Tap>,
    /// File for the guest's serial console (relative to the VMM's cwd or absolute).
    pub console_log: PathBuf,
}

/// A virtual machine monitor.
pub trait Vmm {
    /// Its name (`qemu`).
    fn name(&self) -> &'static str;
    /// The command that boots `spec` (stdio and fds are the caller's business).
    fn command(&self, spec: &VmSpec) -> Command;
}

/// The VMM for a config.
pub fn for_config(cfg: &VmConfig) -> Option<Box<dyn Vmm>> {
    match cfg.vmm.as_str() {
        "qemu" | "" => Some(Box::new(Qemu)),
        _ => None,
    }
}

/// Kernel command line of every guest: the serial console, no reboot loop on
/// panic, and the agent's port. Under TCG the TSC calibration against the PIT
/// never finishes on `microvm`, so its result is given.
pub fn cmdline(cfg: &VmConfig) -> String {
    let mut c = String::from("console=ttyS0 panic=-1 quiet loglevel=3 berth.port=ctl");
    if cfg.accel == Accel::Tcg {
        c.push_str(" tsc_early_khz=2300000 no_timer_check lpj=4600000");
    }
    if !cfg.cmdline.is_empty() {
        c.push(' ');
        c.push_str(&cfg.cmdline);
    }
    c
}

/// QEMU `microvm`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Qemu;

/// Escape a value for QEMU's `key=value,…` option syntax (a comma is doubled).
fn q(s: &str) -> String {
    s.replace(',', ",,")
}

impl Vmm for Qemu {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn command(&self, spec: &VmSpec) -> Command {
        let cfg = &spec.config;
        let mut c = Command::new(&cfg.binary);
        let cpu = cfg.cpu.as_deref().unwrap_or(match cfg.accel {
            Accel::Kvm => "host",
            Accel::Tcg => "max",
        });
        c.args(["-accel", cfg.accel.as_str(), "-cpu", cpu]);
        c.args(["-M", "microvm,x-option-roms=off"]);
        c.arg("-m").arg(format!("{}M", cfg.memory_mib.max(64)));
        c.arg("-smp").arg(cfg.cpus.max(1).to_string());
        c.args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ]);
        c.arg("-serial")
            .arg(format!("file:{}", q(&spec.console_log.to_string_lossy())));
        if let Some(fw) = &cfg.firmware {
            c.arg("-bios").arg(fw);
        }
        c.arg("-kernel").arg(&cfg.kernel);
        c.arg("-initrd").arg(&cfg.initrd);
        c.arg("-append").arg(cmdline(cfg));
        c.args(["-device", "virtio-serial-device,max_ports=2"]);
        c.arg("-chardev")
            .arg(format!("socket,id=ctl,fd={}", spec.control_fd));
        c.args(["-device", "virtserialport,chardev=ctl,name=ctl"]);
        for (i, s) in spec.shares.iter().enumerate() {
            let ro = if s.readonly { ",readonly=on" } else { "" };
            c.arg("-fsdev").arg(format!(
                "local,id=fs{i},path={},security_model=passthrough{ro}",
                q(&s.path.to_string_lossy())
            ));
            c.arg("-device").arg(format!(
                "virtio-9p-device,fsdev=fs{i},mount_tag={}",
                q(&s.tag)
            ));
        }
        for (i, t) in spec.taps.iter().enumerate() {
            // No vhost-net: the fd is a plain tap (no vnet header), and many hosts
            // (this one) have no /dev/vhost-net.
            c.arg("-netdev")
                .arg(format!("tap,id=n{i},fd={},vhost=off", t.fd));
            c.arg("-device")
                .arg(format!("virtio-net-device,netdev=n{i},mac={}", q(&t.mac)));
        }
        if cfg.sandbox {
            c.args([
                "-sandbox",
                "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            ]);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_command_line() {
        let cfg = VmConfig {
            vmm: "qemu".into(),
            binary: "/usr/bin/qemu-system-x86_64".into(),
            kernel: "/k/vmlinux".into(),
            initrd: "/k/init.cpio".into(),
            firmware: None,
            accel: Accel::Tcg,
            cpu: None,
            memory_mib: 256,
            cpus: 1,
            sandbox: true,
            boot_timeout_ms: 1000,
            cmdline: String::new(),
        };
        let spec = VmSpec {
            config: cfg,
            control_fd: 5,
            shares: vec![HostShare {
                tag: "rootfs".into(),
                path: "/a,b".into(),
                readonly: false,
            }],
            taps: vec![Tap {
                fd: 7,
                mac: "02:42:0a:00:00:02".into(),
            }],
            console_log: "console.log".into(),
        };
        let c = for_config(&spec.config).unwrap().command(&spec);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-accel tcg -cpu max"));
        assert!(joined.contains("socket,id=ctl,fd=5"));
        assert!(joined.contains("path=/a,,b,security_model=passthrough"));
        assert!(joined.contains("tap,id=n0,fd=7,vhost=off"));
        assert!(joined.contains("tsc_early_khz="));
        assert!(joined.contains("-sandbox on"));
    }
}
