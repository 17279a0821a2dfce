//! The guest's network, from the container's network namespace.
//!
//! berth's network service sets up a VM container's namespace as for any other
//! container (a veth per endpoint, addresses, routes, the embedded DNS on
//! 127.0.0.11). The supervisor runs inside that namespace and, per interface,
//! creates a tap there and joins the two with `tc` ingress redirects (the
//! "tc-redirect" scheme Kata Containers uses): frames arriving on the veth go
//! out of the tap to QEMU, and the guest's frames go out of the veth to the
//! bridge. The guest interface gets the veth's MAC, addresses and routes, so to
//! the rest of the network (bridge, DNS names, published ports) the endpoint is
//! unchanged. QEMU gets the open tap fd and needs no network privileges.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use berth_runtime::vm::proto::{Iface, Route};
use serde_json::Value;

/// One endpoint of the namespace, bridged to a tap.
pub struct Link {
    /// The guest's view.
    pub iface: Iface,
    /// The tap fd for QEMU.
    pub tap: OwnedFd,
}

fn ip_json(args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("run ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Array(Vec::new()));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn batch(tool: &str, script: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut c = Command::new(tool)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("run {tool}"))?;
    if let Some(mut i) = c.stdin.take() {
        i.write_all(script.as_bytes())?;
    }
    let out = c.wait_with_output()?;
    if !out.status.success() {
        bail!("{tool}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// A tap named `name` in the current namespace, as an open fd (no packet info,
/// no vnet header, gone when the last fd closes).
fn open_tap(name: &str) -> anyhow::Result<OwnedFd> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    const IFF_TAP: libc::c_short = 0x0002;
    const IFF_NO_PI: libc::c_short = 0x1000;
    let path = c"/dev/net/tun";
    // SAFETY: open with a static C string.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        bail!("open /dev/net/tun: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        pad: [u8; 22],
    }
    let mut r = IfReq {
        name: [0; 16],
        flags: IFF_TAP | IFF_NO_PI,
        pad: [0; 22],
    };
    r.name[..name.len().min(15)].copy_from_slice(&name.as_bytes()[..name.len().min(15)]);
    // SAFETY: TUNSETIFF reads a live ifreq.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut r) } < 0 {
        bail!("create tap {name}: {}", std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Interfaces, addresses and routes of the current namespace, each interface
/// bridged to a new tap.
pub fn attach() -> anyhow::Result<(Vec<Link>, Vec<Route>)> {
    let addrs = ip_json(&["-j", "addr", "show"])?;
    let mut links = Vec::new();
    let mut tc = String::new();
    let mut ip = String::new();
    for l in addrs.as_array().into_iter().flatten() {
        let name = l.get("ifname").and_then(Value::as_str).unwrap_or_default();
        let ether = l.get("link_type").and_then(Value::as_str) == Some("ether");
        if !ether || name == "lo" || name.starts_with("vmtap") {
            continue;
        }
        let mac = l
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mtu = l.get("mtu").and_then(Value::as_u64).unwrap_or(0) as u32;
        let iface_addrs = l
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| a.get("scope").and_then(Value::as_str) == Some("global"))
            .filter_map(|a| {
                Some(format!(
                    "{}/{}",
                    a.get("local")?.as_str()?,
                    a.get("prefixlen")?.as_u64()?
                ))
            })
            .collect();
        let tap_name = format!("vmtap{}", links.len());
        let tap = open_tap(&tap_name)?;
        ip.push_str(&format!("link set dev {tap_name} mtu {} up\n", mtu.max(68)));
        for (from, to) in [(name, tap_name.as_str()), (tap_name.as_str(), name)] {
            tc.push_str(&format!("qdisc add dev {from} ingress\n"));
            tc.push_str(&format!(
                "filter add dev {from} parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev {to}\n"
            ));
        }
        links.push(Link {
            iface: Iface {
                mac,
                name: name.to_string(),
                addrs: iface_addrs,
                mtu,
            },
            tap,
        });
    }
    if !links.is_empty() {
        batch("ip", &ip)?;
        batch("tc", &tc)?;
    }
    let mut routes = Vec::new();
    for fam in ["-4", "-6"] {
        let rs = ip_json(&["-j", fam, "route", "show"])?;
        for r in rs.as_array().into_iter().flatten() {
            let proto = r
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let dst = r.get("dst").and_then(Value::as_str).unwrap_or_default();
            let dev = r.get("dev").and_then(Value::as_str).unwrap_or_default();
            // Connected routes come with the addresses; link-local and multicast
            // ones with the interface.
            if proto == "kernel"
                || dst.starts_with("fe80")
                || dst.starts_with("ff00")
                || dev.is_empty()
            {
                continue;
            }
            if !links.iter().any(|l| l.iface.name == dev) {
                continue;
            }
            let dest = match dst {
                "default" if fam == "-4" => "0.0.0.0/0".to_string(),
                "default" => "::/0".to_string(),
                d if d.contains('/') => d.to_string(),
                d if fam == "-4" => format!("{d}/32"),
                d => format!("{d}/128"),
            };
            routes.push(Route {
                dest,
                gateway: r
                    .get("gateway")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                iface: dev.to_string(),
            });
        }
    }
    Ok((links, routes))
}
