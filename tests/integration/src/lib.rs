//! Test harness for berth's end-to-end tests.
//!
//! [`Daemon::start`] runs a real `berthd` on a private data root, exec root and
//! socket, waits until `/_ping` answers, and stops it on drop. Tests drive it
//! with the real docker CLI ([`Daemon::docker`]), the berth CLI
//! ([`Daemon::berth`]) and bollard ([`Daemon::bollard`]).
//!
//! The binaries are taken from the cargo target dir this test was built into
//! (build them first: `cargo build --workspace --bins`), or from `BERTH_BIN_DIR`.

// Test-support code: a failed setup step should panic with its message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod fixtures;
pub mod http;
pub mod images;
pub mod plugins;
pub mod registry;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Directory holding berthd, berth and the other built binaries.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BERTH_BIN_DIR") {
        return PathBuf::from(d);
    }
    // <target>/<profile>/deps/<test-binary>
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir");
    let profile = if deps.ends_with("deps") {
        deps.parent().expect("profile dir")
    } else {
        deps
    };
    profile.to_path_buf()
}

/// Path of a built binary.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not built; run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// A running berthd for one test.
pub struct Daemon {
    /// Temp dir holding everything of this daemon.
    pub dir: tempfile::TempDir,
    /// `--data-root`.
    pub data_root: PathBuf,
    /// `--exec-root`.
    pub exec_root: PathBuf,
    /// API socket.
    pub sock: PathBuf,
    /// `DOCKER_CONFIG` for CLI calls (so the host's docker config never interferes).
    pub docker_config: PathBuf,
    /// Extra flags the daemon was started with (kept for restarts).
    pub extra_args: Vec<String>,
    /// This daemon's private address block (see [`SubnetLease`]).
    pub subnets: SubnetLease,
    child: Option<Child>,
    /// The host's account files as they were when this daemon started.
    host_files: HostFiles,
}

/// A guard against a container ever writing through to the host: the host's
/// account files are compared when a test's daemon goes away (a previous
/// session once found the host's /etc/group replaced by a test image's),
/// restored if they changed, and the test fails.
struct HostFiles(Vec<(PathBuf, Option<Vec<u8>>)>);

impl HostFiles {
    fn snapshot() -> HostFiles {
        HostFiles(
            ["/etc/passwd", "/etc/group", "/etc/shadow"]
                .iter()
                .map(|p| (PathBuf::from(p), std::fs::read(p).ok()))
                .collect(),
        )
    }

    /// Paths that changed (restored as they were).
    fn changed_and_restore(&self) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        for (p, was) in &self.0 {
            let now = std::fs::read(p).ok();
            if now != *was {
                changed.push(p.clone());
                if let Some(data) = was {
                    let _ = std::fs::write(p, data);
                }
            }
        }
        changed
    }
}

/// A per-daemon address block, so daemons of tests running in parallel never
/// pick the same bridge or network subnets: `10.N.0.0/16` with N leased through
/// an flock'ed file in /tmp for as long as the daemon lives.
pub struct SubnetLease {
    /// The second octet.
    pub n: u8,
    _lock: std::fs::File,
}

impl SubnetLease {
    /// Lease a block (also for engines other than berthd that a test starts).
    pub fn acquire() -> SubnetLease {
        let dir = std::path::Path::new("/tmp/berth-test-subnets");
        std::fs::create_dir_all(dir).expect("lease dir");
        loop {
            for n in 100u8..=199 {
                let f = std::fs::File::create(dir.join(format!("{n}.lock"))).expect("lease file");
                if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                    .is_ok()
                {
                    return SubnetLease { n, _lock: f };
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `--bip` for the default bridge: `10.N.0.1/24`.
    pub fn bip(&self) -> String {
        format!("10.{}.0.1/24", self.n)
    }

    /// Pool for user networks: `base=10.N.64.0/18,size=24`.
    pub fn pool(&self) -> String {
        format!("base=10.{}.64.0/18,size=24", self.n)
    }
}

impl Daemon {
    /// Start a daemon with default flags.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Start a daemon with extra flags.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("bt")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let data_root = dir.path().join("data");
        let exec_root = dir.path().join("exec");
        let sock = dir.path().join("api.sock");
        let docker_config = dir.path().join("docker-config");
        std::fs::create_dir_all(&docker_config).expect("docker config dir");
        let mut d = Daemon {
            dir,
            data_root,
            exec_root,
            sock,
            docker_config,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            subnets: SubnetLease::acquire(),
            child: None,
            host_files: HostFiles::snapshot(),
        };
        d.spawn();
        d
    }

    /// The daemon's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("berthd.log")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Start (or restart) the berthd process and wait for `/_ping`.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(bin("berthd"))
            .arg("--config-file")
            .arg("/dev/null")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--debug")
            .arg("--bip")
            .arg(self.subnets.bip())
            .arg("--default-address-pool")
            .arg(self.subnets.pool())
            // Plugins only from this daemon's own directories, never the host's
            // (/run/docker/plugins, /etc/docker/plugins): tests add theirs with more of these flags.
            .arg("--plugin-socket-dir")
            .arg(self.dir.path().join("plugins"))
            .arg("--plugin-spec-dir")
            .arg(self.dir.path().join("plugin-specs"))
            .args(&self.extra_args)
            .env("BERTH_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log clone"))
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(20));
    }

    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            if ping(&self.sock) {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("berthd exited early ({status}):\n{}", self.log());
            }
            if start.elapsed() > limit {
                panic!(
                    "berthd did not answer /_ping within {limit:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("daemon running")
    }

    /// `unix://<sock>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// A docker CLI command pointed at this daemon.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION");
        c
    }

    /// Run the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// Run docker and return stdout; panic with the output when it fails.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log tail:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 40)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A berth CLI command pointed at this daemon.
    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("berth"));
        c.args(args)
            .env("BERTH_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config);
        c
    }

    /// Run the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// A bollard client on this daemon's socket.
    pub fn bollard(&self) -> bollard::Docker {
        bollard::Docker::connect_with_unix(
            &self.sock.display().to_string(),
            60,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("bollard connect")
    }

    /// Send a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    /// SIGTERM and wait; returns how long the exit took.
    pub fn stop(&mut self) -> Duration {
        let start = Instant::now();
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in `signal`.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
        start.elapsed()
    }

    /// SIGKILL and wait (a crash).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop (SIGTERM) and start again on the same roots.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Is the process still alive?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Raw HTTP/1.1 request on the socket; returns (status, headers+body text).
    pub fn raw(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        raw_request(&self.sock, method, path, body)
    }
}

impl Daemon {
    /// Start a daemon and load the busybox fixture (`busybox`, `bb`, `alpine:3.10`, `alpine`).
    pub fn with_busybox() -> Daemon {
        let d = Daemon::start();
        d.load_busybox();
        d
    }

    /// Load the busybox fixture into this daemon.
    pub fn load_busybox(&self) {
        let tar = fixtures::busybox_tar();
        self.docker_ok(&["load", "-q", "-i", tar.to_str().expect("utf-8 path")]);
    }

    /// Remove every container (force, with volumes) through the API.
    pub fn remove_all_containers(&self) {
        let (status, body) = self.raw("GET", "/containers/json?all=1", None);
        if status != 200 {
            return;
        }
        let json = body.split("\r\n\r\n").nth(1).unwrap_or("[]");
        let json = json
            .lines()
            .find(|l| l.trim_start().starts_with('['))
            .unwrap_or("[]");
        let list: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        for c in list.as_array().into_iter().flatten() {
            if let Some(id) = c["Id"].as_str() {
                self.raw("DELETE", &format!("/containers/{id}?force=1&v=1"), None);
            }
        }
    }

    /// Kill leftover shims of this daemon and unmount what is left under its
    /// directory (containers outlive berthd by design; tests must not leak them).
    fn sweep(&self) {
        let root = self.dir.path().to_string_lossy().to_string();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd);
                if cmd.contains("berth-shim") && cmd.contains(&root) {
                    // SAFETY: kill(2) on a pid we just read; no memory effects.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .map(str::to_string)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = rustix::mount::unmount(p.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_running() {
            self.remove_all_containers();
        }
        self.stop();
        self.sweep();
        let changed = self.host_files.changed_and_restore();
        if !changed.is_empty() && !std::thread::panicking() {
            panic!("the host's {changed:?} changed while this test ran (restored)");
        }
    }
}

fn ping(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    use std::io::Write;
    if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

/// Send one HTTP/1.1 request over a unix socket and read the whole response.
pub fn raw_request(sock: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    use std::io::Write;
    let mut s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// stdout of a command as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of a command as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
