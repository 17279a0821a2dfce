//! A hand-driven HTTP/1.1 keep-alive connection to the daemon's socket, for
//! tests that must control when each byte of a request is written (a client
//! library writes whole bodies and hides what the server did with the
//! connection).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// One connection, reused for several requests.
pub struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

/// A response: status and body (chunked bodies already decoded).
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// Writes the body chunks of a request started on a [`Connection`].
pub struct BodyWriter(UnixStream);

impl BodyWriter {
    /// Send one body chunk (an empty one ends the body).
    pub fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        write_chunk(&mut self.0, data)
    }
}

fn write_chunk(w: &mut UnixStream, data: &[u8]) -> io::Result<()> {
    write!(w, "{:x}\r\n", data.len())?;
    w.write_all(data)?;
    w.write_all(b"\r\n")
}

impl Connection {
    /// Connect to the daemon's unix socket.
    pub fn open(sock: &Path) -> io::Result<Connection> {
        let s = UnixStream::connect(sock)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Connection {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Start a request whose body is sent in chunks with [`Connection::chunk`].
    pub fn start_chunked(&mut self, method: &str, path: &str, ctype: &str) -> io::Result<()> {
        write!(
            self.writer,
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
    }

    /// Send one body chunk (an empty one ends the body).
    pub fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        write_chunk(&mut self.writer, data)
    }

    /// A second handle that writes body chunks, for a thread that sends
    /// while this one reads the response.
    pub fn body_writer(&self) -> io::Result<BodyWriter> {
        Ok(BodyWriter(self.writer.try_clone()?))
    }

    /// A body-less request.
    pub fn send(&mut self, method: &str, path: &str) -> io::Result<()> {
        write!(
            self.writer,
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\n\r\n"
        )
    }

    /// Read one whole response (Content-Length or chunked body).
    pub fn response(&mut self) -> io::Result<Response> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .get(9..12)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let h = line.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                length = v.trim().parse().map_err(io::Error::other)?;
            }
            chunked |= h == "transfer-encoding: chunked";
        }
        let mut body = Vec::new();
        if !chunked {
            body.resize(length, 0);
            self.reader.read_exact(&mut body)?;
        } else {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim_end(), 16).map_err(io::Error::other)?;
                let mut part = vec![0; n + 2];
                self.reader.read_exact(&mut part)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&part[..n]);
            }
        }
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}
