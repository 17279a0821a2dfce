//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `POST /exec/{id}/resize`,
//! `GET /exec/{id}/json` over [`berth_api::backend::container::ExecBackend`].

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_api::types::IdResponse;
use berth_api::types::exec::{ExecConfig, ExecStartConfig};
use berth_core::Error;

use super::body::{JsonBody, MAX_JSON_BODY};
use super::containers::{ContainerApi, size_params};
use crate::error::ApiResult;
use crate::hijack::Hijack;
use crate::query::Query;

/// Exec routes.
pub fn routes<B: ContainerApi + ?Sized>() -> Router<Arc<B>> {
    Router::new()
        .route("/containers/{id}/exec", post(create::<B>))
        .route("/exec/{id}/start", post(start::<B>))
        .route("/exec/{id}/resize", post(resize::<B>))
        .route("/exec/{id}/json", get(inspect::<B>))
}

async fn create<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    JsonBody(cfg): JsonBody<ExecConfig>,
) -> ApiResult<Response> {
    let id = s.exec_create(&id, cfg).await?;
    Ok((StatusCode::CREATED, Json(IdResponse { id })).into_response())
}

async fn start<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (mut parts, body) = req.into_parts();
    let hj = Hijack::from_parts(&mut parts);
    // The start config is read whole (it is small); nothing follows it: with
    // an upgrade, stdin arrives on the hijacked connection.
    let raw = axum::body::to_bytes(body, MAX_JSON_BODY)
        .await
        .map_err(|e| Error::invalid(format!("cannot read request body: {e}")))?;
    let cfg: ExecStartConfig = if raw.trim_ascii().is_empty() || raw.trim_ascii() == b"null" {
        ExecStartConfig::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?
    };
    match s.exec_start(&id, cfg).await? {
        None => Ok(StatusCode::OK.into_response()),
        Some(session) => Ok(hj.respond(session, axum::body::Body::empty())),
    }
}

async fn resize<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let (h, w) = size_params(&q)?;
    s.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect<B: ContainerApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.exec_inspect(&id).await?).into_response())
}
