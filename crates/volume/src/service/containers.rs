//! What the container lifecycle asks of the volume service.
//!
//! ```text
//! create:  reqs = spec::plan_mounts(&hc, &volumes, &from)?        (pure; validation, 400s)
//!          reqs = vols.create_mounts(id, reqs).await?              (volumes exist, referenced)
//!          keep reqs in the container record; inspect = spec::mount_points(&reqs)
//! start:   mounts = vols.prepare_mounts(id, &reqs, first_start.then_some(rootfs)).await?
//! stop:    vols.unmount(id).await
//! remove:  vols.release(id, remove_anonymous).await                (`rm -v`, `--rm`)
//! boot:    vols.restore(uses).await                                (every container record)
//! ```

use std::path::{Path, PathBuf};

use berth_core::{Classify, ErrorKind};
use sha2::{Digest, Sha256};

use super::VolumeService;
use super::records::Active;
use crate::error::{Result, VolumeError};
use crate::fsops;
use crate::spec::{MountKind, MountRequest, Origin};

/// One mount, ready to become the runtime's mount input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMount {
    /// Bind (a host path, also for volumes), or a fresh tmpfs.
    pub kind: MountKind,
    /// Host path; empty for tmpfs.
    pub host_path: PathBuf,
    /// Absolute path in the container.
    pub destination: String,
    /// Mount read-only.
    pub readonly: bool,
    /// Bind propagation; `None` is Docker's default (`rprivate`).
    pub propagation: Option<String>,
    /// Bind without `rbind`.
    pub non_recursive: bool,
    /// tmpfs options (`size=10m`, `mode=1777`); the runtime adds `nosuid,nodev,noexec` first.
    pub tmpfs_options: Vec<String>,
}

/// What a container uses, as the engine knows it at boot.
#[derive(Debug, Clone, Default)]
pub struct ContainerUse {
    /// Container id.
    pub container_id: String,
    /// Its stored requests (after [`VolumeService::create_mounts`]).
    pub mounts: Vec<MountRequest>,
    /// Is its process still running (its volumes are mounted)?
    pub running: bool,
}

/// The driver mount id of a container's mount point: stable, so the unmount after a
/// restart matches the mount before it; distinct per destination.
pub fn mount_id(container_id: &str, destination: &str) -> String {
    let mut h = Sha256::new();
    h.update(container_id.as_bytes());
    h.update([0]);
    h.update(destination.as_bytes());
    hex::encode(h.finalize())
}

impl VolumeService {
    /// At container create: create the volumes the requests name (anonymous ones get
    /// a generated name) and reference them for `container_id`. Returns the requests
    /// with names, drivers and host paths filled in. On error nothing stays referenced
    /// and anonymous volumes created here are removed.
    pub async fn create_mounts(
        &self,
        container_id: &str,
        reqs: Vec<MountRequest>,
    ) -> Result<Vec<MountRequest>> {
        let mut out = Vec::with_capacity(reqs.len());
        let mut taken: Vec<(String, bool)> = Vec::new();
        for mut r in reqs {
            if r.kind == MountKind::Volume {
                let res = if r.origin == Origin::VolumesFrom {
                    self.reference(container_id, &r.name, r.anonymous).await
                } else {
                    self.create_ref(
                        &r.name,
                        &r.driver,
                        r.driver_opts.clone(),
                        r.labels.clone(),
                        Some((container_id, r.anonymous)),
                    )
                    .await
                    .map(|(rec, _, dv)| (rec.name, rec.driver, dv.mountpoint))
                };
                match res {
                    Ok((name, driver, path)) => {
                        let created_here = r.name.is_empty();
                        r.name = name;
                        r.driver = driver;
                        r.source = path.display().to_string();
                        // Docker shows `z` for -v/--mount volumes of the local driver.
                        if matches!(r.origin, Origin::Bind | Origin::Mount)
                            && r.driver == crate::driver::LOCAL
                            && r.mode.is_empty()
                        {
                            r.mode = "z".into();
                        }
                        taken.push((r.name.clone(), created_here));
                    }
                    Err(e) => {
                        self.rollback(container_id, &taken).await;
                        return Err(e);
                    }
                }
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Reference an existing volume (`--volumes-from`).
    async fn reference(
        &self,
        container_id: &str,
        name: &str,
        anonymous: bool,
    ) -> Result<(String, String, PathBuf)> {
        let _guard = self.locks.lock(name).await;
        let (rec, _, dv) = self.lookup(name).await?;
        self.users.add(container_id, name, anonymous);
        Ok((rec.name, rec.driver, dv.mountpoint))
    }

    async fn rollback(&self, container_id: &str, taken: &[(String, bool)]) {
        for (name, created_here) in taken {
            self.users.remove(container_id, name);
            if !*created_here {
                continue;
            }
            if let Err(e) = self.remove(name, false).await {
                tracing::warn!(volume = %name, "undo anonymous volume: {e}");
            }
        }
    }

    /// At container start: mount the volumes (first use mounts a volume's own
    /// filesystem), create missing `-v` host directories, resolve subpaths, and, when
    /// `copy_up_from` (the container's mounted rootfs; pass it on the first start
    /// only) is given, copy the image's content into empty volumes that ask for it.
    /// A second call for the same container releases the previous mounts after
    /// taking the new ones.
    pub async fn prepare_mounts(
        &self,
        container_id: &str,
        reqs: &[MountRequest],
        copy_up_from: Option<&Path>,
    ) -> Result<Vec<ResolvedMount>> {
        let previous = self.users.take_active(container_id);
        let mut done: Vec<Active> = Vec::new();
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            match self
                .prepare_one(container_id, r, copy_up_from, &mut done)
                .await
            {
                Ok(m) => out.push(m),
                Err(e) => {
                    self.unmount_all(container_id, done, false).await;
                    for a in previous {
                        self.users.mounted(container_id, a);
                    }
                    return Err(e);
                }
            }
        }
        for a in done {
            self.users.mounted(container_id, a);
        }
        self.unmount_all(container_id, previous, false).await;
        Ok(out)
    }

    async fn prepare_one(
        &self,
        container_id: &str,
        r: &MountRequest,
        copy_up_from: Option<&Path>,
        done: &mut Vec<Active>,
    ) -> Result<ResolvedMount> {
        let mut m = ResolvedMount {
            kind: r.kind,
            host_path: PathBuf::new(),
            destination: r.destination.clone(),
            readonly: !r.rw,
            propagation: (!r.propagation.is_empty()).then(|| r.propagation.clone()),
            non_recursive: r.non_recursive,
            tmpfs_options: Vec::new(),
        };
        match r.kind {
            MountKind::Tmpfs => m.tmpfs_options = r.tmpfs_options.clone(),
            MountKind::Bind => {
                let src = PathBuf::from(&r.source);
                let create = r.create_source;
                let src2 = src.clone();
                blocking(move || ensure_bind_source(&src2, create)).await?;
                m.host_path = src;
            }
            MountKind::Volume => {
                let d = self.resolve(&r.driver).await?;
                let id = mount_id(container_id, &r.destination);
                let path = d.mount(&r.name, &id).await?;
                done.push(Active {
                    volume: r.name.clone(),
                    driver: d.name().to_string(),
                    mount_id: id,
                });
                if let (Some(root), true) = (copy_up_from, r.copy_data) {
                    let (root, dest, vol) =
                        (root.to_path_buf(), r.destination.clone(), path.clone());
                    blocking(move || copy_up(&root, &dest, &vol)).await?;
                }
                m.host_path = if r.subpath.is_empty() {
                    path
                } else {
                    let (p, sub) = (path.clone(), r.subpath.clone());
                    blocking(move || {
                        fsops::resolve_within(&p, &sub).map_err(|e| {
                            VolumeError::Invalid(format!(
                                "cannot access path {}: {e}",
                                p.join(&sub).display()
                            ))
                        })
                    })
                    .await?
                };
                let rw = if r.rw { "true" } else { "false" };
                self.emit(
                    "mount",
                    &r.name,
                    &[
                        ("driver", d.name()),
                        ("container", container_id),
                        ("destination", &r.destination),
                        ("read/write", rw),
                        ("propagation", &r.propagation),
                    ],
                );
            }
        }
        Ok(m)
    }

    async fn unmount_all(&self, container_id: &str, mounts: Vec<Active>, events: bool) {
        for a in mounts {
            let res = match self.resolve(&a.driver).await {
                Ok(d) => d.unmount(&a.volume, &a.mount_id).await,
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                tracing::warn!(volume = %a.volume, container = %container_id, "unmount: {e}");
            }
            if events {
                self.emit(
                    "unmount",
                    &a.volume,
                    &[("driver", &a.driver), ("container", container_id)],
                );
            }
        }
    }

    /// At container stop: release its volume mounts (the last user of a volume with
    /// its own filesystem unmounts it). Idempotent.
    pub async fn unmount(&self, container_id: &str) {
        let active = self.users.take_active(container_id);
        self.unmount_all(container_id, active, true).await;
    }

    /// At container removal: unmount, drop its references, and with
    /// `remove_anonymous` (`rm -v`, `--rm`) remove its anonymous volumes that no
    /// other container uses. Failures are logged, as Docker does.
    pub async fn release(&self, container_id: &str, remove_anonymous: bool) {
        self.unmount(container_id).await;
        let uses = self.users.take(container_id);
        if !remove_anonymous {
            return;
        }
        for u in uses.into_iter().filter(|u| u.anonymous) {
            match self.remove(&u.volume, false).await {
                Ok(()) => {}
                Err(e)
                    if matches!(e, VolumeError::InUse { .. })
                        || e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(volume = %u.volume, container = %container_id, "remove anonymous volume: {e}")
                }
            }
        }
    }

    /// At daemon start: rebuild who uses which volume from the container records,
    /// and re-take the mounts of running containers (a volume's filesystem that is
    /// still mounted from before a crash is adopted, not mounted twice).
    pub async fn restore(&self, uses: Vec<ContainerUse>) {
        for u in uses {
            let vols = u
                .mounts
                .iter()
                .filter(|m| m.kind == MountKind::Volume && !m.name.is_empty());
            for m in vols.clone() {
                self.users.add(&u.container_id, &m.name, m.anonymous);
            }
            if !u.running {
                continue;
            }
            for m in vols {
                let id = mount_id(&u.container_id, &m.destination);
                let res = match self.resolve(&m.driver).await {
                    Ok(d) => d.mount(&m.name, &id).await.map(|_| d.name().to_string()),
                    Err(e) => Err(e),
                };
                match res {
                    Ok(driver) => self.users.mounted(
                        &u.container_id,
                        Active {
                            volume: m.name.clone(),
                            driver,
                            mount_id: id,
                        },
                    ),
                    Err(e) => {
                        tracing::warn!(volume = %m.name, container = %u.container_id, "restore mount: {e}")
                    }
                }
            }
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VolumeError::Core(berth_core::Error::internal(format!("volume task: {e}"))))?
}

/// A bind source must exist; `-v` creates a missing one as a directory (0755).
fn ensure_bind_source(src: &Path, create: bool) -> Result<()> {
    match std::fs::metadata(src) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(src)
                .map_err(|e| {
                    VolumeError::io(
                        format!("error while creating mount source path '{}'", src.display()),
                        e,
                    )
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(VolumeError::Invalid(format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            src.display()
        ))),
        Err(e) => Err(VolumeError::io(format!("stat {}", src.display()), e)),
    }
}

/// Copy the image's directory at `dest` (resolved inside `rootfs`) into the volume
/// at `vol` when the volume is empty; a missing source or a file there copies nothing.
fn copy_up(rootfs: &Path, dest: &str, vol: &Path) -> Result<()> {
    let io = |what: &str, e| VolumeError::io(format!("copy {dest} into volume: {what}"), e);
    if !fsops::is_empty_dir(vol).map_err(|e| io("read volume", e))? {
        return Ok(());
    }
    let Some(fd) = fsops::open_dir_in_root(rootfs, dest).map_err(|e| io("open image path", e))?
    else {
        return Ok(());
    };
    fsops::copy_tree(&fsops::fd_path(&fd), vol).map_err(|e| io("copy", e))?;
    Ok(())
}
