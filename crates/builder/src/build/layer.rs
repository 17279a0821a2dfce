//! Temporary read-write layers the builder writes into without a container
//! (COPY, ADD, WORKDIR) or reads from (`COPY --from`), and their cleanup.
//! Each one is recorded in `build.temp` before it exists, so a crash leaves
//! nothing the next build does not sweep.

use std::path::PathBuf;
use std::sync::Arc;

use berth_image::CommitOptions;

use super::Builder;
use crate::cache::{TEMP, TempRecord};
use crate::error::{BuildError, Result};

/// Run blocking image-store work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BuildError::Invalid(format!("build task failed: {e}")))?
}

fn record(b: &Builder, key: &str, kind: &str, build: &str) -> Result<()> {
    b.store.put(
        TEMP,
        key,
        &TempRecord {
            kind: kind.into(),
            build: build.into(),
        },
    )?;
    Ok(())
}

fn forget(b: &Builder, key: &str) {
    let _ = b.store.delete(TEMP, key);
}

fn drop_temp(b: &Builder, key: &str, rec: &TempRecord) {
    match rec.kind.as_str() {
        "rw" => {
            let mnt = b.root.join("mnt").join(key);
            let _ = b.images.unmount_rw(&mnt);
            let _ = std::fs::remove_dir(&mnt);
            if let Err(e) = b.images.remove_rw(key) {
                tracing::warn!(%key, "remove build layer: {e}");
                return;
            }
        }
        "image" => {
            if b.images.resolve(key).is_ok()
                && let Err(e) = b.images.delete(key, true, false)
            {
                tracing::warn!(%key, "remove build image: {e}");
                return;
            }
        }
        "dir" => {
            let _ = std::fs::remove_dir_all(key);
        }
        _ => {}
    }
    forget(b, key);
}

/// Remove what builds that are no longer running left behind.
pub(crate) async fn sweep(b: &Arc<Builder>) {
    let b = b.clone();
    let _ = blocking(move || {
        for (key, rec) in b.store.list::<TempRecord>(TEMP)? {
            if !super::is_active(&rec.build) {
                drop_temp(&b, &key, &rec);
            }
        }
        Ok(())
    })
    .await;
}

/// Remove what build `id` still holds.
pub(crate) async fn cleanup(b: &Arc<Builder>, id: &str) {
    let b = b.clone();
    let id = id.to_string();
    let _ = blocking(move || {
        for (key, rec) in b.store.list::<TempRecord>(TEMP)? {
            if rec.build == id {
                drop_temp(&b, &key, &rec);
            }
        }
        Ok(())
    })
    .await;
}

/// Record a temporary directory (a bind-mount source) of build `build`.
pub(crate) fn temp_dir(b: &Builder, build: &str) -> Result<PathBuf> {
    let dir = b
        .root
        .join("tmp")
        .join(format!("{build}-{}", &berth_core::id::generate()[..12]));
    record(b, &dir.display().to_string(), "dir", build)?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| BuildError::io(format!("create {}", dir.display()), e))?;
    Ok(dir)
}

/// A mounted temporary read-write layer.
pub(crate) struct TempLayer {
    b: Arc<Builder>,
    pub key: String,
    pub mnt: PathBuf,
    scratch: Option<String>,
}

impl TempLayer {
    /// A layer on top of `parent` (`None`: an empty root), mounted. Blocking.
    pub fn open(b: &Arc<Builder>, parent: Option<&str>, build: &str) -> Result<TempLayer> {
        let key = format!("build-{}", &berth_core::id::generate()[..20]);
        let mnt = b.root.join("mnt").join(&key);
        record(b, &key, "rw", build)?;
        let mut layer = TempLayer {
            b: b.clone(),
            key: key.clone(),
            mnt: mnt.clone(),
            scratch: None,
        };
        let base = match parent {
            Some(p) => p.to_string(),
            None => {
                // A read-write layer needs an image below it: an empty one, removed with the layer.
                let id = b.images.commit(None, None, CommitOptions::default())?;
                record(b, &id, "image", build)?;
                layer.scratch = Some(id.clone());
                id
            }
        };
        b.images.prepare_rw(&key, &base)?;
        std::fs::create_dir_all(&mnt)
            .map_err(|e| BuildError::io(format!("create {}", mnt.display()), e))?;
        b.images.mount_rw(&key, &mnt)?;
        Ok(layer)
    }

    /// Unmount, optionally commit on top of `parent`, and remove. Blocking.
    pub fn close(
        mut self,
        commit: Option<(Option<&str>, CommitOptions)>,
    ) -> Result<Option<String>> {
        let res = self.finish(commit);
        self.release();
        res
    }

    fn finish(&mut self, commit: Option<(Option<&str>, CommitOptions)>) -> Result<Option<String>> {
        self.b.images.unmount_rw(&self.mnt)?;
        match commit {
            Some((parent, opts)) => {
                Ok(Some(self.b.images.commit(Some(&self.key), parent, opts)?))
            }
            None => Ok(None),
        }
    }

    fn release(&mut self) {
        let rec = TempRecord {
            kind: "rw".into(),
            build: String::new(),
        };
        drop_temp(&self.b, &self.key.clone(), &rec);
        if let Some(id) = self.scratch.take() {
            drop_temp(
                &self.b,
                &id,
                &TempRecord {
                    kind: "image".into(),
                    build: String::new(),
                },
            );
        }
        self.key.clear();
    }
}

impl Drop for TempLayer {
    fn drop(&mut self) {
        if !self.key.is_empty() {
            self.release();
        }
    }
}
