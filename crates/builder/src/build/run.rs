//! RUN: the command (shell or exec form, here-documents as BuildKit runs
//! them), the build arguments in its environment and in its history entry
//! (`|N K=V … /bin/sh -c …`), the cache probe, and the container through the
//! engine's [`crate::runner::StepRunner`].

use berth_image::CommitOptions;
use berth_image::spec::HealthConfig;

use super::mounts;
use super::stage::{StageRun, State, resolve_cmd};
use crate::cache;
use crate::dockerfile::{CmdLine, Run};
use crate::error::{BuildError, Result};
use crate::runner::{RunMount, RunSpec};

/// The arguments a RUN executes, and a script file to mount for a `#!` here-document.
pub(crate) fn run_args(r: &Run, shell: &[String]) -> (Vec<String>, Option<(String, String)>) {
    let CmdLine::Shell(text) = &r.cmd else {
        return (resolve_cmd(&r.cmd, shell), None);
    };
    if r.heredocs.is_empty() {
        return (resolve_cmd(&r.cmd, shell), None);
    }
    let words = crate::dockerfile::scan::words(text, '\\');
    let only_heredoc = words.len() == 1 && words[0].starts_with("<<");
    if only_heredoc && r.heredocs.len() == 1 {
        let h = &r.heredocs[0];
        if h.body.starts_with("#!") {
            // A script with its own interpreter: mount it and execute it.
            return (
                vec![format!("/dev/pipes/{}", h.name)],
                Some((h.name.clone(), h.body.clone())),
            );
        }
        // The body is the script, run by the shell (BuildKit's "fake" here-document).
        return (resolve_cmd(&CmdLine::Shell(h.body.clone()), shell), None);
    }
    // Give the shell the command and the documents, as a real here-document.
    let mut full = text.clone();
    for h in &r.heredocs {
        full.push('\n');
        full.push_str(&h.body);
        full.push_str(&h.name);
    }
    (resolve_cmd(&CmdLine::Shell(full), shell), None)
}

impl StageRun {
    pub(crate) async fn run_step(&self, st: &mut State, r: &Run) -> Result<()> {
        let sh = Self::shell(st);
        let (cmd, script) = run_args(r, &sh);
        let cfg_env = st.config.env.clone().unwrap_or_default();
        let hist_env = self.args.history_env(&cfg_env);
        let mut save_cmd = cmd.clone();
        if !self.args.run_env(&cfg_env).is_empty() {
            save_cmd = std::iter::once(format!("|{}", hist_env.len()))
                .chain(hist_env)
                .chain(cmd.iter().cloned())
                .collect();
        }
        let mut probe = Self::next_config(st);
        probe.cmd = Some(save_cmd.clone());
        if !save_cmd.is_empty() {
            probe.entrypoint = None;
        }
        // RUN --mount sources take part in the key through their spec.
        if !r.mounts.is_empty() {
            probe
                .extra
                .insert("BerthMounts".into(), serde_json::json!(r.mounts));
        }
        let Some(key) = self.probe(st, &probe) else {
            return Ok(());
        };
        let parent = st.image.clone().ok_or_else(|| {
            BuildError::Invalid("Please provide a source image with `from` prior to run".into())
        })?;
        let mut host = self.opts.host.clone();
        match r.network.as_deref() {
            None | Some("default") => {}
            Some(n @ ("none" | "host")) => host.network_mode = n.to_string(),
            Some(n) => {
                return Err(BuildError::Invalid(format!(
                    "unsupported network mode {n:?} for RUN --network"
                )));
            }
        }
        if let Some(s) = r.security.as_deref().filter(|s| *s != "sandbox") {
            return Err(BuildError::Invalid(format!(
                "RUN --security={s} is not supported"
            )));
        }
        let mut run_mounts: Vec<RunMount> = Vec::new();
        let mut releases = Vec::new();
        for m in &r.mounts {
            let (mount, release) = mounts::prepare(self, st, m).await?;
            run_mounts.push(mount);
            releases.extend(release);
        }
        if let Some((name, body)) = script {
            let dir = super::layer::temp_dir(&self.b, &self.build_id)?;
            let f = dir.join(&name);
            std::fs::write(&f, body).map_err(|e| BuildError::io("write here-document", e))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755));
            run_mounts.push(RunMount::Bind {
                source: f,
                target: format!("/dev/pipes/{name}"),
                read_only: true,
            });
        }
        let mut config = Self::next_config(st);
        config.cmd = Some(cmd.clone());
        if !cmd.is_empty() {
            config.entrypoint = Some(vec![String::new()]);
        }
        let mut env = cfg_env.clone();
        env.extend(self.args.run_env(&cfg_env));
        config.env = Some(env);
        config.healthcheck = Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
        config.image = parent.clone();
        let spec = RunSpec {
            image: parent.clone(),
            config,
            host,
            mounts: run_mounts,
            build_id: self.build_id.clone(),
        };
        let res = self
            .run_container(&spec, &cmd, st, &save_cmd, &parent)
            .await;
        for rel in releases {
            rel.release().await;
        }
        let id = res?;
        cache::put(&self.b.store, &key, &id);
        st.image = Some(id);
        Ok(())
    }

    async fn run_container(
        &self,
        spec: &RunSpec,
        cmd: &[String],
        st: &State,
        save_cmd: &[String],
        parent: &str,
    ) -> Result<String> {
        let runner = &self.b.runner;
        let id = runner.create(spec).await?;
        self.out
            .stream(format!(" ---> Running in {}\n", berth_core::id::short(&id)));
        let outcome = match runner.run(&id, &self.out, &self.cancel).await {
            Ok(0) => {
                let opts = CommitOptions {
                    config: Self::next_config(st),
                    author: st.maintainer.clone(),
                    created_by: save_cmd.join(" "),
                    ..Default::default()
                };
                runner.commit(&id, Some(parent), opts).await
            }
            Ok(code) => Err(BuildError::Run {
                message: format!(
                    "The command '{}' returned a non-zero code: {code}",
                    cmd.join(" ")
                ),
                code,
            }),
            Err(e) => Err(e),
        };
        // The issue asks that failed builds leave no containers: remove on failure too.
        if self.opts.rm || self.opts.force_rm || outcome.is_err() {
            if outcome.is_ok() {
                self.out.stream(format!(
                    "Removing intermediate container {}\n",
                    berth_core::id::short(&id)
                ));
            }
            if let Err(e) = runner.remove(&id).await {
                tracing::warn!(%id, "remove build container: {e}");
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::Heredoc;

    fn h(name: &str, body: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            expand: true,
            strip_tabs: false,
            body: body.into(),
            word_index: 0,
        }
    }

    #[test]
    fn heredoc_forms() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        let r = Run {
            mounts: vec![],
            network: None,
            security: None,
            cmd: CmdLine::Shell("<<EOF".into()),
            heredocs: vec![h("EOF", "echo a\necho b\n")],
        };
        assert_eq!(
            run_args(&r, &sh).0,
            vec!["/bin/sh", "-c", "echo a\necho b\n"]
        );
        let r = Run {
            cmd: CmdLine::Shell("cat <<EOF > /f".into()),
            ..r
        };
        assert_eq!(
            run_args(&r, &sh).0,
            vec!["/bin/sh", "-c", "cat <<EOF > /f\necho a\necho b\nEOF"]
        );
        let r = Run {
            cmd: CmdLine::Shell("<<EOF".into()),
            heredocs: vec![h("EOF", "#!/bin/sh\necho x\n")],
            ..r
        };
        let (args, script) = run_args(&r, &sh);
        assert_eq!(args, vec!["/dev/pipes/EOF"]);
        assert!(script.is_some());
    }
}
