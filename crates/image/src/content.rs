//! The content store: immutable blobs addressed by digest under
//! `<root>/blobs/sha256/<hex>`. Writes go to `<root>/ingest/<name>` first and are
//! renamed into place only after their digest and size were checked, so a blob
//! file is always complete and correct. Ingest files of known digests are kept
//! after a failure so an interrupted download can resume where it stopped.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{ImageError, IoContext, Result};
use crate::lease::Lease;

/// Ingest files untouched for this long are removed at open.
const INGEST_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// Content-addressed blob storage.
#[derive(Clone)]
pub struct ContentStore {
    root: PathBuf,
    active: Arc<Mutex<HashSet<String>>>,
}

impl ContentStore {
    /// Open (creating) the store at `root`, dropping stale ingest files.
    pub fn open(root: &Path) -> Result<ContentStore> {
        for d in ["blobs/sha256", "ingest"] {
            fs::create_dir_all(root.join(d))
                .ctx(|| format!("create {}", root.join(d).display()))?;
        }
        if let Ok(entries) = fs::read_dir(root.join("ingest")) {
            let now = SystemTime::now();
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| now.duration_since(t).unwrap_or_default() > INGEST_EXPIRY)
                    .unwrap_or(true);
                // Random-named ingests belong to no resumable download.
                if old || e.file_name().to_string_lossy().starts_with("tmp-") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(ContentStore {
            root: root.to_path_buf(),
            active: Arc::default(),
        })
    }

    /// Path of a blob (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Is the blob present?
    pub fn has(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    /// Size of a present blob.
    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    /// Read a whole (small) blob.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        fs::read(self.path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                ImageError::bad(format!("blob {d} is missing from the content store"))
            }
            _ => ImageError::io(format!("read blob {d}"), e),
        })
    }

    /// Open a blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.path(d)).ctx(|| format!("open blob {d}"))
    }

    /// Store `data`, returning its digest.
    pub fn put(&self, data: &[u8]) -> Result<Digest> {
        self.put_leased(data, None)
    }

    /// [`ContentStore::put`], the digest leased before the blob is visible
    /// (or found present), so a concurrent gc cannot take it in between.
    pub fn put_leased(&self, data: &[u8], lease: Option<&Lease>) -> Result<Digest> {
        let d = Digest::of(data);
        if let Some(l) = lease {
            l.add(d.as_str());
        }
        if !self.has(&d) {
            let mut w = self.writer(None)?;
            w.write_all(data).ctx(|| format!("write blob {d}"))?;
            w.commit()?;
        }
        Ok(d)
    }

    /// A writer for new content. With `expected` (digest, size) an earlier
    /// partial ingest of the same blob is resumed (see [`BlobWriter::offset`]).
    pub fn writer(&self, expected: Option<(&Digest, u64)>) -> Result<BlobWriter> {
        let mut name = None;
        if let Some((d, _)) = expected {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            if active.insert(d.hex().to_string()) {
                name = Some(d.hex().to_string());
            }
        }
        let resumable = name.is_some();
        let name = name.unwrap_or_else(|| format!("tmp-{:016x}", rand::random::<u64>()));
        let path = self.root.join("ingest").join(&name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ctx(|| format!("open ingest {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut offset = 0u64;
        if resumable {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let too_big = expected.is_some_and(|(_, size)| len > size);
            if len > 0 && !too_big {
                let mut buf = vec![0u8; 1 << 20];
                let mut f = &file;
                loop {
                    let n = f.read(&mut buf).ctx(|| "read ingest".into())?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    offset += n as u64;
                }
            } else if len > 0 {
                file.set_len(0).ctx(|| "truncate ingest".into())?;
            }
        }
        file.seek(SeekFrom::Start(offset))
            .ctx(|| "seek ingest".into())?;
        Ok(BlobWriter {
            store: self.clone(),
            path,
            name,
            resumable,
            file: Some(file),
            hasher,
            count: offset,
            offset,
            expected: expected.map(|(d, s)| (d.clone(), s)),
            done: false,
        })
    }

    /// Remove a blob; true when it existed.
    pub fn delete(&self, d: &Digest) -> bool {
        fs::remove_file(self.path(d)).is_ok()
    }

    /// Every stored blob.
    pub fn list(&self) -> Vec<Digest> {
        let Ok(entries) = fs::read_dir(self.root.join("blobs/sha256")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()
            })
            .collect()
    }

    /// Bytes an unfinished ingest of `d` holds (for tests and diagnostics).
    pub fn ingest_len(&self, d: &Digest) -> u64 {
        fs::metadata(self.root.join("ingest").join(d.hex()))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

/// An in-progress blob write. Dropping it without [`BlobWriter::commit`] keeps a
/// resumable ingest (when the digest was given) or deletes the temp file.
pub struct BlobWriter {
    store: ContentStore,
    path: PathBuf,
    name: String,
    resumable: bool,
    file: Option<File>,
    hasher: Sha256,
    count: u64,
    offset: u64,
    expected: Option<(Digest, u64)>,
    done: bool,
}

impl BlobWriter {
    /// Bytes already present from an earlier, interrupted write.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes written so far (including the resumed prefix).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// A reader over the resumed prefix (the first [`BlobWriter::offset`] bytes).
    pub fn prefix(&self) -> Result<impl Read + use<>> {
        let f = File::open(&self.path).ctx(|| format!("open {}", self.path.display()))?;
        Ok(f.take(self.offset))
    }

    /// Throw away what was written (also the resumable part).
    pub fn discard(mut self) {
        self.done = true;
        self.file = None;
        let _ = fs::remove_file(&self.path);
        self.release();
    }

    fn release(&self) {
        if self.resumable {
            let mut active = self.store.active.lock().unwrap_or_else(|p| p.into_inner());
            active.remove(&self.name);
        }
    }

    /// Check digest and size and move the blob into place.
    pub fn commit(self) -> Result<Digest> {
        self.commit_leased(None)
    }

    /// [`BlobWriter::commit`], the digest added to `lease` before the blob
    /// becomes visible, so a concurrent gc cannot remove it before the
    /// caller records what uses it.
    pub fn commit_leased(mut self, lease: Option<&Lease>) -> Result<Digest> {
        let file = self
            .file
            .take()
            .ok_or_else(|| ImageError::bad("blob writer already closed"))?;
        drop(file);
        let hasher = std::mem::take(&mut self.hasher);
        let got = Digest::from_hasher(hasher);
        if let Some((want, size)) = &self.expected {
            if self.count != *size {
                self.done = true;
                let _ = fs::remove_file(&self.path);
                self.release();
                return Err(ImageError::bad(format!(
                    "blob {want}: size mismatch: expected {size} bytes, got {}",
                    self.count
                )));
            }
            if &got != want {
                self.done = true;
                let _ = fs::remove_file(&self.path);
                self.release();
                return Err(ImageError::bad(format!(
                    "blob {want}: digest mismatch: got {got}"
                )));
            }
        }
        if let Some(l) = lease {
            l.add(got.as_str());
        }
        let dest = self.store.path(&got);
        fs::rename(&self.path, &dest).ctx(|| format!("commit blob {got}"))?;
        self.done = true;
        self.release();
        Ok(got)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer closed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.done {
            self.file = None;
            if !self.resumable {
                let _ = fs::remove_file(&self.path);
            }
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_commit_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let data = b"0123456789".repeat(1000);
        let d = Digest::of(&data);
        {
            let mut w = cs.writer(Some((&d, data.len() as u64))).unwrap();
            assert_eq!(w.offset(), 0);
            w.write_all(&data[..4000]).unwrap();
        } // dropped: interrupted
        assert_eq!(cs.ingest_len(&d), 4000);
        let mut w = cs.writer(Some((&d, data.len() as u64))).unwrap();
        assert_eq!(w.offset(), 4000);
        let mut prefix = Vec::new();
        w.prefix().unwrap().read_to_end(&mut prefix).unwrap();
        assert_eq!(prefix, &data[..4000]);
        w.write_all(&data[4000..]).unwrap();
        assert_eq!(w.commit().unwrap(), d);
        assert_eq!(cs.read(&d).unwrap(), data);
        assert_eq!(cs.list(), vec![d.clone()]);

        // Wrong content is refused and leaves nothing behind.
        let mut w = cs.writer(Some((&Digest::of(b"other"), 5))).unwrap();
        w.write_all(b"evil!").unwrap();
        let err = w.commit().unwrap_err().to_string();
        assert!(err.contains("digest mismatch"), "{err}");
        let mut w = cs.writer(Some((&Digest::of(b"x"), 5))).unwrap();
        w.write_all(b"x").unwrap();
        assert!(
            w.commit()
                .unwrap_err()
                .to_string()
                .contains("size mismatch")
        );
        assert_eq!(cs.list().len(), 1);
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }
}
