//! Image references, parsed and normalised as Docker does
//! (`busybox` = `docker.io/library/busybox`, `localhost:5000/x/y:tag`, `name@sha256:...`).
//!
//! Written by hand: the grammar is small and Docker's normalisation rules
//! (default domain, `library/`, `index.docker.io`, familiar forms) are what matter.

use std::fmt;

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Tag used when none is given.
pub const DEFAULT_TAG: &str = "latest";

/// A normalised reference: domain, repository path, optional tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (with port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub domain: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub path: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest, if any.
    pub digest: Option<Digest>,
}

fn invalid(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidReference(msg.into())
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__`, or one or more `-`.
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_domain(d: &str) -> bool {
    if d.starts_with('[') {
        // IPv6 literal with optional port.
        return match d.find(']') {
            Some(end) => {
                let rest = &d[end + 1..];
                d[1..end]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':')
                    && (rest.is_empty()
                        || rest.strip_prefix(':').is_some_and(|p| {
                            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
                        }))
            }
            None => false,
        };
    }
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

impl Reference {
    /// Parse a reference as the docker CLI and daemon do, normalising the domain
    /// and `library/`. No default tag is added (see [`Reference::with_default_tag`]).
    pub fn parse(s: &str) -> Result<Reference> {
        if s.is_empty() {
            return Err(invalid("repository name must have at least one component"));
        }
        if berth_core::id::is_full(s) {
            return Err(ImageError::Invalid(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Digest::parse(d).map_err(|_| invalid("invalid digest"))?),
            ),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(invalid(""));
        }
        let (domain, remainder) = split_domain(name);
        if remainder.is_empty() {
            return Err(invalid(""));
        }
        if remainder.to_ascii_lowercase() != remainder {
            return Err(invalid(format!(
                "repository name ({remainder}) must be lowercase"
            )));
        }
        if !valid_domain(&domain) || !remainder.split('/').all(valid_path_component) {
            return Err(invalid(""));
        }
        if domain.len() + 1 + remainder.len() > 255 {
            return Err(invalid(
                "repository name must not be more than 255 characters",
            ));
        }
        Ok(Reference {
            domain,
            path: remainder,
            tag,
            digest,
        })
    }

    /// Add `:latest` when neither tag nor digest is present.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        if !valid_tag(tag) {
            return Err(invalid(""));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository with a digest and no tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox`, `127.0.0.1:5000/x/bb`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }

    /// `busybox:latest`, as Docker prints references.
    pub fn familiar(&self) -> String {
        format!("{}{}", self.familiar_name(), self.suffix())
    }

    /// The tag or digest to ask a registry for (`latest` when neither).
    pub fn object(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name(), self.suffix())
    }
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.to_ascii_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let rest = if domain == DEFAULT_DOMAIN && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    (domain, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").unwrap().with_default_tag();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("index.docker.io/foo/bar:1").unwrap();
        assert_eq!(r.to_string(), "docker.io/foo/bar:1");
        assert_eq!(r.familiar(), "foo/bar:1");
        let r = Reference::parse("127.0.0.1:5000/x/bb:1").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "x/bb", Some("1"))
        );
        assert_eq!(r.familiar(), "127.0.0.1:5000/x/bb:1");
        let r = Reference::parse("localhost/bb").unwrap();
        assert_eq!(r.domain, "localhost");
        let r = Reference::parse("localhost:5000/bb").unwrap();
        assert_eq!(r.name(), "localhost:5000/bb");
        assert_eq!(r.object(), "latest");
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.digest.as_ref(), Some(&d));
        assert_eq!(r.object(), d.to_string());
        let r = Reference::parse(&format!("a/b:t@{d}")).unwrap();
        assert_eq!(r.familiar(), format!("a/b:t@{d}"));
        let r = Reference::parse("[::1]:5000/x").unwrap();
        assert_eq!(r.domain, "[::1]:5000");
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "Busybox",
            "a//b",
            "a:",
            "-a",
            "a/b:!x",
            "a@sha256:12",
            "foo/Bar",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        let e = Reference::parse("Busybox").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert!(Reference::parse(&"a".repeat(64).replace('a', "b")).is_err());
        assert!(Reference::parse("a__b/c-d---e.f").is_ok());
    }
}
