//! Plumbing shared by the VM supervisor and the exec relays: the host side of a
//! guest process's stdio, a signal self-pipe, framed I/O on the agent stream, and
//! the hygiene of a process forked from the shim.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_runtime::vm::proto::{self, Frame};

use crate::backend::ChildStdio;

/// The host end of a guest process's stdio, as the shim handed it over.
pub enum HostIo {
    /// Pipes (or `/dev/null` for a closed stdin).
    Pipes(ChildStdio),
    /// The slave of the PTY whose master the shim holds.
    Pty(OwnedFd),
}

impl HostIo {
    /// Descriptors to keep open in a forked child.
    pub fn fds(&self) -> Vec<RawFd> {
        match self {
            HostIo::Pipes(s) => vec![
                s.stdin.as_raw_fd(),
                s.stdout.as_raw_fd(),
                s.stderr.as_raw_fd(),
            ],
            HostIo::Pty(s) => vec![s.as_raw_fd()],
        }
    }

    /// Whether the guest process gets an open stdin (`/dev/null` means no).
    pub fn stdin_open(&self) -> bool {
        match self {
            HostIo::Pty(_) => true,
            HostIo::Pipes(s) => !is_dev_null(s.stdin.as_raw_fd()),
        }
    }
}

fn is_dev_null(fd: RawFd) -> bool {
    // SAFETY: fstat writes into a zeroed stat we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && libc::major(st.st_rdev) == 1
            && libc::minor(st.st_rdev) == 3
    }
}

/// Bytes waiting for a non-blocking fd.
#[derive(Default)]
pub struct OutBuf {
    buf: VecDeque<u8>,
}

impl OutBuf {
    /// Queue bytes.
    pub fn push(&mut self, b: &[u8]) {
        self.buf.extend(b);
    }
    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Write what the fd takes; false when the fd is gone.
    pub fn flush(&mut self, fd: RawFd) -> bool {
        while !self.buf.is_empty() {
            let (a, _) = self.buf.as_slices();
            // SAFETY: writing from a live slice to an fd the caller holds.
            let n = unsafe { libc::write(fd, a.as_ptr().cast(), a.len()) };
            if n > 0 {
                self.buf.drain(..n as usize);
                continue;
            }
            let e = std::io::Error::last_os_error();
            if n < 0 && (e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted) {
                return true;
            }
            self.buf.clear();
            return false;
        }
        true
    }
    /// Write everything, waiting up to `limit`.
    pub fn drain_blocking(&mut self, fd: RawFd, limit: Duration) {
        let end = Instant::now() + limit;
        while !self.buf.is_empty() && Instant::now() < end {
            if !self.flush(fd) {
                return;
            }
            if !self.buf.is_empty() {
                poll_one(fd, libc::POLLOUT, 50);
            }
        }
    }
}

/// Wait for `ev` on `fd` for at most `ms`.
pub fn poll_one(fd: RawFd, ev: i16, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: ev,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// Set `O_NONBLOCK`.
pub fn nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an fd the caller holds.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Read what is there: `Some(n)` bytes (0 = EOF), `None` for "try later".
pub fn read_some(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: reading into a live buffer of the given length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n >= 0 {
        return Some(n as usize);
    }
    let e = std::io::Error::last_os_error();
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::Interrupted => None,
        // EIO: a PTY whose other side closed.
        _ => Some(0),
    }
}

static SIG_W: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIG_W.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a stack byte.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// Signals a VM process catches: everything catchable, to forward to the guest.
pub fn catchable() -> impl Iterator<Item = i32> {
    (1..=64).filter(|s| ![libc::SIGKILL, libc::SIGSTOP, 32, 33].contains(s))
}

/// Route every catchable signal into a self-pipe; returns its read end.
pub fn signal_pipe() -> anyhow::Result<OwnedFd> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    SIG_W.store(fds[1], Ordering::Relaxed);
    for s in catchable() {
        // SAFETY: a zeroed sigaction with a plain handler and SA_RESTART.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigfillset(&mut sa.sa_mask);
            libc::sigaction(s, &sa, std::ptr::null_mut());
        }
    }
    // SAFETY: an empty mask, so nothing stays blocked from the shim.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fds[0]) })
}

/// Signals received since the last call.
pub fn take_signals(r: &OwnedFd) -> Vec<i32> {
    let mut b = [0u8; 64];
    let mut out = Vec::new();
    while let Some(n) = read_some(r.as_raw_fd(), &mut b) {
        if n == 0 {
            break;
        }
        out.extend(b[..n].iter().map(|x| i32::from(*x)));
    }
    out
}

/// In a child just forked from the shim: close every fd but `keep` (the shim's
/// sockets, and pipes of other processes, must not stay open here).
pub fn close_other_fds(keep: &[RawFd]) {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing a descriptor this process does not use any more.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// Put the terminal in raw mode: the guest's terminal does the line discipline.
pub fn raw_tty(fd: RawFd) {
    // SAFETY: tcgetattr/cfmakeraw/tcsetattr on a zeroed termios we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
}

/// The terminal's size (columns, rows).
pub fn tty_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes a winsize we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0)
            .then_some((ws.ws_col, ws.ws_row))
    }
}

/// Make `fd`'s terminal our controlling terminal (after `setsid`).
pub fn set_ctty(fd: RawFd) {
    // SAFETY: TIOCSCTTY with an integer argument.
    unsafe {
        libc::ioctl(fd, libc::TIOCSCTTY, 0);
    }
}

/// Frames arriving on a stream, parsed incrementally.
#[derive(Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// Read what is available: `Ok(false)` at EOF.
    pub fn fill(&mut self, fd: RawFd) -> anyhow::Result<bool> {
        let mut b = vec![0u8; 64 * 1024];
        match read_some(fd, &mut b) {
            Some(0) => Ok(false),
            Some(n) => {
                self.buf.extend_from_slice(&b[..n]);
                Ok(true)
            }
            None => Ok(true),
        }
    }
    /// The next complete frame.
    pub fn next(&mut self) -> anyhow::Result<Option<Frame>> {
        match Frame::parse(&self.buf)? {
            Some((f, n)) => {
                self.buf.drain(..n);
                Ok(Some(f))
            }
            None => Ok(None),
        }
    }
}

/// Read one frame from a blocking-mode exchange with a deadline.
pub fn read_frame(
    s: &mut UnixStream,
    r: &mut FrameReader,
    deadline: Instant,
    what: &str,
) -> anyhow::Result<Frame> {
    loop {
        if let Some(f) = r.next()? {
            return Ok(f);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out waiting for {what}");
        }
        s.set_read_timeout(Some(left))?;
        let mut b = vec![0u8; 64 * 1024];
        match s.read(&mut b) {
            Ok(0) => bail!("connection closed while waiting for {what}"),
            Ok(n) => r.buf.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                bail!("timed out waiting for {what}")
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context(format!("read {what}")),
        }
    }
}

/// Write a frame with blocking I/O.
pub fn write_frame(s: &mut UnixStream, f: &Frame) -> anyhow::Result<()> {
    s.write_all(&f.encode()).context("write frame")
}

/// The message of an `Error` frame.
pub fn error_text(f: &Frame) -> String {
    String::from_utf8_lossy(&f.payload).into_owned()
}

/// The guest pid of a `Started` frame.
pub fn started_pid(f: &Frame) -> u32 {
    proto::Dec::new(&f.payload).u32().unwrap_or(0)
}

/// Leave with the guest process's status: the same signal, or the same code.
pub fn exit_like(e: proto::Exit) -> ! {
    if e.signal > 0 {
        // SAFETY: default disposition for the signal, no core file, unblocked; raise.
        unsafe {
            let lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &lim);
            libc::signal(e.signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, e.signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(e.signal);
        }
    }
    std::process::exit(e.code & 0xff)
}

/// A one-line readiness report through the pipe the shim waits on.
pub fn report(sync: &OwnedFd, line: &str) {
    let mut f = std::mem::ManuallyDrop::new(
        // SAFETY: a temporary File over a borrowed fd, never closed through it.
        unsafe { std::fs::File::from_raw_fd(sync.as_raw_fd()) },
    );
    let _ = f.write_all(format!("{}\n", line.replace('\n', " ")).as_bytes());
}

/// The last lines of a file, for error messages.
pub fn tail(p: &Path, lines: usize) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let v: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}
