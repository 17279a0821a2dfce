//! Detect and undo layer compression (gzip, zstd, or none) from magic bytes,
//! whatever the media type claims (Docker does the same).

use std::io::{self, BufRead, BufReader, Read};

/// Buffer size for reading layers.
pub const BUF: usize = 1 << 20;

/// Compression of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (possibly multi-member).
    Gzip,
    /// zstd.
    Zstd,
}

/// Sniff the compression of `r` without consuming it.
pub fn sniff<R: BufRead>(r: &mut R) -> io::Result<Compression> {
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unsupported compression (bzip2/xz)",
        ));
    } else {
        Compression::None
    })
}

/// A reader yielding the decompressed bytes of `r`.
pub fn decompress<'a, R: Read + Send + 'a>(r: R) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut br = BufReader::with_capacity(BUF, r);
    Ok(match sniff(&mut br)? {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
    })
}
