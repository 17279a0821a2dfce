//! `build` and `builder prune`, as the docker CLI's classic builder does them:
//! the context directory is sent as a tar with `.dockerignore` applied
//! (the Dockerfile and `.dockerignore` always go; a Dockerfile outside the
//! context is added under a generated name), `-` sends stdin (a tar or a
//! Dockerfile), a URL becomes `remote=`. The output is the daemon's stream;
//! a failed step exits with its code.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use berth_api::client;
use berth_builder::ignore::Ignore;
use clap::{Args, Subcommand};
use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;

use super::Ctx;
use super::system::enc;
use crate::ExitCode;
use crate::output::human_size;

/// `build` flags.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag).
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables.
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Suppress the build output and print image ID on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// Set metadata for an image.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build.
    #[arg(long)]
    pub network: Option<String>,
    /// Type of progress output (plain, tty, auto).
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pub pull: bool,
    /// Remove intermediate containers after a successful build.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers.
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Images to consider as cache sources.
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Size of /dev/shm (bytes).
    #[arg(long = "shm-size")]
    pub shm_size: Option<i64>,
    /// Memory limit (bytes).
    #[arg(short = 'm', long)]
    pub memory: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Write the image ID to the file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// PATH | URL | -
    pub context: String,
}

/// `builder` subcommands.
#[derive(Debug, Subcommand)]
pub enum BuilderCmd {
    /// Remove build cache.
    Prune(PruneArgs),
}

/// `builder prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values.
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://")
        || s.starts_with("https://")
        || s.starts_with("git://")
        || s.starts_with("git@")
}

/// Tar `dir` with `.dockerignore` applied; `always` names paths sent regardless.
fn tar_context(dir: &Path, always: &[String], extra: Option<(&str, Vec<u8>)>) -> Result<Vec<u8>> {
    let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(t) => Ignore::parse(&t).map_err(anyhow::Error::msg)?,
        Err(_) => Ignore::default(),
    };
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        let mut names: Vec<_> = std::fs::read_dir(&full)
            .with_context(|| format!("read {}", full.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let rs = r.to_string_lossy().into_owned();
            let p = dir.join(&r);
            let md = std::fs::symlink_metadata(&p)?;
            let excluded = !always.contains(&rs) && ignore.excluded(&rs);
            if md.is_dir() {
                // An excluded directory may still hold re-included files.
                if !excluded {
                    b.append_path_with_name(&p, &r)?;
                }
                if !excluded || ignore.has_exceptions() {
                    stack.push(r);
                }
            } else if !excluded {
                b.append_path_with_name(&p, &r)
                    .with_context(|| format!("add {}", p.display()))?;
            }
        }
    }
    if let Some((name, data)) = extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..])?;
    }
    Ok(b.into_inner()?)
}

/// `build`.
pub async fn build(ctx: &Ctx, a: BuildArgs) -> Result<()> {
    if !matches!(a.progress.as_str(), "auto" | "plain" | "tty") {
        bail!(
            "invalid --progress value {:?}: use auto, plain or tty",
            a.progress
        );
    }
    let mut q: Vec<String> = Vec::new();
    for t in &a.tags {
        q.push(format!("t={}", enc(t)));
    }
    let mut body = Vec::new();
    let mut dockerfile: Option<String> = None;
    if a.context == "-" {
        std::io::stdin().read_to_end(&mut body)?;
    } else if is_url(&a.context) {
        q.push(format!("remote={}", enc(&a.context)));
        dockerfile = a.file.clone();
    } else {
        let dir = PathBuf::from(&a.context);
        if !dir.is_dir() {
            bail!("unable to prepare context: path {:?} not found", a.context);
        }
        let df_path = match &a.file {
            Some(f) if f == "-" => None,
            Some(f) => Some(PathBuf::from(f)),
            None => Some(dir.join("Dockerfile")),
        };
        let (name, extra) = match &df_path {
            None => {
                let mut d = Vec::new();
                std::io::stdin().read_to_end(&mut d)?;
                let n = format!(".dockerfile.{}", &berth_core::id::generate()[..20]);
                (n.clone(), Some((n, d)))
            }
            Some(p) => {
                let abs_dir = dir.canonicalize()?;
                let abs = p.canonicalize().with_context(|| {
                    format!("unable to prepare context: {} not found", p.display())
                })?;
                match abs.strip_prefix(&abs_dir) {
                    Ok(rel) => (rel.to_string_lossy().into_owned(), None),
                    Err(_) => {
                        let n = format!(".dockerfile.{}", &berth_core::id::generate()[..20]);
                        (n.clone(), Some((n, std::fs::read(&abs)?)))
                    }
                }
            }
        };
        body = tar_context(
            &dir,
            &[name.clone(), ".dockerignore".into()],
            extra.as_ref().map(|(n, d)| (n.as_str(), d.clone())),
        )?;
        dockerfile = Some(name);
        if !a.quiet {
            println!(
                "Sending build context to berth daemon  {}",
                human_size(body.len() as i64)
            );
        }
    }
    if let Some(f) = &dockerfile {
        q.push(format!("dockerfile={}", enc(f)));
    }
    let mut args = serde_json::Map::new();
    for b in &a.build_args {
        match b.split_once('=') {
            Some((k, v)) => args.insert(k.to_string(), Value::String(v.to_string())),
            None => args.insert(
                b.clone(),
                std::env::var(b).map(Value::String).unwrap_or(Value::Null),
            ),
        };
    }
    if !args.is_empty() {
        q.push(format!(
            "buildargs={}",
            enc(&Value::Object(args).to_string())
        ));
    }
    let labels: serde_json::Map<String, Value> = a
        .labels
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), Value::String(v.to_string()))
        })
        .collect();
    if !labels.is_empty() {
        q.push(format!(
            "labels={}",
            enc(&Value::Object(labels).to_string())
        ));
    }
    if !a.cache_from.is_empty() {
        q.push(format!(
            "cachefrom={}",
            enc(&serde_json::to_string(&a.cache_from)?)
        ));
    }
    let opt = |q: &mut Vec<String>, k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            q.push(format!("{k}={}", enc(&v)));
        }
    };
    opt(&mut q, "target", a.target.clone());
    opt(&mut q, "networkmode", a.network.clone());
    opt(&mut q, "platform", a.platform.clone());
    opt(&mut q, "cpusetcpus", a.cpuset_cpus.clone());
    opt(&mut q, "shmsize", a.shm_size.map(|v| v.to_string()));
    opt(&mut q, "memory", a.memory.map(|v| v.to_string()));
    if !a.add_host.is_empty() {
        q.push(format!("extrahosts={}", enc(&a.add_host.join(","))));
    }
    for (k, v) in [
        ("nocache", a.no_cache),
        ("q", a.quiet),
        ("pull", a.pull),
        ("forcerm", a.force_rm),
    ] {
        if v {
            q.push(format!("{k}=1"));
        }
    }
    q.push(format!("rm={}", u8::from(a.rm)));
    let path = format!("/build?{}", q.join("&"));
    let h = [("Content-Type", "application/x-tar")];
    let resp = ctx
        .client
        .request(Method::POST, &path, client::bytes(body), &h)
        .await?;
    let mut image_id = String::new();
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = std::io::stdout().lock();
    let handle = |line: &[u8], out: &mut dyn Write, image_id: &mut String| -> Result<()> {
        let Ok(m) = serde_json::from_slice::<Value>(line) else {
            return Ok(());
        };
        if let Some(msg) = m["errorDetail"]["message"].as_str().or(m["error"].as_str()) {
            out.flush()?;
            eprintln!("{msg}");
            let code = m["errorDetail"]["code"]
                .as_i64()
                .filter(|c| *c != 0)
                .unwrap_or(1);
            return Err(ExitCode(i32::try_from(code).unwrap_or(1)).into());
        }
        if let Some(id) = m["aux"]["ID"].as_str() {
            *image_id = id.to_string();
            return Ok(());
        }
        if let Some(s) = m["stream"].as_str() {
            if a.quiet {
                if s.trim().starts_with("sha256:") {
                    *image_id = s.trim().to_string();
                }
            } else {
                out.write_all(s.as_bytes())?;
                out.flush()?;
            }
            return Ok(());
        }
        if let Some(st) = m["status"].as_str().filter(|_| !a.quiet) {
            match m["id"].as_str() {
                Some(id) if m["progressDetail"]["current"].is_null() => {
                    writeln!(out, "{id}: {st}")?
                }
                Some(_) => {}
                None => writeln!(out, "{st}")?,
            }
        }
        Ok(())
    };
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            buf.extend_from_slice(data);
        }
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            handle(&line, &mut out, &mut image_id)?;
        }
    }
    handle(&buf, &mut out, &mut image_id)?;
    if a.quiet {
        writeln!(out, "{image_id}")?;
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &image_id).with_context(|| format!("write {}", f.display()))?;
    }
    Ok(())
}

/// `builder …`.
pub async fn run(ctx: &Ctx, cmd: BuilderCmd) -> Result<()> {
    match cmd {
        BuilderCmd::Prune(a) => prune(ctx, a).await,
    }
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<()> {
    if !a.force {
        let what = if a.all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let filters = super::system::filters_json(&a.filter)?;
    let mut path = format!("/build/prune?all={}", u8::from(a.all));
    if !a.filter.is_empty() {
        let f = filters;
        path.push_str(&format!("&filters={}", enc(&f)));
    }
    let v: Value = ctx.client.post_json::<Value, Value>(&path, None).await?;
    if let Some(ids) = v["CachesDeleted"].as_array().filter(|a| !a.is_empty()) {
        println!("Deleted build cache objects:");
        for id in ids {
            println!("{}", id.as_str().unwrap_or(""));
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Ok(())
}
