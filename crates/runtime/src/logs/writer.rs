//! The rotating log writer (used by `berth-shim`; plain blocking I/O).
//!
//! Output arrives in arbitrary chunks; the writer cuts it into lines (at most
//! [`MAX_LINE`] bytes each, longer ones become partial entries), stamps each chunk's
//! lines with the time it was read, and appends encoded entries. Memory held is at
//! most one unfinished line per stream.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::{LogEntry, LogStream, MAX_LINE, jsonfile, local, now_nanos};
use crate::layout::{LogConfig, LogDriver};

/// Appends entries to the current log file and rotates it.
#[derive(Debug)]
pub struct LogWriter {
    cfg: LogConfig,
    file: Option<File>,
    size: u64,
    pending: [Vec<u8>; 2],
    buf: Vec<u8>,
}

fn idx(s: LogStream) -> usize {
    match s {
        LogStream::Stdout => 0,
        LogStream::Stderr => 1,
    }
}

impl LogWriter {
    /// Open (append to) the current file; with the `none` driver nothing is written.
    pub fn open(cfg: LogConfig) -> std::io::Result<LogWriter> {
        let mut w = LogWriter {
            cfg,
            file: None,
            size: 0,
            pending: [Vec::new(), Vec::new()],
            buf: Vec::new(),
        };
        if w.cfg.driver != LogDriver::None {
            if let Some(dir) = w.cfg.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            w.reopen()?;
        }
        Ok(w)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.path)?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }

    /// Log a chunk of output.
    pub fn write(&mut self, stream: LogStream, mut data: &[u8]) -> std::io::Result<()> {
        if self.cfg.driver == LogDriver::None {
            return Ok(());
        }
        let now = now_nanos();
        while !data.is_empty() {
            let i = idx(stream);
            let room = MAX_LINE - self.pending[i].len();
            let cut = data.iter().take(room).position(|b| *b == b'\n');
            match cut {
                Some(p) => {
                    self.pending[i].extend_from_slice(&data[..=p]);
                    data = &data[p + 1..];
                    self.emit(stream, now, false)?;
                }
                None if data.len() >= room => {
                    self.pending[i].extend_from_slice(&data[..room]);
                    data = &data[room..];
                    self.emit(stream, now, true)?;
                }
                None => {
                    self.pending[i].extend_from_slice(data);
                    data = &[];
                }
            }
        }
        Ok(())
    }

    /// Write out an unfinished line (at EOF of the stream).
    pub fn finish(&mut self, stream: LogStream) -> std::io::Result<()> {
        if !self.pending[idx(stream)].is_empty() {
            self.emit(stream, now_nanos(), true)?;
        }
        Ok(())
    }

    fn emit(&mut self, stream: LogStream, time_nanos: i64, partial: bool) -> std::io::Result<()> {
        let data = std::mem::take(&mut self.pending[idx(stream)]);
        let e = LogEntry {
            stream,
            time_nanos,
            data,
            partial,
        };
        self.buf.clear();
        match self.cfg.driver {
            LogDriver::JsonFile => jsonfile::encode(&e, &mut self.buf),
            LogDriver::Local => local::encode(&e, &mut self.buf),
            LogDriver::None => return Ok(()),
        }
        if self.cfg.max_size > 0
            && self.size > 0
            && self.size + self.buf.len() as u64 > self.cfg.max_size
        {
            self.rotate()?;
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(&self.buf)?;
            self.size += self.buf.len() as u64;
        }
        // Keep the allocation small once a burst is over.
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let n = self.cfg.max_files.max(1);
        if n == 1 {
            File::create(&self.cfg.path)?;
        } else {
            for i in (1..n - 1).rev() {
                let _ = std::fs::rename(rotated(&self.cfg.path, i), rotated(&self.cfg.path, i + 1));
            }
            std::fs::rename(&self.cfg.path, rotated(&self.cfg.path, 1))?;
        }
        self.reopen()
    }
}

/// `<path>.<n>`.
pub fn rotated(path: &std::path::Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}
