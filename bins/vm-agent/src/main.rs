//! berth-vm-agent: PID 1 of a berth VM guest (`--isolation=hyperv`).
//!
//! It boots the guest's user space (kernel filesystems, the modules packed into the
//! initramfs, a tmpfs root so containers can `pivot_root`), opens the virtio-serial
//! port `ctl`, says `Ready`, and then serves the host's requests in the protocol of
//! [`proto`]: mount the shared root filesystem and volumes, configure the network,
//! run the container's init and execs with their stdio, signals and terminal
//! sizes, relay DNS, and power the VM off at the end.
//!
//! It is built as a static executable by `build.rs` (glibc with `crt-static`; the
//! guest has no libc) and embedded into the host side through the package's
//! library, which packs it into the initramfs. Only std is available, so the few
//! libc calls it needs are declared in [`sys`].

mod agent;
mod boot;
mod net;
#[allow(dead_code)] // the host half of the protocol is unused in the guest
mod proto;
mod spawn;
mod sys;

use std::io;
use std::time::Duration;

fn main() {
    if std::process::id() != 1 {
        eprintln!("berth-vm-agent: this is the init of a berth VM guest; it runs only as PID 1");
        std::process::exit(2);
    }
    boot::console();
    if let Err(e) = run() {
        eprintln!("berth-vm-agent: {e}");
    }
    boot::power_off()
}

fn run() -> io::Result<()> {
    let modules = boot::load_modules()?;
    switch_root()?;
    boot::mount_basics()?;
    let port_name = boot::cmdline("berth.port").unwrap_or_else(|| "ctl".into());
    let port = boot::open_port(&port_name, Duration::from_secs(20))?;
    let sigfd = agent::sigchld_fd()?;
    let mut a = agent::Agent::new(port, sigfd)?;
    let ready = proto::Ready {
        version: proto::VERSION,
        kernel: sys::kernel_release(),
        uptime_ms: boot::uptime_ms(),
    };
    a.send(proto::Kind::Ready, 0, ready.encode())?;
    let _ = modules;
    a.serve()
}

/// Move from the initramfs (the kernel's `rootfs`, which `pivot_root` cannot leave)
/// onto a tmpfs, as `switch_root` does.
fn switch_root() -> io::Result<()> {
    let new = "/newroot";
    std::fs::create_dir_all(new)?;
    sys::do_mount("tmpfs", new, "tmpfs", 0, "mode=0755")?;
    for d in ["proc", "sys", "dev", "run", "tmp", "shares", "rootfs"] {
        std::fs::create_dir_all(format!("{new}/{d}"))?;
    }
    // The modules are loaded; their files would only hold memory.
    let _ = std::fs::remove_dir_all("/modules");
    let n = sys::cstr(new)?;
    let dot = sys::cstr(".")?;
    let slash = sys::cstr("/")?;
    // SAFETY: live C strings; this is the classic switch_root sequence.
    unsafe {
        sys::check(sys::chdir(n.as_ptr()), "chdir /newroot")?;
        sys::check(
            sys::mount(
                dot.as_ptr(),
                slash.as_ptr(),
                std::ptr::null(),
                sys::MS_MOVE,
                std::ptr::null(),
            ),
            "move root",
        )?;
        sys::check(sys::chroot(dot.as_ptr()), "chroot")?;
        sys::check(sys::chdir(slash.as_ptr()), "chdir /")?;
    }
    Ok(())
}
