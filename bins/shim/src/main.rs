//! berth-shim: one small process per container.
//!
//! `berth-shim start <shim-dir>` reads `<shim-dir>/shim.json` (see
//! `berth_runtime::layout::ShimConfig`), starts its own session (setsid), creates the
//! container with libcontainer or runc, listens on `<shim-dir>/ctl.sock` and reports
//! `{"ok":{"pid":N}}` (or `{"err":...}`) as one line on the stdout it inherited. The
//! detached shim owns the container's stdio, writes its log, reaps its exit into
//! `exit.json`, and serves the protocol in `berth_runtime::proto` until it is told to
//! delete the container.
//!
//! `berth-shim zygote` does the same for each request on its stdin, by forking
//! (see `zygote`): berthd starts one and saves an exec per container.
//!
//! `berth-shim install-init <path>` writes the embedded static `berth-init`.

mod backend;
mod cgroup;
mod lifecycle;
mod server;
mod stdio;
mod trace;
mod zygote;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_runtime::layout::{self, Layout, RuntimeKind, ShimConfig};
use berth_runtime::logs::writer::LogWriter;
use berth_runtime::proto::{self, ErrorBody, ErrorKindWire, Response};
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, setsid};

use crate::backend::{Backend, RuntimeCtx};
use crate::server::{Proc, Shim};

/// The static init, built by build.rs.
static INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Diagnostics go to stderr, which the detached shim points at `shim.log`.
#[macro_export]
macro_rules! diag {
    ($($t:tt)*) => {{
        eprintln!("{} {}", berth_core::timefmt::now_rfc3339(), format_args!($($t)*));
    }};
}

/// Give freed heap back to the kernel after a burst (creating a container allocates
/// a few MiB inside libcontainer), keeping the idle shim small.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks glibc's own heap structures.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("start") if args.len() == 3 => cmd_start(Path::new(&args[2])),
        Some("install-init") if args.len() == 3 => install_init(Path::new(&args[2])),
        Some(berth_runtime::zygote::ZYGOTE_ARG) if args.len() == 2 => zygote::serve(),
        Some("--version") | Some("version") => {
            println!(
                "berth-shim {} (protocol {})",
                env!("CARGO_PKG_VERSION"),
                proto::VERSION
            );
            Ok(())
        }
        _ => Err(anyhow::anyhow!(
            "usage: berth-shim start <shim-dir> | zygote | install-init <path> | --version"
        )),
    };
    exit_with(r)
}

/// Exit 0, or report `r`'s error and exit 1.
fn exit_with(r: anyhow::Result<()>) -> ! {
    if let Err(e) = r {
        eprintln!("berth-shim: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0)
}

fn install_init(dest: &Path) -> anyhow::Result<()> {
    berth_core::fsutil::atomic_write_mode(dest, INIT_BINARY, 0o755)?;
    Ok(())
}

/// Create the container and serve it. The caller (berthd) reads one readiness
/// line from our stdout and reaps this process whenever it exits; `setsid` in
/// [`setup`] detaches it from the daemon's session, and if the daemon dies first
/// the shim is simply reparented. (No fork to daemonize: a second process
/// costs a fork and an exit on every container start.)
fn cmd_start(dir: &Path) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(dir).with_context(|| format!("shim dir {}", dir.display()))?;
    let cfg: ShimConfig = serde_json::from_slice(&std::fs::read(dir.join(layout::CONFIG_FILE))?)
        .context("read shim.json")?;
    if cfg.v != proto::VERSION {
        bail!(
            "shim.json is protocol {}, this shim speaks {}",
            cfg.v,
            proto::VERSION
        );
    }
    // The caller's pipe, kept past the stdio redirection. One line, not EOF:
    // processes the runtime forks before the answer (the container's init,
    // waiting to be started) inherit the descriptor until they exec.
    let mut ready = std::fs::File::from(
        nix::fcntl::fcntl(1, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that we own.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })?,
    );
    let answer = |ready: &mut std::fs::File, resp: &Response| {
        let mut line = serde_json::to_vec(resp).unwrap_or_default();
        line.push(b'\n');
        let _ = ready.write_all(&line);
    };
    match setup(&dir, cfg) {
        Ok((shim, pid)) => {
            answer(&mut ready, &Response::Ok(serde_json::json!({ "pid": pid })));
            drop(ready);
            // Off the start path: give back what creating the container used.
            trim_heap();
            if let Err(e) = shim.run() {
                diag!("shim loop failed: {e:#}");
                std::process::exit(1);
            }
            std::process::exit(0);
        }
        Err(e) => {
            diag!("start failed: {e:#}");
            let resp = Response::Err(ErrorBody {
                kind: ErrorKindWire::Internal,
                message: format!("{e:#}"),
            });
            answer(&mut ready, &resp);
            std::process::exit(1);
        }
    }
}

fn redirect_stdio(dir: &Path) -> anyhow::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(layout::SHIM_LOG))?;
    // SAFETY: dup2 onto the standard descriptors; the sources are open files we hold.
    unsafe {
        libc::dup2(null.as_raw_fd(), 0);
        libc::dup2(null.as_raw_fd(), 1);
        libc::dup2(log.as_raw_fd(), 2);
    }
    Ok(())
}

static SIG_W: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = SIG_W.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte.
        unsafe {
            libc::write(fd, b"x".as_ptr().cast(), 1);
        }
    }
}

/// SIGCHLD wakes the loop through a self-pipe. Handlers (not SIG_IGN, not a blocked
/// mask) are used because both would be inherited by container processes.
fn install_signals() -> anyhow::Result<OwnedFd> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    SIG_W.store(w.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    std::mem::forget(w);
    extern "C" fn nothing(_: libc::c_int) {}
    let set = |sig: libc::c_int, h: extern "C" fn(libc::c_int)| {
        // SAFETY: a zeroed sigaction is valid; we install a plain handler with SA_RESTART.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = h as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    };
    set(libc::SIGCHLD, on_signal);
    // A dying daemon or a closed client must not kill the shim.
    for s in [libc::SIGPIPE, libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
        set(s, nothing);
    }
    Ok(r)
}

fn setup(dir: &Path, cfg: ShimConfig) -> anyhow::Result<(Shim, i32)> {
    setsid()?;
    std::env::set_current_dir(dir)?;
    redirect_stdio(dir)?;
    trace::init(&dir.join(layout::SHIM_LOG));
    std::fs::write(layout::PID_FILE, std::process::id().to_string())?;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let sig_r = install_signals()?;
    let l = Layout::new(&cfg.exec_root);
    let ctx = RuntimeCtx {
        id: cfg.id.clone(),
        bundle: cfg.bundle.clone(),
        root: l.runtime_root(cfg.runtime),
        dir: dir.to_path_buf(),
    };
    let mut backend: Box<dyn Backend> = match cfg.runtime {
        RuntimeKind::Youki => Box::new(backend::youki::Youki::new(
            ctx,
            backend::seccomp::cache_dir(&cfg.exec_root),
        )),
        RuntimeKind::Runc => {
            let bin = cfg
                .runc_path
                .clone()
                .unwrap_or_else(|| PathBuf::from("runc"));
            Box::new(backend::runc::Runc::new(ctx, bin))
        }
        RuntimeKind::Vm => Box::new(backend::vm::Vm::new(ctx)),
    };
    let log = LogWriter::open(cfg.log.clone()).context("open container log")?;

    let mark = trace::mark(Path::new(layout::SHIM_LOG));
    let created = {
        let _lock = cgroup::lock(&l.cgroup_lock(), false);
        create(&mut *backend, &cfg)
    };
    let created = created.map_err(|e| with_detail(e, mark));
    let (pid, io) = match created {
        Ok(x) => x,
        Err(e) => {
            let _ = backend.delete(true);
            return Err(e);
        }
    };
    let _ = std::fs::remove_file(layout::CTL_SOCK);
    let listener = UnixListener::bind(layout::CTL_SOCK).context("bind ctl.sock")?;
    let shim = Shim::new(cfg, listener, sig_r, backend, log, Proc::new(pid, io, true));
    Ok((shim, pid))
}

/// `e` plus the runtime's ERROR events logged since `mark` (see [`trace`]).
pub fn with_detail(e: anyhow::Error, mark: u64) -> anyhow::Error {
    let top = format!("{e:#}");
    let detail = trace::errors_since(Path::new(layout::SHIM_LOG), mark, &top);
    if detail.is_empty() {
        e
    } else {
        anyhow::anyhow!("{top} (runtime log: {detail})")
    }
}

fn create(backend: &mut dyn Backend, cfg: &ShimConfig) -> anyhow::Result<(i32, stdio::ParentIo)> {
    if cfg.tty {
        let sock = PathBuf::from("con.sock");
        let l = stdio::console_listener(&sock)?;
        let pid = backend.create(None, Some(&sock))?;
        let io = stdio::receive_pty(&l, &sock, cfg.stdin)?;
        Ok((pid, io))
    } else {
        let (child, parent) = stdio::pipes(cfg.stdin)?;
        let pid = backend.create(Some(child), None)?;
        Ok((pid, parent))
    }
}
