//! The effective daemon configuration: defaults, then the config file
//! (daemon.json keys), then flags. Flags win over the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::flags::Args;

/// Default data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
/// Default exec root.
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
/// Default config file, read when it exists.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// daemon.json keys berth understands. Unknown keys are collected and logged.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
struct FileConfig {
    hosts: Vec<String>,
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    debug: Option<bool>,
    log_level: Option<String>,
    group: Option<String>,
    labels: Vec<String>,
    registry_mirrors: Vec<String>,
    insecure_registries: Vec<String>,
    live_restore: Option<bool>,
    iptables: Option<bool>,
    userland_proxy: Option<bool>,
    bip: Option<String>,
    bridge: Option<String>,
    default_address_pools: Vec<AddressPool>,
    dns_upstream: Vec<String>,
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
    authorization_plugins: Vec<String>,
    plugin_socket_dirs: Vec<PathBuf>,
    plugin_spec_dirs: Vec<PathBuf>,
    plugin_call_timeout: Option<serde_json::Value>,
    plugin_retry_timeout: Option<serde_json::Value>,
    /// VM isolation keys (before `other`, which takes what is left).
    #[serde(flatten)]
    vm: crate::vmconfig::VmFile,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// One of daemon.json's `default-address-pools`.
#[derive(Debug, Default, Deserialize)]
struct AddressPool {
    base: String,
    size: u32,
}

/// `base=10.10.0.0/16,size=24` (dockerd's flag form) → `10.10.0.0/16,24`.
fn pool_flag(s: &str) -> Result<String> {
    let mut base = None;
    let mut size = None;
    for kv in s.split(',') {
        match kv.split_once('=') {
            Some(("base", v)) => base = Some(v.to_string()),
            Some(("size", v)) => size = Some(v.to_string()),
            _ => bail!("invalid --default-address-pool {s:?}: expected base=CIDR,size=N"),
        }
    }
    match (base, size) {
        (Some(b), Some(n)) => Ok(format!("{b},{n}")),
        _ => bail!("invalid --default-address-pool {s:?}: expected base=CIDR,size=N"),
    }
}

/// What berthd runs with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: Option<PathBuf>,
    pub debug: bool,
    pub log_level: String,
    pub group: Option<String>,
    pub labels: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub live_restore: bool,
    pub iptables: bool,
    /// Relay published-port traffic nat cannot carry (`--userland-proxy`).
    pub userland_proxy: bool,
    pub bip: Option<String>,
    pub bridge: Option<String>,
    pub default_address_pools: Vec<String>,
    pub dns_upstream: Vec<String>,
    /// TLS for TCP listeners, when `--tls`/`--tlsverify`.
    pub tls: Option<berth_server::tls::TlsFiles>,
    /// `--authorization-plugin` / `authorization-plugins`, in order (flags first).
    pub authorization_plugins: Vec<String>,
    /// Plugin socket directories (empty: defaults).
    pub plugin_socket_dirs: Vec<PathBuf>,
    /// Plugin spec directories (empty: defaults).
    pub plugin_spec_dirs: Vec<PathBuf>,
    /// Limit of one plugin call.
    pub plugin_call_timeout: Option<Duration>,
    /// Retry budget of plugin connections and lookups.
    pub plugin_retry_timeout: Option<Duration>,
    /// VM isolation.
    pub vm: berth_engine::config::VmSettings,
    pub ignored_keys: Vec<String>,
}

/// `90`, `90s`, `1.5s`, `500ms`, `2m` (a number alone is seconds).
fn duration(what: &str, s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("invalid {what} {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid {what} {s:?}: unit must be ms, s, m or h"),
    };
    if !secs.is_finite() || secs <= 0.0 {
        bail!("invalid {what} {s:?}: must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration from a flag, else from the file (a number of seconds or a string).
fn duration_of(
    what: &str,
    flag: &Option<String>,
    file: &Option<serde_json::Value>,
) -> Result<Option<Duration>> {
    let text = match (flag, file) {
        (Some(f), _) => f.clone(),
        (None, Some(serde_json::Value::String(s))) => s.clone(),
        (None, Some(serde_json::Value::Number(n))) => n.to_string(),
        (None, Some(other)) => bail!("invalid {what} {other}"),
        (None, None) => return Ok(None),
    };
    duration(what, &text).map(Some)
}

/// dockerd's default certificate directory: `$DOCKER_CERT_PATH` or `~/.docker`.
fn cert_dir() -> PathBuf {
    std::env::var_os("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".docker")
        })
}

fn read_file(path: &Path, explicit: bool) -> Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileConfig::default());
        }
        Err(e) => return Err(e).with_context(|| format!("read config file {}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_json::from_str(&text).with_context(|| format!("parse config file {}", path.display()))
}

/// Merge defaults, file and flags.
pub fn resolve(args: &Args) -> Result<DaemonConfig> {
    let (path, explicit) = match &args.config_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let file = read_file(&path, explicit)?;
    let debug = args.debug || file.debug.unwrap_or(false);
    let log_level = match args.log_level.clone().or(file.log_level) {
        Some(l) => normalise_level(&l)?,
        None if debug => "debug".to_string(),
        None => "info".to_string(),
    };
    let exec_root = args
        .exec_root
        .clone()
        .or(file.exec_root)
        .unwrap_or_else(|| DEFAULT_EXEC_ROOT.into());
    let mut hosts = if args.hosts.is_empty() {
        file.hosts
    } else {
        args.hosts.clone()
    };
    if hosts.is_empty() {
        hosts.push(format!("unix://{}", exec_root.join("berth.sock").display()));
    }
    Ok(DaemonConfig {
        hosts,
        data_root: args
            .data_root
            .clone()
            .or(file.data_root)
            .unwrap_or_else(|| DEFAULT_DATA_ROOT.into()),
        pidfile: args
            .pidfile
            .clone()
            .or(file.pidfile)
            .or_else(|| Some(exec_root.join("berthd.pid"))),
        exec_root,
        debug,
        log_level,
        group: args.group.clone().or(file.group),
        labels: [args.labels.clone(), file.labels].concat(),
        registry_mirrors: [args.registry_mirrors.clone(), file.registry_mirrors].concat(),
        insecure_registries: [args.insecure_registries.clone(), file.insecure_registries].concat(),
        live_restore: args.live_restore.or(file.live_restore).unwrap_or(true),
        iptables: args.iptables.or(file.iptables).unwrap_or(true),
        userland_proxy: args.userland_proxy.or(file.userland_proxy).unwrap_or(true),
        bip: args.bip.clone().or(file.bip),
        bridge: args.bridge.clone().or(file.bridge),
        default_address_pools: if args.default_address_pools.is_empty() {
            file.default_address_pools
                .iter()
                .map(|p| format!("{},{}", p.base, p.size))
                .collect()
        } else {
            args.default_address_pools
                .iter()
                .map(|p| pool_flag(p))
                .collect::<Result<_>>()?
        },
        dns_upstream: if args.dns_upstream.is_empty() {
            file.dns_upstream.clone()
        } else {
            args.dns_upstream.clone()
        },
        tls: {
            let verify = args.tlsverify.or(file.tlsverify).unwrap_or(false);
            let on = verify || args.tls.or(file.tls).unwrap_or(false);
            on.then(|| berth_server::tls::TlsFiles {
                cert: args
                    .tlscert
                    .clone()
                    .or(file.tlscert.clone())
                    .unwrap_or_else(|| cert_dir().join("cert.pem")),
                key: args
                    .tlskey
                    .clone()
                    .or(file.tlskey.clone())
                    .unwrap_or_else(|| cert_dir().join("key.pem")),
                client_ca: verify.then(|| {
                    args.tlscacert
                        .clone()
                        .or(file.tlscacert.clone())
                        .unwrap_or_else(|| cert_dir().join("ca.pem"))
                }),
            })
        },
        authorization_plugins: [
            args.authorization_plugins.clone(),
            file.authorization_plugins.clone(),
        ]
        .concat(),
        plugin_socket_dirs: if args.plugin_socket_dirs.is_empty() {
            file.plugin_socket_dirs.clone()
        } else {
            args.plugin_socket_dirs.clone()
        },
        plugin_spec_dirs: if args.plugin_spec_dirs.is_empty() {
            file.plugin_spec_dirs.clone()
        } else {
            args.plugin_spec_dirs.clone()
        },
        plugin_call_timeout: duration_of(
            "plugin-call-timeout",
            &args.plugin_call_timeout,
            &file.plugin_call_timeout,
        )?,
        plugin_retry_timeout: duration_of(
            "plugin-retry-timeout",
            &args.plugin_retry_timeout,
            &file.plugin_retry_timeout,
        )?,
        vm: crate::vmconfig::resolve(&args.vm, &file.vm)?,
        ignored_keys: file.other.keys().cloned().collect(),
    })
}

fn normalise_level(l: &str) -> Result<String> {
    Ok(match l.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "fatal" | "panic" => "error",
        other => bail!("invalid log level {other:?}"),
    }
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::parse_args;

    fn args(v: &[&str]) -> Args {
        parse_args(v.iter().map(std::ffi::OsString::from).collect()).unwrap()
    }

    #[test]
    fn defaults() {
        let c = resolve(&args(&["berthd", "--config-file", "/dev/null"])).unwrap();
        assert_eq!(c.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
        assert_eq!(c.hosts, ["unix:///run/berth/berth.sock"]);
        assert_eq!(c.log_level, "info");
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, r#"{"data-root":"/from-file","debug":true,"storage-driver":"overlay2","labels":["a=b"]}"#).unwrap();
        let c = resolve(&args(&[
            "berthd",
            "--config-file",
            p.to_str().unwrap(),
            "--exec-root",
            "/x",
        ]))
        .unwrap();
        assert_eq!(c.data_root, PathBuf::from("/from-file"));
        assert_eq!(c.hosts, ["unix:///x/berth.sock"]);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.ignored_keys, ["storage-driver"]);
        assert_eq!(c.labels, ["a=b"]);
    }

    #[test]
    fn plugin_settings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(
            &p,
            r#"{"authorization-plugins":["b"],"plugin-spec-dirs":["/s"],"plugin-call-timeout":"500ms","plugin-retry-timeout":3}"#,
        )
        .unwrap();
        let c = resolve(&args(&[
            "berthd",
            "--config-file",
            p.to_str().unwrap(),
            "--authorization-plugin",
            "a",
            "--plugin-socket-dir",
            "/r",
        ]))
        .unwrap();
        assert_eq!(c.authorization_plugins, ["a", "b"]);
        assert_eq!(
            (c.plugin_socket_dirs, c.plugin_spec_dirs),
            (vec![PathBuf::from("/r")], vec![PathBuf::from("/s")])
        );
        assert_eq!(c.plugin_call_timeout, Some(Duration::from_millis(500)));
        assert_eq!(c.plugin_retry_timeout, Some(Duration::from_secs(3)));
        assert!(c.ignored_keys.is_empty());
        assert!(duration("x", "2m").is_ok_and(|d| d.as_secs() == 120));
        assert!(duration("x", "-1").is_err() && duration("x", "3d").is_err());
    }

    #[test]
    fn bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, "{not json").unwrap();
        assert!(resolve(&args(&["berthd", "--config-file", p.to_str().unwrap()])).is_err());
        assert!(
            resolve(&args(&[
                "berthd",
                "--log-level",
                "loud",
                "--config-file",
                "/dev/null"
            ]))
            .is_err()
        );
    }
}
