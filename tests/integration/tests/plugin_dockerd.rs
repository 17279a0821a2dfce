//! berth's network service as a remote driver for stock Docker: the Debian
//! `dockerd` (package docker.io, 20.10) uses `berthd network-plugin serve` as
//! its network driver and IPAM, and two containers on that network reach
//! each other by address.
//!
//! The test starts its own dockerd (`--iptables=false`, `--bridge=none`, vfs,
//! private data root, exec root, pid file, socket and config) and never talks
//! to any other. Stock dockerd only looks for plugins in
//! `/run/docker/plugins`, so the plugin socket goes there under a name unique
//! to this test process, and is removed afterwards. Skipped (with the
//! reason) when dockerd is not installed; scripts/deps.sh installs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use berth_integration::{SubnetLease, bin, fixtures};

struct Stock {
    dir: tempfile::TempDir,
    sock: PathBuf,
    plugin_sock: PathBuf,
    dockerd: Option<Child>,
    plugin: Option<Child>,
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

fn stop(c: &mut Option<Child>) {
    if let Some(mut c) = c.take() {
        // SAFETY: kill(2) on a child we spawned; no memory effects.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        for _ in 0..300 {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Stock {
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}\ndockerd log tail:\n{}\nplugin log tail:\n{}",
            String::from_utf8_lossy(&o.stderr),
            berth_integration::tail(&self.log("dockerd.log"), 30),
            berth_integration::tail(&self.log("plugin.log"), 30),
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn log(&self, f: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default()
    }
}

impl Drop for Stock {
    fn drop(&mut self) {
        if self.dockerd.is_some() {
            let _ = self.docker(&["rm", "-f", "pa", "pb"]);
            let _ = self.docker(&["network", "rm", "pnet"]);
        }
        stop(&mut self.dockerd);
        stop(&mut self.plugin);
        let _ = std::fs::remove_file(&self.plugin_sock);
        // Whatever dockerd left mounted under its roots.
        let root = self.dir.path().to_string_lossy().to_string();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

#[test]
fn stock_dockerd_uses_berths_network_plugin() {
    let Some(dockerd) = which("dockerd") else {
        eprintln!(
            "SKIPPED: dockerd (Debian package docker.io) is not installed; scripts/deps.sh installs it"
        );
        return;
    };
    let lease = SubnetLease::acquire();
    let n = lease.n;
    let dir = tempfile::Builder::new()
        .prefix("bdkd")
        .tempdir_in("/tmp")
        .unwrap();
    let name = format!("berthtest{}", std::process::id());
    let plugin_sock = Path::new("/run/docker/plugins").join(format!("{name}.sock"));
    let mut s = Stock {
        sock: dir.path().join("docker.sock"),
        plugin_sock: plugin_sock.clone(),
        dir,
        dockerd: None,
        plugin: None,
    };
    let d = s.dir.path().to_path_buf();
    let file = |f: &str| std::fs::File::create(d.join(f)).unwrap();

    // The plugin: berth's bridge driver and IPAM over the protocol.
    s.plugin = Some(
        Command::new(bin("berthd"))
            .args(["network-plugin", "serve", "--socket"])
            .arg(&plugin_sock)
            .args([
                "--iptables=false",
                "--default-address-pool",
                &format!("base=10.{n}.128.0/17,size=24"),
            ])
            .stdin(Stdio::null())
            .stdout(file("plugin.log"))
            .stderr(file("plugin.log"))
            .spawn()
            .unwrap(),
    );
    for _ in 0..500 {
        if plugin_sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        plugin_sock.exists(),
        "plugin socket missing:\n{}",
        s.log("plugin.log")
    );

    // Our own dockerd, touching nothing of the host's Docker (if any).
    std::fs::write(
        d.join("daemon.json"),
        format!(
            r#"{{"deprecated-key-path": "{}"}}"#,
            d.join("key.json").display()
        ),
    )
    .unwrap();
    s.dockerd = Some(
        Command::new(dockerd)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", s.sock.display()))
            .stdin(Stdio::null())
            .stdout(file("dockerd.log"))
            .stderr(file("dockerd.log"))
            .spawn()
            .unwrap(),
    );
    let mut up = false;
    for _ in 0..600 {
        if s.docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success()
        {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "dockerd did not come up:\n{}", s.log("dockerd.log"));
    let tar = fixtures::busybox_tar();
    s.ok(&["load", "-q", "-i", tar.to_str().unwrap()]);

    s.ok(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        "--subnet",
        &format!("10.{n}.200.0/24"),
        "pnet",
    ]);
    let inspect = s.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Driver}} {{.IPAM.Driver}}",
        "pnet",
    ]);
    assert_eq!(inspect.trim(), format!("{name} {name}"));
    s.ok(&[
        "run",
        "-d",
        "--name",
        "pa",
        "--network",
        "pnet",
        "busybox",
        "sleep",
        "300",
    ]);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "pb",
        "--network",
        "pnet",
        "busybox",
        "sleep",
        "300",
    ]);
    let ip = |c: &str| {
        s.ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            c,
        ])
        .trim()
        .to_string()
    };
    let (ipa, ipb) = (ip("pa"), ip("pb"));
    assert!(
        ipa.starts_with(&format!("10.{n}.200.")) && ipb.starts_with(&format!("10.{n}.200.")),
        "{ipa} {ipb}"
    );
    s.ok(&["exec", "pa", "ping", "-c1", "-W5", &ipb]);
    s.ok(&["exec", "pb", "ping", "-c1", "-W5", &ipa]);
    let route = s.ok(&["exec", "pa", "ip", "route"]);
    assert!(
        route.contains(&format!("default via 10.{n}.200.1 dev eth0")),
        "{route}"
    );

    // Teardown through dockerd: endpoints, then the network (its bridge goes).
    s.ok(&["rm", "-f", "pa", "pb"]);
    s.ok(&["network", "rm", "pnet"]);
}
