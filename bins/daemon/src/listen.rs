//! Binding the API listeners named by `-H`: unix sockets (mode 0660, root and
//! the `--group`), and plain TCP on loopback only (with a warning: anyone on the
//! host can then drive the daemon).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use berth_server::Listener;

/// Socket files to remove at shutdown.
pub struct Cleanup(Vec<PathBuf>);

impl Cleanup {
    /// Remove the socket files this daemon created.
    pub fn remove(&self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A parsed `-H` address.
#[derive(Debug, PartialEq, Eq)]
pub enum Addr {
    Unix(PathBuf),
    Tcp(String),
}

/// Parse `unix:///path`, `/path`, `tcp://host:port`.
pub fn parse_host(h: &str) -> Result<Addr> {
    if let Some(p) = h.strip_prefix("unix://") {
        if p.is_empty() {
            bail!("invalid host {h:?}: empty socket path");
        }
        return Ok(Addr::Unix(PathBuf::from(p)));
    }
    if h.starts_with('/') {
        return Ok(Addr::Unix(PathBuf::from(h)));
    }
    if let Some(rest) = h.strip_prefix("tcp://") {
        let rest = rest.trim_end_matches('/');
        let hostport = if rest.starts_with(':') {
            format!("127.0.0.1{rest}")
        } else {
            rest.to_string()
        };
        if !hostport.contains(':') {
            return Ok(Addr::Tcp(format!("{hostport}:2375")));
        }
        return Ok(Addr::Tcp(hostport));
    }
    bail!("invalid host {h:?}: expected unix:///path or tcp://127.0.0.1:port")
}

fn group_id(name: &str) -> Result<u32> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?, f.nth(1)?))
        })
        .find(|(n, _)| *n == name)
        .and_then(|(_, gid)| gid.parse().ok())
        .with_context(|| format!("group {name:?} not found"))
}

fn bind_unix(path: &PathBuf, group: Option<&str>) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if path.exists() {
        // A live daemon (perhaps with another data root) may own it: never steal it.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use by another daemon", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    let gid = match group {
        Some(g) => group_id(g)?,
        None => 0,
    };
    std::os::unix::fs::chown(path, Some(0), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    Ok(l)
}

fn bind_tcp(hostport: &str, tls: bool) -> Result<tokio::net::TcpListener> {
    let addrs: Vec<SocketAddr> = hostport
        .to_socket_addrs()
        .with_context(|| format!("resolve {hostport}"))?
        .collect();
    let addr = addrs
        .first()
        .copied()
        .with_context(|| format!("no address for {hostport}"))?;
    if tls {
        let std = std::net::TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
        std.set_nonblocking(true)?;
        return Ok(tokio::net::TcpListener::from_std(std)?);
    }
    if !is_loopback(addr.ip()) {
        bail!(
            "refusing to listen on tcp://{hostport} without TLS: plain TCP is only allowed on loopback addresses"
        );
    }
    tracing::warn!(
        "listening on tcp://{addr} without TLS: any local user can control berth through it"
    );
    let std = std::net::TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
    std.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(std)?)
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// Bind every `-H` address; TCP listeners use TLS when `tls` is given.
pub fn bind_all(
    hosts: &[String],
    group: Option<&str>,
    tls: Option<&berth_server::tls::TlsFiles>,
) -> Result<(Vec<Listener>, Cleanup)> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    let acceptor = match tls {
        Some(f) => Some(berth_server::tls::acceptor(f).map_err(anyhow::Error::msg)?),
        None => None,
    };
    for h in hosts {
        match parse_host(h)? {
            Addr::Unix(p) => {
                out.push(Listener::Unix(bind_unix(&p, group)?));
                files.push(p);
            }
            Addr::Tcp(hp) => match &acceptor {
                Some(a) => out.push(Listener::Tls(bind_tcp(&hp, true)?, a.clone())),
                None => out.push(Listener::Tcp(bind_tcp(&hp, false)?)),
            },
        }
    }
    Ok((out, Cleanup(files)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        assert_eq!(
            parse_host("unix:///run/x.sock").unwrap(),
            Addr::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_host("/run/x.sock").unwrap(),
            Addr::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2375").unwrap(),
            Addr::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_host("tcp://:2375").unwrap(),
            Addr::Tcp("127.0.0.1:2375".into())
        );
        assert!(parse_host("http://x").is_err());
    }

    #[test]
    fn non_loopback_tcp_is_refused() {
        let err = bind_tcp("0.0.0.0:0", false).err().unwrap().to_string();
        assert!(err.contains("without TLS"), "{err}");
    }
}
