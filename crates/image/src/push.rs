//! `docker push`: upload the layers a registry lacks (checking first, mounting
//! from another repository of the same registry when berth knows one has the
//! blob), then the config and the manifest. Uncompressed layers (loaded,
//! imported, committed) are gzip-compressed once and the result remembered.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::Semaphore;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::progress::ProgressSink;
use crate::records::{COMPRESSED, Compressed, IMAGES, ImageRecord, REFS, RefRecord, SOURCES};
use crate::reference::Reference;
use crate::registry::client::Mounted;
use crate::registry::{Credentials, Session};
use crate::service::ImageService;
use crate::spec::{Descriptor, Manifest, media};

/// Layers uploaded at once (Docker's default `max-concurrent-uploads`).
const CONCURRENT: usize = 5;

fn is_plain(mt: &str) -> bool {
    mt == media::DOCKER_LAYER || mt == media::OCI_LAYER
}

impl ImageService {
    /// Push `name` (`repo`, all its tags, or with `tag` just that one).
    pub async fn push(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        creds: Option<Credentials>,
        progress: &ProgressSink,
    ) -> Result<()> {
        let base = Reference::parse(name)?;
        let targets: Vec<Reference> = if !tag.is_empty() {
            vec![base.with_tag(tag)?]
        } else if base.tag.is_some() {
            vec![base.clone()]
        } else {
            let mut v: Vec<Reference> = self
                .store
                .list::<RefRecord>(REFS)?
                .into_iter()
                .filter_map(|(k, _)| Reference::parse(&k).ok())
                .filter(|r| r.name() == base.name() && r.tag.is_some() && r.digest.is_none())
                .collect();
            v.sort_by_key(|r| r.to_string());
            v
        };
        let mut found = Vec::new();
        for t in &targets {
            if let Ok(id) = self.resolve_id(&t.to_string()) {
                found.push((t.clone(), id));
            }
        }
        if found.is_empty() {
            return Err(ImageError::RemoteNotFound(format!(
                "An image does not exist locally with the tag: {}",
                base.familiar_name()
            )));
        }
        progress.status(
            "",
            &format!("The push refers to repository [{}]", base.familiar_name()),
        );
        let sess = Arc::new(self.registry.session(
            self.registry.origin(&base.domain),
            &base.path,
            creds,
            true,
        )?);
        for (r, id) in found {
            self.push_one(&sess, &r, &id, progress).await?;
        }
        Ok(())
    }

    async fn push_one(
        self: &Arc<Self>,
        sess: &Arc<Session>,
        r: &Reference,
        id: &str,
        progress: &ProgressSink,
    ) -> Result<()> {
        let (raw, mt, manifest) = self.manifest_for_push(id).await?;
        let lease = self.leases.lease();
        for l in &manifest.layers {
            lease.add(&l.digest);
        }
        // Layers, concurrently; progress ids are diff ids as Docker's.
        let rec = self
            .record(id)?
            .ok_or_else(|| ImageError::NoSuchImage(id.to_string()))?;
        let diff_of: BTreeMap<String, String> = rec
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.diff_id.clone()))
            .chain(
                self.store
                    .list::<Compressed>(COMPRESSED)?
                    .into_iter()
                    .map(|(diff, c)| (c.digest, diff)),
            )
            .collect();
        let short_of = |d: &str| {
            Digest::parse(diff_of.get(d).map(String::as_str).unwrap_or(d))
                .map(|x| x.short().to_string())
                .unwrap_or_default()
        };
        for l in manifest.layers.iter().rev() {
            progress.status(&short_of(&l.digest), "Preparing");
        }
        let sem = Arc::new(Semaphore::new(CONCURRENT));
        let mut tasks = Vec::new();
        for l in manifest.layers.iter().rev() {
            let (svc, sess, sem, progress) =
                (self.clone(), sess.clone(), sem.clone(), progress.clone());
            let (l, short) = (l.clone(), short_of(&l.digest));
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire_owned().await;
                svc.push_blob(&sess, &l, &short, &progress).await
            }));
        }
        for t in tasks {
            t.await
                .map_err(|e| ImageError::Registry(format!("upload task failed: {e}")))??;
        }
        self.push_blob(sess, &manifest.config, "", &ProgressSink::none())
            .await?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let digest = sess.put_manifest(&tag, &mt, raw.clone()).await?;
        self.note_sources(
            &manifest
                .layers
                .iter()
                .map(|l| l.digest.clone())
                .collect::<Vec<_>>(),
            &r.domain,
            &r.path,
        )?;
        if let Ok(d) = Digest::parse(&digest) {
            self.set_refs(id, &[r.with_digest(d)])?;
        }
        progress.status("", &format!("{tag}: digest: {digest} size: {}", raw.len()));
        progress.aux(serde_json::json!({"Tag": tag, "Digest": digest, "Size": raw.len()}));
        self.emit("push", &r.familiar(), &r.familiar_name());
        drop(lease);
        Ok(())
    }

    async fn push_blob(
        &self,
        sess: &Session,
        l: &Descriptor,
        short: &str,
        progress: &ProgressSink,
    ) -> Result<()> {
        if sess.has_blob(&l.digest).await? {
            progress.status(short, "Layer already exists");
            return Ok(());
        }
        let d = Digest::parse(&l.digest)?;
        let mut location = None;
        let sources: Vec<String> = self.store.get(SOURCES, &l.digest)?.unwrap_or_default();
        let prefix = format!("{}/", sess.ep.domain);
        for src in sources.iter().rev() {
            let Some(repo) = src.strip_prefix(&prefix) else {
                continue;
            };
            if repo == sess.repo {
                continue;
            }
            sess.add_pull_scope(repo);
            match sess.mount(&l.digest, repo).await {
                Ok(Mounted::Yes) => {
                    progress.status(short, &format!("Mounted from {repo}"));
                    return Ok(());
                }
                Ok(Mounted::No(loc)) => {
                    location = Some(loc);
                    break;
                }
                Err(e) => tracing::debug!("mount of {} from {repo} failed: {e}", l.digest),
            }
        }
        let size = self
            .content
            .size(&d)
            .ok_or_else(|| ImageError::bad(format!("blob {d} is missing")))?;
        let file = tokio::fs::File::open(self.content.path(&d))
            .await
            .map_err(|e| ImageError::io(format!("open blob {d}"), e))?;
        let (p, id) = (progress.clone(), short.to_string());
        let mut sent = 0u64;
        let mut last = std::time::Instant::now();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).map(move |chunk| {
                if let Ok(b) = &chunk {
                    sent += b.len() as u64;
                    if !id.is_empty() && (last.elapsed().as_millis() >= 100 || sent == size) {
                        last = std::time::Instant::now();
                        p.bytes(&id, "Pushing", sent, size);
                    }
                }
                chunk.map(|b: Bytes| hyper::body::Frame::data(b))
            });
        let body = BodyExt::boxed(StreamBody::new(stream));
        sess.upload(&l.digest, size, body, location).await?;
        if !short.is_empty() {
            progress.status(short, "Pushed");
        }
        Ok(())
    }

    /// The manifest to push for image `id`: the stored one when all its blobs
    /// are here, else a new Docker schema2 manifest (compressing plain layers).
    async fn manifest_for_push(self: &Arc<Self>, id: &str) -> Result<(Vec<u8>, String, Manifest)> {
        let rec = self
            .record(id)?
            .ok_or_else(|| ImageError::NoSuchImage(id.to_string()))?;
        if let Some(md) = &rec.manifest
            && let Ok(raw) = self.content.read(&Digest::parse(md)?)
            && let Ok(m) = serde_json::from_slice::<Manifest>(&raw)
        {
            let complete = m
                .layers
                .iter()
                .all(|l| Digest::parse(&l.digest).is_ok_and(|d| self.content.has(&d)));
            if complete {
                let mt = if m.media_type.is_empty() {
                    media::OCI_MANIFEST.to_string()
                } else {
                    m.media_type.clone()
                };
                return Ok((raw, mt, m));
            }
        }
        let svc = self.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || svc.build_manifest(&id, rec))
            .await
            .map_err(|e| ImageError::Registry(format!("manifest task failed: {e}")))?
    }

    /// The gzip variant of a plain layer, made once and remembered.
    fn compressed(&self, l: &crate::records::LayerDesc) -> Result<Compressed> {
        if let Some(c) = self.store.get::<Compressed>(COMPRESSED, &l.diff_id)?
            && Digest::parse(&c.digest).is_ok_and(|d| self.content.has(&d))
        {
            return Ok(c);
        }
        let src = self.content.open_blob(&Digest::parse(&l.digest)?)?;
        let mut w = self.content.writer(None)?;
        {
            // Docker's default level: incompressible data becomes stored blocks (cheap to inflate).
            let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::default());
            std::io::copy(
                &mut std::io::BufReader::with_capacity(1 << 20, src),
                &mut gz,
            )
            .map_err(|e| ImageError::io("compress layer", e))?;
            gz.finish()
                .map_err(|e| ImageError::io("compress layer", e))?;
        }
        w.flush().map_err(|e| ImageError::io("compress layer", e))?;
        let size = w.count() as i64;
        // Leased until its record exists: a concurrent gc must not take it.
        let lease = self.leases.lease();
        let digest = w.commit_leased(Some(&lease))?.to_string();
        let c = Compressed { digest, size };
        self.store.put(COMPRESSED, &l.diff_id, &c)?;
        drop(lease);
        Ok(c)
    }

    fn build_manifest(&self, id: &str, rec: ImageRecord) -> Result<(Vec<u8>, String, Manifest)> {
        let config = self.content.read(&Digest::parse(id)?)?;
        let any_zstd = rec
            .layers
            .iter()
            .any(|l| l.media_type == media::OCI_LAYER_ZSTD);
        // Compress plain layers in parallel (one thread each).
        let results: Vec<Result<Descriptor>> = std::thread::scope(|scope| {
            let handles: Vec<_> = rec
                .layers
                .iter()
                .map(|l| {
                    scope.spawn(move || -> Result<Descriptor> {
                        if !is_plain(&l.media_type) {
                            return Ok(Descriptor {
                                media_type: l.media_type.clone(),
                                digest: l.digest.clone(),
                                size: l.size,
                                ..Default::default()
                            });
                        }
                        let c = self.compressed(l)?;
                        Ok(Descriptor {
                            media_type: media::DOCKER_LAYER_GZIP.into(),
                            digest: c.digest,
                            size: c.size,
                            ..Default::default()
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(ImageError::bad("layer compression panicked")))
                })
                .collect()
        });
        let mut layers = results.into_iter().collect::<Result<Vec<_>>>()?;
        let (mt, config_mt) = if any_zstd {
            (media::OCI_MANIFEST, media::OCI_CONFIG)
        } else {
            (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
        };
        if any_zstd {
            for l in &mut layers {
                if l.media_type == media::DOCKER_LAYER_GZIP {
                    l.media_type = media::OCI_LAYER_GZIP.into();
                }
            }
        }
        let m = Manifest {
            schema_version: 2,
            media_type: mt.into(),
            config: Descriptor {
                media_type: config_mt.into(),
                digest: id.to_string(),
                size: config.len() as i64,
                ..Default::default()
            },
            layers,
            annotations: Default::default(),
        };
        let raw = serde_json::to_vec_pretty(&m).map_err(|e| ImageError::bad(e.to_string()))?;
        let lease = self.leases.lease();
        let md = self.content.put_leased(&raw, Some(&lease))?;
        self.note_manifest(id, &md)?;
        drop(lease);
        Ok((raw, mt.to_string(), m))
    }

    /// Remember `manifest` as image `id`'s, on the record as it is now and
    /// under the metadata lock: an `rmi` that ran while the layers were being
    /// compressed must not see the image come back, and a tag made meanwhile
    /// must not be overwritten by the record read before.
    pub(crate) fn note_manifest(&self, id: &str, manifest: &Digest) -> Result<()> {
        let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let found = self.store.write(|txn| {
            let Some(mut rec) = txn.get::<ImageRecord>(IMAGES, id)? else {
                return Ok(false);
            };
            rec.manifest = Some(manifest.to_string());
            txn.put(IMAGES, id, &rec)?;
            Ok(true)
        })?;
        if found {
            Ok(())
        } else {
            Err(ImageError::NoSuchImage(id.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use berth_core::events::EventBus;
    use berth_core::store::Store;

    use super::*;
    use crate::service::ImageOptions;

    /// An image removed while it was being pushed stays removed: the push's
    /// late writes (its manifest, the repo@digest reference) are refused.
    #[test]
    fn a_push_does_not_bring_back_an_image_removed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("bb.tar");
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/make-busybox-image.sh");
        let st = std::process::Command::new(script)
            .arg(&tar)
            .arg("bb:latest")
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let store = Arc::new(Store::open(&dir.path().join("meta.db")).unwrap());
        let opts = ImageOptions {
            snapshotter: Some("naive".into()),
            ..Default::default()
        };
        let svc = ImageService::open(
            dir.path().join("image"),
            store,
            Arc::new(EventBus::new()),
            opts,
        )
        .unwrap();
        svc.load(
            std::fs::File::open(&tar).unwrap(),
            &ProgressSink::none(),
            true,
        )
        .unwrap();
        let id = svc.resolve_id("bb:latest").unwrap();
        let manifest = svc.content.put(b"{}").unwrap();

        // While present, both writes land.
        svc.note_manifest(&id, &manifest).unwrap();
        assert_eq!(
            svc.record(&id).unwrap().unwrap().manifest,
            Some(manifest.to_string())
        );

        svc.delete("bb:latest", true, false).unwrap();
        assert!(svc.record(&id).unwrap().is_none());
        assert!(matches!(
            svc.note_manifest(&id, &manifest),
            Err(ImageError::NoSuchImage(_))
        ));
        let pushed = Reference::parse("127.0.0.1:5000/bb:latest").unwrap();
        assert!(matches!(
            svc.set_refs(&id, std::slice::from_ref(&pushed)),
            Err(ImageError::NoSuchImage(_))
        ));
        assert!(
            svc.record(&id).unwrap().is_none(),
            "the image record came back"
        );
        assert!(
            svc.resolve_id(&pushed.to_string()).is_err(),
            "a reference to nothing"
        );
    }
}
