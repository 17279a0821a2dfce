//! The contract between the HTTP server and the engine: one small async trait
//! per resource, grouped by concern (as moby's `router/*/backend.go`).
//!
//! Every method returns a classified [`berth_core::Error`]; its kind alone decides the HTTP
//! status. Doc comments on each method say which states it accepts and which
//! kinds it returns.

pub mod container;
pub mod system;

pub use system::{EventStream, EventsQuery, SystemBackend};

/// Everything the server needs from the engine.
pub trait Backend: SystemBackend + Send + Sync + 'static {}

impl<T> Backend for T where T: SystemBackend + Send + Sync + 'static {}
