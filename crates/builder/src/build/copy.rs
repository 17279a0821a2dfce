//! COPY and ADD: sources from the context (paths, wildcards, `--exclude`),
//! from a stage or image (`--from`), here-documents and, for ADD, URLs and
//! local archives; the history entry `COPY <hash> in <dest> ` whose hash is
//! of content (never of mtimes); the copy into a temporary read-write layer
//! and its commit, without any container.

use std::sync::Arc;

use berth_image::CommitOptions;
use sha2::{Digest, Sha256};

use super::layer::{TempLayer, blocking};
use super::stage::{StageRun, State};
use crate::context::multi_hash;
use crate::dockerfile::shell;
use crate::dockerfile::{CopyArgs, Source};
use crate::error::{BuildError, Result};
use crate::fsops::{CopyOpts, Item, copy_items, parse_chmod, parse_chown};
use crate::history;
use crate::ignore::{Glob, Ignore, clean, has_magic};
use crate::tree::{DirTree, Excluding, Kind, MemTree, Tree, join, resolve};

/// Sources from one tree.
struct Group {
    tree: Arc<dyn Tree>,
    /// (path in the tree, name in a destination directory).
    items: Vec<(String, String)>,
}

/// Sources matching `pattern` in a tree (component-wise globbing, Go's `filepath.Match`).
fn find(tree: &dyn Tree, pattern: &str, cmd: &str) -> Result<Vec<String>> {
    let cleaned = clean(pattern.trim_start_matches('/'));
    if cleaned.starts_with("..") {
        return Err(BuildError::Invalid(format!(
            "{cmd} failed: forbidden path outside the build context: {pattern} ()"
        )));
    }
    if !has_magic(&cleaned) {
        return match resolve(tree, &cleaned, true) {
            Some(p) if tree.lstat(&p).is_some() => Ok(vec![p]),
            _ => Err(BuildError::Invalid(format!(
                "{cmd} failed: stat {cleaned}: file does not exist"
            ))),
        };
    }
    let mut cur = vec![String::new()];
    for comp in cleaned.split('/') {
        let mut next = Vec::new();
        for dir in &cur {
            if has_magic(comp) {
                let g = Glob::new(comp, false)
                    .map_err(|e| BuildError::Invalid(format!("{cmd} failed: {e}")))?;
                for c in tree.children(dir) {
                    if g.matches(&c) {
                        next.push(join(dir, &c));
                    }
                }
            } else if let Some(p) = resolve(tree, &join(dir, comp), true)
                && tree.lstat(&p).is_some()
            {
                next.push(p);
            }
        }
        cur = next;
    }
    if cur.is_empty() {
        return Err(BuildError::Invalid(format!(
            "{cmd} failed: no source files were specified"
        )));
    }
    Ok(cur)
}

fn base_name(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

fn sha(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl StageRun {
    pub(crate) async fn copy_step(&self, st: &mut State, c: &CopyArgs, add: bool) -> Result<()> {
        let cmd = if add { "ADD" } else { "COPY" };
        let env = self.env(st);
        let esc = self.df.escape;
        let x = |s: &str| shell::word(s, &env, esc).map_err(BuildError::Invalid);
        let dest = x(&c.dest)?;
        let chown = c
            .chown
            .as_deref()
            .map(x)
            .transpose()?
            .filter(|s| !s.is_empty());
        let chmod = c
            .chmod
            .as_deref()
            .map(x)
            .transpose()?
            .filter(|s| !s.is_empty())
            .map(|m| parse_chmod(&m))
            .transpose()
            .map_err(BuildError::Invalid)?;
        let from = c.from.as_deref().map(x).transpose()?;
        let excludes: Vec<String> = c.excludes.iter().map(|e| x(e)).collect::<Result<_>>()?;
        let ignore = Ignore::parse(&excludes.join("\n")).map_err(BuildError::Invalid)?;
        let wrap = |tree: Arc<dyn Tree>, base: &str| -> Arc<dyn Tree> {
            if excludes.is_empty() {
                tree
            } else {
                Arc::new(Excluding {
                    inner: tree,
                    ignore: ignore.clone(),
                    base: base.to_string(),
                })
            }
        };

        let mut groups: Vec<Group> = Vec::new();
        let mut hashes: Vec<String> = Vec::new();
        let mut from_layer: Option<TempLayer> = None;
        if let Some(from) = &from {
            if add {
                return Err(BuildError::Invalid("ADD does not support --from".into()));
            }
            let image = match self.df.stage_index(from).filter(|j| *j < self.index) {
                Some(j) => self.stage_image(j).await?,
                None => Some(
                    self.image(from, None)
                        .await
                        .map_err(|e| {
                            BuildError::Invalid(format!("invalid from flag value {from}: {e}"))
                        })?
                        .id,
                ),
            };
            let (b, build, img) = (self.b.clone(), self.build_id.clone(), image.clone());
            let layer = blocking(move || TempLayer::open(&b, img.as_deref(), &build)).await?;
            let tree: Arc<dyn Tree> = Arc::new(DirTree::new(layer.mnt.clone()));
            from_layer = Some(layer);
            for s in &c.sources {
                let Source::Path(p) = s else { continue };
                let p = x(p)?;
                let rels = find(&*tree, &p, cmd)?;
                for rel in rels {
                    // The source image is immutable: its id and the path stand for the content.
                    let kind = if tree.lstat(&rel).is_some_and(|m| m.kind == Kind::Dir) {
                        "dir"
                    } else {
                        "file"
                    };
                    hashes.push(format!(
                        "{kind}:{}",
                        sha(&[
                            image.as_deref().unwrap_or("scratch").as_bytes(),
                            rel.as_bytes()
                        ])
                    ));
                    groups.push(Group {
                        tree: wrap(tree.clone(), &rel),
                        items: vec![(rel.clone(), base_name(&rel))],
                    });
                }
            }
        } else {
            let ctx: Arc<dyn Tree> = self.ctx.clone();
            for s in &c.sources {
                match s {
                    Source::Heredoc(h) => {
                        let body = if h.expand {
                            shell::heredoc(&h.body, &env, esc).map_err(BuildError::Invalid)?
                        } else {
                            h.body.clone()
                        };
                        hashes.push(format!(
                            "file:{}",
                            sha(&[h.name.as_bytes(), body.as_bytes()])
                        ));
                        let mut t = MemTree::default();
                        t.add(
                            &h.name,
                            body.into_bytes().into(),
                            0o644,
                            chrono::Utc::now().timestamp(),
                        );
                        groups.push(Group {
                            tree: Arc::new(t),
                            items: vec![(h.name.clone(), h.name.clone())],
                        });
                    }
                    Source::Path(p) => {
                        let p = x(p)?;
                        if add && crate::fetch::is_git(&p) {
                            return Err(BuildError::Invalid(format!(
                                "{cmd} failed: git sources are not supported: {p}"
                            )));
                        }
                        if add && crate::fetch::is_url(&p) {
                            let d = crate::fetch::get(&p).await?;
                            if let Some(sum) = &c.checksum {
                                let got =
                                    format!("sha256:{}", hex::encode(Sha256::digest(&d.data)));
                                if &got != sum {
                                    return Err(BuildError::Invalid(format!(
                                        "digest mismatch {got}: {sum}"
                                    )));
                                }
                            }
                            if d.name.is_empty() && dest.ends_with('/') {
                                return Err(BuildError::Invalid(format!(
                                    "cannot determine filename from url: {p}"
                                )));
                            }
                            let name = if d.name.is_empty() {
                                "download".to_string()
                            } else {
                                d.name.clone()
                            };
                            hashes.push(format!("file:{}", hex::encode(Sha256::digest(&d.data))));
                            let mut t = MemTree::default();
                            t.add(
                                &name,
                                d.data,
                                0o600,
                                d.mtime.unwrap_or_else(|| chrono::Utc::now().timestamp()),
                            );
                            groups.push(Group {
                                tree: Arc::new(t),
                                items: vec![(name.clone(), name)],
                            });
                            continue;
                        }
                        let mut rels = self.ctx.sources(&p, cmd)?;
                        if !excludes.is_empty() {
                            rels.retain(|r| !ignore.excluded(r));
                        }
                        for rel in rels {
                            hashes.push(self.ctx.hash(&rel)?);
                            groups.push(Group {
                                tree: wrap(ctx.clone(), &rel),
                                items: vec![(rel.clone(), base_name(&rel))],
                            });
                        }
                    }
                }
            }
        }
        let count: usize = groups.iter().map(|g| g.items.len()).sum();
        if count > 1 && !dest.ends_with('/') {
            if let Some(l) = from_layer {
                let _ = blocking(move || l.close(None)).await;
            }
            return Err(BuildError::Invalid(format!(
                "When using {cmd} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let src_hash = multi_hash(&hashes);
        let chown_part = chown
            .as_deref()
            .map(|c| format!("--chown={c}"))
            .unwrap_or_default();
        let comment = format!("{cmd} {chown_part}{src_hash} in {dest} ");
        let created_by = history::nop1(&Self::shell(st), &comment);
        let mut probe = Self::next_config(st);
        probe.cmd = Some(created_by.clone());
        if chmod.is_some() || c.parents || !excludes.is_empty() {
            probe.extra.insert(
                "BerthCopy".into(),
                serde_json::json!({ "chmod": chmod, "parents": c.parents, "exclude": excludes }),
            );
        }
        let Some(key) = self.probe(st, &probe) else {
            if let Some(l) = from_layer {
                let _ = blocking(move || l.close(None)).await;
            }
            return Ok(());
        };
        let dest_abs = if dest.starts_with('/') {
            dest.clone()
        } else {
            let mut d = format!(
                "{}/{}",
                if st.config.working_dir.is_empty() {
                    ""
                } else {
                    st.config.working_dir.trim_end_matches('/')
                },
                dest
            );
            if !d.starts_with('/') {
                d.insert(0, '/');
            }
            d
        };
        let opts = CommitOptions {
            config: Self::next_config(st),
            author: st.maintainer.clone(),
            created_by: created_by.join(" "),
            ..Default::default()
        };
        let (b, parent, build) = (self.b.clone(), st.image.clone(), self.build_id.clone());
        let (preserve, parents) = (from.is_some(), c.parents);
        let res = blocking(move || {
            let layer = TempLayer::open(&b, parent.as_deref(), &build)?;
            let owner = match &chown {
                Some(spec) => Some(parse_chown(spec, &layer.mnt).map_err(BuildError::Invalid)?),
                None if preserve => None,
                None => Some((0, 0)),
            };
            let copts = CopyOpts {
                owner,
                chmod,
                decompress: add,
            };
            for g in &groups {
                for (rel, name) in &g.items {
                    let item = [Item {
                        tree: &*g.tree,
                        rel: rel.clone(),
                        name: name.clone(),
                    }];
                    let into_dir = count > 1;
                    let target = if parents {
                        let is_dir = g.tree.lstat(rel).is_some_and(|m| m.kind == Kind::Dir);
                        let sub = if is_dir {
                            rel.as_str()
                        } else {
                            rel.rsplit_once('/').map_or("", |(p, _)| p)
                        };
                        format!("{}/{sub}/", dest_abs.trim_end_matches('/'))
                    } else {
                        dest_abs.clone()
                    };
                    copy_items(&layer.mnt, &target, &item, into_dir, &copts)
                        .map_err(|e| BuildError::Invalid(format!("failed to copy files: {e}")))?;
                }
            }
            layer
                .close(Some((parent.as_deref(), opts)))?
                .ok_or_else(|| BuildError::Invalid("commit failed".into()))
        })
        .await;
        if let Some(l) = from_layer {
            let _ = blocking(move || l.close(None)).await;
        }
        let id = res?;
        crate::cache::put(&self.b.store, &key, &id);
        st.image = Some(id);
        Ok(())
    }
}
