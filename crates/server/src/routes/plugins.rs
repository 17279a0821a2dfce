//! Managed (v2) plugins: berth has none yet, so the list is empty and every
//! name is unknown. Answering 404 (not 501) matters: `docker inspect NAME`
//! tries each object type in turn and stops at the first non-404 answer.

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use berth_core::Error;

use super::AppState;
use crate::error::ApiResult;

/// Plugin routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/plugins", get(list)).route("/plugins/{name}/json", get(inspect))
}

async fn list() -> Json<Vec<serde_json::Value>> {
    Json(Vec::new())
}

async fn inspect(Path(name): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    Err(Error::not_found(format!("plugin \"{name}\" not found")).into())
}
