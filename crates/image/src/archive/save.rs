//! `docker save`: images as one tar in Docker 25's layout, which is both an OCI
//! image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) and a classic
//! docker archive (`manifest.json` pointing into `blobs/`). Layers are written
//! uncompressed, so their digests are the diff ids.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

use crate::digest::{Digest, chain_ids};
use crate::error::{ImageError, Result};
use crate::records::{LAYERS, LayerRecord, REFS, RefRecord};
use crate::reference::Reference;
use crate::service::ImageService;
use crate::spec::{ArchiveManifestEntry, Descriptor, Index, Manifest, media};
use crate::unpack::decompress::decompress;

fn io_err(e: io::Error) -> ImageError {
    ImageError::io("write archive", e)
}

fn add_file(
    b: &mut tar::Builder<&mut dyn Write>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o444);
    h.set_mtime(0);
    b.append_data(&mut h, path, data).map_err(io_err)
}

impl ImageService {
    /// Which images and tags `names` select (Docker's rules: `repo` = all its tags,
    /// `repo:tag` = that tag, an id = the image without tags).
    fn select(&self, names: &[String]) -> Result<BTreeMap<String, Vec<Reference>>> {
        let mut out: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
        let refs = self.store.list::<RefRecord>(REFS)?;
        for name in names {
            let id = self.resolve_id(name)?;
            let by_ref = Reference::parse(name)
                .ok()
                .filter(|_| !id[7..].starts_with(name.as_str()));
            match by_ref {
                None => {
                    out.entry(id).or_default();
                }
                Some(r) if r.tag.is_some() || r.digest.is_some() => {
                    let e = out.entry(id).or_default();
                    if r.digest.is_none() && !e.contains(&r) {
                        e.push(r);
                    }
                }
                Some(r) => {
                    // A bare repository: every tag of it.
                    for (k, rr) in &refs {
                        let Ok(t) = Reference::parse(k) else { continue };
                        if t.name() == r.name() && t.digest.is_none() {
                            let e = out.entry(rr.image.clone()).or_default();
                            if !e.contains(&t) {
                                e.push(t);
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Write the archive of `names` to `out`. Blocking.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        let selected = self.select(names)?;
        let mut b = tar::Builder::new(out);
        let mut written: HashSet<String> = HashSet::new();
        let mut docker_manifest = Vec::new();
        let mut index = Index {
            schema_version: 2,
            media_type: media::OCI_INDEX.into(),
            ..Default::default()
        };
        for (id, tags) in &selected {
            let rec = self
                .record(id)?
                .ok_or_else(|| ImageError::NoSuchImage(id.clone()))?;
            let config = self.content.read(&Digest::parse(id)?)?;
            let cfg_d = Digest::parse(id)?;
            if written.insert(cfg_d.to_string()) {
                add_file(
                    &mut b,
                    &format!("blobs/sha256/{}", cfg_d.hex()),
                    config.len() as u64,
                    &config[..],
                )?;
            }
            let diffs: Vec<Digest> = rec
                .layers
                .iter()
                .map(|l| Digest::parse(&l.diff_id))
                .collect::<Result<_>>()?;
            let chains = chain_ids(&diffs);
            let mut layer_descs = Vec::new();
            for (i, l) in rec.layers.iter().enumerate() {
                let lrec: LayerRecord =
                    self.store.get(LAYERS, chains[i].as_str())?.ok_or_else(|| {
                        ImageError::bad(format!("layer {} of {id} is missing", chains[i]))
                    })?;
                let diff = &diffs[i];
                if written.insert(diff.to_string()) {
                    let blob = self.content.open_blob(&Digest::parse(&l.digest)?)?;
                    let plain = decompress(blob)
                        .map_err(|e| ImageError::bad(format!("layer {}: {e}", l.digest)))?;
                    let size = lrec.tar_size as u64;
                    // Exactly `size` bytes; a short blob is an error, not a torn archive.
                    let mut counted = plain.take(size);
                    let mut buf = Vec::new();
                    let data: Box<dyn Read> = if size <= 1 << 20 {
                        counted.read_to_end(&mut buf).map_err(io_err)?;
                        if buf.len() as u64 != size {
                            return Err(ImageError::bad(format!(
                                "layer {}: size mismatch",
                                l.digest
                            )));
                        }
                        Box::new(&buf[..])
                    } else {
                        Box::new(counted)
                    };
                    add_file(&mut b, &format!("blobs/sha256/{}", diff.hex()), size, data)?;
                }
                layer_descs.push(Descriptor {
                    media_type: media::OCI_LAYER.into(),
                    digest: diff.to_string(),
                    size: lrec.tar_size,
                    ..Default::default()
                });
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: media::OCI_MANIFEST.into(),
                config: Descriptor {
                    media_type: media::OCI_CONFIG.into(),
                    digest: id.clone(),
                    size: config.len() as i64,
                    ..Default::default()
                },
                layers: layer_descs,
                annotations: Default::default(),
            };
            let mraw = serde_json::to_vec(&manifest).map_err(|e| ImageError::bad(e.to_string()))?;
            let md = Digest::of(&mraw);
            if written.insert(md.to_string()) {
                add_file(
                    &mut b,
                    &format!("blobs/sha256/{}", md.hex()),
                    mraw.len() as u64,
                    &mraw[..],
                )?;
            }
            let mdesc = Descriptor {
                media_type: media::OCI_MANIFEST.into(),
                digest: md.to_string(),
                size: mraw.len() as i64,
                ..Default::default()
            };
            if tags.is_empty() {
                index.manifests.push(mdesc.clone());
            }
            for t in tags {
                let mut d = mdesc.clone();
                d.annotations
                    .insert("io.containerd.image.name".into(), t.to_string());
                d.annotations.insert(
                    "org.opencontainers.image.ref.name".into(),
                    t.tag.clone().unwrap_or_default(),
                );
                index.manifests.push(d);
            }
            docker_manifest.push(ArchiveManifestEntry {
                config: format!("blobs/sha256/{}", cfg_d.hex()),
                repo_tags: Some(tags.iter().map(Reference::familiar).collect()),
                layers: diffs
                    .iter()
                    .map(|d| format!("blobs/sha256/{}", d.hex()))
                    .collect(),
            });
            self.emit(
                "save",
                id,
                tags.first()
                    .map(Reference::familiar)
                    .as_deref()
                    .unwrap_or(""),
            );
        }
        let idx = serde_json::to_vec(&index).map_err(|e| ImageError::bad(e.to_string()))?;
        add_file(&mut b, "index.json", idx.len() as u64, &idx[..])?;
        let dm =
            serde_json::to_vec(&docker_manifest).map_err(|e| ImageError::bad(e.to_string()))?;
        add_file(&mut b, "manifest.json", dm.len() as u64, &dm[..])?;
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        add_file(&mut b, "oci-layout", layout.len() as u64, &layout[..])?;
        b.finish().map_err(io_err)?;
        Ok(())
    }
}
