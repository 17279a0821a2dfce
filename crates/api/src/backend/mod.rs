//! The contract between the HTTP server and the engine: one small async trait
//! per resource, grouped by concern (as moby's `router/*/backend.go`).
//!
//! Every method returns a classified [`berth_core::Error`]; its kind alone decides the HTTP
//! status. Doc comments on each method say which states it accepts and which
//! kinds it returns.

pub mod build;
pub mod container;
pub mod image;
pub mod network;
pub mod system;
pub mod volume;

pub use build::BuildBackend;
pub use container::{ContainerBackend, ExecBackend};
pub use image::ImageBackend;
pub use network::NetworkBackend;
pub use system::{EventStream, EventsQuery, SystemBackend};
pub use volume::VolumeBackend;

/// Everything the server needs from the engine.
pub trait Backend:
    SystemBackend
    + ImageBackend
    + VolumeBackend
    + NetworkBackend
    + ContainerBackend
    + ExecBackend
    + BuildBackend
    + Send
    + Sync
    + 'static
{
}

impl<T> Backend for T where
    T: SystemBackend
        + ImageBackend
        + VolumeBackend
        + NetworkBackend
        + ContainerBackend
        + ExecBackend
        + BuildBackend
        + Send
        + Sync
        + 'static
{
}
