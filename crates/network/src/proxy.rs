//! The userland proxy: published-port traffic that no nat rule can carry,
//! copied to the container by berthd.
//!
//! The nat rules ([`crate::firewall`]) rewrite traffic to a published port
//! before it reaches the socket that reserves the port, except where a rule
//! cannot apply: `[::1]` (the kernel drops IPv6 loopback traffic routed off
//! the host, so a DNAT to a container goes nowhere), an IPv6 host address of
//! a container that has only IPv4 (nat keeps the address family), and every
//! address when berth may not program the firewall (`--iptables=false`).
//! As with dockerd's `docker-proxy`, the reserving socket then takes the
//! traffic and a proxy relays it, so `curl localhost:8080` works whichever
//! address `localhost` resolves to first. Unlike `docker-proxy` this is a
//! task in berthd, not a process per port: connections through it end when
//! the port is unpublished and while berthd restarts (those on the nat path
//! do not).
//!
//! TCP connections are spliced both ways with half-close; UDP gets one flow
//! (a connected socket towards the container) per client address, forgotten
//! after [`UDP_IDLE`] without traffic, as `docker-proxy` does.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::net::{SocketFlags, SocketType, socket_with};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use crate::ns::HostNs;
use crate::portalloc::address_family;

/// How long a UDP flow lives without a datagram either way.
pub const UDP_IDLE: Duration = Duration::from_secs(90);
/// Pending connections the kernel queues for the proxy.
const BACKLOG: i32 = 1024;
/// Copy buffer per direction of a relayed TCP connection (tokio's default
/// 8 KiB costs a syscall pair per 8 KiB; 64 KiB doubles bulk throughput,
/// to about half of the nat path's here).
const COPY_BUF: usize = 64 << 10;
/// Pause after a failed accept (out of descriptors), so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A socket in `host` towards `target`'s family (non-blocking, close-on-exec):
/// outgoing traffic is routed by the namespace its socket was made in.
fn socket_towards(host: &HostNs, target: SocketAddr, ty: SocketType) -> io::Result<OwnedFd> {
    let fam = address_family(target.ip());
    host.run(move || {
        socket_with(fam, ty, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK, None).map_err(Into::into)
    })
    .map_err(io::Error::other)
}

/// Relay TCP connections accepted on `reserved` (bound, not yet listening) to
/// `target`. Aborting the task closes its descriptor and every relayed connection.
pub fn tcp(host: HostNs, reserved: OwnedFd, target: SocketAddr) -> io::Result<JoinHandle<()>> {
    rustix::net::listen(&reserved, BACKLOG)?;
    let listener = std::net::TcpListener::from(reserved);
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    Ok(tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((client, _)) => {
                        conns.spawn(relay_tcp(host.clone(), client, target));
                    }
                    Err(e) => {
                        tracing::warn!("proxy for {target}: accept: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    }))
}

async fn relay_tcp(host: HostNs, mut client: TcpStream, target: SocketAddr) {
    let upstream = async {
        let fd = socket_towards(&host, target, SocketType::STREAM)?;
        TcpSocket::from_std_stream(std::net::TcpStream::from(fd))
            .connect(target)
            .await
    };
    let mut server = match upstream.await {
        Ok(s) => s,
        Err(e) => {
            // The client sees its connection closed, as with docker-proxy.
            tracing::debug!("proxy: connect {target}: {e}");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, COPY_BUF, COPY_BUF)
        .await;
}

/// Relay UDP datagrams received on `reserved` (bound) to `target` and the
/// answers back. Aborting the task closes its descriptor and every flow.
pub fn udp(host: HostNs, reserved: OwnedFd, target: SocketAddr) -> io::Result<JoinHandle<()>> {
    let sock = std::net::UdpSocket::from(reserved);
    sock.set_nonblocking(true)?;
    let sock = Arc::new(UdpSocket::from_std(sock)?);
    Ok(tokio::spawn(async move {
        let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
        let mut ended = JoinSet::new();
        let mut buf = vec![0u8; 65535];
        loop {
            tokio::select! {
                got = sock.recv_from(&mut buf) => {
                    let Ok((n, client)) = got else { continue };
                    let flow = match flows.get(&client) {
                        Some(flow) => flow.clone(),
                        None => match Flow::open(&host, target).await {
                            Ok(flow) => {
                                ended.spawn(flow.clone().answers(sock.clone(), client));
                                flows.insert(client, flow.clone());
                                flow
                            }
                            Err(e) => {
                                tracing::debug!("proxy: udp flow to {target}: {e}");
                                continue;
                            }
                        },
                    };
                    flow.active.store(true, Ordering::Relaxed);
                    let _ = flow.up.send(&buf[..n]).await;
                }
                Some(Ok(client)) = ended.join_next(), if !ended.is_empty() => {
                    flows.remove(&client);
                }
            }
        }
    }))
}

/// One client's datagrams towards the container.
#[derive(Clone)]
struct Flow {
    up: Arc<UdpSocket>,
    /// A datagram went up since the answers' task last looked.
    active: Arc<AtomicBool>,
}

impl Flow {
    async fn open(host: &HostNs, target: SocketAddr) -> io::Result<Flow> {
        let fd = socket_towards(host, target, SocketType::DGRAM)?;
        let up = UdpSocket::from_std(std::net::UdpSocket::from(fd))?;
        up.connect(target).await?;
        Ok(Flow {
            up: Arc::new(up),
            active: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Send the container's answers to `client` until the flow idles; then
    /// yield `client` so the flow is forgotten.
    async fn answers(self, down: Arc<UdpSocket>, client: SocketAddr) -> SocketAddr {
        let mut buf = vec![0u8; 65535];
        loop {
            match tokio::time::timeout(UDP_IDLE, self.up.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    let _ = down.send_to(&buf[..n], client).await;
                }
                // ICMP unreachable from a container not listening (yet): keep the flow.
                Ok(Err(_)) => {}
                Err(_) if self.active.swap(false, Ordering::Relaxed) => {}
                Err(_) => return client,
            }
        }
    }
}
