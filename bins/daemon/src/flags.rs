//! Command-line flags, compatible with dockerd's common ones.
//!
//! Test harnesses (moby's `testutil/daemon`, the docker-baseline scripts) start
//! dockerd with flags berth has no use for; those are accepted, logged and
//! ignored instead of failing the start.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

/// berthd's flags.
#[derive(Debug, Parser, Default)]
#[command(
    name = "berthd",
    version,
    about = "berth daemon: a Docker Engine API server"
)]
pub struct Args {
    /// Daemon socket(s) to listen on: unix:///path or tcp://127.0.0.1:PORT (repeatable).
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root of persistent state.
    #[arg(long = "data-root", alias = "graph", short = 'g')]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (sockets, shims, netns).
    #[arg(long = "exec-root")]
    pub exec_root: Option<PathBuf>,
    /// Write the daemon's pid here.
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// daemon.json-style configuration file.
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,
    /// debug, info, warn, error, fatal.
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Group that may use the unix socket (mode 0660).
    #[arg(short = 'G', long = "group")]
    pub group: Option<String>,
    /// Daemon labels.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Registry mirror for docker.io (repeatable).
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Registries reachable over plain HTTP (repeatable).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Keep containers running while the daemon is down (always on in berth).
    #[arg(long = "live-restore", num_args = 0..=1, default_missing_value = "true")]
    pub live_restore: Option<bool>,
    /// Whether berth may program the host firewall.
    #[arg(long = "iptables", num_args = 0..=1, default_missing_value = "true")]
    pub iptables: Option<bool>,
    /// Relay published-port traffic that nat rules cannot carry (`[::1]`,
    /// IPv6 to IPv4-only containers, all of it with `--iptables=false`).
    #[arg(long = "userland-proxy", num_args = 0..=1, default_missing_value = "true")]
    pub userland_proxy: Option<bool>,
    /// Default bridge network address with prefix (`172.17.0.1/16`).
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// Name of the default bridge link.
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// Default address pool for new networks, `base=10.10.0.0/16,size=24` (repeatable).
    #[arg(long = "default-address-pool")]
    pub default_address_pools: Vec<String>,
    /// Upstream resolver of the embedded DNS (`ip` or `ip:port`, repeatable; default: the host's).
    #[arg(long = "dns-upstream")]
    pub dns_upstream: Vec<String>,
    /// Serve TCP listeners over TLS.
    #[arg(long = "tls", num_args = 0..=1, default_missing_value = "true")]
    pub tls: Option<bool>,
    /// TLS and require client certificates signed by --tlscacert.
    #[arg(long = "tlsverify", num_args = 0..=1, default_missing_value = "true")]
    pub tlsverify: Option<bool>,
    /// CA that client certificates must chain to.
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<PathBuf>,
    /// Server certificate (PEM).
    #[arg(long = "tlscert")]
    pub tlscert: Option<PathBuf>,
    /// Server key (PEM).
    #[arg(long = "tlskey")]
    pub tlskey: Option<PathBuf>,
    /// Authorization plugin, asked about every API request (repeatable; in order).
    #[arg(long = "authorization-plugin")]
    pub authorization_plugins: Vec<String>,
    /// Directory of plugin sockets (repeatable; replaces /run/berth/plugins and /run/docker/plugins).
    #[arg(long = "plugin-socket-dir")]
    pub plugin_socket_dirs: Vec<PathBuf>,
    /// Directory of plugin .spec/.json files (repeatable; replaces /etc/berth/plugins,
    /// /usr/lib/berth/plugins, /etc/docker/plugins and /usr/lib/docker/plugins).
    #[arg(long = "plugin-spec-dir")]
    pub plugin_spec_dirs: Vec<PathBuf>,
    /// Limit of one plugin call (`60s`, `500ms`, or seconds; default 60s).
    #[arg(long = "plugin-call-timeout")]
    pub plugin_call_timeout: Option<String>,
    /// How long unreachable or not-yet-present plugins are retried (default 30s, Docker's).
    #[arg(long = "plugin-retry-timeout")]
    pub plugin_retry_timeout: Option<String>,
    /// VM isolation (--default-isolation, --vm-*).
    #[command(flatten)]
    pub vm: crate::vmconfig::VmFlags,
    /// dockerd flags that were accepted and ignored (filled by [`parse_args`]).
    #[arg(skip)]
    pub ignored: Vec<String>,
}

/// dockerd flags berth accepts and ignores, with whether they take a value.
const IGNORED: &[(&str, bool)] = &[
    ("--userland-proxy-path", true),
    ("--storage-driver", true),
    ("-s", true),
    ("--storage-opt", true),
    ("--ip6tables", false),
    ("--ip-forward", false),
    ("--ip-masq", false),
    ("--containerd", true),
    ("--containerd-namespace", true),
    ("--containerd-plugins-namespace", true),
    ("--experimental", false),
    ("--init", false),
    ("--init-path", true),
    ("--exec-opt", true),
    ("--log-driver", true),
    ("--log-opt", true),
    ("--default-runtime", true),
    ("--add-runtime", true),
    ("--selinux-enabled", false),
    ("--userns-remap", true),
    ("--icc", false),
    ("--swarm-default-advertise-addr", true),
    ("--max-concurrent-downloads", true),
    ("--max-concurrent-uploads", true),
    ("--oom-score-adjust", true),
    ("--raw-logs", false),
    ("--shutdown-timeout", true),
    ("--cgroup-parent", true),
    ("--default-cgroupns-mode", true),
    ("--default-ipc-mode", true),
    ("--default-shm-size", true),
    ("--default-ulimit", true),
    ("--seccomp-profile", true),
    ("--no-new-privileges", false),
    ("--feature", true),
    ("--metrics-addr", true),
    ("--api-cors-header", true),
    ("--validate", false),
];

/// Parse argv, pulling out ignored dockerd flags first.
pub fn parse_args(argv: Vec<OsString>) -> Result<Args> {
    let mut kept = Vec::with_capacity(argv.len());
    let mut ignored = Vec::new();
    let mut it = argv.into_iter();
    if let Some(prog) = it.next() {
        kept.push(prog);
    }
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy().to_string();
        let (name, has_inline) = match s.split_once('=') {
            Some((n, _)) => (n.to_string(), true),
            None => (s.clone(), false),
        };
        match IGNORED.iter().find(|(n, _)| *n == name) {
            Some((_, takes_value)) => {
                let mut shown = s.clone();
                if *takes_value
                    && !has_inline
                    && let Some(v) = it.next()
                {
                    shown = format!("{s} {}", v.to_string_lossy());
                }
                ignored.push(shown);
            }
            None => kept.push(arg),
        }
    }
    let mut args = Args::try_parse_from(kept)?;
    args.ignored = ignored;
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Args {
        parse_args(v.iter().map(OsString::from).collect()).unwrap()
    }

    #[test]
    fn dockerd_harness_flags_are_accepted() {
        let a = parse(&[
            "berthd",
            "--config-file",
            "/dev/null",
            "--data-root",
            "/d",
            "--exec-root",
            "/e",
            "--pidfile",
            "/p",
            "--userland-proxy=false",
            "--containerd-namespace",
            "x",
            "--storage-driver",
            "overlay2",
            "--iptables=false",
            "-H",
            "unix:///s.sock",
            "--debug",
            "--experimental",
        ]);
        assert_eq!(a.data_root.unwrap(), PathBuf::from("/d"));
        assert_eq!(a.hosts, ["unix:///s.sock"]);
        assert_eq!(a.iptables, Some(false));
        assert_eq!(a.userland_proxy, Some(false));
        assert!(a.debug);
        assert_eq!(a.ignored.len(), 3);
    }

    #[test]
    fn unknown_flags_still_fail() {
        assert!(parse_args(["berthd", "--bogus"].iter().map(OsString::from).collect()).is_err());
    }
}
