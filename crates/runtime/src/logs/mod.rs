//! Container logs: the two on-disk formats the shim writes, a rotating writer, and
//! the reader the daemon uses for `docker logs` (tail, since/until, follow).
//!
//! File layout: the current file is [`crate::layout::LogConfig::path`]; on rotation it
//! is renamed to `<path>.1`, `<path>.1` to `<path>.2`, ... up to
//! `<path>.<max_files-1>`, so higher numbers are older. A reader goes
//! `<path>.<n>` … `<path>.1`, `<path>`.
//!
//! Each entry is one line of output (up to 16 KiB; longer lines and a final line
//! without newline are split into "partial" entries), with its stream and the time
//! the shim read it.

pub mod jsonfile;
pub mod local;
pub mod reader;
pub mod writer;

/// Longest entry before a line is split, as Docker's log copier does.
pub const MAX_LINE: usize = 16 * 1024;

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// stdout (and all TTY output).
    Stdout,
    /// stderr.
    Stderr,
}

impl LogStream {
    /// Docker's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Stream.
    pub stream: LogStream,
    /// Unix time in nanoseconds.
    pub time_nanos: i64,
    /// The bytes, including the trailing newline of a complete line.
    pub data: Vec<u8>,
    /// The line continues in the next entry of the same stream.
    pub partial: bool,
}

impl LogEntry {
    /// The timestamp as Docker prints it (RFC 3339 with nanoseconds).
    pub fn timestamp(&self) -> String {
        let t = chrono::DateTime::from_timestamp(
            self.time_nanos.div_euclid(1_000_000_000),
            self.time_nanos.rem_euclid(1_000_000_000) as u32,
        )
        .unwrap_or_default();
        berth_core::timefmt::rfc3339(t)
    }
}

/// Now as unix nanoseconds.
pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
