//! `/volumes/*`: parse, call [`berth_api::backend::volume::VolumeBackend`], encode.
//!
//! Generic over the backend (`Router<Arc<B>>`) like the container and image
//! routes, so they can be served and tested with any [`VolumeApi`].

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_api::ApiVersion;
use berth_api::backend::volume::VolumeBackend;
use berth_api::types::volume::VolumeCreateOptions;
use berth_core::Error;
use berth_core::filters::Filters;

use super::body::OptionalJson;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

/// What the volume routes need from a backend.
pub trait VolumeApi: VolumeBackend + Send + Sync + 'static {}

impl<T: VolumeBackend + Send + Sync + ?Sized + 'static> VolumeApi for T {}

/// Volume routes.
pub fn routes<B: VolumeApi + ?Sized>() -> Router<Arc<B>> {
    Router::new()
        .route("/volumes", get(list::<B>))
        .route("/volumes/create", post(create::<B>))
        .route("/volumes/prune", post(prune::<B>))
        .route(
            "/volumes/{name}",
            get(inspect::<B>).delete(remove::<B>).put(update),
        )
}

/// Filter keys `GET /volumes` accepts.
pub const LIST_FILTERS: &[&str] = &["dangling", "name", "driver", "label"];
/// Filter keys `POST /volumes/prune` accepts.
pub const PRUNE_FILTERS: &[&str] = &["label", "label!", "all"];

/// The request's API version (the newest when the version layer did not run).
struct Version(ApiVersion);

impl<S: Send + Sync> FromRequestParts<S> for Version {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Version(crate::hijack::api_version(parts)))
    }
}

async fn list<B: VolumeApi + ?Sized>(State(s): State<Arc<B>>, q: Query) -> ApiResult<Response> {
    let filters = q.filters()?;
    filters.validate(LIST_FILTERS)?;
    Ok(Json(s.volume_list(filters).await?).into_response())
}

async fn create<B: VolumeApi + ?Sized>(
    State(s): State<Arc<B>>,
    OptionalJson(body): OptionalJson<VolumeCreateOptions>,
) -> ApiResult<Response> {
    Ok((StatusCode::CREATED, Json(s.volume_create(body).await?)).into_response())
}

async fn inspect<B: VolumeApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(s.volume_inspect(&name).await?).into_response())
}

async fn remove<B: VolumeApi + ?Sized>(
    State(s): State<Arc<B>>,
    Path(name): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    s.volume_remove(&name, q.bool("force")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /volumes/{name}` updates cluster volumes, which need swarm.
async fn update(Version(v): Version) -> ApiResult<Response> {
    if !v.at_least(1, 42) {
        return Err(Error::invalid("volume update requires API version 1.42").into());
    }
    Err(Error::unavailable(
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
    )
    .into())
}

/// `filters` plus `all=true`: clients before API 1.42 pruned named volumes too.
fn with_all(q: &Query) -> Result<Filters, Error> {
    let raw = q.str("filters");
    let mut obj = if raw.trim().is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return q.filters(),
        }
    };
    obj.entry("all")
        .or_insert_with(|| serde_json::json!({ "true": true }));
    Filters::parse(&serde_json::Value::Object(obj).to_string())
}

async fn prune<B: VolumeApi + ?Sized>(
    State(s): State<Arc<B>>,
    Version(v): Version,
    q: Query,
) -> ApiResult<Response> {
    q.filters()?.validate(PRUNE_FILTERS)?;
    let filters = if v.at_least(1, 42) {
        q.filters()?
    } else {
        with_all(&q)?
    };
    Ok(Json(s.volume_prune(filters).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_clients_prune_everything() {
        let f = with_all(&Query::parse("")).unwrap();
        assert_eq!(f.get("all"), ["true"]);
        let f = with_all(&Query::parse(
            "filters=%7B%22label%22%3A%7B%22a%22%3Atrue%7D%7D",
        ))
        .unwrap();
        assert_eq!(
            (f.get("all"), f.get("label")),
            (&["true".to_string()][..], &["a".to_string()][..])
        );
    }
}
