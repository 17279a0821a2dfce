//! Starting the container's processes in the guest.
//!
//! The init gets new mount, UTS, IPC and PID namespaces (it is PID 1 of its own
//! namespace, as in a process-isolated container), the container's mounts under
//! `/rootfs`, then `pivot_root`; masked and read-only paths, rlimits, user, groups
//! and capabilities follow the OCI spec the host translated. An exec joins the
//! init's namespaces. std's `Command` forks and execs (so `args[0]` is looked up in
//! the container's own `PATH`, inside its root); everything between is a `pre_exec`
//! hook, which is safe because the agent is single-threaded.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::proto::{Kind, Process, Setup};
use crate::sys::{self, cstr};

/// The agent's ends of a process's stdio.
pub struct ProcIo {
    /// Where stdin bytes go (pipe or terminal), when stdin is open.
    pub stdin: Option<OwnedFd>,
    /// Output fds with the frame kind they produce.
    pub outs: Vec<(Kind, OwnedFd)>,
    /// The terminal master, for resizing.
    pub pty: Option<OwnedFd>,
}

/// Where the container's root is assembled in the agent's namespace.
pub const ROOT: &str = "/rootfs";

/// Start `p`. `init` is the container init's pid for an exec, `None` for the init.
pub fn spawn(
    setup: &Setup,
    p: &Process,
    init: Option<i32>,
    own_pidns: &File,
) -> Result<(i32, ProcIo), String> {
    if p.args.is_empty() {
        return Err("no command specified".into());
    }
    let (io, child) = stdio(p).map_err(|e| format!("stdio: {e}"))?;
    let (err_r, err_w) = sys::pipe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&p.args[0]);
    cmd.args(&p.args[1..]).env_clear();
    for kv in &p.env {
        match kv.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => cmd.env(kv, ""),
        };
    }
    let [i, o, e] = child;
    cmd.stdin(i).stdout(o).stderr(e);
    let plan = Plan {
        setup: if init.is_none() {
            Some(setup.clone())
        } else {
            None
        },
        ns: match init {
            Some(pid) => ["mnt", "uts", "ipc"]
                .iter()
                .map(|k| {
                    File::open(format!("/proc/{pid}/ns/{k}"))
                        .map_err(|e| format!("join container: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        },
        p: p.clone(),
        err: err_w,
    };
    let mut plan = Some(plan);
    // SAFETY: the hook runs in the forked child of a single-threaded process, so
    // allocating and making syscalls there is sound.
    unsafe {
        cmd.pre_exec(move || match plan.take() {
            Some(mut pl) => pl.run(),
            None => Ok(()),
        });
    }
    // The first process forked after unshare(CLONE_NEWPID) is PID 1 of the new
    // namespace; an exec is forked into the init's.
    let pid_target = match init {
        None => {
            // SAFETY: unshare takes no pointers.
            sys::check(unsafe { sys::unshare(sys::CLONE_NEWPID) }, "unshare pid")
                .map_err(|e| e.to_string())?;
            None
        }
        Some(pid) => {
            let f = File::open(format!("/proc/{pid}/ns/pid"))
                .map_err(|e| format!("join container: {e}"))?;
            // SAFETY: setns on an fd we hold.
            let rc = unsafe { sys::setns(f.as_raw_fd(), sys::CLONE_NEWPID) };
            sys::check(rc, "join pid namespace").map_err(|e| e.to_string())?;
            Some(f)
        }
    };
    let r = cmd.spawn();
    drop(pid_target);
    // Back to the agent's own namespace for later children (DNS, nothing else forks).
    // SAFETY: setns on an fd we hold.
    unsafe {
        sys::setns(own_pidns.as_raw_fd(), sys::CLONE_NEWPID);
    }
    drop(cmd);
    match r {
        Ok(child) => Ok((child.id() as i32, io)),
        Err(e) => {
            let mut msg = String::new();
            let _ = File::from(err_r).read_to_string(&mut msg);
            if !msg.is_empty() {
                return Err(msg);
            }
            Err(exec_error(&p.args[0], &e))
        }
    }
}

/// Docker's wording for a command that cannot be executed.
fn exec_error(prog: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound if !prog.contains('/') => {
            format!("exec: \"{prog}\": executable file not found in $PATH")
        }
        io::ErrorKind::NotFound => {
            format!("exec: \"{prog}\": stat {prog}: no such file or directory")
        }
        io::ErrorKind::PermissionDenied => format!("exec: \"{prog}\": permission denied"),
        _ => format!("exec: \"{prog}\": {e}"),
    }
}

fn stdio(p: &Process) -> io::Result<(ProcIo, [Stdio; 3])> {
    if p.terminal {
        let (mut m, mut s) = (-1, -1);
        let ws = sys::WinSize {
            row: p.size.1,
            col: p.size.0,
            ..Default::default()
        };
        let wp: *const sys::WinSize = if p.size.0 > 0 { &ws } else { std::ptr::null() };
        // SAFETY: openpty writes two fds; name and termios are null, winsize is live or null.
        let rc =
            unsafe { sys::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), wp) };
        sys::check(rc, "openpty")?;
        // SAFETY: the kernel just gave us both fds.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        sys::set_nonblocking(master.as_raw_fd(), true)?;
        // SAFETY: fcntl flags only.
        unsafe {
            sys::fcntl(master.as_raw_fd(), 2, 1); // F_SETFD FD_CLOEXEC
        }
        let io = ProcIo {
            stdin: Some(master.try_clone()?),
            outs: vec![(Kind::Stdout, master.try_clone()?)],
            pty: Some(master),
        };
        let child = [
            Stdio::from(slave.try_clone()?),
            Stdio::from(slave.try_clone()?),
            Stdio::from(slave),
        ];
        return Ok((io, child));
    }
    let (stdin_child, stdin_w) = if p.stdin {
        let (r, w) = sys::pipe()?;
        sys::set_nonblocking(w.as_raw_fd(), true)?;
        (Stdio::from(r), Some(w))
    } else {
        (Stdio::null(), None)
    };
    let (out_r, out_w) = sys::pipe()?;
    let (err_r, err_w) = sys::pipe()?;
    sys::set_nonblocking(out_r.as_raw_fd(), true)?;
    sys::set_nonblocking(err_r.as_raw_fd(), true)?;
    Ok((
        ProcIo {
            stdin: stdin_w,
            outs: vec![(Kind::Stdout, out_r), (Kind::Stderr, err_r)],
            pty: None,
        },
        [stdin_child, Stdio::from(out_w), Stdio::from(err_w)],
    ))
}

/// What the child does between fork and exec.
struct Plan {
    setup: Option<Setup>,
    ns: Vec<File>,
    p: Process,
    err: OwnedFd,
}

impl Plan {
    fn run(&mut self) -> io::Result<()> {
        let r = self.steps();
        if let Err(e) = &r {
            let _ = (&File::from(self.err.try_clone()?)).write_all(e.to_string().as_bytes());
        }
        r
    }

    fn steps(&mut self) -> io::Result<()> {
        // The agent blocks SIGCHLD (for its signalfd) and std ignores SIGPIPE; both
        // would be inherited through exec.
        let empty = sys::SigSet([0; 16]);
        // SAFETY: an empty live sigset; signal and setsid take no pointers.
        unsafe {
            sys::sigprocmask(sys::SIG_SETMASK, &empty, std::ptr::null_mut());
            sys::signal(sys::SIGPIPE, sys::SIG_DFL);
            sys::setsid();
        }
        if self.p.terminal {
            // SAFETY: TIOCSCTTY on our stdin (the terminal slave) with an int argument.
            let rc = unsafe { sys::ioctl(0, sys::TIOCSCTTY, 0) };
            sys::check(rc, "set controlling terminal")?;
        }
        match &self.setup {
            Some(s) => {
                let s = s.clone();
                enter_root(&s)?;
            }
            None => {
                for (f, ty) in
                    self.ns
                        .iter()
                        .zip([sys::CLONE_NEWNS, sys::CLONE_NEWUTS, sys::CLONE_NEWIPC])
                {
                    // SAFETY: setns on an fd we hold.
                    sys::check(unsafe { sys::setns(f.as_raw_fd(), ty) }, "join namespace")?;
                }
            }
        }
        identity(&self.p)
    }
}

fn flagged(rc: i32, what: &str) -> io::Result<()> {
    sys::check(rc, what)
}

/// New namespaces, the mounts, the hostname and `pivot_root`.
fn enter_root(s: &Setup) -> io::Result<()> {
    // SAFETY: unshare takes no pointers.
    let rc = unsafe { sys::unshare(sys::CLONE_NEWNS | sys::CLONE_NEWUTS | sys::CLONE_NEWIPC) };
    flagged(rc, "unshare")?;
    sys::do_mount("", "/", "", sys::MS_REC | sys::MS_PRIVATE, "")?;
    let mut has_dev = false;
    for m in &s.mounts {
        mount_one(m)?;
        if m.dest == "/dev" {
            has_dev = true;
        }
    }
    if has_dev {
        devices(&s.devices)?;
    }
    if !s.hostname.is_empty() {
        // SAFETY: pointer and length of a live string.
        let rc = unsafe { sys::sethostname(s.hostname.as_ptr(), s.hostname.len()) };
        flagged(rc, "sethostname")?;
    }
    if !s.domainname.is_empty() {
        // SAFETY: pointer and length of a live string.
        let rc = unsafe { sys::setdomainname(s.domainname.as_ptr(), s.domainname.len()) };
        flagged(rc, "setdomainname")?;
    }
    let root = cstr(ROOT)?;
    let dot = cstr(".")?;
    // SAFETY: live C strings; pivot_root(".", ".") stacks the old root on the new one.
    unsafe {
        flagged(sys::chdir(root.as_ptr()), "chdir rootfs")?;
        flagged(
            sys::syscall(sys::SYS_PIVOT_ROOT, dot.as_ptr(), dot.as_ptr()) as i32,
            "pivot_root",
        )?;
        flagged(
            sys::umount2(dot.as_ptr(), sys::MNT_DETACH),
            "detach old root",
        )?;
        flagged(sys::chdir(c"/".as_ptr()), "chdir /")?;
    }
    for p in &s.masked {
        match std::fs::metadata(p) {
            Ok(md) if md.is_dir() => sys::do_mount("tmpfs", p, "tmpfs", sys::MS_RDONLY, "")?,
            Ok(_) => sys::do_mount("/dev/null", p, "", sys::MS_BIND, "")?,
            Err(_) => {}
        }
    }
    for p in &s.readonly_paths {
        if Path::new(p).exists() {
            sys::do_mount(p, p, "", sys::MS_BIND | sys::MS_REC, "")?;
            sys::do_mount(
                p,
                p,
                "",
                sys::MS_BIND | sys::MS_REMOUNT | sys::MS_RDONLY | sys::MS_REC,
                "",
            )?;
        }
    }
    if s.readonly_rootfs {
        sys::do_mount(
            "",
            "/",
            "",
            sys::MS_BIND | sys::MS_REMOUNT | sys::MS_RDONLY,
            "",
        )?;
    }
    Ok(())
}

/// `dest` under the root, refusing paths that leave it through `..` or symlinks.
fn target(dest: &str) -> io::Result<String> {
    let t = format!(
        "{ROOT}{}",
        if dest.starts_with('/') {
            dest.to_string()
        } else {
            format!("/{dest}")
        }
    );
    if dest.split('/').any(|c| c == "..") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("mount destination {dest} leaves the root"),
        ));
    }
    if let Some(parent) = Path::new(&t).parent() {
        std::fs::create_dir_all(parent)?;
        let real = std::fs::canonicalize(parent)?;
        if !real.starts_with(ROOT) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("mount destination {dest} leaves the root"),
            ));
        }
    }
    Ok(t)
}

fn mount_one(m: &crate::proto::Mount) -> io::Result<()> {
    let t = target(&m.dest)?;
    let with = |e: io::Error| io::Error::new(e.kind(), format!("mount {}: {e}", m.dest));
    if m.fstype == "bind" {
        let md = std::fs::metadata(&m.source)
            .map_err(|e| with(io::Error::new(e.kind(), format!("{}: {e}", m.source))))?;
        if md.is_dir() {
            std::fs::create_dir_all(&t).map_err(with)?;
        } else if std::fs::symlink_metadata(&t).is_err() {
            File::create(&t).map_err(with)?;
        }
        let rec = m.flags & sys::MS_REC;
        sys::do_mount(&m.source, &t, "", sys::MS_BIND | rec, "").map_err(with)?;
        let extra = m.flags & (sys::MS_RDONLY | sys::MS_NOSUID | sys::MS_NODEV | sys::MS_NOEXEC);
        if extra != 0 {
            sys::do_mount("", &t, "", sys::MS_BIND | sys::MS_REMOUNT | rec | extra, "")
                .map_err(with)?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(&t).map_err(with)?;
    match m.fstype.as_str() {
        // The guest's cgroup hierarchy is the VM's own; v2 is what a guest kernel has.
        "cgroup" | "cgroup2" => {
            let _ = sys::do_mount("cgroup2", &t, "cgroup2", m.flags, "");
            Ok(())
        }
        _ => sys::do_mount(&m.source, &t, &m.fstype, m.flags, &m.data).map_err(with),
    }
}

/// The container's `/dev`: device nodes bound from the guest's devtmpfs, and the
/// usual links.
fn devices(names: &[String]) -> io::Result<()> {
    for n in names {
        let src = format!("/dev/{n}");
        if !Path::new(&src).exists() || n.contains("..") {
            continue;
        }
        let t = format!("{ROOT}/dev/{n}");
        if let Some(p) = Path::new(&t).parent() {
            std::fs::create_dir_all(p)?;
        }
        if std::fs::symlink_metadata(&t).is_err() {
            File::create(&t)?;
        }
        sys::do_mount(&src, &t, "", sys::MS_BIND, "")?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        let _ = std::os::unix::fs::symlink(to, format!("{ROOT}/dev/{link}"));
    }
    Ok(())
}

/// rlimits, no_new_privs, user, groups, capabilities and the working directory.
fn identity(p: &Process) -> io::Result<()> {
    for r in &p.rlimits {
        let l = sys::RLimit {
            cur: r.soft,
            max: r.hard,
        };
        // SAFETY: points at a live rlimit.
        let rc = unsafe { sys::setrlimit(r.resource as i32, &l) };
        flagged(rc, "setrlimit")?;
    }
    if !p.cwd.is_empty() {
        let c = cstr(&p.cwd)?;
        // SAFETY: live C string.
        let rc = unsafe { sys::chdir(c.as_ptr()) };
        flagged(
            rc,
            &format!("chdir to cwd (\"{}\") set in config.json failed", p.cwd),
        )?;
    }
    for cap in 0..=sys::CAP_LAST {
        if p.caps.bounding & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments; EINVAL for caps this kernel lacks is fine.
            unsafe {
                sys::prctl(sys::PR_CAPBSET_DROP, u64::from(cap), 0, 0, 0);
            }
        }
    }
    // SAFETY: prctl and the id calls take integers or a live array.
    unsafe {
        flagged(sys::prctl(sys::PR_SET_KEEPCAPS, 1, 0, 0, 0), "keepcaps")?;
        flagged(sys::setgroups(p.gids.len(), p.gids.as_ptr()), "setgroups")?;
        flagged(sys::setresgid(p.gid, p.gid, p.gid), "setgid")?;
        flagged(sys::setresuid(p.uid, p.uid, p.uid), "setuid")?;
    }
    let hdr = sys::CapHeader {
        version: sys::CAP_VERSION_3,
        pid: 0,
    };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        sys::CapData {
            effective: lo(p.caps.effective),
            permitted: lo(p.caps.permitted),
            inheritable: lo(p.caps.inheritable),
        },
        sys::CapData {
            effective: hi(p.caps.effective),
            permitted: hi(p.caps.permitted),
            inheritable: hi(p.caps.inheritable),
        },
    ];
    // SAFETY: capset reads the header and two data structs we own.
    let rc = unsafe { sys::syscall(sys::SYS_CAPSET, &hdr, data.as_ptr()) as i32 };
    flagged(rc, "capset")?;
    for cap in 0..=sys::CAP_LAST {
        if p.caps.ambient & (1u64 << cap) != 0 {
            // SAFETY: prctl with integer arguments.
            unsafe {
                sys::prctl(
                    sys::PR_CAP_AMBIENT,
                    sys::PR_CAP_AMBIENT_RAISE,
                    u64::from(cap),
                    0,
                    0,
                );
            }
        }
    }
    if p.no_new_privs {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { sys::prctl(sys::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        flagged(rc, "no_new_privs")?;
    }
    Ok(())
}
