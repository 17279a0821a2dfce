//! The flags `create` and `run` share, and their translation into a
//! `POST /containers/create` body (docker's `opts.parse`). The translation is
//! pure apart from the two closures it is given (environment lookup, file reads).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use berth_api::types::container::{
    ContainerConfig, ContainerCreateBody, Empty, EndpointIpamConfig, EndpointSettings,
    HealthConfig, HostConfig, LogConfig, NetworkingConfig, PortMap, Resources,
};
use clap::{ArgAction, Args};

use super::opts;

/// `create`/`run` flags (docker's container options).
#[derive(Debug, Args, Default, Clone)]
pub struct ContainerFlags {
    /// Attach to STDIN, STDOUT or STDERR.
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits.
    #[arg(long = "rm")]
    pub rm: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set meta data on a container.
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels.
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name.
    #[arg(long)]
    pub domainname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs directory.
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Bind mount a volume.
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container.
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s).
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Publish a container's port(s) to the host.
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long)]
    pub expose: Vec<String>,
    /// Connect a container to a network.
    #[arg(long = "network", visible_alias = "net")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container.
    #[arg(long = "network-alias", visible_alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33).
    #[arg(long)]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33).
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Add link to another container.
    #[arg(long)]
    pub link: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long = "dns-option", visible_alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Security Options.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Ulimit options.
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Memory limit.
    #[arg(short = 'm', long = "memory", value_parser = opts::parse_ram)]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap.
    #[arg(long = "memory-swap", value_parser = opts::parse_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", value_parser = opts::parse_ram)]
    pub memory_reservation: Option<i64>,
    /// Tune container memory swappiness (0 to 100).
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Disable OOM Killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Number of CPUs.
    #[arg(long, value_parser = opts::parse_nano_cpus)]
    pub cpus: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Size of /dev/shm.
    #[arg(long = "shm-size", value_parser = opts::parse_ram)]
    pub shm_size: Option<i64>,
    /// Optional parent cgroup for the container.
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Restart policy to apply when a container exits.
    #[arg(long, value_parser = opts::parse_restart)]
    pub restart: Option<berth_api::types::container::RestartPolicy>,
    /// Command to run to check health.
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long = "health-interval", value_parser = opts::parse_duration)]
    pub health_interval: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h).
    #[arg(long = "health-timeout", value_parser = opts::parse_duration)]
    pub health_timeout: Option<i64>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h).
    #[arg(long = "health-start-period", value_parser = opts::parse_duration)]
    pub health_start_period: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h).
    #[arg(long = "health-start-interval", value_parser = opts::parse_duration)]
    pub health_start_interval: Option<i64>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Logging driver for the container.
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options.
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Runtime to use for this container.
    #[arg(long)]
    pub runtime: Option<String>,
    /// Container isolation technology.
    #[arg(long)]
    pub isolation: Option<String>,
    /// Pull image before running ("always", "missing", "never").
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// Sysctl options.
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add a host device to the container.
    #[arg(long)]
    pub device: Vec<String>,
    /// Add additional groups to join.
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Cgroup namespace to use (host|private).
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// IPC mode to use.
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace to use.
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace to use.
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use.
    #[arg(long)]
    pub userns: Option<String>,
    /// Write the container ID to the file.
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Suppress the pull output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print usage (`-h` is `--hostname`, as in docker).
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Image, then the command and its arguments.
    #[arg(value_name = "IMAGE [COMMAND] [ARG...]", required = true, trailing_var_arg = true, num_args = 1..)]
    pub image_and_cmd: Vec<String>,
}

/// `run`-only flags.
#[derive(Debug, Args, Default, Clone)]
pub struct RunOnly {
    /// Run container in background and print container ID.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
}

/// What the caller needs besides the body.
#[derive(Debug, Clone, Default)]
pub struct CreatePlan {
    /// The create body.
    pub body: ContainerCreateBody,
    /// `name` query parameter.
    pub name: Option<String>,
    /// `platform` query parameter.
    pub platform: Option<String>,
    /// The image as given.
    pub image: String,
}

/// Read a file (injected for tests).
pub type ReadFile<'a> = &'a dyn Fn(&str) -> Result<String, String>;
/// Look up a local environment variable (injected for tests).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    if v.is_empty() { None } else { Some(v.to_vec()) }
}

fn health(f: &ContainerFlags) -> Result<Option<HealthConfig>> {
    let any = f.health_cmd.is_some()
        || f.health_interval.is_some()
        || f.health_timeout.is_some()
        || f.health_retries.is_some()
        || f.health_start_period.is_some()
        || f.health_start_interval.is_some();
    if f.no_healthcheck {
        if any {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    let neg = |v: Option<i64>, n: &str| -> Result<i64> {
        let v = v.unwrap_or(0);
        if v < 0 {
            bail!("--{n} cannot be negative");
        }
        Ok(v)
    };
    Ok(Some(HealthConfig {
        test: f
            .health_cmd
            .as_ref()
            .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
        interval: neg(f.health_interval, "health-interval")?,
        timeout: neg(f.health_timeout, "health-timeout")?,
        start_period: neg(f.health_start_period, "health-start-period")?,
        start_interval: neg(f.health_start_interval, "health-start-interval")?,
        retries: neg(f.health_retries, "health-retries")?,
    }))
}

/// Which streams to attach: `-a` as given, else stdout+stderr (+stdin with `-i`).
pub fn attach_streams(f: &ContainerFlags) -> Result<(bool, bool, bool)> {
    if f.attach.is_empty() {
        return Ok((f.interactive, true, true));
    }
    let mut s = (false, false, false);
    for a in &f.attach {
        match a.to_ascii_lowercase().as_str() {
            "stdin" => s.0 = true,
            "stdout" => s.1 = true,
            "stderr" => s.2 = true,
            _ => bail!("valid streams are STDIN, STDOUT and STDERR"),
        }
    }
    Ok(s)
}

/// Translate flags into a create request.
pub fn build(
    f: &ContainerFlags,
    cwd: &std::path::Path,
    lookup: Lookup<'_>,
    read: ReadFile<'_>,
) -> Result<CreatePlan> {
    let Some((image, cmd)) = f.image_and_cmd.split_first() else {
        bail!("\"create\" requires at least 1 argument");
    };
    let mut env = Vec::new();
    for file in &f.env_file {
        env.extend(
            opts::parse_kv_file(&read(file).map_err(|e| anyhow!(e))?, Some(lookup))
                .map_err(|e| anyhow!(e))?,
        );
    }
    env.extend(f.env.iter().map(|e| opts::env_value(e, lookup)));
    let mut labels = Vec::new();
    for file in &f.label_file {
        labels.extend(
            opts::parse_kv_file(&read(file).map_err(|e| anyhow!(e))?, None)
                .map_err(|e| anyhow!(e))?,
        );
    }
    labels.extend(f.label.iter().cloned());

    let mut exposed: BTreeMap<String, Empty> = BTreeMap::new();
    let mut ports: PortMap = BTreeMap::new();
    for p in &f.publish {
        for (key, binding) in opts::parse_publish(p).map_err(|e| anyhow!(e))? {
            exposed.insert(key.clone(), Empty {});
            ports
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(binding);
        }
    }
    for e in &f.expose {
        for key in opts::parse_expose(e).map_err(|e| anyhow!(e))? {
            exposed.insert(key, Empty {});
        }
    }

    let mut binds = Vec::new();
    let mut volumes: BTreeMap<String, Empty> = BTreeMap::new();
    for v in &f.volume {
        match opts::parse_volume(v, cwd).map_err(|e| anyhow!(e))? {
            opts::VolumeSpec::Bind(b) => binds.push(b),
            opts::VolumeSpec::Anonymous(p) => {
                volumes.insert(p, Empty {});
            }
        }
    }
    let mounts = f
        .mount
        .iter()
        .map(|m| {
            opts::parse_mount(m)
                .map_err(|e| anyhow!("invalid argument \"{m}\" for \"--mount\" flag: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let tmpfs: BTreeMap<String, String> = f
        .tmpfs
        .iter()
        .map(|t| {
            let (p, o) = t.split_once(':').unwrap_or((t, ""));
            (p.to_string(), o.to_string())
        })
        .collect();
    let ulimits = f
        .ulimit
        .iter()
        .map(|u| opts::parse_ulimit(u).map_err(|e| anyhow!(e)))
        .collect::<Result<Vec<_>>>()?;
    let devices = f
        .device
        .iter()
        .map(|d| opts::parse_device(d).map_err(|e| anyhow!(e)))
        .collect::<Result<Vec<_>>>()?;
    let extra_hosts = f
        .add_host
        .iter()
        .map(|h| opts::validate_extra_host(h).map_err(|e| anyhow!(e)))
        .collect::<Result<Vec<_>>>()?;
    let security_opt = f
        .security_opt
        .iter()
        .map(|s| opts::security_opt(s, read).map_err(|e| anyhow!(e)))
        .collect::<Result<Vec<_>>>()?;
    let (attach_stdin, attach_stdout, attach_stderr) = attach_streams(f)?;
    let entrypoint = f.entrypoint.as_ref().map(|e| vec![e.clone()]);

    // Networking: the first network is the mode; endpoint settings carry aliases and addresses.
    let network_mode = f
        .network
        .first()
        .cloned()
        .unwrap_or_else(|| "default".into());
    let mut endpoints = BTreeMap::new();
    let user_defined = !matches!(network_mode.as_str(), "default" | "host" | "none")
        && !network_mode.starts_with("container:");
    for (i, n) in f.network.iter().enumerate() {
        if !user_defined && i == 0 {
            continue;
        }
        let mut ep = EndpointSettings::default();
        if i == 0 {
            ep.aliases = non_empty(&f.network_alias);
            if f.ip.is_some() || f.ip6.is_some() {
                ep.ipam_config = Some(EndpointIpamConfig {
                    ipv4_address: f.ip.clone().unwrap_or_default(),
                    ipv6_address: f.ip6.clone().unwrap_or_default(),
                    link_local_ips: None,
                });
            }
            ep.mac_address = f.mac_address.clone().unwrap_or_default();
            ep.links = non_empty(&f.link);
        }
        endpoints.insert(n.clone(), ep);
    }
    if !user_defined && (!f.network_alias.is_empty() || f.ip.is_some() || f.ip6.is_some()) {
        bail!(
            "network-scoped aliases and static addresses are only supported for user-defined networks"
        );
    }

    let config = ContainerConfig {
        hostname: f.hostname.clone().unwrap_or_default(),
        domainname: f.domainname.clone().unwrap_or_default(),
        user: f.user.clone().unwrap_or_default(),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports: if exposed.is_empty() {
            None
        } else {
            Some(exposed)
        },
        tty: f.tty,
        open_stdin: f.interactive,
        stdin_once: false,
        env: Some(env),
        cmd: if cmd.is_empty() {
            None
        } else {
            Some(cmd.to_vec())
        },
        healthcheck: health(f)?,
        image: image.clone(),
        volumes: Some(volumes),
        working_dir: f.workdir.clone().unwrap_or_default(),
        entrypoint,
        mac_address: if user_defined {
            String::new()
        } else {
            f.mac_address.clone().unwrap_or_default()
        },
        labels: Some(opts::kv_map(&labels)),
        stop_signal: f.stop_signal.clone().unwrap_or_default(),
        stop_timeout: f.stop_timeout,
        ..Default::default()
    };
    let resources = Resources {
        cpu_shares: f.cpu_shares.unwrap_or(0),
        memory: f.memory.unwrap_or(0),
        cgroup_parent: f.cgroup_parent.clone().unwrap_or_default(),
        cpu_period: f.cpu_period.unwrap_or(0),
        cpu_quota: f.cpu_quota.unwrap_or(0),
        cpuset_cpus: f.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: f.cpuset_mems.clone().unwrap_or_default(),
        devices: Some(devices),
        memory_reservation: f.memory_reservation.unwrap_or(0),
        memory_swap: f.memory_swap.unwrap_or(0),
        memory_swappiness: f.memory_swappiness,
        nano_cpus: f.cpus.unwrap_or(0),
        oom_kill_disable: f.oom_kill_disable.then_some(true),
        init: f.init.then_some(true),
        pids_limit: f.pids_limit,
        ulimits: Some(ulimits),
        ..Default::default()
    };
    let host_config = HostConfig {
        binds: non_empty(&binds),
        container_id_file: f.cidfile.clone().unwrap_or_default(),
        log_config: LogConfig {
            kind: f.log_driver.clone().unwrap_or_default(),
            config: opts::kv_map(&f.log_opt),
        },
        network_mode,
        port_bindings: Some(ports),
        restart_policy: f.restart.clone().unwrap_or_else(|| {
            berth_api::types::container::RestartPolicy {
                name: "no".into(),
                maximum_retry_count: 0,
            }
        }),
        auto_remove: f.rm,
        volumes_from: non_empty(&f.volumes_from),
        mounts: if mounts.is_empty() {
            None
        } else {
            Some(mounts)
        },
        cap_add: non_empty(&f.cap_add),
        cap_drop: non_empty(&f.cap_drop),
        cgroupns_mode: f.cgroupns.clone().unwrap_or_default(),
        dns: Some(f.dns.clone()),
        dns_options: Some(f.dns_option.clone()),
        dns_search: Some(f.dns_search.clone()),
        extra_hosts: non_empty(&extra_hosts),
        group_add: non_empty(&f.group_add),
        ipc_mode: f.ipc.clone().unwrap_or_default(),
        links: if user_defined {
            None
        } else {
            non_empty(&f.link)
        },
        oom_score_adj: f.oom_score_adj.unwrap_or(0),
        pid_mode: f.pid.clone().unwrap_or_default(),
        privileged: f.privileged,
        publish_all_ports: f.publish_all,
        readonly_rootfs: f.read_only,
        security_opt: non_empty(&security_opt),
        tmpfs: if tmpfs.is_empty() { None } else { Some(tmpfs) },
        uts_mode: f.uts.clone().unwrap_or_default(),
        userns_mode: f.userns.clone().unwrap_or_default(),
        shm_size: f.shm_size.unwrap_or(0),
        sysctls: if f.sysctl.is_empty() {
            None
        } else {
            Some(opts::kv_map(&f.sysctl))
        },
        runtime: f.runtime.clone().unwrap_or_default(),
        isolation: f.isolation.clone().unwrap_or_default(),
        resources,
        ..Default::default()
    };
    Ok(CreatePlan {
        body: ContainerCreateBody {
            config,
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
        },
        name: f.name.clone(),
        platform: f.platform.clone(),
        image: image.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        run: RunOnly,
        #[command(flatten)]
        f: ContainerFlags,
    }

    fn parse(args: &[&str]) -> T {
        T::try_parse_from(std::iter::once("run").chain(args.iter().copied())).unwrap()
    }

    fn plan(args: &[&str]) -> CreatePlan {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let read = |p: &str| {
            if p == "envs" {
                Ok("X=1\n# c\nHOME\n".to_string())
            } else {
                Err(format!("open {p}: no such file"))
            }
        };
        build(&parse(args).f, std::path::Path::new("/w"), &lookup, &read).unwrap()
    }

    #[test]
    fn docker_syntax_parses_and_everything_after_the_image_is_the_command() {
        let t = parse(&[
            "-it",
            "--rm",
            "-p",
            "8080:80",
            "-p=9090:90",
            "-e",
            "A=1",
            "--env=B=2",
            "-v",
            "/a:/b:ro",
            "busybox",
            "sh",
            "-c",
            "echo hi",
            "-x",
            "--rm",
        ]);
        assert!(t.f.interactive && t.f.tty && t.f.rm && t.run.sig_proxy);
        assert_eq!(
            t.f.image_and_cmd,
            ["busybox", "sh", "-c", "echo hi", "-x", "--rm"]
        );
        let t = parse(&[
            "-d",
            "--sig-proxy=false",
            "--net",
            "n1",
            "busybox",
            "--help",
        ]);
        assert!(t.run.detach && !t.run.sig_proxy);
        assert_eq!(t.f.image_and_cmd, ["busybox", "--help"]);
        assert_eq!(
            parse(&["-m", "64m", "--cpus", "0.5", "bb"]).f.memory,
            Some(64 << 20)
        );
        assert!(T::try_parse_from(["run", "-m", "lots", "bb"]).is_err());
    }

    #[test]
    fn body_matches_what_docker_sends() {
        let p = plan(&[
            "--name",
            "web",
            "-p",
            "127.0.0.1:8080:80",
            "--expose",
            "443",
            "-v",
            "/data",
            "-v",
            "./src:/src",
            "--env-file",
            "envs",
            "-e",
            "A=1",
            "-l",
            "k=v",
            "--restart",
            "on-failure:3",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--ulimit",
            "nofile=100:200",
            "--health-cmd",
            "true",
            "--health-interval",
            "5s",
            "--init",
            "--tmpfs",
            "/run:size=1m",
            "--network",
            "appnet",
            "--network-alias",
            "w",
            "--ip",
            "10.1.0.5",
            "--entrypoint",
            "",
            "busybox",
            "httpd",
            "-f",
        ]);
        assert_eq!(p.name.as_deref(), Some("web"));
        let v = serde_json::to_value(&p.body).unwrap();
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Cmd"], serde_json::json!(["httpd", "-f"]));
        assert_eq!(v["Entrypoint"], serde_json::json!([""]));
        assert_eq!(v["Env"], serde_json::json!(["X=1", "HOME=/root", "A=1"]));
        assert_eq!(v["Labels"]["k"], "v");
        assert_eq!(
            v["ExposedPorts"],
            serde_json::json!({"443/tcp": {}, "80/tcp": {}})
        );
        assert_eq!(v["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(v["AttachStdout"], true);
        assert_eq!(v["AttachStdin"], false);
        assert_eq!(
            v["Healthcheck"],
            serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000_i64})
        );
        let hc = &v["HostConfig"];
        assert_eq!(hc["Binds"], serde_json::json!(["/w/src:/src"]));
        assert_eq!(
            hc["PortBindings"]["80/tcp"],
            serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(
            hc["RestartPolicy"],
            serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(hc["Memory"], 64 << 20);
        assert_eq!(hc["NanoCpus"], 500_000_000);
        assert_eq!(
            hc["Ulimits"],
            serde_json::json!([{"Name": "nofile", "Soft": 100, "Hard": 200}])
        );
        assert_eq!(hc["Init"], true);
        assert_eq!(hc["Tmpfs"]["/run"], "size=1m");
        assert_eq!(hc["NetworkMode"], "appnet");
        let ep = &v["NetworkingConfig"]["EndpointsConfig"]["appnet"];
        assert_eq!(ep["Aliases"], serde_json::json!(["w"]));
        assert_eq!(ep["IPAMConfig"]["IPv4Address"], "10.1.0.5");
    }

    #[test]
    fn defaults_and_errors() {
        let p = plan(&["-i", "busybox"]);
        let v = serde_json::to_value(&p.body).unwrap();
        assert_eq!(v["Cmd"], serde_json::Value::Null);
        assert_eq!(v["AttachStdin"], true);
        assert_eq!(v["OpenStdin"], true);
        assert_eq!(v["HostConfig"]["NetworkMode"], "default");
        assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert!(v["HostConfig"]["Init"].is_null());
        let lookup = |_: &str| None;
        let read = |p: &str| Err(format!("open {p}: no such file or directory"));
        let bad = |args: &[&str]| {
            build(&parse(args).f, std::path::Path::new("/"), &lookup, &read)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(&["--no-healthcheck", "--health-cmd", "x", "bb"]).contains("conflicts"));
        assert!(bad(&["--mount", "type=bind", "bb"]).contains("target is required"));
        assert!(bad(&["--env-file", "nope", "bb"]).contains("no such file"));
        assert!(bad(&["-a", "stdweird", "bb"]).contains("valid streams"));
        assert!(bad(&["--ip", "10.0.0.2", "bb"]).contains("user-defined"));
        let (i, o, e) = attach_streams(&parse(&["-a", "stderr", "bb"]).f).unwrap();
        assert!(!i && !o && e);
    }
}
