//! Atomic file writes: temp file in the same directory, fsync, rename, fsync the
//! directory. A reader sees the old or the new content, never a torn file, even
//! after `kill -9` or a power cut.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};

const TMP_MARK: &str = ".berth-tmp-";

fn tmp_path(path: &Path) -> Result<PathBuf> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::internal("atomic write needs a parent dir"))?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::internal("atomic write needs a file name"))?
        .to_string_lossy();
    let nonce: u64 = rand::random();
    Ok(dir.join(format!("{TMP_MARK}{name}.{nonce:016x}")))
}

/// Replace `path` with `data` atomically and durably.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    atomic_write_mode(path, data, 0o644)
}

/// As [`atomic_write`], with the file mode of the new file.
pub fn atomic_write_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    write_replacing(path, data, mode, true)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Replace `path` with `data` atomically but not durably (no fsync): for
/// files rebuilt from durable state whenever they are needed (a container's
/// hosts, hostname and resolv.conf are rewritten at every start), where a
/// power loss may lose the file but a reader never sees it half-written.
pub fn replace_file(path: &Path, data: &[u8]) -> Result<()> {
    write_replacing(path, data, 0o644, false)
}

/// Write `data` to a fresh temp file beside `path` (fsynced when `durable`)
/// and rename it over `path`; the temp file goes on failure.
fn write_replacing(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tmp_path(path)?;
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::with_kind(ErrorKind::Internal, &e).context(format_args!("write {}", path.display()))
    })
}

/// Serialize `value` as JSON and write it atomically.
pub fn atomic_write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec(value).map_err(|e| Error::with_kind(ErrorKind::Internal, &e))?;
    atomic_write(path, &data)
}

/// fsync a directory so a rename or create inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
        Error::with_kind(ErrorKind::Internal, &e).context(format_args!("fsync {}", dir.display()))
    })
}

/// Remove temp files a killed writer left behind in `dir`. Returns how many went.
pub fn sweep_tmp(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(TMP_MARK))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn sweep_removes_only_temps() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(format!("{TMP_MARK}x.1")), b"junk").unwrap();
        fs::write(dir.path().join("keep"), b"ok").unwrap();
        assert_eq!(sweep_tmp(dir.path()), 1);
        assert!(dir.path().join("keep").exists());
    }
}
