//! `GET /distribution/{name}/json` and `POST /auth`: registry questions that
//! need no local image.

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::reference::Reference;
use crate::registry::Credentials;
use crate::service::ImageService;
use crate::spec::{ImageConfig, Index, Manifest, Platform, media};

/// What a name resolves to in its registry.
#[derive(Debug, Clone)]
pub struct RemoteInfo {
    /// Media type of the manifest or index.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: i64,
    /// Platforms offered.
    pub platforms: Vec<Platform>,
}

impl ImageService {
    /// Resolve `name` in its registry without pulling. Docker Hub names ask the
    /// configured mirrors first, as a pull does (and as Docker does).
    pub async fn distribution(&self, name: &str, creds: Option<Credentials>) -> Result<RemoteInfo> {
        let r = Reference::parse(name)?.with_default_tag();
        let mut last = None;
        for ep in self.registry.pull_endpoints(&r) {
            if !ep.mirror {
                return self.distribution_from(ep, &r, creds).await;
            }
            match self.distribution_from(ep, &r, None).await {
                Ok(info) => return Ok(info),
                Err(e) => {
                    tracing::info!(image = %r, "mirror failed, trying the next endpoint: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ImageError::Registry("no registry endpoint".into())))
    }

    async fn distribution_from(
        &self,
        ep: crate::registry::Endpoint,
        r: &Reference,
        creds: Option<Credentials>,
    ) -> Result<RemoteInfo> {
        let sess = self.registry.session(ep, &r.path, creds, false)?;
        let (raw, mt) = sess
            .manifest(&r.object(), &format!("manifest for {}", r.familiar()))
            .await?;
        let platforms = if media::is_index(&mt) {
            let idx: Index = serde_json::from_slice(&raw)
                .map_err(|e| ImageError::bad(format!("bad index: {e}")))?;
            idx.manifests
                .into_iter()
                .filter_map(|m| m.platform)
                .collect()
        } else {
            let m: Manifest = serde_json::from_slice(&raw)
                .map_err(|e| ImageError::bad(format!("bad manifest: {e}")))?;
            let (resp, _) = sess.blob(&m.config.digest, 0).await?;
            let cfg_raw = crate::registry::client::read_small(resp).await?;
            let cfg: ImageConfig = serde_json::from_slice(&cfg_raw)
                .map_err(|e| ImageError::bad(format!("bad config: {e}")))?;
            vec![Platform {
                architecture: cfg.architecture,
                os: cfg.os,
                variant: cfg.variant,
                os_version: cfg.os_version,
            }]
        };
        Ok(RemoteInfo {
            media_type: mt,
            digest: Digest::of(&raw).to_string(),
            size: raw.len() as i64,
            platforms,
        })
    }

    /// Check credentials against `server` (`POST /auth`).
    pub async fn login(&self, server: &str, creds: Credentials) -> Result<String> {
        let domain = crate::registry::normalize_server(server);
        let base = self.registry.origin(&domain).base;
        self.registry
            .login(server, creds)
            .await
            .map_err(|e| match e {
                ImageError::Unauthorized(_) => ImageError::Unauthorized(format!(
                    "login attempt to {base}/v2/ failed with status: 401 Unauthorized"
                )),
                e => e,
            })
    }
}
