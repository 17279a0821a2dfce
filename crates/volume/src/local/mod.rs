//! The `local` driver: each volume is `<root>/<name>/_data` (root is
//! `<data-root>/volumes`), its options and creation time in the store table
//! `volume.local`.
//!
//! A volume created with `type`/`device`/`o` options gets that filesystem mounted
//! on `_data` at its first [`VolumeDriver::mount`] and unmounted when the last
//! mount is released. Mount counts live in memory; after a daemon restart
//! [`LocalDriver::open`] notices a `_data` that is still mounted, and the service
//! re-counts the containers still running.
//!
//! Crash safety: create writes the record before the directory and remove deletes
//! the directory before the record, so a crash leaves at most a record without a
//! directory (dropped at open) or a directory without a record (adopted at open,
//! as Docker treats every directory under `volumes/` as a volume).

pub mod opts;

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use berth_core::store::{Store, Table};
use serde::{Deserialize, Serialize};

use crate::driver::{Capabilities, DriverVolume, LOCAL, Scope, VolumeDriver};
use crate::error::{Result, VolumeError};
use crate::mounter::Mounter;
use crate::names;
pub use opts::MountOpts;

/// The local driver's table: name -> [`LocalMeta`].
pub const TABLE: Table = Table("volume.local");

/// Name of the data directory inside a volume's directory (Docker's).
pub const DATA_DIR: &str = "_data";

/// What is persisted per local volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalMeta {
    /// RFC 3339, seconds.
    pub created_at: String,
    /// What to mount on `_data`, if anything.
    pub mount: Option<MountOpts>,
}

#[derive(Debug)]
struct LocalVolume {
    meta: LocalMeta,
    /// Is `mount` mounted on `_data` now?
    mounted: bool,
    /// Mounts not yet released (counted only for volumes with mount options, as Docker).
    active: u32,
}

struct Inner {
    root: PathBuf,
    store: Arc<Store>,
    mounter: Arc<dyn Mounter>,
    vols: Mutex<BTreeMap<String, LocalVolume>>,
}

/// The built-in driver. Cheap to clone.
#[derive(Clone)]
pub struct LocalDriver {
    inner: Arc<Inner>,
}

fn now_secs() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn no_such(op: &'static str, name: &str) -> VolumeError {
    VolumeError::NoSuchVolume {
        op,
        name: name.to_string(),
    }
}

impl LocalDriver {
    /// Open the driver on `root` (created 0700 if missing), reconciling records and directories.
    pub fn open(
        root: PathBuf,
        store: Arc<Store>,
        mounter: Arc<dyn Mounter>,
    ) -> Result<LocalDriver> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| VolumeError::io(format!("create {}", root.display()), e))?;
        let mut vols = BTreeMap::new();
        for (name, meta) in store.list::<LocalMeta>(TABLE)? {
            if root.join(&name).join(DATA_DIR).is_dir() {
                vols.insert(
                    name,
                    LocalVolume {
                        meta,
                        mounted: false,
                        active: 0,
                    },
                );
            } else {
                tracing::warn!(volume = %name, "dropping local volume record without data directory");
                store.delete(TABLE, &name)?;
            }
        }
        let entries = std::fs::read_dir(&root)
            .map_err(|e| VolumeError::io(format!("read {}", root.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            let real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if vols.contains_key(&name) || !real_dir || names::validate_local(&name).is_err() {
                continue;
            }
            // Adopt: a directory without a record (created by hand or a crash mid-create).
            let created_at = std::fs::metadata(&dir)
                .ok()
                .and_then(|m| chrono::DateTime::from_timestamp(m.ctime(), 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(now_secs);
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir.join(DATA_DIR));
            let meta = LocalMeta {
                created_at,
                mount: None,
            };
            store.put(TABLE, &name, &meta)?;
            vols.insert(
                name,
                LocalVolume {
                    meta,
                    mounted: false,
                    active: 0,
                },
            );
        }
        for (name, v) in vols.iter_mut() {
            if v.meta.mount.is_some() {
                v.mounted = mounter
                    .is_mounted(&root.join(name).join(DATA_DIR))
                    .unwrap_or(false);
            }
        }
        Ok(LocalDriver {
            inner: Arc::new(Inner {
                root,
                store,
                mounter,
                vols: Mutex::new(vols),
            }),
        })
    }

    /// `<root>/<name>/_data`.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.inner.root.join(name).join(DATA_DIR)
    }

    /// Names of all local volumes.
    pub fn names(&self) -> Vec<String> {
        self.inner.lock().keys().cloned().collect()
    }

    /// The mount options of a volume (`None` for a plain directory or an unknown volume).
    pub fn mount_opts(&self, name: &str) -> Option<MountOpts> {
        self.inner
            .lock()
            .get(name)
            .and_then(|v| v.meta.mount.clone())
    }

    /// Is the volume's filesystem mounted now (volumes with mount options only)?
    pub fn is_mounted(&self, name: &str) -> bool {
        self.inner.lock().get(name).is_some_and(|v| v.mounted)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| {
                VolumeError::Core(berth_core::Error::internal(format!(
                    "local volume driver task: {e}"
                )))
            })?
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LocalVolume>> {
        self.vols.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn data(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
        names::validate_local(name)?;
        let mount = opts::parse(opts)?;
        let mut vols = self.lock();
        if vols.contains_key(name) {
            return Ok(());
        }
        let meta = LocalMeta {
            created_at: now_secs(),
            mount,
        };
        self.store.put(TABLE, name, &meta)?;
        let data = self.data(name);
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&data)
        {
            let _ = self.store.delete(TABLE, name);
            return Err(VolumeError::io(format!("create {}", data.display()), e));
        }
        vols.insert(
            name.to_string(),
            LocalVolume {
                meta,
                mounted: false,
                active: 0,
            },
        );
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<()> {
        let mut vols = self.lock();
        let Some(v) = vols.get_mut(name) else {
            return Err(no_such("remove", name));
        };
        let data = self.data(name);
        if v.meta.mount.is_some() {
            self.mounter
                .unmount(&data)
                .map_err(|e| VolumeError::io(format!("unmount {}", data.display()), e))?;
            v.mounted = false;
            v.active = 0;
        }
        // Never delete through a mount: that would erase the mounted filesystem's content
        // (a bind of a host directory).
        if self.mounter.is_mounted(&data).unwrap_or(true) {
            return Err(VolumeError::Conflict(format!(
                "cannot remove {}: still mounted",
                data.display()
            )));
        }
        let dir = self.root.join(name);
        let is_real_dir = std::fs::symlink_metadata(&dir)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if is_real_dir {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| VolumeError::io(format!("remove {}", dir.display()), e))?;
        } else {
            let _ = std::fs::remove_file(&dir);
        }
        self.store.delete(TABLE, name)?;
        vols.remove(name);
        Ok(())
    }

    fn mount(&self, name: &str) -> Result<PathBuf> {
        let mut vols = self.lock();
        let Some(v) = vols.get_mut(name) else {
            return Err(no_such("mount", name));
        };
        let data = self.data(name);
        if let Some(m) = &v.meta.mount {
            if !v.mounted {
                self.mounter
                    .mount(&m.device, &data, &m.kind, &m.options)
                    .map_err(|e| {
                        VolumeError::io(
                            format!(
                                "failed to mount local volume: mount {}:{}, flags: {}",
                                m.device,
                                data.display(),
                                m.options
                            ),
                            e,
                        )
                    })?;
                v.mounted = true;
            }
            v.active += 1;
        }
        Ok(data)
    }

    fn unmount(&self, name: &str) -> Result<()> {
        let mut vols = self.lock();
        let Some(v) = vols.get_mut(name) else {
            return Err(no_such("unmount", name));
        };
        if v.meta.mount.is_none() {
            return Ok(());
        }
        // Always count down, even if the unmount fails: otherwise the volume could never
        // be released until a restart (Docker does the same).
        v.active = v.active.saturating_sub(1);
        if v.active == 0 && v.mounted {
            let data = self.data(name);
            self.mounter
                .unmount(&data)
                .map_err(|e| VolumeError::io(format!("unmount {}", data.display()), e))?;
            v.mounted = false;
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Result<DriverVolume> {
        let vols = self.lock();
        let v = vols.get(name).ok_or_else(|| no_such("get", name))?;
        Ok(self.view(name, v))
    }

    fn view(&self, name: &str, v: &LocalVolume) -> DriverVolume {
        DriverVolume {
            name: name.to_string(),
            mountpoint: self.data(name),
            created_at: Some(v.meta.created_at.clone()),
            status: None,
        }
    }
}

#[async_trait]
impl VolumeDriver for LocalDriver {
    fn name(&self) -> &str {
        LOCAL
    }

    async fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
        let (name, opts) = (name.to_string(), opts.clone());
        self.blocking(move |i| i.create(&name, &opts)).await
    }

    async fn remove(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.blocking(move |i| i.remove(&name)).await
    }

    async fn mount(&self, name: &str, _id: &str) -> Result<PathBuf> {
        let name = name.to_string();
        self.blocking(move |i| i.mount(&name)).await
    }

    async fn unmount(&self, name: &str, _id: &str) -> Result<()> {
        let name = name.to_string();
        self.blocking(move |i| i.unmount(&name)).await
    }

    async fn path(&self, name: &str) -> Result<PathBuf> {
        self.inner.get(name).map(|v| v.mountpoint)
    }

    async fn get(&self, name: &str) -> Result<DriverVolume> {
        self.inner.get(name)
    }

    async fn list(&self) -> Result<Vec<DriverVolume>> {
        let vols = self.inner.lock();
        Ok(vols.iter().map(|(n, v)| self.inner.view(n, v)).collect())
    }

    async fn capabilities(&self) -> Result<Capabilities> {
        Ok(Capabilities {
            scope: Scope::Local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mounter::SysMounter;
    use berth_core::Classify;

    fn open(dir: &std::path::Path, store: &Arc<Store>) -> LocalDriver {
        LocalDriver::open(dir.join("volumes"), store.clone(), Arc::new(SysMounter)).unwrap()
    }

    fn store(dir: &std::path::Path) -> Arc<Store> {
        Arc::new(Store::open(&dir.join("meta.db")).unwrap())
    }

    #[tokio::test]
    async fn local_driver_passes_the_conformance_suite() {
        let t = tempfile::tempdir().unwrap();
        let d = open(t.path(), &store(t.path()));
        crate::conformance::run(&d).await;
    }

    #[tokio::test]
    async fn layout_names_and_persistence() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        let d = open(t.path(), &s);
        d.create("web", &BTreeMap::new()).await.unwrap();
        let p = d.path("web").await.unwrap();
        assert_eq!(p, t.path().join("volumes/web/_data"));
        let e = d.create("../x", &BTreeMap::new()).await.unwrap_err();
        assert_eq!(e.kind(), berth_core::ErrorKind::InvalidArgument);
        assert!(!t.path().join("x").exists() && !t.path().join("volumes/../x").exists());
        let e = d
            .create(
                "v2",
                &BTreeMap::from([("foo".to_string(), "x".to_string())]),
            )
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "invalid option: \"foo\"");
        assert!(
            !t.path().join("volumes/v2").exists(),
            "nothing created for a bad option"
        );

        // Reopen: the record survives; a hand-made directory is adopted; a record whose
        // directory vanished is dropped.
        std::fs::create_dir_all(t.path().join("volumes/handmade")).unwrap();
        d.create("gone", &BTreeMap::new()).await.unwrap();
        std::fs::remove_dir_all(t.path().join("volumes/gone")).unwrap();
        drop(d);
        let d = open(t.path(), &s);
        let names: Vec<String> = d
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, ["handmade", "web"]);
        assert!(t.path().join("volumes/handmade/_data").is_dir());
    }

    #[tokio::test]
    async fn tmpfs_option_volume_mounts_on_first_use_and_unmounts_after_last() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        let d = open(t.path(), &s);
        let opts: BTreeMap<String, String> = [
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=10m,mode=0750"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        d.create("tv", &opts).await.unwrap();
        let data = d.data_path("tv");
        assert!(
            !SysMounter.is_mounted(&data).unwrap(),
            "not mounted at create"
        );
        let p = d.mount("tv", "a").await.unwrap();
        d.mount("tv", "b").await.unwrap();
        assert!(SysMounter.is_mounted(&data).unwrap());
        let st = rustix::fs::statfs(&p).unwrap();
        assert_eq!(st.f_type, 0x0102_1994, "TMPFS_MAGIC");
        assert_eq!(st.f_blocks * st.f_bsize as u64, 10 << 20);
        std::fs::write(p.join("f"), b"x").unwrap();
        d.unmount("tv", "a").await.unwrap();
        assert!(SysMounter.is_mounted(&data).unwrap(), "still one user");

        // A daemon restart while mounted: the new driver adopts the mount.
        let d2 = open(t.path(), &s);
        assert!(d2.is_mounted("tv"));
        d2.mount("tv", "b").await.unwrap();
        assert_eq!(
            std::fs::read(p.join("f")).unwrap(),
            b"x",
            "not mounted twice"
        );
        d2.unmount("tv", "b").await.unwrap();
        assert!(!SysMounter.is_mounted(&data).unwrap(), "last user gone");
        d2.remove("tv").await.unwrap();
        assert!(!t.path().join("volumes/tv").exists());
    }

    #[tokio::test]
    async fn remove_never_deletes_through_a_bind_mount() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        let d = open(t.path(), &s);
        let host = t.path().join("host");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("keep"), b"precious").unwrap();
        let opts: BTreeMap<String, String> = [
            ("type", "none"),
            ("device", host.to_str().unwrap()),
            ("o", "bind"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        d.create("bv", &opts).await.unwrap();
        let p = d.mount("bv", "a").await.unwrap();
        assert_eq!(std::fs::read(p.join("keep")).unwrap(), b"precious");
        // Remove while mounted: the driver unmounts first, so the host data survives.
        d.remove("bv").await.unwrap();
        assert_eq!(std::fs::read(host.join("keep")).unwrap(), b"precious");
    }
}
