//! berth-init: the tiny init for `docker run --init` (mounted at /sbin/docker-init).
//!
//! It runs `cmd...` (given after `--`), forwards every signal it receives to it, reaps
//! every zombie re-parented to it, and exits with the child's status (128 + signal when
//! the child was killed). It is built by `build.rs` as a static executable because it
//! runs inside images that have no libc (busybox-static, scratch).
//!
//! Only std is available (build.rs compiles this file alone with rustc), so the few
//! libc calls std does not wrap are declared here.

use std::process::Command;

/// glibc's `sigset_t` is 1024 bits.
#[repr(C)]
struct SigSet([u64; 16]);

/// `siginfo_t` is 128 bytes; only `si_signo` (the first int) is read.
#[repr(C)]
struct SigInfo([i32; 32]);

unsafe extern "C" {
    fn sigfillset(set: *mut SigSet) -> i32;
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn sigwaitinfo(set: *const SigSet, info: *mut SigInfo) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIG_BLOCK: i32 = 0;
const WNOHANG: i32 = 1;
const SIGCHLD: i32 = 17;

fn decode(status: i32) -> i32 {
    let sig = status & 0x7f;
    if sig == 0 { (status >> 8) & 0xff } else { 128 + sig }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("berth-init: usage: berth-init -- command [args...]");
        std::process::exit(1);
    }
    let mut all = SigSet([0; 16]);
    // SAFETY: `all` is a valid, writable sigset_t-sized buffer.
    unsafe {
        sigfillset(&mut all);
        sigprocmask(SIG_BLOCK, &all, std::ptr::null_mut());
    }
    // std resets the signal mask and SIGPIPE in the child before exec.
    let child = match Command::new(&args[0]).args(&args[1..]).spawn() {
        Ok(c) => c.id() as i32,
        Err(e) => {
            eprintln!("berth-init: exec {}: {e}", args[0]);
            std::process::exit(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    loop {
        let mut info = SigInfo([0; 32]);
        // SAFETY: both pointers refer to live buffers of the sizes glibc expects.
        let sig = unsafe { sigwaitinfo(&all, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig != SIGCHLD {
            // SAFETY: kill has no memory effects.
            unsafe { kill(child, sig) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: `status` is a live int.
            let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                std::process::exit(decode(status));
            }
        }
    }
}
