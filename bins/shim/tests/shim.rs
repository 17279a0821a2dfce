//! Behaviour of berth-shim with both runtimes (youki's libcontainer and runc): the
//! same assertions run against each, so they are also a differential test.
//! Needs root, cgroups and /bin/busybox (Debian's busybox-static).

mod common;

use berth_runtime::layout::LogDriver;
use berth_runtime::logs::LogStream;
use berth_runtime::logs::reader::{self, ReadOptions};
use berth_runtime::proto::{AttachReq, ExecReq, Status, StreamId};
use berth_runtime::spec::{NsMode, SeccompMode};
use common::*;
use tokio::io::AsyncWriteExt;

async fn each(f: impl AsyncFn(Env)) {
    for rt in RUNTIMES {
        f(Env::new(rt)).await;
    }
}

#[tokio::test]
async fn exit_code_propagates() {
    each(async |env| {
        let c = env.spec(&["sh", "-c", "exit 7"]);
        let ctr = env.create(&c).await;
        assert_eq!(ctr.h.state().await.unwrap().status, Status::Created);
        ctr.h.start().await.unwrap();
        let st = ctr.h.wait().await.unwrap();
        assert_eq!(
            (st.code, st.signal, st.oom_killed),
            (7, None, false),
            "{:?}",
            env.runtime
        );
        assert_eq!(ctr.h.exit_status().unwrap().code, 7);
        assert_eq!(ctr.h.state().await.unwrap().status, Status::Stopped);
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn output_goes_to_attach_and_log_with_stream_ids() {
    each(async |env| {
        for driver in [LogDriver::JsonFile, LogDriver::Local] {
            let c = env.spec(&["sh", "-c", "echo out; echo err >&2; echo out2"]);
            let ctr = env.create_with_log(&c, driver).await;
            let mut a = ctr.h.attach(all_streams()).await.unwrap();
            ctr.h.start().await.unwrap();
            let mut frames = Vec::new();
            while let Some(f) = a.output.next().await.unwrap() {
                frames.push(f);
            }
            let out: Vec<u8> = frames
                .iter()
                .filter(|f| f.0 == StreamId::Stdout)
                .flat_map(|f| f.1.to_vec())
                .collect();
            let err: Vec<u8> = frames
                .iter()
                .filter(|f| f.0 == StreamId::Stderr)
                .flat_map(|f| f.1.to_vec())
                .collect();
            assert_eq!(
                (out.as_slice(), err.as_slice()),
                (&b"out\nout2\n"[..], &b"err\n"[..]),
                "{:?}",
                env.runtime
            );
            assert_eq!(ctr.h.wait().await.unwrap().code, 0);
            let entries = reader::read(&ctr.log.path, driver, &ReadOptions::default()).unwrap();
            let lines: Vec<(LogStream, String)> = entries
                .iter()
                .map(|e| (e.stream, String::from_utf8_lossy(&e.data).into_owned()))
                .collect();
            assert_eq!(lines.len(), 3);
            assert!(lines.contains(&(LogStream::Stderr, "err\n".into())));
            assert_eq!(lines.iter().filter(|l| l.0 == LogStream::Stdout).count(), 2);
            ctr.delete().await;
        }
    })
    .await;
}

#[tokio::test]
async fn stdin_eof_reaches_cat() {
    each(async |env| {
        let mut c = env.spec(&["cat"]);
        c.open_stdin = true;
        let ctr = env.create(&c).await;
        let mut a = ctr
            .h
            .attach(AttachReq {
                stdin: true,
                ..all_streams()
            })
            .await
            .unwrap();
        ctr.h.start().await.unwrap();
        a.stdin.write_all(b"hello\nworld\n").await.unwrap();
        a.stdin.shutdown().await.unwrap();
        let (out, _) = collect(&mut a.output).await;
        assert_eq!(out, "hello\nworld\n");
        assert_eq!(ctr.h.wait().await.unwrap().code, 0);
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn tty_gives_a_pty_and_resize_works() {
    each(async |env| {
        let mut c = env.spec(&["sh", "-c", "tty; stty size"]);
        c.tty = true;
        let ctr = env.create(&c).await;
        ctr.h.resize(None, 123, 45).await.unwrap();
        let mut a = ctr.h.attach(all_streams()).await.unwrap();
        ctr.h.start().await.unwrap();
        let (out, _) = collect(&mut a.output).await;
        assert!(out.contains("/dev/pts/"), "{:?}: {out:?}", env.runtime);
        assert!(out.contains("45 123"), "{:?}: {out:?}", env.runtime);
        assert_eq!(ctr.h.wait().await.unwrap().code, 0);
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn exec_runs_a_second_process_and_kill_delivers_signals() {
    each(async |env| {
        let c = env.spec(&[
            "sh",
            "-c",
            "trap 'exit 42' USR1; while true; do sleep 0.05; done",
        ]);
        let ctr = env.create(&c).await;
        ctr.h.start().await.unwrap();
        let process = serde_json::json!({
            "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "args": ["sh", "-c", "echo from-exec; echo e >&2; exit 3"],
            "env": ["PATH=/bin"],
        });
        let (started, attach) = ctr
            .h
            .exec(ExecReq {
                exec_id: "e1".into(),
                process,
                stdin: false,
                attach: true,
            })
            .await
            .unwrap();
        assert!(started.pid > 0);
        let (out, err) = collect(&mut attach.unwrap().output).await;
        assert_eq!(
            (out.as_str(), err.as_str()),
            ("from-exec\n", "e\n"),
            "{:?}",
            env.runtime
        );
        assert_eq!(ctr.h.wait_exec("e1").await.unwrap().code, 3);
        ctr.h.kill(None, libc::SIGUSR1).await.unwrap();
        assert_eq!(ctr.h.wait().await.unwrap().code, 42);
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn pause_and_resume() {
    each(async |env| {
        let c = env.spec(&["sleep", "100"]);
        let ctr = env.create(&c).await;
        ctr.h.start().await.unwrap();
        ctr.h.pause().await.unwrap();
        assert_eq!(ctr.h.state().await.unwrap().status, Status::Paused);
        let process = serde_json::json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["true"], "env": ["PATH=/bin"]});
        let e = ctr.h.exec(ExecReq { exec_id: "x".into(), process, stdin: false, attach: false }).await.unwrap_err();
        assert!(e.to_string().contains("paused"), "{e}");
        ctr.h.resume().await.unwrap();
        assert_eq!(ctr.h.state().await.unwrap().status, Status::Running);
        ctr.h.kill(None, libc::SIGKILL).await.unwrap();
        let st = ctr.h.wait().await.unwrap();
        assert_eq!((st.code, st.signal), (137, Some(9)));
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn shim_outlives_its_client_and_accepts_reconnects() {
    each(async |env| {
        let c = env.spec(&["sh", "-c", "echo before; exec sleep 1000"]);
        let id = c.id.clone();
        let ctr = env.create(&c).await;
        ctr.h.start().await.unwrap();
        let shim_pid = ctr.h.shim_pid().unwrap();
        // The shim leads its own session, so signals to the client's session or
        // process group (a Ctrl-C on a foreground daemon) never reach it.
        let session: i32 = stat_fields(shim_pid).unwrap()[3].parse().unwrap();
        assert_eq!(session, shim_pid);
        let log = ctr.log.clone();
        std::mem::forget(ctr);

        // A "restarted daemon": a new runner over the same exec root.
        let runner = berth_runtime::client::ShimRunner::new(env!("CARGO_BIN_EXE_berth-shim"), env.dir.path().join("x"));
        assert!(runner.list().contains(&id));
        let h = runner.connect(&id).await.unwrap();
        assert_eq!(h.state().await.unwrap().status, Status::Running);
        let process = serde_json::json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh", "-c", "exit 4"], "env": ["PATH=/bin"]});
        let (_, a) = h.exec(ExecReq { exec_id: "r".into(), process, stdin: false, attach: false }).await.unwrap();
        assert!(a.is_none());
        assert_eq!(h.wait_exec("r").await.unwrap().code, 4);
        let mut before = Vec::new();
        for _ in 0..100 {
            before = reader::read(&log.path, log.driver, &ReadOptions::default()).unwrap();
            if !before.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(before[0].data, b"before\n");
        h.kill(None, libc::SIGKILL).await.unwrap();
        assert_eq!(h.wait().await.unwrap().code, 137);
        h.delete(false).await.unwrap();
        assert!(!h.dir().exists());
    })
    .await;
}

#[tokio::test]
async fn exit_without_a_client_is_recorded() {
    each(async |env| {
        let c = env.spec(&["sh", "-c", "echo bye; exit 5"]);
        let ctr = env.create(&c).await;
        ctr.h.start().await.unwrap();
        let mut st = None;
        for _ in 0..200 {
            st = ctr.h.exit_status();
            if st.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(st.unwrap().code, 5);
        assert_eq!(ctr.h.wait().await.unwrap().code, 5);
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn memory_limit_oom_kill_is_reported() {
    each(async |env| {
        let mut c = env.spec(&["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
        c.resources.memory = 16 << 20;
        c.resources.memory_swap = 16 << 20;
        let ctr = env.create(&c).await;
        ctr.h.start().await.unwrap();
        let st = ctr.h.wait().await.unwrap();
        assert_eq!(
            (st.code, st.oom_killed),
            (137, true),
            "{:?}: {st:?}",
            env.runtime
        );
        assert!(ctr.h.exit_status().unwrap().oom_killed);
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn pids_limit_blocks_forks() {
    each(async |env| {
        let mut c = env.spec(&[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait",
        ]);
        c.resources.pids_limit = Some(4);
        let (_, _, err) = run(&env, &c).await;
        assert!(err.contains("can't fork"), "{:?}: {err}", env.runtime);
    })
    .await;
}

#[tokio::test]
async fn default_seccomp_blocks_unshare_and_unconfined_allows_it() {
    each(async |env| {
        let c = env.spec(&["unshare", "-U", "true"]);
        let (code, _, err) = run(&env, &c).await;
        assert_ne!(code, 0, "{:?}: unshare allowed under the default profile", env.runtime);
        assert!(err.contains("Operation not permitted"), "{err}");
        let mut c = env.spec(&["unshare", "-U", "true"]);
        c.seccomp = SeccompMode::Unconfined;
        let (code, _, err) = run(&env, &c).await;
        assert_eq!(code, 0, "{:?}: {err}", env.runtime);
        // A custom profile in Docker's format.
        let mut c = env.spec(&["mkdir", "/tmp/x"]);
        c.seccomp = SeccompMode::Custom(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#.into(),
        );
        let (code, _, _) = run(&env, &c).await;
        assert_ne!(code, 0);
    })
    .await;
}

#[tokio::test]
async fn capabilities_match_docker_and_drop_works() {
    each(async |env| {
        let c = env.spec(&["sh", "-c", "grep CapEff /proc/self/status"]);
        let (_, out, _) = run(&env, &c).await;
        assert!(out.contains("00000000a80425fb"), "{:?}: {out}", env.runtime);
        let mut c = env.spec(&["sh", "-c", "grep CapEff /proc/self/status"]);
        c.cap_drop = vec!["net_raw".into(), "CAP_CHOWN".into()];
        let (_, out, _) = run(&env, &c).await;
        assert!(
            out.contains(&format!("{:016x}", 0xa80425fbu64 & !(1 << 13) & !1)),
            "{out}"
        );
    })
    .await;
}

#[tokio::test]
async fn masked_paths_readonly_rootfs_and_rlimits() {
    each(async |env| {
        let mut c = env.spec(&[
            "sh",
            "-c",
            "head -c 16 /proc/kcore | wc -c; touch /x || echo ro; ulimit -Hn",
        ]);
        c.readonly_rootfs = true;
        c.ulimits =
            vec![berth_runtime::spec::resources::parse_ulimit("nofile=1048576:1048576").unwrap()];
        let (code, out, err) = run(&env, &c).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines.first().map(|l| l.trim()),
            Some("0"),
            "{:?}: {out} {err}",
            env.runtime
        );
        assert!(err.contains("Read-only file system"), "{err}");
        assert_eq!(lines.get(1), Some(&"ro"));
        let mut hard = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
        assert_eq!(
            lines.get(2).map(|l| l.parse::<u64>().unwrap()),
            Some(hard.rlim_max.min(1048576))
        );
        assert_eq!(code, 0);
    })
    .await;
}

#[tokio::test]
async fn init_reaps_and_propagates_exit_code() {
    each(async |env| {
        let init = env.runner.ensure_init().await.unwrap();
        let mut c = env.spec(&["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 9"]);
        c.init = Some(init);
        let (code, out, _) = run(&env, &c).await;
        assert!(
            out.starts_with("/sbin/docker-init -- sh"),
            "{:?}: {out}",
            env.runtime
        );
        assert_eq!(code, 9);
    })
    .await;
}

#[tokio::test]
async fn host_pid_namespace_and_cgroup_cleanup() {
    each(async |env| {
        let mut c = env.spec(&["sh", "-c", "echo $$"]);
        c.namespaces.pid = NsMode::Host;
        // A parent of its own, so its removal can be asserted while other tests run.
        c.cgroups_path = format!("/berth-test-{}/{}", c.id, c.id);
        let parent = format!("/sys/fs/cgroup/pids/berth-test-{}", c.id);
        let leaf = format!("{parent}/{}", c.id);
        let ctr = env.create(&c).await;
        assert!(std::path::Path::new(&leaf).exists() || berth_runtime::spec::cgroup_v2());
        let mut a = ctr.h.attach(all_streams()).await.unwrap();
        ctr.h.start().await.unwrap();
        let (out, _) = collect(&mut a.output).await;
        assert_ne!(out.trim(), "1");
        ctr.h.wait().await.unwrap();
        ctr.delete().await;
        assert!(!std::path::Path::new(&leaf).exists(), "{:?}", env.runtime);
        assert!(
            !std::path::Path::new(&parent).exists(),
            "{:?}: parent left",
            env.runtime
        );
    })
    .await;
}

/// The host's capability bounding set: what a privileged container gets (Docker
/// gives it every capability the daemon has; CAP_SYS_RESOURCE is missing on some hosts).
#[allow(clippy::unwrap_used)]
fn host_cap_bnd() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[tokio::test]
async fn privileged_gets_all_devices_and_capabilities() {
    // Regression: symlinks under the host's /dev (stdin → /proc/self/fd/0 → /dev/null)
    // made youki fail with "failed to prepare rootfs".
    each(async |env| {
        let mut c = env.spec(&[
            "sh",
            "-c",
            "grep -E '^(CapEff|Seccomp):' /proc/self/status; \
             grep -E ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
             echo masked $(grep -cE ' /proc/(kcore|keys|acpi|sys) ' /proc/mounts); \
             head -c 16 /proc/interrupts | wc -c; \
             find /dev -type c -o -type b | sort",
        ]);
        c.privileged = true;
        let (code, out, err) = run(&env, &c).await;
        assert_eq!(code, 0, "{:?}: {out} {err}", env.runtime);
        let lines: Vec<&str> = out.lines().collect();
        let cap_eff = lines[0].split_whitespace().nth(1).unwrap();
        assert_eq!(cap_eff, host_cap_bnd(), "{:?}", env.runtime);
        // Every capability up to CAP_CHECKPOINT_RESTORE except those the host lacks.
        assert_eq!(
            u64::from_str_radix(cap_eff, 16).unwrap() | (1 << 24),
            0x1ff_ffff_ffff
        );
        assert_eq!(lines[1].split_whitespace().nth(1), Some("0"), "seccomp off");
        assert_eq!(lines[2], "rw", "{:?}: sysfs", env.runtime);
        assert_eq!(lines[3], "masked 0", "{:?}", env.runtime);
        // Masked, it would be /dev/null.
        assert_eq!(
            lines[4].trim(),
            "16",
            "{:?}: /proc/interrupts readable",
            env.runtime
        );
        let inside: Vec<&str> = lines[5..].to_vec();
        for d in berth_runtime::spec::mounts::all_host_devices() {
            let p = d.path().to_string_lossy().into_owned();
            assert!(
                inside.contains(&p.as_str()),
                "{:?}: {p} missing",
                env.runtime
            );
        }
        assert!(
            inside.contains(&"/dev/null")
                && inside.contains(&"/dev/net/tun")
                    == std::path::Path::new("/dev/net/tun").exists()
        );
    })
    .await;
}

#[tokio::test]
async fn runtime_errors_carry_the_cause() {
    // youki reports an init failure as "failed to prepare rootfs" only; the shim adds
    // the events the runtime logged (which mount, which errno).
    let env = Env::new(berth_runtime::layout::RuntimeKind::Youki);
    let mut c = env.spec(&["true"]);
    c.mounts.push(berth_runtime::spec::MountSpec {
        kind: berth_runtime::spec::MountKind::Bind,
        source: env.dir.path().join("does-not-exist"),
        destination: "/data".into(),
        readonly: false,
        options: vec![],
        propagation: None,
        non_recursive: false,
    });
    let built = berth_runtime::spec::build(&c).unwrap();
    let bundle = env.dir.path().join("bundles").join(&c.id);
    berth_runtime::spec::write_bundle(&bundle, &built.spec).unwrap();
    let log = berth_runtime::layout::LogConfig::with_defaults(
        LogDriver::JsonFile,
        env.dir.path().join("l.log"),
    );
    let opts = berth_runtime::client::SpawnOptions {
        id: c.id.clone(),
        bundle,
        runtime: env.runtime,
        runc_path: None,
        tty: false,
        stdin: false,
        log,
    };
    let e = env.runner.spawn(&opts).await.unwrap_err().to_string();
    assert!(e.contains("failed to prepare rootfs"), "{e}");
    assert!(e.contains("does-not-exist"), "{e}");
}

#[tokio::test]
async fn exec_processes_get_the_containers_seccomp_profile() {
    each(async |env| {
        let c = env.spec(&["sleep", "100"]);
        let ctr = env.create(&c).await;
        ctr.h.start().await.unwrap();
        let process = serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "env": ["PATH=/bin"],
            "args": ["unshare", "-U", "true"],
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"],
                "effective": ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"],
                "permitted": ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"]
            },
        });
        let (_, a) = ctr
            .h
            .exec(ExecReq {
                exec_id: "s".into(),
                process,
                stdin: false,
                attach: true,
            })
            .await
            .unwrap();
        let (_, err) = collect(&mut a.unwrap().output).await;
        let code = ctr.h.wait_exec("s").await.unwrap().code;
        assert_ne!(code, 0, "{:?}: unshare allowed in exec: {err}", env.runtime);
        assert!(
            err.contains("Operation not permitted"),
            "{:?}: {err}",
            env.runtime
        );
        ctr.delete().await;
    })
    .await;
}

#[tokio::test]
async fn delete_kills_what_outlives_init_and_removes_the_cgroup() {
    each(async |env| {
        // In the host PID namespace, the init's death does not take its children along.
        let mut c = env.spec(&["sh", "-c", "sleep 100 >/dev/null 2>&1 & echo $!"]);
        c.namespaces.pid = NsMode::Host;
        c.cgroups_path = format!("/berth-test-{}/{}", c.id, c.id);
        let leaf = format!("/sys/fs/cgroup/pids/berth-test-{}/{}", c.id, c.id);
        let ctr = env.create(&c).await;
        let mut a = ctr.h.attach(all_streams()).await.unwrap();
        ctr.h.start().await.unwrap();
        let (out, _) = collect(&mut a.output).await;
        assert_eq!(ctr.h.wait().await.unwrap().code, 0);
        let pid: i32 = out.trim().parse().unwrap();
        let alive = |pid: i32| stat_fields(pid).is_some_and(|f| !f[0].starts_with('Z'));
        assert!(
            alive(pid),
            "{:?}: the background sleep should outlive init",
            env.runtime
        );
        ctr.delete().await;
        let mut gone = false;
        for _ in 0..100 {
            if !alive(pid) {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(gone, "{:?}: pid {pid} survived delete", env.runtime);
        assert!(!std::path::Path::new(&leaf).exists(), "{:?}", env.runtime);
    })
    .await;
}

#[tokio::test]
async fn seccomp_and_capabilities_with_and_without_no_new_privileges() {
    // The youki backend loads the precompiled filter right before exec, holding
    // CAP_SYS_ADMIN until then unless no_new_privileges allows the load anyway: the
    // process must end with exactly the container's capabilities either way.
    each(async |env| {
        for nnp in [false, true] {
            let mut c = env.spec(&[
                "sh",
                "-c",
                "grep -E '^(NoNewPrivs|CapBnd|CapEff|CapPrm|Seccomp):' /proc/self/status; unshare -U true || echo denied",
            ]);
            c.no_new_privileges = nnp;
            let (_, out, _) = run(&env, &c).await;
            let want = format!(
                "NoNewPrivs:\t{}\nSeccomp:\t2\n",
                u8::from(nnp)
            );
            let got: String = out
                .lines()
                .filter(|l| l.starts_with("NoNewPrivs") || l.starts_with("Seccomp:"))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(got, want, "{:?} nnp={nnp}: {out}", env.runtime);
            for set in ["CapBnd", "CapEff", "CapPrm"] {
                assert!(out.contains(&format!("{set}:\t00000000a80425fb")), "{:?} nnp={nnp} {set}: {out}", env.runtime);
            }
            assert!(out.contains("denied"), "{:?} nnp={nnp}: {out}", env.runtime);
        }
    })
    .await;
}

#[tokio::test]
async fn delete_does_not_wait_for_another_container_to_start() {
    each(async |env| {
        // Two created containers: each init waits for its start, holding every
        // descriptor its shim had open when it was forked.
        let mut a = env.create(&env.spec(&["true"])).await;
        let b = env.create(&env.spec(&["true"])).await;
        let deleted =
            tokio::time::timeout(std::time::Duration::from_secs(10), a.h.delete(true)).await;
        // Deleting b ends its init, which would release a stuck delete of a too.
        b.delete().await;
        a.deleted = true;
        assert!(
            matches!(deleted, Ok(Ok(()))),
            "{:?}: delete hung while another container waited to start: {deleted:?}",
            env.runtime
        );
    })
    .await;
}
