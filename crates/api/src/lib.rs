//! berth-api: the Docker Engine API as Rust types, plus the contract between the
//! HTTP server and the engine.
//!
//! - [`types`]: serde types for requests and responses, shaped exactly as Docker
//!   sends them (field names, nulls, zero values).
//! - [`version`]: API version bounds and parsing (berth speaks 1.24–1.50).
//! - [`backend`]: per-resource async traits the engine implements and the server calls.
//! - `client` (feature): a small HTTP/1.1 client over a unix socket for the CLI.

pub mod backend;
pub mod stdcopy;
pub mod types;
pub mod version;

#[cfg(feature = "client")]
pub mod client;

pub use version::ApiVersion;
