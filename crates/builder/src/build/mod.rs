//! Orchestration of a build: read the Dockerfile from the context, pick the
//! stages the target needs, run them (independent stages in parallel, each
//! writing to its own output that is replayed in stage order), tag the result
//! and clean up whatever the build created for itself.
//!
//! Steps follow Docker's classic builder: `Step N/M : …`, ` ---> <id>` after
//! every step, ` ---> Using cache` for a reused one, ` ---> Running in <id>`
//! and `Removing intermediate container <id>` around RUN containers, an
//! `aux` message with each stage's image id, `Successfully built` and
//! `Successfully tagged` at the end.

mod copy;
mod layer;
mod mounts;
mod run;
mod stage;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use berth_api::types::jsonmessage::JsonMessage;
use berth_core::store::Store;
use berth_image::ImageService;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::args::BuildArgs;
use crate::cache;
use crate::context::{Context, Loaded};
use crate::dockerfile::shell::{self, Env};
use crate::dockerfile::{self, Dockerfile, Instruction, Step};
use crate::error::{BuildError, Result};
use crate::ignore::Ignore;
use crate::output::Output;
use crate::runner::{HostSettings, StepRunner};

/// What the build request asks for (`POST /build` parameters).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `dockerfile`: path in the context (default `Dockerfile`).
    pub dockerfile: String,
    /// `t` (repeated).
    pub tags: Vec<String>,
    /// `buildargs`.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `target`.
    pub target: String,
    /// `nocache`.
    pub no_cache: bool,
    /// `pull`.
    pub pull: bool,
    /// `rm` (default true).
    pub rm: bool,
    /// `forcerm`.
    pub force_rm: bool,
    /// `q`.
    pub quiet: bool,
    /// `cachefrom`.
    pub cache_from: Vec<String>,
    /// `platform`.
    pub platform: String,
    /// Container settings for RUN steps.
    pub host: HostSettings,
}

/// The builder: shared by all builds of an engine.
pub struct Builder {
    /// Images and read-write layers.
    pub images: Arc<ImageService>,
    /// Metadata store (tables `build.*`).
    pub store: Arc<Store>,
    /// Runs RUN steps.
    pub runner: Arc<dyn StepRunner>,
    /// Working directory (`<data-root>/builder`): mount points, cache mounts, spill files.
    pub root: PathBuf,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("root", &self.root).finish()
    }
}

/// A build that parsed and is ready to run.
#[derive(Debug)]
pub struct Prepared {
    df: Arc<Dockerfile>,
    ctx: Arc<Context>,
    opts: Arc<BuildOptions>,
    /// Stages to build, in order.
    needed: Vec<usize>,
    target: usize,
}

/// Builds in progress (their temporary objects are not swept).
fn active() -> &'static Mutex<HashSet<String>> {
    static ACTIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Is build `id` running in this process?
pub fn is_active(id: &str) -> bool {
    active()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(id)
}

/// Removes the build from the active set when the build ends, however it ends.
struct ActiveGuard(String);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        active()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Names of stages a stage depends on: its base and `--from`s (expanded with the meta args).
fn deps(df: &Dockerfile, i: usize, meta: &Env) -> Vec<usize> {
    let mut out = Vec::new();
    let mut add = |name: &str| {
        let name = shell::word(name, meta, df.escape).unwrap_or_else(|_| name.to_string());
        if let Some(j) = df.stage_index(&name).filter(|j| *j < i) {
            out.push(j);
        }
    };
    add(&df.stages[i].base);
    for s in &df.stages[i].steps {
        match &s.inst {
            Instruction::Copy(c) => {
                if let Some(f) = &c.from {
                    add(f);
                }
            }
            Instruction::Run(r) => {
                for m in &r.mounts {
                    for kv in m.split(',') {
                        if let Some(f) = kv.strip_prefix("from=") {
                            add(f);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn meta_env(df: &Dockerfile, args: &mut BuildArgs) -> Result<Env> {
    for s in &df.meta_args {
        if let Instruction::Arg(decls) = &s.inst {
            for (k, v) in decls {
                let env = Env(args.meta_env());
                let v = match v {
                    Some(v) => Some(shell::word(v, &env, df.escape).map_err(BuildError::Invalid)?),
                    None => None,
                };
                args.add_meta(k, v);
            }
        }
    }
    Ok(Env(args.meta_env()))
}

impl Builder {
    /// Read the Dockerfile, parse it and plan the stages. Errors here come
    /// before any output (the client gets them as an HTTP error).
    pub fn prepare(&self, loaded: Loaded, opts: BuildOptions) -> Result<Prepared> {
        let name = if opts.dockerfile.is_empty() {
            "Dockerfile".to_string()
        } else {
            opts.dockerfile.clone()
        };
        let (ctx, text) = match loaded {
            Loaded::Dockerfile(t) => (Context::empty(), t),
            Loaded::Tar(mut ctx) => {
                let rel = name.trim_start_matches("./").to_string();
                let text = ctx
                    .read_file(&rel)
                    .or_else(|| {
                        if rel == "Dockerfile" {
                            ctx.read_file("dockerfile")
                        } else {
                            None
                        }
                    })
                    .ok_or_else(|| {
                        BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"))
                    })?;
                // The daemon drops the Dockerfile and .dockerignore when .dockerignore names them.
                if let Some(ig) = ctx.read_file(".dockerignore") {
                    let ig = Ignore::parse(&String::from_utf8_lossy(&ig))
                        .map_err(BuildError::Invalid)?;
                    for f in [".dockerignore".to_string(), rel] {
                        if ig.excluded(&f) {
                            ctx.remove(&f);
                        }
                    }
                }
                (ctx, text)
            }
        };
        let df = dockerfile::parse(&String::from_utf8_lossy(&text))?;
        let target = if opts.target.is_empty() {
            df.stages.len() - 1
        } else {
            df.stage_index(&opts.target).ok_or_else(|| {
                BuildError::Invalid(format!(
                    "failed to reach build target {} in Dockerfile",
                    opts.target
                ))
            })?
        };
        let mut args = BuildArgs::new(opts.build_args.clone());
        let meta = meta_env(&df, &mut args)?;
        let mut needed: BTreeSet<usize> = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(deps(&df, i, &meta));
            }
        }
        Ok(Prepared {
            df: Arc::new(df),
            ctx: Arc::new(ctx),
            opts: Arc::new(opts),
            needed: needed.into_iter().collect(),
            target,
        })
    }

    /// Run a prepared build; returns the image id. Output goes to `out`; the
    /// build stops when `cancel` fires or the client goes away.
    pub async fn run(
        self: &Arc<Self>,
        p: Prepared,
        out: Output,
        cancel: CancellationToken,
    ) -> Result<String> {
        let build_id = berth_core::id::generate()[..16].to_string();
        active()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(build_id.clone());
        let _guard = ActiveGuard(build_id.clone());
        layer::sweep(self).await;
        let watcher = {
            let (out, cancel) = (out.clone(), cancel.clone());
            tokio::spawn(async move {
                out.closed().await;
                cancel.cancel();
            })
        };
        let res = self.run_stages(&p, &out, &cancel, &build_id).await;
        watcher.abort();
        layer::cleanup(self, &build_id).await;
        let id = res?;
        if out.quiet() {
            out.always(JsonMessage::stream(format!("{id}\n")));
        } else {
            out.stream(format!(
                "Successfully built {}\n",
                berth_core::id::short(&id)
            ));
        }
        for t in &p.opts.tags {
            let images = self.images.clone();
            let (id2, t2) = (id.clone(), t.clone());
            let tagged = tokio::task::spawn_blocking(move || images.tag(&id2, &t2))
                .await
                .map_err(|e| BuildError::Invalid(e.to_string()))??;
            out.stream(format!("Successfully tagged {tagged}\n"));
        }
        Ok(id)
    }

    async fn run_stages(
        self: &Arc<Self>,
        p: &Prepared,
        out: &Output,
        cancel: &CancellationToken,
        build_id: &str,
    ) -> Result<String> {
        let df = &p.df;
        let mut args = BuildArgs::new(p.opts.build_args.clone());
        let labels: Vec<(String, String)> = p
            .opts
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let total = df.meta_args.len()
            + p.needed
                .iter()
                .map(|i| 1 + df.stages[*i].steps.len())
                .sum::<usize>()
            + labels.len();
        let mut n = 0;
        for s in &df.meta_args {
            n += 1;
            out.stream(format!("Step {n}/{total} : {}\n", s.original));
        }
        let meta = meta_env(df, &mut args)?;
        let cache_sources = cache::sources(&self.images, &p.opts.cache_from).map(Arc::new);
        // One result channel per stage: None while building, Some(image or scratch) when done.
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in &df.stages {
            let (tx, rx) = watch::channel::<Option<std::result::Result<Option<String>, ()>>>(None);
            senders.push(Some(tx));
            receivers.push(rx);
        }
        let mut tasks = Vec::new();
        for &i in &p.needed {
            let (sout, srx) = Output::channel(out.quiet());
            let first = n + 1;
            n += 1 + df.stages[i].steps.len() + if i == p.target { labels.len() } else { 0 };
            let st = stage::StageRun {
                b: self.clone(),
                df: df.clone(),
                ctx: p.ctx.clone(),
                opts: p.opts.clone(),
                index: i,
                first_step: first,
                total,
                meta: meta.clone(),
                args: args.stage(),
                out: sout,
                cancel: cancel.clone(),
                results: receivers.clone(),
                build_id: build_id.to_string(),
                labels: if i == p.target {
                    labels.clone()
                } else {
                    Vec::new()
                },
                cache_sources: cache_sources.clone(),
            };
            let tx = senders[i].take();
            let cancel = cancel.clone();
            let handle = tokio::spawn(async move {
                let r = st.run().await;
                if r.is_err() {
                    cancel.cancel();
                }
                if let Some(tx) = tx {
                    let _ = tx.send(Some(r.as_ref().map(|(img, _)| img.clone()).map_err(|_| ())));
                }
                r
            });
            tasks.push((i, handle, srx));
        }
        // Replay each stage's output in order, then collect its result.
        let mut first_err: Option<BuildError> = None;
        let mut result = None;
        for (i, handle, mut srx) in tasks {
            while let Some(m) = srx.recv().await {
                out.message(m);
            }
            match handle.await {
                Ok(Ok((img, declared))) => {
                    for d in declared {
                        args.stage_declared(&d);
                    }
                    if let Some(id) = &img {
                        out.aux_id(id);
                    }
                    if i == p.target {
                        result = Some(img);
                    }
                }
                Ok(Err(e)) => {
                    let replace = match &first_err {
                        None => true,
                        Some(BuildError::Cancelled) => !matches!(e, BuildError::Cancelled),
                        Some(_) => false,
                    };
                    if replace {
                        first_err = Some(e);
                    }
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(BuildError::Invalid(format!("build stage failed: {e}")));
                    }
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let unused = args.unused();
        if !unused.is_empty() {
            out.stream(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                unused.join(" ")
            ));
        }
        result.flatten().ok_or_else(|| {
            BuildError::Invalid("No image was generated. Is your Dockerfile empty?".into())
        })
    }

    /// `/build/prune`: forget every cache key and empty the cache mounts.
    /// Returns (keys removed, bytes reclaimed).
    pub fn prune(&self) -> Result<(Vec<String>, u64)> {
        let keys: Vec<(String, crate::cache::CacheRecord)> =
            self.store.list(crate::cache::CACHE)?;
        let ids: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
        self.store.write(|t| {
            for k in &ids {
                t.delete(crate::cache::CACHE, k)?;
            }
            Ok(())
        })?;
        let mut bytes = 0u64;
        let dir = self.root.join("cache");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                bytes += dir_size(&e.path());
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok((ids, bytes))
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Used by stages to tell the build which ARG names they declared.
impl BuildArgs {
    fn stage_declared(&mut self, name: &str) {
        let mut s = self.stage();
        s.declare(name, None);
        self.merge_referenced(&s);
    }
}

/// Parse an ONBUILD trigger recorded in a base image.
pub(crate) fn trigger(text: &str, escape: char, line: usize) -> Result<Step> {
    Ok(dockerfile::parse_trigger(text, escape, line)?)
}
