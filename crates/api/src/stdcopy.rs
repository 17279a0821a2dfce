//! Docker's stdcopy multiplexing: each frame is an 8-byte header
//! `[stream, 0, 0, 0, len (u32 big-endian)]` followed by `len` bytes. Used for
//! attach, exec and logs of containers without a TTY.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Stream ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StreamId {
    /// Not used on output.
    Stdin = 0,
    /// Standard output.
    Stdout = 1,
    /// Standard error.
    Stderr = 2,
    /// Daemon-side error text; clients surface it as an error.
    Systemerr = 3,
}

impl StreamId {
    /// From the header byte.
    pub fn from_u8(b: u8) -> Option<StreamId> {
        match b {
            0 => Some(StreamId::Stdin),
            1 => Some(StreamId::Stdout),
            2 => Some(StreamId::Stderr),
            3 => Some(StreamId::Systemerr),
            _ => None,
        }
    }
}

/// Frame `data` for `stream`.
pub fn encode(stream: StreamId, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + data.len());
    b.put_u8(stream as u8);
    b.put_bytes(0, 3);
    b.put_u32(data.len() as u32);
    b.put_slice(data);
    b.freeze()
}

/// Incremental decoder: feed bytes, take whole frames.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if any. Unknown stream ids are an error.
    pub fn next_frame(&mut self) -> Result<Option<(StreamId, Bytes)>, String> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let stream = StreamId::from_u8(self.buf[0])
            .ok_or_else(|| format!("unrecognized stream: {}", self.buf[0]))?;
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        self.buf.advance(8);
        Ok(Some((stream, self.buf.split_to(len).freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_across_chunk_boundaries() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&encode(StreamId::Stdout, b"hello\n"));
        wire.extend_from_slice(&encode(StreamId::Stderr, b"oops"));
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for chunk in wire.chunks(3) {
            d.push(chunk);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                (StreamId::Stdout, Bytes::from_static(b"hello\n")),
                (StreamId::Stderr, Bytes::from_static(b"oops"))
            ]
        );
        let mut bad = Decoder::default();
        bad.push(&[9, 0, 0, 0, 0, 0, 0, 0]);
        assert!(bad.next_frame().is_err());
    }
}
