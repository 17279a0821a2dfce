//! Test harness: every test runs the whole controller inside a throwaway
//! "host" network namespace it creates, so bridges, veths, the nftables table,
//! sysctls and port reservations never touch the real host. Containers are
//! sandboxes (namespaces) with busybox commands run in them via `nsenter`.
//! DNS forwarding goes to a fake upstream inside that host namespace.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use berth_core::store::Store;
use berth_network::config::NetworkConfig;
use berth_network::controller::Controller;
use berth_network::model::{EndpointRequest, NetworkCreate, SandboxRequest, SandboxView};
use berth_network::nl::Nl;
use berth_network::ns::{self, HostNs};

/// Port of the fake upstream resolver (on 127.0.0.1 in the host namespace).
pub const UPSTREAM_PORT: u16 = 5353;
/// What the fake upstream answers for any `*.example` name.
pub const UPSTREAM_ANSWER: [u8; 4] = [192, 0, 2, 99];

pub struct Env {
    pub dir: tempfile::TempDir,
    pub host: PathBuf,
    pub store: Arc<Store>,
    pub ctl: Option<Arc<Controller>>,
    pub children: Vec<Child>,
}

impl Env {
    pub async fn new() -> Env {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut NetworkConfig)) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("bnet")
            .tempdir_in("/tmp")
            .unwrap();
        let host = dir.path().join("hostns");
        ns::create(&host, || Ok(())).unwrap();
        Nl::open_in(&host).unwrap().up(1).await.unwrap();
        fake_upstream(&host);
        let store = Arc::new(Store::open(&dir.path().join("meta.db")).unwrap());
        let mut env = Env {
            dir,
            host,
            store,
            ctl: None,
            children: Vec::new(),
        };
        let mut cfg = env.config();
        tweak(&mut cfg);
        env.ctl = Some(Controller::open(cfg, env.store.clone()).await.unwrap());
        env
    }

    pub fn config(&self) -> NetworkConfig {
        let mut cfg = NetworkConfig::new(self.dir.path().join("exec"));
        cfg.host = HostNs::Path(self.host.clone());
        cfg.dns_upstream = Some(vec![SocketAddr::from(([127, 0, 0, 1], UPSTREAM_PORT))]);
        cfg
    }

    pub fn ctl(&self) -> &Arc<Controller> {
        self.ctl.as_ref().unwrap()
    }

    /// Drop the controller without any cleanup (what `kill -9` leaves) and open a new one.
    pub async fn reopen(&mut self) {
        self.ctl = None;
        // Let the runtime drop the old DNS servers' tasks and sockets.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.ctl = Some(
            Controller::open(self.config(), self.store.clone())
                .await
                .unwrap(),
        );
    }

    pub async fn network(&self, name: &str, subnet: &str) -> String {
        let mut req = NetworkCreate {
            name: name.into(),
            ..Default::default()
        };
        if !subnet.is_empty() {
            req.ipam_config = vec![berth_network::model::IpamConfigSpec {
                subnet: subnet.into(),
                ..Default::default()
            }];
        }
        self.ctl().create_network(req).await.unwrap().0.network.id
    }

    /// A "container": a sandbox joined to `networks`.
    pub async fn container(
        &self,
        name: &str,
        networks: &[(&str, EndpointRequest)],
        ports: &[(&str, &str, &str)],
    ) -> SandboxView {
        let id = berth_core::id::generate();
        let ports = ports
            .iter()
            .map(|(c, ip, hp)| berth_network::ports::PortBinding::parse(c, ip, hp).unwrap())
            .collect();
        let req = SandboxRequest {
            container_id: id.clone(),
            container_name: name.into(),
            ports,
            ..Default::default()
        };
        self.ctl().create_sandbox(req).await.unwrap();
        for (n, r) in networks {
            self.ctl().join(&id, n, r.clone()).await.unwrap();
        }
        self.ctl().sandbox(&id).await.unwrap()
    }

    /// Run `sh -c cmd` in a namespace.
    pub fn sh(&self, netns: &Path, cmd: &str) -> Output {
        Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["sh", "-c", cmd])
            .output()
            .unwrap()
    }

    /// Run `cmd` in a sandbox with its resolv.conf pointing at the embedded DNS
    /// (a private mount namespace bind-mounts it over /etc/resolv.conf).
    pub fn sh_resolv(&self, netns: &Path, cmd: &str) -> Output {
        let rc = self.dir.path().join("resolv.conf");
        std::fs::write(&rc, "nameserver 127.0.0.11\noptions ndots:0\n").unwrap();
        let inner = format!("mount --bind {} /etc/resolv.conf && {cmd}", rc.display());
        Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["unshare", "-m", "sh", "-c", &inner])
            .output()
            .unwrap()
    }

    pub fn ok(&self, netns: &Path, cmd: &str) -> String {
        let o = self.sh(netns, cmd);
        assert!(
            o.status.success(),
            "{cmd}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// busybox httpd on port 80 serving `body` as index.html.
    pub fn httpd(&mut self, netns: &Path, body: &str) {
        let www = self.dir.path().join(format!("www{}", self.children.len()));
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), body).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["busybox", "httpd", "-f", "-p", "80", "-h"])
            .arg(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        // httpd binds right away; wait until it answers.
        for _ in 0..100 {
            if self
                .sh(
                    netns,
                    "timeout 1 busybox wget -q -O- http://127.0.0.1/ >/dev/null 2>&1",
                )
                .status
                .success()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("httpd did not come up");
    }

    /// A UDP server on `port` of every address answering each datagram upper-cased.
    pub fn udp_echo(&mut self, netns: &Path, port: u16) {
        let py = format!(
            "import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
             s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
             s.bind(('::', {port}))\n\
             while True:\n    d, a = s.recvfrom(999)\n    s.sendto(d.upper(), a)\n"
        );
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["python3", "-c", &py])
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// Send `msg` by UDP to `ip:port` from `netns`; the answer, retried for a
    /// while (the server may still be starting).
    pub fn udp_ask(&self, netns: &Path, ip: &str, port: u16, msg: &str) -> Option<String> {
        let py = format!(
            "import socket\nf = socket.AF_INET6 if ':' in '{ip}' else socket.AF_INET\n\
             s = socket.socket(f, socket.SOCK_DGRAM)\ns.settimeout(0.2)\n\
             for _ in range(25):\n    s.sendto(b'{msg}', ('{ip}', {port}))\n    \
             try:\n        print(s.recv(999).decode(), end='')\n        break\n    \
             except (socket.timeout, ConnectionRefusedError):\n        pass\n"
        );
        let o = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["python3", "-c", &py])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        (o.status.success() && !out.is_empty()).then_some(out)
    }

    pub fn wget(&self, netns: &Path, url: &str) -> Option<String> {
        let o = self.sh(netns, &format!("timeout 5 busybox wget -q -O- {url}"));
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).to_string())
    }

    pub fn ping(&self, netns: &Path, ip: &str) -> bool {
        self.sh(netns, &format!("busybox ping -c1 -W1 {ip} >/dev/null 2>&1"))
            .status
            .success()
    }

    /// Can a TCP socket bind `ip:port` in `netns` (an IPv6 one v6-only)?
    pub fn can_bind(&self, netns: &Path, ip: &str, port: u16) -> bool {
        let py = format!(
            "import socket; f = socket.AF_INET6 if ':' in '{ip}' else socket.AF_INET; \
             s = socket.socket(f); \
             f == socket.AF_INET6 and s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); \
             s.bind(('{ip}', {port}))"
        );
        let o = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["python3", "-c", &py])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() || err.contains("Address already in use"),
            "bind {ip}:{port}: {err}"
        );
        o.status.success()
    }

    /// Links of the host namespace.
    pub fn host_links(&self) -> String {
        String::from_utf8_lossy(&self.sh(&self.host, "ip -o link show").stdout).to_string()
    }

    /// `nft list table inet berth` in the host namespace.
    pub fn nft(&self) -> String {
        String::from_utf8_lossy(&self.sh(&self.host, "nft list table inet berth").stdout)
            .to_string()
    }

    pub fn netns_files(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join("exec/netns"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.ctl = None;
        for f in self.netns_files() {
            let _ = ns::remove(&self.dir.path().join("exec/netns").join(f));
        }
        let _ = ns::remove(&self.host);
    }
}

/// IPv4 address of a sandbox's endpoint on a network.
pub fn ip_on(sb: &SandboxView, network_name: &str) -> String {
    sb.endpoints
        .iter()
        .find(|e| e.network_name == network_name)
        .and_then(|e| e.endpoint.iface.address)
        .map(|a| a.addr().to_string())
        .unwrap()
}

/// A fake resolver on 127.0.0.1:5353 in the host namespace: `*.example` → 192.0.2.99, else NXDOMAIN.
fn fake_upstream(host: &Path) {
    let sock = ns::run_in(host, || UdpSocket::bind(("127.0.0.1", UPSTREAM_PORT))).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n]) {
                let _ = sock.send_to(&reply, from);
            }
        }
    });
}

fn answer(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    // Walk the question name.
    let mut i = 12;
    let mut labels = Vec::new();
    while i < q.len() && q[i] != 0 {
        let l = q[i] as usize;
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + l)?).to_string());
        i += 1 + l;
    }
    let qend = i + 5; // zero byte + type + class
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let mut r = q[..qend.min(q.len())].to_vec();
    r[2] = 0x81; // QR, RD
    r[3] = 0x80; // RA
    r[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    let known = labels.last().is_some_and(|l| l == "example");
    if !known {
        r[3] |= 3; // NXDOMAIN
        return Some(r);
    }
    if qtype == 1 {
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&UPSTREAM_ANSWER);
    }
    Some(r)
}
