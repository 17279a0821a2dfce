//! `berth-shim zygote`: fork a shim per request instead of being exec'd per
//! container (the daemon's side and the wire are in `berth_runtime::zygote`).
//!
//! The zygote stays single-threaded and allocates little, so a fork copies almost
//! nothing and the child starts from the same clean state an exec'd shim would.
//! It never waits for its children: SIGCHLD is ignored, so the kernel reaps them.

use std::ffi::OsStr;
use std::io::{IoSliceMut, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_runtime::proto::{ErrorBody, ErrorKindWire, Response};
use nix::errno::Errno;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::unistd::{ForkResult, fork};

/// Serve fork requests on stdin (a `SOCK_SEQPACKET` socket) until the daemon
/// closes its end.
pub fn serve() -> anyhow::Result<()> {
    // SAFETY: setting a signal disposition; no handler code is involved.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    }
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    loop {
        let Some((len, fds)) = receive(&mut buf)? else {
            return Ok(());
        };
        let Ok([out, err]) = <[OwnedFd; 2]>::try_from(fds) else {
            continue; // not a request of ours; its descriptors close on drop
        };
        let dir = PathBuf::from(OsStr::from_bytes(&buf[..len]));
        // SAFETY: this process has one thread, so the child may do anything.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => child(&dir, out, err),
            Ok(ForkResult::Parent { .. }) => {}
            Err(e) => {
                let resp = Response::Err(ErrorBody {
                    kind: ErrorKindWire::Internal,
                    message: format!("shim zygote: fork: {e}"),
                });
                let mut line = serde_json::to_vec(&resp).unwrap_or_default();
                line.push(b'\n');
                let _ = std::fs::File::from(out).write_all(&line);
            }
        }
    }
}

/// One request: the path's length in `buf` and the descriptors that came with
/// it; `None` once the daemon has hung up.
fn receive(buf: &mut [u8]) -> anyhow::Result<Option<(usize, Vec<OwnedFd>)>> {
    loop {
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<()>(0, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(m) => m,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(anyhow::anyhow!("zygote: recvmsg: {e}")),
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: SCM_RIGHTS installed these descriptors in this process for us.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if msg.bytes == 0 && fds.is_empty() {
            return Ok(None);
        }
        return Ok(Some((msg.bytes, fds)));
    }
}

/// In the forked child: take the pipes as stdout and stderr, leave the request
/// socket behind, and become the shim for `dir` (never returns).
fn child(dir: &Path, out: OwnedFd, err: OwnedFd) -> ! {
    // SAFETY: dup2 onto the standard descriptors from ones we own, and restoring
    // SIGCHLD's default (the shim installs its own handler).
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        libc::dup2(out.as_raw_fd(), 1);
        libc::dup2(err.as_raw_fd(), 2);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        } else {
            libc::close(0);
        }
    }
    drop((out, err));
    crate::exit_with(crate::cmd_start(dir))
}
