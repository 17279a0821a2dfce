//! Host ports: allocation (explicit, ranged, ephemeral) and reservation.
//!
//! Every published port is reserved by a socket bound (never listening) in the
//! host namespace, as Docker does without its userland proxy: another program
//! cannot take the port while it is published, and binding is also how a port
//! already used by someone else is detected. Traffic itself never reaches the
//! socket: the nat rules rewrite it first.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, socket_with};

use crate::error::{NetError, NetResult};
use crate::ns::{self, HostNs};
use crate::ports::{PortBinding, PortMapping, Proto};

type Key = (Proto, IpAddr, u16);

/// Allocates and holds host ports.
pub struct PortAllocator {
    host: HostNs,
    held: Mutex<HashMap<Key, Option<OwnedFd>>>,
}

fn taken_msg(ip: IpAddr, port: u16) -> NetError {
    NetError::Failed(format!(
        "Bind for {}:{port} failed: port is already allocated",
        fmt_ip(ip)
    ))
}

fn fmt_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    }
}

fn reserve_socket(proto: Proto, ip: IpAddr, port: u16) -> std::io::Result<Option<OwnedFd>> {
    let ty = match proto {
        Proto::Tcp => SocketType::STREAM,
        Proto::Udp => SocketType::DGRAM,
        // SCTP needs a kernel module that may be absent; rely on our own table.
        Proto::Sctp => return Ok(None),
    };
    let fam = if ip.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    // CLOEXEC: a reservation must not leak into processes the daemon spawns
    // (shims, containers), or the port stays taken after berth releases it.
    let fd = socket_with(fam, ty, SocketFlags::CLOEXEC, None)?;
    if ip.is_ipv6() {
        // `[::]:port` reserves the IPv6 side only, next to `0.0.0.0:port`.
        rustix::net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    bind(&fd, &SocketAddr::new(ip, port))?;
    Ok(Some(fd))
}

impl PortAllocator {
    /// An allocator binding its reservations in `host`.
    pub fn new(host: HostNs) -> PortAllocator {
        PortAllocator {
            host,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn conflicts(&self, proto: Proto, ip: IpAddr, port: u16) -> bool {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        // An unspecified address covers its own family only (`0.0.0.0` and a
        // v6-only `[::]` hold the same port side by side).
        held.keys().any(|(p, i, n)| {
            *p == proto
                && *n == port
                && i.is_ipv4() == ip.is_ipv4()
                && (*i == ip || i.is_unspecified() || ip.is_unspecified())
        })
    }

    fn try_take(&self, proto: Proto, ip: IpAddr, port: u16) -> NetResult<bool> {
        if self.conflicts(proto, ip, port) {
            return Ok(false);
        }
        let fd = match self
            .host
            .run(move || match reserve_socket(proto, ip, port) {
                Ok(fd) => Ok(Ok(fd)),
                Err(e) => Ok(Err(e)),
            })? {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return Ok(false),
            Err(e) => return Err(NetError::io(format!("reserve {}:{port}", fmt_ip(ip)), e)),
        };
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((proto, ip, port), fd);
        Ok(true)
    }

    fn ephemeral_range(&self) -> (u16, u16) {
        let r = self
            .host
            .run(|| ns::read_sysctl("net/ipv4/ip_local_port_range"))
            .unwrap_or_default();
        let mut it = r.split_whitespace().filter_map(|v| v.parse::<u16>().ok());
        match (it.next(), it.next()) {
            (Some(a), Some(b)) if a <= b && a > 0 => (a, b),
            _ => (32768, 60999),
        }
    }

    /// Take a host port for `b` (host address `default_ip` when it names none).
    pub fn allocate(&self, b: &PortBinding, default_ip: IpAddr) -> NetResult<PortMapping> {
        let ip = b.host_ip.unwrap_or(default_ip);
        let proto = b.container.proto;
        let done = |port| PortMapping {
            container: b.container,
            host_ip: ip,
            host_port: port,
        };
        if b.host_port != 0 {
            for port in b.host_port..=b.host_port_end.max(b.host_port) {
                if self.try_take(proto, ip, port)? {
                    return Ok(done(port));
                }
            }
            return Err(taken_msg(ip, b.host_port));
        }
        let (lo, hi) = self.ephemeral_range();
        let span = (hi - lo) as u32 + 1;
        let start = rand::random::<u32>() % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            if self.try_take(proto, ip, port)? {
                return Ok(done(port));
            }
        }
        Err(NetError::Failed(format!(
            "no free host port for {}",
            b.container
        )))
    }

    /// The host port of `m` at another host address too (`[::]` beside `0.0.0.0`
    /// for a container with an IPv6 address).
    pub fn allocate_beside(&self, m: &PortMapping, ip: IpAddr) -> NetResult<PortMapping> {
        if !self.try_take(m.container.proto, ip, m.host_port)? {
            return Err(taken_msg(ip, m.host_port));
        }
        Ok(PortMapping { host_ip: ip, ..*m })
    }

    /// Take exactly the port of `m` again (daemon restart). Best effort: a port
    /// taken by someone else meanwhile is logged, since the nat rule still wins.
    pub fn retake(&self, m: &PortMapping) {
        match self.try_take(m.container.proto, m.host_ip, m.host_port) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "published port {}:{} is in use by another program",
                m.host_ip,
                m.host_port
            ),
            Err(e) => tracing::warn!("cannot reserve {}:{}: {e}", m.host_ip, m.host_port),
        }
    }

    /// Give a port back.
    pub fn release(&self, m: &PortMapping) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(m.container.proto, m.host_ip, m.host_port));
    }

    /// Number of ports held (tests).
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
