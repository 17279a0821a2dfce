//! Container and exec handlers against a small fake backend: request in,
//! status/headers/body out; hijacked streams over a real unix socket.

// Helpers and the fake live outside `#[test]` functions; panicking there is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use berth_api::backend::container::{
    AttachOptions, ByteStream, CommitOptions, ContainerBackend, ExecBackend, ListOptions,
    LogsOptions, LogsStream, PathStat, StreamSession,
};
use berth_api::stdcopy::{self, StreamId};
use berth_api::types::container::{ContainerCreateBody, ContainerCreateResponse};
use berth_api::types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use berth_api::types::inspect::{ContainerInspect, ContainerSummary, WaitResponse};
use berth_core::{Error, Result};
use berth_server::routes::{containers, exec};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Layer, ServiceExt};

/// Records every call as a line; canned answers.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    wait_release: Mutex<Option<tokio::sync::oneshot::Receiver<i64>>>,
    tty: bool,
}

impl Fake {
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn no_such(id: &str) -> Error {
    Error::not_found(format!("No such container: {id}"))
}

/// A session that reads stdin to EOF, then answers `got: <stdin>` (framed unless tty).
fn echo_session(tty: bool) -> StreamSession {
    StreamSession {
        tty,
        run: Box::new(move |mut io| {
            async move {
                let mut input = Vec::new();
                let _ = io.read_to_end(&mut input).await;
                let msg = format!("got: {}", String::from_utf8_lossy(&input));
                let out = if tty {
                    Bytes::from(msg)
                } else {
                    stdcopy::encode(StreamId::Stdout, msg.as_bytes())
                };
                let _ = io.write_all(&out).await;
                let _ = io.shutdown().await;
            }
            .boxed()
        }),
    }
}

#[async_trait]
impl ContainerBackend for Fake {
    async fn container_create(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        self.log(format!("create {name:?} {}", body.config.image));
        Ok(ContainerCreateResponse {
            id: "abc".into(),
            warnings: vec![],
        })
    }
    async fn container_inspect(&self, id: &str, size: bool) -> Result<ContainerInspect> {
        if id == "missing" {
            return Err(no_such(id));
        }
        self.log(format!("inspect {id} {size}"));
        Ok(ContainerInspect {
            id: id.into(),
            ..Default::default()
        })
    }
    async fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        self.log(format!(
            "list all={} limit={:?} size={} before={:?} status={:?}",
            opts.all,
            opts.limit,
            opts.size,
            opts.filters.get("before"),
            opts.filters.get("status")
        ));
        Ok(vec![ContainerSummary {
            id: "abc".into(),
            ..Default::default()
        }])
    }
    async fn container_start(&self, id: &str) -> Result<()> {
        if id == "running" {
            return Err(Error::not_modified("already started"));
        }
        self.log(format!("start {id}"));
        Ok(())
    }
    async fn container_stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.log(format!("stop {id} {signal:?} {timeout:?}"));
        Ok(())
    }
    async fn container_kill(&self, id: &str, signal: &str) -> Result<()> {
        self.log(format!("kill {id} {signal}"));
        Ok(())
    }
    async fn container_wait(
        &self,
        id: &str,
        condition: &str,
    ) -> Result<BoxFuture<'static, WaitResponse>> {
        self.log(format!("wait {id} {condition}"));
        let rx = self.wait_release.lock().unwrap().take();
        Ok(async move {
            let code = match rx {
                Some(rx) => rx.await.unwrap_or(-1),
                None => 0,
            };
            WaitResponse {
                status_code: code,
                error: None,
            }
        }
        .boxed())
    }
    async fn container_remove(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
        link: bool,
    ) -> Result<()> {
        self.log(format!("rm {id} force={force} v={volumes} link={link}"));
        Ok(())
    }
    async fn container_logs(&self, id: &str, opts: LogsOptions) -> Result<LogsStream> {
        self.log(format!(
            "logs {id} since={:?} tail={:?} follow={}",
            opts.since, opts.tail, opts.follow
        ));
        let body: ByteStream = Box::pin(futures::stream::iter([Ok(stdcopy::encode(
            StreamId::Stdout,
            b"line\n",
        ))]));
        Ok(LogsStream {
            tty: self.tty,
            body,
        })
    }
    async fn container_stats(
        &self,
        _id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<std::pin::Pin<Box<dyn futures::Stream<Item = serde_json::Value> + Send>>> {
        self.log(format!("stats stream={stream} one_shot={one_shot}"));
        Ok(Box::pin(futures::stream::iter([
            serde_json::json!({"id": "a"}),
            serde_json::json!({"id": "b"}),
        ])))
    }
    async fn container_attach(&self, id: &str, opts: AttachOptions) -> Result<StreamSession> {
        if id == "missing" {
            return Err(no_such(id));
        }
        self.log(format!(
            "attach {id} stdin={} stream={}",
            opts.stdin, opts.stream
        ));
        Ok(echo_session(self.tty))
    }
    async fn container_stat_path(&self, _id: &str, path: &str) -> Result<PathStat> {
        if path == "/nope" {
            return Err(Error::not_found(
                "Could not find the file /nope in container x",
            ));
        }
        Ok(PathStat {
            name: "etc".into(),
            size: 4096,
            mode: 0x8000_01ed,
            mtime: "2024-01-01T00:00:00Z".into(),
            link_target: String::new(),
        })
    }
    async fn container_get_archive(&self, id: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        let stat = self.container_stat_path(id, path).await?;
        Ok((
            stat,
            Box::pin(futures::stream::iter([Ok(Bytes::from_static(b"TAR"))])),
        ))
    }
    async fn container_put_archive(
        &self,
        id: &str,
        path: &str,
        no_overwrite: bool,
        _uidgid: bool,
        body: ByteStream,
    ) -> Result<()> {
        let data: Vec<Bytes> = body.map(|c| c.unwrap()).collect().await;
        self.log(format!(
            "put {id} {path} {no_overwrite} {}",
            String::from_utf8_lossy(&data.concat())
        ));
        Ok(())
    }
    async fn container_commit(&self, opts: CommitOptions) -> Result<String> {
        self.log(format!(
            "commit {} {}:{} pause={} changes={:?} cmd={:?}",
            opts.container,
            opts.repo,
            opts.tag,
            opts.pause,
            opts.changes,
            opts.config.and_then(|c| c.cmd)
        ));
        Ok("sha256:feed".into())
    }
}

#[async_trait]
impl ExecBackend for Fake {
    async fn exec_create(&self, container: &str, cfg: ExecConfig) -> Result<String> {
        self.log(format!("exec_create {container} {:?}", cfg.cmd));
        Ok("e1".into())
    }
    async fn exec_start(&self, id: &str, cfg: ExecStartConfig) -> Result<Option<StreamSession>> {
        self.log(format!("exec_start {id} detach={}", cfg.detach));
        Ok(if cfg.detach {
            None
        } else {
            Some(echo_session(cfg.tty))
        })
    }
    async fn exec_resize(&self, id: &str, h: u32, w: u32) -> Result<()> {
        self.log(format!("exec_resize {id} {h}x{w}"));
        Ok(())
    }
    async fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        Ok(ExecInspect {
            id: id.into(),
            exit_code: Some(3),
            ..Default::default()
        })
    }
}

/// A backend that implements nothing: every endpoint must answer 501.
struct Nothing;
impl ContainerBackend for Nothing {}
impl ExecBackend for Nothing {}

fn app<B: containers::ContainerApi>(b: Arc<B>) -> Router {
    containers::routes::<B>()
        .merge(exec::routes::<B>())
        .with_state(b)
}

async fn call(
    fake: &Arc<Fake>,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app(fake.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn list_folds_before_and_since_into_filters() {
    let f = Arc::new(Fake::default());
    let (st, _, body) = call(
        &f,
        "GET",
        "/containers/json?all=1&limit=3&before=x&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D",
        "",
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(body.starts_with("[{\"Id\":\"abc\""), "{body}");
    assert_eq!(
        f.calls(),
        ["list all=true limit=Some(3) size=false before=[\"x\"] status=[\"exited\"]"]
    );
    let (st, _, body) = call(
        &f,
        "GET",
        "/containers/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D",
        "",
    )
    .await;
    assert_eq!(st, 400);
    assert!(body.contains("invalid filter 'nope'"), "{body}");
}

#[tokio::test]
async fn create_answers_201_and_refuses_empty_bodies() {
    let f = Arc::new(Fake::default());
    let (st, _, body) = call(
        &f,
        "POST",
        "/containers/create?name=web",
        r#"{"Image":"busybox"}"#,
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(body, r#"{"Id":"abc","Warnings":[]}"#);
    assert_eq!(f.calls(), ["create Some(\"web\") busybox"]);
    let (st, _, _) = call(&f, "POST", "/containers/create", "").await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn lifecycle_statuses() {
    let f = Arc::new(Fake::default());
    assert_eq!(call(&f, "POST", "/containers/c1/start", "").await.0, 204);
    assert_eq!(
        call(&f, "POST", "/containers/c1/start", "null").await.0,
        204
    );
    let (st, _, body) = call(&f, "POST", "/containers/running/start", "").await;
    assert_eq!((st, body.as_str()), (StatusCode::NOT_MODIFIED, ""));
    let (st, _, body) = call(&f, "POST", "/containers/c1/start", r#"{"Binds":["/a:/b"]}"#).await;
    assert_eq!(st, 400);
    assert!(body.contains("removed in v1.24"));
    assert_eq!(call(&f, "POST", "/containers/c1/kill", "").await.0, 204);
    assert_eq!(
        call(&f, "POST", "/containers/c1/kill?signal=HUP", "")
            .await
            .0,
        204
    );
    assert_eq!(
        call(&f, "POST", "/containers/c1/stop?t=5&signal=SIGINT", "")
            .await
            .0,
        204
    );
    assert_eq!(
        call(&f, "POST", "/containers/c1/stop?t=soon", "").await.0,
        400
    );
    assert_eq!(
        call(&f, "DELETE", "/containers/c1?force=1&v=true", "")
            .await
            .0,
        204
    );
    let (st, _, body) = call(&f, "GET", "/containers/missing/json", "").await;
    assert_eq!(st, 404);
    assert_eq!(body, r#"{"message":"No such container: missing"}"#);
    assert_eq!(
        f.calls(),
        [
            "start c1",
            "start c1",
            "kill c1 SIGKILL",
            "kill c1 HUP",
            "stop c1 Some(\"SIGINT\") Some(5)",
            "rm c1 force=true v=true link=false",
        ]
    );
}

#[tokio::test]
async fn unimplemented_backend_answers_501() {
    let resp = app(Arc::new(Nothing))
        .oneshot(
            Request::post("/containers/x/pause")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    let resp = app(Arc::new(Nothing))
        .oneshot(Request::get("/exec/x/json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
}

#[tokio::test]
async fn logs_need_a_stream_and_pick_the_content_type() {
    let f = Arc::new(Fake::default());
    let (st, _, body) = call(&f, "GET", "/containers/c1/logs", "").await;
    assert_eq!(st, 400);
    assert!(
        body.contains("you must choose at least one stream"),
        "{body}"
    );
    let (st, h, body) = call(
        &f,
        "GET",
        "/containers/c1/logs?stdout=1&since=1700000000.5&tail=10",
        "",
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        h["content-type"],
        "application/vnd.docker.multiplexed-stream"
    );
    assert_eq!(
        body.as_bytes(),
        &stdcopy::encode(StreamId::Stdout, b"line\n")[..]
    );
    assert_eq!(
        f.calls(),
        ["logs c1 since=Some(1700000000500000000) tail=Some(10) follow=false"]
    );
    let (_, _, _) = call(&f, "GET", "/containers/c1/logs?stderr=1&tail=all", "").await;
    assert_eq!(f.calls()[1], "logs c1 since=None tail=None follow=false");
    let (st, _, _) = call(
        &f,
        "GET",
        "/containers/c1/logs?stderr=1&until=yesterday",
        "",
    )
    .await;
    assert_eq!(st, 400);
    let tty = Arc::new(Fake {
        tty: true,
        ..Default::default()
    });
    let (_, h, _) = call(&tty, "GET", "/containers/c1/logs?stdout=1", "").await;
    assert_eq!(h["content-type"], "application/vnd.docker.raw-stream");
}

#[tokio::test]
async fn stats_are_json_lines() {
    let f = Arc::new(Fake::default());
    let (st, h, body) = call(&f, "GET", "/containers/c1/stats?stream=0&one-shot=1", "").await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(body, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
    assert_eq!(f.calls(), ["stats stream=false one_shot=true"]);
}

#[tokio::test]
async fn archive_stat_header_get_and_put() {
    let f = Arc::new(Fake::default());
    let (st, h, body) = call(&f, "HEAD", "/containers/c1/archive?path=/etc", "").await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, ""));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h["x-docker-container-path-stat"].as_bytes())
        .unwrap();
    let stat: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(stat["name"], "etc");
    assert_eq!(stat["mode"], 0x8000_01ed_u32);
    assert_eq!(stat["linkTarget"], "");
    let (st, h, body) = call(&f, "GET", "/containers/c1/archive?path=/etc", "").await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, "TAR"));
    assert_eq!(h["content-type"], "application/x-tar");
    assert!(h.contains_key("x-docker-container-path-stat"));
    assert_eq!(
        call(&f, "HEAD", "/containers/c1/archive?path=/nope", "")
            .await
            .0,
        404
    );
    assert_eq!(call(&f, "GET", "/containers/c1/archive", "").await.0, 400);
    let (st, _, _) = call(
        &f,
        "PUT",
        "/containers/c1/archive?path=/tmp&noOverwriteDirNonDir=1",
        "tarbytes",
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(f.calls(), ["put c1 /tmp true tarbytes"]);
}

#[tokio::test]
async fn commit_defaults_to_pause_and_keeps_repeated_changes() {
    let f = Arc::new(Fake::default());
    let (st, _, body) = call(
        &f,
        "POST",
        "/commit?container=c1&repo=img&tag=v1&changes=ENV%20A%3D1&changes=CMD%20x",
        r#"{"Cmd":["sh"]}"#,
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(body, r#"{"Id":"sha256:feed"}"#);
    call(&f, "POST", "/commit?container=c1&pause=0", "").await;
    assert_eq!(
        f.calls(),
        [
            "commit c1 img:v1 pause=true changes=[\"ENV A=1\", \"CMD x\"] cmd=Some([\"sh\"])",
            "commit c1 : pause=false changes=[] cmd=None",
        ]
    );
}

#[tokio::test]
async fn exec_create_detached_start_resize_inspect() {
    let f = Arc::new(Fake::default());
    let (st, _, body) = call(
        &f,
        "POST",
        "/containers/c1/exec",
        r#"{"Cmd":["ls"],"AttachStdout":true}"#,
    )
    .await;
    assert_eq!((st, body.as_str()), (StatusCode::CREATED, r#"{"Id":"e1"}"#));
    let (st, _, body) = call(&f, "POST", "/exec/e1/start", r#"{"Detach":true}"#).await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, ""));
    assert_eq!(
        call(&f, "POST", "/exec/e1/resize?h=24&w=80", "").await.0,
        200
    );
    assert_eq!(call(&f, "POST", "/exec/e1/resize?h=24", "").await.0, 400);
    let (_, _, body) = call(&f, "GET", "/exec/e1/json", "").await;
    assert!(body.contains(r#""ExitCode":3"#), "{body}");
    assert_eq!(
        f.calls(),
        [
            "exec_create c1 Some([\"ls\"])",
            "exec_start e1 detach=true",
            "exec_resize e1 24x80"
        ]
    );
}

#[tokio::test]
async fn wait_validates_the_condition() {
    let f = Arc::new(Fake::default());
    assert_eq!(
        call(&f, "POST", "/containers/c1/wait?condition=later", "")
            .await
            .0,
        400
    );
    let (st, _, body) = call(&f, "POST", "/containers/c1/wait?condition=next-exit", "").await;
    assert_eq!(st, 200);
    assert_eq!(body, "{\"StatusCode\":0,\"Error\":null}\n");
    assert_eq!(f.calls(), ["wait c1 next-exit"]);
}

// ---- over a real unix socket -------------------------------------------------

/// Serve the routes (behind the version layer, as berthd does) on a unix socket.
async fn serve(fake: Arc<Fake>) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("api.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let app = axum::middleware::from_fn(berth_server::version::layer).layer(app(fake));
    tokio::spawn(async move {
        let svc = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
        axum::serve(listener, svc).await.unwrap();
    });
    (dir, sock)
}

/// Send a raw request and read the response head (up to the blank line).
async fn raw_head(sock: &std::path::Path, req: &str) -> (tokio::net::UnixStream, String) {
    let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).await.unwrap(),
            1,
            "connection closed in head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    (s, String::from_utf8(head).unwrap())
}

fn attach_req(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn attach_hijacks_with_docker_headers_and_half_close() {
    let f = Arc::new(Fake::default());
    let (_dir, sock) = serve(f.clone()).await;
    let (mut s, head) = raw_head(
        &sock,
        &attach_req("/v1.50/containers/c1/attach?stream=1&stdin=1&stdout=1"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/vnd.docker.multiplexed-stream\r\n"),
        "{head}"
    );
    assert!(lower.contains("connection: upgrade\r\n"), "{head}");
    assert!(lower.contains("upgrade: tcp\r\n"), "{head}");
    s.write_all(b"hello").await.unwrap();
    s.shutdown().await.unwrap(); // half-close: stdin EOF, output must still arrive
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert_eq!(
        out,
        stdcopy::encode(StreamId::Stdout, b"got: hello").to_vec()
    );
    assert_eq!(f.calls(), ["attach c1 stdin=true stream=true"]);

    // Old API versions always announce the raw type.
    let (_, head) = raw_head(&sock, &attach_req("/v1.41/containers/c1/attach?stream=1")).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.raw-stream\r\n"),
        "{head}"
    );
    // Errors come before the hijack, as plain JSON errors.
    let (_, head) = raw_head(
        &sock,
        &attach_req("/v1.50/containers/missing/attach?stream=1"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test]
async fn attach_without_upgrade_streams_raw_over_the_same_connection() {
    let f = Arc::new(Fake {
        tty: true,
        ..Default::default()
    });
    let (_dir, sock) = serve(f).await;
    let req = "POST /containers/c1/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    let (mut s, head) = raw_head(&sock, req).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.raw-stream\r\n"),
        "{head}"
    );
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(
        String::from_utf8_lossy(&out).contains("got: abc"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test]
async fn exec_start_hijacks_with_a_tty() {
    let f = Arc::new(Fake::default());
    let (_dir, sock) = serve(f).await;
    let body = r#"{"Detach":false,"Tty":true}"#;
    let req = format!(
        "POST /v1.50/exec/e1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (mut s, head) = raw_head(&sock, &req).await;
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.raw-stream\r\n"),
        "{head}"
    );
    s.write_all(b"ls\n").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"got: ls\n");
}

#[tokio::test]
async fn wait_sends_headers_before_the_container_exits() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let f = Arc::new(Fake {
        wait_release: Mutex::new(Some(rx)),
        ..Default::default()
    });
    let (_dir, sock) = serve(f).await;
    let req = "POST /v1.50/containers/c1/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    // The head arrives while the wait is still pending.
    let (mut s, head) = raw_head(&sock, req).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    tx.send(7).unwrap();
    let mut chunk = vec![0u8; 256];
    let mut got = String::new();
    while !got.contains("}\n") {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        got.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(got.contains(r#"{"StatusCode":7,"Error":null}"#), "{got}");
}
