//! The image subsystem inside the engine: construction from the daemon
//! settings, and `ImageBackend` for the server. Everything blocking (layer
//! unpacking, tar streams, deletions) runs on the blocking pool.

pub mod convert;
pub mod io;

use std::sync::Arc;

use async_trait::async_trait;
use berth_api::backend::container::ByteStream;
use berth_api::backend::image::{
    ImageBackend, ImageImportQuery, ImageListQuery, ImagePullQuery, JsonStream,
};
use berth_api::types::image::{
    AuthConfig, AuthResponse, DistributionInspect, HistoryResponseItem, ImageDeleteResponseItem,
    ImageInspect, ImagePruneResponse, ImageSummary, OciDescriptor, OciPlatform,
};
use berth_api::types::jsonmessage::JsonMessage;
use berth_core::events::EventBus;
use berth_core::filters::Filters;
use berth_core::store::Store;
use berth_core::{Error, Result};
use berth_image::registry::Credentials;
use berth_image::registry::RegistryOptions;
use berth_image::{Deleted, ImageOptions, ImageService, ImportOptions, ProgressSink};

use crate::{Engine, EngineConfig};

/// Open `<data-root>/image`. `BERTH_SNAPSHOTTER` (`overlayfs`|`naive`) overrides detection.
pub fn open(
    config: &EngineConfig,
    store: Arc<Store>,
    events: Arc<EventBus>,
) -> Result<Arc<ImageService>> {
    let opts = ImageOptions {
        snapshotter: std::env::var("BERTH_SNAPSHOTTER")
            .ok()
            .filter(|s| !s.is_empty()),
        registry: RegistryOptions {
            mirrors: config.registry_mirrors.clone(),
            insecure: config.insecure_registries.clone(),
        },
    };
    Ok(Arc::new(ImageService::open(
        config.data_root.join("image"),
        store,
        events,
        opts,
    )?))
}

/// Run blocking image work off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("image task failed: {e}")))?
}

fn old_api(v: Option<(u32, u32)>) -> bool {
    v.is_some_and(|(_, minor)| minor < 44)
}

fn delete_items(lines: Vec<Deleted>) -> Vec<ImageDeleteResponseItem> {
    lines
        .into_iter()
        .map(|d| match d {
            Deleted::Untagged(t) => ImageDeleteResponseItem {
                untagged: Some(t),
                deleted: None,
            },
            Deleted::Deleted(id) => ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(id),
            },
        })
        .collect()
}

#[async_trait]
impl ImageBackend for Engine {
    async fn image_list(&self, q: ImageListQuery) -> Result<Vec<ImageSummary>> {
        let svc = self.images.clone();
        blocking(move || {
            let images = convert::filter(&svc, svc.list()?, q.all, &q.filters)?;
            let mut shared: std::collections::HashMap<String, usize> =
                std::collections::HashMap::new();
            if q.shared_size {
                for img in &images {
                    for c in layer_chains(img) {
                        *shared.entry(c).or_default() += 1;
                    }
                }
            }
            let sizes = if q.shared_size {
                svc.layer_sizes()?
            } else {
                Default::default()
            };
            let mut out: Vec<ImageSummary> = images
                .iter()
                .map(|img| {
                    let s = if q.shared_size {
                        layer_chains(img)
                            .iter()
                            .filter(|c| shared.get(*c).copied().unwrap_or(0) > 1)
                            .map(|c| sizes.get(c).copied().unwrap_or(0))
                            .sum()
                    } else {
                        -1
                    };
                    convert::summary(img, s, -1, old_api(q.api_version))
                })
                .collect();
            out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
            Ok(out)
        })
        .await
    }

    async fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let img = self.images.resolve(name)?;
        Ok(convert::inspect(&img, self.images.snapshotter(), false))
    }

    async fn image_history(&self, name: &str) -> Result<Vec<HistoryResponseItem>> {
        let img = self.images.resolve(name)?;
        convert::history(&self.images, &img)
    }

    async fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        if repo.is_empty() {
            return Err(Error::invalid(
                "repository name must have at least one component",
            ));
        }
        let target = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        self.images.tag(name, &target)?;
        Ok(())
    }

    async fn image_delete(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let svc = self.images.clone();
        let name = name.to_string();
        let lines = blocking(move || Ok(svc.delete(&name, force, noprune)?)).await?;
        Ok(delete_items(lines))
    }

    async fn image_prune(&self, filters: Filters) -> Result<ImagePruneResponse> {
        let svc = self.images.clone();
        let p = blocking(move || Ok(svc.prune(&filters)?)).await?;
        let items = delete_items(p.deleted);
        Ok(ImagePruneResponse {
            images_deleted: (!items.is_empty()).then_some(items),
            space_reclaimed: p.space_reclaimed,
        })
    }

    async fn image_load(&self, body: ByteStream, quiet: bool) -> Result<JsonStream> {
        let svc = self.images.clone();
        Ok(io::blocking_json(move |sink| {
            svc.load(io::BodyReader::new(body), &sink, quiet)?;
            Ok(Vec::new())
        }))
    }

    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream> {
        for n in &names {
            self.images.resolve_id(n)?;
        }
        let svc = self.images.clone();
        let (mut w, stream) = io::ChannelWriter::new();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = svc.save(&names, &mut w) {
                tracing::warn!("image save failed: {e}");
                w.fail(&e.into());
            }
        });
        Ok(stream)
    }

    async fn image_import(&self, body: ByteStream, q: ImageImportQuery) -> Result<JsonStream> {
        if q.from_src != "-" {
            return Err(Error::not_implemented(
                "importing from a URL is not supported by berth; pipe the file instead",
            ));
        }
        let tag = match (q.repo.as_str(), q.tag.as_str()) {
            ("", _) => None,
            (r, "") => Some(r.to_string()),
            (r, t) => Some(format!("{r}:{t}")),
        };
        if let Some(t) = &tag {
            berth_image::Reference::parse(t)?;
        }
        let opts = ImportOptions {
            tag,
            message: q.message,
            changes: q.changes,
            platform: (!q.platform.is_empty()).then_some(q.platform),
            source: q.from_src,
        };
        let svc = self.images.clone();
        Ok(io::blocking_json(move |_sink| {
            let id = svc.import(io::BodyReader::new(body), &opts)?;
            Ok(vec![JsonMessage::status(id, None)])
        }))
    }

    async fn image_pull(&self, q: ImagePullQuery, auth: Option<AuthConfig>) -> Result<JsonStream> {
        let name = match q.tag.as_str() {
            "" => q.from_image.clone(),
            t if t.starts_with("sha256:") => format!("{}@{t}", q.from_image),
            t => format!("{}:{t}", q.from_image),
        };
        berth_image::Reference::parse(&name)?;
        let svc = self.images.clone();
        let creds = credentials(auth);
        Ok(async_json(move |sink| async move {
            let platform = (!q.platform.is_empty()).then_some(q.platform);
            svc.pull(&name, platform.as_deref(), creds, &sink).await?;
            Ok(Vec::new())
        }))
    }

    async fn image_push(
        &self,
        name: &str,
        tag: &str,
        auth: Option<AuthConfig>,
    ) -> Result<JsonStream> {
        berth_image::Reference::parse(name)?;
        let (svc, name, tag, creds) = (
            self.images.clone(),
            name.to_string(),
            tag.to_string(),
            credentials(auth),
        );
        Ok(async_json(move |sink| async move {
            svc.push(&name, &tag, creds, &sink).await?;
            Ok(Vec::new())
        }))
    }

    async fn distribution_inspect(
        &self,
        name: &str,
        auth: Option<AuthConfig>,
    ) -> Result<DistributionInspect> {
        let info = self.images.distribution(name, credentials(auth)).await?;
        Ok(DistributionInspect {
            descriptor: OciDescriptor {
                media_type: info.media_type,
                digest: info.digest,
                size: info.size,
            },
            platforms: info
                .platforms
                .into_iter()
                .map(|p| OciPlatform {
                    architecture: p.architecture,
                    os: p.os,
                    os_version: p.os_version,
                    variant: p.variant,
                })
                .collect(),
        })
    }

    async fn auth(&self, auth: AuthConfig) -> Result<AuthResponse> {
        let server = if auth.serveraddress.is_empty() {
            "https://index.docker.io/v1/".to_string()
        } else {
            auth.serveraddress.clone()
        };
        let creds = credentials(Some(auth)).unwrap_or_default();
        let token = self.images.login(&server, creds).await?;
        Ok(AuthResponse {
            status: "Login Succeeded".into(),
            identity_token: token,
        })
    }
}

fn credentials(a: Option<AuthConfig>) -> Option<Credentials> {
    a.map(|a| {
        Credentials::from_docker(
            &a.username,
            &a.password,
            &a.auth,
            &a.identitytoken,
            &a.registrytoken,
        )
    })
    .filter(|c| {
        !c.username.is_empty() || !c.identity_token.is_empty() || !c.registry_token.is_empty()
    })
}

/// Run an async image operation with progress, as a JSON stream.
fn async_json<F, Fut>(f: F) -> JsonStream
where
    F: FnOnce(ProgressSink) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<JsonMessage>>> + Send + 'static,
{
    let (sink, rx) = ProgressSink::channel();
    let handle = tokio::spawn(f(sink));
    io::json_stream(rx, async move {
        handle
            .await
            .map_err(|e| Error::internal(format!("image task failed: {e}")))?
    })
}

fn layer_chains(img: &berth_image::Image) -> Vec<String> {
    let diffs: Vec<berth_image::Digest> = img
        .diff_ids
        .iter()
        .filter_map(|d| berth_image::Digest::parse(d).ok())
        .collect();
    berth_image::digest::chain_ids(&diffs)
        .into_iter()
        .map(String::from)
        .collect()
}
