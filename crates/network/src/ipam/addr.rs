//! Address arithmetic over both families as `u128` offsets, on top of `ipnet`
//! (which gives parsing, masking, containment and subnet iteration).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The address as an integer (IPv4 in the low 32 bits).
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Back from an integer, in the family of `like`.
pub fn from_u128(v: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// Do two networks share any address?
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    if a.addr().is_ipv4() != b.addr().is_ipv4() {
        return false;
    }
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first and last address of a network, as integers.
pub fn bounds(n: &IpNet) -> (u128, u128) {
    (to_u128(n.network()), to_u128(n.broadcast()))
}

/// Addresses a host may not take: the network address and, for IPv4 wider
/// than /31, the broadcast address (RFC 3021 point-to-point links keep both).
pub fn reserved(n: &IpNet) -> Vec<u128> {
    let (lo, hi) = bounds(n);
    match n {
        IpNet::V4(v) if v.prefix_len() >= 31 => Vec::new(),
        IpNet::V4(_) => vec![lo, hi],
        IpNet::V6(_) => vec![lo],
    }
}

/// `addr` with the network's prefix length.
pub fn with_prefix(addr: IpAddr, net: &IpNet) -> IpNet {
    // Cannot fail: the prefix length comes from a valid network of the same family.
    IpNet::new(addr, net.prefix_len()).unwrap_or(*net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_and_bounds() {
        let a: IpNet = "10.0.0.0/16".parse().unwrap();
        let b: IpNet = "10.0.5.0/24".parse().unwrap();
        let c: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a) && !overlaps(&a, &c));
        assert_eq!(reserved(&b).len(), 2);
        assert!(reserved(&"10.0.0.0/31".parse().unwrap()).is_empty());
        let ip = from_u128(
            to_u128("10.0.5.7".parse().unwrap()),
            "0.0.0.0".parse().unwrap(),
        );
        assert_eq!(ip.to_string(), "10.0.5.7");
    }
}
