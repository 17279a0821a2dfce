//! Snapshotters: where unpacked layers and container read-write layers live.
//!
//! The model is containerd's: a snapshot is *active* (writable, made by
//! [`Snapshotter::prepare`]), a *view* (read-only, [`Snapshotter::view`]) or
//! *committed* (immutable, a parent for others, made by [`Snapshotter::commit`]).
//! Each returns [`Mount`]s for the caller to mount. Two backends:
//! [`overlay::Overlay`] (overlayfs, layers shared by stacking) and
//! [`naive::Naive`] (full copies, for filesystems without overlay support). Both
//! pass the one conformance suite in `conformance.rs`.

pub mod meta;
pub mod mount;
pub mod naive;
pub mod overlay;
pub mod walk;

#[cfg(test)]
mod conformance;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::unpack::WhiteoutMode;

/// One mount to perform: `mount -t <kind> <source> -o <options>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type: `overlay`, `bind`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Source path (or `overlay`).
    pub source: String,
    /// Mount options (`lowerdir=...`, `ro`, `rbind`...).
    pub options: Vec<String>,
}

/// State of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Writable.
    Active,
    /// Read-only view of a parent.
    View,
    /// Immutable; may be a parent.
    Committed,
}

/// What a snapshotter knows about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The key (active/view) or name (committed).
    pub key: String,
    /// Parent committed snapshot.
    pub parent: Option<String>,
    /// State.
    pub kind: Kind,
    /// Directory number under `snapshots/`.
    pub id: u64,
}

/// Disk usage of a snapshot's own data (not its parents').
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of file content.
    pub size: i64,
    /// Number of inodes.
    pub inodes: i64,
}

/// One filesystem change of an active snapshot against its parent (`docker diff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Absolute path inside the container (`/etc/passwd`).
    pub path: String,
    /// What happened.
    pub kind: ChangeKind,
}

/// Docker's change kinds (0 modified, 1 added, 2 deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// `C`.
    Modified,
    /// `A`.
    Added,
    /// `D`.
    Deleted,
}

impl ChangeKind {
    /// Docker's numeric code.
    pub fn code(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

/// A snapshot backend.
pub trait Snapshotter: Send + Sync {
    /// `overlayfs` or `naive`.
    fn name(&self) -> &'static str;
    /// How layers must be applied into [`Snapshotter::apply_dir`].
    fn whiteout_mode(&self) -> WhiteoutMode;
    /// Can a layer be applied before its parent is committed (layers unpack in parallel)?
    fn parallel_apply(&self) -> bool;
    /// New active snapshot on top of committed `parent`.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;
    /// New read-only view of committed `parent`.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;
    /// Turn active `key` into committed `name`.
    fn commit(&self, name: &str, key: &str) -> Result<()>;
    /// Remove a snapshot (refused for a committed one that has children).
    fn remove(&self, key: &str) -> Result<()>;
    /// Mounts of an active snapshot or view.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;
    /// Disk usage of the snapshot's own data.
    fn usage(&self, key: &str) -> Result<Usage>;
    /// Facts about a snapshot, `None` when unknown.
    fn stat(&self, key: &str) -> Result<Option<Info>>;
    /// All snapshots.
    fn list(&self) -> Result<Vec<Info>>;
    /// Directory a layer diff for active snapshot `key` is applied to, without mounting.
    fn apply_dir(&self, key: &str) -> Result<PathBuf>;
    /// Changes of active snapshot `key` against its parent, sorted by path.
    fn changes(&self, key: &str) -> Result<Vec<Change>>;
    /// What a layer tar of active snapshot `key` must hold, in tar order.
    fn diff_entries(&self, key: &str) -> Result<Vec<DiffEntry>>;
    /// Directory holding the content of [`DiffEntry::Content`] paths of `key`.
    fn content_dir(&self, key: &str) -> Result<PathBuf>;
}

/// One element of a layer diff (paths relative, without leading `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffEntry {
    /// A file, directory, link or node to copy from the content directory.
    Content(String),
    /// A deletion (`.wh.<name>` in the tar).
    Whiteout(String),
    /// A directory whose lower contents are hidden (`<dir>/.wh..wh..opq`).
    Opaque(String),
}
