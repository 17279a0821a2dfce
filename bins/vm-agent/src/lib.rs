//! berth-vm-agent as a library for the host side of VM isolation: the wire
//! protocol ([`proto`]) and the guest agent itself as a static executable
//! ([`AGENT`]), which the daemon packs into the guest's initramfs.
//!
//! The agent (`src/main.rs`) is PID 1 of each container VM. `build.rs` compiles it
//! a second time with rustc alone (std only, glibc `crt-static`): the guest has no
//! libc, the musl target may be missing, and cargo cannot give one binary of a
//! package other target features. The `berth-vm-agent` binary cargo builds from the
//! same source is dynamically linked and only there so the workspace checks and
//! lints it.

pub mod proto;

/// The static agent executable (`/init` of the guest initramfs).
pub static AGENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-vm-agent"));
