//! The container's filesystem from outside: `docker diff`, `export`, `cp`
//! (`HEAD/GET/PUT /containers/{id}/archive`) and `commit`.
//!
//! Paths from the client are resolved inside the container's root with symlinks
//! kept inside it; tar extraction uses tar-rs's `unpack_in`, which refuses
//! entries that would land outside the target directory.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::backend::container::{ByteStream, CommitOptions, PathStat};
use berth_api::types::inspect::FilesystemChange;
use berth_core::{Error, Result};
use berth_runtime::spec::user::resolve_in_root;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::Container;
use crate::Engine;

/// A blocking writer that sends its bytes to an async stream.
pub struct ChannelWriter(mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Run `produce` on a blocking thread, streaming what it writes.
pub fn stream_from_blocking(
    produce: impl FnOnce(&mut ChannelWriter) -> std::io::Result<()> + Send + 'static,
) -> ByteStream {
    let (tx, rx) = mpsc::channel(16);
    let err_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter(tx);
        if let Err(e) = produce(&mut w) {
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}

/// Go's `os.FileMode` bits for a file (what `X-Docker-Container-Path-Stat` carries).
pub fn go_mode(md: &std::fs::Metadata) -> u32 {
    let ft = md.file_type();
    let mut m = md.permissions().mode() & 0o777;
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        m |= 1 << 31;
    }
    if ft.is_symlink() {
        m |= 1 << 27;
    }
    if ft.is_block_device() {
        m |= 1 << 26;
    }
    if ft.is_char_device() {
        m |= (1 << 26) | (1 << 21);
    }
    if ft.is_fifo() {
        m |= 1 << 25;
    }
    if ft.is_socket() {
        m |= 1 << 24;
    }
    let raw = md.mode();
    if raw & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if raw & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if raw & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m
}

/// Where container paths live on the host: the root filesystem plus the
/// mounts the runtime adds (network files, volumes, binds), longest first.
#[derive(Debug, Clone, Default)]
pub struct CopyRoot {
    /// The mounted root filesystem.
    pub root: PathBuf,
    /// (destination in the container, host source).
    pub mounts: Vec<(String, PathBuf)>,
}

impl CopyRoot {
    /// Resolve a container path to a host path (see [`host_path`]).
    pub fn resolve(&self, path: &str) -> Result<PathBuf> {
        let clean = clean_path(path);
        for (dest, src) in &self.mounts {
            if clean == *dest {
                return Ok(src.clone());
            }
            if let Some(rest) = clean
                .strip_prefix(dest.as_str())
                .filter(|r| r.starts_with('/'))
            {
                return host_path(src, rest);
            }
        }
        host_path(&self.root, path)
    }

    /// The directory `path` names, following all symlinks (for extraction).
    pub fn resolve_dir(&self, path: &str) -> Option<PathBuf> {
        let clean = clean_path(path);
        for (dest, src) in &self.mounts {
            if clean == *dest {
                return Some(src.clone());
            }
            if let Some(rest) = clean
                .strip_prefix(dest.as_str())
                .filter(|r| r.starts_with('/'))
            {
                return resolve_in_root(src, rest);
            }
        }
        resolve_in_root(&self.root, path)
    }
}

/// Lexically clean an absolute container path (`/a/./b/../c/` → `/a/c`).
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolve `path` (absolute, in the container) to a host path, following
/// symlinks inside the root except in the last component.
pub fn host_path(root: &Path, path: &str) -> Result<PathBuf> {
    if !path.starts_with('/') {
        return Err(Error::invalid(format!("path must be absolute: {path}")));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(root.to_path_buf());
    }
    let (parent, base) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    let parent = resolve_in_root(root, if parent.is_empty() { "/" } else { parent })
        .ok_or_else(|| Error::not_found(format!("Could not find the file {path} in container")))?;
    if base == "." || base == ".." {
        return resolve_in_root(root, trimmed).ok_or_else(|| {
            Error::not_found(format!("Could not find the file {path} in container"))
        });
    }
    Ok(parent.join(base))
}

fn stat_of(host: &Path, shown: &str) -> Result<PathStat> {
    let md = std::fs::symlink_metadata(host)
        .map_err(|_| Error::not_found(format!("Could not find the file {shown} in container")))?;
    let link_target = if md.file_type().is_symlink() {
        std::fs::read_link(host)
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mtime =
        chrono::DateTime::from_timestamp(md.mtime(), md.mtime_nsec() as u32).unwrap_or_default();
    Ok(PathStat {
        name: Path::new(shown.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into()),
        size: md.len() as i64,
        mode: go_mode(&md),
        mtime: berth_core::timefmt::rfc3339(mtime),
        link_target,
    })
}

impl Engine {
    /// The container's root, mounted (a stopped container is mounted on demand),
    /// with the mounts the runtime adds on top.
    async fn root_for_copy(&self, c: &Container) -> Result<CopyRoot> {
        let root = self.mount_rootfs(c).await?;
        let dir = self.container_dir(&c.id);
        let mut mounts: Vec<(String, PathBuf)> = vec![
            ("/etc/hostname".into(), dir.join("hostname")),
            ("/etc/hosts".into(), dir.join("hosts")),
            ("/etc/resolv.conf".into(), dir.join("resolv.conf")),
        ];
        mounts.retain(|(_, p)| p.exists());
        c.with_config(|r| {
            for m in &r.mount_requests {
                if m.kind != berth_volume::MountKind::Tmpfs && !m.source.is_empty() {
                    mounts.push((clean_path(&m.destination), PathBuf::from(&m.source)));
                }
            }
        });
        mounts.sort_by_key(|m| std::cmp::Reverse(m.0.len()));
        Ok(CopyRoot { root, mounts })
    }

    /// `docker diff`.
    pub async fn container_changes(&self, key: &str) -> Result<Vec<FilesystemChange>> {
        let c = self.container(key)?;
        let images = self.images.clone();
        let id = c.id.clone();
        let changes = tokio::task::spawn_blocking(move || images.changes(&id))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        Ok(changes
            .into_iter()
            .map(|ch| FilesystemChange {
                path: ch.path.clone(),
                kind: ch.kind.code(),
            })
            .collect())
    }

    /// `HEAD /containers/{id}/archive`.
    pub async fn stat_path(self: &Arc<Self>, key: &str, path: &str) -> Result<PathStat> {
        let c = self.container(key)?;
        let root = self.root_for_copy(&c).await?;
        stat_of(&root.resolve(path)?, path)
    }

    /// `GET /containers/{id}/archive`: a tar whose top entry is the path's base name.
    pub async fn get_archive(
        self: &Arc<Self>,
        key: &str,
        path: &str,
    ) -> Result<(PathStat, ByteStream)> {
        let c = self.container(key)?;
        let root = self.root_for_copy(&c).await?;
        let host = root.resolve(path)?;
        let stat = stat_of(&host, path)?;
        let name = if stat.name == "/" {
            ".".to_string()
        } else {
            stat.name.clone()
        };
        // `path/.` copies the directory's content, not the directory.
        let contents_only = path.ends_with("/.");
        let body = stream_from_blocking(move |w| {
            let mut b = tar::Builder::new(w);
            b.follow_symlinks(false);
            let md = std::fs::symlink_metadata(&host)?;
            if md.is_dir() {
                b.append_dir_all(if contents_only { "." } else { name.as_str() }, &host)?;
            } else {
                b.append_path_with_name(&host, &name)?;
            }
            b.finish()
        });
        Ok((stat, body))
    }

    /// `PUT /containers/{id}/archive`: extract a tar into a directory of the container.
    pub async fn put_archive(
        self: &Arc<Self>,
        key: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
        mut body: ByteStream,
    ) -> Result<()> {
        let c = self.container(key)?;
        if c.with_config(|r| r.host_config.readonly_rootfs) {
            return Err(Error::forbidden("container rootfs is marked read-only"));
        }
        let root = self.root_for_copy(&c).await?;
        let dest = root.resolve_dir(path).ok_or_else(|| {
            Error::not_found(format!("Could not find the file {path} in container"))
        })?;
        let md = std::fs::metadata(&dest).map_err(|_| {
            Error::not_found(format!("Could not find the file {path} in container"))
        })?;
        if !md.is_dir() {
            return Err(Error::invalid(format!(
                "extraction point is not a directory: {path}"
            )));
        }
        let (tx, rx) = mpsc::channel(16);
        let feeder = tokio::spawn(async move {
            while let Some(chunk) = body.next().await {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        let result = tokio::task::spawn_blocking(move || -> Result<()> {
            let reader = berth_image::pipe::ChannelReader::new(rx);
            let mut ar = tar::Archive::new(reader);
            ar.set_preserve_permissions(true);
            ar.set_preserve_ownerships(copy_uid_gid);
            ar.set_overwrite(true);
            let entries = ar
                .entries()
                .map_err(|e| Error::invalid(format!("bad tar: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| Error::invalid(format!("bad tar: {e}")))?;
                if no_overwrite_dir_non_dir {
                    let rel = entry
                        .path()
                        .map_err(|e| Error::invalid(e.to_string()))?
                        .into_owned();
                    if let Ok(existing) = std::fs::symlink_metadata(dest.join(&rel))
                        && existing.is_dir() != entry.header().entry_type().is_dir()
                    {
                        return Err(Error::invalid(format!(
                            "cannot overwrite {} with {}",
                            if existing.is_dir() {
                                "directory"
                            } else {
                                "non-directory"
                            },
                            if existing.is_dir() {
                                "non-directory"
                            } else {
                                "directory"
                            }
                        )));
                    }
                }
                entry
                    .unpack_in(&dest)
                    .map_err(|e| Error::invalid(format!("cannot extract: {e}")))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        feeder.abort();
        result
    }

    /// `docker export`: the root filesystem as a tar stream.
    pub async fn export_container(self: &Arc<Self>, key: &str) -> Result<ByteStream> {
        let c = self.container(key)?;
        let root = self.root_for_copy(&c).await?.root;
        self.emit_container(&c, "export", &[]);
        Ok(stream_from_blocking(move |w| {
            let mut b = tar::Builder::new(w);
            b.follow_symlinks(false);
            b.append_dir_all(".", &root)?;
            b.finish()
        }))
    }

    /// `docker commit`: the container's read-write layer as a new image.
    pub async fn commit_container(self: &Arc<Self>, opts: CommitOptions) -> Result<String> {
        let c = self.container(&opts.container)?;
        let rec = c.config();
        let mut cfg: berth_image::spec::ContainerConfig =
            serde_json::to_value(opts.config.clone().unwrap_or(rec.config.clone()))
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
        cfg.hostname.clear();
        cfg.image.clear();
        berth_image::changes::apply(&mut cfg, &opts.changes).map_err(Error::from)?;
        let paused = opts.pause && c.status() == super::Status::Running;
        if paused {
            let _ = self.shim(&c).pause().await;
        }
        let tag = match (opts.repo.is_empty(), opts.tag.is_empty()) {
            (true, _) => Vec::new(),
            (false, true) => vec![opts.repo.clone()],
            (false, false) => vec![format!("{}:{}", opts.repo, opts.tag)],
        };
        let images = self.images.clone();
        let (id, parent) = (c.id.clone(), rec.image_id.clone());
        let co = berth_image::CommitOptions {
            config: cfg,
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            created_by: String::new(),
            empty_layer: false,
            tags: tag,
            container: Some((
                c.id.clone(),
                serde_json::to_value(&rec.config).unwrap_or_default(),
            )),
        };
        let res = tokio::task::spawn_blocking(move || images.commit(Some(&id), Some(&parent), co))
            .await
            .map_err(|e| Error::internal(e.to_string()));
        if paused {
            let _ = self.shim(&c).resume().await;
        }
        let image_id = res??;
        self.emit_container(&c, "commit", &[]);
        Ok(image_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_path_stays_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        assert_eq!(
            host_path(root, "/etc/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            host_path(root, "/link/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            host_path(root, "/up/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(host_path(root, "/link").unwrap(), root.join("link"));
        assert!(host_path(root, "relative").is_err());
        let cr = CopyRoot {
            root: root.to_path_buf(),
            mounts: vec![
                ("/etc/hostname".into(), "/tmp/h".into()),
                ("/data".into(), root.join("vol")),
            ],
        };
        assert_eq!(
            cr.resolve("/etc/hostname").unwrap(),
            PathBuf::from("/tmp/h")
        );
        assert_eq!(cr.resolve("/data/x").unwrap(), root.join("vol/x"));
        assert_eq!(cr.resolve("/datax").unwrap(), root.join("datax"));
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
    }
}
