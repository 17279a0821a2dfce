//! berth-core: the vocabulary every other berth crate shares.
//!
//! It owns the error model ([`ErrorKind`], [`Classify`], [`Error`]), identifiers,
//! atomic file writes, the embedded metadata store, the event bus and Docker's
//! filter syntax. It knows nothing of HTTP and makes no OS calls beyond `std::fs`
//! (plus `fsync` of directories).

pub mod error;
pub mod events;
pub mod filters;
pub mod fsutil;
pub mod id;
pub mod store;
pub mod timefmt;

pub use error::{Classify, Error, ErrorKind, Result};
