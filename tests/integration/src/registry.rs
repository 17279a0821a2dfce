//! A real registry for tests: Debian's `docker-registry` (CNCF distribution
//! 2.8) on a free 127.0.0.1 port with storage in a temp dir, optionally behind
//! htpasswd Basic auth. Stopped (by its pid) on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct Registry {
    /// Temp dir with config, storage, log.
    pub dir: tempfile::TempDir,
    /// Port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Registry {
    /// An open registry.
    pub fn start() -> Registry {
        Self::spawn(None)
    }

    /// A registry requiring `user`/`password` (htpasswd, bcrypt).
    pub fn start_htpasswd(user: &str, password: &str) -> Registry {
        Self::spawn(Some((user, password)))
    }

    fn spawn(auth: Option<(&str, &str)>) -> Registry {
        let mut dir = tempfile::Builder::new()
            .prefix("berth-reg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let mut auth_cfg = String::new();
        if let Some((u, p)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .expect("run htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            auth_cfg = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            );
        }
        for _ in 0..5 {
            let port = free_port();
            let cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n{auth_cfg}",
                storage.display()
            );
            let cfg_path = dir.path().join("config.yml");
            std::fs::write(&cfg_path, cfg).expect("write registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            let mut r = Registry {
                dir,
                port,
                child: Some(child),
            };
            if r.wait_ready() {
                return r;
            }
            r.stop();
            dir = r.take_dir();
        }
        panic!("docker-registry did not start");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.child = None;
        let empty = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, empty)
    }

    fn wait_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                return false;
            }
            if let Some(code) = http_status(self.port, "/v2/")
                && (code == 200 || code == 401)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where blobs are stored (to inspect or corrupt).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Stop the registry.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Status of `GET path` on 127.0.0.1:port, if it answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .get(9..12)?
        .parse()
        .ok()
}
