//! Published ports: what the engine asks for (`-p`, `-P`), what the driver
//! resolved (host ports actually taken), and parsing of Docker's port syntax.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::NetError;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    /// `tcp`, `udp`, `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

impl FromStr for Proto {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Proto, NetError> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            other => Err(NetError::invalid(format!("invalid proto: {other}"))),
        }
    }
}

/// A container port: `80/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortProto {
    /// Port number.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
}

impl fmt::Display for PortProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

impl FromStr for PortProto {
    type Err = NetError;
    /// `80`, `80/tcp`, `53/udp`.
    fn from_str(s: &str) -> Result<PortProto, NetError> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let port = port
            .trim()
            .parse()
            .map_err(|_| NetError::invalid(format!("invalid containerPort: {port}")))?;
        Ok(PortProto {
            port,
            proto: proto.parse()?,
        })
    }
}

/// One requested binding (a `HostConfig.PortBindings` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// The container side.
    pub container: PortProto,
    /// Host address; `None` = all (the network's default binding address).
    pub host_ip: Option<IpAddr>,
    /// First acceptable host port; 0 = any ephemeral port.
    pub host_port: u16,
    /// Last acceptable host port (== `host_port` for a single port).
    pub host_port_end: u16,
}

impl PortBinding {
    /// Parse Docker's `HostIp`/`HostPort` strings (`""`, `"8080"`, `"8000-8010"`).
    pub fn parse(container: &str, host_ip: &str, host_port: &str) -> Result<PortBinding, NetError> {
        let container: PortProto = container.parse()?;
        let ip = host_ip.trim().trim_start_matches('[').trim_end_matches(']');
        let host_ip = if ip.is_empty() {
            None
        } else {
            Some(
                ip.parse()
                    .map_err(|_| NetError::invalid(format!("invalid host IP: {host_ip}")))?,
            )
        };
        let bad = || NetError::invalid(format!("invalid hostPort: {host_port}"));
        let (lo, hi) = match host_port.trim() {
            "" => (0, 0),
            p => match p.split_once('-') {
                Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
                None => {
                    let v = p.parse().map_err(|_| bad())?;
                    (v, v)
                }
            },
        };
        if hi < lo {
            return Err(bad());
        }
        Ok(PortBinding {
            container,
            host_ip,
            host_port: lo,
            host_port_end: hi,
        })
    }
}

/// A binding as programmed: the host port is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// The container side.
    pub container: PortProto,
    /// Host address (`0.0.0.0` = all).
    pub host_ip: IpAddr,
    /// Host port.
    pub host_port: u16,
}

impl PortMapping {
    /// `0.0.0.0` and `::` mean every local address.
    pub fn all_addresses(&self) -> bool {
        self.host_ip.is_unspecified()
    }

    /// Docker's `HostIp` string.
    pub fn host_ip_string(&self) -> String {
        self.host_ip.to_string()
    }
}

/// The unspecified IPv4 address, the default binding address.
pub const ANY_V4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_port_syntax() {
        let b = PortBinding::parse("80/tcp", "127.0.0.1", "8080").unwrap();
        assert_eq!((b.host_port, b.host_port_end), (8080, 8080));
        assert_eq!(b.host_ip.unwrap().to_string(), "127.0.0.1");
        let b = PortBinding::parse("53/udp", "", "").unwrap();
        assert_eq!(
            (b.container.proto, b.host_port, b.host_ip),
            (Proto::Udp, 0, None)
        );
        let b = PortBinding::parse("80", "", "8000-8010").unwrap();
        assert_eq!((b.host_port, b.host_port_end), (8000, 8010));
        assert!(PortBinding::parse("80/tcp", "", "90-80").is_err());
        assert!(PortBinding::parse("x/tcp", "", "").is_err());
        assert_eq!(
            PortProto {
                port: 80,
                proto: Proto::Tcp
            }
            .to_string(),
            "80/tcp"
        );
    }
}
