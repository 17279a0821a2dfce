//! Hijacked connections for attach and exec start.
//!
//! Docker answers these requests by taking over the TCP/unix connection: with an
//! `Upgrade` header it writes `HTTP/1.1 101 UPGRADED` plus the stream content
//! type, `Connection: Upgrade` and `Upgrade: tcp`, and from then on the socket
//! carries stdin one way and output the other. hyper does the same through its
//! upgrade mechanism: we answer 101 (with Docker's reason phrase) and, once hyper
//! hands over the connection, give it to the backend's [`StreamSession`].
//!
//! Without an `Upgrade` header Docker's legacy answer is `200 OK` with the raw
//! stream type, still streaming over the same connection. hyper cannot give up
//! a connection without a 101, so the legacy form pipes the session through an
//! in-memory duplex: the request body is stdin, the (chunked) response body is
//! the output.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api::ApiVersion;
use berth_api::backend::container::StreamSession;
use berth_api::version::MAX;
use futures::TryStreamExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// Content type of raw (TTY) streams.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
/// Content type of stdcopy-multiplexed streams.
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// Buffer of the legacy (non-upgrade) duplex pipe.
const LEGACY_PIPE: usize = 64 << 10;

/// What a handler needs from the request to hijack it later.
pub struct Hijack {
    on_upgrade: Option<OnUpgrade>,
    upgrade: bool,
    version: ApiVersion,
}

/// The API version recorded by [`crate::version::layer`] (the newest when absent).
pub fn api_version(parts: &Parts) -> ApiVersion {
    parts.extensions.get::<ApiVersion>().copied().unwrap_or(MAX)
}

/// The stream content type Docker announces: multiplexed only without a TTY
/// and for API 1.42 or newer.
pub fn stream_content_type(tty: bool, version: ApiVersion) -> &'static str {
    if tty || !version.at_least(1, 42) {
        RAW_STREAM
    } else {
        MULTIPLEXED_STREAM
    }
}

impl Hijack {
    /// Take the upgrade handle out of a request before its body is consumed.
    pub fn from_parts(parts: &mut Parts) -> Hijack {
        Hijack {
            on_upgrade: parts.extensions.remove::<OnUpgrade>(),
            upgrade: parts.headers.contains_key(header::UPGRADE),
            version: api_version(parts),
        }
    }

    /// Answer the request and run `session` over the connection in a spawned task.
    /// `body` is the rest of the request body (stdin for the legacy form).
    pub fn respond(self, session: StreamSession, body: Body) -> Response {
        if !self.upgrade {
            return legacy(session, body);
        }
        let Some(on_upgrade) = self.on_upgrade else {
            return ApiError(berth_core::Error::internal(
                "this connection cannot be hijacked",
            ))
            .into_response();
        };
        let ctype = stream_content_type(session.tty, self.version);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => (session.run)(Box::new(TokioIo::new(upgraded))).await,
                Err(e) => tracing::debug!("hijack: upgrade failed: {e}"),
            }
        });
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        resp
    }
}

/// `200 OK` + raw-stream: the session talks to one end of a duplex pipe; the
/// request body feeds it (then half-closes), its output is the response body.
fn legacy(session: StreamSession, body: Body) -> Response {
    let (ours, theirs) = tokio::io::duplex(LEGACY_PIPE);
    let (read_half, mut write_half) = tokio::io::split(ours);
    tokio::spawn((session.run)(Box::new(theirs)));
    tokio::spawn(async move {
        let mut stdin = tokio_util::io::StreamReader::new(
            body.into_data_stream().map_err(std::io::Error::other),
        );
        let _ = tokio::io::copy(&mut stdin, &mut write_half).await;
        // Stdin ended: the session reads EOF but may keep writing output.
        let _ = write_half.shutdown().await;
    });
    let out = tokio_util::io::ReaderStream::new(read_half);
    let mut resp = Response::new(Body::from_stream(out));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_tty_and_version() {
        let v = |m| ApiVersion { major: 1, minor: m };
        assert_eq!(stream_content_type(false, v(50)), MULTIPLEXED_STREAM);
        assert_eq!(stream_content_type(true, v(50)), RAW_STREAM);
        assert_eq!(stream_content_type(false, v(41)), RAW_STREAM);
        assert_eq!(stream_content_type(false, v(42)), MULTIPLEXED_STREAM);
    }
}
