//! Forwarding names the embedded DNS does not know to upstream resolvers.
//!
//! Queries are forwarded from the host namespace, with a fresh socket per
//! query (random source port, no shared state to demultiplex). Docker forwards
//! from the container's namespace except for loopback upstreams; forwarding
//! from the host reaches every upstream Docker could (host loopback resolvers
//! such as 127.0.0.53, LAN resolvers, and containers' `--dns` addresses through
//! the host's routes) without entering a namespace per query.
//!
//! Upstreams, first non-empty wins: the container's `--dns`, the daemon's
//! configured upstreams (tests point these at a fake server), the host's
//! `/etc/resolv.conf` nameservers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ns::HostNs;

/// Per-upstream timeout.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Sends queries upstream.
pub struct Forwarder {
    host: HostNs,
    configured: Option<Vec<SocketAddr>>,
}

/// Nameservers of a resolv.conf text (port 53), minus berth's own resolver.
pub fn resolv_conf_servers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|s| s.split('%').next().and_then(|s| s.parse::<IpAddr>().ok()))
        .filter(|ip| *ip != IpAddr::V4(super::RESOLVER_IP))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

impl Forwarder {
    /// A forwarder acting from `host`.
    pub fn new(host: HostNs, configured: Option<Vec<SocketAddr>>) -> Forwarder {
        Forwarder { host, configured }
    }

    /// The upstreams for a sandbox with `own` servers.
    pub fn upstreams(&self, own: &[SocketAddr]) -> Vec<SocketAddr> {
        if !own.is_empty() {
            return own.to_vec();
        }
        if let Some(c) = &self.configured {
            return c.clone();
        }
        resolv_conf_servers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
    }

    async fn udp_socket(&self, v6: bool) -> std::io::Result<tokio::net::UdpSocket> {
        let bind: SocketAddr = if v6 {
            "[::]:0".parse()
        } else {
            "0.0.0.0:0".parse()
        }
        .map_err(|_| std::io::Error::other("bad bind address"))?;
        let std_sock = match self.host.path() {
            None => std::net::UdpSocket::bind(bind)?,
            Some(_) => self
                .host
                .run(move || std::net::UdpSocket::bind(bind))
                .map_err(std::io::Error::other)?,
        };
        std_sock.set_nonblocking(true)?;
        tokio::net::UdpSocket::from_std(std_sock)
    }

    async fn tcp_stream(&self, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
        match self.host.path() {
            None => tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(to))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?,
            Some(_) => {
                let s = self
                    .host
                    .run(move || std::net::TcpStream::connect_timeout(&to, TIMEOUT))
                    .map_err(std::io::Error::other)?;
                s.set_nonblocking(true)?;
                tokio::net::TcpStream::from_std(s)
            }
        }
    }

    /// One UDP exchange with one upstream.
    async fn udp_once(&self, to: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
        let sock = self.udp_socket(to.is_ipv6()).await?;
        sock.connect(to).await?;
        sock.send(query).await?;
        let mut buf = vec![0u8; 65535];
        let n = tokio::time::timeout(TIMEOUT, sock.recv(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        buf.truncate(n);
        Ok(buf)
    }

    /// One TCP exchange with one upstream (2-byte length framing).
    async fn tcp_once(&self, to: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut s = self.tcp_stream(to).await?;
        let len =
            u16::try_from(query.len()).map_err(|_| std::io::Error::other("query too long"))?;
        let exchange = async {
            s.write_all(&len.to_be_bytes()).await?;
            s.write_all(query).await?;
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await?;
            let mut buf = vec![0u8; u16::from_be_bytes(l) as usize];
            s.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    /// Ask each upstream in turn; the first answer wins.
    pub async fn forward(
        &self,
        upstreams: &[SocketAddr],
        query: &[u8],
        tcp: bool,
    ) -> Option<Vec<u8>> {
        for up in upstreams {
            let res = if tcp {
                self.tcp_once(*up, query).await
            } else {
                self.udp_once(*up, query).await
            };
            match res {
                Ok(reply) if reply.len() >= 12 && reply[..2] == query[..2] => return Some(reply),
                Ok(_) => tracing::debug!("dns: malformed reply from {up}"),
                Err(e) => tracing::debug!("dns: upstream {up}: {e}"),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_parsing() {
        let s = resolv_conf_servers(
            "# x\nnameserver 10.0.0.1\nnameserver 127.0.0.11\nnameserver fe80::1%eth0\nsearch a\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].to_string(), "10.0.0.1:53");
    }
}
