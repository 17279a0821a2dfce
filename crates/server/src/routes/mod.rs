//! Routes, one module per resource. Each module exports `routes()` returning an
//! axum router over the shared [`AppState`]; handlers are thin: parse, call the
//! backend, encode.

pub mod body;
pub mod build;
pub mod containers;
pub mod exec;
pub mod fallback;
pub mod images;
pub mod networks;
pub mod plugins;
pub mod system;
pub mod volumes;

use std::sync::Arc;

use axum::Router;
use berth_api::backend::Backend;

/// State shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub backend: Arc<dyn Backend>,
}

/// The full API router (without the version layer; see [`crate::serve`]).
pub fn router(backend: Arc<dyn Backend>) -> Router {
    let state = AppState {
        backend: backend.clone(),
    };
    Router::new()
        .merge(system::routes())
        .merge(plugins::routes())
        .merge(containers::routes::<dyn Backend>().with_state(backend.clone()))
        .merge(exec::routes::<dyn Backend>().with_state(backend.clone()))
        .merge(images::routes::<dyn Backend>().with_state(backend.clone()))
        .merge(build::routes::<dyn Backend>().with_state(backend.clone()))
        .merge(networks::routes::<dyn Backend>().with_state(backend.clone()))
        .merge(volumes::routes::<dyn Backend>().with_state(backend))
        .fallback(fallback::handler)
        .with_state(state)
}
