//! Removing images (`docker rmi`) and pruning, with Docker's rules for
//! untagging versus deleting and for images in use.

use std::collections::HashSet;

use berth_core::filters::Filters;

use crate::error::{ImageError, Result};
use crate::image::Image;
use crate::records::{IMAGES, REFS, RefRecord};
use crate::reference::Reference;
use crate::service::ImageService;

/// One line of a delete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// A reference removed (familiar form).
    Untagged(String),
    /// An image removed (id).
    Deleted(String),
}

/// What a prune removed.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// Untag and delete lines.
    pub deleted: Vec<Deleted>,
    /// Bytes freed.
    pub space_reclaimed: i64,
}

fn short(id: &str) -> &str {
    berth_core::id::short(id)
}

impl ImageService {
    /// `DELETE /images/{name}`. Blocking.
    pub fn delete(&self, name: &str, force: bool, noprune: bool) -> Result<Vec<Deleted>> {
        let img = self.resolve(name)?;
        let mut out = Vec::new();
        // Given by a reference that exists: untag it first.
        let by_ref = Reference::parse(name)
            .ok()
            .map(Reference::with_default_tag)
            .filter(|r| {
                self.store
                    .get::<RefRecord>(REFS, &r.to_string())
                    .ok()
                    .flatten()
                    .is_some_and(|rr| rr.image == img.id)
            })
            .filter(|_| !img.id.trim_start_matches("sha256:").starts_with(name));
        if let Some(r) = by_ref {
            self.remove_ref(&r)?;
            out.push(Deleted::Untagged(r.familiar()));
            self.emit("untag", &img.id, &r.familiar());
            let img = self.resolve(&img.id)?;
            // Digests of the same repository go with its last tag.
            let same_repo_tags = img
                .repo_tags
                .iter()
                .any(|t| Reference::parse(t).is_ok_and(|x| x.name() == r.name()));
            if !same_repo_tags {
                for d in img.repo_digests.clone() {
                    if let Ok(dr) = Reference::parse(&d)
                        && dr.name() == r.name()
                    {
                        self.remove_ref(&dr)?;
                        out.push(Deleted::Untagged(dr.familiar()));
                    }
                }
            }
            let img = self.resolve(&img.id)?;
            if !img.repo_tags.is_empty()
                || !img.repo_digests.is_empty()
                || !self.users_of(&img.id).is_empty()
            {
                return Ok(out);
            }
            self.delete_image(&img, force, noprune, &mut out)?;
            return Ok(out);
        }
        // Given by id.
        let repos: HashSet<String> = img
            .repo_tags
            .iter()
            .chain(&img.repo_digests)
            .filter_map(|t| Reference::parse(t).ok().map(|r| r.name()))
            .collect();
        if repos.len() > 1 && !force {
            return Err(ImageError::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&img.id)
            )));
        }
        self.check_users(&img, force)?;
        for t in img.repo_tags.iter().chain(&img.repo_digests) {
            if let Ok(r) = Reference::parse(t) {
                self.remove_ref(&r)?;
                out.push(Deleted::Untagged(t.clone()));
                self.emit("untag", &img.id, t);
            }
        }
        self.delete_image(&img, force, noprune, &mut out)?;
        Ok(out)
    }

    fn check_users(&self, img: &Image, force: bool) -> Result<()> {
        let users = self.users_of(&img.id);
        if let Some(u) = users.iter().find(|u| u.running) {
            return Err(ImageError::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                short(&img.id),
                short(&u.container_id)
            )));
        }
        if let (Some(u), false) = (users.first(), force) {
            return Err(ImageError::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                short(&img.id),
                short(&u.container_id)
            )));
        }
        Ok(())
    }

    fn remove_ref(&self, r: &Reference) -> Result<()> {
        let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.store.delete(REFS, &r.to_string())?;
        Ok(())
    }

    fn delete_image(
        &self,
        img: &Image,
        force: bool,
        noprune: bool,
        out: &mut Vec<Deleted>,
    ) -> Result<()> {
        if !self.children(&img.id)?.is_empty() {
            if force {
                return Ok(());
            }
            return Err(ImageError::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                short(&img.id)
            )));
        }
        {
            let _g = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            // References may have been added meanwhile: then it stays.
            let still_ref = self
                .store
                .list::<RefRecord>(REFS)?
                .iter()
                .any(|(_, r)| r.image == img.id);
            if still_ref {
                return Ok(());
            }
            self.store.delete(IMAGES, &img.id)?;
            self.gc_locked()?;
        }
        out.push(Deleted::Deleted(img.id.clone()));
        self.emit("delete", &img.id, "");
        // Parents that were kept only for this image go too (unless noprune).
        if !noprune
            && !img.parent.is_empty()
            && let Ok(parent) = self.resolve(&img.parent)
            && parent.repo_tags.is_empty()
            && parent.repo_digests.is_empty()
            && self.users_of(&parent.id).is_empty()
            && self.children(&parent.id)?.is_empty()
        {
            self.delete_image(&parent, false, false, out)?;
        }
        Ok(())
    }

    /// `POST /images/prune`: dangling images (all unused ones with
    /// `dangling=false`), filtered by `until` and `label`. Blocking.
    pub fn prune(&self, filters: &Filters) -> Result<Pruned> {
        filters.validate(&["dangling", "until", "label", "label!"])?;
        let all = !filters.bool_value("dangling")?.unwrap_or(true);
        let until = match filters.get("until").first() {
            Some(u) => Some(
                berth_core::timefmt::parse_timestamp(u, chrono::Utc::now())
                    .ok_or_else(|| ImageError::Invalid(format!("invalid filter 'until={u}'")))?
                    .timestamp(),
            ),
            None => None,
        };
        let before: i64 = self.layer_sizes()?.values().sum();
        let mut out = Pruned::default();
        let images = self.list()?;
        let parents: HashSet<String> = images.iter().map(|i| i.parent.clone()).collect();
        for img in images {
            let dangling = img.repo_tags.is_empty();
            if (!all && !dangling)
                || !self.users_of(&img.id).is_empty()
                || parents.contains(&img.id)
            {
                continue;
            }
            if until.is_some_and(|u| img.created_unix() >= u) {
                continue;
            }
            let labels: std::collections::HashMap<String, String> =
                img.labels().into_iter().collect();
            if !filters.match_labels("label", &labels) {
                continue;
            }
            if filters
                .get("label!")
                .iter()
                .any(|f| crate::delete::label_present(f, &labels))
            {
                continue;
            }
            match self.delete(&img.id, all, false) {
                Ok(lines) => out.deleted.extend(lines),
                Err(e) => tracing::debug!(image = %img.id, "not pruned: {e}"),
            }
        }
        let after: i64 = self.layer_sizes()?.values().sum();
        out.space_reclaimed = (before - after).max(0);
        let mut attrs = std::collections::HashMap::new();
        attrs.insert("reclaimed".to_string(), out.space_reclaimed.to_string());
        self.events.emit("image", "prune", "", attrs);
        Ok(out)
    }
}

/// `label!=k` / `label!=k=v` semantics: true when the label matches (so the image is kept).
pub(crate) fn label_present(f: &str, labels: &std::collections::HashMap<String, String>) -> bool {
    match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    }
}
