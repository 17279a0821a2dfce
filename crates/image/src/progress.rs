//! Progress of long operations (pull, push, load, import), in the shape of
//! Docker's JSON messages but free of any wire format: the engine turns each
//! [`Progress`] into a `JSONMessage`.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// One progress message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Layer or tag the message is about (`""` for none).
    pub id: String,
    /// Status text (`Downloading`, `Pull complete`, ...).
    pub status: String,
    /// Bytes done, for progress bars.
    pub current: Option<i64>,
    /// Bytes in total, for progress bars.
    pub total: Option<i64>,
    /// Free text printed as is (`Loaded image: x\n`).
    pub stream: String,
    /// Structured data for the client (push digest, ...).
    pub aux: Option<serde_json::Value>,
}

/// Where progress goes; cheap to clone, silent when disconnected.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<mpsc::UnboundedSender<Progress>>);

impl ProgressSink {
    /// A sink that drops everything.
    pub fn none() -> ProgressSink {
        ProgressSink(None)
    }

    /// A sink and the receiver of its messages.
    pub fn channel() -> (ProgressSink, mpsc::UnboundedReceiver<Progress>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ProgressSink(Some(tx)), rx)
    }

    /// Send a message.
    pub fn send(&self, p: Progress) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(p);
        }
    }

    /// `{"status": status, "id": id}`.
    pub fn status(&self, id: &str, status: &str) {
        self.send(Progress {
            id: id.into(),
            status: status.into(),
            ..Default::default()
        });
    }

    /// A status with a byte count.
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(Progress {
            id: id.into(),
            status: status.into(),
            current: Some(current as i64),
            total: Some(total as i64),
            ..Default::default()
        });
    }

    /// Free text (a trailing newline is the caller's).
    pub fn stream(&self, text: &str) {
        self.send(Progress {
            stream: text.into(),
            ..Default::default()
        });
    }

    /// Structured data.
    pub fn aux(&self, v: serde_json::Value) {
        self.send(Progress {
            aux: Some(v),
            ..Default::default()
        });
    }
}

/// Reports bytes read through it as `status` of `id`, at most every 100 ms.
pub struct ProgressReader<R> {
    inner: R,
    sink: ProgressSink,
    id: String,
    status: &'static str,
    done: u64,
    total: u64,
    last: Instant,
}

impl<R: Read> ProgressReader<R> {
    /// Wrap `inner` whose length is `total`.
    pub fn new(inner: R, sink: ProgressSink, id: &str, status: &'static str, total: u64) -> Self {
        ProgressReader {
            inner,
            sink,
            id: id.into(),
            status,
            done: 0,
            total,
            last: Instant::now() - Duration::from_secs(1),
        }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.last.elapsed() >= Duration::from_millis(100) || (n == 0 && self.done > 0) {
            self.last = Instant::now();
            self.sink
                .bytes(&self.id, self.status, self.done.min(self.total), self.total);
        }
        Ok(n)
    }
}
