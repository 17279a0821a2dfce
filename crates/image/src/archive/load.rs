//! `docker load`: read a `docker save` archive (Docker layout with
//! `manifest.json`, or an OCI image layout with `index.json`; plain, gzip or
//! zstd), verify every blob and layer, and register its images in one go.
//! Entry names of the archive only ever serve as lookup keys; nothing is
//! written to the filesystem by name.

use std::collections::HashMap;
use std::io::{Read, Write};

use crate::digest::{Digest, chain_ids};
use crate::error::{ImageError, Result};
use crate::lease::Lease;
use crate::progress::{ProgressReader, ProgressSink};
use crate::records::{ImageRecord, LayerDesc};
use crate::reference::Reference;
use crate::service::{ImageService, now};
use crate::spec::{
    ArchiveManifestEntry, Descriptor, ImageConfig, Index, Manifest, Platform, media,
};
use crate::unpack::decompress::decompress;

/// Files kept in memory besides going to the content store.
const SMALL: u64 = 4 << 20;

/// The archive's files, by normalised path.
#[derive(Default)]
pub(crate) struct Files {
    blobs: HashMap<String, (Digest, u64)>,
    small: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
}

/// Normalise a path inside an archive (`./a/../b` → `b`).
pub(crate) fn norm(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

impl Files {
    fn resolve(&self, path: &str) -> String {
        let mut p = norm(path);
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }

    fn blob(&self, path: &str) -> Result<(Digest, u64)> {
        let p = self.resolve(path);
        self.blobs
            .get(&p)
            .cloned()
            .ok_or_else(|| ImageError::bad(format!("archive is missing {path}")))
    }

    fn bytes(&self, path: &str) -> Result<&[u8]> {
        let p = self.resolve(path);
        self.small
            .get(&p)
            .map(Vec::as_slice)
            .ok_or_else(|| ImageError::bad(format!("archive is missing {path}")))
    }

    fn by_digest(&self, d: &str) -> Result<&[u8]> {
        let d = Digest::parse(d)?;
        self.bytes(&format!("blobs/sha256/{}", d.hex()))
    }
}

/// One image found in an archive.
struct Found {
    config: Vec<u8>,
    layers: Vec<(Digest, u64)>,
    manifest: Option<Digest>,
    tags: Vec<Reference>,
}

impl ImageService {
    /// Read every file of the archive into the content store (leased).
    pub(crate) fn spool(&self, input: impl Read + Send, lease: &Lease) -> Result<Files> {
        let plain =
            decompress(input).map_err(|e| ImageError::bad(format!("invalid archive: {e}")))?;
        let mut ar = tar::Archive::new(plain);
        let mut files = Files::default();
        let entries = ar
            .entries()
            .map_err(|e| ImageError::bad(format!("invalid archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| ImageError::bad(format!("invalid archive: {e}")))?;
            let path = norm(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.size();
                    let mut w = self.content.writer(None)?;
                    let mut keep = (size <= SMALL).then(Vec::new);
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = entry
                            .read(&mut buf)
                            .map_err(|e| ImageError::bad(format!("invalid archive: {e}")))?;
                        if n == 0 {
                            break;
                        }
                        w.write_all(&buf[..n])
                            .map_err(|e| ImageError::io("spool archive", e))?;
                        if let Some(k) = keep.as_mut() {
                            k.extend_from_slice(&buf[..n]);
                        }
                    }
                    let d = w.commit_leased(Some(lease))?;
                    if let Some(k) = keep {
                        files.small.insert(path.clone(), k);
                    }
                    files.blobs.insert(path, (d, size));
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target =
                        String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                            .into_owned();
                    let resolved = if entry.header().entry_type() == tar::EntryType::Symlink {
                        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        norm(&format!("{dir}/{target}"))
                    } else {
                        norm(&target)
                    };
                    files.links.insert(path, resolved);
                }
                _ => {}
            }
        }
        Ok(files)
    }

    /// `POST /images/load`: load every image of a `docker save` archive. Blocking.
    pub fn load(
        &self,
        input: impl Read + Send,
        progress: &ProgressSink,
        quiet: bool,
    ) -> Result<Vec<String>> {
        let lease = self.leases.lease();
        let result = self.load_inner(input, progress, quiet, &lease);
        drop(lease);
        if result.is_err() {
            let _ = self.gc();
        }
        result
    }

    fn load_inner(
        &self,
        input: impl Read + Send,
        progress: &ProgressSink,
        quiet: bool,
        lease: &Lease,
    ) -> Result<Vec<String>> {
        let files = self.spool(input, lease)?;
        let found = if files.small.contains_key("manifest.json") {
            docker_layout(&files)?
        } else if files.small.contains_key("index.json") {
            oci_layout(&files)?
        } else {
            return Err(ImageError::bad(
                "invalid archive: no manifest.json or index.json (not a docker save archive)",
            ));
        };
        if found.is_empty() {
            return Err(ImageError::bad("invalid archive: no images"));
        }
        let sink = if quiet {
            ProgressSink::none()
        } else {
            progress.clone()
        };
        let mut records = Vec::new();
        for f in found {
            let id = self.content.put_leased(&f.config, Some(lease))?;
            let cfg: ImageConfig = serde_json::from_slice(&f.config)
                .map_err(|e| ImageError::bad(format!("image config {id}: {e}")))?;
            let diffs: Vec<Digest> = cfg
                .rootfs
                .diff_ids
                .iter()
                .map(|d| Digest::parse(d))
                .collect::<Result<_>>()?;
            if diffs.len() != f.layers.len() {
                return Err(ImageError::bad(format!(
                    "image {}: config lists {} layers, archive has {}",
                    id.short(),
                    diffs.len(),
                    f.layers.len()
                )));
            }
            let chains = chain_ids(&diffs);
            let mut descs = Vec::new();
            let mut size = 0;
            for (i, (blob, blob_size)) in f.layers.iter().enumerate() {
                lease.add(chains[i].as_str());
                let rec = match self.layers.get(chains[i].as_str())? {
                    Some(r) => r,
                    None => {
                        let file = self.content.open_blob(blob)?;
                        let r = ProgressReader::new(
                            file,
                            sink.clone(),
                            chains[i].short(),
                            "Loading layer",
                            *blob_size,
                        );
                        let p = self.layers.unpack(
                            &chains[i],
                            i.checked_sub(1).map(|j| &chains[j]),
                            &diffs[i],
                            r,
                        )?;
                        self.layers.commit(p)?
                    }
                };
                size += rec.size;
                descs.push(LayerDesc {
                    digest: blob.to_string(),
                    media_type: super::layer_media_type(&self.content.path(blob)),
                    size: *blob_size as i64,
                    diff_id: diffs[i].to_string(),
                });
            }
            let rec = ImageRecord {
                id: id.to_string(),
                layers: descs,
                manifest: f.manifest.map(String::from),
                parent: String::new(),
                size,
                added: now(),
                last_tag_time: String::new(),
            };
            records.push((rec, f.tags));
        }
        let moved = self.register(&records)?;
        let mut lines = Vec::new();
        for (r, old) in moved {
            let msg = format!(
                "The image {} already exists, renaming the old one with ID {old} to empty string\n",
                r.familiar()
            );
            progress.stream(&msg);
            lines.push(msg);
        }
        for (rec, tags) in &records {
            if tags.is_empty() {
                let msg = format!("Loaded image ID: {}\n", rec.id);
                progress.stream(&msg);
                lines.push(msg);
                self.emit("load", &rec.id, "");
            }
            for t in tags {
                let msg = format!("Loaded image: {}\n", t.familiar());
                progress.stream(&msg);
                lines.push(msg);
                self.emit("load", &rec.id, &t.familiar());
            }
        }
        Ok(lines)
    }
}

fn docker_layout(files: &Files) -> Result<Vec<Found>> {
    let entries: Vec<ArchiveManifestEntry> = serde_json::from_slice(files.bytes("manifest.json")?)
        .map_err(|e| ImageError::bad(format!("invalid manifest.json: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let config = files.bytes(&e.config)?.to_vec();
        let layers = e
            .layers
            .iter()
            .map(|l| files.blob(l))
            .collect::<Result<Vec<_>>>()?;
        let tags = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t).map(Reference::with_default_tag))
            .collect::<Result<Vec<_>>>()?;
        out.push(Found {
            config,
            layers,
            manifest: None,
            tags,
        });
    }
    Ok(out)
}

fn oci_layout(files: &Files) -> Result<Vec<Found>> {
    let index: Index = serde_json::from_slice(files.bytes("index.json")?)
        .map_err(|e| ImageError::bad(format!("invalid index.json: {e}")))?;
    let mut out = Vec::new();
    for desc in &index.manifests {
        let Some(mdesc) = pick_manifest(files, desc)? else {
            continue;
        };
        let raw = files.by_digest(&mdesc.digest)?;
        let m: Manifest = serde_json::from_slice(raw)
            .map_err(|e| ImageError::bad(format!("invalid manifest {}: {e}", mdesc.digest)))?;
        let config = files.by_digest(&m.config.digest)?.to_vec();
        if Digest::of(&config).as_str() != m.config.digest {
            return Err(ImageError::bad(format!(
                "config {}: digest mismatch",
                m.config.digest
            )));
        }
        let mut layers = Vec::new();
        for l in &m.layers {
            let d = Digest::parse(&l.digest)?;
            let (got, size) = files.blob(&format!("blobs/sha256/{}", d.hex()))?;
            if got != d {
                return Err(ImageError::bad(format!(
                    "blob {d}: digest mismatch: got {got}"
                )));
            }
            layers.push((got, size));
        }
        let tags = ref_names(desc)
            .into_iter()
            .filter_map(|n| Reference::parse(&n).ok().map(Reference::with_default_tag))
            .collect();
        out.push(Found {
            config,
            layers,
            manifest: Some(Digest::parse(&mdesc.digest)?),
            tags,
        });
    }
    Ok(out)
}

/// Follow an index entry down to a single-platform manifest for this host.
fn pick_manifest(files: &Files, desc: &Descriptor) -> Result<Option<Descriptor>> {
    let mut cur = desc.clone();
    for _ in 0..4 {
        if !media::is_index(&cur.media_type) {
            return Ok(Some(cur));
        }
        let idx: Index = serde_json::from_slice(files.by_digest(&cur.digest)?)
            .map_err(|e| ImageError::bad(format!("invalid index {}: {e}", cur.digest)))?;
        let host = Platform::host();
        match idx
            .manifests
            .iter()
            .find(|m| m.platform.as_ref().is_none_or(|p| host.matches(p)))
        {
            Some(m) => cur = m.clone(),
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// Image names of an OCI index entry: containerd's full name, or a ref name that is a full reference.
fn ref_names(desc: &Descriptor) -> Vec<String> {
    if let Some(n) = desc.annotations.get("io.containerd.image.name") {
        return vec![n.clone()];
    }
    match desc.annotations.get("org.opencontainers.image.ref.name") {
        // A bare tag names no repository: the image loads untagged.
        Some(n) if n.contains('/') || n.contains(':') => vec![n.clone()],
        _ => Vec::new(),
    }
}
