//! One stage: FROM, then each instruction in turn, keeping the state the
//! classic builder keeps (the current image, the next image's config, the
//! ARGs in scope, the maintainer) and committing an image per step.

use std::collections::HashSet;
use std::sync::Arc;

use berth_image::CommitOptions;
use berth_image::spec::{ContainerConfig, HealthConfig};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::layer::{TempLayer, blocking};
use super::{BuildOptions, Builder};
use crate::args::StageArgs;
use crate::cache;
use crate::context::Context;
use crate::dockerfile::shell::{self, Env};
use crate::dockerfile::{CmdLine, Dockerfile, Instruction, Step};
use crate::error::{BuildError, Result};
use crate::history;
use crate::output::Output;

/// Docker's default PATH for Linux images without one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Result channel of a stage: `None` while it runs.
pub(crate) type StageResult = watch::Receiver<Option<std::result::Result<Option<String>, ()>>>;

/// Everything a running stage needs.
pub(crate) struct StageRun {
    pub b: Arc<Builder>,
    pub df: Arc<Dockerfile>,
    pub ctx: Arc<Context>,
    pub opts: Arc<BuildOptions>,
    pub index: usize,
    pub first_step: usize,
    pub total: usize,
    pub meta: Env,
    pub args: StageArgs,
    pub out: Output,
    pub cancel: CancellationToken,
    pub results: Vec<StageResult>,
    pub build_id: String,
    pub labels: Vec<(String, String)>,
    /// Images `--cache-from` allows reusing (see [`cache::sources`]); `None`: any.
    pub cache_sources: Option<Arc<HashSet<String>>>,
}

/// The builder's state within a stage.
pub(crate) struct State {
    /// Current image (`None`: scratch so far).
    pub image: Option<String>,
    /// The next image's config.
    pub config: ContainerConfig,
    /// A CMD was set in this stage (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// MAINTAINER (the image author).
    pub maintainer: String,
}

impl StageRun {
    /// Run the stage; returns its image and the ARG names it declared.
    pub async fn run(mut self) -> Result<(Option<String>, Vec<String>)> {
        let stage = self.df.stages[self.index].clone();
        let mut n = self.first_step;
        self.out
            .stream(format!("Step {n}/{} : {}\n", self.total, stage.original));
        let mut st = self.from(&stage.base, stage.platform.as_deref()).await?;
        // ONBUILD triggers of the base run right after FROM.
        let triggers = st.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            self.out.stream(format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() > 1 { "s" } else { "" }
            ));
            for t in triggers {
                let step = super::trigger(&t, self.df.escape, stage.line)?;
                self.dispatch(&mut st, &step).await?;
            }
        }
        self.out
            .stream(format!(" ---> {}\n", short(st.image.as_deref())));
        let mut steps = stage.steps.clone();
        for (k, v) in &self.labels {
            steps.push(Step {
                line: stage.line,
                original: format!("LABEL {k}={v}"),
                inst: Instruction::Label(vec![(quote_word(k), quote_word(v))]),
            });
        }
        for step in &steps {
            if self.cancel.is_cancelled() {
                self.out.stream("Build cancelled\n");
                return Err(BuildError::Cancelled);
            }
            n += 1;
            self.out
                .stream(format!("Step {n}/{} : {}\n", self.total, step.original));
            self.dispatch(&mut st, step).await?;
            self.out
                .stream(format!(" ---> {}\n", short(st.image.as_deref())));
        }
        let declared = self.args.declared().cloned().collect();
        Ok((st.image, declared))
    }

    /// Wait for an earlier stage's image.
    pub async fn stage_image(&self, j: usize) -> Result<Option<String>> {
        let mut rx = self.results[j].clone();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r.map_err(|_| BuildError::Cancelled);
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(BuildError::Cancelled);
                    }
                }
                _ = self.cancel.cancelled() => return Err(BuildError::Cancelled),
            }
        }
    }

    /// Resolve an image reference locally, pulling it when missing (or always with `pull`).
    pub async fn image(&self, name: &str, platform: Option<&str>) -> Result<berth_image::Image> {
        let local = if self.opts.pull {
            None
        } else {
            self.b.images.resolve(name).ok()
        };
        match local {
            Some(img) => Ok(img),
            None => {
                let id = self.b.runner.pull(name, platform, &self.out).await?;
                Ok(self.b.images.resolve(&id)?)
            }
        }
    }

    async fn from(&self, base: &str, platform: Option<&str>) -> Result<State> {
        let name = shell::word(base, &self.meta, self.df.escape).map_err(BuildError::Invalid)?;
        if name.is_empty() {
            return Err(BuildError::Invalid(format!(
                "base name ({base}) should not be blank"
            )));
        }
        let platform = match platform {
            Some(p) => {
                Some(shell::word(p, &self.meta, self.df.escape).map_err(BuildError::Invalid)?)
            }
            None if !self.opts.platform.is_empty() => Some(self.opts.platform.clone()),
            None => None,
        };
        let (image, mut config) = match self.df.stage_index(&name).filter(|j| *j < self.index) {
            Some(j) => match self.stage_image(j).await? {
                Some(id) => {
                    let img = self.b.images.resolve(&id)?;
                    (Some(img.id), img.config)
                }
                None => (None, ContainerConfig::default()),
            },
            None if name.eq_ignore_ascii_case("scratch") => (None, ContainerConfig::default()),
            None => {
                let img = self.image(&name, platform.as_deref()).await?;
                (Some(img.id), img.config)
            }
        };
        let env = config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        config.extra.remove("OpenStdin");
        config.extra.remove("StdinOnce");
        Ok(State {
            image,
            config,
            cmd_set: false,
            maintainer: String::new(),
        })
    }

    /// The environment instructions expand with: ENV, then ARGs no ENV overrides.
    pub fn env(&self, st: &State) -> Env {
        let cfg_env = st.config.env.clone().unwrap_or_default();
        let mut e = Env::default();
        for (k, v) in self.args.visible(&cfg_env) {
            e.push(k, v);
        }
        for kv in Env::from_list(cfg_env.iter()).0 {
            e.push(kv.0, kv.1);
        }
        e
    }

    pub fn expand(&self, st: &State, w: &str) -> Result<String> {
        shell::word(w, &self.env(st), self.df.escape).map_err(BuildError::Invalid)
    }

    /// The shell for shell forms.
    pub fn shell(st: &State) -> Vec<String> {
        st.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// The config committed with the next image.
    pub fn next_config(st: &State) -> ContainerConfig {
        let mut c = st.config.clone();
        c.image = st.image.clone().unwrap_or_default();
        c
    }

    /// Look a step up: `None` on a hit (the state moves to the cached image,
    /// ` ---> Using cache` is printed), else the key to store the new image under.
    pub fn probe(&self, st: &mut State, probe: &ContainerConfig) -> Option<String> {
        let key = cache::key(st.image.as_deref(), probe);
        if !self.opts.no_cache
            && let Some(id) = cache::get(&self.b.store, &key)
                .filter(|id| self.cache_sources.as_ref().is_none_or(|s| s.contains(id)))
                .filter(|id| self.b.images.resolve(id).is_ok())
        {
            self.out.stream(" ---> Using cache\n");
            st.image = Some(id);
            return None;
        }
        Some(key)
    }

    /// Commit a step that changes only metadata.
    pub async fn commit_meta(&self, st: &mut State, created_by: Vec<String>) -> Result<()> {
        let mut probe = Self::next_config(st);
        probe.cmd = Some(created_by.clone());
        let Some(key) = self.probe(st, &probe) else {
            return Ok(());
        };
        let opts = CommitOptions {
            config: Self::next_config(st),
            author: st.maintainer.clone(),
            created_by: created_by.join(" "),
            empty_layer: true,
            ..Default::default()
        };
        let images = self.b.images.clone();
        let parent = st.image.clone();
        let id = blocking(move || Ok(images.commit(None, parent.as_deref(), opts)?)).await?;
        cache::put(&self.b.store, &key, &id);
        st.image = Some(id);
        Ok(())
    }

    async fn dispatch(&mut self, st: &mut State, step: &Step) -> Result<()> {
        let sh = Self::shell(st);
        match &step.inst {
            Instruction::Env(pairs) => {
                let env = self.env(st);
                let mut msg = String::from("ENV");
                let cfg_env = st.config.env.get_or_insert_with(Vec::new);
                for (k, v) in pairs {
                    let k = shell::word(k, &env, self.df.escape).map_err(BuildError::Invalid)?;
                    let v = shell::word(v, &env, self.df.escape).map_err(BuildError::Invalid)?;
                    let kv = format!("{k}={v}");
                    msg.push(' ');
                    msg.push_str(&kv);
                    match cfg_env
                        .iter_mut()
                        .find(|e| e.split('=').next() == Some(k.as_str()))
                    {
                        Some(e) => *e = kv,
                        None => cfg_env.push(kv),
                    }
                }
                self.commit_meta(st, history::nop(&sh, &msg)).await
            }
            Instruction::Label(pairs) => {
                let env = self.env(st);
                let mut msg = String::from("LABEL");
                let labels = st.config.labels.get_or_insert_with(Default::default);
                for (k, v) in pairs {
                    let k = shell::word(k, &env, self.df.escape).map_err(BuildError::Invalid)?;
                    let v = shell::word(v, &env, self.df.escape).map_err(BuildError::Invalid)?;
                    msg.push_str(&format!(" {k}={v}"));
                    labels.insert(k, v);
                }
                self.commit_meta(st, history::nop(&sh, &msg)).await
            }
            Instruction::Arg(decls) => {
                let mut msg = String::from("ARG");
                for (k, v) in decls {
                    let v = match v {
                        Some(v) => Some(self.expand(st, v)?),
                        None => None,
                    };
                    msg.push(' ');
                    msg.push_str(k);
                    if let Some(v) = &v {
                        msg.push('=');
                        msg.push_str(v);
                    }
                    self.args.declare(k, v);
                }
                self.commit_meta(st, history::nop(&sh, &msg)).await
            }
            Instruction::Maintainer(m) => {
                st.maintainer = m.clone();
                self.commit_meta(st, history::nop(&sh, &format!("MAINTAINER {m}")))
                    .await
            }
            Instruction::User(u) => {
                let u = self.expand(st, u)?;
                st.config.user = u.clone();
                self.commit_meta(st, history::nop(&sh, &format!("USER {u}")))
                    .await
            }
            Instruction::StopSignal(s) => {
                let s = self.expand(st, s)?;
                if !valid_signal(&s) {
                    return Err(BuildError::Invalid(format!("Invalid signal: {s}")));
                }
                st.config.stop_signal = s.clone();
                self.commit_meta(st, history::nop(&sh, &format!("STOPSIGNAL {s}")))
                    .await
            }
            Instruction::Expose(ports) => {
                let env = self.env(st);
                let mut all = Vec::new();
                for p in ports {
                    all.extend(shell::words(p, &env, self.df.escape).map_err(BuildError::Invalid)?);
                }
                let set = st.config.exposed_ports.get_or_insert_with(Default::default);
                for p in &all {
                    for k in port_keys(p)? {
                        set.insert(k, serde_json::json!({}));
                    }
                }
                self.commit_meta(st, history::nop(&sh, &format!("EXPOSE {}", all.join(" "))))
                    .await
            }
            Instruction::Volume(vols) => {
                let mut vs = Vec::new();
                for v in vols {
                    let v = self.expand(st, v)?;
                    if v.is_empty() {
                        return Err(BuildError::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    vs.push(v);
                }
                let set = st.config.volumes.get_or_insert_with(Default::default);
                for v in &vs {
                    set.insert(v.clone(), serde_json::json!({}));
                }
                self.commit_meta(
                    st,
                    history::nop(&sh, &format!("VOLUME {}", history::plain_list(&vs))),
                )
                .await
            }
            Instruction::Shell(s) => {
                st.config.shell = Some(s.clone());
                self.commit_meta(
                    st,
                    history::nop(&sh, &format!("SHELL {}", history::plain_list(s))),
                )
                .await
            }
            Instruction::Cmd(c) => {
                let cmd = resolve_cmd(c, &sh);
                st.cmd_set = !cmd.is_empty();
                st.config.cmd = Some(cmd.clone());
                self.commit_meta(
                    st,
                    history::nop(&sh, &format!("CMD {}", history::quote_list(&cmd))),
                )
                .await
            }
            Instruction::Entrypoint(c) => {
                let ep = resolve_cmd(c, &sh);
                st.config.entrypoint = Some(ep.clone());
                if !st.cmd_set {
                    st.config.cmd = None;
                }
                self.commit_meta(
                    st,
                    history::nop(&sh, &format!("ENTRYPOINT {}", history::quote_list(&ep))),
                )
                .await
            }
            Instruction::Healthcheck(h) => {
                if let Some(old) = st.config.healthcheck.as_ref().and_then(|h| h.test.clone())
                    && old.first().is_some_and(|t| t != "NONE")
                {
                    self.out.stream(format!(
                        "Note: overriding previous HEALTHCHECK: {}\n",
                        history::plain_list(&old)
                    ));
                }
                let nz = |v: i64| (v != 0).then_some(v);
                st.config.healthcheck = Some(HealthConfig {
                    test: Some(h.test.clone()),
                    interval: nz(h.interval),
                    timeout: nz(h.timeout),
                    start_period: nz(h.start_period),
                    start_interval: nz(h.start_interval),
                    retries: nz(h.retries),
                });
                self.commit_meta(
                    st,
                    history::nop(&sh, &format!("HEALTHCHECK {}", history::health(h))),
                )
                .await
            }
            Instruction::Onbuild(expr) => {
                st.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expr.clone());
                self.commit_meta(st, history::nop(&sh, &format!("ONBUILD {expr}")))
                    .await
            }
            Instruction::Workdir(w) => {
                let w = self.expand(st, w)?;
                let dir = normalize_workdir(&st.config.working_dir, &w);
                st.config.working_dir = dir.clone();
                self.workdir(st, &dir, history::nop1(&sh, &format!("WORKDIR {dir}")))
                    .await
            }
            Instruction::Run(r) => self.run_step(st, r).await,
            Instruction::Copy(c) => self.copy_step(st, c, false).await,
            Instruction::Add(c) => self.copy_step(st, c, true).await,
        }
    }

    /// WORKDIR creates the directory (a layer when it was missing).
    async fn workdir(&self, st: &mut State, dir: &str, created_by: Vec<String>) -> Result<()> {
        let mut probe = Self::next_config(st);
        probe.cmd = Some(created_by.clone());
        let Some(key) = self.probe(st, &probe) else {
            return Ok(());
        };
        let opts = CommitOptions {
            config: Self::next_config(st),
            author: st.maintainer.clone(),
            created_by: created_by.join(" "),
            ..Default::default()
        };
        let (b, parent, build, dir) = (
            self.b.clone(),
            st.image.clone(),
            self.build_id.clone(),
            dir.to_string(),
        );
        let id = blocking(move || {
            let layer = TempLayer::open(&b, parent.as_deref(), &build)?;
            let exists = crate::fsops::host_path(&layer.mnt, &dir, true).is_dir();
            if exists {
                layer.close(None)?;
                let mut opts = opts;
                opts.empty_layer = true;
                return Ok(b.images.commit(None, parent.as_deref(), opts)?);
            }
            crate::fsops::mkdir_all(&layer.mnt, &dir, (0, 0)).map_err(BuildError::Invalid)?;
            layer
                .close(Some((parent.as_deref(), opts)))?
                .ok_or_else(|| BuildError::Invalid("commit failed".into()))
        })
        .await?;
        cache::put(&self.b.store, &key, &id);
        st.image = Some(id);
        Ok(())
    }
}

/// ` ---> <12 hex>` (empty for scratch).
pub fn short(id: Option<&str>) -> String {
    id.map(|i| berth_core::id::short(i).to_string())
        .unwrap_or_default()
}

/// A label from `--label` as a word expansion leaves it unchanged.
fn quote_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// CMD/ENTRYPOINT/RUN arguments: exec form as is, shell form with the shell.
pub fn resolve_cmd(c: &CmdLine, shell: &[String]) -> Vec<String> {
    match c {
        CmdLine::Exec(v) => v.clone(),
        CmdLine::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    }
}

/// WORKDIR: relative to the previous one, cleaned, absolute.
pub fn normalize_workdir(current: &str, requested: &str) -> String {
    let joined = if requested.starts_with('/') {
        requested.to_string()
    } else {
        format!(
            "{}/{requested}",
            if current.is_empty() { "/" } else { current }
        )
    };
    format!("/{}", crate::ignore::clean(&joined))
}

fn valid_signal(s: &str) -> bool {
    if s.parse::<u32>().is_ok_and(|n| n > 0 && n < 65) {
        return true;
    }
    let name = s.trim_start_matches("SIG");
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    NAMES.contains(&name) || name.starts_with("RTMIN") || name.starts_with("RTMAX")
}

/// `80`, `80/udp`, `8000-8002/tcp`, `1.2.3.4:80:80` → `["80/tcp", …]`.
fn port_keys(p: &str) -> Result<Vec<String>> {
    let bad = || BuildError::Invalid(format!("invalid containerPort: {p}"));
    let container = p.rsplit(':').next().unwrap_or(p);
    let (range, proto) = container.split_once('/').unwrap_or((container, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(BuildError::Invalid(format!("invalid proto: {proto}")));
    }
    let (a, b) = match range.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let a = range.parse::<u16>().map_err(|_| bad())?;
            (a, a)
        }
    };
    if b < a {
        return Err(bad());
    }
    Ok((a..=b).map(|n| format!("{n}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(normalize_workdir("/app", "sub/../x"), "/app/x");
        assert_eq!(normalize_workdir("", "rel"), "/rel");
        assert_eq!(normalize_workdir("/a", "/b/"), "/b");
        assert_eq!(port_keys("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(port_keys("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            port_keys("8000-8001").unwrap(),
            vec!["8000/tcp", "8001/tcp"]
        );
        assert!(port_keys("x").is_err());
        assert!(
            valid_signal("SIGTERM")
                && valid_signal("9")
                && valid_signal("KILL")
                && !valid_signal("SIGNOPE")
        );
    }
}
