//! OCI runtime spec generation from a [`ContainerSpec`], with Docker's defaults.
//!
//! [`build`] turns the engine's runtime-neutral description into an
//! `oci_spec::runtime::Spec`; [`write_bundle`] stores it as `<bundle>/config.json`.
//! The spec is runtime-neutral (youki's libcontainer and runc read the same file).

pub mod caps;
pub mod exec;
pub mod input;
pub mod mounts;
pub mod resources;
pub mod seccomp;
pub mod seccomp_default;
pub mod signal;
pub mod user;

use std::path::Path;

use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespace, LinuxNamespaceType, LinuxResources,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

pub use input::*;

use crate::error::{Result, RuntimeError};

/// The spec plus the warnings Docker would return from `create`.
#[derive(Debug, Clone)]
pub struct BuiltSpec {
    /// The OCI spec.
    pub spec: Spec,
    /// Non-fatal adjustments (clamped ulimits, unsupported cgroup knobs).
    pub warnings: Vec<String>,
}

/// Docker's default `PATH` when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Generate the OCI spec.
pub fn build(c: &ContainerSpec) -> Result<BuiltSpec> {
    let mut warnings = Vec::new();
    if c.args.is_empty() {
        return Err(RuntimeError::Invalid("no command specified".into()));
    }
    if !c.rootfs.is_absolute() {
        return Err(RuntimeError::Invalid(format!(
            "rootfs must be an absolute path: {}",
            c.rootfs.display()
        )));
    }
    let who = user::resolve(&c.rootfs, &c.user, &c.group_add)?;
    let caps = caps::effective(c.privileged, &c.cap_add, &c.cap_drop)?;
    let oci_caps = caps::to_oci(&caps)?;

    let mut env = c.env.clone();
    let has = |env: &[String], k: &str| {
        env.iter()
            .any(|e| e.split_once('=').map_or(e.as_str(), |(a, _)| a) == k)
    };
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") && !c.hostname.is_empty() {
        env.insert(1.min(env.len()), format!("HOSTNAME={}", c.hostname));
    }
    if c.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", who.home));
    }

    let mut args = c.args.clone();
    if c.init.is_some() {
        // Docker runs `docker-init -- cmd...`; our init takes the same form.
        args.splice(0..0, [mounts::INIT_PATH.to_string(), "--".to_string()]);
    }

    let mut u = UserBuilder::default().uid(who.uid).gid(who.gid);
    if !who.additional_gids.is_empty() {
        u = u.additional_gids(who.additional_gids.clone());
    }
    let caps_section = LinuxCapabilitiesBuilder::default()
        .bounding(oci_caps.clone())
        .effective(oci_caps.clone())
        .permitted(oci_caps.clone())
        .build()?;
    let mut caps_section = caps_section;
    // Docker leaves inheritable and ambient empty (no capability inheritance across exec of setcap-less binaries).
    caps_section.set_inheritable(None);
    caps_section.set_ambient(None);

    let mut process = ProcessBuilder::default()
        .terminal(c.tty)
        .user(u.build()?)
        .args(args)
        .env(env)
        .cwd(if c.cwd.is_empty() {
            "/".to_string()
        } else {
            c.cwd.clone()
        })
        .capabilities(caps_section)
        .rlimits(resources::rlimits(&c.ulimits, &mut warnings)?)
        .build()?;
    // Absent rather than `false`: libcontainer 0.7 loads seccomp after dropping
    // capabilities whenever the field is present, which fails without NNP.
    process.set_no_new_privileges(c.no_new_privileges.then_some(true));
    if c.resources.oom_score_adj != 0 {
        process.set_oom_score_adj(Some(c.resources.oom_score_adj));
    }

    let ns = &c.namespaces;
    let mut namespaces = vec![ns_entry(LinuxNamespaceType::Mount, &NsMode::Private)];
    for (typ, mode) in [
        (LinuxNamespaceType::Network, &ns.network),
        (LinuxNamespaceType::Uts, &ns.uts),
        (LinuxNamespaceType::Pid, &ns.pid),
        (LinuxNamespaceType::Ipc, &ns.ipc),
    ] {
        if *mode != NsMode::Host {
            namespaces.push(ns_entry(typ, mode));
        }
    }
    let cgroupns = ns.cgroup.clone().unwrap_or(if cgroup_v2() {
        NsMode::Private
    } else {
        NsMode::Host
    });
    if cgroupns != NsMode::Host {
        namespaces.push(ns_entry(LinuxNamespaceType::Cgroup, &cgroupns));
    }

    let mut res = LinuxResources::default();
    let mut device_rules = if c.privileged {
        let mut all = oci_spec::runtime::LinuxDeviceCgroup::default();
        all.set_allow(true);
        all.set_access(Some("rwm".into()));
        vec![all]
    } else {
        mounts::default_device_rules()
    };
    let mut devices = if c.privileged {
        mounts::all_host_devices()
    } else {
        Vec::new()
    };
    for d in &c.devices {
        let (dev, rule) = mounts::host_device(d)?;
        devices.retain(|x| x.path() != dev.path());
        devices.push(dev);
        device_rules.push(rule);
    }
    for r in &c.device_cgroup_rules {
        device_rules.push(mounts::parse_device_rule(r)?);
    }
    res.set_devices(Some(device_rules));
    resources::apply(&c.resources, &mut res, &mut warnings)?;

    let cgroups_path = if c.cgroups_path.is_empty() {
        format!("/berth/{}", c.id)
    } else {
        c.cgroups_path.clone()
    };
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(res)
        .cgroups_path(cgroups_path)
        .devices(devices)
        .masked_paths(if c.privileged {
            Vec::new()
        } else {
            c.masked_paths
                .clone()
                .unwrap_or_else(|| mounts::DOCKER_MASKED_PATHS.map(String::from).to_vec())
        })
        .readonly_paths(if c.privileged {
            Vec::new()
        } else {
            c.readonly_paths
                .clone()
                .unwrap_or_else(|| mounts::DOCKER_READONLY_PATHS.map(String::from).to_vec())
        })
        .build()?;
    let sysctls = resources::sysctls(
        &c.sysctls,
        ns.network == NsMode::Host,
        ns.ipc == NsMode::Host,
    )?;
    if !sysctls.is_empty() {
        linux.set_sysctl(Some(sysctls));
    }
    if !c.privileged {
        let profile = match &c.seccomp {
            SeccompMode::Unconfined => None,
            SeccompMode::Default => Some(seccomp_default::profile()),
            SeccompMode::Custom(json) => Some(seccomp::parse(json)?),
        };
        if let Some(p) = profile {
            linux.set_seccomp(Some(seccomp::resolve(&p, &caps)?));
        }
    } else if let SeccompMode::Custom(json) = &c.seccomp {
        // Docker honours an explicit profile even for privileged containers.
        linux.set_seccomp(Some(seccomp::resolve(&seccomp::parse(json)?, &caps)?));
    }

    let mut sb = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(c.rootfs.clone())
                .readonly(c.readonly_rootfs)
                .build()?,
        )
        .process(process)
        .mounts(mounts::all(c)?)
        .linux(linux);
    if ns.uts != NsMode::Host {
        if !c.hostname.is_empty() {
            sb = sb.hostname(c.hostname.clone());
        }
        if !c.domainname.is_empty() {
            sb = sb.domainname(c.domainname.clone());
        }
    }
    Ok(BuiltSpec {
        spec: sb.build()?,
        warnings,
    })
}

fn ns_entry(typ: LinuxNamespaceType, mode: &NsMode) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(typ);
    if let NsMode::Join(p) = mode {
        n.set_path(Some(p.clone()));
    }
    n
}

/// True on a pure cgroup v2 host (`/sys/fs/cgroup` is cgroup2).
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Write `spec` as `<bundle>/config.json` (atomically; bundles live in the exec root,
/// so without fsync, see [`crate::layout::replace_file`]).
pub fn write_bundle(bundle: &Path, spec: &Spec) -> Result<()> {
    std::fs::create_dir_all(bundle)
        .map_err(|e| RuntimeError::io(format!("create bundle {}", bundle.display()), e))?;
    let data = serde_json::to_vec(spec).map_err(|e| RuntimeError::Spec(e.to_string()))?;
    let file = bundle.join("config.json");
    crate::layout::replace_file(&file, &data)
        .map_err(|e| RuntimeError::io(format!("write {}", file.display()), e))
}

#[cfg(test)]
mod tests;
