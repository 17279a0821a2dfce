//! Early boot as PID 1: the kernel's filesystems, the modules the host packed into
//! the initramfs, and the control port.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::sys;

/// The kernel filesystems of the agent's own namespace.
pub fn mount_basics() -> io::Result<()> {
    let _ = std::fs::create_dir_all("/proc");
    sys::do_mount(
        "proc",
        "/proc",
        "proc",
        sys::MS_NOSUID | sys::MS_NODEV | sys::MS_NOEXEC,
        "",
    )?;
    let _ = std::fs::create_dir_all("/sys");
    sys::do_mount(
        "sysfs",
        "/sys",
        "sysfs",
        sys::MS_NOSUID | sys::MS_NODEV | sys::MS_NOEXEC,
        "",
    )?;
    let _ = std::fs::create_dir_all("/dev");
    // Already mounted when the kernel has DEVTMPFS_MOUNT; EBUSY is fine then.
    let _ = sys::do_mount("devtmpfs", "/dev", "devtmpfs", sys::MS_NOSUID, "mode=0755");
    let _ = std::fs::create_dir_all("/dev/pts");
    // One devpts for the agent and the container: terminals the agent opens are
    // then visible as /dev/pts/N inside the container (see spawn::dev).
    sys::do_mount(
        "devpts",
        "/dev/pts",
        "devpts",
        sys::MS_NOSUID | sys::MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )?;
    let _ = std::fs::remove_file("/dev/ptmx");
    let _ = std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx");
    for d in ["/dev/shm", "/run", "/tmp"] {
        let _ = std::fs::create_dir_all(d);
        let _ = sys::do_mount(
            "tmpfs",
            d,
            "tmpfs",
            sys::MS_NOSUID | sys::MS_NODEV,
            "mode=1777",
        );
    }
    Ok(())
}

/// The initramfs's `/dev/console` for stdio, when the kernel did not open it.
pub fn console() {
    if let Ok(c) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors from an fd we hold.
            unsafe {
                sys::dup2(c.as_raw_fd(), fd);
            }
        }
    }
}

/// Load the modules listed in `/modules/modules.order` (dependencies first). A
/// module built into the kernel, or already loaded, is not an error.
pub fn load_modules() -> io::Result<usize> {
    let Ok(order) = std::fs::read_to_string("/modules/modules.order") else {
        return Ok(0);
    };
    let mut n = 0;
    for name in order.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = Path::new("/modules").join(name);
        let f = File::open(&path)?;
        let empty = c"";
        // SAFETY: finit_module reads the module from the fd; the params string is a
        // static empty C string.
        let rc = unsafe { sys::syscall(sys::SYS_FINIT_MODULE, f.as_raw_fd(), empty.as_ptr(), 0) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(17) {
                return Err(io::Error::new(e.kind(), format!("load {name}: {e}")));
            }
        }
        n += 1;
    }
    Ok(n)
}

/// Open the virtio-serial port named `name`, waiting for the driver to publish it.
pub fn open_port(name: &str, wait: Duration) -> io::Result<File> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(rd) = std::fs::read_dir("/sys/class/virtio-ports") {
            for e in rd.flatten() {
                let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
                if n.trim() == name {
                    let dev = Path::new("/dev").join(e.file_name());
                    if let Ok(f) = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&dev)
                    {
                        return Ok(f);
                    }
                }
            }
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no virtio port named {name}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Guest uptime in milliseconds.
pub fn uptime_ms() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|v| (v * 1000.0) as u64)
        .unwrap_or(0)
}

/// A `key=value` option of the kernel command line.
pub fn cmdline(key: &str) -> Option<String> {
    let line = std::fs::read_to_string("/proc/cmdline").ok()?;
    line.split_whitespace().find_map(|w| {
        w.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .map(str::to_string)
    })
}

/// Power off now (after syncing): the end of the VM.
pub fn power_off() -> ! {
    // SAFETY: sync and reboot take no pointers.
    unsafe {
        sys::sync();
        sys::reboot(sys::RB_POWER_OFF);
    }
    // reboot only returns on failure; PID 1 must not exit (kernel panic).
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
