//! `docker import`: a root filesystem tarball becomes a one-layer image.

use std::io::{Read, Write};

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::records::{ImageRecord, LayerDesc};
use crate::reference::Reference;
use crate::service::{ImageService, now};
use crate::spec::{ContainerConfig, History, ImageConfig, Platform, RootFs, media};
use crate::unpack::decompress::decompress;

/// What `docker import` was asked.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo[:tag]` to set, if any.
    pub tag: Option<String>,
    /// `--message` (default `Imported from <src>`).
    pub message: String,
    /// `--change` instructions.
    pub changes: Vec<String>,
    /// `--platform` (`os/arch[/variant]`).
    pub platform: Option<String>,
    /// Source named in the default message (`-` for a request body).
    pub source: String,
}

impl ImageService {
    /// Import a rootfs tarball (plain, gzip or zstd). Returns the image id. Blocking.
    pub fn import(&self, input: impl Read + Send, opts: &ImportOptions) -> Result<String> {
        let tag = match &opts.tag {
            Some(t) => Some(Reference::parse(t)?.with_default_tag()),
            None => None,
        };
        let platform = match &opts.platform {
            Some(p) if !p.is_empty() => Platform::parse(p)
                .ok_or_else(|| ImageError::Invalid(format!("invalid platform {p:?}")))?,
            _ => Platform::host(),
        };
        let mut config = ContainerConfig::default();
        crate::changes::apply(&mut config, &opts.changes)?;
        let lease = self.leases.lease();
        // Store the uncompressed tar: its digest is the diff id.
        let mut plain = decompress(input).map_err(|e| ImageError::bad(format!("import: {e}")))?;
        let mut w = self.content.writer(None)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = plain
                .read(&mut buf)
                .map_err(|e| ImageError::bad(format!("import: {e}")))?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n])
                .map_err(|e| ImageError::io("import", e))?;
        }
        let size = w.count();
        let diff = w.commit_leased(Some(&lease))?;
        let rec = match self.layers.get(diff.as_str())? {
            Some(r) => r,
            None => {
                let f = self.content.open_blob(&diff)?;
                let p = self.layers.unpack(&diff, None, &diff, f)?;
                self.layers.commit(p)?
            }
        };
        let created = now();
        let message = if opts.message.is_empty() {
            format!("Imported from {}", opts.source)
        } else {
            opts.message.clone()
        };
        let cfg = ImageConfig {
            architecture: platform.architecture,
            os: platform.os,
            variant: platform.variant,
            created: Some(created.clone()),
            comment: message.clone(),
            config: Some(config),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff.to_string()],
            },
            history: vec![History {
                created: Some(created.clone()),
                comment: message,
                ..Default::default()
            }],
            ..Default::default()
        };
        let raw = serde_json::to_vec(&cfg).map_err(|e| ImageError::bad(e.to_string()))?;
        let id: Digest = self.content.put_leased(&raw, Some(&lease))?;
        let record = ImageRecord {
            id: id.to_string(),
            layers: vec![LayerDesc {
                digest: diff.to_string(),
                media_type: media::DOCKER_LAYER.into(),
                size: size as i64,
                diff_id: diff.to_string(),
            }],
            manifest: None,
            parent: String::new(),
            size: rec.size,
            added: created,
            last_tag_time: String::new(),
        };
        self.register(&[(record, tag.iter().cloned().collect())])?;
        self.emit("import", id.as_str(), "");
        if let Some(t) = &tag {
            self.emit("tag", id.as_str(), &t.familiar());
        }
        Ok(id.to_string())
    }
}
