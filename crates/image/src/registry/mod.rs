//! Registry access (OCI distribution / Docker registry v2).
//!
//! A small hand-written client over hyper rather than `oci-client`: berth
//! needs to stream each blob straight into the content store *and* the layer
//! unpacker while it downloads, resume with `Range` at an exact offset, do
//! cross-repository mounts and per-chunk progress, speak Docker's credential
//! forms (X-Registry-Auth, identity tokens), and fall back across mirrors.
//! Those are a few hundred lines on hyper (already in the tree for the API),
//! and it avoids a second HTTP stack (reqwest) in the daemon. TLS is rustls
//! with the ring provider and the system's roots.

pub mod auth;
pub mod client;

use std::net::IpAddr;
use std::sync::Arc;

pub use auth::Credentials;
pub use client::{Endpoint, Session};

use crate::error::{ImageError, Result};
use crate::reference::{DEFAULT_DOMAIN, Reference};

/// Registry settings from the daemon configuration.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `registry-mirrors` (used for Docker Hub images), e.g. `http://127.0.0.1:5000`.
    pub mirrors: Vec<String>,
    /// `insecure-registries`: hosts (`host:port`) or CIDRs reachable over plain HTTP.
    pub insecure: Vec<String>,
}

/// Shared registry state: the HTTP client and cached tokens.
pub struct Registry {
    /// Settings.
    pub opts: RegistryOptions,
    /// Built on first use: loading the system's root certificates costs
    /// milliseconds and megabytes a daemon that never pulls should not pay.
    http: std::sync::OnceLock<client::Http>,
    pub(crate) tokens: Arc<auth::TokenCache>,
}

/// Where Docker Hub's API really lives.
const HUB_API: &str = "registry-1.docker.io";

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain)
}

impl Registry {
    /// A registry accessor.
    pub fn new(opts: RegistryOptions) -> Result<Registry> {
        Ok(Registry {
            opts,
            http: std::sync::OnceLock::new(),
            tokens: Arc::default(),
        })
    }

    fn http(&self) -> Result<client::Http> {
        if let Some(h) = self.http.get() {
            return Ok(h.clone());
        }
        let made = client::Http::new()?;
        Ok(self.http.get_or_init(|| made).clone())
    }

    /// Plain HTTP for `domain`? Loopback always (as Docker), plus `insecure-registries`.
    pub fn insecure(&self, domain: &str) -> bool {
        let host = host_of(domain);
        if host == "localhost" {
            return true;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.opts.insecure.iter().any(|i| {
            let i = i
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            i == domain || i == host || ip.is_some_and(|ip| cidr_contains(i, ip))
        })
    }

    /// The endpoint of `domain` itself.
    pub fn origin(&self, domain: &str) -> Endpoint {
        let api_host = if domain == DEFAULT_DOMAIN {
            HUB_API
        } else {
            domain
        };
        let scheme = if self.insecure(domain) {
            "http"
        } else {
            "https"
        };
        Endpoint {
            base: format!("{scheme}://{api_host}"),
            domain: domain.to_string(),
            mirror: false,
        }
    }

    /// Endpoints to pull `r` from, in order: mirrors (Docker Hub only), then the origin.
    pub fn pull_endpoints(&self, r: &Reference) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if r.domain == DEFAULT_DOMAIN {
            for m in &self.opts.mirrors {
                let m = m.trim_end_matches('/');
                let base = if m.contains("://") {
                    m.to_string()
                } else {
                    format!("https://{m}")
                };
                out.push(Endpoint {
                    base,
                    domain: r.domain.clone(),
                    mirror: true,
                });
            }
        }
        out.push(self.origin(&r.domain));
        out
    }

    /// A session for `repo` (path inside the registry) at `ep`.
    pub fn session(
        &self,
        ep: Endpoint,
        repo: &str,
        creds: Option<Credentials>,
        push: bool,
    ) -> Result<Session> {
        Ok(Session::new(
            self.http()?,
            self.tokens.clone(),
            ep,
            repo.to_string(),
            creds,
            push,
        ))
    }

    /// `POST /auth`: check credentials against `server` (`GET /v2/`). Returns an identity token if one was issued.
    pub async fn login(&self, server: &str, creds: Credentials) -> Result<String> {
        let domain = normalize_server(server);
        let s = self.session(self.origin(&domain), "", Some(creds), false)?;
        s.ping().await
    }
}

/// `https://index.docker.io/v1/` and friends → `docker.io`; a URL → its host.
pub fn normalize_server(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => DEFAULT_DOMAIN.to_string(),
        h => h.to_string(),
    }
}

/// Map an HTTP failure talking to a registry into an error the client can act on.
pub(crate) fn unreachable(ep: &Endpoint, e: impl std::fmt::Display) -> ImageError {
    ImageError::Registry(format!("Get \"{}/v2/\": {e}", ep.base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_rules() {
        let r = Registry::new(RegistryOptions {
            mirrors: vec![],
            insecure: vec!["10.0.0.0/8".into(), "myreg:5000".into()],
        })
        .unwrap();
        assert!(
            r.insecure("127.0.0.1:5000") && r.insecure("localhost:1") && r.insecure("[::1]:5000")
        );
        assert!(r.insecure("10.1.2.3:5000") && r.insecure("myreg:5000"));
        assert!(!r.insecure("docker.io") && !r.insecure("11.0.0.1"));
        assert_eq!(r.origin("docker.io").base, "https://registry-1.docker.io");
        assert_eq!(normalize_server("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_server("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
