//! The daemon's async client for `berth-shim`.
//!
//! [`ShimRunner`] spawns shims and finds existing ones under the exec root;
//! [`ShimHandle`] speaks the protocol of [`crate::proto`] to one of them, one
//! connection per call. Every call is cancel-safe from the shim's point of view: a
//! dropped connection only ends that call.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::{Result, RuntimeError};
use crate::layout::{self, Layout, LogConfig, RuntimeKind, ShimConfig};
use crate::proto::{
    self, AttachReq, ErrorKindWire, ExecReq, ExecStarted, ExitStatus, FRAME_HEADER, Hello, Op,
    Request, Response, State, StreamId,
};
use crate::zygote::{Started, Zygote};

/// How to start a shim for one container.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Container id (`[A-Za-z0-9_.+-]+`).
    pub id: String,
    /// The OCI bundle holding `config.json` (see [`crate::spec::write_bundle`]).
    pub bundle: PathBuf,
    /// Which runtime.
    pub runtime: RuntimeKind,
    /// runc binary (default `runc` on `PATH`).
    pub runc_path: Option<PathBuf>,
    /// Must equal the spec's `process.terminal`.
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub stdin: bool,
    /// Logging.
    pub log: LogConfig,
}

/// Spawns and finds shims under one exec root. Clones share one shim zygote
/// (see [`crate::zygote`]), which exits when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct ShimRunner {
    shim_binary: PathBuf,
    layout: Layout,
    zygote: Arc<Mutex<Option<Zygote>>>,
    use_zygote: bool,
}

impl ShimRunner {
    /// `shim_binary` is the `berth-shim` executable; `exec_root` e.g. `/run/berth`.
    pub fn new(shim_binary: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> ShimRunner {
        ShimRunner {
            shim_binary: shim_binary.into(),
            layout: Layout::new(exec_root),
            zygote: Arc::new(Mutex::new(None)),
            use_zygote: true,
        }
    }

    /// Exec a new shim for every container instead of forking them from a zygote
    /// (the fallback when a zygote cannot be started; for tests and comparisons).
    pub fn without_zygote(mut self) -> ShimRunner {
        self.use_zygote = false;
        self
    }

    /// The exec-root layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Start paying the cgroup-migration grace period now, on a blocking thread, so
    /// that the runtime's first cgroup move a few milliseconds later is fast (see
    /// [`crate::prime`]). [`ShimRunner::spawn`] does it too; calling it earlier in
    /// the start path hides more of the wait. Cheap and fire-and-forget.
    pub fn prime(&self) {
        prime_in_background();
    }

    /// Start a shim and create the container. Returns once the container is CREATED
    /// (not started) and the shim's socket accepts connections.
    pub async fn spawn(&self, opts: &SpawnOptions) -> Result<ShimHandle> {
        self.prime();
        let dir = self.layout.shim_dir(&opts.id);
        if dir.join(layout::CTL_SOCK).exists() && self.handle(&opts.id).hello().await.is_ok() {
            return Err(RuntimeError::Conflict(format!(
                "a shim for container {} is already running",
                opts.id
            )));
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| RuntimeError::io(format!("create {}", dir.display()), e))?;
        let cfg = ShimConfig {
            v: proto::VERSION,
            id: opts.id.clone(),
            bundle: opts.bundle.clone(),
            exec_root: self.layout.root().to_path_buf(),
            runtime: opts.runtime,
            runc_path: opts.runc_path.clone(),
            tty: opts.tty,
            stdin: opts.stdin,
            log: opts.log.clone(),
        };
        let data = serde_json::to_vec(&cfg).map_err(|e| RuntimeError::Shim(e.to_string()))?;
        layout::replace_file(&dir.join(layout::CONFIG_FILE), &data)
            .map_err(|e| RuntimeError::io(format!("write {}", dir.display()), e))?;
        let started = match self.use_zygote.then(|| self.fork_from_zygote(&dir)) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::debug!("shim zygote unavailable, exec'ing the shim: {e}");
                self.exec_shim(&dir)?
            }
            None => self.exec_shim(&dir)?,
        };
        // The answer is one line; the shim then goes on serving the container
        // (reaped by the zygote, or in the background here when exec'd; by init
        // if the daemon goes first).
        let (line, started) = started.ready_line().await;
        let resp: Option<Response> = serde_json::from_slice(&line).ok();
        match resp {
            Some(Response::Ok(_)) => {
                started.release();
                Ok(self.handle(&opts.id))
            }
            Some(Response::Err(e)) => {
                started.release();
                // The message already carries the runtime's own ERROR events (the
                // shim appends them), so the daemon logs and returns it as is.
                let _ = std::fs::remove_dir_all(&dir);
                Err(RuntimeError::Shim(e.message))
            }
            None => {
                let (status, stderr) = started.failure().await;
                // Before it redirects its stdio the shim reports on stderr; after
                // that it only has its log.
                let mut detail = stderr.trim().to_string();
                if detail.is_empty() {
                    let log =
                        std::fs::read_to_string(dir.join(layout::SHIM_LOG)).unwrap_or_default();
                    let lines: Vec<&str> = log.lines().collect();
                    detail = lines[lines.len().saturating_sub(3)..].join(" | ");
                }
                let _ = std::fs::remove_dir_all(&dir);
                Err(RuntimeError::Shim(format!(
                    "shim failed to start{status}: {detail}"
                )))
            }
        }
    }

    /// Have the zygote fork a shim for `dir` (starting the zygote first if there
    /// is none, or again if it died).
    fn fork_from_zygote(&self, dir: &Path) -> std::io::Result<Started> {
        let mut slot = self.zygote.lock().unwrap_or_else(|p| p.into_inner());
        // Close-on-exec pipes; the shim gets blocking write ends.
        let (out_w, out) = tokio::net::unix::pipe::pipe()?;
        let (err_w, err) = tokio::net::unix::pipe::pipe()?;
        let (out_w, err_w) = (out_w.into_blocking_fd()?, err_w.into_blocking_fd()?);
        if slot
            .as_ref()
            .is_some_and(|z| !z.runs_current(&self.shim_binary))
        {
            // The binary was replaced: new shims get the new code, as exec'd ones
            // would. Dropping our end lets the old zygote exit.
            tracing::info!("berth-shim changed on disk; starting a new shim zygote");
            *slot = None;
        }
        let mut tries = 0;
        loop {
            let z = match slot.as_ref() {
                Some(z) => z,
                None => slot.insert(Zygote::start(&self.shim_binary)?),
            };
            match z.fork_shim(dir, out_w.as_fd(), err_w.as_fd()) {
                Ok(()) => break,
                Err(e) if tries == 0 => {
                    tracing::debug!("shim zygote gone ({e}); starting another");
                    *slot = None;
                    tries += 1;
                }
                Err(e) => {
                    *slot = None;
                    return Err(e);
                }
            }
        }
        drop(slot);
        // Only the shim may hold the write ends, so that its exit ends our reads.
        drop((out_w, err_w));
        Ok(Started::Forked { out, err })
    }

    /// Start a shim by exec'ing the binary (when there is no zygote).
    fn exec_shim(&self, dir: &Path) -> Result<Started> {
        let child = tokio::process::Command::new(&self.shim_binary)
            .arg("start")
            .arg(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| RuntimeError::io(format!("run {}", self.shim_binary.display()), e))?;
        Ok(Started::Exec(child))
    }

    /// A handle for container `id`, without checking that its shim runs.
    pub fn handle(&self, id: &str) -> ShimHandle {
        ShimHandle {
            id: id.to_string(),
            dir: self.layout.shim_dir(id),
        }
    }

    /// Reconnect to the shim of `id` (after a daemon restart): checks that it answers
    /// and speaks our protocol.
    pub async fn connect(&self, id: &str) -> Result<ShimHandle> {
        let h = self.handle(id);
        let hello = h.hello().await?;
        if hello.version != proto::VERSION || hello.id != id {
            return Err(RuntimeError::Shim(format!(
                "shim of {id} speaks protocol {} for {}, expected {} for {id}",
                hello.version,
                hello.id,
                proto::VERSION
            )));
        }
        Ok(h)
    }

    /// Ids that have a shim directory (live shims, or dead ones that left an exit file).
    pub fn list(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.layout.shims_dir()) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect()
    }

    /// Install the static init binary for `--init` (once) and return its path, to be
    /// passed as [`crate::spec::ContainerSpec::init`].
    pub async fn ensure_init(&self) -> Result<PathBuf> {
        let path = self.layout.init_binary();
        if path.exists() {
            return Ok(path);
        }
        std::fs::create_dir_all(self.layout.root())
            .map_err(|e| RuntimeError::io(format!("create {}", self.layout.root().display()), e))?;
        let out = tokio::process::Command::new(&self.shim_binary)
            .arg("install-init")
            .arg(&path)
            .output()
            .await
            .map_err(|e| RuntimeError::io(format!("run {}", self.shim_binary.display()), e))?;
        if !out.status.success() {
            return Err(RuntimeError::Shim(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(path)
    }
}

/// [`crate::prime::prime_migration_lock`] on a blocking thread, if in a runtime.
fn prime_in_background() {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        drop(rt.spawn_blocking(crate::prime::prime_migration_lock));
    }
}

/// A connection target: one container's shim.
#[derive(Debug, Clone)]
pub struct ShimHandle {
    id: String,
    dir: PathBuf,
}

/// An attached stdio session.
#[derive(Debug)]
pub struct Attach {
    /// Bytes written here reach the process's stdin (when attached with `stdin`);
    /// `shutdown()` closes its stdin (half-close).
    pub stdin: OwnedWriteHalf,
    /// Output frames.
    pub output: AttachOutput,
}

/// The output side of an attach: stdcopy frames until EOF.
#[derive(Debug)]
pub struct AttachOutput {
    r: BufReader<OwnedReadHalf>,
}

impl AttachOutput {
    /// The next frame, or `None` at the end of the output.
    pub async fn next(&mut self) -> Result<Option<(StreamId, Bytes)>> {
        let mut h = [0u8; FRAME_HEADER];
        match self.r.read_exact(&mut h).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(RuntimeError::io("read attach stream", e)),
        }
        let (stream, len) =
            proto::parse_header(&h).ok_or_else(|| RuntimeError::Shim("bad frame header".into()))?;
        let mut buf = vec![0u8; len];
        self.r
            .read_exact(&mut buf)
            .await
            .map_err(|e| RuntimeError::io("read attach stream", e))?;
        Ok(Some((stream, Bytes::from(buf))))
    }

    /// The raw framed byte stream, for passing through to a Docker client unchanged
    /// (non-TTY attach uses the same stdcopy framing).
    pub fn into_raw(self) -> BufReader<OwnedReadHalf> {
        self.r
    }
}

fn map_err(e: proto::ErrorBody) -> RuntimeError {
    match e.kind {
        ErrorKindWire::Invalid => RuntimeError::Invalid(e.message),
        ErrorKindWire::NotFound => RuntimeError::NotFound(e.message),
        ErrorKindWire::Conflict => RuntimeError::Conflict(e.message),
        ErrorKindWire::Internal => RuntimeError::Shim(e.message),
    }
}

impl ShimHandle {
    /// Container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The shim's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn connect(&self) -> Result<UnixStream> {
        let sock = self.dir.join(layout::CTL_SOCK);
        let unreachable = |source| RuntimeError::Unreachable {
            id: self.id.clone(),
            source,
        };
        let (path, _keep) = layout::connect_path(&sock).map_err(unreachable)?;
        UnixStream::connect(&path).await.map_err(unreachable)
    }

    /// Send `op`; return the decoded `ok` payload and the connection (positioned after
    /// the response line).
    async fn call_raw(
        &self,
        op: Op,
    ) -> Result<(serde_json::Value, BufReader<OwnedReadHalf>, OwnedWriteHalf)> {
        let s = self.connect().await?;
        let (r, mut w) = s.into_split();
        let mut line = serde_json::to_vec(&Request {
            v: proto::VERSION,
            op,
        })
        .map_err(|e| RuntimeError::Shim(e.to_string()))?;
        line.push(b'\n');
        w.write_all(&line)
            .await
            .map_err(|e| RuntimeError::io("send to shim", e))?;
        let mut r = BufReader::new(r);
        let mut resp = Vec::new();
        r.read_until(b'\n', &mut resp)
            .await
            .map_err(|e| RuntimeError::io("read from shim", e))?;
        if resp.is_empty() {
            return Err(RuntimeError::Shim(format!(
                "shim of {} closed the connection",
                self.id
            )));
        }
        match serde_json::from_slice::<Response>(&resp) {
            Ok(Response::Ok(v)) => Ok((v, r, w)),
            Ok(Response::Err(e)) => Err(map_err(e)),
            Err(e) => Err(RuntimeError::Shim(format!("bad response: {e}"))),
        }
    }

    async fn call<T: DeserializeOwned>(&self, op: Op) -> Result<T> {
        let (v, _, _) = self.call_raw(op).await?;
        serde_json::from_value(v).map_err(|e| RuntimeError::Shim(format!("bad response: {e}")))
    }

    /// Liveness and protocol version.
    pub async fn hello(&self) -> Result<Hello> {
        self.call(Op::Hello).await
    }

    /// The container's state.
    pub async fn state(&self) -> Result<State> {
        self.call(Op::State).await
    }

    /// Start the created container.
    pub async fn start(&self) -> Result<()> {
        self.call::<serde_json::Value>(Op::Start).await.map(|_| ())
    }

    /// Attach to the container's (or an exec's) stdio. Works before `start` too,
    /// which is how `docker run` attaches without losing output.
    pub async fn attach(&self, req: AttachReq) -> Result<Attach> {
        let (_, r, w) = self.call_raw(Op::Attach(req)).await?;
        Ok(Attach {
            stdin: w,
            output: AttachOutput { r },
        })
    }

    /// Resize the container's (or an exec's) TTY.
    pub async fn resize(&self, exec_id: Option<&str>, width: u16, height: u16) -> Result<()> {
        self.call::<serde_json::Value>(Op::Resize {
            exec_id: exec_id.map(str::to_string),
            width,
            height,
        })
        .await
        .map(|_| ())
    }

    /// Send `signal` to the container's init (or an exec).
    pub async fn kill(&self, exec_id: Option<&str>, signal: i32) -> Result<()> {
        self.call::<serde_json::Value>(Op::Kill {
            exec_id: exec_id.map(str::to_string),
            signal,
        })
        .await
        .map(|_| ())
    }

    /// Wait for the container to exit. If the shim is gone, the exit file answers.
    pub async fn wait(&self) -> Result<ExitStatus> {
        match self.call(Op::Wait { exec_id: None }).await {
            Err(e @ RuntimeError::Unreachable { .. }) => self.exit_status().ok_or(e),
            Err(RuntimeError::Io { .. }) | Err(RuntimeError::Shim(_))
                if self.exit_status().is_some() =>
            {
                self.exit_status()
                    .ok_or_else(|| RuntimeError::Shim("no exit status".into()))
            }
            r => r,
        }
    }

    /// Wait for an exec to exit.
    pub async fn wait_exec(&self, exec_id: &str) -> Result<ExitStatus> {
        self.call(Op::Wait {
            exec_id: Some(exec_id.to_string()),
        })
        .await
    }

    /// Start a process in the running container. With `req.attach` the returned
    /// [`Attach`] carries its stdio (output ends when the process's output does).
    pub async fn exec(&self, req: ExecReq) -> Result<(ExecStarted, Option<Attach>)> {
        // The runtime moves the new process into the container's cgroups.
        prime_in_background();
        let attach = req.attach;
        let (v, r, w) = self.call_raw(Op::Exec(req)).await?;
        let started: ExecStarted =
            serde_json::from_value(v).map_err(|e| RuntimeError::Shim(e.to_string()))?;
        Ok((
            started,
            attach.then(|| Attach {
                stdin: w,
                output: AttachOutput { r },
            }),
        ))
    }

    /// Freeze the container.
    pub async fn pause(&self) -> Result<()> {
        self.call::<serde_json::Value>(Op::Pause).await.map(|_| ())
    }

    /// Thaw the container.
    pub async fn resume(&self) -> Result<()> {
        self.call::<serde_json::Value>(Op::Resume).await.map(|_| ())
    }

    /// Delete the container's runtime state and cgroups; the shim exits and removes its
    /// directory. With `force` a running container is killed first. If the shim is
    /// already gone, only its directory is removed (best effort).
    pub async fn delete(&self, force: bool) -> Result<()> {
        match self.call::<serde_json::Value>(Op::Delete { force }).await {
            Ok(_) => Ok(()),
            Err(RuntimeError::Unreachable { .. }) => {
                let _ = std::fs::remove_dir_all(&self.dir);
                Ok(())
            }
            Err(RuntimeError::Io { .. }) if !self.dir.exists() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The exit file, if the container has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let data = std::fs::read(self.dir.join(layout::EXIT_FILE)).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// The shim's pid from its pid file.
    pub fn shim_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join(layout::PID_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}
