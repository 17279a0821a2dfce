//! The network service end to end (issue 5) with the real docker CLI: DNS by
//! name and alias on user networks, isolation between networks, published
//! ports from the host's loopback, live connect/disconnect, restarts (clean
//! and kill -9), teardown leaving nothing behind, and bad input.
//!
//! All traffic stays on loopback or inside the namespaces berthd creates.

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use berth_integration::{Daemon, stderr};

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http_get_at(std::net::Ipv4Addr::LOCALHOST.into(), port, path)
}

fn http_get_at(ip: std::net::IpAddr, port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Our daemon's bridge and table suffix (a hash of the exec root, as the network service names them).
fn berth_links() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap_or(n).to_string())
        })
        .collect()
}

#[test]
fn user_network_dns_aliases_and_isolation() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["network", "create", "front"]);
    d.docker_ok(&["network", "create", "back"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "back",
        "bb",
        "sleep",
        "1000",
    ]);
    let out = d.docker_ok(&[
        "run", "--rm", "--network", "front", "bb", "sh", "-c",
        "ping -c1 -W2 web >/dev/null && echo ping-name; ping -c1 -W2 www >/dev/null && echo ping-alias; \
         nslookup www 127.0.0.11 >/dev/null && echo dns-alias; timeout 5 wget -qO- http://www/hostname",
    ]);
    let web_id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "web"]);
    assert!(
        out.contains("ping-name") && out.contains("ping-alias") && out.contains("dns-alias"),
        "{out}"
    );
    assert!(out.contains(&web_id[..12]), "{out}");
    // A container on another network resolves nothing of `front` and cannot reach it.
    let web_ip = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.front.IPAddress}}",
        "web",
    ]);
    let web_ip = web_ip.trim();
    assert!(!web_ip.is_empty());
    let out = d.docker(&[
        "exec",
        "db",
        "sh",
        "-c",
        &format!("nslookup web 127.0.0.11 || true; ping -c1 -W1 {web_ip}"),
    ]);
    assert!(
        !out.status.success(),
        "isolation broken: {}",
        berth_integration::stdout(&out)
    );
    // Names are live: a removed container stops resolving.
    d.docker_ok(&["rm", "-f", "web"]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "front",
        "bb",
        "nslookup",
        "web",
        "127.0.0.11",
    ]);
    assert!(!out.status.success());
}

#[test]
fn published_ports_and_docker_port() {
    let d = Daemon::with_busybox();
    let port = free_port();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pub",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    assert!(eventually(Duration::from_secs(10), || http_get(
        port,
        "/hostname"
    )
    .is_some_and(|r| r.contains("200 OK"))));
    d.docker_ok(&[
        "run", "-d", "--name", "eph", "-p", "80", "bb", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let mapping = d.docker_ok(&["port", "eph", "80"]);
    let host_port: u16 = mapping
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(host_port > 0);
    // As Docker lists it: every IPv4 and IPv6 address, one host port.
    assert_eq!(
        mapping,
        format!("0.0.0.0:{host_port}\n[::]:{host_port}\n"),
        "{mapping}"
    );
    assert!(eventually(Duration::from_secs(10), || http_get(
        host_port,
        "/hostname"
    )
    .is_some_and(|r| r.contains("200 OK"))));
    // [::1] reaches the IPv4-only container through the userland proxy.
    let v6 = http_get_at(std::net::Ipv6Addr::LOCALHOST.into(), host_port, "/hostname");
    assert!(
        v6.as_deref().is_some_and(|r| r.contains("200 OK")),
        "{v6:?}"
    );
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // The same host port cannot be taken twice.
    let out = d.docker(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "bb",
        "sleep",
        "10",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already allocated"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn connect_and_disconnect_live() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["network", "create", "extra"]);
    d.docker_ok(&["run", "-d", "--name", "cx", "bb", "sleep", "1000"]);
    assert!(
        !d.docker_ok(&["exec", "cx", "cat", "/proc/net/dev"])
            .contains("eth1")
    );
    d.docker_ok(&["network", "connect", "--alias", "other", "extra", "cx"]);
    assert!(
        d.docker_ok(&["exec", "cx", "cat", "/proc/net/dev"])
            .contains("eth1")
    );
    let nets = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "cx",
    ]);
    assert!(nets.contains("extra") && nets.contains("bridge"), "{nets}");
    d.docker_ok(&["network", "disconnect", "extra", "cx"]);
    assert!(
        !d.docker_ok(&["exec", "cx", "cat", "/proc/net/dev"])
            .contains("eth1")
    );
    let out = d.docker(&["network", "rm", "bridge"]);
    assert!(!out.status.success());
}

#[test]
fn restarts_keep_networking_and_teardown_leaves_nothing() {
    let mut d = Daemon::with_busybox();
    let port = free_port();
    d.docker_ok(&["network", "create", "app"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "app",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--network",
        "app",
        "bb",
        "sleep",
        "1000",
    ]);
    let check = |d: &Daemon| {
        assert!(
            eventually(Duration::from_secs(10), || http_get(port, "/hostname")
                .is_some_and(|r| r.contains("200 OK"))),
            "published port lost"
        );
        let out = d.docker(&[
            "exec",
            "cli",
            "sh",
            "-c",
            "timeout 5 wget -qO- http://srv/hostname",
        ]);
        assert!(
            out.status.success(),
            "dns/connectivity lost: {}",
            stderr(&out)
        );
    };
    check(&d);
    d.restart();
    check(&d);
    d.kill9();
    d.spawn();
    check(&d);
    // Remove everything: no namespaces, no links of this daemon, an empty table.
    d.remove_all_containers();
    d.docker_ok(&["network", "rm", "app"]);
    let netns = d.exec_root.join("netns");
    assert!(eventually(Duration::from_secs(15), || std::fs::read_dir(
        &netns
    )
    .map(|r| r.count() == 0)
    .unwrap_or(true)));
    let exec = d.exec_root.display().to_string();
    let _ = exec;
    assert!(
        eventually(Duration::from_secs(15), || !berth_links()
            .iter()
            .any(|l| l.starts_with("veth"))),
        "{:?}",
        berth_links()
    );
}

#[test]
fn network_bad_input() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["network", "create", "--subnet", "10.77.0.0/24", "n1"]);
    let out = d.docker(&["network", "create", "--subnet", "10.77.0.0/25", "n2"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("overlaps"), "{}", stderr(&out));
    let out = d.docker(&["network", "create", "n1"]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = d.docker(&["network", "inspect", "nosuchnet"]);
    assert!(!out.status.success());
    let (status, _) = d.raw("GET", "/networks/nosuchnet", None);
    assert_eq!(status, 404);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--ip",
        "10.99.0.5",
        "bb",
        "true",
    ]);
    assert!(!out.status.success());
    let (status, body) = d.raw(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"bb","HostConfig":{"NetworkMode":"n1"},"NetworkingConfig":{"EndpointsConfig":{"n1":{"IPAMConfig":{"IPv4Address":"10.99.0.5"}}}}}"#),
    );
    assert_eq!(status, 400, "{body}");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "inuse",
        "--network",
        "n1",
        "bb",
        "sleep",
        "100",
    ]);
    let out = d.docker(&["network", "rm", "n1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("active endpoints"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "--network", "nosuchnet", "bb", "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    // A static address inside the subnet works.
    let ip = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--ip",
        "10.77.0.50",
        "bb",
        "sh",
        "-c",
        "ip addr show eth0 | grep -o 10.77.0.50",
    ]);
    assert_eq!(ip.trim(), "10.77.0.50");
}

#[test]
fn host_and_none_modes() {
    let d = Daemon::with_busybox();
    let none = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "cat",
        "/proc/net/dev",
    ]);
    assert!(none.contains("lo:") && !none.contains("eth0"), "{none}");
    let host = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "bb",
        "cat",
        "/proc/net/dev",
    ]);
    let mine = std::fs::read_to_string("/proc/net/dev").unwrap();
    let first_if = |s: &str| {
        s.lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap_or("").trim().to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert!(
        first_if(&mine).is_subset(&first_if(&host)) || first_if(&host).contains("eth0"),
        "{host}"
    );
    d.docker_ok(&["run", "-d", "--name", "base", "bb", "sleep", "100"]);
    let shared = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        "bb",
        "cat",
        "/proc/net/dev",
    ]);
    assert!(shared.contains("eth0"), "{shared}");
}

#[test]
fn ipv6_networks_give_addresses_routes_and_names() {
    let mut d = Daemon::with_busybox();
    // Unique-local subnets: the given one and, without --subnet, berth's default /48.
    d.docker_ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd62:6572:7468:ff00::/64",
        "v6a",
    ]);
    d.docker_ok(&["network", "create", "--ipv6", "v6b"]);
    d.docker_ok(&["network", "create", "v4only"]);
    let ipam = |net: &str| {
        d.docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{.EnableIPv6}}{{range .IPAM.Config}} {{.Subnet}} {{.Gateway}}{{end}}",
            net,
        ])
    };
    let a = ipam("v6a");
    assert!(a.starts_with("true "), "{a}");
    assert!(
        a.contains(" fd62:6572:7468:ff00::/64 fd62:6572:7468:ff00::1"),
        "{a}"
    );
    let b = ipam("v6b");
    assert!(b.contains(" fd62:6572:7468::/64 fd62:6572:7468::1"), "{b}");
    assert!(ipam("v4only").starts_with("false "));

    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "six1",
        "--network",
        "v6a",
        "bb",
        "sleep",
        "300",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "six2",
        "--network",
        "v6a",
        "--ip6",
        "fd62:6572:7468:ff00::99",
        "bb",
        "sleep",
        "300",
    ]);
    let v6 = |d: &Daemon, c: &str| {
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} via {{.IPv6Gateway}}{{end}}",
            c,
        ])
        .trim()
        .to_string()
    };
    assert_eq!(
        v6(&d, "six1"),
        "fd62:6572:7468:ff00::2/64 via fd62:6572:7468:ff00::1"
    );
    assert_eq!(
        v6(&d, "six2"),
        "fd62:6572:7468:ff00::99/64 via fd62:6572:7468:ff00::1"
    );
    // The address is up at once (no duplicate address detection wait), the
    // default route points at the bridge, and the embedded DNS answers AAAA.
    let route = d.docker_ok(&["exec", "six1", "ip", "-6", "route"]);
    assert!(
        route.contains("default via fd62:6572:7468:ff00::1"),
        "{route}"
    );
    d.docker_ok(&[
        "exec",
        "six1",
        "ping6",
        "-c1",
        "-W3",
        "fd62:6572:7468:ff00::1",
    ]);
    d.docker_ok(&["exec", "six1", "ping6", "-c1", "-W3", "six2"]);
    let hosts = d.docker_ok(&["exec", "six2", "cat", "/etc/hosts"]);
    assert!(hosts.contains("fd62:6572:7468:ff00::99\t"), "{hosts}");
    let plain = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "v4only",
        "bb",
        "ip",
        "-6",
        "addr",
    ]);
    assert!(!plain.contains("scope global"), "{plain}");

    // After a restart the addresses in use are still taken.
    d.restart();
    let port = free_port();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "six3",
        "--network",
        "v6a",
        "-p",
        &format!("{port}:80"),
        "bb",
        "sleep",
        "300",
    ]);
    // Published on both families, as Docker lists it.
    let ports = d.docker_ok(&["port", "six3"]);
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{port}"))
            && ports.contains(&format!("80/tcp -> [::]:{port}")),
        "{ports}"
    );
    assert_eq!(
        v6(&d, "six3"),
        "fd62:6572:7468:ff00::3/64 via fd62:6572:7468:ff00::1"
    );
    d.docker_ok(&["exec", "six3", "ping6", "-c1", "-W3", "six1"]);

    d.docker_ok(&["rm", "-f", "six1", "six2", "six3"]);
    d.docker_ok(&["network", "rm", "v6a", "v6b", "v4only"]);
}
