//! HTTP to one registry repository: manifests, blobs, uploads, mounts, with
//! the auth dance (401 → challenge → Basic or Bearer token → retry once).

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::auth::{Credentials, TokenCache, TokenResponse, parse_challenge};
use crate::error::{ImageError, Result};
use crate::spec::media;

/// Request body type.
pub type Body = BoxBody<Bytes, io::Error>;

/// Time allowed for a registry to start answering.
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest manifest or token answer read.
const MAX_SMALL: usize = 8 << 20;

/// The shared HTTP(S) client.
#[derive(Clone)]
pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>,
}

impl Http {
    /// Client with rustls (ring) and the system's root certificates.
    pub fn new() -> Result<Http> {
        let provider = rustls::crypto::ring::default_provider();
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("no system TLS roots ({e}); only plain-HTTP registries will work");
                let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| ImageError::Registry(format!("tls setup: {e}")))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(cfg)
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(15)));
        let conn = builder.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        Ok(Http { client })
    }
}

/// A registry API base (origin or mirror).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    pub base: String,
    /// The registry domain images are named by (`docker.io`).
    pub domain: String,
    /// A configured mirror (errors there fall back to the next endpoint).
    pub mirror: bool,
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// The registry's `{"errors":[{code,message}]}` as Docker prints it.
fn registry_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Errs {
        errors: Vec<E>,
    }
    let errs: Errs = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = errs
        .errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.code.to_ascii_lowercase().replace('_', " "),
                e.message
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A repository on a registry endpoint, with its credentials and auth state.
pub struct Session {
    http: Http,
    tokens: Arc<TokenCache>,
    /// Endpoint.
    pub ep: Endpoint,
    /// Repository path (`library/busybox`).
    pub repo: String,
    creds: Option<Credentials>,
    push: bool,
    extra_scopes: Mutex<Vec<String>>,
    auth: Mutex<Option<String>>,
}

/// Outcome of a cross-repository mount attempt.
pub enum Mounted {
    /// The registry linked the blob.
    Yes,
    /// It did not; an upload was started at this location.
    No(String),
}

impl Session {
    pub(crate) fn new(
        http: Http,
        tokens: Arc<TokenCache>,
        ep: Endpoint,
        repo: String,
        creds: Option<Credentials>,
        push: bool,
    ) -> Session {
        let auth = creds
            .as_ref()
            .filter(|c| !c.registry_token.is_empty())
            .map(|c| format!("Bearer {}", c.registry_token));
        Session {
            http,
            tokens,
            ep,
            repo,
            creds,
            push,
            extra_scopes: Mutex::new(Vec::new()),
            auth: Mutex::new(auth),
        }
    }

    /// Also ask for pull access to `repo` (the source of a cross-repository mount).
    pub fn add_pull_scope(&self, repo: &str) {
        self.extra_scopes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("repository:{repo}:pull"));
    }

    fn scopes(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.repo.is_empty() {
            v.push(format!(
                "repository:{}:{}",
                self.repo,
                if self.push { "pull,push" } else { "pull" }
            ));
        }
        v.extend(
            self.extra_scopes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        v
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v2/{}{}",
            self.ep.base,
            if self.repo.is_empty() {
                String::new()
            } else {
                format!("{}/", self.repo)
            },
            path
        )
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.ep.base, location)
        }
    }

    async fn raw(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: Body,
        auth: bool,
    ) -> Result<Response<Incoming>> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req = req.header(
            header::USER_AGENT,
            concat!("berth/", env!("CARGO_PKG_VERSION")),
        );
        if auth && let Some(a) = self.auth.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = req
            .body(body)
            .map_err(|e| ImageError::Registry(format!("bad request to {url}: {e}")))?;
        match tokio::time::timeout(HEADER_TIMEOUT, self.http.client.request(req)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(super::unreachable(&self.ep, chain(&e))),
            Err(_) => Err(super::unreachable(&self.ep, "timed out")),
        }
    }

    /// Send a request whose body can be repeated, authenticating on a 401.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>> {
        let resp = self
            .raw(method.clone(), url, &headers, full(body.clone()), true)
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = read_small(resp).await.unwrap_or_default();
        self.authorize(challenge.as_deref(), &text).await?;
        let resp = self.raw(method, url, &headers, full(body), true).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let text = read_small(resp).await.unwrap_or_default();
            return Err(ImageError::Unauthorized(
                registry_message(&text)
                    .unwrap_or_else(|| "unauthorized: authentication required".into()),
            ));
        }
        Ok(resp)
    }

    async fn authorize(&self, challenge: Option<&str>, body: &[u8]) -> Result<()> {
        let unauthorized = || {
            ImageError::Unauthorized(
                registry_message(body)
                    .unwrap_or_else(|| "unauthorized: authentication required".into()),
            )
        };
        let Some(ch) = challenge.and_then(parse_challenge) else {
            return Err(unauthorized());
        };
        match ch.scheme.as_str() {
            "basic" => {
                let basic = self
                    .creds
                    .as_ref()
                    .and_then(Credentials::basic)
                    .ok_or_else(unauthorized)?;
                *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = Some(basic);
                Ok(())
            }
            "bearer" => {
                let realm = ch.params.get("realm").cloned().ok_or_else(unauthorized)?;
                let service = ch.params.get("service").cloned().unwrap_or_default();
                let mut scopes = self.scopes();
                if let Some(s) = ch.params.get("scope")
                    && !scopes.contains(s)
                {
                    scopes.push(s.clone());
                }
                let user = self
                    .creds
                    .as_ref()
                    .map(|c| c.username.clone())
                    .unwrap_or_default();
                let key = format!("{realm}|{service}|{}|{user}", scopes.join(" "));
                let token = match self.tokens.get(&key) {
                    Some(t) => t,
                    None => {
                        let (t, ttl) = self.fetch_token(&realm, &service, &scopes).await?;
                        self.tokens.put(&key, &t, ttl);
                        t
                    }
                };
                *self.auth.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("Bearer {token}"));
                Ok(())
            }
            _ => Err(unauthorized()),
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: &str,
        scopes: &[String],
    ) -> Result<(String, Duration)> {
        let mut q = form_encode(&[("service", service)]);
        for s in scopes {
            q.push('&');
            q.push_str(&form_encode(&[("scope", s)]));
        }
        let creds = self.creds.clone().unwrap_or_default();
        let mut headers = HeaderMap::new();
        let resp = if !creds.identity_token.is_empty() {
            // OAuth2 refresh-token grant, as the docker daemon does with identity tokens.
            let mut form = form_encode(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &creds.identity_token),
                ("service", service),
                ("client_id", "docker"),
            ]);
            if !scopes.is_empty() {
                form.push('&');
                form.push_str(&form_encode(&[("scope", &scopes.join(" "))]));
            }
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            self.raw(
                Method::POST,
                realm,
                &headers,
                full(Bytes::from(form)),
                false,
            )
            .await?
        } else {
            if let Some(b) = creds.basic() {
                if let Ok(v) = HeaderValue::from_str(&b) {
                    headers.insert(header::AUTHORIZATION, v);
                }
                q.push('&');
                q.push_str(&form_encode(&[("account", &creds.username)]));
            }
            let sep = if realm.contains('?') { '&' } else { '?' };
            self.raw(
                Method::GET,
                &format!("{realm}{sep}{q}"),
                &headers,
                empty(),
                false,
            )
            .await?
        };
        let status = resp.status();
        let body = read_small(resp).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ImageError::Unauthorized(
                registry_message(&body)
                    .unwrap_or_else(|| "unauthorized: incorrect username or password".into()),
            ));
        }
        if !status.is_success() {
            return Err(ImageError::Registry(format!(
                "token server {realm}: {status}"
            )));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| ImageError::Registry(format!("token server {realm}: {e}")))?;
        if t.token().is_empty() {
            return Err(ImageError::Registry(format!(
                "token server {realm} sent no token"
            )));
        }
        let ttl = Duration::from_secs(if t.expires_in == 0 { 60 } else { t.expires_in });
        Ok((t.token().to_string(), ttl))
    }

    /// `GET /v2/`: check reachability and credentials; returns an identity token if any.
    pub async fn ping(&self) -> Result<String> {
        let resp = self
            .send(
                Method::GET,
                &format!("{}/v2/", self.ep.base),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await?;
        let status = resp.status();
        let body = read_small(resp).await.unwrap_or_default();
        if !status.is_success() {
            return Err(ImageError::Registry(
                registry_message(&body).unwrap_or_else(|| format!("registry answered {status}")),
            ));
        }
        Ok(String::new())
    }

    fn not_found(&self, what: &str, status: StatusCode, body: &[u8]) -> ImageError {
        let msg = registry_message(body).unwrap_or_else(|| status.to_string());
        match status {
            StatusCode::NOT_FOUND => ImageError::RemoteNotFound(format!("{what} not found: {msg}")),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ImageError::Unauthorized(msg),
            _ => ImageError::Registry(format!("{what}: {msg}")),
        }
    }

    /// Fetch a manifest (or index) by tag or digest: (bytes, media type).
    pub async fn manifest(&self, reference: &str, what: &str) -> Result<(Vec<u8>, String)> {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&media::ACCEPT.join(", ")) {
            h.insert(header::ACCEPT, v);
        }
        let resp = self
            .send(
                Method::GET,
                &self.url(&format!("manifests/{reference}")),
                h,
                Bytes::new(),
            )
            .await?;
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = read_small(resp).await?;
        if !status.is_success() {
            return Err(self.not_found(what, status, &body));
        }
        let mt = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or(ct);
        Ok((body.to_vec(), mt))
    }

    /// Start downloading a blob at `offset`: the response and the offset it really starts at.
    pub async fn blob(&self, digest: &str, offset: u64) -> Result<(Response<Incoming>, u64)> {
        let mut h = HeaderMap::new();
        if offset > 0
            && let Ok(v) = HeaderValue::from_str(&format!("bytes={offset}-"))
        {
            h.insert(header::RANGE, v);
        }
        let mut resp = self
            .send(
                Method::GET,
                &self.url(&format!("blobs/{digest}")),
                h.clone(),
                Bytes::new(),
            )
            .await?;
        for _ in 0..5 {
            if !resp.status().is_redirection() {
                break;
            }
            let Some(loc) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| self.absolute(l))
            else {
                break;
            };
            // Redirect targets (storage URLs) get no registry credentials.
            resp = self
                .raw(
                    Method::GET,
                    &loc,
                    &h,
                    empty(),
                    loc.starts_with(&self.ep.base),
                )
                .await?;
        }
        let status = resp.status();
        if status == StatusCode::PARTIAL_CONTENT {
            return Ok((resp, offset));
        }
        if !status.is_success() {
            let body = read_small(resp).await.unwrap_or_default();
            return Err(self.not_found(&format!("blob {digest}"), status, &body));
        }
        Ok((resp, 0))
    }

    /// Does the repository have the blob?
    pub async fn has_blob(&self, digest: &str) -> Result<bool> {
        let resp = self
            .send(
                Method::HEAD,
                &self.url(&format!("blobs/{digest}")),
                HeaderMap::new(),
                Bytes::new(),
            )
            .await?;
        Ok(resp.status().is_success())
    }

    async fn start_upload(&self, query: &str) -> Result<Response<Incoming>> {
        self.send(
            Method::POST,
            &self.url(&format!("blobs/uploads/{query}")),
            HeaderMap::new(),
            Bytes::new(),
        )
        .await
    }

    /// Try to link `digest` from repository `from` on the same registry.
    pub async fn mount(&self, digest: &str, from: &str) -> Result<Mounted> {
        let q = format!("?{}", form_encode(&[("mount", digest), ("from", from)]));
        let resp = self.start_upload(&q).await?;
        let status = resp.status();
        let loc = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| self.absolute(l));
        let _ = read_small(resp).await;
        match (status, loc) {
            (StatusCode::CREATED, _) => Ok(Mounted::Yes),
            (StatusCode::ACCEPTED, Some(l)) => Ok(Mounted::No(l)),
            (s, _) => Err(ImageError::Registry(format!(
                "blob upload: registry answered {s}"
            ))),
        }
    }

    /// Upload a blob in one request (at `location` if an upload was already started).
    pub async fn upload(
        &self,
        digest: &str,
        size: u64,
        body: Body,
        location: Option<String>,
    ) -> Result<()> {
        let loc = match location {
            Some(l) => l,
            None => {
                let resp = self.start_upload("").await?;
                let status = resp.status();
                let loc = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(|l| self.absolute(l));
                let body = read_small(resp).await.unwrap_or_default();
                match (status.is_success(), loc) {
                    (true, Some(l)) => l,
                    _ => return Err(self.not_found("blob upload", status, &body)),
                }
            }
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let url = format!("{loc}{sep}{}", form_encode(&[("digest", digest)]));
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        let resp = self.raw(Method::PUT, &url, &h, body, true).await?;
        let status = resp.status();
        let text = read_small(resp).await.unwrap_or_default();
        if !status.is_success() {
            return Err(self.not_found(&format!("blob {digest}"), status, &text));
        }
        Ok(())
    }

    /// Store a manifest under `reference`; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        raw: Vec<u8>,
    ) -> Result<String> {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(media_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        let resp = self
            .send(
                Method::PUT,
                &self.url(&format!("manifests/{reference}")),
                h,
                Bytes::from(raw.clone()),
            )
            .await?;
        let status = resp.status();
        let digest = resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = read_small(resp).await.unwrap_or_default();
        if !status.is_success() {
            return Err(self.not_found("manifest", status, &text));
        }
        Ok(digest.unwrap_or_else(|| crate::digest::Digest::of(&raw).to_string()))
    }
}

/// Read a small response body.
pub async fn read_small(resp: Response<Incoming>) -> Result<Bytes> {
    Limited::new(resp.into_body(), MAX_SMALL)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ImageError::Registry(format!("reading registry answer: {e}")))
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
