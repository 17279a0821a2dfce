//! HTTP(S) downloads for `ADD <url>` and `POST /build?remote=<url>`: GET with
//! redirects followed, the body read whole (bounded), the file name taken
//! from `Content-Disposition` or the URL's last segment, the mtime from
//! `Last-Modified`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::{BuildError, Result};

/// Largest download accepted.
pub const MAX: usize = 2 << 30;

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Download {
    /// The file name ADD gives it.
    pub name: String,
    /// The content.
    pub data: Bytes,
    /// Seconds since the epoch (`Last-Modified`), if the server sent it.
    pub mtime: Option<i64>,
}

fn client() -> Result<Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>> {
    let provider = rustls::crypto::ring::default_provider();
    let builder =
        match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider) {
            Ok(b) => b,
            Err(_) => {
                let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| BuildError::Invalid(format!("tls setup: {e}")))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(cfg)
            }
        };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(30)));
    Ok(Client::builder(TokioExecutor::new())
        .build(builder.https_or_http().enable_http1().wrap_connector(http)))
}

fn name_from(url: &str, disposition: Option<&str>) -> String {
    if let Some(d) = disposition {
        for part in d.split(';') {
            if let Some(v) = part.trim().strip_prefix("filename=") {
                let v = v.trim_matches('"');
                if !v.is_empty() && !v.contains('/') {
                    return v.to_string();
                }
            }
        }
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    after_host.rsplit('/').next().unwrap_or("").to_string()
}

/// GET `url`.
pub async fn get(url: &str) -> Result<Download> {
    let c = client()?;
    let mut url = url.to_string();
    for _ in 0..10 {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| BuildError::Invalid(format!("invalid URL {url}: {e}")))?;
        let req = http::Request::get(uri)
            .header("User-Agent", "berth-builder")
            .body(Empty::<Bytes>::new())
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(60), c.request(req))
            .await
            .map_err(|_| BuildError::Invalid(format!("error downloading {url}: timeout")))?
            .map_err(|e| BuildError::Invalid(format!("error downloading {url}: {e}")))?;
        let status = resp.status();
        if status.is_redirection()
            && let Some(loc) = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
        {
            url = if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else {
                let base: Vec<&str> = url.splitn(4, '/').collect();
                format!(
                    "{}//{}{}",
                    base.first().unwrap_or(&"http:"),
                    base.get(2).unwrap_or(&""),
                    loc
                )
            };
            continue;
        }
        if !status.is_success() {
            return Err(BuildError::Invalid(format!(
                "failed to GET {url} with status {status}"
            )));
        }
        let disposition = resp
            .headers()
            .get("Content-Disposition")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mtime = resp
            .headers()
            .get(http::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.timestamp());
        let body = Limited::new(resp.into_body(), MAX)
            .collect()
            .await
            .map_err(|e| BuildError::Invalid(format!("error downloading {url}: {e}")))?
            .to_bytes();
        return Ok(Download {
            name: name_from(&url, disposition.as_deref()),
            data: body,
            mtime,
        });
    }
    Err(BuildError::Invalid(format!(
        "error downloading {url}: too many redirects"
    )))
}

/// Is this an ADD URL source?
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Is this a git source (not supported by the classic builder here)?
pub fn is_git(s: &str) -> bool {
    s.starts_with("git://")
        || s.starts_with("git@")
        || (is_url(s)
            && s.split(['?', '#'])
                .next()
                .is_some_and(|p| p.ends_with(".git")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            name_from("http://h:1/a/b/file.tar.gz?x=1", None),
            "file.tar.gz"
        );
        assert_eq!(name_from("http://h/", None), "");
        assert_eq!(
            name_from("http://h/x", Some("attachment; filename=\"y.txt\"")),
            "y.txt"
        );
        assert!(is_git("https://github.com/a/b.git") && !is_git("https://h/b.tar"));
    }
}
