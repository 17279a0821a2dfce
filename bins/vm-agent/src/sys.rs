//! The libc calls std does not wrap, declared by hand: the agent is built by
//! `build.rs` with rustc alone (static glibc), so it cannot use the `libc` crate.
//! x86_64 Linux values only (the guest kernel is x86_64).

#![allow(non_camel_case_types, dead_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;

/// `struct pollfd`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PollFd {
    /// fd.
    pub fd: i32,
    /// Requested events.
    pub events: i16,
    /// Returned events.
    pub revents: i16,
}

/// glibc's `sigset_t` (1024 bits).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SigSet(pub [u64; 16]);

/// `struct signalfd_siginfo` (128 bytes; only the signal number is read).
#[repr(C)]
pub struct SignalfdInfo {
    /// Signal number.
    pub signo: u32,
    rest: [u8; 124],
}

/// `struct winsize`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct WinSize {
    /// Rows.
    pub row: u16,
    /// Columns.
    pub col: u16,
    /// Unused.
    pub xpixel: u16,
    /// Unused.
    pub ypixel: u16,
}

/// `struct rlimit`.
#[repr(C)]
pub struct RLimit {
    /// Soft.
    pub cur: u64,
    /// Hard.
    pub max: u64,
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
pub struct CapHeader {
    /// `_LINUX_CAPABILITY_VERSION_3`.
    pub version: u32,
    /// 0: this process.
    pub pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CapData {
    /// Effective.
    pub effective: u32,
    /// Permitted.
    pub permitted: u32,
    /// Inheritable.
    pub inheritable: u32,
}

unsafe extern "C" {
    pub fn mount(
        source: *const i8,
        target: *const i8,
        fstype: *const i8,
        flags: u64,
        data: *const u8,
    ) -> i32;
    pub fn umount2(target: *const i8, flags: i32) -> i32;
    pub fn unshare(flags: i32) -> i32;
    pub fn setns(fd: i32, nstype: i32) -> i32;
    pub fn sethostname(name: *const u8, len: usize) -> i32;
    pub fn setdomainname(name: *const u8, len: usize) -> i32;
    pub fn syscall(n: i64, ...) -> i64;
    pub fn ioctl(fd: i32, req: u64, ...) -> i32;
    pub fn poll(fds: *mut PollFd, n: u64, timeout: i32) -> i32;
    pub fn sigemptyset(set: *mut SigSet) -> i32;
    pub fn sigaddset(set: *mut SigSet, sig: i32) -> i32;
    pub fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    pub fn signal(sig: i32, handler: usize) -> usize;
    pub fn signalfd(fd: i32, mask: *const SigSet, flags: i32) -> i32;
    pub fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    pub fn kill(pid: i32, sig: i32) -> i32;
    pub fn reboot(cmd: i32) -> i32;
    pub fn sync();
    pub fn setsid() -> i32;
    pub fn openpty(
        master: *mut i32,
        slave: *mut i32,
        name: *mut i8,
        termp: *const u8,
        winp: *const WinSize,
    ) -> i32;
    pub fn prctl(option: i32, a2: u64, a3: u64, a4: u64, a5: u64) -> i32;
    pub fn setgroups(n: usize, list: *const u32) -> i32;
    pub fn setresuid(r: u32, e: u32, s: u32) -> i32;
    pub fn setresgid(r: u32, e: u32, s: u32) -> i32;
    pub fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
    pub fn chdir(path: *const i8) -> i32;
    pub fn chroot(path: *const i8) -> i32;
    pub fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    pub fn pipe2(fds: *mut i32, flags: i32) -> i32;
    pub fn mknod(path: *const i8, mode: u32, dev: u64) -> i32;
    pub fn symlink(target: *const i8, link: *const i8) -> i32;
    pub fn socket(domain: i32, ty: i32, proto: i32) -> i32;
    pub fn close(fd: i32) -> i32;
    pub fn dup2(old: i32, new: i32) -> i32;
}

pub const SYS_PIVOT_ROOT: i64 = 155;
pub const SYS_FINIT_MODULE: i64 = 313;
pub const SYS_CAPSET: i64 = 126;

pub const MS_RDONLY: u64 = 1;
pub const MS_NOSUID: u64 = 2;
pub const MS_NODEV: u64 = 4;
pub const MS_NOEXEC: u64 = 8;
pub const MS_REMOUNT: u64 = 32;
pub const MS_MOVE: u64 = 8192;
pub const MS_BIND: u64 = 4096;
pub const MS_REC: u64 = 16384;
pub const MS_PRIVATE: u64 = 1 << 18;
pub const MS_SLAVE: u64 = 1 << 19;
pub const MNT_DETACH: i32 = 2;

pub const CLONE_NEWNS: i32 = 0x0002_0000;
pub const CLONE_NEWUTS: i32 = 0x0400_0000;
pub const CLONE_NEWIPC: i32 = 0x0800_0000;
pub const CLONE_NEWPID: i32 = 0x2000_0000;

pub const POLLIN: i16 = 1;
pub const POLLOUT: i16 = 4;
pub const POLLERR: i16 = 8;
pub const POLLHUP: i16 = 16;
pub const POLLNVAL: i16 = 32;

pub const SIG_BLOCK: i32 = 0;
pub const SIG_SETMASK: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGPIPE: i32 = 13;
pub const SIG_DFL: usize = 0;
pub const SIGCHLD: i32 = 17;
pub const SFD_NONBLOCK: i32 = 0o4000;
pub const SFD_CLOEXEC: i32 = 0o2000000;
pub const WNOHANG: i32 = 1;

pub const O_NONBLOCK: i32 = 0o4000;
pub const O_CLOEXEC: i32 = 0o2000000;
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;

pub const RB_POWER_OFF: i32 = 0x4321_fedc_u32 as i32;

pub const TIOCSWINSZ: u64 = 0x5414;
pub const TIOCSCTTY: u64 = 0x540E;

pub const PR_SET_KEEPCAPS: i32 = 8;
pub const PR_CAPBSET_DROP: i32 = 24;
pub const PR_SET_NO_NEW_PRIVS: i32 = 38;
pub const PR_CAP_AMBIENT: i32 = 47;
pub const PR_CAP_AMBIENT_RAISE: u64 = 2;
pub const CAP_VERSION_3: u32 = 0x2008_0522;
pub const CAP_LAST: u32 = 40;

pub const AF_INET: i32 = 2;
pub const AF_INET6: i32 = 10;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_CLOEXEC: i32 = 0o2000000;

pub const S_IFCHR: u32 = 0o020000;

/// The last OS error as `io::Error`, with `what` in front.
pub fn os_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// `rc` as a result.
pub fn check(rc: i32, what: &str) -> io::Result<()> {
    if rc < 0 { Err(os_err(what)) } else { Ok(()) }
}

/// A C string (paths and names never contain NUL; one that does is refused).
pub fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in string"))
}

/// `mount(2)`.
pub fn do_mount(src: &str, target: &str, fstype: &str, flags: u64, data: &str) -> io::Result<()> {
    let (s, t, f, d) = (cstr(src)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
    let fp: *const i8 = if fstype.is_empty() {
        std::ptr::null()
    } else {
        f.as_ptr()
    };
    let dp: *const u8 = if data.is_empty() {
        std::ptr::null()
    } else {
        d.as_ptr().cast()
    };
    // SAFETY: every pointer is a live NUL-terminated string or null.
    let rc = unsafe { mount(s.as_ptr(), t.as_ptr(), fp, flags, dp) };
    check(rc, &format!("mount {target}"))
}

/// Set or clear `O_NONBLOCK`.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd the caller holds; no memory is passed.
    let fl = unsafe { fcntl(fd, F_GETFL) };
    check(fl, "fcntl")?;
    let fl = if on {
        fl | O_NONBLOCK
    } else {
        fl & !O_NONBLOCK
    };
    // SAFETY: as above.
    check(unsafe { fcntl(fd, F_SETFL, fl) }, "fcntl")
}

/// A pipe with both ends close-on-exec: (read, write).
pub fn pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two ints into the array.
    check(unsafe { pipe2(fds.as_mut_ptr(), O_CLOEXEC) }, "pipe")?;
    // SAFETY: the kernel just gave us these two fds.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// `uname -r` from /proc.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Read a C string field.
pub fn from_cstr(b: &[u8]) -> String {
    CStr::from_bytes_until_nul(b)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}
