//! Test harness: a busybox rootfs and an exec root in a temp dir, the real
//! `berth-shim` binary, and containers that are deleted even when a test fails.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_runtime::client::{ShimHandle, ShimRunner, SpawnOptions};
use berth_runtime::layout::{LogConfig, LogDriver, RuntimeKind};
use berth_runtime::proto::{AttachReq, StreamId};
use berth_runtime::spec::{self, ContainerSpec};

pub const RUNTIMES: [RuntimeKind; 2] = [RuntimeKind::Youki, RuntimeKind::Runc];

pub struct Env {
    pub dir: tempfile::TempDir,
    pub rootfs: PathBuf,
    pub runner: ShimRunner,
    pub runtime: RuntimeKind,
}

fn unique_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t{:08x}{}{:02}",
        t ^ std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        0
    )
}

/// A busybox-static root filesystem.
pub fn make_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "sbin"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    if std::fs::hard_link("/bin/busybox", root.join("bin/busybox")).is_err() {
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    }
    let out = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8(out.stdout).unwrap().lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    root
}

impl Env {
    pub fn new(runtime: RuntimeKind) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("bs")
            .tempdir_in("/tmp")
            .unwrap();
        let rootfs = make_rootfs(dir.path());
        let runner = ShimRunner::new(env!("CARGO_BIN_EXE_berth-shim"), dir.path().join("x"));
        Env {
            dir,
            rootfs,
            runner,
            runtime,
        }
    }

    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        let id = unique_id();
        ContainerSpec {
            cgroups_path: format!("/berth-test/{id}"),
            id,
            rootfs: self.rootfs.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
            hostname: "test".into(),
            ..ContainerSpec::default()
        }
    }

    pub async fn create(&self, c: &ContainerSpec) -> Ctr {
        self.create_with_log(c, LogDriver::JsonFile).await
    }

    pub async fn create_with_log(&self, c: &ContainerSpec, driver: LogDriver) -> Ctr {
        let built = spec::build(c).unwrap();
        let bundle = self.dir.path().join("bundles").join(&c.id);
        spec::write_bundle(&bundle, &built.spec).unwrap();
        let log = LogConfig::with_defaults(
            driver,
            self.dir.path().join("logs").join(format!("{}.log", c.id)),
        );
        let opts = SpawnOptions {
            id: c.id.clone(),
            bundle,
            runtime: self.runtime,
            runc_path: None,
            tty: c.tty,
            stdin: c.open_stdin,
            log: log.clone(),
        };
        let h = self
            .runner
            .spawn(&opts)
            .await
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.runtime));
        Ctr {
            h,
            log,
            cgroup: c.cgroups_path.clone(),
            deleted: false,
        }
    }
}

pub struct Ctr {
    pub h: ShimHandle,
    pub log: LogConfig,
    pub cgroup: String,
    pub deleted: bool,
}

impl Ctr {
    pub async fn delete(mut self) {
        self.h.delete(true).await.unwrap();
        self.deleted = true;
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Synchronous forced delete so a failing test leaves no shim or cgroup behind.
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(self.h.dir().join("ctl.sock")) {
            let _ = s.write_all(b"{\"v\":1,\"op\":\"delete\",\"force\":true}\n");
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
        }
    }
}

/// Collect all output of an attach as (stdout, stderr).
pub async fn collect(a: &mut berth_runtime::client::AttachOutput) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some((s, b)) = a.next().await.unwrap() {
        match s {
            StreamId::Stderr => err.extend_from_slice(&b),
            _ => out.extend_from_slice(&b),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

pub fn all_streams() -> AttachReq {
    AttachReq {
        exec_id: None,
        stdin: false,
        stdout: true,
        stderr: true,
    }
}

/// Run `args` to completion with output attached: (exit code, stdout, stderr).
pub async fn run(env: &Env, c: &ContainerSpec) -> (i32, String, String) {
    let ctr = env.create(c).await;
    let mut a = ctr.h.attach(all_streams()).await.unwrap();
    ctr.h.start().await.unwrap();
    let (out, err) = collect(&mut a.output).await;
    let st = ctr.h.wait().await.unwrap();
    ctr.delete().await;
    (st.code, out, err)
}

/// The fields of `/proc/<pid>/stat` after the command name: `[state, ppid, pgrp,
/// session, ...]`; `None` once the process is gone.
pub fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit(')').next()?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}
