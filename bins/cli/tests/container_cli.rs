//! The berth binary's container commands against berth-server's container
//! routes over a fake backend: the client flows (pull on `No such image`,
//! attach before start, wait, exit codes, demultiplexing, cp tars, tables)
//! independently of the engine.

// Helpers and the fake live outside `#[test]` functions; panicking there is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::routing::{get, post};
use berth_api::backend::container::{
    AttachOptions, ByteStream, ContainerBackend, ExecBackend, ListOptions, LogsOptions, LogsStream,
    PathStat, StreamSession,
};
use berth_api::stdcopy::{self, StreamId};
use berth_api::types::container::{ContainerCreateBody, ContainerCreateResponse, PortBinding};
use berth_api::types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use berth_api::types::inspect::{ContainerInspect, ContainerSummary, Port, WaitResponse};
use berth_core::{Error, Result};
use berth_server::routes::{containers, exec};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tower::Layer;

struct Fake {
    calls: Mutex<Vec<String>>,
    bodies: Mutex<Vec<serde_json::Value>>,
    pulled: Arc<AtomicBool>,
    put_entries: Mutex<Vec<String>>,
    started: watch::Sender<bool>,
    exited: watch::Sender<Option<i64>>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            calls: Mutex::default(),
            bodies: Mutex::default(),
            pulled: Arc::default(),
            put_entries: Mutex::default(),
            started: watch::channel(false).0,
            exited: watch::channel(None).0,
        }
    }
    fn log(&self, s: impl Into<String>) {
        self.calls.lock().unwrap().push(s.into());
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn no_such(id: &str) -> Error {
    Error::not_found(format!("No such container: {id}"))
}

fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

#[async_trait]
impl ContainerBackend for Fake {
    async fn container_create(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        if body.config.image == "nope" && !self.pulled.load(Ordering::SeqCst) {
            return Err(Error::not_found("No such image: nope:latest"));
        }
        self.log(format!("create {name:?}"));
        self.bodies
            .lock()
            .unwrap()
            .push(serde_json::to_value(&body).unwrap());
        Ok(ContainerCreateResponse {
            id: "c1".into(),
            warnings: vec![],
        })
    }
    async fn container_inspect(&self, id: &str, _size: bool) -> Result<ContainerInspect> {
        if id != "c1" {
            return Err(no_such(id));
        }
        let mut c = ContainerInspect {
            id: "c1".into(),
            name: "/web".into(),
            ..Default::default()
        };
        c.state.running = true;
        c.network_settings.ports.insert(
            "80/tcp".into(),
            Some(vec![PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: "8080".into(),
            }]),
        );
        Ok(c)
    }
    async fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        self.log(format!("list all={}", opts.all));
        Ok(vec![ContainerSummary {
            id: "c1c1c1c1c1c1c1c1".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            command: "httpd -f".into(),
            created: chrono::Utc::now().timestamp() - 120,
            ports: vec![Port {
                ip: "0.0.0.0".into(),
                private_port: 80,
                public_port: 8080,
                kind: "tcp".into(),
            }],
            state: "running".into(),
            status: "Up 2 minutes".into(),
            ..Default::default()
        }])
    }
    async fn container_start(&self, id: &str) -> Result<()> {
        self.log(format!("start {id}"));
        self.started.send_replace(true);
        Ok(())
    }
    async fn container_stop(
        &self,
        id: &str,
        _signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        if id != "c1" {
            return Err(no_such(id));
        }
        self.log(format!("stop {id} {timeout:?}"));
        Ok(())
    }
    async fn container_attach(&self, _id: &str, opts: AttachOptions) -> Result<StreamSession> {
        self.log(format!("attach stdin={}", opts.stdin));
        let mut started = self.started.subscribe();
        let exited = self.exited.clone();
        let tty = self
            .bodies
            .lock()
            .unwrap()
            .last()
            .is_some_and(|b| b["Tty"] == true);
        if tty {
            return Ok(StreamSession {
                tty: true,
                run: Box::new(move |mut io| {
                    async move {
                        let _ = started.wait_for(|s| *s).await;
                        let mut line = Vec::new();
                        let mut b = [0u8; 1];
                        while io.read(&mut b).await.is_ok_and(|n| n == 1)
                            && b[0] != b'\n'
                            && b[0] != b'\r'
                        {
                            line.push(b[0]);
                        }
                        let _ = io
                            .write_all(
                                format!("got: {}\r\n", String::from_utf8_lossy(&line)).as_bytes(),
                            )
                            .await;
                        let _ = io.shutdown().await;
                        exited.send_replace(Some(3));
                    }
                    .boxed()
                }),
            });
        }
        Ok(StreamSession {
            tty: false,
            run: Box::new(move |mut io| {
                async move {
                    let _ = started.wait_for(|s| *s).await;
                    let mut input = Vec::new();
                    if opts.stdin {
                        let _ = io.read_to_end(&mut input).await;
                    }
                    let out = format!("hello {}\n", String::from_utf8_lossy(&input).trim());
                    let _ = io
                        .write_all(&stdcopy::encode(StreamId::Stdout, out.as_bytes()))
                        .await;
                    let _ = io
                        .write_all(&stdcopy::encode(StreamId::Stderr, b"warn\n"))
                        .await;
                    let _ = io.shutdown().await;
                    exited.send_replace(Some(3));
                }
                .boxed()
            }),
        })
    }
    async fn container_wait(
        &self,
        _id: &str,
        condition: &str,
    ) -> Result<BoxFuture<'static, WaitResponse>> {
        self.log(format!("wait {condition}"));
        let mut exited = self.exited.subscribe();
        Ok(async move {
            let code = exited
                .wait_for(Option::is_some)
                .await
                .map(|c| c.unwrap_or(0))
                .unwrap_or(-1);
            WaitResponse {
                status_code: code,
                error: None,
            }
        }
        .boxed())
    }
    async fn container_logs(&self, _id: &str, opts: LogsOptions) -> Result<LogsStream> {
        self.log(format!("logs tail={:?}", opts.tail));
        let frames = [
            stdcopy::encode(StreamId::Stdout, b"log line\n"),
            stdcopy::encode(StreamId::Stderr, b"err line\n"),
        ];
        let body: ByteStream = Box::pin(futures::stream::iter(frames.into_iter().map(Ok)));
        Ok(LogsStream { tty: false, body })
    }
    async fn container_stat_path(&self, _id: &str, path: &str) -> Result<PathStat> {
        match path {
            "/tmp" => Ok(PathStat {
                name: "tmp".into(),
                mode: (1 << 31) | 0o1777,
                ..Default::default()
            }),
            "/etc/hostname" => Ok(PathStat {
                name: "hostname".into(),
                size: 3,
                mode: 0o644,
                ..Default::default()
            }),
            _ => Err(Error::not_found(format!(
                "Could not find the file {path} in container c1"
            ))),
        }
    }
    async fn container_get_archive(&self, id: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        let stat = self.container_stat_path(id, path).await?;
        let tar = tar_with("hostname", b"c1\n");
        Ok((
            stat,
            Box::pin(futures::stream::iter([Ok(Bytes::from(tar))])),
        ))
    }
    async fn container_put_archive(
        &self,
        _id: &str,
        path: &str,
        _no: bool,
        _uid: bool,
        body: ByteStream,
    ) -> Result<()> {
        use futures::StreamExt;
        let chunks: Vec<Bytes> = body.map(|c| c.unwrap()).collect().await;
        let data = chunks.concat();
        let mut a = tar::Archive::new(&data[..]);
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            self.put_entries
                .lock()
                .unwrap()
                .push(format!("{path}:{}", e.path().unwrap().display()));
        }
        Ok(())
    }
}

#[async_trait]
impl ExecBackend for Fake {
    async fn exec_create(&self, container: &str, cfg: ExecConfig) -> Result<String> {
        if container != "c1" {
            return Err(no_such(container));
        }
        self.log(format!("exec_create {:?}", cfg.cmd.unwrap_or_default()));
        Ok("e1".into())
    }
    async fn exec_start(&self, _id: &str, cfg: ExecStartConfig) -> Result<Option<StreamSession>> {
        Ok((!cfg.detach).then(|| StreamSession {
            tty: false,
            run: Box::new(|mut io| {
                async move {
                    let _ = io
                        .write_all(&stdcopy::encode(StreamId::Stdout, b"from exec\n"))
                        .await;
                    let _ = io.shutdown().await;
                }
                .boxed()
            }),
        }))
    }
    async fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        Ok(ExecInspect {
            id: id.into(),
            running: false,
            exit_code: Some(42),
            ..Default::default()
        })
    }
}

struct Env {
    fake: Arc<Fake>,
    dir: tempfile::TempDir,
    host: String,
}

async fn serve() -> Env {
    let fake = Arc::new(Fake::new());
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("berth.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let pulled = fake.pulled.clone();
    let router = containers::routes::<Fake>()
        .merge(exec::routes::<Fake>())
        .with_state(fake.clone())
        .route("/_ping", get(|| async { "OK" }))
        .route(
            "/images/create",
            post(move || {
                let pulled = pulled.clone();
                async move {
                    pulled.store(true, Ordering::SeqCst);
                    "{\"status\":\"Pulling from library/nope\",\"id\":\"latest\"}\n{\"status\":\"Status: Downloaded newer image for nope:latest\"}\n"
                }
            }),
        );
    let app = axum::middleware::from_fn(berth_server::version::layer).layer(router);
    tokio::spawn(async move {
        let svc = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
        axum::serve(listener, svc).await.unwrap();
    });
    Env {
        fake,
        host: format!("unix://{}", sock.display()),
        dir,
    }
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn berth(env: &Env, args: &[&str], stdin: &[u8]) -> Out {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(&env.host)
        .args(args)
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let o = child.wait_with_output().await.unwrap();
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_pulls_attaches_waits_starts_and_exits_with_the_container_code() {
    let env = serve().await;
    let o = berth(
        &env,
        &["run", "-i", "--name", "web", "nope", "cat"],
        b"world",
    )
    .await;
    assert_eq!(o.code, Some(3), "{}", o.stderr);
    assert_eq!(o.stdout, "hello world\n");
    assert!(
        o.stderr
            .starts_with("Unable to find image 'nope:latest' locally\n"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("latest: Pulling from library/nope\n"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.ends_with("warn\n"), "{}", o.stderr);
    assert_eq!(
        env.fake.calls(),
        [
            "create Some(\"web\")",
            "attach stdin=true",
            "wait next-exit",
            "start c1"
        ]
    );
    let body = env.fake.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        (
            body["AttachStdin"].clone(),
            body["StdinOnce"].clone(),
            body["OpenStdin"].clone()
        ),
        (true.into(), true.into(), true.into())
    );
    assert_eq!(body["Cmd"], serde_json::json!(["cat"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_detached_prints_the_id_and_rm_waits_for_removal() {
    let env = serve().await;
    let o = berth(&env, &["run", "-d", "busybox", "true"], b"").await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (Some(0), "c1\n"),
        "{}",
        o.stderr
    );
    assert_eq!(env.fake.calls(), ["create None", "start c1"]);
    assert_eq!(env.fake.bodies.lock().unwrap()[0]["AttachStdout"], false);
    let o = berth(&env, &["run", "-d", "-a", "stdout", "busybox"], b"").await;
    assert_eq!(o.code, Some(125));
    assert!(
        o.stderr.contains("Conflicting options: -a and -d"),
        "{}",
        o.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_rm_waits_for_removal() {
    let env = serve().await;
    let o = berth(&env, &["run", "--rm", "busybox"], b"").await;
    assert_eq!(o.code, Some(3), "{}", o.stderr);
    assert_eq!(
        env.fake.calls(),
        [
            "create None",
            "attach stdin=false",
            "wait removed",
            "start c1"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_output_and_exit_code() {
    let env = serve().await;
    let o = berth(&env, &["exec", "c1", "ls", "-l"], b"").await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (Some(42), "from exec\n"),
        "{}",
        o.stderr
    );
    assert_eq!(env.fake.calls(), ["exec_create [\"ls\", \"-l\"]"]);
    let o = berth(&env, &["exec", "zz", "ls"], b"").await;
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr
            .contains("Error response from daemon: No such container: zz"),
        "{}",
        o.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_demultiplexed() {
    let env = serve().await;
    let o = berth(&env, &["logs", "-n", "5", "c1"], b"").await;
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (Some(0), "log line\n", "err line\n")
    );
    assert_eq!(env.fake.calls(), ["logs tail=Some(5)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps_inspect_port_tables() {
    let env = serve().await;
    let o = berth(&env, &["ps"], b"").await;
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", o.stdout);
    assert!(
        lines[0].starts_with(
            "CONTAINER ID   IMAGE     COMMAND      CREATED         STATUS         PORTS"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("c1c1c1c1c1c1   busybox   \"httpd -f\"   2 minutes ago   Up 2 minutes   0.0.0.0:8080->80/tcp   web"), "{}", lines[1]);
    let o = berth(&env, &["container", "ls", "-aq"], b"").await;
    assert_eq!(o.stdout, "c1c1c1c1c1c1\n");
    let o = berth(&env, &["ps", "--format", "{{.Names}} {{.Ports}}"], b"").await;
    assert_eq!(o.stdout, "web 0.0.0.0:8080->80/tcp\n");
    let o = berth(
        &env,
        &[
            "container",
            "inspect",
            "-f",
            "{{.Name}} {{.State.Running}}",
            "c1",
        ],
        b"",
    )
    .await;
    assert_eq!(o.stdout, "/web true\n", "{}", o.stderr);
    let o = berth(&env, &["container", "inspect", "c1", "zz"], b"").await;
    assert_eq!(o.code, Some(1));
    assert!(
        o.stdout.starts_with("[\n    {\n        \"Id\": \"c1\","),
        "{}",
        o.stdout
    );
    assert_eq!(
        o.stderr,
        "Error response from daemon: No such container: zz\n"
    );
    let o = berth(&env, &["port", "c1"], b"").await;
    assert_eq!(o.stdout, "80/tcp -> 0.0.0.0:8080\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_reports_each_container() {
    let env = serve().await;
    let o = berth(&env, &["stop", "-t", "1", "c1", "zz"], b"").await;
    assert_eq!(o.code, Some(1));
    assert_eq!(o.stdout, "c1\n");
    assert_eq!(
        o.stderr,
        "Error response from daemon: No such container: zz\n"
    );
    assert_eq!(env.fake.calls(), ["stop c1 Some(1)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp_both_directions() {
    let env = serve().await;
    let out = env.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = berth(
        &env,
        &["cp", "c1:/etc/hostname", out.to_str().unwrap()],
        b"",
    )
    .await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(out.join("hostname")).unwrap(),
        "c1\n"
    );
    assert!(o.stderr.starts_with("Successfully copied "), "{}", o.stderr);
    // To a new name in an existing directory.
    let renamed = out.join("hn");
    let o = berth(
        &env,
        &["cp", "c1:/etc/hostname", renamed.to_str().unwrap()],
        b"",
    )
    .await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(&renamed).unwrap(), "c1\n");
    // Into a directory of the container, and to a new name there.
    let src = env.dir.path().join("local.txt");
    std::fs::write(&src, b"data").unwrap();
    let o = berth(&env, &["cp", src.to_str().unwrap(), "c1:/tmp"], b"").await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let o = berth(&env, &["cp", src.to_str().unwrap(), "c1:/tmp/new.txt"], b"").await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        *env.fake.put_entries.lock().unwrap(),
        ["/tmp:local.txt", "/tmp:new.txt"]
    );
    let o = berth(&env, &["cp", "c1:/nope", out.to_str().unwrap()], b"").await;
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("Could not find the file /nope"),
        "{}",
        o.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_tty_under_a_pseudo_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("script(1) not available; skipping");
        return;
    }
    let env = serve().await;
    let cmd = format!(
        "{} -H {} run -it busybox sh",
        env!("CARGO_BIN_EXE_berth"),
        env.host
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"hi\r").await.unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut out = Vec::new();
    stdout.read_to_end(&mut out).await.unwrap();
    let status = child.wait().await.unwrap();
    drop(input);
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("got: hi"), "{out}");
    assert_eq!(status.code(), Some(3), "{out}");
    let body = env.fake.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        (body["Tty"].clone(), body["AttachStdin"].clone()),
        (true.into(), true.into())
    );
}
