//! berth-runtime: the low-level half of running containers, linked by the daemon.
//!
//! - [`spec`]: OCI runtime spec generation from a runtime-neutral [`spec::ContainerSpec`]
//!   with Docker's defaults (capabilities, seccomp, masked paths, devices, mounts,
//!   resources, rlimits).
//! - [`proto`]: the versioned shim protocol (JSON control lines, stdcopy-framed streams).
//! - [`client`]: the async client the daemon uses to spawn, reconnect to and drive
//!   `berth-shim` processes.
//! - [`logs`]: the container log formats (`json-file`, `local`) and their reader.
//! - [`layout`]: where shims keep their sockets and state under the exec root.
//! - [`prime`]: paying the cgroup-migration grace period before the runtime needs it.
//! - [`zygote`]: the forking server that starts shims without an exec each.
//! - [`vm`]: VM isolation's host half (VMM, accelerator probe, guest plan, initramfs).
//!
//! # Call sequences (daemon side)
//!
//! ```text
//! docker run -it:   spec::build(&ContainerSpec) -> spec::write_bundle(bundle)
//!                   runner.spawn(&SpawnOptions{tty, stdin, log, ..}) -> ShimHandle   (CREATED)
//!                   h.attach(AttachReq{stdin,stdout,stderr}) (before start: no output lost)
//!                   h.resize(None, w, h); h.start(); h.wait() -> ExitStatus; h.delete(false)
//! docker exec:      spec::exec::process(&spec, rootfs, &ExecSpec) -> Process (to JSON)
//!                   h.exec(ExecReq{exec_id, process, stdin, attach:true}) -> (pid, Attach)
//!                   h.wait_exec(exec_id) -> ExitStatus
//! daemon restart:   runner.list() -> ids; runner.connect(id) -> ShimHandle (or, if the
//!                   shim is gone, handle(id).exit_status() from the exit file)
//! docker logs:      logs::reader::read / follow(log path, driver, ReadOptions, stop)
//! ```
//!
//! This crate never links libcontainer: containers are created by `berth-shim`, one
//! process per container, so that no runtime code forks inside the multi-threaded
//! daemon and containers outlive daemon restarts.

pub mod error;
pub mod spec;

pub use error::{Result, RuntimeError};
pub mod client;
pub mod layout;
pub mod logs;
pub mod prime;
pub mod proto;
pub mod vm;
pub mod zygote;
