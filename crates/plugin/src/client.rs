//! The HTTP/JSON client of the plugin protocol: `POST /<Interface>.<Method>`
//! over a unix socket or TCP (TLS for `https://`), with Docker's headers.
//!
//! - A fresh connection per call: a plugin that restarts is reached again at
//!   once, and a call that is abandoned (timeout) takes its connection with it.
//! - Connection failures (socket missing, refused) are retried with Docker's
//!   backoff (1 s, 2 s, 4 s, … capped at 30 s) while the retry budget lasts;
//!   anything after the request was sent is never retried (the plugin may
//!   have acted on it), and neither is an HTTP error.
//! - The exchange (request, answer) is bounded by the per-call timeout, and
//!   the answer's size by [`MAX_BODY`], so a slow or babbling plugin costs
//!   one task, never the daemon.
//! - A non-200 answer becomes [`PluginError::Remote`] with the plugin's `Err`
//!   text (or the raw body); so does a 200 whose `Err`/`Error` is non-empty.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::discovery::Addr;
use crate::error::{PluginError, Result};

/// `Accept` header the engine sends (moby's `VersionMimetype`).
pub const ACCEPT: &str = "application/vnd.docker.plugins.v1.2+json";
/// `Host` header for unix sockets (moby's dummy host name).
pub const UNIX_HOST: &str = "plugin.moby.localhost";
/// Largest answer accepted from a plugin.
pub const MAX_BODY: usize = 16 << 20;
/// Dial timeout of one connection attempt (go-connections' default).
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Time limits of plugin calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// One request/answer exchange.
    pub call_timeout: Duration,
    /// How long connection failures and lookups of a plugin not present yet
    /// are retried (Docker: 30 s).
    pub retry_budget: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            call_timeout: Duration::from_secs(60),
            retry_budget: Duration::from_secs(30),
        }
    }
}

/// Docker's backoff before retry `n` (0-based): 1 s doubling, capped at 30 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.min(5)).min(Duration::from_secs(30))
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Aborts the connection task when the call ends, however it ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client for one plugin.
#[derive(Clone)]
pub struct Client {
    name: String,
    addr: Addr,
    tls: Option<Arc<rustls::ClientConfig>>,
    settings: Settings,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish()
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ErrProbe {
    err: String,
    error: String,
}

impl Client {
    /// A client for plugin `name` at `addr`; TLS files are read here.
    pub fn new(name: &str, addr: Addr, settings: Settings) -> Result<Client> {
        let tls = match &addr {
            Addr::Tcp { tls: Some(t), .. } => Some(crate::tls::client_config(t).map_err(
                |reason| PluginError::Activation {
                    name: name.to_string(),
                    reason,
                },
            )?),
            _ => None,
        };
        if let Addr::Unix(p) = &addr
            && p.as_os_str().len() >= 108
        {
            return Err(PluginError::Activation {
                name: name.to_string(),
                reason: format!("unix socket path too long: {}", p.display()),
            });
        }
        Ok(Client {
            name: name.to_string(),
            addr,
            tls,
            settings,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it listens.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// The time limits.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    async fn dial(&self) -> std::io::Result<Box<dyn Io>> {
        let fut = async {
            match &self.addr {
                Addr::Unix(p) => {
                    Ok(Box::new(tokio::net::UnixStream::connect(p).await?) as Box<dyn Io>)
                }
                Addr::Tcp { host, .. } => {
                    let s = tokio::net::TcpStream::connect(host.as_str()).await?;
                    let _ = s.set_nodelay(true);
                    Ok(Box::new(s) as Box<dyn Io>)
                }
            }
        };
        tokio::time::timeout(DIAL_TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut)))
    }

    /// Connect, retrying connection failures within the retry budget.
    async fn connect(&self, method: &str) -> Result<Box<dyn Io>> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            match self.dial().await {
                Ok(s) => return Ok(s),
                Err(e) => {
                    let wait = backoff(attempt);
                    if start.elapsed() + wait >= self.settings.retry_budget {
                        return Err(PluginError::Connect {
                            name: self.name.clone(),
                            method: method.to_string(),
                            addr: self.addr.to_string(),
                            reason: e.to_string(),
                        });
                    }
                    tracing::warn!(
                        "Unable to connect to plugin: {}/{method}: {e}, retrying in {wait:?}",
                        self.addr
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    fn protocol(&self, method: &str, reason: impl std::fmt::Display) -> PluginError {
        PluginError::Protocol {
            name: self.name.clone(),
            method: method.to_string(),
            reason: reason.to_string(),
        }
    }

    /// One exchange on a connected stream: status and body.
    async fn exchange(&self, io: Box<dyn Io>, method: &str, body: Bytes) -> Result<(u16, Bytes)> {
        let io: Box<dyn Io> = match (&self.addr, &self.tls) {
            (Addr::Tcp { host, .. }, Some(cfg)) => {
                let name = crate::tls::server_name(host).map_err(|e| self.protocol(method, e))?;
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, io)
                    .await
                    .map_err(|e| self.protocol(method, format!("TLS handshake: {e}")))?;
                Box::new(tls)
            }
            _ => io,
        };
        // Title-case header names, as Go's client writes them (some plugins care).
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| self.protocol(method, e))?;
        let _conn = AbortOnDrop(tokio::spawn(conn).abort_handle());
        let host = match &self.addr {
            Addr::Unix(_) => UNIX_HOST.to_string(),
            Addr::Tcp { host, .. } => host.clone(),
        };
        let req = http::Request::post(format!("/{method}"))
            .header(http::header::HOST, host)
            .header(http::header::ACCEPT, ACCEPT)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(Full::new(body))
            .map_err(|e| self.protocol(method, e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.protocol(method, format!("broken answer: {e}")))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| self.protocol(method, format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    /// `POST /<method>` with `body` (empty for no argument); the body of a 200
    /// answer, or the error. `timeout` bounds the exchange after connecting.
    pub async fn call_raw(&self, method: &str, body: Bytes, timeout: Duration) -> Result<Bytes> {
        let io = self.connect(method).await?;
        let (status, body) = tokio::time::timeout(timeout, self.exchange(io, method, body))
            .await
            .map_err(|_| PluginError::Timeout {
                name: self.name.clone(),
                method: method.to_string(),
                after: timeout,
            })??;
        if status == 200 {
            return Ok(body);
        }
        let probe: Option<ErrProbe> = crate::ci::from_slice(&body).ok();
        let message = match probe {
            Some(p) if !p.err.is_empty() => p.err,
            Some(p) if !p.error.is_empty() => p.error,
            _ => String::from_utf8_lossy(&body).trim().to_string(),
        };
        let message = if message.is_empty() {
            format!("HTTP status {status}")
        } else {
            message
        };
        Err(PluginError::Remote {
            name: self.name.clone(),
            method: method.to_string(),
            status,
            message,
        })
    }

    /// A typed call with the default timeout. `req` `None` sends an empty
    /// body (Docker's no-argument calls). A non-empty `Err` or `Error` in
    /// the answer is an error.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: Option<&Req>,
    ) -> Result<Resp> {
        self.call_with(method, req, self.settings.call_timeout, true)
            .await
    }

    /// [`Client::call`] with an explicit timeout, and whether the answer's
    /// `Err`/`Error` field fails the call (authorization answers carry their
    /// verdict elsewhere).
    pub async fn call_with<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: Option<&Req>,
        timeout: Duration,
        check_err: bool,
    ) -> Result<Resp> {
        let body = match req {
            Some(r) => {
                // Go's json.Encoder ends the document with a newline.
                let mut v = serde_json::to_vec(r).map_err(|e| self.protocol(method, e))?;
                v.push(b'\n');
                Bytes::from(v)
            }
            None => Bytes::new(),
        };
        let answer = self.call_raw(method, body, timeout).await?;
        if check_err {
            let probe: ErrProbe = crate::ci::from_slice(&answer)
                .map_err(|e| self.protocol(method, format!("invalid JSON answer: {e}")))?;
            let msg = if probe.err.is_empty() {
                probe.error
            } else {
                probe.err
            };
            if !msg.is_empty() {
                return Err(PluginError::Remote {
                    name: self.name.clone(),
                    method: method.to_string(),
                    status: 200,
                    message: msg,
                });
            }
        }
        crate::ci::from_slice(&answer)
            .map_err(|e| self.protocol(method, format!("invalid JSON answer: {e}")))
    }
}
