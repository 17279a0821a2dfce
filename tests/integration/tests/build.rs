//! Builds from Dockerfiles (issue 8), driven by the real docker CLI with the
//! classic builder (`DOCKER_BUILDKIT=0`, set by the harness), the raw API and
//! the berth CLI: multi-stage builds, the cache (content, not mtimes),
//! errors with lines and exit codes, contexts outside the Dockerfile's
//! directory, compressed contexts, ADD of archives and URLs, and cleanup.

// Helpers outside `#[test]` functions panic on setup failures too: this is test code.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use berth_integration::{Daemon, stderr, stdout};

fn write(dir: &Path, name: &str, content: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, content).unwrap();
}

fn build(d: &Daemon, args: &[&str]) -> std::process::Output {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    d.docker(&full)
}

fn build_ok(d: &Daemon, args: &[&str]) -> String {
    let out = build(d, args);
    assert!(
        out.status.success(),
        "build {args:?} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn no_containers_left(d: &Daemon) {
    let left = d.docker_ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Image}} {{.Command}} {{.Status}}",
    ]);
    if !left.trim().is_empty() {
        panic!(
            "build containers left behind:\n{left}\ndaemon log:\n{}",
            d.log()
        );
    }
}

const MULTI: &str = r#"ARG BASE=bb
FROM ${BASE} AS build
ARG NAME=world
ENV GREETING="hello ${NAME}"
WORKDIR /work
COPY src/ ./src/
RUN <<EOF
echo "$GREETING" > /work/out.txt
ls src >> /work/out.txt
EOF
RUN cat <<-EOT > /work/extra.txt
	line for ${NAME:-nobody}
	EOT

FROM bb AS final
ARG BASE
LABEL org.example.base=$BASE
COPY --from=build /work/ /srv/
USER 1234:1234
WORKDIR /srv
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD test -f /srv/out.txt
ENTRYPOINT ["cat"]
CMD ["/srv/out.txt", "/srv/extra.txt"]
"#;

fn multi_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", MULTI);
    write(dir.path(), "src/a.txt", "source\n");
    write(dir.path(), "src/skip.log", "excluded\n");
    write(dir.path(), "secret/key", "password\n");
    write(dir.path(), ".dockerignore", "secret\n**/*.log\n");
    dir
}

#[test]
fn multi_stage_build_runs_with_expected_config() {
    let d = Daemon::with_busybox();
    let ctx = multi_context();
    let out = build_ok(
        &d,
        &[
            "-t",
            "multi:1",
            "--build-arg",
            "NAME=berth",
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(out.contains("Step 1/17 : ARG BASE=bb"), "{out}");
    assert!(out.contains("Step 2/17 : FROM ${BASE} AS build"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("Removing intermediate container"), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged multi:1"), "{out}");
    no_containers_left(&d);

    // ENTRYPOINT + CMD, ARG/ENV substitution, heredocs, .dockerignore.
    let run = d.docker_ok(&["run", "--rm", "multi:1"]);
    assert_eq!(run, "hello berth\na.txt\nline for berth\n");
    let who = d.docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "multi:1",
        "-c",
        "id -u; pwd; ls /srv/src",
    ]);
    assert_eq!(who, "1234\n/srv\na.txt\n");

    let cfg: serde_json::Value =
        serde_json::from_str(&d.docker_ok(&["inspect", "-f", "{{json .Config}}", "multi:1"]))
            .unwrap();
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["cat"]));
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["/srv/out.txt", "/srv/extra.txt"])
    );
    assert_eq!(cfg["User"], "1234:1234");
    assert_eq!(cfg["WorkingDir"], "/srv");
    assert_eq!(cfg["Labels"]["org.example.base"], "bb");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "test -f /srv/out.txt"])
    );
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(cfg["Healthcheck"]["Timeout"], 2_000_000_000i64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 3);
    // The build stage's ENV does not leak into the final stage.
    assert!(!cfg["Env"].to_string().contains("GREETING"), "{cfg}");

    let hist = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "multi:1",
    ]);
    assert!(
        hist.contains(r#"/bin/sh -c #(nop)  CMD ["/srv/out.txt" "/srv/extra.txt"]"#),
        "{hist}"
    );
    assert!(
        hist.contains(r#"/bin/sh -c #(nop)  ENTRYPOINT ["cat"]"#),
        "{hist}"
    );
    assert!(hist.contains("/bin/sh -c #(nop) WORKDIR /srv"), "{hist}");
    assert!(hist.contains("/bin/sh -c #(nop)  USER 1234:1234"), "{hist}");
    assert!(
        hist.contains("/bin/sh -c #(nop)  LABEL org.example.base=bb"),
        "{hist}"
    );
    // --target builds only the stages the target needs.
    let out = build_ok(
        &d,
        &[
            "-t",
            "multi:build",
            "--target",
            "build",
            "--build-arg",
            "NAME=berth",
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(out.contains("Step 8/8 "), "{out}");
    assert!(!out.contains("FROM bb AS final"), "{out}");
    let hist = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "multi:build",
    ]);
    assert!(
        hist.contains("/bin/sh -c #(nop)  ENV GREETING=hello berth"),
        "{hist}"
    );
    assert!(hist.contains("/bin/sh -c #(nop)  ARG NAME=world"), "{hist}");
    assert!(
        hist.contains("|1 NAME=berth /bin/sh -c cat <<-EOT > /work/extra.txt"),
        "{hist}"
    );
}

#[test]
fn run_output_keeps_stdout_plain_and_marks_stderr() {
    let d = Daemon::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nRUN echo to-out; echo to-err >&2\n",
    );
    let out = build_ok(&d, &["--no-cache", ctx.path().to_str().unwrap()]);
    // As Docker's classic builder: stderr chunks in bright red, stdout as is.
    assert!(out.contains("\x1b[91mto-err\n\x1b[0m"), "{out:?}");
    assert!(
        out.contains("to-out\n") && !out.contains("\x1b[91mto-out"),
        "{out:?}"
    );
}

#[test]
fn cache_follows_content_not_mtime() {
    let d = Daemon::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "file.txt", "one\n");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nRUN echo hello > /hello.txt\nCOPY file.txt /app/file.txt\nENV GREETING=anchors\nWORKDIR /app\nRUN cat /hello.txt file.txt > out.txt\n",
    );
    let p = ctx.path().to_str().unwrap();
    let first = build_ok(&d, &["-t", "c:1", p]);
    assert!(!first.contains("Using cache"), "{first}");
    let id1 = d.docker_ok(&["inspect", "-f", "{{.Id}}", "c:1"]);

    let second = build_ok(&d, &["-t", "c:1", p]);
    assert_eq!(second.matches("Using cache").count(), 5, "{second}");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.Id}}", "c:1"]), id1);

    // Same content, new mtime: still cached.
    std::thread::sleep(Duration::from_millis(1100));
    write(ctx.path(), "file.txt", "one\n");
    let third = build_ok(&d, &["-t", "c:1", p]);
    assert_eq!(third.matches("Using cache").count(), 5, "{third}");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.Id}}", "c:1"]), id1);

    // New content: cached up to the COPY, rebuilt from there.
    write(ctx.path(), "file.txt", "two\n");
    let fourth = build_ok(&d, &["-t", "c:1", p]);
    assert_eq!(fourth.matches("Using cache").count(), 1, "{fourth}");
    let copy_step = fourth.split("Step 3/6").nth(1).unwrap();
    assert!(
        !copy_step.lines().nth(1).unwrap().contains("Using cache"),
        "{fourth}"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", "c:1", "cat", "out.txt"]),
        "hello\ntwo\n"
    );

    // --no-cache rebuilds everything.
    let fifth = build_ok(&d, &["--no-cache", "-t", "c:1", p]);
    assert!(!fifth.contains("Using cache"), "{fifth}");

    // builder prune forgets the cache.
    let pruned = d.docker_ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total"), "{pruned}");
    let sixth = build_ok(&d, &["-t", "c:1", p]);
    assert!(!sixth.contains("Using cache"), "{sixth}");

    // --cache-from: only the named images and their ancestors are reused;
    // a name that does not resolve leaves nothing to reuse.
    let from = build_ok(&d, &["--cache-from", "c:1", "-t", "c:2", p]);
    assert_eq!(from.matches("Using cache").count(), 5, "{from}");
    let unrelated = build_ok(&d, &["--cache-from", "bb", "-t", "c:3", p]);
    assert!(!unrelated.contains("Using cache"), "{unrelated}");
    let missing = build_ok(&d, &["--cache-from", "nosuchtag", "-t", "c:3", p]);
    assert!(!missing.contains("Using cache"), "{missing}");
    no_containers_left(&d);
}

#[test]
fn errors_report_lines_codes_and_forbidden_paths() {
    let d = Daemon::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let p = ctx.path().to_str().unwrap();

    write(ctx.path(), "Dockerfile", "FROM bb\nRUN true\nRUNN nope\n");
    let out = build(&d, &[p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("dockerfile parse error on line 3: unknown instruction: RUNN"),
        "{}",
        stderr(&out)
    );

    write(ctx.path(), "Dockerfile", "FROM bb\nENV A\n");
    let out = build(&d, &[p]);
    assert!(
        stderr(&out).contains("dockerfile parse error on line 2: ENV must have two arguments"),
        "{}",
        stderr(&out)
    );

    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nRUN echo before && exit 3\nRUN echo never\n",
    );
    let images_before = d.docker_ok(&["images", "-aq"]).lines().count();
    let out = build(&d, &[p]);
    // The CLI exits with the errorDetail code, as it does against Docker.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains("before"), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3"),
        "{}",
        stderr(&out)
    );
    no_containers_left(&d);
    // Nothing half-made: the failed step left no image.
    assert_eq!(
        d.docker_ok(&["images", "-aq"]).lines().count(),
        images_before
    );

    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nCOPY ../outside.txt /x\n",
    );
    let out = build(&d, &[p]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("forbidden path outside the build context"),
        "{}",
        stderr(&out)
    );

    write(ctx.path(), "Dockerfile", "FROM bb\nCOPY missing.txt /x\n");
    let out = build(&d, &[p]);
    assert!(
        stderr(&out).contains("file not found in build context"),
        "{}",
        stderr(&out)
    );

    write(ctx.path(), "Dockerfile", "FROM bb AS a\nRUN true\n");
    let out = build(&d, &["--target", "nope", p]);
    assert!(
        stderr(&out).contains("failed to reach build target nope in Dockerfile"),
        "{}",
        stderr(&out)
    );

    write(ctx.path(), "Dockerfile", "FROM does-not-exist-locally:1\n");
    let out = build(&d, &[p]);
    assert!(!out.status.success());
    no_containers_left(&d);
}

#[test]
fn dockerfile_outside_context_and_stdin() {
    let d = Daemon::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    write(ctx.path(), "data.txt", "data\n");
    write(
        other.path(),
        "Build.df",
        "FROM bb\nCOPY data.txt /\nCMD [\"cat\", \"/data.txt\"]\n",
    );
    build_ok(
        &d,
        &[
            "-t",
            "f:1",
            "-f",
            other.path().join("Build.df").to_str().unwrap(),
            ctx.path().to_str().unwrap(),
        ],
    );
    assert_eq!(d.docker_ok(&["run", "--rm", "f:1"]), "data\n");

    // `docker build -` with a Dockerfile on stdin (no context).
    let out = d
        .docker_cmd(&["build", "-t", "f:2", "-"])
        .stdin(std::fs::File::open(other.path().join("Build.df")).unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success(), "COPY without a context must fail");
    let df = other.path().join("Simple.df");
    std::fs::write(&df, "FROM bb\nLABEL a=b\n").unwrap();
    let out = d
        .docker_cmd(&["build", "-q", "-t", "f:3", "-"])
        .stdin(std::fs::File::open(&df).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).trim().starts_with("sha256:"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.Config.Labels.a}}", "f:3"])
            .trim(),
        "b"
    );
}

/// A one-shot HTTP server on loopback serving `body`.
fn serve_once(body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (format!("http://{addr}/files/remote.txt"), h)
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn add_archives_urls_and_instructions() {
    let d = Daemon::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let gz = berth_integration::fixtures::gzip(&tar_of(&[("inner/a.txt", b"from archive\n")]));
    std::fs::write(ctx.path().join("bundle.tar.gz"), gz).unwrap();
    let (url, server) = serve_once(b"remote content\n".to_vec());
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM bb\nADD bundle.tar.gz /opt/\nADD {url} /dl/\nCOPY --chown=5:6 --chmod=700 <<EOF /etc/greeting\nhi $HOSTNAME_X\nEOF\n\
             EXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nSHELL [\"/bin/sh\", \"-c\"]\nONBUILD RUN echo triggered > /onbuild.txt\nMAINTAINER someone\n"
        ),
    );
    build_ok(&d, &["-t", "add:1", ctx.path().to_str().unwrap()]);
    server.join().unwrap();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "add:1",
        "sh",
        "-c",
        "cat /opt/inner/a.txt /dl/remote.txt /etc/greeting; stat -c '%u:%g %a' /etc/greeting; stat -c %a /dl/remote.txt",
    ]);
    assert_eq!(out, "from archive\nremote content\nhi \n5:6 700\n600\n");
    let cfg: serde_json::Value =
        serde_json::from_str(&d.docker_ok(&["inspect", "-f", "{{json .Config}}", "add:1"]))
            .unwrap();
    assert!(
        cfg["ExposedPorts"].get("80/tcp").is_some() && cfg["ExposedPorts"].get("53/udp").is_some(),
        "{cfg}"
    );
    assert!(cfg["Volumes"].get("/data").is_some(), "{cfg}");
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(
        cfg["OnBuild"],
        serde_json::json!(["RUN echo triggered > /onbuild.txt"])
    );
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.Author}}", "add:1"])
            .trim(),
        "someone"
    );

    // ONBUILD triggers run in a build FROM the image.
    let child = tempfile::tempdir().unwrap();
    write(
        child.path(),
        "Dockerfile",
        "FROM add:1\nRUN cat /onbuild.txt\n",
    );
    let out = build_ok(&d, &["-t", "add:child", child.path().to_str().unwrap()]);
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "add:child", "cat", "/onbuild.txt"]),
        "triggered\n"
    );
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{json .Config.OnBuild}}", "add:child"])
            .trim(),
        "null"
    );
}

/// POST /build with a raw body; returns (status, response text).
fn raw_build(d: &Daemon, query: &str, body: &[u8]) -> (u16, String) {
    let mut s = UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "POST /v1.50/build?{query} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    (
        text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0),
        text,
    )
}

#[test]
fn api_compressed_contexts_quiet_and_remote() {
    let d = Daemon::with_busybox();
    let tar = tar_of(&[
        ("Dockerfile", b"FROM bb\nCOPY f /f\nRUN cat /f\n"),
        ("f", b"payload\n"),
    ]);
    let gz = berth_integration::fixtures::gzip(&tar);
    let (status, text) = raw_build(&d, "t=api%3Agz", &gz);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("payload"), "{text}");
    assert!(text.contains(r#""aux":{"ID":"sha256:"#), "{text}");
    assert!(text.contains("Successfully tagged api:gz"), "{text}");

    let xz = std::process::Command::new("xz")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut child) = xz {
        child.stdin.take().unwrap().write_all(&tar).unwrap();
        let out = child.wait_with_output().unwrap();
        let (status, text) = raw_build(&d, "t=api%3Axz&q=1", &out.stdout);
        assert_eq!(status, 200, "{text}");
        // Quiet: only the image id.
        assert!(!text.contains("Step 1/"), "{text}");
        assert!(text.contains(r#"{"stream":"sha256:"#), "{text}");
    }
    let bz = std::process::Command::new("bzip2")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut child) = bz {
        child.stdin.take().unwrap().write_all(&tar).unwrap();
        let out = child.wait_with_output().unwrap();
        let (status, text) = raw_build(&d, "t=api%3Abz", &out.stdout);
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("Successfully tagged api:bz"), "{text}");
    }

    // A parse error is an HTTP 400 before any output.
    let bad = tar_of(&[("Dockerfile", b"FROM bb\nBOGUS x\n")]);
    let (status, text) = raw_build(&d, "", &bad);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("dockerfile parse error on line 2: unknown instruction: BOGUS"),
        "{text}"
    );

    // A failing RUN: errorDetail with the exit code.
    let fail = tar_of(&[("Dockerfile", b"FROM bb\nRUN exit 7\n")]);
    let (status, text) = raw_build(&d, "", &fail);
    assert_eq!(status, 200);
    assert!(text.contains(r#""errorDetail":{"code":7,"message":"The command '/bin/sh -c exit 7' returned a non-zero code: 7"}"#), "{text}");

    // remote= a tar served over loopback.
    let (url, server) = serve_once(gz);
    let (status, text) = raw_build(
        &d,
        &format!(
            "t=api%3Aremote&remote={}",
            url.replace(':', "%3A").replace('/', "%2F")
        ),
        b"",
    );
    server.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Successfully tagged api:remote"), "{text}");
    no_containers_left(&d);
}

#[test]
fn client_disconnect_cancels_and_cleans_up() {
    let d = Daemon::with_busybox();
    // The marker is split in the Dockerfile so only the container's output matches it.
    let tar = tar_of(&[("Dockerfile", b"FROM bb\nRUN echo st\"\"arted; sleep 30\n")]);
    let mut s = UnixStream::connect(&d.sock).unwrap();
    let head = format!(
        "POST /v1.50/build?t=slow HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&tar).unwrap();
    // Wait until the RUN container is running, then hang up.
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    while !seen.contains("\"stream\":\"started\\n\"") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline && !d.docker_ok(&["ps", "-aq"]).trim().is_empty() {
        std::thread::sleep(Duration::from_millis(100));
    }
    no_containers_left(&d);
    assert!(!d.docker(&["image", "inspect", "slow"]).status.success());
}

#[test]
fn berth_cli_builds() {
    let d = Daemon::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb\nARG V\nRUN echo \"v=$V\" > /v\nCMD [\"cat\", \"/v\"]\n",
    );
    let out = d.berth(&[
        "build",
        "-t",
        "b:1",
        "--build-arg",
        "V=7",
        "--label",
        "x=y",
        "--progress=plain",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Successfully tagged b:1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(d.docker_ok(&["run", "--rm", "b:1"]), "v=7\n");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.Config.Labels.x}}", "b:1"])
            .trim(),
        "y"
    );
    let q = d.berth(&["build", "-q", ctx.path().to_str().unwrap()]);
    assert!(stdout(&q).trim().starts_with("sha256:"), "{}", stdout(&q));
    let prune = d.berth(&["builder", "prune", "-f"]);
    assert!(prune.status.success(), "{}", stderr(&prune));
}

#[test]
fn run_mounts_and_independent_stages() {
    let d = Daemon::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "f", "mounted\n");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM bb AS a\nRUN echo a > /a\nFROM bb AS b\nRUN echo b > /b\nFROM bb AS unused\nRUN exit 9\nFROM bb\n\
         RUN --mount=type=cache,target=/cache echo x >> /cache/log; echo \"count $(wc -l < /cache/log)\"\n\
         RUN --mount=type=bind,source=f,target=/m cat /m\n\
         RUN --mount=type=tmpfs,target=/t touch /t/x && ls /t && test ! -e /t/x || true\n\
         RUN --mount=type=bind,from=a,source=/a,target=/froma cat /froma\n\
         COPY --from=b /b /b\n",
    );
    let p = ctx.path().to_str().unwrap();
    let out = build_ok(&d, &["-t", "m:1", p]);
    // The stage nothing needs is not built.
    assert!(!out.contains("RUN exit 9"), "{out}");
    assert!(
        out.contains("count 1\n") && out.contains("mounted\n") && out.contains("\na\n"),
        "{out}"
    );
    // Mounted content stays out of the image.
    let out = d.docker(&["run", "--rm", "m:1", "cat", "/b", "/cache/log"]);
    assert_eq!(stdout(&out), "b\n");
    assert_eq!(
        out.status.code(),
        Some(1),
        "/cache/log must not be in the image"
    );
    // The cache mount outlives the build.
    let out = build_ok(&d, &["--no-cache", "-t", "m:1", p]);
    assert!(out.contains("count 2\n"), "{out}");
    no_containers_left(&d);
}
