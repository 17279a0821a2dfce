//! The build context: the request body (a tar, plain or gzip, bzip2, xz or
//! zstd compressed — or a bare Dockerfile), decompressed once and indexed in
//! memory; file data stays in a buffer, spilled to a temporary file past
//! [`SPILL`] bytes, and is read by offset. Nothing is extracted: COPY reads
//! straight from the index into the layer, and cache keys hash content
//! (never mtimes) from it.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::{BuildError, Result};
use crate::ignore::{Glob, clean, has_magic};
use crate::tree::{Kind, Meta, Tree, join, resolve};

/// Contexts larger than this (decompressed) are kept in a temporary file.
pub const SPILL: usize = 64 << 20;

enum Backing {
    Mem(Vec<u8>),
    File(std::fs::File),
}

impl Backing {
    fn read_at(&self, off: u64, len: u64) -> std::io::Result<Vec<u8>> {
        match self {
            Backing::Mem(v) => {
                let s = usize::try_from(off).unwrap_or(usize::MAX);
                let e = s.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                v.get(s..e)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| std::io::Error::other("context entry out of range"))
            }
            Backing::File(f) => {
                let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
                f.read_exact_at(&mut buf, off)?;
                Ok(buf)
            }
        }
    }
}

/// A writer that keeps bytes in memory and moves them to a temporary file past [`SPILL`].
struct SpillWriter<'a> {
    dir: &'a Path,
    mem: Vec<u8>,
    file: Option<std::fs::File>,
}

impl Write for SpillWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = self.file.as_mut() {
            return f.write(buf);
        }
        self.mem.extend_from_slice(buf);
        if self.mem.len() > SPILL {
            let mut f = tempfile::tempfile_in(self.dir)?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Entry {
    meta: Meta,
    offset: u64,
}

/// What the request body turned out to be.
pub enum Loaded {
    /// A context archive.
    Tar(Context),
    /// Not an archive: the body is the Dockerfile (`docker build - < Dockerfile`).
    Dockerfile(Vec<u8>),
}

/// An indexed build context.
pub struct Context {
    backing: Backing,
    entries: BTreeMap<String, Entry>,
    children: BTreeMap<String, Vec<String>>,
    /// Content hashes by data offset (a file hashed once per build).
    hashes: Mutex<HashMap<u64, [u8; 32]>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("entries", &self.entries.len())
            .finish()
    }
}

fn decompressor<'a>(head: &[u8], r: Box<dyn Read + 'a>) -> std::io::Result<Box<dyn Read + 'a>> {
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::read::MultiBzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(r)?)
    } else {
        r
    })
}

/// Copy `r` (maybe compressed) decompressed into `w`.
pub fn decompress_into(mut r: impl Read, w: &mut dyn Write) -> std::io::Result<()> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        let k = r.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = &head[..n];
    let chained: Box<dyn Read + '_> = Box::new(std::io::Cursor::new(head.to_vec()).chain(r));
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        let mut br = std::io::BufReader::new(chained);
        return lzma_rs::xz_decompress(&mut br, &mut &mut *w)
            .map_err(|e| std::io::Error::other(format!("xz: {e:?}")));
    }
    let mut d = decompressor(head, chained)?;
    std::io::copy(&mut d, w)?;
    Ok(())
}

/// Does this look like a tar stream (a valid first header checksum)?
pub(crate) fn is_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return head.iter().all(|b| *b == 0) && !head.is_empty();
    }
    let h = tar::Header::from_byte_slice(&head[..512]);
    match h.cksum() {
        Ok(sum) => {
            let computed: u32 = head[..512]
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u32::from(*b)
                    }
                })
                .sum();
            sum == computed
        }
        Err(_) => head[..512].iter().all(|b| *b == 0),
    }
}

fn clean_name(p: &str) -> Option<String> {
    let c = clean(p.trim_start_matches('/'));
    if c.starts_with("..") { None } else { Some(c) }
}

impl Context {
    /// An empty context (the Dockerfile came alone).
    pub fn empty() -> Context {
        let mut children = BTreeMap::new();
        children.insert(String::new(), Vec::new());
        let mut entries = BTreeMap::new();
        entries.insert(
            String::new(),
            Entry {
                meta: dir_meta(),
                offset: 0,
            },
        );
        Context {
            backing: Backing::Mem(Vec::new()),
            entries,
            children,
            hashes: Mutex::new(HashMap::new()),
        }
    }

    /// Read and index a request body; `tmp` is where a large context spills.
    pub fn load(r: impl Read, tmp: &Path) -> Result<Loaded> {
        let mut w = SpillWriter {
            dir: tmp,
            mem: Vec::new(),
            file: None,
        };
        decompress_into(r, &mut w)
            .map_err(|e| BuildError::Invalid(format!("unable to read build context: {e}")))?;
        // The docker CLI's archive with a Dockerfile from outside the context
        // ends without the last entry's padding and the end-of-archive blocks.
        let len = w
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(w.mem.len() as u64, |m| m.len());
        let pad = (512 - len % 512) % 512 + 1024;
        w.write_all(&vec![0u8; usize::try_from(pad).unwrap_or(1024)])
            .map_err(|e| BuildError::io("read build context", e))?;
        let backing = match w.file {
            Some(f) => Backing::File(f),
            None => Backing::Mem(w.mem),
        };
        let head = backing.read_at(0, 512).or_else(|_| match &backing {
            Backing::Mem(v) => Ok(v.clone()),
            Backing::File(_) => Err(std::io::Error::other("short context")),
        });
        let head = head.map_err(|e| BuildError::io("read build context", e))?;
        if !is_tar(&head) {
            let mut v = match backing {
                Backing::Mem(v) => v,
                Backing::File(f) => {
                    let mut v = Vec::new();
                    std::io::BufReader::new(&f)
                        .read_to_end(&mut v)
                        .map_err(|e| BuildError::io("read Dockerfile", e))?;
                    v
                }
            };
            v.truncate(usize::try_from(len).unwrap_or(usize::MAX));
            return Ok(Loaded::Dockerfile(v));
        }
        Self::index(backing).map(Loaded::Tar)
    }

    fn index(backing: Backing) -> Result<Context> {
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        entries.insert(
            String::new(),
            Entry {
                meta: dir_meta(),
                offset: 0,
            },
        );
        let bad =
            |e: std::io::Error| BuildError::Invalid(format!("invalid build context archive: {e}"));
        {
            let reader: Box<dyn Read + '_> = match &backing {
                Backing::Mem(v) => Box::new(std::io::Cursor::new(v.as_slice())),
                Backing::File(f) => {
                    let mut f2 = f.try_clone().map_err(bad)?;
                    std::io::Seek::seek(&mut f2, std::io::SeekFrom::Start(0)).map_err(bad)?;
                    Box::new(std::io::BufReader::new(f2))
                }
            };
            let mut ar = tar::Archive::new(reader);
            for e in ar.entries().map_err(bad)? {
                let e = e.map_err(bad)?;
                let raw = e.path().map_err(bad)?.to_string_lossy().into_owned();
                let Some(name) = clean_name(&raw) else {
                    continue;
                };
                let h = e.header();
                let mode = h.mode().unwrap_or(0o644) & 0o7777;
                let uid = u32::try_from(h.uid().unwrap_or(0)).unwrap_or(0);
                let gid = u32::try_from(h.gid().unwrap_or(0)).unwrap_or(0);
                let mtime = i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0);
                let et = h.entry_type();
                let link = e
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let entry = if et.is_hard_link() {
                    match clean_name(&link).and_then(|t| entries.get(&t)) {
                        Some(t) => Entry {
                            meta: t.meta.clone(),
                            offset: t.offset,
                        },
                        None => continue,
                    }
                } else {
                    let kind = if et.is_file()
                        || et == tar::EntryType::Continuous
                        || et == tar::EntryType::GNUSparse
                    {
                        Kind::File
                    } else if et.is_dir() {
                        Kind::Dir
                    } else if et.is_symlink() {
                        Kind::Symlink
                    } else {
                        Kind::Other
                    };
                    Entry {
                        meta: Meta {
                            kind,
                            mode,
                            uid,
                            gid,
                            size: e.size(),
                            mtime,
                            link,
                        },
                        offset: e.raw_file_position(),
                    }
                };
                if name.is_empty() {
                    if let Some(root) = entries.get_mut("") {
                        root.meta.mode = mode;
                        root.meta.mtime = mtime;
                    }
                    continue;
                }
                entries.insert(name, entry);
            }
        }
        // Directories that are only implied by their files.
        let names: Vec<String> = entries.keys().cloned().collect();
        for n in names {
            let mut p = n.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                entries.entry(parent.to_string()).or_insert(Entry {
                    meta: dir_meta(),
                    offset: 0,
                });
                p = parent;
            }
        }
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, e) in &entries {
            if e.meta.kind == Kind::Dir {
                children.entry(n.clone()).or_default();
            }
            if n.is_empty() {
                continue;
            }
            let (parent, base) = n.rsplit_once('/').unwrap_or(("", n.as_str()));
            children
                .entry(parent.to_string())
                .or_default()
                .push(base.to_string());
        }
        Ok(Context {
            backing,
            entries,
            children,
            hashes: Mutex::new(HashMap::new()),
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing but the root.
    pub fn is_empty(&self) -> bool {
        self.entries.len() <= 1
    }

    /// Drop a path (and everything below it).
    pub fn remove(&mut self, rel: &str) {
        let rel = clean(rel);
        let below = format!("{rel}/");
        self.entries
            .retain(|k, _| *k != rel && !k.starts_with(&below));
        self.children
            .retain(|k, _| *k != rel && !k.starts_with(&below));
        let (parent, base) = rel.rsplit_once('/').unwrap_or(("", rel.as_str()));
        if let Some(c) = self.children.get_mut(parent) {
            c.retain(|n| n != base);
        }
    }

    /// A file's content, following symlinks inside the context.
    pub fn read_file(&self, rel: &str) -> Option<Vec<u8>> {
        let p = resolve(self, &clean(rel), true)?;
        let e = self.entries.get(&p)?;
        if e.meta.kind != Kind::File {
            return None;
        }
        self.backing.read_at(e.offset, e.meta.size).ok()
    }

    /// Every path (files and directories, root excluded), sorted.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.entries.keys().filter(|k| !k.is_empty())
    }

    /// The sources a COPY/ADD path names: one path, or every path a wildcard
    /// matches (Go's `filepath.Match` on each cleaned path). `Invalid` for a
    /// path leaving the context, `NotFound`-like `Invalid` for a missing one.
    pub fn sources(&self, pattern: &str, cmd: &str) -> Result<Vec<String>> {
        let cleaned = clean(pattern.trim_start_matches('/'));
        if cleaned.starts_with("..") {
            return Err(BuildError::Invalid(format!(
                "{cmd} failed: forbidden path outside the build context: {pattern} ()"
            )));
        }
        if has_magic(&cleaned) {
            let g = Glob::new(&cleaned, false)
                .map_err(|e| BuildError::Invalid(format!("{cmd} failed: {e}")))?;
            let mut out: Vec<String> = Vec::new();
            for p in self.paths() {
                // A matched directory is copied whole: do not also list what is below it.
                if out.iter().any(|l: &String| p.starts_with(&format!("{l}/"))) {
                    continue;
                }
                if g.matches(p) {
                    out.push(p.clone());
                }
            }
            if out.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "{cmd} failed: no source files were specified"
                )));
            }
            return Ok(out);
        }
        match resolve(self, &cleaned, true) {
            Some(p) if self.entries.contains_key(&p) => Ok(vec![p]),
            _ => Err(BuildError::Invalid(format!(
                "{cmd} failed: file not found in build context or excluded by .dockerignore: stat {cleaned}: file does not exist"
            ))),
        }
    }

    fn file_hash(&self, e: &Entry) -> std::io::Result<[u8; 32]> {
        if let Some(h) = self
            .hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&e.offset)
        {
            return Ok(*h);
        }
        let mut hasher = Sha256::new();
        let mut off = e.offset;
        let end = e.offset + e.meta.size;
        while off < end {
            let n = (end - off).min(1 << 20);
            hasher.update(self.backing.read_at(off, n)?);
            off += n;
        }
        let h: [u8; 32] = hasher.finalize().into();
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(e.offset, h);
        Ok(h)
    }

    /// Content hash of a source (a file, or a directory with everything below
    /// it): paths relative to it, types, permission bits, link targets and file
    /// contents; never owners or mtimes. `file:`/`dir:` prefixed as Docker's.
    pub fn hash(&self, rel: &str) -> Result<String> {
        let mut h = Sha256::new();
        let root = self
            .entries
            .get(rel)
            .ok_or_else(|| BuildError::Invalid(format!("no such context path {rel}")))?;
        let prefix = if root.meta.kind == Kind::Dir {
            "dir"
        } else {
            "file"
        };
        let mut stack = vec![rel.to_string()];
        while let Some(p) = stack.pop() {
            let Some(e) = self.entries.get(&p) else {
                continue;
            };
            let shown = p.strip_prefix(rel).unwrap_or(&p);
            h.update(shown.as_bytes());
            h.update([0, kind_byte(e.meta.kind)]);
            h.update(e.meta.mode.to_le_bytes());
            h.update(e.meta.link.as_bytes());
            h.update([0]);
            if e.meta.kind == Kind::File {
                h.update(
                    self.file_hash(e)
                        .map_err(|err| BuildError::io(format!("read {p}"), err))?,
                );
            }
            if e.meta.kind == Kind::Dir {
                for c in self.children(&p).into_iter().rev() {
                    stack.push(join(&p, &c));
                }
            }
        }
        Ok(format!("{prefix}:{}", hex::encode(h.finalize())))
    }
}

fn kind_byte(k: Kind) -> u8 {
    match k {
        Kind::File => b'f',
        Kind::Dir => b'd',
        Kind::Symlink => b'l',
        Kind::Other => b'o',
    }
}

fn dir_meta() -> Meta {
    Meta {
        kind: Kind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 0,
        link: String::new(),
    }
}

impl Tree for Context {
    fn lstat(&self, rel: &str) -> Option<Meta> {
        self.entries.get(rel).map(|e| e.meta.clone())
    }

    fn children(&self, rel: &str) -> Vec<String> {
        self.children.get(rel).cloned().unwrap_or_default()
    }

    fn open(&self, rel: &str) -> std::io::Result<Box<dyn Read + '_>> {
        let e = self
            .entries
            .get(rel)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        Ok(Box::new(std::io::Cursor::new(
            self.backing.read_at(e.offset, e.meta.size)?,
        )))
    }
}

/// Hash several sources into Docker's `multi:` form.
pub fn multi_hash(parts: &[String]) -> String {
    if let [one] = parts {
        return one.clone();
    }
    format!(
        "multi:{}",
        hex::encode(Sha256::digest(parts.join(",").as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, mode) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_mtime(12345);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn load(bytes: &[u8]) -> Context {
        let d = tempfile::tempdir().unwrap();
        match Context::load(bytes, d.path()).unwrap() {
            Loaded::Tar(c) => c,
            Loaded::Dockerfile(_) => panic!("not a tar"),
        }
    }

    #[test]
    fn index_sources_and_hashes() {
        let t = tar_of(&[
            ("Dockerfile", b"FROM bb\n", 0o644),
            ("src/a.txt", b"a", 0o644),
            ("src/b.txt", b"b", 0o755),
        ]);
        let c = load(&t);
        assert_eq!(c.read_file("Dockerfile").unwrap(), b"FROM bb\n");
        assert_eq!(
            c.sources("src/*.txt", "COPY").unwrap(),
            vec!["src/a.txt", "src/b.txt"]
        );
        assert_eq!(c.sources("./src", "COPY").unwrap(), vec!["src"]);
        assert!(
            c.sources("../etc/passwd", "COPY")
                .unwrap_err()
                .to_string()
                .contains("outside the build context")
        );
        assert!(
            c.sources("missing", "COPY")
                .unwrap_err()
                .to_string()
                .contains("file not found")
        );
        let h1 = c.hash("src").unwrap();
        assert!(h1.starts_with("dir:"));
        // Same content, other mtime: same hash.
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, mode) in [
            ("src/a.txt", &b"a"[..], 0o644),
            ("src/b.txt", &b"b"[..], 0o755),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_mtime(999_999);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        let c2 = load(&b.into_inner().unwrap());
        assert_eq!(c2.hash("src").unwrap(), h1);
        let c3 = load(&tar_of(&[
            ("src/a.txt", b"A", 0o644),
            ("src/b.txt", b"b", 0o755),
        ]));
        assert_ne!(c3.hash("src").unwrap(), h1);
    }

    #[test]
    fn compressed_and_bare_dockerfile() {
        let t = tar_of(&[("f", b"x", 0o644)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        assert_eq!(load(&gz.finish().unwrap()).read_file("f").unwrap(), b"x");
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&t).unwrap();
        assert_eq!(load(&bz.finish().unwrap()).read_file("f").unwrap(), b"x");
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut std::io::Cursor::new(&t), &mut xz).unwrap();
        assert_eq!(load(&xz).read_file("f").unwrap(), b"x");
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            Context::load(&b"FROM bb\nRUN true\n"[..], d.path()).unwrap(),
            Loaded::Dockerfile(_)
        ));
    }
}
