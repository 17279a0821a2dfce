//! The effective daemon configuration: defaults, then the config file
//! (daemon.json keys), then flags. Flags win over the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    bip: Option<String>,
    bridge: Option<String>,
    default_address_pools: Vec<AddressPool>,
    dns_upstream: Vec<String>,
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
    pub bip: Option<String>,
    pub bridge: Option<String>,
    pub default_address_pools: Vec<String>,
    pub dns_upstream: Vec<String>,
    pub ignored_keys: Vec<String>,
}

fn read_file(path: &Path, explicit: bool) -> Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
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
    let exec_root = args.exec_root.clone().or(file.exec_root).unwrap_or_else(|| DEFAULT_EXEC_ROOT.into());
    let mut hosts = if args.hosts.is_empty() { file.hosts } else { args.hosts.clone() };
    if hosts.is_empty() {
        hosts.push(format!("unix://{}", exec_root.join("berth.sock").display()));
    }
    Ok(DaemonConfig {
        hosts,
        data_root: args.data_root.clone().or(file.data_root).unwrap_or_else(|| DEFAULT_DATA_ROOT.into()),
        pidfile: args.pidfile.clone().or(file.pidfile).or_else(|| Some(exec_root.join("berthd.pid"))),
        exec_root,
        debug,
        log_level,
        group: args.group.clone().or(file.group),
        labels: [args.labels.clone(), file.labels].concat(),
        registry_mirrors: [args.registry_mirrors.clone(), file.registry_mirrors].concat(),
        insecure_registries: [args.insecure_registries.clone(), file.insecure_registries].concat(),
        live_restore: args.live_restore.or(file.live_restore).unwrap_or(true),
        iptables: args.iptables.or(file.iptables).unwrap_or(true),
        bip: args.bip.clone().or(file.bip),
        bridge: args.bridge.clone().or(file.bridge),
        default_address_pools: if args.default_address_pools.is_empty() {
            file.default_address_pools.iter().map(|p| format!("{},{}", p.base, p.size)).collect()
        } else {
            args.default_address_pools.iter().map(|p| pool_flag(p)).collect::<Result<_>>()?
        },
        dns_upstream: if args.dns_upstream.is_empty() { file.dns_upstream } else { args.dns_upstream.clone() },
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
        let c = resolve(&args(&["berthd", "--config-file", p.to_str().unwrap(), "--exec-root", "/x"])).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/from-file"));
        assert_eq!(c.hosts, ["unix:///x/berth.sock"]);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.ignored_keys, ["storage-driver"]);
        assert_eq!(c.labels, ["a=b"]);
    }

    #[test]
    fn bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, "{not json").unwrap();
        assert!(resolve(&args(&["berthd", "--config-file", p.to_str().unwrap()])).is_err());
        assert!(resolve(&args(&["berthd", "--log-level", "loud", "--config-file", "/dev/null"])).is_err());
    }
}
