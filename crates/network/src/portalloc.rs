//! Host ports: allocation (explicit, ranged, ephemeral) and reservation.
//!
//! Every published port is reserved by a socket bound in the host namespace:
//! another program cannot take the port while it is published, and binding is
//! also how a port already used by someone else is detected. Most traffic
//! never reaches the socket (the nat rules rewrite it first); with the
//! userland proxy on, the socket takes what they cannot carry and
//! [`crate::proxy`] relays it ([`PortAllocator::proxy`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use tokio::task::JoinHandle;

use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, socket_with};

use crate::error::{NetError, NetResult};
use crate::ns::{self, HostNs};
use crate::ports::{PortBinding, PortMapping, Proto};

type Key = (Proto, IpAddr, u16);

/// What holds one host port.
#[derive(Default)]
struct Held {
    /// The reserving socket (none for SCTP).
    socket: Option<OwnedFd>,
    /// The proxy relaying what reaches the socket, over a duplicate of it
    /// (so a proxy that cannot start leaves the reservation as it was);
    /// aborting it closes the duplicate.
    proxy: Option<JoinHandle<()>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // A dropped allocator (its driver gone) leaves no proxy behind.
        if let Some(task) = &self.proxy {
            task.abort();
        }
    }
}

/// Allocates and holds host ports.
pub struct PortAllocator {
    host: HostNs,
    held: Mutex<HashMap<Key, Held>>,
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

/// The socket family of `ip`.
pub(crate) fn address_family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    }
}

fn reserve_socket(proto: Proto, ip: IpAddr, port: u16) -> std::io::Result<Option<OwnedFd>> {
    let ty = match proto {
        Proto::Tcp => SocketType::STREAM,
        Proto::Udp => SocketType::DGRAM,
        // SCTP needs a kernel module that may be absent; rely on our own table.
        Proto::Sctp => return Ok(None),
    };
    let fam = address_family(ip);
    // CLOEXEC: a reservation must not leak into processes the daemon spawns
    // (shims, containers), or the port stays taken after berth releases it.
    let fd = socket_with(fam, ty, SocketFlags::CLOEXEC, None)?;
    if proto == Proto::Tcp {
        // Connections the proxy relayed linger in TIME_WAIT on this port after
        // it is released; they must not stop it being published again. A
        // socket listening on the port still makes the bind fail.
        rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    }
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
        self.held.lock().unwrap_or_else(|p| p.into_inner()).insert(
            (proto, ip, port),
            Held {
                socket: fd,
                proxy: None,
            },
        );
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

    /// The host port of `m` at another host address too (`[::]` beside
    /// `0.0.0.0`). `None` when the host has no such address family (IPv6
    /// disabled).
    pub fn allocate_beside(&self, m: &PortMapping, ip: IpAddr) -> NetResult<Option<PortMapping>> {
        match self.try_take(m.container.proto, ip, m.host_port) {
            Ok(true) => Ok(Some(PortMapping { host_ip: ip, ..*m })),
            Ok(false) => Err(taken_msg(ip, m.host_port)),
            Err(NetError::Io { source, .. })
                if matches!(
                    source.raw_os_error(),
                    Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Relay what reaches `m`'s socket to `target` (see [`crate::proxy`]).
    /// Best effort: without it the nat path still works, so a failure is logged.
    pub fn proxy(&self, m: &PortMapping, target: IpAddr) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let Some(h) = held.get_mut(&(m.container.proto, m.host_ip, m.host_port)) else {
            return;
        };
        let (Some(socket), None) = (&h.socket, &h.proxy) else {
            return;
        };
        let to = SocketAddr::new(target, m.container.port);
        let start = match m.container.proto {
            Proto::Tcp => crate::proxy::tcp,
            Proto::Udp => crate::proxy::udp,
            Proto::Sctp => return,
        };
        let started = socket
            .try_clone()
            .and_then(|dup| start(self.host.clone(), dup, to));
        match started {
            Ok(task) => h.proxy = Some(task),
            Err(e) => tracing::warn!(
                "no userland proxy for {}:{}: {e}",
                fmt_ip(m.host_ip),
                m.host_port
            ),
        }
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

    /// Give a port back; once this returns it can be bound again (a proxy's
    /// socket is closed when its task has ended, not when it is aborted).
    pub async fn release(&self, m: &PortMapping) {
        let held = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(m.container.proto, m.host_ip, m.host_port));
        if let Some(task) = held.and_then(|mut h| h.proxy.take()) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Number of ports held (tests).
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
