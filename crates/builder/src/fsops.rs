//! Writing COPY/ADD sources into a mounted layer: Docker's rules for where a
//! source lands (a directory's content goes into the destination; a file goes
//! to the destination, or into it when it ends in `/`, is a directory or there
//! are several sources), ownership (`root` for context files, kept for
//! `--from`, `--chown` resolved in the destination's `/etc/passwd` and
//! `/etc/group`), `--chmod`, preserved mtimes, and local archives extracted by
//! ADD. Container paths resolve through symlinks without leaving the root.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::context::{decompress_into, is_tar};
use crate::tree::{Kind, Meta, Tree, join};

/// How files are written.
#[derive(Debug, Clone, Default)]
pub struct CopyOpts {
    /// Owner of everything written; `None` keeps the source's.
    pub owner: Option<(u32, u32)>,
    /// Mode of everything written (`--chmod`).
    pub chmod: Option<u32>,
    /// ADD: extract local archives.
    pub decompress: bool,
}

/// One source of a COPY.
pub struct Item<'a> {
    /// Where it comes from.
    pub tree: &'a dyn Tree,
    /// Its path in the tree (resolved).
    pub rel: String,
    /// The name it gets inside a destination directory.
    pub name: String,
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", p.display())
}

/// The host path of container path `path` under `root`, following symlinks
/// inside the root for every component but the last (and the last too when
/// `follow_last`).
pub fn host_path(root: &Path, path: &str, follow_last: bool) -> PathBuf {
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
        let host = root.join(cur.join("/")).join(&c);
        let last = todo.is_empty();
        if (!last || follow_last)
            && hops < 40
            && let Ok(t) = std::fs::read_link(&host)
        {
            hops += 1;
            let t = t.to_string_lossy().into_owned();
            if t.starts_with('/') {
                cur.clear();
            }
            for p in t.split('/').filter(|c| !c.is_empty() && *c != ".").rev() {
                todo.push(p.to_string());
            }
            continue;
        }
        cur.push(c);
    }
    root.join(cur.join("/"))
}

fn set_owner_mode_time(
    p: &Path,
    kind: Kind,
    owner: (u32, u32),
    mode: Option<u32>,
    mtime: i64,
) -> Result<(), String> {
    std::os::unix::fs::lchown(p, Some(owner.0), Some(owner.1))
        .map_err(|e| io_err("chown", p, e))?;
    if kind != Kind::Symlink
        && let Some(m) = mode
    {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
            .map_err(|e| io_err("chmod", p, e))?;
    }
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &ts,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_err("set times of", p, e.into()))?;
    Ok(())
}

/// Create container directory `path` and its missing parents (0755, `owner`);
/// returns its host path.
pub fn mkdir_all(root: &Path, path: &str, owner: (u32, u32)) -> Result<PathBuf, String> {
    let mut cur = String::new();
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        cur = format!("{cur}/{c}");
        let host = host_path(root, &cur, true);
        match std::fs::symlink_metadata(&host) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(format!("mkdir {cur}: not a directory")),
            Err(_) => {
                std::fs::create_dir(&host).map_err(|e| io_err("mkdir", &host, e))?;
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| io_err("chmod", &host, e))?;
                std::os::unix::fs::lchown(&host, Some(owner.0), Some(owner.1))
                    .map_err(|e| io_err("chown", &host, e))?;
            }
        }
    }
    Ok(host_path(root, path, true))
}

fn parent_of(path: &str) -> (&str, &str) {
    let t = path.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some((p, b)) => (if p.is_empty() { "/" } else { p }, b),
        None => ("/", t),
    }
}

struct Writer<'a> {
    root: &'a Path,
    opts: &'a CopyOpts,
}

impl Writer<'_> {
    fn owner(&self, m: &Meta) -> (u32, u32) {
        self.opts.owner.unwrap_or((m.uid, m.gid))
    }

    fn mode(&self, m: &Meta) -> u32 {
        self.opts.chmod.unwrap_or(m.mode)
    }

    /// Write node `rel` of `tree` at container path `target`.
    fn node(&self, tree: &dyn Tree, rel: &str, m: &Meta, target: &str) -> Result<(), String> {
        let (parent, base) = parent_of(target);
        let dir = mkdir_all(self.root, parent, self.opts.owner.unwrap_or((0, 0)))?;
        let host = dir.join(base);
        let existing = std::fs::symlink_metadata(&host).ok();
        match m.kind {
            Kind::File => {
                if existing.as_ref().is_some_and(|e| !e.is_file()) {
                    remove_any(&host)?;
                }
                let mut r = tree.open(rel).map_err(|e| format!("read {rel}: {e}"))?;
                let mut f = std::fs::File::create(&host).map_err(|e| io_err("create", &host, e))?;
                std::io::copy(&mut r, &mut f).map_err(|e| io_err("write", &host, e))?;
            }
            Kind::Symlink => {
                if existing.is_some() {
                    remove_any(&host)?;
                }
                std::os::unix::fs::symlink(&m.link, &host)
                    .map_err(|e| io_err("symlink", &host, e))?;
            }
            Kind::Dir => {
                if existing.as_ref().is_some_and(|e| !e.is_dir()) {
                    remove_any(&host)?;
                }
                if !host.is_dir() {
                    std::fs::create_dir(&host).map_err(|e| io_err("mkdir", &host, e))?;
                }
                self.children(tree, rel, target)?;
            }
            Kind::Other => return Ok(()),
        }
        set_owner_mode_time(&host, m.kind, self.owner(m), Some(self.mode(m)), m.mtime)
    }

    fn children(&self, tree: &dyn Tree, rel: &str, target: &str) -> Result<(), String> {
        for c in tree.children(rel) {
            let r = join(rel, &c);
            if let Some(cm) = tree.lstat(&r) {
                self.node(
                    tree,
                    &r,
                    &cm,
                    &format!("{}/{c}", target.trim_end_matches('/')),
                )?;
            }
        }
        Ok(())
    }
}

fn remove_any(p: &Path) -> Result<(), String> {
    let md = std::fs::symlink_metadata(p).map_err(|e| io_err("stat", p, e))?;
    if md.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
    .map_err(|e| io_err("remove", p, e))
}

/// Copy `items` to container path `dest` under `root`. `into_dir`: the
/// destination is a directory (it ends in `/` or there are several sources).
pub fn copy_items(
    root: &Path,
    dest: &str,
    items: &[Item<'_>],
    into_dir: bool,
    opts: &CopyOpts,
) -> Result<(), String> {
    let w = Writer { root, opts };
    for it in items {
        let m = it
            .tree
            .lstat(&it.rel)
            .ok_or_else(|| format!("stat {}: file does not exist", it.rel))?;
        match m.kind {
            Kind::Dir => {
                mkdir_all(root, dest, opts.owner.unwrap_or((0, 0)))?;
                w.children(it.tree, &it.rel, dest)?;
            }
            Kind::File if opts.decompress && is_archive(it.tree, &it.rel) => {
                let host = mkdir_all(root, dest, opts.owner.unwrap_or((0, 0)))?;
                extract(it.tree, &it.rel, &host)?;
            }
            _ => {
                let dest_is_dir =
                    into_dir || dest.ends_with('/') || host_path(root, dest, true).is_dir();
                let target = if dest_is_dir {
                    format!("{}/{}", dest.trim_end_matches('/'), it.name)
                } else {
                    dest.to_string()
                };
                w.node(it.tree, &it.rel, &m, &target)?;
            }
        }
    }
    Ok(())
}

fn read_all(tree: &dyn Tree, rel: &str) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    tree.open(rel)
        .and_then(|mut r| r.read_to_end(&mut v))
        .map_err(|e| format!("read {rel}: {e}"))?;
    Ok(v)
}

fn decompressed(tree: &dyn Tree, rel: &str) -> Option<Vec<u8>> {
    let raw = read_all(tree, rel).ok()?;
    let mut out = Vec::new();
    decompress_into(&raw[..], &mut out).ok()?;
    Some(out)
}

/// Is this file a (possibly compressed) tar archive ADD unpacks?
pub fn is_archive(tree: &dyn Tree, rel: &str) -> bool {
    let Some(m) = tree.lstat(rel) else {
        return false;
    };
    if m.kind != Kind::File || m.size == 0 {
        return false;
    }
    decompressed(tree, rel)
        .is_some_and(|d| d.len() >= 512 && is_tar(&d[..512]) && d[..512].iter().any(|b| *b != 0))
}

fn extract(tree: &dyn Tree, rel: &str, host_dir: &Path) -> Result<(), String> {
    let data = decompressed(tree, rel).ok_or_else(|| format!("cannot decompress {rel}"))?;
    let mut ar = tar::Archive::new(std::io::Cursor::new(data));
    ar.set_preserve_permissions(true);
    // Owners are set below: tar-rs refuses an empty uid field, Go's reader reads it as 0.
    ar.set_preserve_ownerships(false);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    for e in ar
        .entries()
        .map_err(|e| format!("read archive {rel}: {e}"))?
    {
        let mut e = e.map_err(|e| format!("read archive {rel}: {e}"))?;
        let path = e.path().map(|p| p.into_owned()).ok();
        let uid = e
            .header()
            .uid()
            .ok()
            .and_then(|u| u32::try_from(u).ok())
            .unwrap_or(0);
        let gid = e
            .header()
            .gid()
            .ok()
            .and_then(|g| u32::try_from(g).ok())
            .unwrap_or(0);
        let unpacked = e.unpack_in(host_dir).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("extract {rel}: {e}{cause}")
        })?;
        if let (true, Some(p)) = (unpacked, path) {
            let _ = std::os::unix::fs::lchown(host_dir.join(p), Some(uid), Some(gid));
        }
    }
    Ok(())
}

fn lookup(file: &Path, name: &str, id_field: usize) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    for l in text.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.first() == Some(&name) && f.len() > id_field + 1 {
            let id = f[id_field].parse().ok()?;
            let gid = f.get(3).and_then(|g| g.parse().ok()).unwrap_or(id);
            return Some((id, gid));
        }
    }
    None
}

/// Resolve `--chown=user[:group]` against the destination root's `/etc/passwd`
/// and `/etc/group` (numbers need neither).
pub fn parse_chown(spec: &str, root: &Path) -> Result<(u32, u32), String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = host_path(root, "/etc/passwd", true);
    let group = host_path(root, "/etc/group", true);
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => lookup(&passwd, u, 2)
            .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {u}: no such user: {u}"))?,
    };
    let gid = match g {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(&group, g, 2).map(|(id, _)| id).ok_or_else(|| {
                format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}")
            })?,
        },
    };
    Ok((uid, gid))
}

/// Parse `--chmod=` (octal).
pub fn parse_chmod(s: &str) -> Result<u32, String> {
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!("invalid chmod parameter {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::DirTree;

    #[test]
    fn copy_rules() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("d/sub")).unwrap();
        std::fs::write(src.path().join("d/sub/x"), "x").unwrap();
        std::fs::write(src.path().join("f"), "f").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let t = DirTree::new(src.path());
        let opts = CopyOpts {
            owner: Some((0, 0)),
            ..Default::default()
        };
        // A file to a new path, a file into a dir, a dir's content.
        copy_items(
            root.path(),
            "/app/file.txt",
            &[Item {
                tree: &t,
                rel: "f".into(),
                name: "f".into(),
            }],
            false,
            &opts,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.path().join("app/file.txt")).unwrap(),
            "f"
        );
        copy_items(
            root.path(),
            "/app/",
            &[Item {
                tree: &t,
                rel: "f".into(),
                name: "f".into(),
            }],
            false,
            &opts,
        )
        .unwrap();
        assert!(root.path().join("app/f").is_file());
        copy_items(
            root.path(),
            "/out",
            &[Item {
                tree: &t,
                rel: "d".into(),
                name: "d".into(),
            }],
            false,
            &opts,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.path().join("out/sub/x")).unwrap(),
            "x"
        );
        let chmod = CopyOpts {
            owner: Some((0, 0)),
            chmod: Some(0o700),
            ..Default::default()
        };
        copy_items(
            root.path(),
            "/m",
            &[Item {
                tree: &t,
                rel: "f".into(),
                name: "f".into(),
            }],
            false,
            &chmod,
        )
        .unwrap();
        let md = std::fs::metadata(root.path().join("m")).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o700);
        assert_eq!(parse_chown("app", root.path()).unwrap(), (1000, 1001));
        assert_eq!(parse_chown("app:staff", root.path()).unwrap(), (1000, 50));
        assert_eq!(parse_chown("5:6", root.path()).unwrap(), (5, 6));
        assert!(parse_chown("nobody", root.path()).is_err());
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        // ADD: a gzipped tar without directory entries is extracted.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "inner/a.txt", &b"abc"[..]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
        std::fs::write(src.path().join("b.tgz"), gz.finish().unwrap()).unwrap();
        let add = CopyOpts {
            owner: Some((0, 0)),
            decompress: true,
            ..Default::default()
        };
        copy_items(
            root.path(),
            "/opt/",
            &[Item {
                tree: &t,
                rel: "b.tgz".into(),
                name: "b.tgz".into(),
            }],
            false,
            &add,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.path().join("opt/inner/a.txt")).unwrap(),
            "abc"
        );
        assert!(parse_chmod("9").is_err());
    }
}
