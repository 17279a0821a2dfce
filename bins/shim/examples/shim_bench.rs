//! Benchmark of the shim (run through `bench/shim.sh`, not a test).
//!
//! For each runtime it runs `true` N times and reports the median and p90 of
//! spawn→created (shim started, container created), created→started, started→exited
//! and the total; then it starts a `sleep` container and reports the idle shim's
//! memory from /proc/PID/smaps_rollup (Rss, Pss, Private_Clean, Private_Dirty).
//!
//! With `mem N` instead of an iteration count it starts N sleeping containers per
//! runtime at once (so the shims share their binary's pages, as on a real host) and
//! prints each shim's memory plus the mappings holding the first one's dirty pages.
//!
//! `hold` starts one sleeping container and keeps it until stdin closes.
//!
//! CPU per run is the CPU of the shim and the container (cgroup v1 `cpuacct` of a
//! `berth-bench` group holding the shims and the containers, minus the bench's own),
//! when that controller is mounted.
//!
//! Usage: shim_bench <berth-shim binary> [iterations [youki|runc [other berth-shim]] | mem N | hold]

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_runtime::client::{ShimRunner, SpawnOptions};
use berth_runtime::layout::{LogConfig, LogDriver, RuntimeKind};
use berth_runtime::spec::{self, ContainerSpec};

fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in ["sh", "true", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    root
}

const CPUACCT: &str = "/sys/fs/cgroup/cpuacct/berth-bench";

/// Move the bench into `berth-bench/driver` (v1 cpuacct), so the shims it starts
/// are charged to `berth-bench` (the containers' cgroups are under it too).
fn cpu_group() -> bool {
    let driver = Path::new(CPUACCT).join("driver");
    std::fs::create_dir_all(&driver).is_ok()
        && std::fs::write(driver.join("cgroup.procs"), "0").is_ok()
}

/// CPU of the group, and the bench's own (user+sys), in ns.
fn cpu_now() -> (u64, u64) {
    let group = std::fs::read_to_string(Path::new(CPUACCT).join("cpuacct.usage"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    // SAFETY: getrusage fills the struct we pass.
    let own = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        (us(ru.ru_utime) + us(ru.ru_stime)) * 1000
    };
    (group, own)
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "median {:7.2} ms  p90 {:7.2} ms",
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10])
    )
}

async fn create(
    runner: &ShimRunner,
    dir: &Path,
    root: &Path,
    rt: RuntimeKind,
    n: usize,
    args: &[&str],
) -> berth_runtime::client::ShimHandle {
    let id = format!("b{}{n}", rt.as_str());
    let c = ContainerSpec {
        id: id.clone(),
        rootfs: root.to_path_buf(),
        args: args.iter().map(|s| s.to_string()).collect(),
        cgroups_path: format!("/berth-bench/{id}"),
        ..ContainerSpec::default()
    };
    let bundle = dir.join("bundles").join(&id);
    spec::write_bundle(&bundle, &spec::build(&c).unwrap().spec).unwrap();
    let log = LogConfig::with_defaults(LogDriver::JsonFile, dir.join("logs").join(&id));
    let opts = SpawnOptions {
        id,
        bundle,
        runtime: rt,
        runc_path: None,
        tty: false,
        stdin: false,
        log,
    };
    runner.spawn(&opts).await.unwrap()
}

fn smaps(pid: i32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    s.lines()
        .filter(|l| {
            ["Rss:", "Pss:", "Private_Clean:", "Private_Dirty:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ") + " kB")
        .collect::<Vec<_>>()
        .join(", ")
}

/// Mappings of `pid` with the most Private_Dirty.
fn dirty_mappings(pid: i32) -> Vec<(u64, String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut out = Vec::new();
    let mut name = String::new();
    for l in s.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first()
            .is_some_and(|a| a.contains('-') && !a.ends_with(':'))
        {
            name = format!(
                "{} {}",
                f.get(1).unwrap_or(&""),
                f.get(5).unwrap_or(&"[anon]")
            );
        } else if f.first() == Some(&"Private_Dirty:") {
            let kb: u64 = f[1].parse().unwrap_or(0);
            if kb > 0 {
                out.push((kb, name.clone()));
            }
        }
    }
    out.sort_by(|a, b| b.cmp(a));
    out
}

async fn mem(runner: &ShimRunner, dir: &Path, root: &Path, n: usize) {
    for rt in [RuntimeKind::Youki, RuntimeKind::Runc] {
        let mut hs = Vec::new();
        for i in 0..n {
            let h = create(runner, dir, root, rt, 5000 + i, &["sleep", "1000"]).await;
            h.start().await.unwrap();
            hs.push(h);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!("{}: {n} idle shims", rt.as_str());
        for h in &hs {
            let pid = h.shim_pid().unwrap();
            println!("  pid {pid}: {}", smaps(pid));
        }
        let pid = hs[0].shim_pid().unwrap();
        for (kb, m) in dirty_mappings(pid).into_iter().take(8) {
            println!("    {kb:5} kB dirty  {m}");
        }
        for h in hs {
            h.delete(true).await.unwrap();
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shim = args
        .get(1)
        .expect("usage: shim_bench <berth-shim> [iterations | mem N]");
    let dir = tempfile::Builder::new()
        .prefix("sb")
        .tempdir_in("/tmp")
        .unwrap();
    let root = rootfs(dir.path());
    let runner = ShimRunner::new(shim, dir.path().join("x"));
    if args.get(2).map(String::as_str) == Some("hold") {
        // A sleeping container for manual probing; deleted when stdin closes.
        let h = create(
            &runner,
            dir.path(),
            &root,
            RuntimeKind::Youki,
            7777,
            &["sleep", "1000"],
        )
        .await;
        h.start().await.unwrap();
        println!(
            "{} {}",
            h.dir().join("ctl.sock").display(),
            h.shim_pid().unwrap()
        );
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        h.delete(true).await.unwrap();
        return;
    }
    if args.get(2).map(String::as_str) == Some("mem") {
        let n = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(3);
        mem(&runner, dir.path(), &root, n).await;
        return;
    }
    let iters: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(30);
    let measure_cpu = cpu_group();
    let only = args.get(3).map(String::as_str);
    // A second shim binary: its runs alternate with the first's, so both see the
    // same machine load (an A/B comparison on a shared machine).
    let other = args
        .get(4)
        .map(|b| ShimRunner::new(b, dir.path().join("y")));
    for rt in [RuntimeKind::Youki, RuntimeKind::Runc] {
        if only.is_some_and(|o| o != rt.as_str()) {
            continue;
        }
        let runners: Vec<(&str, &ShimRunner)> = match &other {
            Some(o) => vec![(shim.as_str(), &runner), (args[4].as_str(), o)],
            None => vec![(shim.as_str(), &runner)],
        };
        let mut results: Vec<[Vec<Duration>; 5]> =
            runners.iter().map(|_| Default::default()).collect();
        for n in 0..iters {
            for (i, (_, r)) in runners.iter().enumerate() {
                let c0 = cpu_now();
                let t0 = Instant::now();
                let h = create(r, dir.path(), &root, rt, n * 2 + i, &["true"]).await;
                let t1 = Instant::now();
                h.start().await.unwrap();
                let t2 = Instant::now();
                assert_eq!(h.wait().await.unwrap().code, 0);
                let t3 = Instant::now();
                h.delete(false).await.unwrap();
                let c1 = cpu_now();
                let group = c1.0.saturating_sub(c0.0);
                let res = &mut results[i];
                res[0].push(t1 - t0);
                res[1].push(t2 - t1);
                res[2].push(t3 - t2);
                res[3].push(t3 - t0);
                res[4].push(Duration::from_nanos(group.saturating_sub(c1.1 - c0.1)));
            }
        }
        for ((name, r), [created, started, exited, total, cpu]) in runners.iter().zip(results) {
            println!("{} ({iters} runs of `true`) {name}", rt.as_str());
            println!("  spawn->created  {}", stats(created));
            println!("  created->started {}", stats(started));
            println!("  started->exited {}", stats(exited));
            println!("  spawn->exited   {}", stats(total));
            if measure_cpu {
                println!("  cpu shim+container (spawn..deleted) {}", stats(cpu));
            }
            let h = create(r, dir.path(), &root, rt, 9999, &["sleep", "1000"]).await;
            h.start().await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let pid = h.shim_pid().unwrap();
            println!("  idle shim memory (pid {pid}): {}", smaps(pid));
            h.delete(true).await.unwrap();
        }
    }
    if measure_cpu {
        // Leave no group behind: back to the root group, then remove ours.
        let _ = std::fs::write("/sys/fs/cgroup/cpuacct/cgroup.procs", "0");
        let _ = std::fs::remove_dir(Path::new(CPUACCT).join("driver"));
        let _ = std::fs::remove_dir(CPUACCT);
    }
}
