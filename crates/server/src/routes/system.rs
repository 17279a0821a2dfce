//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_api::backend::EventsQuery;
use berth_core::Error;
use berth_core::timefmt::parse_timestamp;
use futures::StreamExt;

use super::AppState;
use crate::error::ApiResult;
use crate::query::Query;

/// System routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        .route("/system/df", get(data_usage))
}

fn ping_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
}

async fn ping() -> Response {
    let mut resp = (StatusCode::OK, "OK").into_response();
    ping_headers(&mut resp);
    resp
}

async fn ping_head() -> Response {
    let mut resp = StatusCode::OK.into_response();
    ping_headers(&mut resp);
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

async fn version(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(axum::Json(s.backend.version().await?).into_response())
}

async fn info(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(axum::Json(s.backend.info().await?).into_response())
}

fn parse_time_param(q: &Query, key: &str) -> Result<Option<i64>, Error> {
    match q.get(key) {
        None | Some("") => Ok(None),
        Some(v) => parse_timestamp(v, chrono::Utc::now())
            .map(|t| Some(t.timestamp_nanos_opt().unwrap_or(i64::MAX)))
            .ok_or_else(|| Error::invalid(format!("invalid value for {key}: {v:?}"))),
    }
}

const EVENT_FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

async fn events(State(s): State<AppState>, q: Query) -> ApiResult<Response> {
    let filters = q.filters()?;
    filters.validate(EVENT_FILTERS)?;
    let query = EventsQuery {
        since_nanos: parse_time_param(&q, "since")?,
        until_nanos: parse_time_param(&q, "until")?,
        filters,
    };
    let stream = s.backend.events(query).await?.map(|ev| {
        let mut line = serde_json::to_vec(&ev).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(line))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

async fn data_usage(State(s): State<AppState>, q: Query) -> ApiResult<Response> {
    let types: Vec<String> = q.all("type").into_iter().map(str::to_string).collect();
    for t in &types {
        if !matches!(t.as_str(), "container" | "image" | "volume" | "build-cache") {
            return Err(Error::invalid(format!("unknown object type: {t}")).into());
        }
    }
    Ok(axum::Json(s.backend.data_usage(&types).await?).into_response())
}
