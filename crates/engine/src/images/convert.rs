//! berth-image values in the Engine API's shapes, and `GET /images/json` filtering.

use std::collections::{BTreeMap, HashMap};

use berth_api::types::image::{
    GraphDriver, HistoryResponseItem, ImageInspect, ImageMetadata, ImageSummary, RootFs,
};
use berth_core::filters::Filters;
use berth_core::timefmt::ZERO_TIME;
use berth_core::{Error, Result};
use berth_image::{Image, ImageService, Reference};

/// Docker's name for the storage driver behind a snapshotter.
pub fn driver_name(snapshotter: &str) -> &'static str {
    if snapshotter == "overlayfs" {
        "overlay2"
    } else {
        "vfs"
    }
}

/// `GET /images/{name}/json`.
pub fn inspect(img: &Image, snapshotter: &str, old_api: bool) -> ImageInspect {
    ImageInspect {
        id: img.id.clone(),
        repo_tags: img.repo_tags.clone(),
        repo_digests: img.repo_digests.clone(),
        parent: img.parent.clone(),
        comment: img.comment.clone(),
        created: (!img.created.is_empty()).then(|| img.created.clone()),
        docker_version: img.docker_version.clone(),
        author: img.author.clone(),
        config: serde_json::to_value(&img.config).unwrap_or_default(),
        architecture: img.architecture.clone(),
        variant: img.variant.clone(),
        os: img.os.clone(),
        os_version: img.os_version.clone(),
        size: img.size,
        virtual_size: old_api.then_some(img.size),
        graph_driver: GraphDriver {
            name: driver_name(snapshotter).into(),
            data: BTreeMap::new(),
        },
        root_fs: RootFs {
            kind: "layers".into(),
            layers: img.diff_ids.clone(),
        },
        metadata: ImageMetadata {
            last_tag_time: if img.last_tag_time.is_empty() {
                ZERO_TIME.into()
            } else {
                img.last_tag_time.clone()
            },
        },
        container: img
            .raw_config
            .extra
            .get("container")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        container_config: img
            .raw_config
            .extra
            .get("container_config")
            .filter(|v| !v.is_null())
            .cloned(),
    }
}

/// One `GET /images/json` entry.
pub fn summary(img: &Image, shared: i64, containers: i64, old_api: bool) -> ImageSummary {
    ImageSummary {
        id: img.id.clone(),
        parent_id: img.parent.clone(),
        repo_tags: img.repo_tags.clone(),
        repo_digests: img.repo_digests.clone(),
        created: img.created_unix(),
        size: img.size,
        shared_size: shared,
        virtual_size: old_api.then_some(img.size),
        labels: img.labels(),
        containers,
    }
}

/// `GET /images/{name}/history`, newest first, ids and tags filled along the parent chain.
pub fn history(svc: &ImageService, img: &Image) -> Result<Vec<HistoryResponseItem>> {
    let sizes = svc.layer_sizes()?;
    let diffs: Vec<berth_image::Digest> = img
        .diff_ids
        .iter()
        .filter_map(|d| berth_image::Digest::parse(d).ok())
        .collect();
    let chains = berth_image::digest::chain_ids(&diffs);
    let mut layer = 0;
    let mut items = Vec::new();
    for h in &img.history {
        let mut size = 0;
        if !h.empty_layer {
            if let Some(c) = chains.get(layer) {
                size = sizes.get(c.as_str()).copied().unwrap_or(0);
            }
            layer += 1;
        }
        items.push(HistoryResponseItem {
            id: "<missing>".into(),
            created: h
                .created
                .as_deref()
                .and_then(berth_core::timefmt::parse_rfc3339)
                .map(|t| t.timestamp())
                .unwrap_or(0),
            created_by: h.created_by.clone(),
            tags: Vec::new(),
            size,
            comment: h.comment.clone(),
        });
    }
    items.reverse();
    let mut cur = Some(img.clone());
    for item in items.iter_mut() {
        let Some(i) = cur.take() else { break };
        item.id = i.id.clone();
        item.tags = i.repo_tags.clone();
        if !i.parent.is_empty() {
            cur = svc.resolve(&i.parent).ok();
        }
    }
    Ok(items)
}

/// Docker's `reference` filter: a glob matched against the familiar name, and name:tag.
fn reference_matches(pattern: &str, img: &Image) -> bool {
    img.repo_tags
        .iter()
        .chain(&img.repo_digests)
        .any(|t| name_matches(pattern, t))
}

fn name_matches(pattern: &str, name: &str) -> bool {
    let Ok(r) = Reference::parse(name) else {
        return false;
    };
    glob(pattern, &r.familiar_name())
        || glob(pattern, &r.familiar())
        || glob(pattern, &r.to_string())
}

/// `path.Match`-style glob: `*` (not `/`), `?`, literal otherwise.
pub fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && go(p, &s[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// Apply `GET /images/json` filters and the `all` rule.
pub fn filter(
    svc: &ImageService,
    images: Vec<Image>,
    all: bool,
    f: &Filters,
) -> Result<Vec<Image>> {
    let time_of = |key: &str| -> Result<Option<i64>> {
        match f.get(key).first() {
            None => Ok(None),
            Some(v) => match svc.resolve(v) {
                Ok(i) => Ok(Some(i.created_unix())),
                Err(e) => Err(e.into()),
            },
        }
    };
    let before = time_of("before")?;
    let since = time_of("since")?;
    let until = match f.get("until").first() {
        None => None,
        Some(u) => Some(
            berth_core::timefmt::parse_timestamp(u, chrono::Utc::now())
                .ok_or_else(|| Error::invalid(format!("invalid filter 'until={u}'")))?
                .timestamp(),
        ),
    };
    let dangling = f.bool_value("dangling")?;
    let parents: std::collections::HashSet<String> =
        images.iter().map(|i| i.parent.clone()).collect();
    let refs = f.get("reference").to_vec();
    Ok(images
        .into_iter()
        .map(|mut i| {
            // As Docker: with a reference filter, an image shows only the names that match.
            if !refs.is_empty() {
                let keep = |t: &String| refs.iter().any(|p| name_matches(p, t));
                i.repo_tags.retain(keep);
                i.repo_digests.retain(keep);
            }
            i
        })
        .filter(|i| {
            let labels: HashMap<String, String> = i.labels().into_iter().collect();
            let is_dangling = i.repo_tags.is_empty();
            (all || !is_dangling || !parents.contains(&i.id))
                && dangling.is_none_or(|d| d == is_dangling)
                && f.match_labels("label", &labels)
                && f.any("reference", |p| reference_matches(p, i))
                && before.is_none_or(|b| i.created_unix() < b)
                && since.is_none_or(|s| i.created_unix() > s)
                && until.is_none_or(|u| i.created_unix() < u)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("*:latest", "busybox:latest"));
        assert!(!glob("*", "a/b"));
        assert!(glob("a/*", "a/b"));
        assert!(glob("b?", "bb"));
    }
}
