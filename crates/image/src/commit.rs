//! New images from a container layer (`docker commit`) or from metadata alone
//! (builder steps such as `ENV` that make no layer).

use std::io::Write;

use crate::digest::{Digest, chain_ids};
use crate::error::{ImageError, IoContext, Result};
use crate::records::{ImageRecord, LayerDesc};
use crate::reference::Reference;
use crate::service::{ImageService, now};
use crate::spec::{ContainerConfig, History, ImageConfig, Platform, media};

/// What the new image says about itself.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The new image's container defaults (complete, not a delta).
    pub config: ContainerConfig,
    /// `--author`.
    pub author: String,
    /// `--message` (also the history comment).
    pub comment: String,
    /// History `created_by` (the builder's instruction).
    pub created_by: String,
    /// Record the step in history without adding a layer.
    pub empty_layer: bool,
    /// References to set (`repo:tag`).
    pub tags: Vec<String>,
    /// `docker commit`: the source container's id and its `Config`, recorded
    /// as the legacy `container`/`container_config` fields (image inspect shows
    /// them to API < 1.45 clients, as Docker does).
    pub container: Option<(String, serde_json::Value)>,
}

impl ImageService {
    /// Make a new image: `parent`'s layers, plus the diff of read-write layer
    /// `key` (unless `key` is `None` or `opts.empty_layer`), with `opts.config`.
    /// Returns the new image id. Blocking.
    pub fn commit(
        &self,
        key: Option<&str>,
        parent: Option<&str>,
        opts: CommitOptions,
    ) -> Result<String> {
        let tags: Vec<Reference> = opts
            .tags
            .iter()
            .map(|t| Reference::parse(t).map(Reference::with_default_tag))
            .collect::<Result<_>>()?;
        let lease = self.leases.lease();
        let (base_rec, base_cfg) = match parent {
            Some(p) => {
                let id = self.resolve_id(p)?;
                let rec = self
                    .record(&id)?
                    .ok_or_else(|| ImageError::NoSuchImage(p.to_string()))?;
                (Some(rec), (*self.config(&id)?).clone())
            }
            None => {
                let host = Platform::host();
                (
                    None,
                    ImageConfig {
                        architecture: host.architecture,
                        os: host.os,
                        variant: host.variant,
                        ..Default::default()
                    },
                )
            }
        };
        let mut layers = base_rec
            .as_ref()
            .map(|r| r.layers.clone())
            .unwrap_or_default();
        let mut size = base_rec.as_ref().map(|r| r.size).unwrap_or(0);
        let add_layer = key.is_some() && !opts.empty_layer;
        if let (Some(key), true) = (key, add_layer) {
            let mut w = self.content.writer(None)?;
            self.diff_tar(key, &mut w)?;
            w.flush().ctx(|| "flush layer".into())?;
            let tar_size = w.count();
            let blob = w.commit_leased(Some(&lease))?;
            let diffs: Vec<Digest> = base_cfg
                .rootfs
                .diff_ids
                .iter()
                .map(|d| Digest::parse(d))
                .collect::<Result<_>>()?;
            let parent_chain = chain_ids(&diffs).pop();
            let mut all = diffs.clone();
            all.push(blob.clone());
            let chain = chain_ids(&all)
                .pop()
                .ok_or_else(|| ImageError::bad("empty layer chain"))?;
            lease.add(chain.as_str());
            let rec = match self.layers.get(chain.as_str())? {
                Some(r) => r,
                None => {
                    let f = self.content.open_blob(&blob)?;
                    let p = self
                        .layers
                        .unpack(&chain, parent_chain.as_ref(), &blob, f)?;
                    self.layers.commit(p)?
                }
            };
            size += rec.size;
            layers.push(LayerDesc {
                digest: blob.to_string(),
                media_type: media::DOCKER_LAYER.to_string(),
                size: tar_size as i64,
                diff_id: blob.to_string(),
            });
        }
        let created = now();
        let mut cfg = base_cfg;
        cfg.config = Some(opts.config);
        cfg.created = Some(created.clone());
        cfg.author = opts.author.clone();
        cfg.comment = opts.comment.clone();
        cfg.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
        cfg.extra.remove("container");
        cfg.extra.remove("container_config");
        if let Some((id, config)) = opts.container {
            cfg.extra
                .insert("container".into(), serde_json::Value::String(id));
            cfg.extra.insert("container_config".into(), config);
        }
        cfg.history.push(History {
            created: Some(created.clone()),
            created_by: opts.created_by,
            author: opts.author,
            comment: opts.comment,
            empty_layer: !add_layer,
        });
        let raw =
            serde_json::to_vec(&cfg).map_err(|e| ImageError::bad(format!("encode config: {e}")))?;
        let id = self.content.put_leased(&raw, Some(&lease))?;
        let rec = ImageRecord {
            id: id.to_string(),
            layers,
            manifest: None,
            parent: base_rec.map(|r| r.id).unwrap_or_default(),
            size,
            added: created,
            last_tag_time: String::new(),
        };
        self.register(&[(rec, tags.clone())])?;
        for t in &tags {
            self.emit("tag", id.as_str(), &t.familiar());
        }
        Ok(id.to_string())
    }
}
