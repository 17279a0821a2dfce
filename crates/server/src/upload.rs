//! Streamed request bodies (archives, build contexts, image tarballs) as the
//! byte streams the backend reads.
//!
//! A backend may stop reading before the body ends: a tar reader stops at the
//! first end-of-archive block, leaving the second and any record padding
//! (GNU tar pads to 10 KiB), and an error stops it anywhere. hyper then closes
//! the connection after the answer, and a client still writing the rest gets
//! "broken pipe" instead of the answer. So a body dropped before its end is
//! read on and thrown away in the background, up to a bound, as Go's net/http
//! does after a handler returns: the client's writes complete and the
//! connection can carry the next request. A body larger than the bound, or a
//! client that stalls, still gets the connection closed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes};
use berth_api::backend::container::ByteStream;
use futures::{Stream, StreamExt};

/// Most bytes read on after the backend stops (Go reads 256 KiB; padding is
/// at most a 10 KiB record, but a failed upload's rest may be long).
const DRAIN_BYTES: usize = 1 << 20;
/// Longest wait for the rest of a body.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The body as a byte stream that, dropped before its end, is drained.
pub fn stream(body: Body) -> ByteStream {
    Box::pin(Upload {
        inner: Some(body.into_data_stream()),
    })
}

struct Upload {
    /// `None` once the body has ended.
    inner: Option<BodyDataStream>,
}

impl Stream for Upload {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_next(cx) {
            Poll::Ready(None) => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(r)) => Poll::Ready(Some(r.map_err(std::io::Error::other))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let Some(mut rest) = self.inner.take() else {
            return;
        };
        // Dropped on a runtime worker or a blocking-pool thread; outside a
        // runtime there is no connection left to keep.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let drain = async {
                let mut n = 0;
                while let Some(Ok(chunk)) = rest.next().await {
                    n += chunk.len();
                    if n > DRAIN_BYTES {
                        tracing::debug!("request body not drained: over {DRAIN_BYTES} bytes left");
                        return;
                    }
                }
            };
            if tokio::time::timeout(DRAIN_TIME, drain).await.is_err() {
                tracing::debug!("request body not drained: the client stalled");
            }
        });
    }
}
