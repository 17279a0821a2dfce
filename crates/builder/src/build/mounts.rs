//! `RUN --mount=`: `type=cache` (a directory kept under the builder's root
//! across builds, per `id` or target, emptied by `/build/prune`),
//! `type=tmpfs`, and `type=bind` from the context or from a stage or image
//! (read-only unless `rw`; writes are discarded). Secrets and SSH agents need
//! BuildKit's session and are refused.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Builder;
use super::layer::{TempLayer, blocking};
use super::stage::{StageRun, State};
use crate::error::{BuildError, Result};
use crate::fsops::{CopyOpts, Item, copy_items};
use crate::runner::RunMount;
use crate::tree::{DirTree, Tree, resolve};

/// Something to undo after the RUN.
pub(crate) enum Release {
    Layer(TempLayer),
    Dir(PathBuf),
}

impl Release {
    pub(crate) async fn release(self) {
        let _ = blocking(move || {
            match self {
                Release::Layer(l) => {
                    l.close(None)?;
                }
                Release::Dir(d) => {
                    let _ = std::fs::remove_dir_all(d);
                }
            }
            Ok(())
        })
        .await;
    }
}

fn fields(spec: &str) -> Vec<(String, Option<String>)> {
    spec.split(',')
        .filter(|f| !f.is_empty())
        .map(|f| match f.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (f.trim().to_ascii_lowercase(), None),
        })
        .collect()
}

fn get<'a>(f: &'a [(String, Option<String>)], names: &[&str]) -> Option<&'a str> {
    f.iter()
        .rev()
        .find(|(k, _)| names.contains(&k.as_str()))
        .map(|(_, v)| v.as_deref().unwrap_or("true"))
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1" | ""))
}

/// Resolve one `--mount` spec.
pub(crate) async fn resolve_mount(
    sr: &StageRun,
    st: &State,
    spec: &str,
) -> Result<(RunMount, Option<Release>)> {
    let f = fields(&sr.expand(st, spec)?);
    let kind = get(&f, &["type"]).unwrap_or("bind").to_string();
    let target = get(&f, &["target", "dst", "destination"])
        .ok_or_else(|| BuildError::Invalid(format!("mount {spec:?}: target is required")))?
        .to_string();
    let target = if target.starts_with('/') {
        target
    } else {
        super::stage::normalize_workdir(&st.config.working_dir, &target)
    };
    match kind.as_str() {
        "tmpfs" => {
            let size = get(&f, &["size"]).and_then(|s| s.parse().ok()).unwrap_or(0);
            Ok((RunMount::Tmpfs { target, size }, None))
        }
        "cache" => {
            let id = get(&f, &["id"]).unwrap_or(&target).to_string();
            let dir =
                sr.b.root
                    .join("cache")
                    .join(hex::encode(&Sha256::digest(id.as_bytes())[..16]));
            if !dir.exists() {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| BuildError::io(format!("create {}", dir.display()), e))?;
                let mode = get(&f, &["mode"])
                    .and_then(|m| u32::from_str_radix(m, 8).ok())
                    .unwrap_or(0o755);
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
                let uid = get(&f, &["uid"]).and_then(|v| v.parse().ok()).unwrap_or(0);
                let gid = get(&f, &["gid"]).and_then(|v| v.parse().ok()).unwrap_or(0);
                let _ = std::os::unix::fs::chown(&dir, Some(uid), Some(gid));
            }
            Ok((
                RunMount::Bind {
                    source: dir,
                    target,
                    read_only: false,
                },
                None,
            ))
        }
        "bind" => {
            let read_only = !truthy(get(&f, &["rw", "readwrite"]));
            let source = get(&f, &["source", "src"]).unwrap_or("").to_string();
            match get(&f, &["from"]).map(str::to_string) {
                None => {
                    let dir = super::layer::temp_dir(&sr.b, &sr.build_id)?;
                    let (ctx, src) = (sr.ctx.clone(), source.clone());
                    let d2 = dir.clone();
                    let host = blocking(move || {
                        let rel =
                            resolve(&*ctx, &crate::ignore::clean(&src), true).ok_or_else(|| {
                                BuildError::Invalid(format!(
                                    "mount source {src:?} not found in the build context"
                                ))
                            })?;
                        let name = rel.rsplit('/').next().unwrap_or("").to_string();
                        let is_dir = ctx
                            .lstat(&rel)
                            .is_some_and(|m| m.kind == crate::tree::Kind::Dir);
                        let opts = CopyOpts {
                            owner: Some((0, 0)),
                            ..Default::default()
                        };
                        let dest = if is_dir {
                            "/src".to_string()
                        } else {
                            format!("/{}", if name.is_empty() { "src" } else { &name })
                        };
                        copy_items(
                            &d2,
                            &dest,
                            &[Item {
                                tree: &*ctx,
                                rel,
                                name,
                            }],
                            false,
                            &opts,
                        )
                        .map_err(BuildError::Invalid)?;
                        Ok(d2.join(dest.trim_start_matches('/')))
                    })
                    .await?;
                    Ok((
                        RunMount::Bind {
                            source: host,
                            target,
                            read_only,
                        },
                        Some(Release::Dir(dir)),
                    ))
                }
                Some(from) => {
                    let image = match sr.df.stage_index(&from).filter(|j| *j < sr.index) {
                        Some(j) => sr.stage_image(j).await?,
                        None => Some(sr.image(&from, None).await?.id),
                    };
                    let b: Arc<Builder> = sr.b.clone();
                    let build = sr.build_id.clone();
                    let layer =
                        blocking(move || TempLayer::open(&b, image.as_deref(), &build)).await?;
                    let tree = DirTree::new(layer.mnt.clone());
                    let rel =
                        resolve(&tree, &crate::ignore::clean(&source), true).ok_or_else(|| {
                            BuildError::Invalid(format!(
                                "mount source {source:?} not found in {from}"
                            ))
                        })?;
                    let host = layer.mnt.join(&rel);
                    Ok((
                        RunMount::Bind {
                            source: host,
                            target,
                            read_only,
                        },
                        Some(Release::Layer(layer)),
                    ))
                }
            }
        }
        other => Err(BuildError::Invalid(format!(
            "RUN --mount=type={other} needs BuildKit's session, which berth's classic builder does not provide"
        ))),
    }
}

/// Resolve a mount and what to release after the step.
pub(crate) async fn prepare(
    sr: &StageRun,
    st: &State,
    spec: &str,
) -> Result<(RunMount, Vec<Release>)> {
    let (m, r) = resolve_mount(sr, st, spec).await?;
    Ok((m, r.into_iter().collect()))
}
