//! `/networks/*`: parse, call [`berth_api::backend::network::NetworkBackend`], encode.
//!
//! Generic over the backend (`Router<Arc<B>>`) like the other resource routes,
//! so they can be served and tested with any [`NetworkApi`].

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_api::backend::network::NetworkBackend;
use berth_api::types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use berth_core::Error;

use super::body::JsonBody;
use crate::error::ApiResult;
use crate::query::Query;

/// What the network routes need from a backend.
pub trait NetworkApi: NetworkBackend + Send + Sync + 'static {}

impl<T: NetworkBackend + Send + Sync + ?Sized + 'static> NetworkApi for T {}

/// Network routes.
pub fn routes<B: NetworkApi + ?Sized>() -> Router<Arc<B>> {
    Router::new()
        .route("/networks", get(list::<B>))
        .route("/networks/create", post(create::<B>))
        .route("/networks/prune", post(prune::<B>))
        .route("/networks/{id}", get(inspect::<B>).delete(remove::<B>))
        .route("/networks/{id}/connect", post(connect::<B>))
        .route("/networks/{id}/disconnect", post(disconnect::<B>))
}

/// Filter keys `GET /networks` accepts.
pub const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];
/// Filter keys `POST /networks/prune` accepts.
pub const PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

async fn list<B: NetworkApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    let filters = q.filters()?;
    filters.validate(LIST_FILTERS)?;
    for t in filters.get("type") {
        if t != "custom" && t != "builtin" {
            return Err(Error::invalid(format!("invalid filter: 'type'='{t}'")).into());
        }
    }
    filters.bool_value("dangling")?;
    Ok(Json(s.network_list(filters).await?).into_response())
}

async fn inspect<B: NetworkApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    Ok(Json(
        s.network_inspect(&id, q.bool("verbose"), q.str("scope"))
            .await?,
    )
    .into_response())
}

async fn create<B: NetworkApi + ?Sized>(
    State(s): State<Arc<B>>,
    JsonBody(body): JsonBody<NetworkCreateRequest>,
) -> ApiResult<Response> {
    Ok((StatusCode::CREATED, Json(s.network_create(body).await?)).into_response())
}

async fn remove<B: NetworkApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.network_remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn connect<B: NetworkApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NetworkConnectRequest>,
) -> ApiResult<Response> {
    s.network_connect(&id, &body.container, body.endpoint_config)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect<B: NetworkApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NetworkDisconnectRequest>,
) -> ApiResult<Response> {
    s.network_disconnect(&id, &body.container, body.force)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn prune<B: NetworkApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    let filters = q.filters()?;
    filters.validate(PRUNE_FILTERS)?;
    Ok(Json(s.network_prune(filters).await?).into_response())
}
