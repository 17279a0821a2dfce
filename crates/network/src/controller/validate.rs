//! Request validation with Docker's messages: IPAM configuration of a new
//! network (`invalid network config:` …) and endpoint settings of a container
//! (`invalid endpoint settings:` …).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{NetError, NetResult};
use crate::ipam::addr::overlaps;
use crate::model::{EndpointRequest, IpamConfigSpec, NetworkRecord};
use crate::nl::parse_mac;

/// Parse an address, accepting Docker's bracketed IPv6 form.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn family(v6: bool) -> &'static str {
    if v6 { "IPv6" } else { "IPv4" }
}

fn check_addr(addr: &str, subnet: &IpNet) -> Result<(), String> {
    let Some(ip) = parse_ip(addr) else {
        return Err("invalid address".into());
    };
    if ip.is_ipv6() != subnet.addr().is_ipv6() {
        return Err(format!(
            "parent subnet is an {} block",
            family(subnet.addr().is_ipv6())
        ));
    }
    if !subnet.contains(&ip) {
        return Err(format!(
            "parent subnet {subnet} doesn't contain this address"
        ));
    }
    Ok(())
}

/// Docker's `ValidateIPAM`: every problem listed, or nothing.
pub fn validate_ipam(config: &[IpamConfigSpec], enable_ipv6: bool) -> NetResult<()> {
    let mut errs: Vec<String> = Vec::new();
    for c in config {
        let subnet: IpNet = match c.subnet.parse() {
            Ok(s) => s,
            Err(_) => {
                errs.push(format!(
                    "invalid subnet {}: invalid CIDR block notation",
                    c.subnet
                ));
                continue;
            }
        };
        if subnet.addr().is_ipv6() && !enable_ipv6 {
            continue;
        }
        if subnet != subnet.trunc() {
            errs.push(format!(
                "invalid subnet {subnet}: it should be {}",
                subnet.trunc()
            ));
        }
        if !c.ip_range.is_empty() {
            match c.ip_range.parse::<IpNet>() {
                Err(_) => errs.push(format!(
                    "invalid ip-range {}: invalid CIDR block notation",
                    c.ip_range
                )),
                Ok(r) if r.addr().is_ipv6() != subnet.addr().is_ipv6() => errs.push(format!(
                    "invalid ip-range {}: parent subnet is an {} block",
                    c.ip_range,
                    family(subnet.addr().is_ipv6())
                )),
                Ok(r) => {
                    if r.prefix_len() < subnet.prefix_len() {
                        errs.push(format!("invalid ip-range {}: CIDR block is bigger than its parent subnet {subnet}", c.ip_range));
                    }
                    if r != r.trunc() {
                        errs.push(format!("invalid ip-range {r}: it should be {}", r.trunc()));
                    }
                    if !overlaps(&subnet, &r) {
                        errs.push(format!(
                            "invalid ip-range {}: parent subnet {subnet} doesn't contain ip-range",
                            c.ip_range
                        ));
                    }
                }
            }
        }
        if !c.gateway.is_empty()
            && let Err(e) = check_addr(&c.gateway, &subnet)
        {
            errs.push(format!("invalid gateway {}: {e}", c.gateway));
        }
        for (name, a) in &c.aux {
            if let Err(e) = check_addr(a, &subnet) {
                errs.push(format!("invalid auxiliary address {name}: {e}"));
            }
        }
    }
    if config
        .iter()
        .any(|c| c.subnet.is_empty() && (!c.gateway.is_empty() || !c.ip_range.is_empty()))
    {
        errs.push("a gateway or ip-range needs a subnet".into());
    }
    match errs.len() {
        0 => Ok(()),
        1 => Err(NetError::invalid(format!(
            "invalid network config:\n{}",
            errs[0]
        ))),
        _ => Err(NetError::invalid(format!(
            "invalid network config:\n* {}",
            errs.join("\n* ")
        ))),
    }
}

/// Docker's endpoint-settings checks for attaching to `net`.
pub fn validate_endpoint(net: &NetworkRecord, req: &EndpointRequest) -> NetResult<()> {
    let mut errs: Vec<String> = Vec::new();
    let user_defined = !net.predefined;
    for ip in [req.ipv4, req.ipv6].into_iter().flatten() {
        if !user_defined {
            errs.push(
                "user specified IP address is supported on user defined networks only".into(),
            );
            continue;
        }
        let user_pools: Vec<_> = net
            .pools
            .iter()
            .filter(|p| p.user_subnet && p.subnet.addr().is_ipv4() == ip.is_ipv4())
            .collect();
        if user_pools.is_empty() {
            errs.push("user specified IP address is supported only when connecting to networks with user configured subnets".into());
            continue;
        }
        if !user_pools
            .iter()
            .any(|p| p.subnet.contains(&ip) || p.ip_range.is_some_and(|r| r.contains(&ip)))
        {
            errs.push(format!(
                "no configured subnet or ip-range contain the IP address {ip}"
            ));
        }
    }
    if !req.aliases.is_empty() && !user_defined {
        errs.push(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        );
    }
    if let Some(m) = &req.mac
        && parse_mac(m).is_none()
    {
        errs.push(format!("invalid MAC address: {m}"));
    }
    match errs.len() {
        0 => Ok(()),
        _ => Err(NetError::invalid(format!(
            "invalid endpoint settings:\n{}",
            errs.join("\n")
        ))),
    }
}

/// Network names Docker accepts: any non-empty name (docker-py creates
/// `test 01`). berth refuses only what could not be addressed in a request
/// path or printed: `/` and control characters.
pub fn validate_name(name: &str) -> NetResult<()> {
    if !name.is_empty() && !name.chars().any(|c| c == '/' || c.is_control()) {
        Ok(())
    } else {
        Err(NetError::invalid(format!(
            "invalid network name {name:?}: it must not be empty or contain '/' or control characters"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(subnet: &str, range: &str, gw: &str) -> IpamConfigSpec {
        IpamConfigSpec {
            subnet: subnet.into(),
            ip_range: range.into(),
            gateway: gw.into(),
            ..Default::default()
        }
    }

    #[test]
    fn ipam_messages_match_docker() {
        assert!(validate_ipam(&[spec("10.1.0.0/16", "10.1.2.0/24", "10.1.0.1")], false).is_ok());
        let e = validate_ipam(&[spec("10.1.0.1/16", "", "")], false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid network config:\ninvalid subnet 10.1.0.1/16: it should be 10.1.0.0/16"
        );
        let e = validate_ipam(&[spec("10.1.0.0/16", "", "10.2.0.1")], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "invalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"
            ),
            "{e}"
        );
        let e = validate_ipam(&[spec("nope", "", "")], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid CIDR block notation"));
        assert!(
            validate_name("my-net_1.x").is_ok()
                && validate_name("test 01").is_ok()
                && validate_name("a/b").is_err()
                && validate_name("").is_err()
        );
    }
}
