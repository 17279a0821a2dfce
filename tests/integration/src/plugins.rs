//! Test plugins for berthd: the stdlib-only Python plugin in
//! `tests/plugins/testplugin.py` (network + IPAM, volume, authorization
//! drivers; fault switches), started per test in a private plugin directory
//! tree that the daemon is pointed at with `--plugin-socket-dir` and
//! `--plugin-spec-dir`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private plugin directory tree: `run/` for sockets, `etc/` for specs.
pub struct PluginDirs {
    /// Holds everything.
    pub dir: tempfile::TempDir,
}

impl PluginDirs {
    /// A fresh tree.
    pub fn new() -> PluginDirs {
        let dir = tempfile::Builder::new()
            .prefix("bplug")
            .tempdir_in("/tmp")
            .expect("tempdir");
        for d in ["run", "etc", "sockets"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("plugin dir");
        }
        PluginDirs { dir }
    }

    /// The socket directory.
    pub fn run(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The spec directory.
    pub fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Daemon flags pointing at this tree, with short time limits.
    pub fn daemon_flags(&self, call_timeout: &str, retry_timeout: &str) -> Vec<String> {
        vec![
            "--plugin-socket-dir".into(),
            self.run().display().to_string(),
            "--plugin-spec-dir".into(),
            self.etc().display().to_string(),
            "--plugin-call-timeout".into(),
            call_timeout.into(),
            "--plugin-retry-timeout".into(),
            retry_timeout.into(),
        ]
    }
}

impl Default for PluginDirs {
    fn default() -> Self {
        Self::new()
    }
}

/// How a plugin is discovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `run/<name>.sock`.
    Sock,
    /// `etc/<name>.spec` with `unix://` (the socket lives outside the socket dir).
    UnixSpec,
    /// `etc/<name>.spec` with `tcp://127.0.0.1:<port>`.
    TcpSpec,
    /// `etc/<name>.json` with `Addr`.
    Json,
}

/// A running test plugin; killed on drop.
pub struct TestPlugin {
    /// Its name.
    pub name: String,
    /// Its call log (JSON lines).
    pub log: PathBuf,
    /// Where its volumes live (volume plugins).
    pub volume_root: PathBuf,
    /// Its unix socket, if it has one.
    pub sock: Option<PathBuf>,
    child: Option<Child>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/testplugin.py")
}

impl TestPlugin {
    /// Start plugin `name` of `kinds` (`net`, `volume`, `authz`) with `extra` flags.
    pub fn start(
        dirs: &PluginDirs,
        name: &str,
        kinds: &[&str],
        how: Discovery,
        extra: &[&str],
    ) -> TestPlugin {
        let base = dirs.dir.path();
        let log = base.join(format!("{name}.log"));
        let volume_root = base.join(format!("{name}-volumes"));
        let ready = base.join(format!("{name}.ready"));
        let _ = std::fs::remove_file(&ready);
        let mut c = Command::new("python3");
        c.arg(script()).args(["--name", name]);
        for k in kinds {
            c.args(["--kind", k]);
        }
        c.arg("--log")
            .arg(&log)
            .arg("--volume-root")
            .arg(&volume_root)
            .arg("--ready")
            .arg(&ready);
        let mut sock = None;
        match how {
            Discovery::Sock => {
                let s = dirs.run().join(format!("{name}.sock"));
                c.arg("--sock").arg(&s);
                sock = Some(s);
            }
            Discovery::UnixSpec => {
                let s = base.join("sockets").join(format!("{name}.sock"));
                c.arg("--sock")
                    .arg(&s)
                    .arg("--spec")
                    .arg(dirs.etc().join(format!("{name}.spec")));
                sock = Some(s);
            }
            Discovery::TcpSpec => {
                c.arg("--tcp")
                    .arg("--spec")
                    .arg(dirs.etc().join(format!("{name}.spec")));
            }
            Discovery::Json => {
                let s = base.join("sockets").join(format!("{name}.sock"));
                c.arg("--sock")
                    .arg(&s)
                    .arg("--json")
                    .arg(dirs.etc().join(format!("{name}.json")));
                sock = Some(s);
            }
        }
        c.args(extra).stdin(Stdio::null()).stdout(Stdio::null());
        let mut child = c.spawn().expect("spawn test plugin");
        for _ in 0..1000 {
            if ready.exists() {
                return TestPlugin {
                    name: name.to_string(),
                    log,
                    volume_root,
                    sock,
                    child: Some(child),
                };
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!("test plugin {name} exited: {st}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("test plugin {name} did not start");
    }

    /// The calls so far: (method, body).
    pub fn calls(&self) -> Vec<(String, serde_json::Value)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                (
                    v["method"].as_str().unwrap_or_default().to_string(),
                    v["body"].clone(),
                )
            })
            .collect()
    }

    /// Full log entries (method, body, headers).
    pub fn entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Wait until `method` has been called (up to 30 s).
    pub fn wait_for_call(&self, method: &str) {
        for _ in 0..3000 {
            if self.calls().iter().any(|(m, _)| m == method) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("plugin {} never got {method}", self.name);
    }

    /// Kill it (a crash: the socket file stays behind).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TestPlugin {
    fn drop(&mut self) {
        self.kill();
    }
}
