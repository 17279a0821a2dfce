//! Read-only file trees COPY and ADD take sources from: the build context
//! ([`crate::context::Context`]) and image root filesystems mounted on the
//! host ([`DirTree`]), behind one small trait, plus symlink resolution that
//! never leaves a tree's root.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// Devices, fifos, sockets: skipped by COPY.
    Other,
}

/// What COPY needs to know about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// Symlink target.
    pub link: String,
}

/// A tree of files addressed by slash paths relative to its root (`""` is the root).
pub trait Tree: Send + Sync {
    /// `lstat`.
    fn lstat(&self, rel: &str) -> Option<Meta>;
    /// Names in a directory, sorted.
    fn children(&self, rel: &str) -> Vec<String>;
    /// A regular file's content.
    fn open(&self, rel: &str) -> std::io::Result<Box<dyn Read + '_>>;
}

/// Join a directory and a name into a tree path.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Resolve `path` in `tree`, following symlinks without leaving the root
/// (Docker's `FollowSymlinkInScope`); `None` when a component is missing.
/// The last component is followed when `follow_last`.
pub fn resolve(tree: &dyn Tree, path: &str, follow_last: bool) -> Option<String> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .rev()
        .map(str::to_string)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let cand = join(&cur.join("/"), &c);
        let last = todo.is_empty();
        match tree.lstat(&cand) {
            Some(m) if m.kind == Kind::Symlink && (!last || follow_last) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if m.link.starts_with('/') {
                    cur.clear();
                }
                for p in m
                    .link
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .rev()
                {
                    todo.push(p.to_string());
                }
            }
            Some(_) => cur.push(c),
            None => return None,
        }
    }
    Some(cur.join("/"))
}

/// A directory on the host (a mounted image root) as a [`Tree`].
#[derive(Debug, Clone)]
pub struct DirTree {
    root: PathBuf,
}

impl DirTree {
    /// Wrap a directory.
    pub fn new(root: impl Into<PathBuf>) -> DirTree {
        DirTree { root: root.into() }
    }

    fn host(&self, rel: &str) -> PathBuf {
        // `rel` comes from `resolve` or `children`: no `..`, no absolute parts.
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }
}

/// Metadata of a host path.
pub fn meta_of(p: &Path) -> Option<Meta> {
    let md = std::fs::symlink_metadata(p).ok()?;
    let ft = md.file_type();
    let kind = if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    };
    let link = if kind == Kind::Symlink {
        std::fs::read_link(p)
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Some(Meta {
        kind,
        mode: md.permissions().mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: md.len(),
        mtime: md.mtime(),
        link,
    })
}

impl Tree for DirTree {
    fn lstat(&self, rel: &str) -> Option<Meta> {
        meta_of(&self.host(rel))
    }

    fn children(&self, rel: &str) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.host(rel))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    fn open(&self, rel: &str) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(std::fs::File::open(self.host(rel))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("/a", d.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../a/b", d.path().join("a/up")).unwrap();
        let t = DirTree::new(d.path());
        assert_eq!(resolve(&t, "abs/b/f", true).as_deref(), Some("a/b/f"));
        assert_eq!(resolve(&t, "a/up/f", true).as_deref(), Some("a/b/f"));
        assert_eq!(resolve(&t, "abs", false).as_deref(), Some("abs"));
        assert_eq!(resolve(&t, "nope/x", true), None);
        assert_eq!(resolve(&t, "a/missing", true), None);
    }
}

/// Files held in memory (here-documents, downloads) as a [`Tree`].
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    files: std::collections::BTreeMap<String, (Meta, bytes::Bytes)>,
}

impl MemTree {
    /// Add a file at the root.
    pub fn add(&mut self, name: &str, data: bytes::Bytes, mode: u32, mtime: i64) {
        let meta = Meta {
            kind: Kind::File,
            mode,
            uid: 0,
            gid: 0,
            size: data.len() as u64,
            mtime,
            link: String::new(),
        };
        self.files.insert(name.to_string(), (meta, data));
    }
}

impl Tree for MemTree {
    fn lstat(&self, rel: &str) -> Option<Meta> {
        if rel.is_empty() {
            return Some(Meta {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                mtime: 0,
                link: String::new(),
            });
        }
        self.files.get(rel).map(|(m, _)| m.clone())
    }

    fn children(&self, rel: &str) -> Vec<String> {
        if rel.is_empty() {
            self.files.keys().cloned().collect()
        } else {
            Vec::new()
        }
    }

    fn open(&self, rel: &str) -> std::io::Result<Box<dyn Read + '_>> {
        let (_, d) = self
            .files
            .get(rel)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        Ok(Box::new(std::io::Cursor::new(d.clone())))
    }
}

/// A tree with `--exclude` patterns applied (matched against paths relative
/// to `base`, the source being copied, and against the full path).
pub struct Excluding {
    /// The tree.
    pub inner: std::sync::Arc<dyn Tree>,
    /// Patterns.
    pub ignore: crate::ignore::Ignore,
    /// The copied source's path in the tree.
    pub base: String,
}

impl Excluding {
    fn hidden(&self, rel: &str) -> bool {
        let sub = rel
            .strip_prefix(&self.base)
            .map(|s| s.trim_start_matches('/'))
            .unwrap_or(rel);
        (!sub.is_empty() && self.ignore.excluded(sub)) || self.ignore.excluded(rel)
    }
}

impl Tree for Excluding {
    fn lstat(&self, rel: &str) -> Option<Meta> {
        if rel != self.base && self.hidden(rel) {
            None
        } else {
            self.inner.lstat(rel)
        }
    }

    fn children(&self, rel: &str) -> Vec<String> {
        self.inner
            .children(rel)
            .into_iter()
            .filter(|c| !self.hidden(&join(rel, c)))
            .collect()
    }

    fn open(&self, rel: &str) -> std::io::Result<Box<dyn Read + '_>> {
        self.inner.open(rel)
    }
}
