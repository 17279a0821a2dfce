//! Finding legacy (v1) plugins by name, in Docker's order and file formats.
//!
//! For a name `N`, the first hit wins:
//! 1. a unix socket `DIR/N.sock` or `DIR/N/N.sock` in each socket directory
//!    (berth's `/run/berth/plugins`, then Docker's `/run/docker/plugins`);
//! 2. in each spec directory (`/etc/berth/plugins`, `/usr/lib/berth/plugins`,
//!    then Docker's `/etc/docker/plugins`, `/usr/lib/docker/plugins`):
//!    `N.spec`, `N/N.spec`, `N.json`, `N/N.json`.
//!
//! A `.spec` file holds one URL (`unix:///path.sock`, `tcp://host:port`,
//! `https://host:port`); a `.json` file is `{"Name", "Addr", "TLSConfig":
//! {"CAFile", "CertFile", "KeyFile", "InsecureSkipVerify"}}` (the file name
//! wins over `Name`). As in Docker, TLS is used for `https://` addresses only.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{PluginError, Result};

/// Where plugins are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Directories holding plugin sockets.
    pub sockets: Vec<PathBuf>,
    /// Directories holding `.spec` and `.json` files.
    pub specs: Vec<PathBuf>,
}

/// berth's socket directory, then Docker's.
pub const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/run/berth/plugins", "/run/docker/plugins"];
/// berth's spec directories, then Docker's.
pub const DEFAULT_SPEC_DIRS: [&str; 4] = [
    "/etc/berth/plugins",
    "/usr/lib/berth/plugins",
    "/etc/docker/plugins",
    "/usr/lib/docker/plugins",
];

impl Default for Dirs {
    fn default() -> Dirs {
        Dirs {
            sockets: DEFAULT_SOCKET_DIRS.iter().map(PathBuf::from).collect(),
            specs: DEFAULT_SPEC_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// TLS settings of a `.json` spec (or the insecure default of a `.spec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSpec {
    /// CA bundle verifying the plugin's certificate.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// How to reach a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A unix socket.
    Unix(PathBuf),
    /// `host:port` over TCP, with TLS for `https://`.
    Tcp {
        /// `host:port`.
        host: String,
        /// TLS settings when the scheme is `https`.
        tls: Option<TlsSpec>,
    },
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
            Addr::Tcp { host, tls: None } => write!(f, "tcp://{host}"),
            Addr::Tcp { host, tls: Some(_) } => write!(f, "https://{host}"),
        }
    }
}

/// A plugin found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Its name (from the file name).
    pub name: String,
    /// Where it listens.
    pub addr: Addr,
    /// The socket or spec file it was found through.
    pub source: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct JsonSpec {
    addr: String,
    #[serde(rename = "TLSConfig")]
    tls_config: Option<JsonTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonTls {
    #[serde(rename = "CAFile")]
    ca_file: String,
    #[serde(rename = "CertFile")]
    cert_file: String,
    #[serde(rename = "KeyFile")]
    key_file: String,
    #[serde(rename = "InsecureSkipVerify")]
    insecure_skip_verify: bool,
}

/// Plugin names are file names: nothing that could leave the directory.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\0'])
}

fn is_socket(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// Look `name` up; `Ok(None)` when no file names it.
pub fn find(dirs: &Dirs, name: &str) -> Result<Option<Spec>> {
    if !valid_name(name) {
        return Ok(None);
    }
    for dir in &dirs.sockets {
        for p in [
            dir.join(format!("{name}.sock")),
            dir.join(name).join(format!("{name}.sock")),
        ] {
            if is_socket(&p) {
                return Ok(Some(Spec {
                    name: name.to_string(),
                    addr: Addr::Unix(p.clone()),
                    source: p,
                }));
            }
        }
    }
    for dir in &dirs.specs {
        for ext in ["spec", "json"] {
            for p in [
                dir.join(format!("{name}.{ext}")),
                dir.join(name).join(format!("{name}.{ext}")),
            ] {
                if p.is_file() {
                    return read_spec(name, &p).map(Some);
                }
            }
        }
    }
    Ok(None)
}

/// Read a `.spec` or `.json` file.
pub fn read_spec(name: &str, path: &Path) -> Result<Spec> {
    let bad = |reason: String| PluginError::Spec {
        name: name.to_string(),
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let (url, tls) = if path.extension().is_some_and(|e| e == "json") {
        let j: JsonSpec = crate::ci::from_slice(text.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let tls = j.tls_config.map(|t| TlsSpec {
            // Docker: no CA means nothing to verify against.
            insecure_skip_verify: t.insecure_skip_verify || t.ca_file.is_empty(),
            ca_file: (!t.ca_file.is_empty()).then(|| t.ca_file.into()),
            cert_file: (!t.cert_file.is_empty()).then(|| t.cert_file.into()),
            key_file: (!t.key_file.is_empty()).then(|| t.key_file.into()),
        });
        (j.addr, tls)
    } else {
        (text, None)
    };
    let addr = parse_url(url.trim(), tls).map_err(bad)?;
    Ok(Spec {
        name: name.to_string(),
        addr,
        source: path.to_path_buf(),
    })
}

/// Parse a plugin URL. `tls` applies to `https://` (a `.spec` gets Docker's
/// insecure default).
pub fn parse_url(url: &str, tls: Option<TlsSpec>) -> std::result::Result<Addr, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("Unknown protocol: {url:?}"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "unix" => {
            let p = PathBuf::from(rest);
            if !p.is_absolute() {
                return Err(format!("unix socket path must be absolute: {url}"));
            }
            Ok(Addr::Unix(p))
        }
        s @ ("tcp" | "http" | "https") => {
            let host = rest.split('/').next().unwrap_or_default();
            if host.is_empty() || !host.contains(':') {
                return Err(format!("address needs host:port: {url}"));
            }
            let tls = (s == "https").then(|| {
                tls.unwrap_or(TlsSpec {
                    insecure_skip_verify: true,
                    ..TlsSpec::default()
                })
            });
            Ok(Addr::Tcp {
                host: host.to_string(),
                tls,
            })
        }
        "npipe" => Err(format!(
            "npipe:// addresses are Windows named pipes, not available on Linux: {url}"
        )),
        _ => Err(format!("Unknown protocol: {url:?}")),
    }
}

/// Names of every plugin on disk (Docker's `Scan`): sockets and spec files,
/// flat or in a directory of their own name. No retries, no activation.
pub fn scan(dirs: &Dirs) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |n: String| {
        if valid_name(&n) && !out.contains(&n) {
            out.push(n);
        }
    };
    for dir in &dirs.sockets {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(n) = name.strip_suffix(".sock")
                && is_socket(&p)
            {
                push(n.to_string());
            } else if p.is_dir() && is_socket(&p.join(format!("{name}.sock"))) {
                push(name);
            }
        }
    }
    for dir in &dirs.specs {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            let stem = name
                .strip_suffix(".spec")
                .or_else(|| name.strip_suffix(".json"));
            if let Some(n) = stem
                && p.is_file()
            {
                push(n.to_string());
            } else if p.is_dir()
                && ["spec", "json"]
                    .iter()
                    .any(|x| p.join(format!("{name}.{x}")).is_file())
            {
                push(name);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Path) -> Dirs {
        Dirs {
            sockets: vec![root.join("run")],
            specs: vec![root.join("etc"), root.join("lib")],
        }
    }

    #[test]
    fn order_and_formats_follow_docker() {
        let t = tempfile::tempdir().unwrap();
        let d = dirs(t.path());
        for p in [&d.sockets[0], &d.specs[0], &d.specs[1]] {
            std::fs::create_dir_all(p).unwrap();
        }
        assert_eq!(find(&d, "x").unwrap(), None);
        // A json spec in the second spec dir; a .spec in the first wins over it.
        std::fs::write(
            d.specs[1].join("x.json"),
            r#"{"Name":"ignored","Addr":"https://127.0.0.1:9","TLSConfig":{"CAFile":"/ca.pem","InsecureSkipVerify":false}}"#,
        )
        .unwrap();
        let s = find(&d, "x").unwrap().unwrap();
        assert_eq!(s.name, "x");
        match &s.addr {
            Addr::Tcp { host, tls: Some(t) } => {
                assert_eq!(host, "127.0.0.1:9");
                assert_eq!(t.ca_file.as_deref(), Some(Path::new("/ca.pem")));
                assert!(!t.insecure_skip_verify);
            }
            a => panic!("{a:?}"),
        }
        std::fs::create_dir_all(d.specs[0].join("x")).unwrap();
        std::fs::write(d.specs[0].join("x/x.spec"), "tcp://localhost:7\n").unwrap();
        let s = find(&d, "x").unwrap().unwrap();
        assert_eq!(
            s.addr,
            Addr::Tcp {
                host: "localhost:7".into(),
                tls: None
            }
        );
        // A socket beats every spec file; a regular file named .sock does not count.
        std::fs::write(d.sockets[0].join("x.sock"), "").unwrap();
        assert!(matches!(
            find(&d, "x").unwrap().unwrap().addr,
            Addr::Tcp { .. }
        ));
        std::fs::remove_file(d.sockets[0].join("x.sock")).unwrap();
        let _l = std::os::unix::net::UnixListener::bind(d.sockets[0].join("x.sock")).unwrap();
        assert_eq!(
            find(&d, "x").unwrap().unwrap().addr,
            Addr::Unix(d.sockets[0].join("x.sock"))
        );
        std::fs::write(d.specs[0].join("bad.spec"), "gopher://x").unwrap();
        let e = find(&d, "bad").unwrap_err().to_string();
        assert!(e.contains("Unknown protocol"), "{e}");
        assert_eq!(scan(&d), ["bad", "x"]);
        assert_eq!(find(&d, "../x").unwrap(), None);
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("unix:///run/p.sock", None).unwrap(),
            Addr::Unix("/run/p.sock".into())
        );
        assert!(parse_url("unix://rel.sock", None).is_err());
        assert!(
            parse_url("npipe:////./pipe/x", None)
                .unwrap_err()
                .contains("Windows")
        );
        match parse_url("https://h:1", None).unwrap() {
            Addr::Tcp { tls: Some(t), .. } => assert!(t.insecure_skip_verify),
            a => panic!("{a:?}"),
        }
        assert!(parse_url("/just/a/path", None).is_err());
    }
}
