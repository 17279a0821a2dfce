//! Guest networking: the interfaces the host attached (found by MAC) get the
//! container endpoint's names, addresses and MTU, then the routes. Classic
//! `SIOC*` ioctls do all of it without a netlink library.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::proto::{Iface, Route};
use crate::sys;

const SIOCADDRT: u64 = 0x890B;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCSIFFLAGS: u64 = 0x8914;
const SIOCSIFADDR: u64 = 0x8916;
const SIOCSIFNETMASK: u64 = 0x891c;
const SIOCSIFMTU: u64 = 0x8922;
const SIOCSIFNAME: u64 = 0x8923;
const SIOCGIFINDEX: u64 = 0x8933;
const IFF_UP: i16 = 1;
const RTF_UP: u16 = 1;
const RTF_GATEWAY: u16 = 2;

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        let mut r = IfReq {
            name: [0; 16],
            data: [0; 24],
        };
        if name.len() >= 16 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name too long",
            ));
        }
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(r)
    }
}

#[repr(C)]
struct RtEntry {
    pad1: u64,
    dst: [u8; 16],
    gateway: [u8; 16],
    genmask: [u8; 16],
    flags: u16,
    pad2: i16,
    pad3: u64,
    pad4: *mut u8,
    metric: i16,
    dev: *const i8,
    mtu: u64,
    window: u64,
    irtt: u16,
}

#[repr(C)]
struct In6IfReq {
    addr: [u8; 16],
    prefixlen: u32,
    ifindex: i32,
}

#[repr(C)]
struct In6RtMsg {
    dst: [u8; 16],
    src: [u8; 16],
    gateway: [u8; 16],
    ty: u32,
    dst_len: u16,
    src_len: u16,
    metric: u32,
    info: u64,
    flags: u32,
    ifindex: i32,
}

fn sockaddr_in(a: Ipv4Addr) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..2].copy_from_slice(&(sys::AF_INET as u16).to_ne_bytes());
    s[4..8].copy_from_slice(&a.octets());
    s
}

fn sock(family: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers.
    let fd = unsafe { sys::socket(family, sys::SOCK_DGRAM | sys::SOCK_CLOEXEC, 0) };
    sys::check(fd, "socket")?;
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl<T>(fd: &OwnedFd, req: u64, arg: &mut T, what: &str) -> io::Result<()> {
    // SAFETY: `arg` points at a live struct of the layout `req` expects.
    let rc = unsafe { sys::ioctl(fd.as_raw_fd(), req, arg as *mut T) };
    sys::check(rc, what)
}

fn parse_cidr(s: &str) -> io::Result<(IpAddr, u8)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {s}"));
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, p.parse().map_err(|_| bad())?))
}

fn set_up(s: &OwnedFd, name: &str, up: bool) -> io::Result<()> {
    let mut r = IfReq::new(name)?;
    ioctl(s, SIOCGIFFLAGS, &mut r, "get flags")?;
    let mut flags = i16::from_ne_bytes([r.data[0], r.data[1]]);
    flags = if up { flags | IFF_UP } else { flags & !IFF_UP };
    r.data[..2].copy_from_slice(&flags.to_ne_bytes());
    ioctl(s, SIOCSIFFLAGS, &mut r, &format!("set {name} up"))
}

fn ifindex(s: &OwnedFd, name: &str) -> io::Result<i32> {
    let mut r = IfReq::new(name)?;
    ioctl(s, SIOCGIFINDEX, &mut r, "get index")?;
    Ok(i32::from_ne_bytes([
        r.data[0], r.data[1], r.data[2], r.data[3],
    ]))
}

/// Interface names by MAC (lower case, colon separated).
fn by_mac() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
        for e in rd.flatten() {
            let mac = std::fs::read_to_string(e.path().join("address")).unwrap_or_default();
            out.push((
                mac.trim().to_ascii_lowercase(),
                e.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    out
}

/// Bring up `lo`, then name, address and start every interface.
pub fn configure(ifaces: &[Iface], routes: &[Route]) -> io::Result<()> {
    let s4 = sock(sys::AF_INET)?;
    set_up(&s4, "lo", true)?;
    let present = by_mac();
    // Two passes of renames, so a wanted name held by another interface is free.
    let mut found = Vec::new();
    for (i, want) in ifaces.iter().enumerate() {
        let Some((_, cur)) = present
            .iter()
            .find(|(m, _)| *m == want.mac.to_ascii_lowercase())
        else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no guest interface with MAC {}", want.mac),
            ));
        };
        let tmp = format!("vmt{i}");
        rename(&s4, cur, &tmp)?;
        found.push(tmp);
    }
    for (tmp, want) in found.iter().zip(ifaces) {
        rename(&s4, tmp, &want.name)?;
        if want.mtu > 0 {
            let mut r = IfReq::new(&want.name)?;
            r.data[..4].copy_from_slice(&(want.mtu as i32).to_ne_bytes());
            ioctl(&s4, SIOCSIFMTU, &mut r, "set mtu")?;
        }
        set_up(&s4, &want.name, true)?;
        for a in &want.addrs {
            match parse_cidr(a)? {
                (IpAddr::V4(ip), len) => {
                    let mut r = IfReq::new(&want.name)?;
                    r.data[..16].copy_from_slice(&sockaddr_in(ip));
                    ioctl(&s4, SIOCSIFADDR, &mut r, &format!("address {a}"))?;
                    let mask = if len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(len.min(32)))
                    };
                    r.data[..16].copy_from_slice(&sockaddr_in(Ipv4Addr::from(mask)));
                    ioctl(&s4, SIOCSIFNETMASK, &mut r, &format!("netmask {a}"))?;
                }
                (IpAddr::V6(ip), len) => {
                    let s6 = sock(sys::AF_INET6)?;
                    let mut r = In6IfReq {
                        addr: ip.octets(),
                        prefixlen: u32::from(len),
                        ifindex: ifindex(&s4, &want.name)?,
                    };
                    ioctl(&s6, SIOCSIFADDR, &mut r, &format!("address {a}"))?;
                }
            }
        }
    }
    for r in routes {
        add_route(&s4, r)?;
    }
    Ok(())
}

fn rename(s: &OwnedFd, from: &str, to: &str) -> io::Result<()> {
    if from == to {
        return Ok(());
    }
    set_up(s, from, false)?;
    let mut r = IfReq::new(from)?;
    let to_b = to.as_bytes();
    if to_b.len() >= 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    r.data[..to_b.len()].copy_from_slice(to_b);
    ioctl(s, SIOCSIFNAME, &mut r, &format!("rename {from} to {to}"))
}

fn add_route(s4: &OwnedFd, r: &Route) -> io::Result<()> {
    let (dst, len) = parse_cidr(&r.dest)?;
    let gw: Option<IpAddr> = if r.gateway.is_empty() {
        None
    } else {
        Some(r.gateway.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad gateway {}", r.gateway),
            )
        })?)
    };
    let dev = sys::cstr(&r.iface)?;
    match (dst, gw) {
        (IpAddr::V4(d), g) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            let mut e = RtEntry {
                pad1: 0,
                dst: sockaddr_in(d),
                gateway: sockaddr_in(match g {
                    Some(IpAddr::V4(g)) => g,
                    _ => Ipv4Addr::UNSPECIFIED,
                }),
                genmask: sockaddr_in(Ipv4Addr::from(mask)),
                flags: RTF_UP | if g.is_some() { RTF_GATEWAY } else { 0 },
                pad2: 0,
                pad3: 0,
                pad4: std::ptr::null_mut(),
                metric: 0,
                dev: if r.iface.is_empty() {
                    std::ptr::null()
                } else {
                    dev.as_ptr()
                },
                mtu: 0,
                window: 0,
                irtt: 0,
            };
            ioctl(s4, SIOCADDRT, &mut e, &format!("route {}", r.dest))
        }
        (IpAddr::V6(d), g) => {
            let s6 = sock(sys::AF_INET6)?;
            let mut m = In6RtMsg {
                dst: d.octets(),
                src: [0; 16],
                gateway: match g {
                    Some(IpAddr::V6(g)) => g.octets(),
                    _ => Ipv6Addr::UNSPECIFIED.octets(),
                },
                ty: 0,
                dst_len: u16::from(len),
                src_len: 0,
                metric: 1,
                info: 0,
                flags: u32::from(RTF_UP | if g.is_some() { RTF_GATEWAY } else { 0 }),
                ifindex: if r.iface.is_empty() {
                    0
                } else {
                    ifindex(s4, &r.iface)?
                },
            };
            ioctl(&s6, SIOCADDRT, &mut m, &format!("route {}", r.dest))
        }
    }
}
