//! The authorization hook: every API request is shown to an [`AuthzHook`]
//! before its handler runs, and its response after (Docker's authorization
//! plugins; the hook's implementation lives in the composition root, so this
//! crate stays free of subsystems).
//!
//! What the hook sees follows Docker (`pkg/authorization`): the method, the
//! URI exactly as the client sent it (version prefix and query included),
//! the headers flattened to one value each with credentials removed, and the
//! body only when it is `application/json`, has a `Content-Length` under
//! 1 MiB, and the path is not `/auth`. A refusal answers 403 (denied) or 500
//! (the plugin failed) without running the handler.
//!
//! Responses: a buffered answer up to 64 KiB is held until the hook allows it
//! (a refusal replaces it, unless the handler itself failed); a streamed
//! answer (logs, events, pull progress) flows to the client as produced and
//! the hook hears about it when it ends; a hijacked connection (attach, exec)
//! is authorized at its request only. When the handler failed, the response
//! hook gets neither status nor body, as Docker's does.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;

use crate::error::{ApiError, HandlerFailed};

/// Request bodies at or above this size are not shown to the hook (Docker 28).
pub const MAX_REQUEST_BODY: u64 = 1 << 20;
/// Responses up to this size are held for the response hook (Docker's buffer).
pub const MAX_RESPONSE_BODY: u64 = 64 << 10;

/// One request, as the hook sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query as sent (`/v1.50/containers/json?all=1`).
    pub uri: String,
    /// Headers, one value each (the last), Go's canonical names, credentials removed.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, when shown.
    pub body: Option<Bytes>,
    /// Subject CN of the client's TLS certificate (berth serves no TLS yet).
    pub user: Option<String>,
}

/// One response, as the hook sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzResponse {
    /// Status; `None` when the handler failed (or hijacked the connection).
    pub status: Option<u16>,
    /// Headers, flattened like the request's.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, when held.
    pub body: Option<Bytes>,
}

/// Decides about requests and responses. Errors are the refusal to send:
/// `Forbidden` for a deny (403), anything else for a failing plugin (500).
#[async_trait::async_trait]
pub trait AuthzHook: Send + Sync {
    /// Before the handler.
    async fn request(&self, req: &AuthzRequest) -> Result<(), berth_core::Error>;
    /// After the handler.
    async fn response(
        &self,
        req: &AuthzRequest,
        resp: &AuthzResponse,
    ) -> Result<(), berth_core::Error>;
}

/// Go's `CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`.
pub fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in name.chars() {
        out.push(if up {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        up = c == '-';
    }
    out
}

fn flatten(h: &HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in h {
        let k = canonical(k.as_str());
        if matches!(
            k.as_str(),
            "Authorization" | "X-Registry-Auth" | "X-Registry-Config"
        ) {
            continue;
        }
        out.insert(k, String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    out
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Docker's `^[^/]*/(v\d[\d.]*/)?auth.*`: bodies of `/auth` carry credentials.
fn is_auth_endpoint(uri: &str) -> bool {
    let Some(rest) = uri.split_once('/').map(|(_, r)| r) else {
        return false;
    };
    let rest = match rest.strip_prefix('v') {
        Some(v)
            if v.starts_with(|c: char| c.is_ascii_digit())
                && let Some((ver, tail)) = v.split_once('/')
                && ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            tail
        }
        _ => rest,
    };
    rest.starts_with("auth")
}

/// The middleware; a `None` hook lets everything through.
pub async fn layer(
    State(hook): State<Option<Arc<dyn AuthzHook>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(hook) = hook else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let len = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let show =
        is_json(&parts.headers) && !is_auth_endpoint(&uri) && len > 0 && len < MAX_REQUEST_BODY;
    let (body, shown) = if show {
        match http_body_util::Limited::new(body, MAX_REQUEST_BODY as usize)
            .collect()
            .await
        {
            Ok(b) => {
                let b = b.to_bytes();
                (Body::from(b.clone()), Some(b))
            }
            Err(e) => {
                return ApiError(berth_core::Error::invalid(format!(
                    "read request body: {e}"
                )))
                .into_response();
            }
        }
    } else {
        (body, None)
    };
    let areq = AuthzRequest {
        method: parts.method.to_string(),
        uri,
        headers: flatten(&parts.headers),
        body: shown,
        user: None,
    };
    if let Err(e) = hook.request(&areq).await {
        return ApiError(e).into_response();
    }
    let resp = next.run(Request::from_parts(parts, body)).await;
    respond(hook, areq, resp).await
}

async fn respond(hook: Arc<dyn AuthzHook>, areq: AuthzRequest, resp: Response) -> Response {
    let failed = resp.extensions().get::<HandlerFailed>().is_some();
    let hijacked = resp.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    if failed || hijacked {
        let aresp = AuthzResponse::default();
        if hijacked {
            // The stream belongs to the client now; a refusal can change nothing.
            tokio::spawn(async move {
                if let Err(e) = hook.response(&areq, &aresp).await {
                    tracing::warn!("authorization of {} {}: {e}", areq.method, areq.uri);
                }
            });
        } else if let Err(e) = hook.response(&areq, &aresp).await {
            tracing::warn!("authorization of {} {}: {e}", areq.method, areq.uri);
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let mut aresp = AuthzResponse {
        status: Some(parts.status.as_u16()),
        headers: flatten(&parts.headers),
        body: None,
    };
    let buffered = axum::body::HttpBody::size_hint(&body)
        .exact()
        .is_some_and(|n| n <= MAX_RESPONSE_BODY);
    if !buffered {
        // Streamed: pass it through; tell the hook once it has ended.
        let mut stream = body.into_data_stream();
        let out = async_stream(move |tx| async move {
            use futures::StreamExt;
            while let Some(chunk) = stream.next().await {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            if let Err(e) = hook.response(&areq, &aresp).await {
                tracing::warn!("authorization of {} {}: {e}", areq.method, areq.uri);
            }
        });
        return Response::from_parts(parts, Body::from_stream(out));
    }
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return ApiError(berth_core::Error::internal(format!("response body: {e}")))
                .into_response();
        }
    };
    if is_json(&parts.headers) && !is_auth_endpoint(&areq.uri) {
        aresp.body = Some(bytes.clone());
    }
    if let Err(e) = hook.response(&areq, &aresp).await {
        return ApiError(e).into_response();
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A body stream fed by a task (the producer keeps running after the last
/// chunk, to call the response hook).
fn async_stream<F, Fut>(
    f: F,
) -> impl futures::Stream<Item = Result<Bytes, axum::Error>> + Send + 'static
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, axum::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(f(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use axum::Router;
    use axum::routing::{delete, get, post};
    use tower::{Layer, ServiceExt};

    #[derive(Default)]
    struct Hook {
        seen: Mutex<Vec<(AuthzRequest, Option<AuthzResponse>)>>,
    }

    #[async_trait::async_trait]
    impl AuthzHook for Hook {
        async fn request(&self, req: &AuthzRequest) -> Result<(), berth_core::Error> {
            self.seen.lock().unwrap().push((req.clone(), None));
            if req.method == "DELETE" {
                return Err(berth_core::Error::forbidden(
                    "authorization denied by plugin t: no",
                ));
            }
            Ok(())
        }
        async fn response(
            &self,
            req: &AuthzRequest,
            resp: &AuthzResponse,
        ) -> Result<(), berth_core::Error> {
            self.seen
                .lock()
                .unwrap()
                .push((req.clone(), Some(resp.clone())));
            if req.uri.contains("deny-res") {
                return Err(berth_core::Error::internal(
                    "plugin t failed with error: boom",
                ));
            }
            Ok(())
        }
    }

    async fn call(hook: &Arc<Hook>, req: http::Request<Body>) -> (u16, String) {
        let router: Router = Router::new()
            .route(
                "/json",
                get(|| async { axum::Json(serde_json::json!({"a": 1})) }),
            )
            .route(
                "/deny-res",
                get(|| async { axum::Json(serde_json::json!({"a": 1})) }),
            )
            .route("/echo", post(|b: String| async move { b }))
            .route("/gone", delete(|| async { "removed" }))
            .route(
                "/fail",
                get(|| async { ApiError(berth_core::Error::not_found("nope")) }),
            )
            .route(
                "/stream",
                get(|| async {
                    let chunks = futures::stream::iter([
                        Ok::<_, std::io::Error>(Bytes::from("one ")),
                        Ok(Bytes::from("two")),
                    ]);
                    Body::from_stream(chunks)
                }),
            );
        let h: Arc<dyn AuthzHook> = hook.clone();
        let svc = axum::middleware::from_fn_with_state(Some(h), layer).layer(router);
        let resp = svc.oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn last(hook: &Hook) -> (AuthzRequest, Option<AuthzResponse>) {
        hook.seen.lock().unwrap().last().cloned().unwrap()
    }

    #[tokio::test]
    async fn requests_and_responses_reach_the_hook() {
        let hook = Arc::new(Hook::default());
        let body = r#"{"Image":"busybox"}"#;
        let req = http::Request::post("/echo?name=x")
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .header("x-registry-auth", "secret")
            .body(Body::from(body))
            .unwrap();
        let (status, echoed) = call(&hook, req).await;
        assert_eq!(
            (status, echoed.as_str()),
            (200, body),
            "the handler still gets the body"
        );
        let seen = hook.seen.lock().unwrap().clone();
        let (r, _) = &seen[seen.len() - 2];
        assert_eq!(
            (r.method.as_str(), r.uri.as_str()),
            ("POST", "/echo?name=x")
        );
        assert_eq!(r.body.as_deref(), Some(body.as_bytes()));
        assert_eq!(r.headers["Content-Type"], "application/json");
        assert!(!r.headers.contains_key("X-Registry-Auth"));
        let (_, resp) = &seen[seen.len() - 1];
        assert_eq!(resp.as_ref().unwrap().status, Some(200));

        // A deny: 403 with the message, the handler never runs.
        let req = http::Request::delete("/gone").body(Body::empty()).unwrap();
        let (status, text) = call(&hook, req).await;
        assert_eq!(status, 403);
        assert!(
            text.contains("authorization denied by plugin t: no"),
            "{text}"
        );
        assert!(
            last(&hook).1.is_none(),
            "no response hook after a refused request"
        );

        // A buffered JSON answer is shown, and a refusal replaces it.
        let (status, _) = call(
            &hook,
            http::Request::get("/json").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        let resp = last(&hook).1.unwrap();
        assert_eq!(resp.body.as_deref(), Some(br#"{"a":1}"#.as_slice()));
        let (status, text) = call(
            &hook,
            http::Request::get("/deny-res").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, 500);
        assert!(text.contains("plugin t failed with error: boom"), "{text}");

        // A failed handler: the hook hears of it without status or body.
        let (status, _) = call(
            &hook,
            http::Request::get("/fail").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, 404);
        let resp = last(&hook).1.unwrap();
        assert_eq!((resp.status, resp.body), (None, None));

        // A stream flows through; the hook hears of it once it has ended.
        let (status, text) = call(
            &hook,
            http::Request::get("/stream").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!((status, text.as_str()), (200, "one two"));
        for _ in 0..100 {
            if last(&hook).0.uri == "/stream" && last(&hook).1.is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        let (r, resp) = last(&hook);
        assert_eq!(r.uri, "/stream");
        assert_eq!(resp.unwrap().status, Some(200));
    }

    #[test]
    fn docker_rules() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-registry-auth"), "X-Registry-Auth");
        assert!(is_auth_endpoint("/auth"));
        assert!(is_auth_endpoint("/v1.50/auth"));
        assert!(!is_auth_endpoint("/v1.50/containers/auth"));
        assert!(!is_auth_endpoint("/containers/json"));
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/json; charset=utf-8".parse().unwrap(),
        );
        h.insert("authorization", "secret".parse().unwrap());
        h.insert("x-registry-auth", "secret".parse().unwrap());
        assert!(is_json(&h));
        let f = flatten(&h);
        assert_eq!(f.len(), 1, "{f:?}");
    }
}
