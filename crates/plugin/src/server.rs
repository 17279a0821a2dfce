//! Serving the plugin protocol: berth's own drivers offered to another engine
//! (`berthd network-plugin serve`), or fake plugins in tests.
//!
//! The transport side only: `POST /Plugin.Activate` is answered from
//! [`Handler::implements`]; every other `POST /<Interface>.<Method>` goes to
//! [`Handler::call`] with the raw body. Answers are JSON with the content type
//! go-plugins-helpers uses; an error is HTTP 500 `{"Err": "..."}` (IPAM
//! drivers also put it in `Error`), an unknown method 404.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::client::MAX_BODY;
use crate::dto::{ACTIVATE, Manifest};

/// Content type of answers.
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.1+json";

/// The answer to one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// HTTP 200 with this JSON.
    Ok(serde_json::Value),
    /// HTTP 500 `{"Err": msg}`.
    Err(String),
    /// HTTP 404: not implemented.
    NotFound,
}

/// What a served plugin does.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Interfaces for `Plugin.Activate`.
    fn implements(&self) -> Vec<String>;
    /// Answer `Interface.Method` with the request body.
    async fn call(&self, method: &str, body: Bytes) -> Reply;
}

fn answer(status: u16, v: &serde_json::Value) -> http::Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    let mut r = http::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    r
}

async fn handle(
    h: Arc<dyn Handler>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let method = req.uri().path().trim_start_matches('/').to_string();
    if req.method() != http::Method::POST {
        return Ok(answer(
            405,
            &serde_json::json!({"Err": "method not allowed"}),
        ));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(answer(400, &serde_json::json!({"Err": e.to_string()}))),
    };
    if method == ACTIVATE {
        let m = Manifest {
            implements: h.implements(),
        };
        return Ok(answer(200, &serde_json::to_value(m).unwrap_or_default()));
    }
    let reply = h.call(&method, body).await;
    tracing::debug!(%method, ?reply, "plugin call");
    Ok(match reply {
        Reply::Ok(v) => answer(200, &v),
        Reply::Err(msg) => answer(500, &serde_json::json!({"Err": msg, "Error": msg})),
        Reply::NotFound => {
            let mut r = http::Response::new(Full::new(Bytes::from_static(b"404 page not found\n")));
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            r
        }
    })
}

/// Serve `handler` on `listener` until `shutdown` resolves.
pub async fn serve_unix(
    listener: tokio::net::UnixListener,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => r?,
            () = &mut shutdown => return Ok(()),
        };
        let h = handler.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(h.clone(), req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!("plugin connection: {e}");
            }
        });
    }
}
