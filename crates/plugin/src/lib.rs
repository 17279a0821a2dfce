//! berth-plugin: Docker's legacy (v1) plugin protocol — discovery, activation,
//! the HTTP/JSON client, the wire types, and a small server to offer berth's
//! own drivers as a plugin.
//!
//! - [`discovery`]: sockets (`/run/berth/plugins`, `/run/docker/plugins`) and
//!   `.spec`/`.json` files (`/etc/berth/plugins`, `/usr/lib/berth/plugins`,
//!   `/etc/docker/plugins`, `/usr/lib/docker/plugins`), in Docker's order;
//!   every directory is configurable.
//! - [`registry::Registry`]: lazy lookup by name (waiting for a plugin that is
//!   not there yet, within a retry budget), one `Plugin.Activate` per plugin,
//!   the scan behind "every volume plugin".
//! - [`client::Client`]: `POST /<Interface>.<Method>` over unix sockets or TCP
//!   (TLS for `https://`), Docker's headers, retries of connection failures
//!   only, a per-call timeout, `Err`/`Error` answers as errors naming the
//!   plugin and the method; [`ci`] decodes with Go's case-insensitive keys.
//! - [`dto`]: the wire types of `NetworkDriver`, `IpamDriver`, `VolumeDriver`
//!   and `authz`; [`authz::Chain`] runs the authorization plugins.
//! - [`server`]: the protocol's serving side.
//!
//! The adapters that make a plugin a network, IPAM or volume driver live with
//! the contracts they implement (berth-network, berth-volume); this crate
//! depends on berth-core only.

pub mod authz;
pub mod ci;
pub mod client;
pub mod discovery;
pub mod dto;
pub mod error;
pub mod registry;
pub mod server;
mod tls;

pub use client::{Client, Settings};
pub use discovery::{Addr, Dirs, Spec};
pub use error::{PluginError, Result};
pub use registry::{Plugin, Registry};
