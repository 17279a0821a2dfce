//! berth-server: the HTTP face of berthd.
//!
//! Request path: listener (unix socket or TCP) → [`version::layer`] (strips the
//! `/vX.Y` prefix, refuses versions outside 1.24–1.50, records the version) →
//! axum routes in [`routes`] (one module per resource, thin handlers) → a
//! [`berth_api::backend::Backend`] method → a JSON body, a stream, or an
//! [`error::ApiError`] whose status comes from [`error::status_for`]. Around all
//! of it, [`authz::layer`] shows each request and response to an optional
//! [`authz::AuthzHook`] (authorization plugins).
//!
//! This crate knows no subsystem: everything it does goes through the backend traits.

pub mod authz;
pub mod error;
pub mod hijack;
pub mod jsonstream;
pub mod query;
pub mod routes;
pub mod serve;
pub mod tls;
pub mod upload;
pub mod version;
pub mod websocket;

pub use error::{ApiError, status_for};
pub use serve::{Listener, serve, serve_with};
