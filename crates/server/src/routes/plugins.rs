//! Managed (v2) plugins: berth has none, so the list is empty and every name
//! is unknown. Answering 404 (not 501) for inspect matters: `docker inspect
//! NAME` tries each object type in turn and stops at the first non-404 answer.
//! Installing or creating one answers 501 saying what berth does support:
//! legacy plugins, found by name in the plugin directories.

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::{delete, get, post};
use berth_core::Error;

use super::AppState;
use crate::error::ApiResult;

/// Why managed plugin operations fail.
pub const UNSUPPORTED: &str = "managed plugins (docker plugin install/create/enable/…) are not supported by berth; \
legacy plugins are: put a socket in /run/berth/plugins or /run/docker/plugins, or a .spec/.json file in \
/etc/berth/plugins or /etc/docker/plugins, and use its name as a driver";

/// Plugin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/{name}/json", get(inspect))
        .route("/plugins/privileges", get(unsupported))
        .route("/plugins/pull", post(unsupported))
        .route("/plugins/create", post(unsupported))
        // No managed plugin exists, so every named one is unknown (Docker's 404).
        .route("/plugins/{name}", delete(inspect))
        .route("/plugins/{name}/enable", post(inspect))
        .route("/plugins/{name}/disable", post(inspect))
        .route("/plugins/{name}/upgrade", post(inspect))
        .route("/plugins/{name}/push", post(inspect))
        .route("/plugins/{name}/set", post(inspect))
}

async fn list() -> Json<Vec<serde_json::Value>> {
    Json(Vec::new())
}

async fn inspect(Path(name): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    Err(Error::not_found(format!("plugin \"{name}\" not found")).into())
}

async fn unsupported() -> ApiResult<Json<serde_json::Value>> {
    Err(Error::not_implemented(UNSUPPORTED).into())
}
