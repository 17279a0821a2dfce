//! A small HTTP/1.1 client for the Engine API over a unix socket or loopback
//! TCP, used by the berth CLI. One connection per request (the CLI makes few),
//! with upgrade support for hijacked attach/exec streams.

use std::path::PathBuf;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::ErrorResponse;
use crate::version::MAX;

/// A request body.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A JSON body.
pub fn json<T: Serialize>(v: &T) -> Result<Body, ClientError> {
    let data = serde_json::to_vec(v).map_err(|e| ClientError::Protocol(e.to_string()))?;
    Ok(Full::new(Bytes::from(data))
        .map_err(|never| match never {})
        .boxed())
}

/// Raw bytes as a body.
pub fn bytes(data: Vec<u8>) -> Body {
    Full::new(Bytes::from(data))
        .map_err(|never| match never {})
        .boxed()
}

/// What can go wrong talking to the daemon.
#[derive(Debug)]
pub enum ClientError {
    /// The daemon cannot be reached.
    Connect {
        host: String,
        source: std::io::Error,
    },
    /// The daemon answered with an error status.
    Daemon { status: StatusCode, message: String },
    /// The answer made no sense.
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect { host, source } => write!(
                f,
                "Cannot connect to the berth daemon at {host}. Is the daemon running? ({source})"
            ),
            ClientError::Daemon { message, .. } => {
                write!(f, "Error response from daemon: {message}")
            }
            ClientError::Protocol(m) => write!(f, "unexpected response from daemon: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// The HTTP status, when the daemon answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Addr {
    Unix(PathBuf),
    Tcp(String),
}

/// Engine API client.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    addr: Addr,
    prefix: String,
}

/// A connection to the daemon (unix or TCP).
pub trait Conn: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Conn for T {}

impl Client {
    /// A client for `unix:///path` or `tcp://host:port`.
    pub fn new(host: &str) -> Result<Client, ClientError> {
        let addr = if let Some(p) = host.strip_prefix("unix://") {
            Addr::Unix(PathBuf::from(p))
        } else if let Some(t) = host.strip_prefix("tcp://") {
            Addr::Tcp(t.trim_end_matches('/').to_string())
        } else if host.starts_with('/') {
            Addr::Unix(PathBuf::from(host))
        } else {
            return Err(ClientError::Protocol(format!("unsupported host {host:?}")));
        };
        Ok(Client {
            host: host.to_string(),
            addr,
            prefix: format!("/v{MAX}"),
        })
    }

    /// The host string this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    async fn connect(&self) -> Result<Box<dyn Conn>, ClientError> {
        let err = |source| ClientError::Connect {
            host: self.host.clone(),
            source,
        };
        Ok(match &self.addr {
            Addr::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await.map_err(err)?),
            Addr::Tcp(t) => Box::new(tokio::net::TcpStream::connect(t).await.map_err(err)?),
        })
    }

    fn build(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Request<Body>, ClientError> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.prefix, path))
            .header(header::HOST, "berth")
            .header(
                header::USER_AGENT,
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body)
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Send a request; error statuses become [`ClientError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, ClientError> {
        let conn = self.connect().await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        let req = self.build(method, path, body, headers)?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        check(resp).await
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.request(Method::GET, path, empty(), &[]).await?;
        decode(resp).await
    }

    /// POST a JSON body (or none) and decode a JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let b = match body {
            Some(v) => json(v)?,
            None => empty(),
        };
        let resp = self
            .request(
                Method::POST,
                path,
                b,
                &[("Content-Type", "application/json")],
            )
            .await?;
        decode(resp).await
    }

    /// POST and ignore the body (204 answers).
    pub async fn post_empty(&self, path: &str) -> Result<StatusCode, ClientError> {
        let resp = self.request(Method::POST, path, empty(), &[]).await?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Ok(status)
    }

    /// DELETE and return the body bytes.
    pub async fn delete(&self, path: &str) -> Result<Bytes, ClientError> {
        let resp = self.request(Method::DELETE, path, empty(), &[]).await?;
        read_all(resp).await
    }

    /// A hijacked (upgraded) connection for attach and exec start: returns the
    /// raw bidirectional stream after the daemon's `101` and the content type.
    pub async fn upgrade(
        &self,
        path: &str,
        body: Body,
    ) -> Result<(hyper::upgrade::Upgraded, String), ClientError> {
        let conn = self.connect().await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        let req = self.build(
            Method::POST,
            path,
            body,
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "tcp"),
                ("Content-Type", "application/json"),
            ],
        )?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let resp = check(resp).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Protocol(format!(
                "unable to upgrade to tcp, received {}",
                resp.status().as_u16()
            )));
        }
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let up = hyper::upgrade::on(resp)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((up, ctype))
    }
}

async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>, ClientError> {
    let status = resp.status();
    if status.is_success() || status.is_informational() || status == StatusCode::NOT_MODIFIED {
        return Ok(resp);
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorResponse>(&body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
    Err(ClientError::Daemon { status, message })
}

/// Read a whole response body.
pub async fn read_all(resp: Response<Incoming>) -> Result<Bytes, ClientError> {
    resp.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Decode a JSON response body.
pub async fn decode<T: DeserializeOwned>(resp: Response<Incoming>) -> Result<T, ClientError> {
    let body = read_all(resp).await?;
    serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("{e}")))
}
