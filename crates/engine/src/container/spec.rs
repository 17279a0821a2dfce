//! From a container's records to the runtime's `ContainerSpec`: Docker's
//! HostConfig vocabulary translated into berth-runtime's input types.

use std::path::{Path, PathBuf};

use berth_api::types::container::HostConfig;
use berth_core::{Error, Result};
use berth_runtime::spec as rt;

use super::ConfigRecord;

/// Parse `--security-opt` values into (seccomp, no-new-privileges, unmask system paths).
pub fn security_opts(opts: &[String]) -> Result<(rt::SeccompMode, bool, bool)> {
    let mut seccomp = rt::SeccompMode::Default;
    let mut nnp = false;
    let mut unmask = false;
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), ""));
        match k {
            "seccomp" => {
                seccomp = match v {
                    "unconfined" => rt::SeccompMode::Unconfined,
                    "" => return Err(Error::invalid(format!("invalid --security-opt: {o:?}"))),
                    profile => rt::SeccompMode::Custom(profile.to_string()),
                }
            }
            "no-new-privileges" => {
                nnp = match v {
                    "" | "true" => true,
                    "false" => false,
                    _ => return Err(Error::invalid(format!("invalid --security-opt 2: {o:?}"))),
                }
            }
            "systempaths" if v == "unconfined" => unmask = true,
            // No AppArmor or SELinux on berth hosts: accepted and ignored like dockerd does without them.
            "apparmor" | "label" => {}
            _ => return Err(Error::invalid(format!("invalid --security-opt 2: {o:?}"))),
        }
    }
    Ok((seccomp, nnp, unmask))
}

fn ns_mode(mode: &str, join: &dyn Fn(&str) -> Result<PathBuf>, kind: &str) -> Result<rt::NsMode> {
    Ok(match mode {
        "" | "private" | "shareable" | "none" | "bridge" | "default" => rt::NsMode::Private,
        "host" => rt::NsMode::Host,
        m if m.starts_with("container:") => rt::NsMode::Join(join(&m["container:".len()..])?),
        other if kind == "net" => {
            // A user-defined network: the network service provides the netns.
            let _ = other;
            rt::NsMode::Private
        }
        other => return Err(Error::invalid(format!("invalid {kind} mode: {other}"))),
    })
}

/// Inputs resolved by other subsystems before the spec can be built.
pub struct Resolved<'a> {
    /// Mounted root filesystem.
    pub rootfs: PathBuf,
    /// Container directory (network files live here).
    pub dir: &'a Path,
    /// Extra mounts (volumes, binds, tmpfs).
    pub mounts: Vec<rt::MountSpec>,
    /// Network namespace (from the network service), if not host/none/container.
    pub netns: Option<PathBuf>,
    /// Static init binary when `--init`.
    pub init: Option<PathBuf>,
    /// Look up another container's namespace file: (container key, ns kind) -> path.
    pub join: &'a dyn Fn(&str, &str) -> Result<PathBuf>,
}

/// Build the runtime's input for `rec`.
pub fn container_spec(rec: &ConfigRecord, r: Resolved<'_>) -> Result<rt::ContainerSpec> {
    let hc: &HostConfig = &rec.host_config;
    let (seccomp, nnp, unmask) = security_opts(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let join_ns = |kind: &'static str| move |key: &str| (r.join)(key, kind);
    let mut network = ns_mode(&hc.network_mode, &join_ns("net"), "net")?;
    if let (rt::NsMode::Private, Some(p)) = (&network, &r.netns) {
        network = rt::NsMode::Join(p.clone());
    }
    let namespaces = rt::Namespaces {
        network,
        ipc: ns_mode(&hc.ipc_mode, &join_ns("ipc"), "ipc")?,
        pid: ns_mode(&hc.pid_mode, &join_ns("pid"), "pid")?,
        uts: match hc.uts_mode.as_str() {
            "" => rt::NsMode::Private,
            "host" => rt::NsMode::Host,
            other => return Err(Error::invalid(format!("invalid UTS mode: {other}"))),
        },
        cgroup: Some(if hc.cgroupns_mode == "host" {
            rt::NsMode::Host
        } else {
            rt::NsMode::Private
        }),
    };
    let res = &hc.resources;
    let resources = rt::Resources {
        memory: res.memory,
        memory_swap: res.memory_swap,
        memory_reservation: res.memory_reservation,
        memory_swappiness: res.memory_swappiness.filter(|s| *s >= 0),
        oom_kill_disable: res.oom_kill_disable.unwrap_or(false),
        nano_cpus: res.nano_cpus,
        cpu_shares: res.cpu_shares,
        cpu_period: res.cpu_period,
        cpu_quota: res.cpu_quota,
        cpuset_cpus: res.cpuset_cpus.clone(),
        cpuset_mems: res.cpuset_mems.clone(),
        pids_limit: res.pids_limit,
        blkio_weight: res.blkio_weight,
        oom_score_adj: hc.oom_score_adj as i32,
    };
    let ulimits = res
        .ulimits
        .iter()
        .flatten()
        .map(|u| rt::Ulimit {
            name: u.name.clone(),
            soft: u.soft,
            hard: u.hard,
        })
        .collect();
    let devices = res
        .devices
        .iter()
        .flatten()
        .map(|d| rt::DeviceMapping {
            host: PathBuf::from(&d.path_on_host),
            container: d.path_in_container.clone(),
            permissions: if d.cgroup_permissions.is_empty() {
                "rwm".into()
            } else {
                d.cgroup_permissions.clone()
            },
        })
        .collect();
    let mut mounts = r.mounts;
    for (dest, opts) in hc.tmpfs.iter().flatten() {
        if mounts.iter().any(|m| &m.destination == dest) {
            continue;
        }
        mounts.push(rt::MountSpec {
            kind: rt::MountKind::Tmpfs,
            source: PathBuf::from("tmpfs"),
            destination: dest.clone(),
            readonly: false,
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
            propagation: None,
            non_recursive: false,
        });
    }
    let host_net = hc.network_mode == "host";
    let network_files = rt::NetworkFiles {
        hosts: Some(r.dir.join("hosts")),
        hostname: if host_net {
            None
        } else {
            Some(r.dir.join("hostname"))
        },
        resolv_conf: Some(r.dir.join("resolv.conf")),
    };
    let mut args = Vec::with_capacity(rec.args.len() + 1);
    args.push(rec.path.clone());
    args.extend(rec.args.iter().cloned());
    Ok(rt::ContainerSpec {
        id: rec.id.clone(),
        rootfs: r.rootfs,
        args,
        env: rec.config.env.clone().unwrap_or_default(),
        cwd: rec.config.working_dir.clone(),
        user: rec.config.user.clone(),
        group_add: hc.group_add.clone().unwrap_or_default(),
        hostname: rec.config.hostname.clone(),
        domainname: rec.config.domainname.clone(),
        tty: rec.config.tty,
        open_stdin: rec.config.open_stdin,
        mounts,
        network_files,
        namespaces,
        privileged: hc.privileged,
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        seccomp: if hc.privileged {
            rt::SeccompMode::Unconfined
        } else {
            seccomp
        },
        no_new_privileges: nnp,
        readonly_rootfs: hc.readonly_rootfs,
        shm_size: u64::try_from(hc.shm_size).ok().filter(|s| *s > 0),
        devices,
        device_cgroup_rules: res.device_cgroup_rules.clone().unwrap_or_default(),
        ulimits,
        resources,
        sysctls: hc.sysctls.clone().unwrap_or_default(),
        cgroups_path: String::new(),
        init: r.init,
        masked_paths: if unmask {
            Some(Vec::new())
        } else {
            hc.masked_paths.clone()
        },
        readonly_paths: if unmask {
            Some(Vec::new())
        } else {
            hc.readonly_paths.clone()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_parse() {
        let (s, n, u) =
            security_opts(&["seccomp=unconfined".into(), "no-new-privileges".into()]).unwrap();
        assert_eq!(s, rt::SeccompMode::Unconfined);
        assert!(n && !u);
        let (_, n, _) = security_opts(&["no-new-privileges:false".into()]).unwrap();
        assert!(!n);
        assert!(security_opts(&["bogus=1".into()]).is_err());
        let (_, _, u) = security_opts(&["systempaths=unconfined".into()]).unwrap();
        assert!(u);
    }
}
