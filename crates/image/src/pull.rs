//! `docker pull`: resolve the manifest (choosing this host's platform from an
//! index), then download layers concurrently. Each layer streams through one
//! pass that writes the blob to the content store (resuming an interrupted
//! ingest) and, with overlayfs, unpacks it at the same time; digests and diff
//! ids are checked before anything is committed, and the image is registered
//! only when every layer is in place.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::BodyExt;
use tokio::sync::{Semaphore, mpsc};

use crate::digest::{Digest, chain_ids};
use crate::error::{ImageError, Result};
use crate::layers::Pending;
use crate::lease::Lease;
use crate::pipe::{ChannelReader, Tee};
use crate::progress::ProgressSink;
use crate::records::{ImageRecord, LayerDesc, SOURCES};
use crate::reference::Reference;
use crate::registry::{Credentials, Endpoint, Session};
use crate::service::{ImageService, now};
use crate::spec::{Descriptor, ImageConfig, Index, Manifest, Platform, media};

/// Layers downloaded at once (Docker's default `max-concurrent-downloads`).
const CONCURRENT: usize = 3;
/// Bytes handed to a layer's consumer at once.
const BATCH: usize = 512 << 10;
/// Attempts per blob before giving up.
const ATTEMPTS: u32 = 5;

/// What one layer task produced.
enum Fetched {
    /// Unpacked, waiting for its parent to be committed.
    Unpacked(Pending),
    /// Blob stored; unpack later (copy snapshotter) or not at all (layer already present).
    Stored,
}

impl ImageService {
    /// Pull `name` (a reference; `:latest` when untagged) for `platform`
    /// (`os/arch[/variant]`, default the host). Returns the familiar reference.
    pub async fn pull(
        self: &Arc<Self>,
        name: &str,
        platform: Option<&str>,
        creds: Option<Credentials>,
        progress: &ProgressSink,
    ) -> Result<String> {
        let r = Reference::parse(name)?.with_default_tag();
        let want = match platform.filter(|p| !p.is_empty()) {
            Some(p) => Platform::parse(p)
                .ok_or_else(|| ImageError::Invalid(format!("invalid platform {p:?}")))?,
            None => Platform::host(),
        };
        let endpoints = self.registry.pull_endpoints(&r);
        let mut last = None;
        for ep in endpoints {
            let mirror = ep.mirror;
            let creds = if mirror { None } else { creds.clone() };
            match self.pull_from(ep, &r, &want, creds, progress).await {
                Ok(()) => return Ok(r.familiar()),
                Err(e) if mirror => {
                    tracing::info!(image = %r, "mirror failed, trying the next endpoint: {e}");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ImageError::Registry("no registry endpoint".into())))
    }

    async fn pull_from(
        self: &Arc<Self>,
        ep: Endpoint,
        r: &Reference,
        want: &Platform,
        creds: Option<Credentials>,
        progress: &ProgressSink,
    ) -> Result<()> {
        let sess = Arc::new(self.registry.session(ep, &r.path, creds, false)?);
        let what = format!("manifest for {}", r.familiar());
        let (raw, mt) = sess.manifest(&r.object(), &what).await.map_err(|e| match e {
            ImageError::Unauthorized(_) => ImageError::RemoteNotFound(format!(
                "pull access denied for {}, repository does not exist or may require 'docker login'",
                r.familiar_name()
            )),
            e => e,
        })?;
        let top = Digest::of(&raw);
        if let Some(d) = &r.digest
            && d != &top
        {
            return Err(ImageError::bad(format!(
                "manifest digest mismatch: wanted {d}, got {top}"
            )));
        }
        let (manifest_raw, manifest_digest) = if media::is_index(&mt) {
            let idx: Index = serde_json::from_slice(&raw)
                .map_err(|e| ImageError::bad(format!("bad index: {e}")))?;
            let pick = idx
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().is_some_and(|p| want.matches(p)))
                .ok_or_else(|| {
                    let v = if want.variant.is_empty() {
                        String::new()
                    } else {
                        format!("/{}", want.variant)
                    };
                    ImageError::RemoteNotFound(format!(
                        "no matching manifest for {}/{}{v} in the manifest list entries",
                        want.os, want.architecture
                    ))
                })?;
            let (m, _) = sess.manifest(&pick.digest, &what).await?;
            let d = Digest::of(&m);
            if d.as_str() != pick.digest {
                return Err(ImageError::bad(format!(
                    "manifest digest mismatch: wanted {}, got {d}",
                    pick.digest
                )));
            }
            (m, d)
        } else if mt.contains("v1+prettyjws") || mt.contains("manifest.v1+json") {
            return Err(ImageError::NotImplemented(
                "Docker Image manifest version 2, schema 1 is not supported; the image must be pushed again".into(),
            ));
        } else {
            (raw.clone(), top.clone())
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_raw)
            .map_err(|e| ImageError::bad(format!("bad manifest: {e}")))?;
        let config_raw = fetch_small(&sess, &manifest.config).await?;
        let cfg: ImageConfig = serde_json::from_slice(&config_raw)
            .map_err(|e| ImageError::bad(format!("bad image config: {e}")))?;
        let tag_or_digest = r.tag.clone().unwrap_or_else(|| top.to_string());
        progress.status(
            &tag_or_digest,
            &format!("Pulling from {}", r.familiar_name()),
        );

        let lease = Arc::new(self.leases.lease());
        let id = Digest::of(&config_raw);
        // "Up to date" only when this exact tag already named this image.
        let tag_current = self
            .store
            .get::<crate::records::RefRecord>(crate::records::REFS, &r.to_string())?
            .is_some_and(|rr| rr.image == id.as_str());
        let diffs: Vec<Digest> = cfg
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<_>>()?;
        if diffs.len() != manifest.layers.len() {
            return Err(ImageError::bad(format!(
                "manifest has {} layers, config {}",
                manifest.layers.len(),
                diffs.len()
            )));
        }
        let chains = chain_ids(&diffs);
        let result = self
            .fetch_layers(&sess, &manifest.layers, &diffs, &chains, progress, &lease)
            .await;
        let size = match result {
            Ok(size) => size,
            Err(e) => {
                drop(lease);
                let _ = self.gc();
                return Err(e);
            }
        };
        self.content.put_leased(&config_raw, Some(&lease))?;
        self.content.put_leased(&manifest_raw, Some(&lease))?;
        let rec = ImageRecord {
            id: id.to_string(),
            layers: manifest
                .layers
                .iter()
                .zip(&diffs)
                .map(|(l, d)| LayerDesc {
                    digest: l.digest.clone(),
                    media_type: l.media_type.clone(),
                    size: l.size,
                    diff_id: d.to_string(),
                })
                .collect(),
            manifest: Some(manifest_digest.to_string()),
            parent: String::new(),
            size,
            added: now(),
            last_tag_time: String::new(),
        };
        let mut refs = vec![r.with_digest(top.clone())];
        if r.tag.is_some() {
            refs.push(r.clone());
        }
        self.register(&[(rec, refs)])?;
        drop(lease);
        self.note_sources(
            &manifest
                .layers
                .iter()
                .map(|l| l.digest.clone())
                .collect::<Vec<_>>(),
            &r.domain,
            &r.path,
        )?;
        progress.status("", &format!("Digest: {top}"));
        let fresh = !tag_current;
        let newer = if fresh {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        progress.status("", &format!("Status: {newer} {}", r.familiar()));
        self.emit("pull", &r.familiar(), &r.familiar_name());
        Ok(())
    }

    /// Remember that the registry repository `domain/path` has these blobs (for mounts on push).
    pub(crate) fn note_sources(&self, blobs: &[String], domain: &str, path: &str) -> Result<()> {
        let repo = format!("{domain}/{path}");
        self.store.write(|txn| {
            for b in blobs {
                let mut v: Vec<String> = txn.get(SOURCES, b)?.unwrap_or_default();
                if !v.contains(&repo) {
                    v.push(repo.clone());
                    if v.len() > 16 {
                        v.remove(0);
                    }
                    txn.put(SOURCES, b, &v)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    async fn fetch_layers(
        self: &Arc<Self>,
        sess: &Arc<Session>,
        layers: &[Descriptor],
        diffs: &[Digest],
        chains: &[Digest],
        progress: &ProgressSink,
        lease: &Arc<Lease>,
    ) -> Result<i64> {
        let parallel = self.layers.snap.parallel_apply();
        let sem = Arc::new(Semaphore::new(CONCURRENT));
        let mut tasks = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let d = Digest::parse(&l.digest)?;
            lease.add(d.as_str());
            lease.add(chains[i].as_str());
            let present = self.layers.get(chains[i].as_str())?.is_some();
            if present && self.content.has(&d) {
                progress.status(d.short(), "Already exists");
                tasks.push(None);
                continue;
            }
            progress.status(d.short(), "Pulling fs layer");
            let unpack = parallel && !present;
            let job = LayerJob {
                svc: self.clone(),
                sess: sess.clone(),
                desc: l.clone(),
                digest: d,
                chain: chains[i].clone(),
                parent: i.checked_sub(1).map(|j| chains[j].clone()),
                diff: diffs[i].clone(),
                unpack,
                progress: progress.clone(),
            };
            let sem = sem.clone();
            tasks.push(Some(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                job.run().await
            })));
        }
        if tasks.iter().flatten().count() > CONCURRENT {
            for (i, t) in tasks.iter().enumerate().skip(CONCURRENT) {
                if t.is_some()
                    && let Ok(d) = Digest::parse(&layers[i].digest)
                {
                    progress.status(d.short(), "Waiting");
                }
            }
        }
        let mut results = Vec::new();
        let mut first_err = None;
        for t in tasks {
            match t {
                None => results.push(None),
                Some(h) => match h
                    .await
                    .map_err(|e| ImageError::Registry(format!("layer task failed: {e}")))
                    .and_then(|r| r)
                {
                    Ok(f) => results.push(Some(f)),
                    Err(e) => {
                        first_err.get_or_insert(e);
                        results.push(None);
                    }
                },
            }
        }
        if let Some(e) = first_err {
            for f in results.into_iter().flatten() {
                if let Fetched::Unpacked(p) = f {
                    self.layers.abort(p);
                }
            }
            return Err(e);
        }
        // Commit in order: each layer's parent first.
        let svc = self.clone();
        let layers = layers.to_vec();
        let (diffs, chains) = (diffs.to_vec(), chains.to_vec());
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || -> Result<i64> {
            let mut size = 0;
            let mut iter = results.into_iter();
            for i in 0..layers.len() {
                let d = Digest::parse(&layers[i].digest)?;
                let rec = match (iter.next().flatten(), svc.layers.get(chains[i].as_str())?) {
                    (Some(Fetched::Unpacked(p)), _) => svc.layers.commit(p)?,
                    (_, Some(rec)) => rec,
                    (_, None) => {
                        let f = svc.content.open_blob(&d)?;
                        let r = crate::progress::ProgressReader::new(
                            f,
                            progress.clone(),
                            d.short(),
                            "Extracting",
                            layers[i].size as u64,
                        );
                        let p = svc.layers.unpack(
                            &chains[i],
                            i.checked_sub(1).map(|j| &chains[j]),
                            &diffs[i],
                            r,
                        )?;
                        svc.layers.commit(p)?
                    }
                };
                size += rec.size;
                progress.status(d.short(), "Pull complete");
            }
            Ok(size)
        })
        .await
        .map_err(|e| ImageError::Registry(format!("layer commit failed: {e}")))?
    }
}

async fn fetch_small(sess: &Session, d: &Descriptor) -> Result<Vec<u8>> {
    let (resp, _) = sess.blob(&d.digest, 0).await?;
    let body = crate::registry::client::read_small(resp).await?;
    let got = Digest::of(&body);
    if got.as_str() != d.digest {
        return Err(ImageError::bad(format!(
            "blob {}: digest mismatch: got {got}",
            d.digest
        )));
    }
    Ok(body.to_vec())
}

struct LayerJob {
    svc: Arc<ImageService>,
    sess: Arc<Session>,
    desc: Descriptor,
    digest: Digest,
    chain: Digest,
    parent: Option<Digest>,
    diff: Digest,
    unpack: bool,
    progress: ProgressSink,
}

impl LayerJob {
    async fn run(self) -> Result<Fetched> {
        let size = self.desc.size.max(0) as u64;
        let id = self.digest.short().to_string();
        if self.svc.content.has(&self.digest) {
            // Blob already here (an earlier pull stopped after downloading it).
            self.progress.status(&id, "Download complete");
            if !self.unpack {
                return Ok(Fetched::Stored);
            }
            let (svc, chain, parent, diff) = (
                self.svc.clone(),
                self.chain.clone(),
                self.parent.clone(),
                self.diff.clone(),
            );
            let digest = self.digest.clone();
            return tokio::task::spawn_blocking(move || {
                let f = svc.content.open_blob(&digest)?;
                svc.layers
                    .unpack(&chain, parent.as_ref(), &diff, f)
                    .map(Fetched::Unpacked)
            })
            .await
            .map_err(|e| ImageError::Registry(format!("unpack task failed: {e}")))?;
        }
        let writer = self.svc.content.writer(Some((&self.digest, size)))?;
        let offset = writer.offset();
        if offset > 0 {
            tracing::info!(blob = %self.digest, offset, "resuming interrupted download");
        }
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
        let (svc, chain, parent, diff, unpack) = (
            self.svc.clone(),
            self.chain.clone(),
            self.parent.clone(),
            self.diff.clone(),
            self.unpack,
        );
        let consumer = tokio::task::spawn_blocking(move || -> Result<Fetched> {
            let mut writer = writer;
            let prefix = writer.prefix()?;
            let outcome = {
                let mut input = prefix.chain(Tee {
                    inner: ChannelReader::new(rx),
                    out: &mut writer,
                });
                let r = if unpack {
                    svc.layers
                        .unpack(&chain, parent.as_ref(), &diff, &mut input)
                        .map(Some)
                } else {
                    Ok(None)
                };
                // Whatever the unpacker did not need (compression trailer) still belongs to the blob.
                r.and_then(|p| match io::copy(&mut input, &mut io::sink()) {
                    Ok(_) => Ok(p),
                    Err(e) => {
                        if let Some(p) = p {
                            svc.layers.abort(p);
                        }
                        Err(ImageError::io("download layer", e))
                    }
                })
            };
            match outcome {
                Ok(p) => match writer.commit() {
                    Ok(_) => Ok(p.map(Fetched::Unpacked).unwrap_or(Fetched::Stored)),
                    Err(e) => {
                        if let Some(p) = p {
                            svc.layers.abort(p);
                        }
                        Err(e)
                    }
                },
                Err(e) => {
                    // Keep a resumable ingest only when the network failed.
                    if !matches!(e, ImageError::Io { .. }) {
                        writer.discard();
                    }
                    Err(e)
                }
            }
        });
        let net = self.download(offset, size, &id, tx).await;
        let res = consumer
            .await
            .map_err(|e| ImageError::Registry(format!("layer task failed: {e}")))?;
        tracing::debug!(layer = %id, "layer fetched");
        if let Err(e) = net {
            if let Ok(Fetched::Unpacked(p)) = res {
                self.svc.layers.abort(p);
            }
            return Err(e);
        }
        if res.is_ok() {
            self.progress.status(&id, "Verifying Checksum");
            self.progress.status(&id, "Download complete");
            if self.unpack {
                self.progress.bytes(&id, "Extracting", size, size);
            }
        }
        res
    }

    /// Stream the blob from `offset` into `tx`, resuming after dropped connections.
    async fn download(
        &self,
        offset: u64,
        size: u64,
        id: &str,
        tx: mpsc::Sender<io::Result<Bytes>>,
    ) -> Result<()> {
        let mut sent = offset;
        let mut attempt = 0;
        let mut last = Instant::now() - Duration::from_secs(1);
        loop {
            if sent >= size && size > 0 {
                return Ok(());
            }
            let err = match self.sess.blob(&self.desc.digest, sent).await {
                Err(e @ (ImageError::RemoteNotFound(_) | ImageError::Unauthorized(_))) => {
                    let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                    return Err(e);
                }
                Err(e) => e,
                Ok((resp, start)) => {
                    let mut skip = sent - start;
                    let mut body = resp.into_body().into_data_stream();
                    let mut failed = None;
                    // Frames are small; hand the consumer fewer, bigger chunks (fewer wake-ups and writes).
                    let mut batch = BytesMut::with_capacity(BATCH);
                    loop {
                        let next = body.next().await;
                        let flush = !matches!(&next, Some(Ok(_)));
                        if let Some(Ok(mut b)) = next {
                            if skip > 0 {
                                let n = (skip as usize).min(b.len());
                                let _ = b.split_to(n);
                                skip -= n as u64;
                            }
                            batch.extend_from_slice(&b);
                        } else if let Some(Err(e)) = next {
                            failed = Some(ImageError::Registry(format!(
                                "download {}: {e}",
                                self.desc.digest
                            )));
                        }
                        if !batch.is_empty() && (flush || batch.len() >= BATCH) {
                            let chunk = batch.split().freeze();
                            sent += chunk.len() as u64;
                            if tx.send(Ok(chunk)).await.is_err() {
                                // The consumer stopped (bad content): its error is the one to report.
                                return Ok(());
                            }
                            if last.elapsed() >= Duration::from_millis(100) {
                                last = Instant::now();
                                self.progress.bytes(id, "Downloading", sent, size);
                            }
                            batch.reserve(BATCH);
                        }
                        if flush {
                            break;
                        }
                    }
                    match failed {
                        None => {
                            self.progress.bytes(id, "Downloading", sent, size);
                            return Ok(());
                        }
                        Some(e) => e,
                    }
                }
            };
            attempt += 1;
            if attempt >= ATTEMPTS {
                let _ = tx.send(Err(io::Error::other(err.to_string()))).await;
                return Err(err);
            }
            tracing::info!(blob = %self.desc.digest, sent, "download interrupted, resuming: {err}");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
    }
}
