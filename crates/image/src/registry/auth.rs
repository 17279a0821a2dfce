//! Registry authentication: `WWW-Authenticate` challenges, Basic credentials,
//! and the Bearer token flow (anonymous, with a password, or with an identity
//! token as a refresh token), with tokens cached until they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// OAuth refresh token (Docker's `identitytoken`).
    pub identity_token: String,
    /// A ready bearer token (Docker's `registrytoken`).
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// From Docker's auth config fields (`auth` is base64 `user:password`).
    pub fn from_docker(
        username: &str,
        password: &str,
        auth: &str,
        identity_token: &str,
        registry_token: &str,
    ) -> Credentials {
        let (mut u, mut p) = (username.to_string(), password.to_string());
        if u.is_empty()
            && !auth.is_empty()
            && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(auth.trim())
            && let Some((a, b)) = String::from_utf8_lossy(&raw).split_once(':')
        {
            u = a.to_string();
            p = b.to_string();
        }
        Credentials {
            username: u,
            password: p,
            identity_token: identity_token.into(),
            registry_token: registry_token.into(),
        }
    }

    /// `Authorization: Basic …` when a user name and password are known.
    pub fn basic(&self) -> Option<String> {
        if self.username.is_empty() {
            return None;
        }
        let raw = format!("{}:{}", self.username, self.password);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer` (lowercase).
    pub scheme: String,
    /// Parameters (`realm`, `service`, `scope`).
    pub params: HashMap<String, String>,
}

/// Parse `Bearer realm="…",service="…",scope="…"` (quoted or token values).
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, remaining) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(k, v);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// Bearer tokens by (realm, service, scope, user).
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    /// A cached, unexpired token.
    pub fn get(&self, key: &str) -> Option<String> {
        let g = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        g.get(key)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(t, _)| t.clone())
    }

    /// Remember a token for `ttl` (less a safety margin).
    pub fn put(&self, key: &str, token: &str, ttl: Duration) {
        let ttl = ttl
            .saturating_sub(Duration::from_secs(10))
            .max(Duration::from_secs(5));
        let mut g = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(key.to_string(), (token.to_string(), Instant::now() + ttl));
    }
}

/// The token endpoint's answer.
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    /// Docker's field.
    #[serde(default)]
    pub token: String,
    /// OAuth's field.
    #[serde(default)]
    pub access_token: String,
    /// Seconds.
    #[serde(default)]
    pub expires_in: u64,
    /// A refresh token (identity token), when asked for with `offline_token`.
    #[serde(default)]
    pub refresh_token: String,
}

impl TokenResponse {
    /// The token, whichever field carried it.
    pub fn token(&self) -> &str {
        if self.token.is_empty() {
            &self.access_token
        } else {
            &self.token
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#).unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull");
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.params["realm"].as_str()),
            ("basic", "Registry Realm")
        );
        let c = parse_challenge("Bearer realm=http://x/t,service=s").unwrap();
        assert_eq!(c.params["service"], "s");
    }

    #[test]
    fn docker_auth_field() {
        let c = Credentials::from_docker("", "", "dXNlcjpwYXNz", "", "");
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", "pass"));
        assert_eq!(c.basic().unwrap(), "Basic dXNlcjpwYXNz");
    }
}
