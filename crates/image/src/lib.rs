//! berth-image: everything about images that is not HTTP.
//!
//! - [`content`]: blobs by digest, verified before they become visible.
//! - [`reference`]: Docker's reference grammar and normalisation.
//! - [`spec`]: manifests, indexes and image configs (OCI and Docker schema2).
//! - [`unpack`]: safe application of (hostile) layer archives.
//! - [`snapshot`]: overlayfs and copy snapshotters behind one trait.

pub mod archive;
pub mod changes;
pub mod commit;
pub mod content;
pub mod delete;
pub mod difftar;
pub mod digest;
pub mod distribution;
pub mod error;
pub mod image;
pub mod layers;
pub mod lease;
pub mod pipe;
pub mod progress;
pub mod pull;
pub mod push;
pub mod records;
pub mod reference;
pub mod registry;
pub mod rw;
pub mod service;
pub mod snapshot;
pub mod spec;
pub mod unpack;

pub use archive::import::ImportOptions;
pub use commit::CommitOptions;
pub use delete::{Deleted, Pruned};
pub use digest::Digest;
pub use error::{ImageError, Result};
pub use image::Image;
pub use progress::{Progress, ProgressSink};
pub use reference::Reference;
pub use service::{ImageOptions, ImageService, ImageUser, ImageUsers};
pub use snapshot::{Change, ChangeKind, Mount};
