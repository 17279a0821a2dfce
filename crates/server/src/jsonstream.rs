//! Docker's JSON message streams (pull, push, load, import, build): one JSON
//! object per line, `Content-Type: application/json`, each flushed as it comes.
//!
//! An error before the first message is answered as a plain HTTP error with
//! its status (the client has seen nothing yet, as moby does when its output
//! was not flushed); an error after it becomes an `errorDetail` message and
//! ends the stream, since the 200 status is already on the wire.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_api::types::jsonmessage::JsonMessage;
use berth_core::Result;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::ApiError;

fn line(m: &JsonMessage) -> Bytes {
    let mut v = serde_json::to_vec(m).unwrap_or_default();
    v.extend_from_slice(b"\r\n");
    Bytes::from(v)
}

/// Answer a request with a JSON message stream.
pub async fn respond<S>(stream: S) -> Response
where
    S: Stream<Item = Result<JsonMessage>> + Send + Unpin + 'static,
{
    respond_with(stream, true).await
}

/// Like [`respond`], but even an error before the first message is an
/// `errorDetail` message of a 200 stream, as moby's `POST /images/load`
/// answers (docker-py raises `ImageLoadError` only for an in-stream error).
pub async fn respond_in_stream<S>(stream: S) -> Response
where
    S: Stream<Item = Result<JsonMessage>> + Send + Unpin + 'static,
{
    respond_with(stream, false).await
}

async fn respond_with<S>(stream: S, early_http_error: bool) -> Response
where
    S: Stream<Item = Result<JsonMessage>> + Send + Unpin + 'static,
{
    let mut stream = stream;
    let first = match stream.next().await {
        Some(Err(e)) if early_http_error => return ApiError(e).into_response(),
        Some(Err(e)) => Some(JsonMessage::error(e.message())),
        Some(Ok(m)) => Some(m),
        None => None,
    };
    let failed = first.as_ref().is_some_and(|m| m.error_detail.is_some());
    let head = futures::stream::iter(first.map(|m| Ok::<_, std::convert::Infallible>(line(&m))));
    // Stop after the first error: it is the last word.
    let rest = stream.scan(failed, |failed, item| {
        if *failed {
            return futures::future::ready(None);
        }
        let out = match item {
            Ok(m) => line(&m),
            Err(e) => {
                *failed = true;
                line(&JsonMessage::error(e.message()))
            }
        };
        futures::future::ready(Some(Ok(out)))
    });
    let mut resp = Response::new(Body::from_stream(head.chain(rest)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::Error;

    async fn body(r: Response) -> (u16, String) {
        let status = r.status().as_u16();
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&b).into_owned())
    }

    #[tokio::test]
    async fn early_error_is_http_late_error_is_message() {
        let s = futures::stream::iter(vec![Err(Error::not_found("manifest unknown"))]);
        let (status, text) = body(respond(s).await).await;
        assert_eq!(status, 404);
        assert!(text.contains("manifest unknown"));

        let s = futures::stream::iter(vec![
            Ok(JsonMessage::status("Pulling", Some("1"))),
            Err(Error::internal("boom")),
            Ok(JsonMessage::status("never", None)),
        ]);
        let (status, text) = body(respond(s).await).await;
        assert_eq!(status, 200);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[1].contains(r#""errorDetail":{"message":"boom"}"#),
            "{text}"
        );
    }
}
