//! The netlink operations berth needs, over one rtnetlink connection bound to
//! one network namespace.
//!
//! A connection's socket is created by a thread that is in the target
//! namespace (see [`crate::ns`]); the connection task then runs on tokio like any
//! other, and every request on it acts in that namespace. This is the kernel
//! seam of the bridge driver and the sandbox: a small concrete type rather than
//! a trait, because tests run it against real kernel objects in throwaway
//! namespaces instead of a fake.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;
use std::path::Path;

use futures::TryStreamExt;
use ipnet::{IpNet, Ipv4Net};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteScope, RouteType,
};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use crate::error::{NetError, NetResult};
use crate::ns::{self, HostNs};

/// One link as netlink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Index of the bridge it is enslaved to.
    pub master: Option<u32>,
    /// `bridge`, `veth`, … when the kernel says.
    pub kind: Option<String>,
}

/// A netlink connection in one namespace.
#[derive(Clone)]
pub struct Nl {
    handle: Handle,
}

/// The errno of a netlink error, if it carries one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn nl_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let what = what.into();
    move |e| match errno(&e) {
        Some(code) => NetError::io(what, std::io::Error::from_raw_os_error(code)),
        None => NetError::netlink(what, e),
    }
}

impl Nl {
    /// Open a connection in the calling thread's namespace; must run with a
    /// tokio runtime entered (the socket registers with its reactor).
    pub fn connect_here(rt: &tokio::runtime::Handle) -> std::io::Result<Nl> {
        let _guard = rt.enter();
        let (conn, handle, _) = rtnetlink::new_connection()?;
        rt.spawn(conn);
        Ok(Nl { handle })
    }

    /// Open a connection in the host namespace (needs a tokio runtime, not necessarily entered from async code).
    pub fn open_host(host: &HostNs) -> NetResult<Nl> {
        let rt = runtime()?;
        match host.path() {
            None => Nl::connect_here(&rt).map_err(|e| NetError::io("open netlink socket", e)),
            Some(p) => Nl::open_in(p),
        }
    }

    /// Open a connection in the namespace bound at `path`.
    pub fn open_in(path: &Path) -> NetResult<Nl> {
        let rt = runtime()?;
        ns::run_in(path, move || Nl::connect_here(&rt))
    }

    /// The link called `name`, if any.
    pub async fn link(&self, name: &str) -> NetResult<Option<Link>> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Some(to_link(&m))),
            Ok(None) => Ok(None),
            Err(e) if matches!(errno(&e), Some(libc::ENODEV)) => Ok(None),
            Err(e) => Err(nl_err(format!("look up link {name}"))(e)),
        }
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> NetResult<Vec<Link>> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl_err("list links"))?;
        Ok(msgs.iter().map(to_link).collect())
    }

    /// Create a bridge (up) or reuse an existing one; returns its index.
    pub async fn ensure_bridge(&self, name: &str, mtu: Option<u32>) -> NetResult<u32> {
        if let Some(l) = self.link(name).await? {
            self.set(
                LinkUnspec::new_with_index(l.index).up(),
                &format!("bring up {name}"),
            )
            .await?;
            return Ok(l.index);
        }
        let mut b = LinkBridge::new(name).up();
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        match self.handle.link().add(b.build()).execute().await {
            Ok(()) => {}
            Err(e) if matches!(errno(&e), Some(libc::EEXIST)) => {}
            Err(e) => return Err(nl_err(format!("create bridge {name}"))(e)),
        }
        self.link(name)
            .await?
            .map(|l| l.index)
            .ok_or_else(|| NetError::NotFound(format!("bridge {name} vanished")))
    }

    /// Create a veth pair with both ends in this namespace, the host end
    /// already enslaved to `master`; returns the host end's index.
    pub async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
        master: u32,
    ) -> NetResult<u32> {
        self.create_veth_into(host, peer, mtu, master, None, None)
            .await
    }

    /// Create a veth pair whose peer is created directly in the namespace open
    /// at `peer_ns` (named `peer`, with `peer_mac`); returns the host end's index.
    /// The host end is created enslaved to `master` in the same message, so
    /// no moment exists where a berth veth hangs loose on the host: the
    /// restore sweep can tell ours (on our bridge) from another daemon's.
    pub async fn create_veth_into(
        &self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
        master: u32,
        peer_ns: Option<RawFd>,
        peer_mac: Option<[u8; 6]>,
    ) -> NetResult<u32> {
        let mut peer_msg = LinkUnspec::new_with_name(peer);
        if let Some(fd) = peer_ns {
            peer_msg = peer_msg.setns_by_fd(fd);
        }
        if let Some(m) = peer_mac {
            peer_msg = peer_msg.address(m.to_vec());
        }
        let mut b = LinkVeth::new(host, peer).controller(master);
        if let Some(m) = mtu {
            peer_msg = peer_msg.mtu(m);
            b = b.mtu(m);
        }
        let b = b.set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(nl_err(format!("create veth {host}")))?;
        self.link(host)
            .await?
            .map(|l| l.index)
            .ok_or_else(|| NetError::NotFound(format!("veth {host} vanished")))
    }

    async fn set(&self, b: LinkMessageBuilder<LinkUnspec>, what: &str) -> NetResult<()> {
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(nl_err(what))
    }

    /// Enslave `index` to `master`, bring it up, and turn on hairpin mode:
    /// with `br_netfilter` active (bridge-nf-call-iptables), a container's
    /// traffic to its own published port is DNAT'd at the bridge and must be
    /// bridged back out of the port it came in on.
    pub async fn attach_up(&self, index: u32, master: u32) -> NetResult<()> {
        self.set(
            LinkUnspec::new_with_index(index).controller(master).up(),
            "attach port to bridge",
        )
        .await?;
        let msg = LinkBridgePort::new(index).hairpin(true).build();
        self.handle
            .link()
            .set_port(msg)
            .execute()
            .await
            .map_err(nl_err("set hairpin mode"))
    }

    /// Bring a link up.
    pub async fn up(&self, index: u32) -> NetResult<()> {
        self.set(LinkUnspec::new_with_index(index).up(), "bring link up")
            .await
    }

    /// Move a link into the namespace open at `fd`.
    pub async fn move_to(&self, index: u32, fd: RawFd) -> NetResult<()> {
        self.set(
            LinkUnspec::new_with_index(index).setns_by_fd(fd),
            "move link into sandbox",
        )
        .await
    }

    /// Rename, set the MAC and bring up a (down) link in one request: the
    /// kernel applies the name before the flags.
    pub async fn rename_up(&self, index: u32, name: &str, mac: Option<[u8; 6]>) -> NetResult<()> {
        let mut b = LinkUnspec::new_with_index(index)
            .name(name.to_string())
            .up();
        if let Some(m) = mac {
            b = b.address(m.to_vec());
        }
        self.set(b, &format!("configure {name}")).await
    }

    /// Delete a link; already gone is fine.
    pub async fn delete(&self, index: u32) -> NetResult<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::ENODEV) | Some(libc::ENOENT)) => Ok(()),
            Err(e) => Err(nl_err("delete link")(e)),
        }
    }

    /// Delete a link by name; absent is fine.
    pub async fn delete_named(&self, name: &str) -> NetResult<()> {
        match self.link(name).await? {
            Some(l) => self.delete(l.index).await,
            None => Ok(()),
        }
    }

    /// Add an address to a link; present already is fine.
    pub async fn add_addr(&self, index: u32, addr: IpNet) -> NetResult<()> {
        let mut req = self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len());
        if addr.addr().is_ipv6() {
            // No duplicate address detection, as libnetwork configures them:
            // the address is usable at once instead of "tentative" for ~1 s,
            // and IPAM already guarantees it is unique on the bridge.
            use netlink_packet_route::address::{AddressAttribute, AddressFlags};
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::EEXIST)) => Ok(()),
            Err(e) => Err(nl_err(format!("add address {addr}"))(e)),
        }
    }

    /// Add an IPv4 route: via `gw`, or on-link through `oif` when `gw` is `None`.
    pub async fn add_route_v4(
        &self,
        dst: Ipv4Net,
        gw: Option<Ipv4Addr>,
        oif: Option<u32>,
    ) -> NetResult<()> {
        let mut b =
            RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(dst.addr(), dst.prefix_len());
        if let Some(g) = gw {
            b = b.gateway(g);
        }
        if let Some(i) = oif {
            b = b.output_interface(i);
            if gw.is_none() {
                b = b.scope(RouteScope::Link);
            }
        }
        self.add_route(b.build(), &dst).await
    }

    /// Add an IPv6 route via `gw` (the container's default route on a
    /// network with IPv6).
    pub async fn add_route_v6(&self, dst: ipnet::Ipv6Net, gw: std::net::Ipv6Addr) -> NetResult<()> {
        let b = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .destination_prefix(dst.addr(), dst.prefix_len())
            .gateway(gw);
        self.add_route(b.build(), &dst).await
    }

    /// Send a built route; one that exists already is fine.
    async fn add_route(
        &self,
        route: RouteMessage,
        dst: &(dyn std::fmt::Display + Sync),
    ) -> NetResult<()> {
        match self.handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::EEXIST)) => Ok(()),
            Err(e) => Err(nl_err(format!("add route {dst}"))(e)),
        }
    }

    /// Destinations of the main table's unicast routes, IPv4 and IPv6, default
    /// routes excluded: what a new dynamic address pool must not overlap.
    pub async fn routes(&self) -> NetResult<Vec<IpNet>> {
        let mut out = self
            .route_dsts(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .await?;
        out.extend(
            self.route_dsts(RouteMessageBuilder::<std::net::Ipv6Addr>::new().build())
                .await?,
        );
        Ok(out)
    }

    async fn route_dsts(&self, req: RouteMessage) -> NetResult<Vec<IpNet>> {
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(req)
            .execute()
            .try_collect()
            .await
            .map_err(nl_err("list routes"))?;
        let mut out = Vec::new();
        for m in msgs {
            if m.header.table != RouteHeader::RT_TABLE_MAIN
                || m.header.kind != RouteType::Unicast
                || m.header.destination_prefix_length == 0
            {
                continue;
            }
            let len = m.header.destination_prefix_length;
            for a in &m.attributes {
                let net = match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                        Ipv4Net::new(*ip, len).map(IpNet::V4).ok()
                    }
                    RouteAttribute::Destination(RouteAddress::Inet6(ip)) => {
                        ipnet::Ipv6Net::new(*ip, len).map(IpNet::V6).ok()
                    }
                    _ => None,
                };
                out.extend(net.map(|n| n.trunc()));
            }
        }
        Ok(out)
    }

    /// The addresses of a link.
    pub async fn addrs(&self, index: u32) -> NetResult<Vec<IpNet>> {
        use netlink_packet_route::address::AddressAttribute;
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(nl_err("list addresses"))?;
        let mut out = Vec::new();
        for m in msgs {
            for a in &m.attributes {
                if let AddressAttribute::Address(ip) = a
                    && let Ok(n) = IpNet::new(*ip, m.header.prefix_len)
                {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }
}

/// The current tokio runtime, as an error rather than a panic when there is none.
pub fn runtime() -> NetResult<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .map_err(|e| NetError::io("netlink", std::io::Error::other(e.to_string())))
}

fn to_link(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        master: None,
        kind: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Controller(i) => l.master = Some(*i),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(match k {
                            InfoKind::Bridge => "bridge".to_string(),
                            InfoKind::Veth => "veth".to_string(),
                            other => format!("{other:?}").to_lowercase(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    l
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return None;
        }
        out[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// Format a MAC the way Docker shows it.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A random locally administered unicast MAC (Docker's `02:42:` prefix).
pub fn random_mac() -> [u8; 6] {
    let r: [u8; 4] = rand::random();
    [0x02, 0x42, r[0], r[1], r[2], r[3]]
}

/// Is `ip` an IPv4 address? (helper for callers holding `IpAddr`).
pub fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}
