//! The real docker CLI (v28, when on PATH) against the container routes over
//! a fake backend: proves the wire details the CLI depends on (the 101
//! hijack, wait headers flushed before start, stdcopy framing, exec exit
//! codes) independently of the engine.

// Helpers and the fake live outside `#[test]` functions; panicking there is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::routing::get;
use berth_api::backend::container::{ContainerBackend, ExecBackend, StreamSession};
use berth_api::stdcopy::{self, StreamId};
use berth_api::types::container::{ContainerCreateBody, ContainerCreateResponse};
use berth_api::types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use berth_api::types::inspect::WaitResponse;
use berth_core::{Error, Result};
use berth_server::routes::{containers, exec};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tower::Layer;

/// One container `c1` whose process prints, reads stdin, and exits 3 once started.
struct Fake {
    calls: Mutex<Vec<String>>,
    started: watch::Sender<bool>,
    exited: watch::Sender<Option<i64>>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            calls: Mutex::default(),
            started: watch::channel(false).0,
            exited: watch::channel(None).0,
        }
    }
    fn log(&self, s: &str) {
        self.calls.lock().unwrap().push(s.to_string());
    }
}

#[async_trait]
impl ContainerBackend for Fake {
    async fn container_create(
        &self,
        _name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        if body.config.image == "nope" {
            return Err(Error::not_found("No such image: nope:latest"));
        }
        self.log("create");
        Ok(ContainerCreateResponse {
            id: "c1".into(),
            warnings: vec![],
        })
    }
    async fn container_inspect(
        &self,
        id: &str,
        _size: bool,
    ) -> Result<berth_api::types::inspect::ContainerInspect> {
        if id != "c1" {
            return Err(Error::not_found(format!("No such container: {id}")));
        }
        let mut c = berth_api::types::inspect::ContainerInspect {
            id: id.into(),
            name: "/c1".into(),
            ..Default::default()
        };
        c.state.running = true;
        c.state.status = "running".into();
        Ok(c)
    }
    async fn container_start(&self, _id: &str) -> Result<()> {
        self.log("start");
        self.started.send_replace(true);
        Ok(())
    }
    async fn container_attach(
        &self,
        _id: &str,
        opts: berth_api::backend::container::AttachOptions,
    ) -> Result<StreamSession> {
        self.log(&format!("attach stdin={}", opts.stdin));
        let mut started = self.started.subscribe();
        let exited = self.exited.clone();
        Ok(StreamSession {
            tty: false,
            run: Box::new(move |mut io| {
                async move {
                    // Output produced right after start must not be lost.
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
        self.log(&format!("wait {condition}"));
        if *self.started.borrow() && condition == "next-exit" {
            return Err(Error::internal("wait registered after start"));
        }
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
}

#[async_trait]
impl ExecBackend for Fake {
    async fn exec_create(&self, container: &str, cfg: ExecConfig) -> Result<String> {
        if container != "c1" {
            return Err(Error::not_found(format!("No such container: {container}")));
        }
        self.log(&format!("exec_create {:?}", cfg.cmd.unwrap_or_default()));
        Ok("e1".into())
    }
    async fn exec_start(&self, _id: &str, cfg: ExecStartConfig) -> Result<Option<StreamSession>> {
        Ok((!cfg.detach).then(|| StreamSession {
            tty: cfg.tty,
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

async fn serve(fake: Arc<Fake>) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let router = containers::routes::<Fake>()
        .merge(exec::routes::<Fake>())
        .with_state(fake)
        .route("/_ping", get(|| async { "OK" }).head(|| async { "" }));
    let app = axum::middleware::from_fn(berth_server::version::layer).layer(router);
    tokio::spawn(async move {
        let svc = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
        axum::serve(listener, svc).await.unwrap();
    });
    (dir, format!("unix://{}", sock.display()))
}

fn docker_available() -> bool {
    std::process::Command::new("docker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn docker(
    host: &str,
    cfg: &std::path::Path,
    args: &[&str],
    stdin: &[u8],
) -> std::process::Output {
    let mut child = tokio::process::Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", cfg)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_run_attaches_before_start_and_exits_with_the_container_code() {
    if !docker_available() {
        eprintln!("docker CLI not on PATH; skipping");
        return;
    }
    let fake = Arc::new(Fake::new());
    let (dir, host) = serve(fake.clone()).await;
    let out = docker(
        &host,
        dir.path(),
        &["run", "-i", "busybox", "cat"],
        b"world",
    )
    .await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(stdout, "hello world\n");
    assert_eq!(stderr, "warn\n");
    assert_eq!(
        *fake.calls.lock().unwrap(),
        ["create", "attach stdin=true", "wait next-exit", "start"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_exec_takes_the_exit_code_from_inspect() {
    if !docker_available() {
        return;
    }
    let fake = Arc::new(Fake::new());
    let (dir, host) = serve(fake.clone()).await;
    let out = docker(&host, dir.path(), &["exec", "c1", "ls", "-l"], b"").await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from exec\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(42),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = docker(&host, dir.path(), &["exec", "c2", "ls"], b"").await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: c2"));
    assert_ne!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_run_reports_unknown_images_with_status_125() {
    if !docker_available() {
        return;
    }
    let fake = Arc::new(Fake::new());
    let (dir, host) = serve(fake).await;
    // `--pull never` keeps the CLI from trying a registry.
    let out = docker(&host, dir.path(), &["run", "--pull", "never", "nope"], b"").await;
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nope:latest"));
}
