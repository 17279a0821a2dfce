//! Reading container logs for `docker logs`: both formats, across rotated files,
//! with stream selection, `since`/`until`, `tail` and `follow`.
//!
//! Follow polls the current file (every 100 ms when idle) and notices rotation by
//! the inode at the path changing; it then drains the old file before switching.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::writer::rotated;
use super::{LogEntry, LogStream, jsonfile, local};
use crate::error::{Result, RuntimeError};
use crate::layout::LogDriver;

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Only entries at or after this unix-nanosecond time.
    pub since: Option<i64>,
    /// Only entries before this unix-nanosecond time.
    pub until: Option<i64>,
    /// Only the last N entries of the existing log (before following).
    pub tail: Option<usize>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            stdout: true,
            stderr: true,
            since: None,
            until: None,
            tail: None,
        }
    }
}

impl ReadOptions {
    fn wants(&self, e: &LogEntry) -> bool {
        let stream_ok = match e.stream {
            LogStream::Stdout => self.stdout,
            LogStream::Stderr => self.stderr,
        };
        stream_ok
            && self.since.is_none_or(|s| e.time_nanos >= s)
            && self.until.is_none_or(|u| e.time_nanos < u)
    }
}

/// Reads one file incrementally, keeping an unfinished record between reads.
struct Cursor {
    file: File,
    ino: u64,
    pending: Vec<u8>,
    driver: LogDriver,
}

impl Cursor {
    fn open(path: &Path, driver: LogDriver) -> std::io::Result<Cursor> {
        let file = File::open(path)?;
        let ino = file.metadata()?.ino();
        Ok(Cursor {
            file,
            ino,
            pending: Vec::new(),
            driver,
        })
    }

    /// Read what was appended since the last call and decode complete entries.
    fn poll(&mut self, out: &mut Vec<LogEntry>) -> std::io::Result<usize> {
        let mut buf = [0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n;
            self.pending.extend_from_slice(&buf[..n]);
            self.decode(out);
        }
        Ok(total)
    }

    fn decode(&mut self, out: &mut Vec<LogEntry>) {
        let mut at = 0;
        match self.driver {
            LogDriver::JsonFile => {
                while let Some(nl) = self.pending[at..].iter().position(|b| *b == b'\n') {
                    if let Some(e) = jsonfile::decode(&self.pending[at..at + nl]) {
                        out.push(e);
                    }
                    at += nl + 1;
                }
            }
            LogDriver::Local => {
                while let Ok((e, n)) = local::decode(&self.pending[at..]) {
                    out.extend(e);
                    at += n;
                }
            }
            LogDriver::None => at = self.pending.len(),
        }
        self.pending.drain(..at);
    }
}

/// The files of a log, oldest first.
fn files(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..1000)
        .map(|n| rotated(path, n))
        .take_while(|p| p.exists())
        .collect();
    v.reverse();
    v.push(path.to_path_buf());
    v
}

/// Read the existing log (all files) once. Returns the entries and, for following,
/// a cursor positioned at the end of the current file.
fn snapshot(
    path: &Path,
    driver: LogDriver,
    opts: &ReadOptions,
) -> Result<(Vec<LogEntry>, Option<Cursor>)> {
    if driver == LogDriver::None {
        return Err(RuntimeError::Invalid(
            "configured logging driver does not support reading".into(),
        ));
    }
    let cap = opts.tail.unwrap_or(usize::MAX);
    let mut ring: VecDeque<LogEntry> = VecDeque::new();
    let mut cursor = None;
    let mut batch = Vec::new();
    for f in files(path) {
        let mut c = match Cursor::open(&f, driver) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(RuntimeError::io(format!("read log {}", f.display()), e)),
        };
        c.poll(&mut batch)
            .map_err(|e| RuntimeError::io(format!("read log {}", f.display()), e))?;
        for e in batch.drain(..) {
            if cap > 0 && opts.wants(&e) {
                if ring.len() == cap {
                    ring.pop_front();
                }
                ring.push_back(e);
            }
        }
        if f == path {
            cursor = Some(c);
        }
    }
    Ok((ring.into(), cursor))
}

/// Read the existing log once (no follow).
pub fn read(path: &Path, driver: LogDriver, opts: &ReadOptions) -> Result<Vec<LogEntry>> {
    snapshot(path, driver, opts).map(|(v, _)| v)
}

/// Read the existing log, then keep sending new entries until `stop` turns true
/// (typically: the container exited), after which what remains is drained and the
/// channel closes. Dropping the receiver ends the task too.
pub fn follow(
    path: PathBuf,
    driver: LogDriver,
    opts: ReadOptions,
    mut stop: watch::Receiver<bool>,
) -> mpsc::Receiver<Result<LogEntry>> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let (first, mut cursor) = match snapshot(&path, driver, &opts) {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        for e in first {
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
        let mut batch = Vec::new();
        loop {
            let stopping = *stop.borrow();
            let mut got = 0;
            if cursor.is_none() {
                cursor = Cursor::open(&path, driver).ok();
            }
            if let Some(c) = cursor.as_mut() {
                got += c.poll(&mut batch).unwrap_or(0);
                // Rotated away: drain the old file (done above), then switch to the new one.
                let now_ino = std::fs::metadata(&path).map(|m| m.ino()).ok();
                if now_ino.is_some_and(|i| i != c.ino) {
                    // Lines written to the old file just before the rename.
                    got += c.poll(&mut batch).unwrap_or(0);
                    if let Ok(mut n) = Cursor::open(&path, driver) {
                        let _ = n.file.seek(SeekFrom::Start(0));
                        got += n.poll(&mut batch).unwrap_or(0);
                        cursor = Some(n);
                    }
                }
            }
            for e in batch.drain(..) {
                if opts.until.is_some_and(|u| e.time_nanos >= u) {
                    return;
                }
                if opts.wants(&e) && tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            if stopping {
                return;
            }
            if got == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::LogConfig;
    use crate::logs::writer::LogWriter;

    fn write_lines(driver: LogDriver, max_size: u64) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("c.log");
        let mut w = LogWriter::open(LogConfig {
            driver,
            path: path.clone(),
            max_size,
            max_files: 3,
        })
        .unwrap();
        for i in 0..100 {
            let s = if i % 2 == 0 {
                LogStream::Stdout
            } else {
                LogStream::Stderr
            };
            w.write(s, format!("line {i}\n").as_bytes()).unwrap();
        }
        w.write(LogStream::Stdout, b"no newline").unwrap();
        w.finish(LogStream::Stdout).unwrap();
        (d, path)
    }

    #[test]
    fn reads_both_formats_with_tail_and_streams() {
        for driver in [LogDriver::JsonFile, LogDriver::Local] {
            let (_d, path) = write_lines(driver, 0);
            let all = read(&path, driver, &ReadOptions::default()).unwrap();
            assert_eq!(all.len(), 101);
            assert_eq!(all[3].data, b"line 3\n");
            assert_eq!(all[3].stream, LogStream::Stderr);
            assert!(all[100].partial && all[100].data == b"no newline");
            let tail = read(
                &path,
                driver,
                &ReadOptions {
                    tail: Some(2),
                    stderr: false,
                    ..Default::default()
                },
            )
            .unwrap();
            assert_eq!(
                tail.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
                vec![b"line 98\n".to_vec(), b"no newline".to_vec()]
            );
            let none = read(
                &path,
                driver,
                &ReadOptions {
                    tail: Some(0),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(none.is_empty());
            let future = read(
                &path,
                driver,
                &ReadOptions {
                    since: Some(i64::MAX),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(future.is_empty());
        }
    }

    #[test]
    fn rotation_keeps_max_files_and_reads_in_order() {
        for driver in [LogDriver::JsonFile, LogDriver::Local] {
            let (_d, path) = write_lines(driver, 400);
            assert!(rotated(&path, 2).exists() && !rotated(&path, 3).exists());
            assert!(std::fs::metadata(&path).unwrap().len() <= 400);
            let all = read(&path, driver, &ReadOptions::default()).unwrap();
            assert!(all.len() < 101);
            assert_eq!(all.last().unwrap().data, b"no newline");
            let nums: Vec<u32> = all[..all.len() - 1]
                .iter()
                .map(|e| {
                    String::from_utf8_lossy(&e.data)
                        .trim()
                        .trim_start_matches("line ")
                        .parse()
                        .unwrap()
                })
                .collect();
            assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
            assert_eq!(*nums.last().unwrap(), 99);
        }
    }

    #[test]
    fn long_lines_are_split_into_partials() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("c.log");
        let cfg = LogConfig::with_defaults(LogDriver::Local, path.clone());
        let mut w = LogWriter::open(cfg).unwrap();
        let big = vec![b'x'; super::super::MAX_LINE + 10];
        w.write(LogStream::Stdout, &big).unwrap();
        w.write(LogStream::Stdout, b"\n").unwrap();
        let all = read(&path, LogDriver::Local, &ReadOptions::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].partial && !all[1].partial);
        assert_eq!(all[0].data.len() + all[1].data.len(), big.len() + 1);
    }

    #[tokio::test]
    async fn follow_sees_new_lines_across_rotation_and_stops() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("c.log");
        let mut w = LogWriter::open(LogConfig {
            driver: LogDriver::JsonFile,
            path: path.clone(),
            max_size: 600,
            max_files: 2,
        })
        .unwrap();
        w.write(LogStream::Stdout, b"first\n").unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut rx = follow(
            path.clone(),
            LogDriver::JsonFile,
            ReadOptions::default(),
            stop_rx,
        );
        assert_eq!(rx.recv().await.unwrap().unwrap().data, b"first\n");
        for i in 0..10 {
            w.write(LogStream::Stdout, format!("more {i}\n").as_bytes())
                .unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < 10 {
            seen.push(String::from_utf8(rx.recv().await.unwrap().unwrap().data).unwrap());
        }
        assert_eq!(seen[9], "more 9\n");
        assert!(rotated(&path, 1).exists());
        stop_tx.send(true).unwrap();
        assert!(rx.recv().await.is_none());
    }
}
