//! Bridges between async bodies and the image service's blocking code, and
//! from its progress to Docker's JSON messages.

use std::io::{self, Read, Write};

use berth_api::backend::container::ByteStream;
use berth_api::backend::image::JsonStream;
use berth_api::types::jsonmessage::{JsonMessage, ProgressDetail};
use berth_core::{Error, Result};
use berth_image::{Progress, ProgressSink};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};

/// A blocking reader over a request body (use only off the async workers).
pub struct BodyReader {
    stream: ByteStream,
    handle: tokio::runtime::Handle,
    buf: Bytes,
}

impl BodyReader {
    /// Read `stream` from a blocking thread.
    pub fn new(stream: ByteStream) -> BodyReader {
        BodyReader {
            stream,
            handle: tokio::runtime::Handle::current(),
            buf: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => self.buf = b,
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// A blocking writer whose output becomes a response body stream.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 << 10;

impl ChannelWriter {
    /// A writer and the stream of what it writes.
    pub fn new() -> (ChannelWriter, ByteStream) {
        let (tx, rx) = mpsc::channel(16);
        (
            ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            },
            Box::pin(ReceiverStream::new(rx)),
        )
    }

    /// End the stream with an error (the client sees a cut connection).
    pub fn fail(self, e: &Error) {
        let _ = self
            .tx
            .blocking_send(Err(io::Error::other(e.message().to_string())));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// One progress message in Docker's JSON shape.
pub fn to_message(p: Progress) -> JsonMessage {
    if let Some(aux) = p.aux {
        return JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(aux),
            ..Default::default()
        };
    }
    if !p.stream.is_empty() {
        return JsonMessage::stream(p.stream);
    }
    let id = (!p.id.is_empty()).then_some(p.id.as_str());
    match (p.current, p.total, id) {
        (Some(c), Some(t), Some(id)) => JsonMessage::progress(p.status, id, c, t),
        (_, _, Some(id)) => JsonMessage {
            status: Some(p.status),
            id: Some(id.to_string()),
            progress_detail: Some(ProgressDetail::default()),
            ..Default::default()
        },
        _ => JsonMessage::status(p.status, None),
    }
}

/// Turn a progress receiver plus the operation's outcome into a JSON stream:
/// progress first, then `tail` messages, or the error.
pub fn json_stream<F>(rx: mpsc::UnboundedReceiver<Progress>, done: F) -> JsonStream
where
    F: std::future::Future<Output = Result<Vec<JsonMessage>>> + Send + 'static,
{
    let progress = UnboundedReceiverStream::new(rx).map(|p| Ok(to_message(p)));
    let tail = futures::stream::once(done).flat_map(|r| {
        let items: Vec<Result<JsonMessage>> = match r {
            Ok(msgs) => msgs.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(items)
    });
    Box::pin(progress.chain(tail))
}

/// Run blocking `f` with a progress sink and stream its progress and outcome.
pub fn blocking_json<F>(f: F) -> JsonStream
where
    F: FnOnce(ProgressSink) -> Result<Vec<JsonMessage>> + Send + 'static,
{
    let (sink, rx) = ProgressSink::channel();
    let handle = tokio::task::spawn_blocking(move || f(sink));
    json_stream(rx, async move {
        handle
            .await
            .map_err(|e| Error::internal(format!("image task failed: {e}")))?
    })
}
