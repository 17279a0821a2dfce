//! Containers with process isolation (issue 4), driven by the real docker CLI:
//! run/exec/logs/cp/commit, limits and security defaults from inside, bad input,
//! restart policies, health checks and live restore after kill -9.

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_integration::{Daemon, stderr, stdout};

/// Poll `f` until it returns true or `limit` passes (a bound, not a timing assertion).
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn run_prints_exits_and_pipes_stdin() {
    let d = Daemon::with_busybox();
    assert_eq!(d.docker_ok(&["run", "--rm", "bb", "echo", "hi"]), "hi\n");
    let out = d.docker(&["run", "bb", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));

    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "line one\nline two").unwrap();
    let out = d
        .docker_cmd(&["run", "--rm", "-i", "bb", "cat"])
        .stdin(std::fs::File::open(f.path()).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "line one\nline two\n");

    let tty = d.docker_ok(&["run", "--rm", "-t", "bb", "tty"]);
    assert!(tty.trim().starts_with("/dev/pts/"), "{tty}");
    // stderr goes to stderr.
    let out = d.docker(&["run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
fn detached_container_lifecycle() {
    let d = Daemon::with_busybox();
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done; sleep 1000",
    ]);
    assert_eq!(id.trim().len(), 64);
    assert!(eventually(Duration::from_secs(10), || d
        .docker_ok(&["logs", "web"])
        .contains("line3")));
    let logs = d.docker_ok(&["logs", "--tail", "1", "web"]);
    assert_eq!(logs, "line3\n");

    let out = d.docker(&["exec", "web", "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(stdout(&out), "in-exec\n");
    let out = d.docker_ok(&[
        "exec",
        "-e",
        "X=42",
        "-w",
        "/tmp",
        "web",
        "sh",
        "-c",
        "echo $X $(pwd)",
    ]);
    assert_eq!(out, "42 /tmp\n");

    let top = d.docker_ok(&["top", "web"]);
    assert!(top.contains("sleep 1000"), "{top}");
    let stats = d.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "web",
    ]);
    assert!(stats.starts_with("web "), "{stats}");

    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("web Up"), "{ps}");
    d.docker_ok(&["pause", "web"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "web"])
            .trim(),
        "paused"
    );
    let out = d.docker(&["exec", "web", "true"]);
    assert!(
        !out.status.success(),
        "exec in a paused container must fail"
    );
    d.docker_ok(&["unpause", "web"]);

    d.docker_ok(&["stop", "-t", "1", "web"]);
    let st = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]);
    assert_eq!(st.trim(), "exited 137");
    // Logs stay readable after the container stopped.
    assert!(d.docker_ok(&["logs", "web"]).contains("line1"));
    d.docker_ok(&["rm", "web"]);
    let out = d.docker(&["inspect", "web"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such object: web") || stderr(&out).contains("No such container"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn logs_follow_ends_when_container_exits() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "fl",
        "bb",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ]);
    let out = d.docker_ok(&["logs", "-f", "fl"]);
    assert_eq!(out, "a\nb\n");
    let ts = d.docker_ok(&["logs", "-t", "fl"]);
    assert!(
        ts.lines()
            .all(|l| l.len() > 31 && l.as_bytes()[4] == b'-' && l.contains('Z')),
        "{ts}"
    );
}

#[test]
fn cp_both_ways_and_commit() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "cp1", "bb", "sleep", "1000"]);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.txt");
    std::fs::write(&src, "copied in\n").unwrap();
    d.docker_ok(&["cp", src.to_str().unwrap(), "cp1:/tmp/"]);
    assert_eq!(
        d.docker_ok(&["exec", "cp1", "cat", "/tmp/hello.txt"]),
        "copied in\n"
    );
    d.docker_ok(&[
        "exec",
        "cp1",
        "sh",
        "-c",
        "mkdir -p /out && echo made inside > /out/f",
    ]);
    let dst = dir.path().join("back");
    d.docker_ok(&["cp", "cp1:/out", dst.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(dst.join("f")).unwrap(),
        "made inside\n"
    );
    // The hostname file comes from the runtime's bind mount, not the empty rootfs file.
    let hn = dir.path().join("hn");
    d.docker_ok(&["cp", "cp1:/etc/hostname", hn.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&hn).unwrap().trim().len(), 12);

    let diff = d.docker_ok(&["diff", "cp1"]);
    assert!(
        diff.contains("A /out/f") || diff.contains("A /out"),
        "{diff}"
    );
    let img = d.docker_ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/out/f\"]",
        "cp1",
        "committed:1",
    ]);
    assert!(img.starts_with("sha256:"), "{img}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "committed:1"]),
        "made inside\n"
    );
    let hist = d.docker_ok(&["history", "-q", "committed:1"]);
    assert!(hist.lines().count() >= 2, "{hist}");
}

#[test]
fn limits_hold_from_inside() {
    let d = Daemon::with_busybox();
    // Memory: an allocation beyond the limit is OOM-killed and reported.
    let out = d.docker(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "bb",
        "sh",
        "-c",
        "head -c 64m /dev/zero | tail > /dev/null",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.OOMKilled}}", "oom"])
            .trim(),
        "true"
    );
    // Pids: forks beyond the limit fail.
    let out = d.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait",
    ]);
    assert!(stderr(&out).contains("can't fork"), "{}", stderr(&out));
    // CPUs: the CFS quota appears in the container's cgroup.
    let id = d.docker_ok(&["run", "-d", "--cpus", "0.5", "bb", "sleep", "100"]);
    let id = id.trim();
    let v1 = format!("/sys/fs/cgroup/cpu/berth/{id}/cpu.cfs_quota_us");
    let v2 = format!("/sys/fs/cgroup/berth/{id}/cpu.max");
    let quota = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .unwrap();
    assert!(quota.starts_with("50000"), "{quota}");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.NanoCpus}}", id])
            .trim(),
        "500000000"
    );
}

#[test]
fn security_defaults() {
    let d = Daemon::with_busybox();
    // Docker's default capability set.
    let caps = d.docker_ok(&["run", "--rm", "bb", "grep", "CapEff", "/proc/self/status"]);
    assert!(caps.contains("00000000a80425fb"), "{caps}");
    let caps = d.docker_ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "NET_RAW",
        "--cap-drop",
        "CHOWN",
        "bb",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(
        caps.contains("00000000a80425fa") || caps.contains("00000000a80405fa"),
        "{caps}"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "bb",
        "chown",
        "65534",
        "/tmp",
    ]);
    assert!(!out.status.success(), "chown without CAP_CHOWN must fail");
    // Seccomp: the default profile refuses a user namespace; unconfined allows it.
    let out = d.docker(&["run", "--rm", "bb", "unshare", "-U", "true"]);
    assert!(
        !out.status.success() && stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "bb",
        "unshare",
        "-U",
        "true",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Masked /proc paths read as empty (the host's are not).
    let masked = d.docker_ok(&["run", "--rm", "bb", "sh", "-c", "wc -c < /proc/timer_list"]);
    assert_eq!(masked.trim(), "0");
    if std::path::Path::new("/proc/kcore").exists() {
        let k = d.docker_ok(&["run", "--rm", "bb", "sh", "-c", "wc -c < /proc/kcore"]);
        assert_eq!(k.trim(), "0");
    }
    let out = d.docker(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/domainname",
    ]);
    assert!(!out.status.success(), "/proc/sys must be read-only");
    // Read-only root.
    let out = d.docker(&["run", "--rm", "--read-only", "bb", "touch", "/x"]);
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // /dev/shm defaults to 64 MiB.
    let shm = d.docker_ok(&["run", "--rm", "bb", "df", "-k", "/dev/shm"]);
    assert!(shm.contains("65536"), "{shm}");
}

#[test]
fn bad_input_gets_docker_errors() {
    let d = Daemon::with_busybox();
    let out = d.docker(&["run", "--pull", "never", "nosuchimage"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("No such image"), "{}", stderr(&out));
    let (status, body) = d.raw(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"bb","HostConfig":{"Memory":1000}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Minimum memory limit allowed is 6MB"),
        "{body}"
    );
    let (status, body) = d.raw("POST", "/containers/create", Some("{not json"));
    assert_eq!(status, 400, "{body}");
    let (status, _) = d.raw(
        "POST",
        "/containers/create?name=bad/name",
        Some(r#"{"Image":"bb"}"#),
    );
    assert_eq!(status, 400);
    d.docker_ok(&["create", "--name", "dup", "bb", "true"]);
    let out = d.docker(&["create", "--name", "dup", "bb", "true"]);
    assert!(
        stderr(&out).contains("is already in use by container"),
        "{}",
        stderr(&out)
    );
    let (status, _) = d.raw(
        "POST",
        "/containers/create?name=dup",
        Some(r#"{"Image":"bb"}"#),
    );
    assert_eq!(status, 409);
    let out = d.docker(&["exec", "dup", "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    let (status, _) = d.raw("POST", "/containers/dup/exec", Some(r#"{"Cmd":["true"]}"#));
    assert_eq!(status, 409);
    let (status, _) = d.raw("POST", "/containers/nosuch/start", None);
    assert_eq!(status, 404);
    let out = d.docker(&["run", "--rm", "bb", "/no/such/binary"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    // Start of a running container is 304, stop of a stopped one too.
    d.docker_ok(&["run", "-d", "--name", "up", "bb", "sleep", "100"]);
    let (status, _) = d.raw("POST", "/containers/up/start", None);
    assert_eq!(status, 304);
    let out = d.docker(&["rm", "up"]);
    assert!(
        !out.status.success() && stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    d.docker_ok(&["rm", "-f", "up"]);
    // Still serving.
    d.docker_ok(&["ps"]);
}

#[test]
fn events_cover_the_lifecycle() {
    let d = Daemon::with_busybox();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    d.docker_ok(&["run", "--rm", "--name", "ev", "bb", "true"]);
    let until = since + 30;
    let mut child = d
        .docker_cmd(&[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "container=ev",
            "--format",
            "{{.Action}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let actions = stdout(&out);
    for a in ["create", "attach", "start", "die", "destroy"] {
        assert!(actions.lines().any(|l| l == a), "missing {a}: {actions}");
    }
}

#[test]
fn restart_policy_and_health() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "rp",
        "--restart",
        "on-failure:2",
        "bb",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert!(eventually(Duration::from_secs(20), || {
        d.docker_ok(&["inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "rp"])
            .trim()
            == "2 exited"
    }));
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "bb",
        "sleep",
        "100",
    ]);
    assert!(eventually(Duration::from_secs(20), || d
        .docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc"])
        .trim()
        == "unhealthy"));
    d.docker_ok(&["exec", "hc", "touch", "/tmp/ok"]);
    assert!(eventually(Duration::from_secs(20), || d
        .docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc"])
        .trim()
        == "healthy"));
    let ps = d.docker_ok(&[
        "ps",
        "--filter",
        "health=healthy",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(ps.contains("hc Up") && ps.contains("(healthy)"), "{ps}");
}

#[test]
fn live_restore_after_kill9() {
    let mut d = Daemon::with_busybox();
    for i in 0..5 {
        d.docker_ok(&[
            "run",
            "-d",
            "--name",
            &format!("lr{i}"),
            "bb",
            "sh",
            "-c",
            &format!("echo started{i}; sleep 1000"),
        ]);
    }
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "quitter",
        "bb",
        "sh",
        "-c",
        "read x; exit 42",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "quitter2",
        "bb",
        "sh",
        "-c",
        "sleep 1; exit 42",
    ]);
    d.kill9();
    // quitter2 exits while berthd is down.
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    for i in 0..5 {
        let name = format!("lr{i}");
        assert_eq!(
            d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &name])
                .trim(),
            "running",
            "{name}"
        );
        assert_eq!(d.docker_ok(&["logs", &name]), format!("started{i}\n"));
        assert_eq!(d.docker_ok(&["exec", &name, "echo", "alive"]), "alive\n");
    }
    let st = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "quitter2",
    ]);
    assert_eq!(st.trim(), "exited 42");
    // A monitor is attached again: a stop after the restart is seen.
    d.docker_ok(&["stop", "-t", "0", "lr0"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "lr0"])
            .trim(),
        "exited"
    );
}

#[test]
fn rename_update_port_and_prune() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "a1", "bb", "sleep", "100"]);
    d.docker_ok(&["rename", "a1", "a2"]);
    assert_eq!(d.docker_ok(&["ps", "--format", "{{.Names}}"]).trim(), "a2");
    d.docker_ok(&["update", "--memory", "64m", "--memory-swap", "128m", "a2"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "a2"])
            .trim(),
        "67108864"
    );
    d.docker_ok(&["create", "--name", "dead1", "bb", "true"]);
    d.docker_ok(&["run", "--name", "dead2", "bb", "true"]);
    let out = d.docker_ok(&["container", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let names = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names.trim(), "a2");
}

/// `GET /containers/{id}/attach/ws` (web consoles use it): attached before the
/// start, the client's messages are stdin, output arrives unframed in binary
/// messages (API >= 1.28) and the server closes the socket when the container
/// exits. A missing container is a 404, a plain GET a 400, both in JSON.
#[test]
fn attach_over_websocket() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let d = Daemon::with_busybox();
    let id = d.docker_ok(&[
        "create",
        "-i",
        "bb",
        "sh",
        "-c",
        "read line; echo got:$line; echo oops >&2",
    ]);
    let id = id.trim().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (text, kinds) = rt.block_on(async {
        let sock = tokio::net::UnixStream::connect(&d.sock).await.unwrap();
        let url = format!(
            "ws://berth/v1.50/containers/{id}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1"
        );
        let (mut ws, resp) = tokio_tungstenite::client_async(url, sock).await.unwrap();
        assert_eq!(resp.status(), 101);
        d.docker_ok(&["start", &id]);
        ws.send(Message::binary(&b"hello\n"[..])).await.unwrap();
        let (mut text, mut kinds) = (String::new(), Vec::new());
        let read_all = async {
            while let Some(Ok(msg)) = ws.next().await {
                match msg {
                    Message::Binary(b) => {
                        kinds.push("binary");
                        text.push_str(&String::from_utf8_lossy(&b));
                    }
                    Message::Text(t) => {
                        kinds.push("text");
                        text.push_str(&t);
                    }
                    Message::Close(_) => kinds.push("close"),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read_all)
            .await
            .expect("the socket closes when the container exits");
        (text, kinds)
    });
    assert_eq!(text, "got:hello\noops\n");
    assert_eq!(kinds.last(), Some(&"close"), "{kinds:?}");
    assert!(
        kinds[..kinds.len() - 1].iter().all(|k| *k == "binary"),
        "{kinds:?}"
    );
    assert_eq!(d.docker_ok(&["wait", &id]).trim(), "0");

    // API < 1.28: text messages; < 1.42: every stream, whatever the query says.
    d.docker_ok(&["run", "--name", "old", "bb", "echo", "logged"]);
    let old = rt.block_on(async {
        let sock = tokio::net::UnixStream::connect(&d.sock).await.unwrap();
        let url = "ws://berth/v1.27/containers/old/attach/ws?logs=1";
        let (ws, _) = tokio_tungstenite::client_async(url, sock).await.unwrap();
        let msgs: Vec<Message> = ws.filter_map(|m| async { m.ok() }).collect().await;
        msgs
    });
    assert!(
        matches!(&old[..], [Message::Text(t), Message::Close(_)] if t.as_str() == "logged\n"),
        "{old:?}"
    );

    let (status, body) = d.raw("GET", "/containers/nope/attach/ws?stream=1", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such container"), "{body}");
    let (status, body) = d.raw("GET", &format!("/containers/{id}/attach/ws"), None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
}
