//! The shim's event loop: one `poll(2)` over the control socket, the SIGCHLD
//! self-pipe, every process's stdio and every client connection. Single-threaded,
//! so the runtime may fork from here at any time.
//!
//! Memory is bounded: an attached client has at most [`HIGH_WATER`] bytes queued (past
//! that, the process's output is not read until the client catches up, which is
//! Docker's behaviour too); stdin has the same bound; with nobody attached, output
//! goes only to the log.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use berth_runtime::layout::ShimConfig;
use berth_runtime::logs::LogStream;
use berth_runtime::logs::writer::LogWriter;
use berth_runtime::proto::{
    self, AttachReq, ErrorBody, ErrorKindWire, ExitStatus, Hello, Op, Request, Response, State,
    Status, StreamId,
};

use crate::backend::Backend;
use crate::stdio::ParentIo;
use crate::{cgroup, diag, stdio};

/// Bytes queued per client (or per stdin) before back-pressure.
const HIGH_WATER: usize = 256 * 1024;
/// Longest request line.
const MAX_REQUEST: usize = 1 << 20;

/// Which process a connection refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Init,
    Exec(String),
}

impl Target {
    pub(crate) fn from(exec_id: Option<String>) -> Target {
        exec_id.map_or(Target::Init, Target::Exec)
    }
}

/// One process the shim owns (the container's init or an exec).
pub struct Proc {
    pub(crate) pid: i32,
    pub(crate) io: ParentIo,
    pub(crate) stdin_buf: Vec<u8>,
    pub(crate) stdin_eof: bool,
    pub(crate) exit: Option<ExitStatus>,
    pub(crate) log: bool,
}

impl Proc {
    /// A started process with its stdio.
    pub fn new(pid: i32, io: ParentIo, log: bool) -> Proc {
        Proc {
            pid,
            io,
            stdin_buf: Vec::new(),
            stdin_eof: false,
            exit: None,
            log,
        }
    }
}

pub(crate) enum ConnState {
    Request,
    Waiting(Target),
    Attached {
        target: Target,
        req: AttachReq,
        read_closed: bool,
    },
    Closing,
}

pub(crate) struct Conn {
    pub(crate) sock: UnixStream,
    pub(crate) inbuf: Vec<u8>,
    pub(crate) out: Vec<u8>,
    pub(crate) state: ConnState,
}

/// The whole shim.
pub struct Shim {
    pub(crate) cfg: ShimConfig,
    pub(crate) listener: UnixListener,
    pub(crate) sig_r: OwnedFd,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) log: LogWriter,
    pub(crate) init: Proc,
    pub(crate) status: Status,
    pub(crate) started_at: Option<String>,
    pub(crate) execs: BTreeMap<String, Proc>,
    pub(crate) exited_order: Vec<String>,
    pub(crate) conns: Vec<Conn>,
    pub(crate) cgroup: Option<PathBuf>,
    pub(crate) exec_seq: u32,
    pub(crate) exit_path: PathBuf,
}

enum Slot {
    Listener,
    Signal,
    Out(Target, usize),
    Stdin(Target),
    Conn(usize),
}

pub(crate) fn err(kind: ErrorKindWire, message: impl Into<String>) -> Response {
    Response::Err(ErrorBody {
        kind,
        message: message.into(),
    })
}

pub(crate) fn ok<T: serde::Serialize>(v: T) -> Response {
    Response::Ok(serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
}

pub(crate) fn line(r: &Response) -> Vec<u8> {
    let mut v = serde_json::to_vec(r)
        .unwrap_or_else(|_| b"{\"err\":{\"kind\":\"internal\",\"message\":\"encode\"}}".to_vec());
    v.push(b'\n');
    v
}

impl Shim {
    /// Assemble a shim whose container is created (init pid known, stdio set up).
    pub fn new(
        cfg: ShimConfig,
        listener: UnixListener,
        sig_r: OwnedFd,
        backend: Box<dyn Backend>,
        log: LogWriter,
        init: Proc,
    ) -> Shim {
        Shim {
            listener,
            sig_r,
            backend,
            log,
            init,
            status: Status::Created,
            started_at: None,
            execs: BTreeMap::new(),
            exited_order: Vec::new(),
            conns: Vec::new(),
            exit_path: berth_runtime::layout::Layout::new(&cfg.exec_root).exit_file(&cfg.id),
            cgroup: None,
            exec_seq: 0,
            cfg,
        }
    }

    pub(crate) fn proc_mut(&mut self, t: &Target) -> Option<&mut Proc> {
        match t {
            Target::Init => Some(&mut self.init),
            Target::Exec(id) => self.execs.get_mut(id),
        }
    }

    pub(crate) fn proc_ref(&self, t: &Target) -> Option<&Proc> {
        match t {
            Target::Init => Some(&self.init),
            Target::Exec(id) => self.execs.get(id),
        }
    }

    /// Serve until deleted. Never returns on success (the process exits).
    pub fn run(mut self) -> anyhow::Result<()> {
        // Read here, after the start answer: it parses the whole bundle spec.
        self.cgroup = cgroup::path_from_bundle(&self.cfg.bundle);
        self.listener.set_nonblocking(true)?;
        loop {
            let (mut fds, slots) = self.poll_set();
            // SAFETY: `fds` is a live, correctly sized array of pollfd for the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            for (pfd, slot) in fds.iter().zip(slots) {
                if pfd.revents == 0 {
                    continue;
                }
                match slot {
                    Slot::Listener => self.accept(),
                    Slot::Signal => self.reap(),
                    Slot::Out(t, i) => self.read_output(&t, i),
                    Slot::Stdin(t) => self.flush_stdin(&t),
                    Slot::Conn(i) => self.service_conn(i, pfd.revents),
                }
            }
            self.conns
                .retain(|c| !(matches!(c.state, ConnState::Closing) && c.out.is_empty()));
        }
    }

    fn poll_set(&self) -> (Vec<libc::pollfd>, Vec<Slot>) {
        let mut fds = Vec::with_capacity(8 + self.conns.len());
        let mut slots = Vec::with_capacity(fds.capacity());
        let mut add = |fd: RawFd, ev: i16, s: Slot| {
            fds.push(libc::pollfd {
                fd,
                events: ev,
                revents: 0,
            });
            slots.push(s);
        };
        add(self.listener.as_raw_fd(), libc::POLLIN, Slot::Listener);
        add(self.sig_r.as_raw_fd(), libc::POLLIN, Slot::Signal);
        let procs = std::iter::once((Target::Init, &self.init))
            .chain(self.execs.iter().map(|(k, p)| (Target::Exec(k.clone()), p)));
        for (t, p) in procs {
            let congested = self.conns.iter().any(|c| {
                matches!(&c.state, ConnState::Attached { target, .. } if *target == t)
                    && c.out.len() > HIGH_WATER
            });
            if !congested {
                for (i, (_, fd)) in p.io.outs.iter().enumerate() {
                    add(fd.as_raw_fd(), libc::POLLIN, Slot::Out(t.clone(), i));
                }
            }
            if let Some(fd) = &p.io.stdin
                && !p.stdin_buf.is_empty()
            {
                add(fd.as_raw_fd(), libc::POLLOUT, Slot::Stdin(t.clone()));
            }
        }
        for (i, c) in self.conns.iter().enumerate() {
            let mut ev = 0;
            match &c.state {
                ConnState::Request => ev |= libc::POLLIN,
                ConnState::Attached {
                    target,
                    req,
                    read_closed,
                } => {
                    let room = self
                        .proc_ref(target)
                        .is_some_and(|p| p.stdin_buf.len() < HIGH_WATER);
                    if req.stdin && !*read_closed && room {
                        ev |= libc::POLLIN;
                    }
                }
                ConnState::Waiting(_) | ConnState::Closing => {}
            }
            if !c.out.is_empty() {
                ev |= libc::POLLOUT;
            }
            add(c.sock.as_raw_fd(), ev, Slot::Conn(i));
        }
        (fds, slots)
    }

    fn accept(&mut self) {
        while let Ok((sock, _)) = self.listener.accept() {
            if sock.set_nonblocking(true).is_ok() {
                self.conns.push(Conn {
                    sock,
                    inbuf: Vec::new(),
                    out: Vec::new(),
                    state: ConnState::Request,
                });
            }
        }
    }

    /// Output from a process: to the log (init only) and to every attached client.
    fn read_output(&mut self, t: &Target, i: usize) {
        let mut buf = [0u8; proto::MAX_FRAME];
        let Some(p) = self.proc_mut(t) else { return };
        let Some((stream, fd)) = p.io.outs.get(i) else {
            return;
        };
        let stream = *stream;
        // SAFETY: reading into a stack buffer of the given length from an fd we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            // EIO is how a PTY master reports that the last slave closed.
            if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted {
                return;
            }
        }
        let log_stream = if stream == StreamId::Stderr {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        };
        let logged = p.log;
        if n <= 0 {
            p.io.outs.remove(i);
            let done = p.io.outs.is_empty();
            if logged {
                let _ = self.log.finish(log_stream);
            }
            if done {
                self.output_done(t);
            }
            return;
        }
        let data = &buf[..n as usize];
        if logged && let Err(e) = self.log.write(log_stream, data) {
            diag!("log write: {e}");
        }
        for c in &mut self.conns {
            if let ConnState::Attached { target, req, .. } = &c.state {
                let wanted = if stream == StreamId::Stderr {
                    req.stderr
                } else {
                    req.stdout
                };
                if target == t && wanted {
                    c.out
                        .extend_from_slice(&proto::frame_header(stream, data.len()));
                    c.out.extend_from_slice(data);
                }
            }
        }
    }

    /// All output of `t` has ended: attached clients get EOF once their queue drains.
    fn output_done(&mut self, t: &Target) {
        for c in &mut self.conns {
            if matches!(&c.state, ConnState::Attached { target, .. } if target == t) {
                c.state = ConnState::Closing;
            }
        }
    }

    fn flush_stdin(&mut self, t: &Target) {
        let Some(p) = self.proc_mut(t) else { return };
        let Some(fd) = &p.io.stdin else { return };
        // SAFETY: writing from a live buffer of the given length to an fd we own.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                p.stdin_buf.as_ptr().cast(),
                p.stdin_buf.len(),
            )
        };
        if n > 0 {
            p.stdin_buf.drain(..n as usize);
        } else if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::WouldBlock && e.kind() != ErrorKind::Interrupted {
                // The reader is gone (EPIPE): drop what is queued.
                p.stdin_buf = Vec::new();
                p.io.stdin = None;
            }
        }
        if p.stdin_buf.is_empty() && p.stdin_eof && p.io.pty.is_none() {
            p.io.stdin = None;
        }
    }

    fn service_conn(&mut self, i: usize, revents: i16) {
        if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            self.conns[i].state = ConnState::Closing;
            self.conns[i].out.clear();
            return;
        }
        if revents & libc::POLLOUT != 0 {
            let c = &mut self.conns[i];
            match c.sock.write(&c.out) {
                Ok(n) => {
                    c.out.drain(..n);
                    if c.out.capacity() > 4 * HIGH_WATER && c.out.is_empty() {
                        c.out = Vec::new();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    c.out.clear();
                    c.state = ConnState::Closing;
                    return;
                }
            }
        }
        if revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            let mut buf = [0u8; 32 * 1024];
            let r = self.conns[i].sock.read(&mut buf);
            match r {
                Ok(0) => self.conn_eof(i),
                Ok(n) => self.conn_data(i, &buf[..n]),
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.conns[i].out.clear();
                    self.conns[i].state = ConnState::Closing;
                }
            }
        }
    }

    /// EOF (or hang-up) on a client connection.
    fn conn_eof(&mut self, i: usize) {
        let state = std::mem::replace(&mut self.conns[i].state, ConnState::Closing);
        match state {
            ConnState::Attached {
                target,
                req,
                read_closed: false,
            } => {
                if req.stdin {
                    // Half-close from the client: close the process's stdin once drained.
                    if let Some(p) = self.proc_mut(&target) {
                        p.stdin_eof = true;
                        if p.stdin_buf.is_empty() && p.io.pty.is_none() {
                            p.io.stdin = None;
                        }
                    }
                }
                let finished = self.proc_ref(&target).is_none_or(|p| p.io.outs.is_empty());
                if !finished {
                    self.conns[i].state = ConnState::Attached {
                        target,
                        req,
                        read_closed: true,
                    };
                }
            }
            // A second EOF, or a hang-up while waiting: the client is gone. Dropping the
            // connection also keeps a hung-up socket from waking poll forever.
            _ => self.conns[i].out.clear(),
        }
    }

    fn conn_data(&mut self, i: usize, data: &[u8]) {
        let attached = match &self.conns[i].state {
            ConnState::Attached { target, .. } => Some(target.clone()),
            _ => None,
        };
        if let Some(target) = attached {
            if let Some(p) = self.proc_mut(&target)
                && p.io.stdin.is_some()
            {
                p.stdin_buf.extend_from_slice(data);
                self.flush_stdin(&target);
            }
            return;
        }
        let c = &mut self.conns[i];
        match &c.state {
            ConnState::Request => {
                c.inbuf.extend_from_slice(data);
                if let Some(nl) = c.inbuf.iter().position(|b| *b == b'\n') {
                    let req: Result<Request, _> = serde_json::from_slice(&c.inbuf[..nl]);
                    let rest = c.inbuf.split_off(nl + 1);
                    c.inbuf = Vec::new();
                    match req {
                        Ok(r) if r.v != proto::VERSION => {
                            self.reply_close(
                                i,
                                err(
                                    ErrorKindWire::Invalid,
                                    format!("shim speaks protocol {}, not {}", proto::VERSION, r.v),
                                ),
                            );
                        }
                        Ok(r) => {
                            self.handle(i, r.op);
                            if !rest.is_empty() {
                                self.conn_data(i, &rest);
                            }
                        }
                        Err(e) => self.reply_close(
                            i,
                            err(ErrorKindWire::Invalid, format!("bad request: {e}")),
                        ),
                    }
                } else if c.inbuf.len() > MAX_REQUEST {
                    self.reply_close(i, err(ErrorKindWire::Invalid, "request too long"));
                }
            }
            ConnState::Attached { .. } | ConnState::Waiting(_) | ConnState::Closing => {}
        }
    }

    fn reply_close(&mut self, i: usize, r: Response) {
        let c = &mut self.conns[i];
        c.out.extend_from_slice(&line(&r));
        c.state = ConnState::Closing;
    }

    fn state(&self) -> State {
        State {
            id: self.cfg.id.clone(),
            status: self.status,
            pid: self.init.pid,
            started_at: self.started_at.clone(),
            exit: self.init.exit.clone(),
        }
    }

    pub(crate) fn not_running(&self) -> Option<Response> {
        match self.status {
            Status::Running => None,
            Status::Paused => Some(err(
                ErrorKindWire::Conflict,
                format!(
                    "Container {} is paused, unpause the container before exec",
                    self.cfg.id
                ),
            )),
            _ => Some(err(
                ErrorKindWire::Conflict,
                format!("Container {} is not running", self.cfg.id),
            )),
        }
    }

    fn handle(&mut self, i: usize, op: Op) {
        let resp = match op {
            Op::Hello => ok(Hello {
                version: proto::VERSION,
                pid: std::process::id() as i32,
                id: self.cfg.id.clone(),
                runtime: self.cfg.runtime.as_str().into(),
            }),
            Op::State => ok(self.state()),
            Op::Start => self.start(),
            Op::Attach(req) => {
                let t = Target::from(req.exec_id.clone());
                match self.proc_ref(&t) {
                    None => err(ErrorKindWire::NotFound, "No such exec instance"),
                    Some(p) => {
                        let finished = p.io.outs.is_empty();
                        let c = &mut self.conns[i];
                        c.out.extend_from_slice(&line(&ok(())));
                        c.state = if finished {
                            ConnState::Closing
                        } else {
                            ConnState::Attached {
                                target: t,
                                req,
                                read_closed: false,
                            }
                        };
                        return;
                    }
                }
            }
            Op::Resize {
                exec_id,
                width,
                height,
            } => match self.proc_ref(&Target::from(exec_id)) {
                None => err(ErrorKindWire::NotFound, "No such exec instance"),
                Some(Proc {
                    io: ParentIo { pty: Some(pty), .. },
                    ..
                }) => match stdio::resize(pty, width, height) {
                    Ok(()) => ok(()),
                    Err(e) => err(ErrorKindWire::Internal, e.to_string()),
                },
                Some(_) => err(ErrorKindWire::Conflict, "the process has no TTY"),
            },
            Op::Kill { exec_id, signal } => self.kill(Target::from(exec_id), signal),
            Op::Wait { exec_id } => {
                let t = Target::from(exec_id);
                match self.proc_ref(&t) {
                    None => err(ErrorKindWire::NotFound, "No such exec instance"),
                    Some(Proc { exit: Some(e), .. }) => ok(e),
                    Some(_) => {
                        self.conns[i].state = ConnState::Waiting(t);
                        return;
                    }
                }
            }
            Op::Exec(req) => match self.exec(req) {
                Ok((resp, attach)) => {
                    let c = &mut self.conns[i];
                    c.out.extend_from_slice(&line(&resp));
                    c.state = match attach {
                        Some((t, req)) => ConnState::Attached {
                            target: t,
                            req,
                            read_closed: false,
                        },
                        None => ConnState::Closing,
                    };
                    return;
                }
                Err(r) => r,
            },
            Op::Pause => match self.status {
                Status::Running => match self.backend.pause() {
                    Ok(()) => {
                        self.status = Status::Paused;
                        ok(())
                    }
                    Err(e) => err(ErrorKindWire::Internal, format!("{e:#}")),
                },
                Status::Paused => err(
                    ErrorKindWire::Conflict,
                    format!("Container {} is already paused", self.cfg.id),
                ),
                _ => err(
                    ErrorKindWire::Conflict,
                    format!("Container {} is not running", self.cfg.id),
                ),
            },
            Op::Resume => match self.status {
                Status::Paused => match self.backend.resume() {
                    Ok(()) => {
                        self.status = Status::Running;
                        ok(())
                    }
                    Err(e) => err(ErrorKindWire::Internal, format!("{e:#}")),
                },
                _ => err(
                    ErrorKindWire::Conflict,
                    format!("Container {} is not paused", self.cfg.id),
                ),
            },
            Op::Delete { force } => self.delete(i, force),
        };
        self.reply_close(i, resp);
    }
}
