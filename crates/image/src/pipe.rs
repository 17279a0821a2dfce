//! Plumbing between async downloads and blocking consumers: a channel reader
//! and a tee that stores what a reader yields.

use std::io::{self, Read, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

/// A blocking reader over chunks sent by an async producer.
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    buf: Bytes,
}

impl ChannelReader {
    /// Read what `rx` receives; EOF when the sender is dropped.
    pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            buf: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
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

/// Writes everything read from `inner` to `out`.
pub struct Tee<R, W> {
    /// Source.
    pub inner: R,
    /// Copy.
    pub out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}
