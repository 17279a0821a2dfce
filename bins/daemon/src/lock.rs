//! One berthd per data root: an exclusive `flock` on `<data-root>/berthd.lock`,
//! held for the daemon's life and released by the kernel even on `kill -9`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustix::fs::{FlockOperation, flock};

/// The held lock; dropping it (or dying) releases it.
pub struct DataRootLock {
    _file: File,
    _path: PathBuf,
}

impl DataRootLock {
    /// Take the lock or explain who holds it.
    pub fn acquire(data_root: &Path) -> Result<DataRootLock> {
        let path = data_root.join("berthd.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            bail!(
                "another berthd is already running with data root {}{who}; stop it first or use a different --data-root",
                data_root.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(DataRootLock {
            _file: file,
            _path: path,
        })
    }
}

/// Write the pid file atomically.
pub fn write_pidfile(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    berth_core::fsutil::atomic_write(path, std::process::id().to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("write pid file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let a = DataRootLock::acquire(dir.path()).unwrap();
        let err = DataRootLock::acquire(dir.path()).err().unwrap().to_string();
        assert!(err.contains("another berthd is already running"), "{err}");
        drop(a);
        DataRootLock::acquire(dir.path()).unwrap();
    }
}
