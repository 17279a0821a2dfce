//! What this host offers VM isolation: the VMM binary, the accelerator, QEMU's
//! seccomp sandbox, a guest kernel. `docker info` reports the result.
//!
//! The accelerator: `/dev/kvm` with a VT-x/AMD-V module (`kvm_intel`, `kvm_amd`)
//! runs any guest kernel. `/dev/kvm` of PVM (`kvm_pvm`, "pagetable-based virtual
//! machine", e.g. inside a Firecracker guest) runs guest user mode natively but
//! kernel mode only for a PVM-enabled guest kernel; a stock kernel stops in KVM's
//! instruction emulator. So PVM needs a configured PVM guest kernel, and everything
//! else falls back to TCG (software emulation: works everywhere, several times
//! slower).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Accel;

/// What kind of `/dev/kvm` the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kvm {
    /// No usable `/dev/kvm`.
    None,
    /// VT-x or AMD-V.
    Hardware,
    /// PVM.
    Pvm,
}

/// Inspect `/dev/kvm` and the KVM modules.
pub fn kvm() -> Kvm {
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !usable {
        return Kvm::None;
    }
    let m = |n: &str| Path::new("/sys/module").join(n).exists();
    if m("kvm_pvm") {
        return Kvm::Pvm;
    }
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let hw_flag = flags
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if m("kvm_intel") || m("kvm_amd") || hw_flag {
        Kvm::Hardware
    } else {
        Kvm::None
    }
}

/// The accelerator to use, and why it is not KVM when it is not.
pub fn accel(kvm: Kvm, pvm_kernel: bool) -> (Accel, Option<String>) {
    match (kvm, pvm_kernel) {
        (Kvm::Hardware, _) | (Kvm::Pvm, true) => (Accel::Kvm, None),
        (Kvm::Pvm, false) => (
            Accel::Tcg,
            Some(
                "/dev/kvm is PVM, which runs only PVM guest kernels and none is configured (vm-pvm-kernel)"
                    .into(),
            ),
        ),
        (Kvm::None, _) => (Accel::Tcg, Some("no usable /dev/kvm".into())),
    }
}

/// `name` on `PATH`, or `name` itself when it contains a slash and exists.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether this QEMU accepts `-sandbox on` (built with seccomp).
pub fn qemu_sandbox(qemu: &Path) -> bool {
    Command::new(qemu)
        .args(["-sandbox", "on", "-version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Is `p` an ELF file (a `vmlinux`, not a bzImage)?
pub fn is_elf(p: &Path) -> bool {
    use std::io::Read;
    let mut b = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
        && b == *b"\x7fELF"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accel_choice() {
        assert_eq!(accel(Kvm::Hardware, false).0, Accel::Kvm);
        assert_eq!(accel(Kvm::Pvm, true).0, Accel::Kvm);
        let (a, why) = accel(Kvm::Pvm, false);
        assert_eq!(a, Accel::Tcg);
        assert!(why.unwrap().contains("PVM"));
        assert_eq!(accel(Kvm::None, true).0, Accel::Tcg);
        assert!(find_binary("sh").is_some());
        assert!(find_binary("no-such-binary-here").is_none());
        assert!(!is_elf(Path::new("/etc/hostname")));
    }
}
