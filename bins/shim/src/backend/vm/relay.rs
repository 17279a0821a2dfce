//! An exec relay: the host process that stands for one process run in the guest
//! (`docker exec`). The shim forks it with the exec's stdio; it asks the
//! supervisor (on `vm.sock`) to start the process, then relays stdio, signals and
//! terminal resizes, and exits like the guest process did, so the shim's usual
//! reaping and exec bookkeeping apply unchanged.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::bail;
use berth_runtime::vm::proto::{self, Exit, Frame, Kind, Process};

use super::VM_SOCK;
use super::io::{self, FrameReader, HostIo, OutBuf};

/// Entry point in the forked child; never returns.
pub fn run(p: Process, hio: HostIo, sync: OwnedFd) -> ! {
    let mut keep = hio.fds();
    keep.push(sync.as_raw_fd());
    io::close_other_fds(&keep);
    match start(&p) {
        Ok((sock, r, pid)) => {
            io::report(&sync, &format!("ok {pid}"));
            drop(sync);
            relay(sock, r, hio)
        }
        Err(e) => {
            io::report(&sync, &format!("error: {e:#}"));
            std::process::exit(1)
        }
    }
}

fn start(p: &Process) -> anyhow::Result<(UnixStream, FrameReader, u32)> {
    let mut s = UnixStream::connect(VM_SOCK)?;
    io::write_frame(&mut s, &Frame::new(Kind::Exec, 0, p.encode()))?;
    let mut r = FrameReader::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let f = io::read_frame(&mut s, &mut r, deadline, "the exec to start")?;
        match f.kind {
            Kind::Started => return Ok((s, r, io::started_pid(&f))),
            Kind::Error => bail!("{}", io::error_text(&f)),
            _ => {}
        }
    }
}

fn relay(sock: UnixStream, mut r: FrameReader, hio: HostIo) -> ! {
    let sig_r = match io::signal_pipe() {
        Ok(s) => s,
        Err(_) => std::process::exit(255),
    };
    // SAFETY: setsid takes no arguments; we are not a group leader (forked).
    unsafe {
        libc::setsid();
    }
    let (stdin_fd, out_fds): (RawFd, [RawFd; 2]) = match &hio {
        HostIo::Pty(s) => {
            io::set_ctty(s.as_raw_fd());
            io::raw_tty(s.as_raw_fd());
            (s.as_raw_fd(), [s.as_raw_fd(), s.as_raw_fd()])
        }
        HostIo::Pipes(p) => (
            p.stdin.as_raw_fd(),
            [p.stdout.as_raw_fd(), p.stderr.as_raw_fd()],
        ),
    };
    let tty = matches!(hio, HostIo::Pty(_));
    for fd in [stdin_fd, out_fds[0], out_fds[1], sock.as_raw_fd()] {
        io::nonblocking(fd);
    }
    let mut stdin_live = hio.stdin_open();
    let mut to_vm = OutBuf::default();
    let mut outs = [OutBuf::default(), OutBuf::default()];
    let send = |to: &mut OutBuf, k: Kind, p: Vec<u8>| to.push(&Frame::new(k, 0, p).encode());
    // Queued frames are flushed before the first poll.
    if tty && let Some((w, h)) = io::tty_size(stdin_fd) {
        send(
            &mut to_vm,
            Kind::Resize,
            proto::Enc::default().u16(w).u16(h).finish(),
        );
    }
    loop {
        let busy = outs.iter().map(OutBuf::len).sum::<usize>() > (4 << 20);
        // Negative fds are skipped: a hung-up fd would report POLLHUP forever.
        let on = |fd: RawFd, ev: i16| libc::pollfd {
            fd: if ev == 0 { -1 } else { fd },
            events: ev,
            revents: 0,
        };
        let mut fds = [
            on(sig_r.as_raw_fd(), libc::POLLIN),
            on(
                sock.as_raw_fd(),
                if busy { 0 } else { libc::POLLIN }
                    | if to_vm.is_empty() { 0 } else { libc::POLLOUT },
            ),
            on(stdin_fd, if stdin_live { libc::POLLIN } else { 0 }),
            on(
                out_fds[0],
                if outs[0].is_empty() { 0 } else { libc::POLLOUT },
            ),
            on(
                out_fds[1],
                if outs[1].is_empty() { 0 } else { libc::POLLOUT },
            ),
        ];
        // SAFETY: a live array of pollfd.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            for s in io::take_signals(&sig_r) {
                match s {
                    libc::SIGCHLD | libc::SIGPIPE => {}
                    libc::SIGWINCH => {
                        if tty && let Some((w, h)) = io::tty_size(stdin_fd) {
                            send(
                                &mut to_vm,
                                Kind::Resize,
                                proto::Enc::default().u16(w).u16(h).finish(),
                            );
                        }
                    }
                    s => send(
                        &mut to_vm,
                        Kind::Signal,
                        proto::Enc::default().i32(s).finish(),
                    ),
                }
            }
        }
        if fds[2].revents != 0 {
            let mut b = vec![0u8; proto::CHUNK];
            match io::read_some(stdin_fd, &mut b) {
                Some(0) => {
                    stdin_live = false;
                    if !tty {
                        send(&mut to_vm, Kind::StdinClose, Vec::new());
                    }
                }
                Some(n) => send(&mut to_vm, Kind::Stdin, b[..n].to_vec()),
                None => {}
            }
        }
        if fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            let open = r.fill(sock.as_raw_fd()).unwrap_or(false);
            while let Ok(Some(f)) = r.next() {
                match f.kind {
                    Kind::Stdout | Kind::Stderr => {
                        let i = usize::from(f.kind == Kind::Stderr);
                        outs[i].push(&f.payload);
                        outs[i].flush(out_fds[i]);
                    }
                    Kind::Exit => {
                        let e = Exit::decode(&f.payload).unwrap_or(Exit {
                            code: 255,
                            signal: 0,
                        });
                        drain(&mut outs, out_fds);
                        io::exit_like(e);
                    }
                    _ => {}
                }
            }
            if !open {
                drain(&mut outs, out_fds);
                crate::diag!("vm exec: the VM went away");
                std::process::exit(255);
            }
        }
        for i in 0..2 {
            if fds[3 + i].revents != 0 {
                outs[i].flush(out_fds[i]);
            }
        }
        if !to_vm.is_empty() && !to_vm.flush(sock.as_raw_fd()) {
            std::process::exit(255);
        }
    }
}

fn drain(outs: &mut [OutBuf; 2], fds: [RawFd; 2]) {
    for i in 0..2 {
        outs[i].drain_blocking(fds[i], Duration::from_secs(10));
    }
}
