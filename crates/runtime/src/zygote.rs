//! The daemon's side of the shim zygote: one `berth-shim zygote` process, started
//! with the first container, that forks a ready-loaded shim for every container
//! after it.
//!
//! Why: exec'ing `berth-shim` per container costs its dynamic loading (four
//! libraries, ~400 KiB of relocated data), the Rust runtime's set-up and, in the
//! daemon, a `posix_spawn` that resets every signal handler. The zygote pays that
//! once; a fork of the small, single-threaded zygote is cheaper, and the forked
//! shims share its relocated pages copy-on-write, which also lowers each shim's
//! private memory. The price: every shim of one zygote has the same address-space
//! layout (Android's zygote makes the same trade), so ASLR no longer differs
//! between the shims of one daemon run.
//!
//! Wire: a `SOCK_SEQPACKET` pair, the zygote's end as its stdin. One message per
//! shim: the shim directory's path as bytes, with two descriptors (the write ends
//! of the pipes that become the shim's stdout and stderr) as `SCM_RIGHTS`. There
//! is no answer on the socket: the shim answers on its stdout as an exec'd one
//! does, and if the fork itself fails the zygote writes the error there. When
//! the daemon's end closes, the zygote exits; the shims it forked stay.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;

use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// The subcommand `berth-shim` serves the zygote under.
pub const ZYGOTE_ARG: &str = "zygote";

/// A running zygote: our end of its request socket, and which file it was
/// started from.
#[derive(Debug)]
pub(crate) struct Zygote {
    sock: OwnedFd,
    binary: Option<BinaryId>,
}

/// Identity of the shim binary on disk: a replaced (upgraded) binary has another
/// inode or modification time, and the zygote still running the old code must go.
type BinaryId = (u64, u64, i64, i64);

fn binary_id(path: &Path) -> Option<BinaryId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.mtime(), m.mtime_nsec()))
}

impl Zygote {
    /// Start `shim_binary zygote`; reaped in the background when it exits. Must be
    /// called inside a tokio runtime.
    pub(crate) fn start(shim_binary: &Path) -> io::Result<Zygote> {
        let binary = binary_id(shim_binary);
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let child = tokio::process::Command::new(shim_binary)
            .arg(ZYGOTE_ARG)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .spawn()?;
        reap_in_background(child);
        Ok(Zygote { sock: ours, binary })
    }

    /// Is `shim_binary` still the file this zygote was started from?
    pub(crate) fn runs_current(&self, shim_binary: &Path) -> bool {
        self.binary.is_some() && self.binary == binary_id(shim_binary)
    }

    /// Ask for a shim serving `dir`, with `out` and `err` as its stdout and stderr.
    /// An error means the zygote is gone (or never read the request).
    pub(crate) fn fork_shim(&self, dir: &Path, out: BorrowedFd, err: BorrowedFd) -> io::Result<()> {
        let fds = [out, err];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        if !anc.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(io::Error::other("ancillary buffer too small"));
        }
        let path = dir.as_os_str().as_bytes();
        // Blocking send: a request is a few hundred bytes and the zygote drains
        // its queue one fork at a time, so the socket buffer never fills up.
        let n = rustix::net::sendmsg(
            &self.sock,
            &[IoSlice::new(path)],
            &mut anc,
            SendFlags::NOSIGNAL,
        )?;
        if n != path.len() {
            return Err(io::Error::other("short send to the shim zygote"));
        }
        Ok(())
    }
}

/// A shim being started, exec'd or forked, until its one-line answer is read.
pub(crate) enum Started {
    /// Our child; its stdout and stderr are pipes.
    Exec(tokio::process::Child),
    /// The zygote's child: we hold the read ends of its stdout and stderr.
    Forked {
        out: tokio::net::unix::pipe::Receiver,
        err: tokio::net::unix::pipe::Receiver,
    },
}

impl Started {
    /// The shim's first line on stdout (empty if it closed stdout without one).
    pub(crate) async fn ready_line(mut self) -> (Vec<u8>, Started) {
        use tokio::io::{AsyncBufReadExt, AsyncRead};
        let out: Option<&mut (dyn AsyncRead + Unpin + Send)> = match &mut self {
            Started::Exec(child) => child.stdout.as_mut().map(|o| o as _),
            Started::Forked { out, .. } => Some(out),
        };
        let mut line = Vec::new();
        if let Some(out) = out {
            let _ = tokio::io::BufReader::new(out)
                .read_until(b'\n', &mut line)
                .await;
        }
        (line, self)
    }

    /// The shim answered and goes on serving: stop reading it, and reap it in
    /// the background if it is ours.
    pub(crate) fn release(self) {
        if let Started::Exec(child) = self {
            reap_in_background(child);
        }
    }

    /// The shim ended without answering: its exit status (as `" (exit status: N)"`,
    /// known only for an exec'd shim) and what it wrote on stderr.
    pub(crate) async fn failure(self) -> (String, String) {
        use tokio::io::AsyncReadExt;
        match self {
            Started::Exec(child) => match child.wait_with_output().await {
                Ok(out) => (
                    format!(" ({})", out.status),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                ),
                Err(e) => (String::new(), format!("wait for the shim: {e}")),
            },
            Started::Forked { mut err, .. } => {
                let mut buf = Vec::new();
                let _ = err.read_to_end(&mut buf).await;
                (String::new(), String::from_utf8_lossy(&buf).into_owned())
            }
        }
    }
}

/// Wait for `child` on a task of its own, so it never stays a zombie.
fn reap_in_background(mut child: tokio::process::Child) {
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
}
