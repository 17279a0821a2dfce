//! The agent's event loop: one `poll(2)` over the control port, a signalfd for
//! SIGCHLD, the stdio of every process and the DNS relay socket.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::proto::{self, Exit, Frame, Kind, Process, Setup};
use crate::spawn::{self, ProcIo};
use crate::{boot, net, sys};

/// The resolver address containers on user networks use.
const DNS_ADDR: &str = "127.0.0.11:53";
/// A relayed DNS query is forgotten after this long.
const DNS_TIMEOUT: Duration = Duration::from_secs(10);

struct Session {
    pid: i32,
    io: ProcIo,
    stdin_buf: Vec<u8>,
    stdin_eof: bool,
    exit: Option<Exit>,
    init: bool,
}

/// The agent after boot.
pub struct Agent {
    port: File,
    inbuf: Vec<u8>,
    sigfd: OwnedFd,
    own_pidns: File,
    setup: Option<Setup>,
    init_pid: Option<i32>,
    sessions: BTreeMap<u32, Session>,
    dns: Option<UdpSocket>,
    dns_pending: HashMap<u32, (SocketAddr, Instant)>,
    dns_seq: u32,
}

enum Slot {
    Port,
    Signal,
    Dns,
    Out(u32, usize),
    Stdin(u32),
}

/// Block SIGCHLD and read it from a signalfd (children get the mask reset by std).
pub fn sigchld_fd() -> io::Result<OwnedFd> {
    let mut set = sys::SigSet([0; 16]);
    // SAFETY: `set` is a live sigset_t-sized buffer; signalfd returns a new fd.
    let fd = unsafe {
        sys::sigemptyset(&mut set);
        sys::sigaddset(&mut set, sys::SIGCHLD);
        sys::sigprocmask(sys::SIG_BLOCK, &set, std::ptr::null_mut());
        sys::signalfd(-1, &set, sys::SFD_NONBLOCK | sys::SFD_CLOEXEC)
    };
    sys::check(fd, "signalfd")?;
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Agent {
    /// An agent serving `port`.
    pub fn new(port: File, sigfd: OwnedFd) -> io::Result<Agent> {
        Ok(Agent {
            port,
            inbuf: Vec::new(),
            sigfd,
            own_pidns: File::open("/proc/self/ns/pid")?,
            setup: None,
            init_pid: None,
            sessions: BTreeMap::new(),
            dns: None,
            dns_pending: HashMap::new(),
            dns_seq: 0,
        })
    }

    /// Write a frame (blocking: the host always reads).
    pub fn send(&mut self, kind: Kind, session: u32, payload: Vec<u8>) -> io::Result<()> {
        self.port
            .write_all(&Frame::new(kind, session, payload).encode())
    }

    fn log(&mut self, msg: &str) {
        eprintln!("berth-vm-agent: {msg}");
        let _ = self.send(Kind::Log, 0, msg.as_bytes().to_vec());
    }

    /// Serve until `Shutdown` or the host goes away; then power off.
    pub fn serve(mut self) -> io::Result<()> {
        loop {
            let mut fds = Vec::new();
            let mut slots = Vec::new();
            let mut add = |fd: i32, ev: i16, s: Slot| {
                fds.push(sys::PollFd {
                    fd,
                    events: ev,
                    revents: 0,
                });
                slots.push(s);
            };
            add(self.port.as_raw_fd(), sys::POLLIN, Slot::Port);
            add(self.sigfd.as_raw_fd(), sys::POLLIN, Slot::Signal);
            if let Some(d) = &self.dns {
                add(d.as_raw_fd(), sys::POLLIN, Slot::Dns);
            }
            for (id, s) in &self.sessions {
                for (i, (_, fd)) in s.io.outs.iter().enumerate() {
                    add(fd.as_raw_fd(), sys::POLLIN, Slot::Out(*id, i));
                }
                if let Some(fd) = &s.io.stdin
                    && !s.stdin_buf.is_empty()
                {
                    add(fd.as_raw_fd(), sys::POLLOUT, Slot::Stdin(*id));
                }
            }
            let timeout = if self.dns_pending.is_empty() {
                -1
            } else {
                1000
            };
            // SAFETY: `fds` is a live array of pollfd of the given length.
            let n = unsafe { sys::poll(fds.as_mut_ptr(), fds.len() as u64, timeout) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            self.dns_pending
                .retain(|_, (_, t)| now.duration_since(*t) < DNS_TIMEOUT);
            for (pfd, slot) in fds.iter().zip(slots) {
                if pfd.revents == 0 {
                    continue;
                }
                match slot {
                    Slot::Port => {
                        if !self.read_port()? {
                            return Ok(());
                        }
                    }
                    Slot::Signal => self.reap()?,
                    Slot::Dns => self.dns_query()?,
                    Slot::Out(id, i) => self.read_output(id, i)?,
                    Slot::Stdin(id) => self.flush_stdin(id),
                }
            }
        }
    }

    /// Read and handle frames; false when the host went away.
    fn read_port(&mut self) -> io::Result<bool> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = match self.port.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::Interrupted
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        self.inbuf.extend_from_slice(&buf[..n]);
        loop {
            let parsed = Frame::parse(&self.inbuf).map_err(|e| io::Error::other(e.to_string()))?;
            let Some((f, used)) = parsed else { break };
            self.inbuf.drain(..used);
            self.handle(f)?;
        }
        Ok(true)
    }

    fn handle(&mut self, f: Frame) -> io::Result<()> {
        let s = f.session;
        match f.kind {
            Kind::Setup => {
                let r = match (&self.setup, Setup::decode(&f.payload)) {
                    (Some(_), _) => Err("already set up".to_string()),
                    (None, Err(e)) => Err(e.to_string()),
                    (None, Ok(setup)) => self.do_setup(setup),
                };
                match r {
                    Ok(()) => self.send(Kind::Ok, s, Vec::new()),
                    Err(e) => self.send(Kind::Error, s, e.into_bytes()),
                }
            }
            Kind::Run | Kind::Exec => {
                let r = self.start(f.kind == Kind::Run, s, &f.payload);
                match r {
                    Ok(pid) => self.send(
                        Kind::Started,
                        s,
                        proto::Enc::default().u32(pid as u32).finish(),
                    ),
                    Err(e) => self.send(Kind::Error, s, e.into_bytes()),
                }
            }
            Kind::Stdin => {
                if let Some(x) = self.sessions.get_mut(&s)
                    && x.io.stdin.is_some()
                {
                    x.stdin_buf.extend_from_slice(&f.payload);
                }
                Ok(())
            }
            Kind::StdinClose => {
                if let Some(x) = self.sessions.get_mut(&s) {
                    x.stdin_eof = true;
                    if x.stdin_buf.is_empty() && x.io.pty.is_none() {
                        x.io.stdin = None;
                    }
                }
                Ok(())
            }
            Kind::Signal => {
                let sig = proto::Dec::new(&f.payload).i32().unwrap_or(sys::SIGKILL);
                if let Some(x) = self.sessions.get(&s)
                    && x.exit.is_none()
                {
                    // SAFETY: kill takes no pointers; the pid is our unreaped child.
                    unsafe {
                        sys::kill(x.pid, sig);
                    }
                }
                Ok(())
            }
            Kind::Resize => {
                let mut d = proto::Dec::new(&f.payload);
                let (w, h) = (d.u16().unwrap_or(80), d.u16().unwrap_or(24));
                if let Some(Session {
                    io: ProcIo { pty: Some(pty), .. },
                    ..
                }) = self.sessions.get(&s)
                {
                    let ws = sys::WinSize {
                        row: h,
                        col: w,
                        ..Default::default()
                    };
                    // SAFETY: TIOCSWINSZ reads a live winsize.
                    unsafe {
                        sys::ioctl(pty.as_raw_fd(), sys::TIOCSWINSZ, &ws as *const sys::WinSize);
                    }
                }
                Ok(())
            }
            Kind::DnsReply => {
                if let (Some(d), Some((addr, _))) = (&self.dns, self.dns_pending.remove(&s)) {
                    let _ = d.send_to(&f.payload, addr);
                }
                Ok(())
            }
            Kind::Shutdown => {
                for x in self.sessions.values() {
                    // SAFETY: kill takes no pointers.
                    unsafe {
                        sys::kill(x.pid, sys::SIGKILL);
                    }
                }
                boot::power_off()
            }
            other => {
                self.log(&format!("unexpected frame {other:?}"));
                Ok(())
            }
        }
    }

    fn do_setup(&mut self, setup: Setup) -> Result<(), String> {
        // Progress on the serial console (the host's console.log), for boot failures.
        eprintln!(
            "berth-vm-agent: setup: {} shares, {} interfaces",
            setup.shares.len(),
            setup.ifaces.len()
        );
        for (k, v) in &setup.sysctls {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            std::fs::write(&path, v).map_err(|e| format!("sysctl {k}: {e}"))?;
        }
        for sh in &setup.shares {
            let dir = if sh.tag == "rootfs" {
                spawn::ROOT.to_string()
            } else {
                format!("/shares/{}", sh.tag)
            };
            std::fs::create_dir_all(&dir).map_err(|e| format!("create {dir}: {e}"))?;
            let flags = if sh.readonly { sys::MS_RDONLY } else { 0 };
            sys::do_mount(
                &sh.tag,
                &dir,
                "9p",
                flags,
                "trans=virtio,version=9p2000.L,msize=262144,cache=mmap",
            )
            .map_err(|e| format!("share {}: {e}", sh.tag))?;
        }
        eprintln!("berth-vm-agent: setup: shares mounted");
        net::configure(&setup.ifaces, &setup.routes).map_err(|e| format!("network: {e}"))?;
        match UdpSocket::bind(DNS_ADDR) {
            Ok(d) => {
                let _ = d.set_nonblocking(true);
                self.dns = Some(d);
            }
            Err(e) => self.log(&format!("dns relay: {e}")),
        }
        self.setup = Some(setup);
        Ok(())
    }

    fn start(&mut self, init: bool, s: u32, payload: &[u8]) -> Result<i32, String> {
        let p = Process::decode(payload).map_err(|e| e.to_string())?;
        let Some(setup) = &self.setup else {
            return Err("the container is not set up".into());
        };
        if self.sessions.contains_key(&s) {
            return Err(format!("session {s} exists"));
        }
        let join = if init {
            if self.init_pid.is_some() {
                return Err("the container is already started".into());
            }
            None
        } else {
            match self.init_pid {
                Some(pid) if self.sessions.values().any(|x| x.init && x.exit.is_none()) => {
                    Some(pid)
                }
                _ => return Err("the container is not running".into()),
            }
        };
        let (pid, io) = spawn::spawn(setup, &p, join, &self.own_pidns)?;
        if init {
            self.init_pid = Some(pid);
        }
        self.sessions.insert(
            s,
            Session {
                pid,
                io,
                stdin_buf: Vec::new(),
                stdin_eof: false,
                exit: None,
                init,
            },
        );
        Ok(pid)
    }

    fn read_output(&mut self, id: u32, i: usize) -> io::Result<()> {
        let mut buf = vec![0u8; proto::CHUNK];
        let Some(x) = self.sessions.get_mut(&id) else {
            return Ok(());
        };
        let Some((kind, fd)) = x.io.outs.get(i) else {
            return Ok(());
        };
        let kind = *kind;
        // SAFETY: reading into a live buffer of the given length from an fd we own.
        let n = unsafe { libc_read(fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
        }
        if n <= 0 {
            // EOF, or EIO from a terminal whose last slave closed.
            x.io.outs.remove(i);
            if x.io.outs.is_empty() && x.exit.is_some() {
                self.finish(id)?;
            }
            return Ok(());
        }
        buf.truncate(n as usize);
        self.send(kind, id, buf)
    }

    fn flush_stdin(&mut self, id: u32) {
        let Some(x) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(fd) = &x.io.stdin else { return };
        // SAFETY: writing from a live buffer of the given length to an fd we own.
        let n = unsafe { libc_write(fd.as_raw_fd(), x.stdin_buf.as_ptr(), x.stdin_buf.len()) };
        if n > 0 {
            x.stdin_buf.drain(..n as usize);
        } else if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
                x.stdin_buf.clear();
                x.io.stdin = None;
            }
        }
        if x.stdin_buf.is_empty() && x.stdin_eof && x.io.pty.is_none() {
            x.io.stdin = None;
        }
    }

    fn reap(&mut self) -> io::Result<()> {
        let mut info = [0u8; 128];
        // SAFETY: draining the signalfd into a live buffer.
        while unsafe { libc_read(self.sigfd.as_raw_fd(), info.as_mut_ptr(), info.len()) } > 0 {}
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes one int we own.
            let pid = unsafe { sys::waitpid(-1, &mut status, sys::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let id = self
                .sessions
                .iter()
                .find(|(_, x)| x.pid == pid && x.exit.is_none())
                .map(|(k, _)| *k);
            if let Some(id) = id
                && let Some(x) = self.sessions.get_mut(&id)
            {
                x.exit = Some(Exit::from_wait(status));
                // The stdin of a dead process is of no use; a terminal closes with it.
                x.io.stdin = None;
                if x.io.pty.is_some() {
                    // The slave side is gone with the process (or soon with the
                    // namespace); what is buffered in the master is still read.
                    x.io.pty = None;
                }
                if x.io.outs.is_empty() {
                    self.finish(id)?;
                }
            }
        }
        Ok(())
    }

    /// The process and its output are done: report the exit.
    fn finish(&mut self, id: u32) -> io::Result<()> {
        let Some(x) = self.sessions.remove(&id) else {
            return Ok(());
        };
        if x.init {
            // Writes through the shared-memory page cache reach the host only on
            // writeback: flush before the host may stop the VM.
            // SAFETY: sync takes no arguments.
            unsafe { sys::sync() };
        }
        let exit = x.exit.unwrap_or_default();
        self.send(Kind::Exit, id, exit.encode())
    }

    fn dns_query(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 4096];
        loop {
            let Some(d) = &self.dns else { return Ok(()) };
            match d.recv_from(&mut buf) {
                Ok((n, addr)) => {
                    self.dns_seq = self.dns_seq.wrapping_add(1).max(1);
                    let id = self.dns_seq;
                    self.dns_pending.insert(id, (addr, Instant::now()));
                    self.send(Kind::DnsQuery, id, buf[..n].to_vec())?;
                }
                Err(_) => return Ok(()),
            }
        }
    }
}

unsafe extern "C" {
    #[link_name = "read"]
    fn libc_read(fd: i32, buf: *mut u8, n: usize) -> isize;
    #[link_name = "write"]
    fn libc_write(fd: i32, buf: *const u8, n: usize) -> isize;
}
