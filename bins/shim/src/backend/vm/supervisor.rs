//! The VM supervisor: the container's "init" as the shim sees it.
//!
//! Forked by the VM backend at create, it enters the container's network
//! namespace and cgroup, boots the VM (its child, killed with it), sets the
//! container up through the agent, and then relays: the init's stdio between the
//! shim's pipes (or PTY) and the agent, every signal it receives to the guest
//! init (SIGKILL, which it cannot catch, ends it and with it the VM), terminal
//! resizes, exec sessions of the relays connected to `vm.sock`, and DNS queries
//! to the namespace's resolver. When the guest init exits it powers the VM off and
//! exits the same way, so the shim records the guest's status. If the VM dies
//! first, it leaves the reason in `vm.error` and exits 255.

use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_runtime::vm::proto::{self, Exit, Frame, Kind, Process, Ready};
use berth_runtime::vm::{self, guest, vmm};
use serde_json::Value;

use super::io::{self, FrameReader, HostIo, OutBuf};
use super::{VM_ERROR, VM_SOCK, launch, net};
use crate::backend::RuntimeCtx;

/// Session of the container's init.
const INIT: u32 = 1;
/// Stop reading the agent while this much output waits for slow readers.
const HIGH_WATER: usize = 4 << 20;
/// Agent log lines copied to the shim's log.
const MAX_LOGS: u32 = 100;

struct Conn {
    sock: UnixStream,
    r: FrameReader,
    out: OutBuf,
    session: Option<u32>,
    start: bool,
    done: bool,
}

struct Dns {
    id: u32,
    sock: UdpSocket,
    at: Instant,
}

/// A booted VM with its container set up.
pub struct Supervisor {
    ctl: UnixStream,
    ctl_r: FrameReader,
    ctl_out: OutBuf,
    qemu: Child,
    listener: UnixListener,
    conns: Vec<Conn>,
    sig_r: OwnedFd,
    io: HostIo,
    stdin_open: bool,
    outs: [OutBuf; 2],
    init: Process,
    started: bool,
    next_session: u32,
    dns: Vec<Dns>,
    dir: PathBuf,
    logs: u32,
}

/// Entry point in the forked child; never returns.
pub fn run(ctx: &RuntimeCtx, io: HostIo, sync: OwnedFd) -> ! {
    let mut keep = io.fds();
    keep.push(sync.as_raw_fd());
    io::close_other_fds(&keep);
    match boot(ctx, io) {
        Ok(s) => {
            io::report(&sync, "ok");
            drop(sync);
            s.serve()
        }
        Err(e) => {
            crate::diag!("vm: {e:#}");
            io::report(&sync, &format!("error: {e:#}"));
            std::process::exit(1)
        }
    }
}

fn read_json(p: &Path) -> anyhow::Result<Value> {
    serde_json::from_slice(&std::fs::read(p).with_context(|| format!("read {}", p.display()))?)
        .with_context(|| format!("parse {}", p.display()))
}

/// Enter the container's network namespace; false for "no network at all".
fn enter_netns(config: &Value, id: &str) -> anyhow::Result<bool> {
    let nss = config
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(ns) = nss
        .iter()
        .find(|n| n.get("type").and_then(Value::as_str) == Some("network"))
    else {
        bail!(
            "VM isolation needs the container's own network namespace (--network host is not supported)"
        );
    };
    let Some(path) = ns.get("path").and_then(Value::as_str) else {
        // SAFETY: unshare takes no pointers.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
            bail!("unshare network: {}", std::io::Error::last_os_error());
        }
        return Ok(false);
    };
    // The sandbox the network service made for this container is named after its
    // id; another container's namespace would have its interfaces taken over.
    let own = Path::new(path)
        .file_name()
        .and_then(|f| f.to_str())
        .is_some_and(|f| id.starts_with(f) && f.len() >= 12);
    if !own {
        bail!("VM isolation does not support sharing another container's network namespace");
    }
    let f = std::fs::File::open(path).with_context(|| format!("open {path}"))?;
    // SAFETY: setns on an fd we hold (the process is single-threaded).
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
        bail!(
            "enter network namespace: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(true)
}

fn cpu_limit(config: &Value) -> Option<(i64, u64)> {
    let quota = config
        .pointer("/linux/resources/cpu/quota")
        .and_then(Value::as_i64)?;
    let period = config
        .pointer("/linux/resources/cpu/period")
        .and_then(Value::as_u64)
        .unwrap_or(100_000);
    (quota > 0).then_some((quota, period))
}

fn boot(ctx: &RuntimeCtx, io: HostIo) -> anyhow::Result<Supervisor> {
    let sig_r = io::signal_pipe()?;
    // SAFETY: setsid takes no arguments; we are not a group leader (forked).
    unsafe {
        libc::setsid();
    }
    if let HostIo::Pty(s) = &io {
        io::set_ctty(s.as_raw_fd());
        io::raw_tty(s.as_raw_fd());
    }
    let dir = ctx.dir.clone();
    let config = read_json(&ctx.bundle.join("config.json"))?;
    let cfg = vm::read_config(&ctx.bundle)?;
    let vmm = vmm::for_config(&cfg).with_context(|| format!("unknown VMM {}", cfg.vmm))?;
    let has_net = enter_netns(&config, &ctx.id)?;
    let (links, routes) = if has_net {
        net::attach().context("guest network")?
    } else {
        (Vec::new(), Vec::new())
    };
    if let Some(cg) = config.pointer("/linux/cgroupsPath").and_then(Value::as_str) {
        launch::join_cgroup(cg, cpu_limit(&config))?;
    }
    let staging = dir.join("vmfiles");
    let plan = guest::plan(&config, &ctx.bundle, &staging)?;
    let mut binds = Vec::new();
    if !plan.files.is_empty() {
        std::fs::create_dir_all(&staging)?;
        for (i, f) in plan.files.iter().enumerate() {
            let p = staging.join(i.to_string());
            std::fs::File::create(&p)?;
            binds.push((f.clone(), p));
        }
    }
    let stdin_open = io.stdin_open();
    let mut init = guest::process(config.get("process").unwrap_or(&Value::Null), stdin_open)?;
    if let HostIo::Pty(s) = &io
        && let Some(sz) = io::tty_size(s.as_raw_fd())
    {
        init.size = sz;
    }
    let (ctl, guest_end) = UnixStream::pair()?;
    let spec = vmm::VmSpec {
        config: cfg.clone(),
        control_fd: guest_end.as_raw_fd(),
        shares: plan.shares.clone(),
        taps: links
            .iter()
            .map(|l| vmm::Tap {
                fd: l.tap.as_raw_fd(),
                mac: l.iface.mac.clone(),
            })
            .collect(),
        console_log: PathBuf::from("console.log"),
    };
    let mut pass = vec![guest_end.as_raw_fd()];
    pass.extend(links.iter().map(|l| l.tap.as_raw_fd()));
    let mut cmd = vmm.command(&spec);
    cmd.current_dir(&dir);
    let keep = plan.shares.iter().map(|s| s.path.clone()).collect();
    let qemu = launch::spawn(
        cmd,
        launch::Launch {
            pass,
            binds,
            log: dir.join("qemu.log"),
            keep,
        },
    )?;
    std::fs::write(dir.join("qemu.pid"), qemu.id().to_string())?;
    drop(guest_end);
    let ifaces = links.iter().map(|l| l.iface.clone()).collect();
    drop(links);
    let mut s = Supervisor {
        ctl,
        ctl_r: FrameReader::default(),
        ctl_out: OutBuf::default(),
        qemu,
        listener: bind_sock(&dir)?,
        conns: Vec::new(),
        sig_r,
        io,
        stdin_open,
        outs: [OutBuf::default(), OutBuf::default()],
        init,
        started: false,
        next_session: INIT + 1,
        dns: Vec::new(),
        dir,
        logs: 0,
    };
    let t0 = Instant::now();
    let ready = s
        .expect(
            Kind::Ready,
            Duration::from_millis(cfg.boot_timeout_ms),
            "the VM to boot",
        )
        .map_err(|e| s.boot_error(e))?;
    let ready = Ready::decode(&ready.payload)?;
    if ready.version != proto::VERSION {
        bail!(
            "the VM agent speaks protocol {}, this shim {}",
            ready.version,
            proto::VERSION
        );
    }
    crate::diag!(
        "vm: agent ready after {} ms (guest uptime {} ms, kernel {})",
        t0.elapsed().as_millis(),
        ready.uptime_ms,
        ready.kernel
    );
    let mut setup = plan.setup;
    setup.ifaces = ifaces;
    setup.routes = routes;
    io::write_frame(&mut s.ctl, &Frame::new(Kind::Setup, 0, setup.encode()))?;
    let r = s
        .expect(Kind::Ok, Duration::from_secs(60), "the container setup")
        .map_err(|e| s.boot_error(e))?;
    let _ = r;
    s.ctl.set_nonblocking(true)?;
    Ok(s)
}

fn bind_sock(dir: &Path) -> anyhow::Result<UnixListener> {
    let _ = std::fs::remove_file(dir.join(VM_SOCK));
    // Relative: the shim directory is our cwd and its absolute path may be too long.
    let l = UnixListener::bind(VM_SOCK).context("bind vm.sock")?;
    l.set_nonblocking(true)?;
    Ok(l)
}

impl Supervisor {
    /// Wait for a frame of `kind` on session 0 (an `Error` frame fails).
    fn expect(&mut self, kind: Kind, limit: Duration, what: &str) -> anyhow::Result<Frame> {
        let deadline = Instant::now() + limit;
        loop {
            let f = io::read_frame(&mut self.ctl, &mut self.ctl_r, deadline, what)?;
            match f.kind {
                k if k == kind => return Ok(f),
                Kind::Error => bail!("{}", io::error_text(&f)),
                Kind::Log => crate::diag!("vm agent: {}", io::error_text(&f)),
                _ => {}
            }
        }
    }

    /// A boot failure, with what QEMU and the guest console said.
    fn boot_error(&mut self, e: anyhow::Error) -> anyhow::Error {
        let _ = self.qemu.kill();
        let status = self.qemu.wait().map(|s| s.to_string()).unwrap_or_default();
        let qemu = io::tail(&self.dir.join("qemu.log"), 3);
        let console = io::tail(&self.dir.join("console.log"), 5);
        anyhow::anyhow!("{e:#} (vmm {status}; vmm log: {qemu}; console: {console})")
    }

    fn send(&mut self, kind: Kind, session: u32, payload: Vec<u8>) {
        self.ctl_out
            .push(&Frame::new(kind, session, payload).encode());
    }

    fn out_fd(&self, k: Kind) -> RawFd {
        match &self.io {
            HostIo::Pty(s) => s.as_raw_fd(),
            HostIo::Pipes(p) if k == Kind::Stderr => p.stderr.as_raw_fd(),
            HostIo::Pipes(p) => p.stdout.as_raw_fd(),
        }
    }

    fn backlog(&self) -> usize {
        self.outs.iter().map(OutBuf::len).sum::<usize>()
            + self.conns.iter().map(|c| c.out.len()).max().unwrap_or(0)
    }

    fn serve(mut self) -> ! {
        let stdin_fd = match &self.io {
            HostIo::Pty(s) => s.as_raw_fd(),
            HostIo::Pipes(p) => p.stdin.as_raw_fd(),
        };
        io::nonblocking(stdin_fd);
        for k in [Kind::Stdout, Kind::Stderr] {
            io::nonblocking(self.out_fd(k));
        }
        let mut stdin_live = self.stdin_open;
        loop {
            let mut fds = vec![
                libc::pollfd {
                    fd: self.sig_r.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let mut ctl_ev = 0;
            if self.backlog() < HIGH_WATER {
                ctl_ev |= libc::POLLIN;
            }
            if !self.ctl_out.is_empty() {
                ctl_ev |= libc::POLLOUT;
            }
            // A negative fd is skipped by poll: a hung-up fd we do not want to
            // hear from would otherwise report POLLHUP forever.
            let on = |fd: RawFd, ev: i16| libc::pollfd {
                fd: if ev == 0 { -1 } else { fd },
                events: ev,
                revents: 0,
            };
            fds.push(on(self.ctl.as_raw_fd(), ctl_ev));
            let stdin_ev = if stdin_live && self.started {
                libc::POLLIN
            } else {
                0
            };
            fds.push(on(stdin_fd, stdin_ev));
            for (i, k) in [Kind::Stdout, Kind::Stderr].into_iter().enumerate() {
                let ev = if self.outs[i].is_empty() {
                    0
                } else {
                    libc::POLLOUT
                };
                fds.push(on(self.out_fd(k), ev));
            }
            let base = fds.len();
            for c in &self.conns {
                let mut ev = if c.done { 0 } else { libc::POLLIN };
                if !c.out.is_empty() {
                    ev |= libc::POLLOUT;
                }
                fds.push(on(c.sock.as_raw_fd(), ev));
            }
            let dns_base = fds.len();
            for d in &self.dns {
                fds.push(libc::pollfd {
                    fd: d.sock.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let timeout = if self.dns.is_empty() { -1 } else { 1000 };
            // SAFETY: a live array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                continue;
            }
            if fds[0].revents != 0 {
                self.signals();
            }
            if fds[1].revents != 0 {
                self.accept();
            }
            if fds[2].revents & libc::POLLOUT != 0 && !self.ctl_out.flush(self.ctl.as_raw_fd()) {
                self.vm_lost("the VM's control channel broke");
            }
            if fds[2].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                self.read_ctl();
            }
            if fds[3].revents != 0 {
                let mut b = vec![0u8; proto::CHUNK];
                match io::read_some(stdin_fd, &mut b) {
                    Some(0) => {
                        stdin_live = false;
                        if matches!(self.io, HostIo::Pipes(_)) {
                            self.send(Kind::StdinClose, INIT, Vec::new());
                        }
                    }
                    Some(n) => self.send(Kind::Stdin, INIT, b[..n].to_vec()),
                    None => {}
                }
            }
            for (i, k) in [Kind::Stdout, Kind::Stderr].into_iter().enumerate() {
                if fds[4 + i].revents != 0 {
                    let fd = self.out_fd(k);
                    self.outs[i].flush(fd);
                }
            }
            for (i, pfd) in fds[base..dns_base].iter().enumerate() {
                if pfd.revents != 0 {
                    self.service_conn(i, pfd.revents);
                }
            }
            let dns_ready: Vec<usize> = fds[dns_base..]
                .iter()
                .enumerate()
                .filter(|(_, p)| p.revents != 0)
                .map(|(i, _)| i)
                .collect();
            self.dns_replies(&dns_ready);
            self.conns.retain(|c| !(c.done && c.out.is_empty()));
            if !self.ctl_out.is_empty() {
                self.ctl_out.flush(self.ctl.as_raw_fd());
            }
        }
    }

    fn signals(&mut self) {
        for sig in io::take_signals(&self.sig_r) {
            match sig {
                libc::SIGCHLD => {
                    if let Ok(Some(st)) = self.qemu.try_wait() {
                        self.vm_lost(&format!("the VM exited unexpectedly ({st})"));
                    }
                }
                libc::SIGPIPE => {}
                libc::SIGWINCH => {
                    if let HostIo::Pty(s) = &self.io
                        && let Some((w, h)) = io::tty_size(s.as_raw_fd())
                    {
                        let p = proto::Enc::default().u16(w).u16(h).finish();
                        self.send(Kind::Resize, INIT, p);
                    }
                }
                s if self.started => {
                    let p = proto::Enc::default().i32(s).finish();
                    self.send(Kind::Signal, INIT, p);
                }
                _ => {}
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((sock, _)) = self.listener.accept() {
            if sock.set_nonblocking(true).is_ok() {
                self.conns.push(Conn {
                    sock,
                    r: FrameReader::default(),
                    out: OutBuf::default(),
                    session: None,
                    start: false,
                    done: false,
                });
            }
        }
    }

    fn read_ctl(&mut self) {
        match self.ctl_r.fill(self.ctl.as_raw_fd()) {
            Ok(true) => {}
            _ => self.vm_lost("the VM's control channel closed"),
        }
        loop {
            match self.ctl_r.next() {
                Ok(Some(f)) => self.on_agent_frame(f),
                Ok(None) => break,
                Err(e) => self.vm_lost(&format!("{e}")),
            }
        }
    }

    fn conn_of(&mut self, session: u32) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.session == Some(session))
    }

    fn on_agent_frame(&mut self, f: Frame) {
        match (f.kind, f.session) {
            (Kind::Log, _) => {
                // The guest is not trusted to keep the shim's log small.
                self.logs += 1;
                if self.logs <= MAX_LOGS {
                    crate::diag!("vm agent: {}", io::error_text(&f));
                }
            }
            (Kind::DnsQuery, id) => self.dns_query(id, &f.payload),
            (Kind::Stdout | Kind::Stderr, INIT) => {
                let i = usize::from(f.kind == Kind::Stderr);
                self.outs[i].push(&f.payload);
                let fd = self.out_fd(f.kind);
                self.outs[i].flush(fd);
            }
            (Kind::Exit, INIT) => {
                let e = Exit::decode(&f.payload).unwrap_or(Exit {
                    code: 255,
                    signal: 0,
                });
                self.finish(e);
            }
            (Kind::Started | Kind::Error, INIT) => {
                if f.kind == Kind::Started {
                    self.started = true;
                }
                if let Some(c) = self.conns.iter_mut().find(|c| c.start) {
                    c.out.push(&f.encode());
                    c.done = true;
                }
            }
            (_, s) => {
                if let Some(c) = self.conn_of(s) {
                    c.out.push(&f.encode());
                    if matches!(f.kind, Kind::Exit | Kind::Error) {
                        c.done = true;
                    }
                }
            }
        }
    }

    fn service_conn(&mut self, i: usize, revents: i16) {
        if revents & libc::POLLOUT != 0 {
            let fd = self.conns[i].sock.as_raw_fd();
            if !self.conns[i].out.flush(fd) {
                self.conn_gone(i);
                return;
            }
        }
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 || self.conns[i].done {
            return;
        }
        let fd = self.conns[i].sock.as_raw_fd();
        if !self.conns[i].r.fill(fd).unwrap_or(false) {
            self.conn_gone(i);
            return;
        }
        while let Ok(Some(f)) = self.conns[i].r.next() {
            match f.kind {
                Kind::Run => {
                    if self.started || self.conns.iter().any(|c| c.start) {
                        let e = Frame::new(
                            Kind::Error,
                            INIT,
                            b"the container is already started".to_vec(),
                        );
                        self.conns[i].out.push(&e.encode());
                        self.conns[i].done = true;
                    } else {
                        self.conns[i].start = true;
                        let p = self.init.encode();
                        self.send(Kind::Run, INIT, p);
                    }
                }
                Kind::Exec => {
                    let s = self.next_session;
                    self.next_session += 1;
                    self.conns[i].session = Some(s);
                    self.send(Kind::Exec, s, f.payload);
                }
                Kind::Stdin | Kind::StdinClose | Kind::Signal | Kind::Resize => {
                    if let Some(s) = self.conns[i].session {
                        self.send(f.kind, s, f.payload);
                    }
                }
                _ => {}
            }
        }
    }

    /// A relay went away: its process must not outlive it.
    fn conn_gone(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.done = true;
        c.out = OutBuf::default();
        if let Some(s) = c.session.take() {
            let p = proto::Enc::default().i32(libc::SIGKILL).finish();
            self.send(Kind::Signal, s, p);
        }
    }

    fn dns_query(&mut self, id: u32, msg: &[u8]) {
        let sock = match UdpSocket::bind("127.0.0.1:0").and_then(|s| {
            s.connect("127.0.0.11:53")?;
            s.set_nonblocking(true)?;
            s.send(msg)?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(_) => return,
        };
        // Bounded: a guest cannot make the supervisor hold many sockets.
        if self.dns.len() < 256 {
            self.dns.push(Dns {
                id,
                sock,
                at: Instant::now(),
            });
        }
    }

    fn dns_replies(&mut self, ready: &[usize]) {
        let mut replies = Vec::new();
        for i in ready {
            let mut b = vec![0u8; 4096];
            if let Some(d) = self.dns.get(*i)
                && let Ok(n) = d.sock.recv(&mut b)
            {
                replies.push((d.id, b[..n].to_vec()));
            }
        }
        for (id, msg) in replies {
            self.send(Kind::DnsReply, id, msg);
            self.dns.retain(|d| d.id != id);
        }
        self.dns
            .retain(|d| d.at.elapsed() < Duration::from_secs(10));
    }

    /// The guest init exited: deliver its output, power off, exit the same way.
    fn finish(&mut self, e: Exit) -> ! {
        for (i, k) in [Kind::Stdout, Kind::Stderr].into_iter().enumerate() {
            let fd = self.out_fd(k);
            self.outs[i].drain_blocking(fd, Duration::from_secs(10));
        }
        self.send(Kind::Shutdown, 0, Vec::new());
        let _ = self.ctl.set_nonblocking(false);
        let _ = self.ctl_out.flush(self.ctl.as_raw_fd());
        let t = Instant::now();
        self.stop_vm(Duration::from_millis(500));
        crate::diag!("vm: stopped in {} ms", t.elapsed().as_millis());
        io::exit_like(e)
    }

    fn stop_vm(&mut self, grace: Duration) {
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.qemu.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        let _ = std::fs::remove_file(self.dir.join(VM_SOCK));
    }

    /// The VM is gone before the init exited.
    fn vm_lost(&mut self, why: &str) -> ! {
        let status = match self.qemu.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                std::thread::sleep(Duration::from_millis(100));
                self.qemu.try_wait().ok().flatten()
            }
        };
        let why = match status {
            Some(s) => format!("the VM exited unexpectedly (vmm {s})"),
            None => why.to_string(),
        };
        crate::diag!("vm: {why}");
        let _ = std::fs::write(self.dir.join(VM_ERROR), &why);
        for (i, k) in [Kind::Stdout, Kind::Stderr].into_iter().enumerate() {
            let fd = self.out_fd(k);
            self.outs[i].drain_blocking(fd, Duration::from_secs(1));
        }
        self.stop_vm(Duration::ZERO);
        std::process::exit(255)
    }
}
