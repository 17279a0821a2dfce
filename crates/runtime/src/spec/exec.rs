//! The OCI `process` of a `docker exec`, derived from the container's spec as Docker
//! does: the container's environment with the exec's on top, its user and working
//! directory unless overridden, its capabilities (all of them for `--privileged`),
//! and its no-new-privileges and rlimits.

use std::path::Path;

use oci_spec::runtime::{LinuxCapabilitiesBuilder, Process, Spec, UserBuilder};

use super::{caps, user};
use crate::error::{Result, RuntimeError};

/// What `docker exec` asks for.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    /// Command and arguments.
    pub args: Vec<String>,
    /// Extra `KEY=value` pairs.
    pub env: Vec<String>,
    /// `--user`; empty keeps the container's user.
    pub user: String,
    /// `--workdir`; empty keeps the container's.
    pub cwd: String,
    /// `--tty`.
    pub tty: bool,
    /// `--privileged`.
    pub privileged: bool,
}

/// Build the exec's process from the container's spec (`config.json`).
pub fn process(container: &Spec, rootfs: &Path, e: &ExecSpec) -> Result<Process> {
    if e.args.is_empty() {
        return Err(RuntimeError::Invalid("No exec command specified".into()));
    }
    let base = container
        .process()
        .clone()
        .ok_or_else(|| RuntimeError::Spec("container spec has no process".into()))?;
    let mut p = base.clone();
    p.set_args(Some(e.args.clone()));
    p.set_terminal(Some(e.tty));
    p.set_console_size(None);
    let mut env: Vec<String> = base.env().clone().unwrap_or_default();
    for kv in &e.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    if e.tty && !env.iter().any(|x| x.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    p.set_env(Some(env));
    if !e.cwd.is_empty() {
        p.set_cwd(e.cwd.clone().into());
    }
    if !e.user.is_empty() {
        let who = user::resolve(rootfs, &e.user, &[])?;
        let mut u = UserBuilder::default().uid(who.uid).gid(who.gid);
        if !who.additional_gids.is_empty() {
            u = u.additional_gids(who.additional_gids);
        }
        p.set_user(u.build()?);
    }
    if e.privileged {
        let all = caps::to_oci(&caps::grantable())?;
        let mut c = LinuxCapabilitiesBuilder::default()
            .bounding(all.clone())
            .effective(all.clone())
            .permitted(all)
            .build()?;
        c.set_inheritable(None);
        c.set_ambient(None);
        p.set_capabilities(Some(c));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ContainerSpec, build};

    #[test]
    fn inherits_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbob:x:7:8::/home/bob:/bin/sh\n",
        )
        .unwrap();
        let c = ContainerSpec {
            id: "x".into(),
            rootfs: d.path().to_path_buf(),
            args: vec!["sleep".into()],
            env: vec!["A=1".into(), "B=2".into()],
            cwd: "/srv".into(),
            ..ContainerSpec::default()
        };
        let spec = build(&c).unwrap().spec;
        let e = ExecSpec {
            args: vec!["sh".into()],
            env: vec!["B=3".into()],
            user: "bob".into(),
            tty: true,
            ..ExecSpec::default()
        };
        let p = process(&spec, d.path(), &e).unwrap();
        let env = p.env().clone().unwrap();
        assert!(
            env.contains(&"A=1".into())
                && env.contains(&"B=3".into())
                && !env.contains(&"B=2".into())
        );
        assert!(env.contains(&"TERM=xterm".into()));
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
        assert_eq!(p.cwd(), Path::new("/srv"));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(
            p.capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            14
        );
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["args"][0], "sh");
        assert!(process(&spec, d.path(), &ExecSpec::default()).is_err());
    }
}
