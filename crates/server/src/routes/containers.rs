//! `/containers/*` and `/commit`: parse Docker's query parameters and bodies,
//! call [`berth_api::backend::container::ContainerBackend`], encode.
//!
//! Streams (logs, stats, export, archives, wait) are answered as soon as the
//! backend hands over a stream, so headers reach the client before the first
//! byte of output; attach is hijacked (see [`crate::hijack`]).
//!
//! Handlers are generic over the backend (`Router<Arc<B>>`) so these routes can
//! be served and unit-tested with any [`ContainerApi`], independently of the
//! [`berth_api::backend::Backend`] supertrait the daemon's router holds.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use berth_api::backend::container::{
    AttachOptions, ByteStream, CommitOptions, ContainerBackend, ExecBackend, ListOptions,
    LogsOptions, PathStat,
};
use berth_api::types::IdResponse;
use berth_api::types::container::{ContainerConfig, ContainerCreateBody};
use berth_api::types::inspect::UpdateBody;
use berth_core::Error;
use berth_core::filters::Filters;
use futures::StreamExt;

use super::body::{JsonBody, OptionalJson};
use crate::error::ApiResult;
use crate::hijack::{self, Hijack};
use crate::query::Query;

/// What the container and exec routes need from a backend.
pub trait ContainerApi: ContainerBackend + ExecBackend + Send + Sync + 'static {}

impl<T: ContainerBackend + ExecBackend + Send + Sync + ?Sized + 'static> ContainerApi for T {}

/// Container routes.
pub fn routes<B: ContainerApi + ?Sized>() -> Router<Arc<B>> {
    Router::new()
        .route("/containers/json", get(list::<B>))
        .route("/containers/create", post(create::<B>))
        .route("/containers/prune", post(prune::<B>))
        .route("/containers/{id}", delete(remove::<B>))
        // A legacy link `<container>/<alias>` (with `?link=1`); other methods
        // on unknown sub-paths still get the API's 404.
        .route(
            "/containers/{id}/{alias}",
            delete(remove_link::<B>).fallback(super::fallback::handler),
        )
        .route("/containers/{id}/json", get(inspect::<B>))
        .route("/containers/{id}/top", get(top::<B>))
        .route("/containers/{id}/logs", get(logs::<B>))
        .route("/containers/{id}/changes", get(changes::<B>))
        .route("/containers/{id}/export", get(export::<B>))
        .route("/containers/{id}/stats", get(stats::<B>))
        .route("/containers/{id}/resize", post(resize::<B>))
        .route("/containers/{id}/start", post(start::<B>))
        .route("/containers/{id}/stop", post(stop::<B>))
        .route("/containers/{id}/restart", post(restart::<B>))
        .route("/containers/{id}/kill", post(kill::<B>))
        .route("/containers/{id}/update", post(update::<B>))
        .route("/containers/{id}/rename", post(rename::<B>))
        .route("/containers/{id}/pause", post(pause::<B>))
        .route("/containers/{id}/unpause", post(unpause::<B>))
        .route("/containers/{id}/attach", post(attach::<B>))
        .route("/containers/{id}/attach/ws", get(attach_ws::<B>))
        .route("/containers/{id}/wait", post(wait::<B>))
        .route(
            "/containers/{id}/archive",
            get(get_archive::<B>)
                .head(stat_archive::<B>)
                .put(put_archive::<B>),
        )
        .route("/commit", post(commit::<B>))
}

/// Filter keys `POST /containers/prune` accepts.
const PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn with_type(mut resp: Response, ctype: &'static str) -> Response {
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp
}

fn byte_body(s: ByteStream) -> Body {
    Body::from_stream(s)
}

/// `filters`, plus the legacy `before`/`since` parameters folded in as filters.
fn list_filters(q: &Query) -> Result<Filters, Error> {
    let extra: Vec<(&str, &str)> = ["before", "since"]
        .iter()
        .filter_map(|k| q.get(k).filter(|v| !v.is_empty()).map(|v| (*k, v)))
        .collect();
    if extra.is_empty() {
        return q.filters();
    }
    let raw = q.str("filters");
    let mut obj = if raw.trim().is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return q.filters(),
        }
    };
    for (k, v) in extra {
        obj.insert(k.to_string(), serde_json::json!({ v: true }));
    }
    Filters::parse(&serde_json::Value::Object(obj).to_string())
}

async fn list<B: ContainerApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    let filters = list_filters(&q)?;
    filters.validate(berth_api::backend::container::LIST_FILTERS)?;
    let limit = q.int("limit")?.filter(|n| *n > 0).map(|n| n as usize);
    let opts = ListOptions {
        all: q.bool("all"),
        limit,
        size: q.bool("size"),
        filters,
    };
    Ok(Json(s.container_list(opts).await?).into_response())
}

async fn create<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    q: Query,
    JsonBody(body): JsonBody<ContainerCreateBody>,
) -> ApiResult<Response> {
    let name = q.get("name").filter(|n| !n.is_empty()).map(str::to_string);
    let created = s.container_create(name, body).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn inspect<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    Ok(Json(s.container_inspect(&id, q.bool("size")).await?).into_response())
}

async fn top<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    Ok(Json(s.container_top(&id, q.str("ps_args")).await?).into_response())
}

/// A `since`/`until` value in unix nanoseconds; `0` and empty mean unset.
pub(crate) fn time_param(q: &Query, key: &str) -> Result<Option<i64>, Error> {
    match q.get(key).map(str::trim) {
        None | Some("") | Some("0") => Ok(None),
        Some(v) => berth_core::timefmt::parse_timestamp(v, chrono::Utc::now())
            .map(|t| Some(t.timestamp_nanos_opt().unwrap_or(i64::MAX)))
            .ok_or_else(|| Error::invalid(format!("invalid value for {key}: {v:?}"))),
    }
}

/// `tail=all|N`: anything that is not a non-negative number means all (as Docker).
fn tail_param(q: &Query) -> Option<usize> {
    q.get("tail")
        .and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .map(|n| n as usize)
}

async fn logs<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !(stdout || stderr) {
        return Err(Error::invalid("Bad parameters: you must choose at least one stream").into());
    }
    let opts = LogsOptions {
        follow: q.bool("follow"),
        stdout,
        stderr,
        since: time_param(&q, "since")?,
        until: time_param(&q, "until")?,
        timestamps: q.bool("timestamps"),
        tail: tail_param(&q),
        details: q.bool("details"),
    };
    let logs = s.container_logs(&id, opts).await?;
    let ctype = if logs.tty {
        hijack::RAW_STREAM
    } else {
        hijack::MULTIPLEXED_STREAM
    };
    Ok(with_type(Response::new(byte_body(logs.body)), ctype))
}

async fn changes<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.container_changes(&id).await?).into_response())
}

async fn export<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tar = s.container_export(&id).await?;
    Ok(with_type(
        Response::new(byte_body(tar)),
        "application/x-tar",
    ))
}

async fn stats<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let stream = q.bool_or("stream", true);
    let samples = s.container_stats(&id, stream, q.bool("one-shot")).await?;
    let lines = samples.map(|v| {
        let mut line = serde_json::to_vec(&v).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    Ok(with_type(
        Response::new(Body::from_stream(lines)),
        "application/json",
    ))
}

/// `h` and `w` of the resize endpoints (both required, as Docker).
pub(crate) fn size_params(q: &Query) -> Result<(u32, u32), Error> {
    let get = |k: &str| -> Result<u32, Error> {
        let v = q.str(k).trim();
        v.parse::<u32>()
            .map_err(|_| Error::invalid(format!("invalid value for {k}: {v:?} is not a number")))
    };
    Ok((get("h")?, get("w")?))
}

async fn resize<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let (h, w) = size_params(&q)?;
    s.container_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

async fn start<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    // A JSON object with any content is at least 7 bytes; Docker refuses host
    // configs at start since API 1.24 and tolerates `{}`/`null`.
    if body.trim_ascii().len() > 7 {
        return Err(Error::invalid(
            "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24",
        )
        .into());
    }
    s.container_start(&id).await?;
    Ok(no_content())
}

fn stop_params(q: &Query) -> Result<(Option<String>, Option<i64>), Error> {
    let signal = q
        .get("signal")
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    Ok((signal, q.int("t")?))
}

async fn stop<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let (signal, t) = stop_params(&q)?;
    s.container_stop(&id, signal, t).await?;
    Ok(no_content())
}

async fn restart<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let (signal, t) = stop_params(&q)?;
    s.container_restart(&id, signal, t).await?;
    Ok(no_content())
}

async fn kill<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let signal = q
        .get("signal")
        .filter(|v| !v.is_empty())
        .unwrap_or("SIGKILL");
    s.container_kill(&id, signal).await?;
    Ok(no_content())
}

async fn update<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> ApiResult<Response> {
    Ok(Json(s.container_update(&id, body).await?).into_response())
}

async fn rename<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    s.container_rename(&id, q.str("name")).await?;
    Ok(no_content())
}

async fn pause<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.container_pause(&id).await?;
    Ok(no_content())
}

async fn unpause<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.container_unpause(&id).await?;
    Ok(no_content())
}

async fn attach<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (mut parts, body) = req.into_parts();
    let hj = Hijack::from_parts(&mut parts);
    let q = Query::parse(parts.uri.query().unwrap_or(""));
    let session = s.container_attach(&id, attach_options(&q, false)).await?;
    Ok(hj.respond(session, body))
}

/// An attach's query; `all_streams` attaches stdin, stdout and stderr
/// whatever it says.
fn attach_options(q: &Query, all_streams: bool) -> AttachOptions {
    AttachOptions {
        stream: q.bool("stream"),
        logs: q.bool("logs"),
        stdin: all_streams || q.bool("stdin"),
        stdout: all_streams || q.bool("stdout"),
        stderr: all_streams || q.bool("stderr"),
        detach_keys: q
            .get("detachKeys")
            .filter(|k| !k.is_empty())
            .map(str::to_string),
    }
}

/// `GET /containers/{id}/attach/ws`: the attach over a WebSocket ([`crate::websocket`]).
async fn attach_ws<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (mut parts, _) = req.into_parts();
    let q = Query::parse(parts.uri.query().unwrap_or(""));
    let version = hijack::api_version(&parts);
    // Before API 1.42 dockerd attached every stream whatever the query said.
    let opts = attach_options(&q, version.minor < 42);
    // The container is looked up first, so a missing one is a 404 as with dockerd.
    let session = s.container_attach(&id, opts).await?;
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| Error::invalid(format!("not a WebSocket request: {}", e.body_text())))?;
    // Text frames before API 1.28 (moby#28176).
    let binary = version.minor >= 28;
    Ok(upgrade.on_upgrade(move |ws| crate::websocket::run(ws, session, binary)))
}

async fn wait<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, _) = req.into_parts();
    let q = Query::parse(parts.uri.query().unwrap_or(""));
    let condition = if hijack::api_version(&parts).at_least(1, 30) {
        match q.str("condition") {
            "" | "not-running" => "not-running",
            c @ ("next-exit" | "removed") => c,
            other => return Err(Error::invalid(format!("invalid condition: {other:?}")).into()),
        }
    } else {
        "not-running"
    };
    let done = s.container_wait(&id, condition).await?;
    // Headers go out now; the body when the condition is met.
    let body = futures::stream::once(async move {
        let mut out = serde_json::to_vec(&done.await).unwrap_or_default();
        out.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(out))
    });
    Ok(with_type(
        Response::new(Body::from_stream(body)),
        "application/json",
    ))
}

async fn remove<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    s.container_remove(&id, q.bool("force"), q.bool("v"), q.bool("link"))
        .await?;
    Ok(no_content())
}

async fn remove_link<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path((id, alias)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Response> {
    if !q.bool("link") {
        return Err(Error::not_found("page not found").into());
    }
    s.container_remove(&format!("{id}/{alias}"), false, false, true)
        .await?;
    Ok(no_content())
}

fn path_param(q: &Query) -> Result<&str, Error> {
    match q.str("path") {
        "" => Err(Error::invalid("bad parameter: 'path' cannot be empty")),
        p => Ok(p),
    }
}

fn stat_header(resp: &mut Response, stat: &PathStat) {
    let json = serde_json::to_vec(stat).unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    if let Ok(v) = HeaderValue::from_str(&b64) {
        resp.headers_mut().insert("X-Docker-Container-Path-Stat", v);
    }
}

async fn stat_archive<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let stat = s.container_stat_path(&id, path_param(&q)?).await?;
    let mut resp = StatusCode::OK.into_response();
    stat_header(&mut resp, &stat);
    Ok(resp)
}

async fn get_archive<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let (stat, tar) = s.container_get_archive(&id, path_param(&q)?).await?;
    let mut resp = with_type(Response::new(byte_body(tar)), "application/x-tar");
    stat_header(&mut resp, &stat);
    Ok(resp)
}

async fn put_archive<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
    body: Body,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let stream = crate::upload::stream(body);
    s.container_put_archive(
        &id,
        path,
        q.bool("noOverwriteDirNonDir"),
        q.bool("copyUIDGID"),
        stream,
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}

async fn prune<B: ContainerApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    let filters = q.filters()?;
    filters.validate(PRUNE_FILTERS)?;
    Ok(Json(s.container_prune(filters).await?).into_response())
}

async fn commit<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    q: Query,
    OptionalJson(config): OptionalJson<Option<ContainerConfig>>,
) -> ApiResult<Response> {
    let opts = CommitOptions {
        container: q.str("container").to_string(),
        repo: q.str("repo").to_string(),
        tag: q.str("tag").to_string(),
        comment: q.str("comment").to_string(),
        author: q.str("author").to_string(),
        // Docker pauses by default since API 1.13.
        pause: match q.get("pause") {
            None | Some("") => true,
            Some(_) => q.bool("pause"),
        },
        changes: q
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        config,
    };
    let id = s.container_commit(opts).await?;
    Ok((StatusCode::CREATED, Json(IdResponse { id })).into_response())
}
