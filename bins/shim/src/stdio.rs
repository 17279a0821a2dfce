//! Setting up a process's stdio: pipes (non-TTY) or a PTY whose master the runtime
//! hands over through a console socket (SCM_RIGHTS).

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use anyhow::{Context, bail};
use nix::fcntl::OFlag;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::unistd::pipe2;

use crate::backend::ChildStdio;

/// The shim's ends of a process's stdio.
pub struct ParentIo {
    /// Where stdin bytes go (pipe write end or PTY master), if stdin is open.
    pub stdin: Option<OwnedFd>,
    /// Output fds with their stream: stdout and stderr pipes, or the PTY master.
    pub outs: Vec<(berth_runtime::proto::StreamId, OwnedFd)>,
    /// The PTY master, for resizing.
    pub pty: Option<OwnedFd>,
}

/// Pipes for a non-TTY process: `(child ends, shim ends)`.
pub fn pipes(open_stdin: bool) -> anyhow::Result<(ChildStdio, ParentIo)> {
    use berth_runtime::proto::StreamId;
    let (stdin_r, stdin_w) = if open_stdin {
        let (r, w) = pipe2(OFlag::O_CLOEXEC)?;
        (r, Some(w))
    } else {
        (std::fs::File::open("/dev/null")?.into(), None)
    };
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC)?;
    for fd in [Some(&out_r), Some(&err_r), stdin_w.as_ref()]
        .into_iter()
        .flatten()
    {
        set_nonblocking(fd.as_raw_fd())?;
    }
    Ok((
        ChildStdio {
            stdin: stdin_r,
            stdout: out_w,
            stderr: err_w,
        },
        ParentIo {
            stdin: stdin_w,
            outs: vec![(StreamId::Stdout, out_r), (StreamId::Stderr, err_r)],
            pty: None,
        },
    ))
}

/// A listening console socket at `name` (relative to the shim's cwd).
pub fn console_listener(name: &Path) -> anyhow::Result<UnixListener> {
    let _ = std::fs::remove_file(name);
    UnixListener::bind(name).with_context(|| format!("bind console socket {}", name.display()))
}

/// Accept the runtime's connection and receive the PTY master; builds the shim's ends.
pub fn receive_pty(l: &UnixListener, name: &Path, open_stdin: bool) -> anyhow::Result<ParentIo> {
    use berth_runtime::proto::StreamId;
    l.set_nonblocking(true)?;
    let (conn, _) = l
        .accept()
        .context("no console connection from the runtime")?;
    let _ = std::fs::remove_file(name);
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut master = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed this fd in our table for us; we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if master.is_none() {
                    master = Some(owned);
                }
            }
        }
    }
    let Some(master) = master else {
        bail!("the runtime sent no PTY master")
    };
    set_nonblocking(master.as_raw_fd())?;
    let out = master.try_clone()?;
    let stdin = if open_stdin {
        Some(master.try_clone()?)
    } else {
        None
    };
    Ok(ParentIo {
        stdin,
        outs: vec![(StreamId::Stdout, out)],
        pty: Some(master),
    })
}

/// Set O_NONBLOCK.
pub fn set_nonblocking(fd: RawFd) -> anyhow::Result<()> {
    // SAFETY: fcntl on a valid fd we hold; no memory is passed.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if fl < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0 {
        bail!("fcntl: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Set a PTY's window size.
pub fn resize(pty: &OwnedFd, width: u16, height: u16) -> anyhow::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which points at a live struct.
    let rc = unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        bail!("resize: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
