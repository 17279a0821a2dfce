//! Foundation: the real docker CLI, bollard and the berth CLI against berthd's
//! system endpoints; error model; daemon lifecycle (lock, SIGTERM, restart).

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use berth_integration::{Daemon, stderr, stdout};

#[test]
fn docker_version_and_info_show_berth() {
    let d = Daemon::start();
    let v = d.docker_ok(&["version"]);
    assert!(v.contains("Server: berth Engine"), "{v}");
    assert!(
        v.contains("API version:      1.50 (minimum version 1.24)"),
        "{v}"
    );

    let info = d.docker_ok(&["info"]);
    let ncpu = std::thread::available_parallelism().unwrap().get();
    assert!(info.contains(&format!("CPUs: {ncpu}")), "{info}");
    assert!(
        info.contains("Docker Root Dir: ") && info.contains(d.data_root.to_str().unwrap()),
        "{info}"
    );
    assert!(info.contains("Kernel Version: "), "{info}");
    assert!(info.contains("Swarm: inactive"), "{info}");

    let fmt = d.docker_ok(&[
        "info",
        "--format",
        "{{.NCPU}} {{.OSType}} {{.CgroupVersion}}",
    ]);
    let fields: Vec<&str> = fmt.split_whitespace().collect();
    assert_eq!(fields[0], ncpu.to_string());
    assert_eq!(fields[1], "linux");
    assert!(fields[2] == "1" || fields[2] == "2");
}

#[test]
fn docker_system_df_and_events_return() {
    let d = Daemon::start();
    let df = d.docker_ok(&["system", "df"]);
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(
        df.contains("Images") && df.contains("Local Volumes"),
        "{df}"
    );

    let now = chrono_now_secs() + 1;
    let ev = d.docker_ok(&["events", "--since", "0", "--until", &now.to_string()]);
    assert!(
        ev.contains("daemon start"),
        "daemon start event missing: {ev}"
    );
    let filtered = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &now.to_string(),
        "--filter",
        "type=container",
    ]);
    assert!(filtered.trim().is_empty(), "{filtered}");
}

fn chrono_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[tokio::test(flavor = "current_thread")]
async fn bollard_ping_version_info() {
    let d = Daemon::start();
    let docker = d.bollard();
    let ping = docker.ping().await.unwrap();
    assert_eq!(ping, "OK");
    let v = docker.version().await.unwrap();
    assert_eq!(v.api_version.as_deref(), Some("1.50"));
    assert_eq!(v.min_api_version.as_deref(), Some("1.24"));
    let info = docker.info().await.unwrap();
    assert_eq!(info.os_type.as_deref(), Some("linux"));
    assert!(info.ncpu.unwrap() >= 1);
    let negotiated = docker.negotiate_version().await.unwrap();
    negotiated.version().await.unwrap();
}

#[test]
fn versioned_and_unversioned_paths() {
    let d = Daemon::start();
    for p in [
        "/version",
        "/v1.24/version",
        "/v1.43/version",
        "/v1.50/version",
    ] {
        let (status, body) = d.raw("GET", p, None);
        assert_eq!(status, 200, "{p}: {body}");
        assert!(body.contains("\"ApiVersion\":\"1.50\""), "{body}");
    }
    let (status, body) = d.raw("HEAD", "/_ping", None);
    assert_eq!(status, 200);
    for h in [
        "Api-Version: 1.50",
        "Ostype: linux",
        "Builder-Version: 1",
        "Docker-Experimental: false",
        "Swarm: inactive",
    ] {
        assert!(
            body.to_ascii_lowercase().contains(&h.to_ascii_lowercase()),
            "missing {h}: {body}"
        );
    }
}

#[test]
fn bad_requests_get_docker_errors() {
    let d = Daemon::start();
    let (status, body) = d.raw("GET", "/v1.51/version", None);
    assert_eq!(status, 400);
    assert!(
        body.contains(
            r#"{"message":"client version 1.51 is too new. Maximum supported API version is 1.50"}"#
        ),
        "{body}"
    );
    let (status, body) = d.raw("GET", "/v1.12/info", None);
    assert_eq!(status, 400);
    assert!(body.contains("too old"), "{body}");
    let (status, body) = d.raw("GET", "/v1.43/no/such/route", None);
    assert_eq!(status, 404);
    assert!(body.contains(r#"{"message":"page not found"}"#), "{body}");
    let (status, body) = d.raw("GET", "/events?filters=%7Bbad", None);
    assert_eq!(status, 400, "{body}");
    let (status, body) = d.raw(
        "GET",
        "/events?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D",
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid filter 'nope'"), "{body}");
    let (status, _) = d.raw("GET", "/system/df?type=bogus", None);
    assert_eq!(status, 400);
    let (status, body) = d.raw("GET", "/swarm", None);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not a swarm manager"), "{body}");
    // The daemon is still healthy after all of that.
    d.docker_ok(&["version"]);
}

#[test]
fn second_daemon_on_same_root_refuses() {
    let d = Daemon::start();
    let out = std::process::Command::new(berth_integration::bin("berthd"))
        .args(["--config-file", "/dev/null", "--data-root"])
        .arg(&d.data_root)
        .arg("--exec-root")
        .arg(d.dir.path().join("exec2"))
        .arg("-H")
        .arg(format!(
            "unix://{}",
            d.dir.path().join("other.sock").display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("another berthd is already running"), "{err}");
    assert!(err.contains(&d.pid().to_string()), "{err}");
    // The first daemon is untouched.
    d.docker_ok(&["version"]);
}

#[test]
fn sigterm_stops_fast_and_removes_socket_and_state_survives() {
    let mut d = Daemon::start();
    let id_before = d.docker_ok(&["info", "--format", "{{.ID}}"]);
    // A long-lived events stream must not hold the shutdown.
    let mut events = d
        .docker_cmd(&["events"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let took = d.stop();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert!(!d.sock.exists(), "socket left behind");
    let _ = events.kill();
    let _ = events.wait();
    d.spawn();
    let id_after = d.docker_ok(&["info", "--format", "{{.ID}}"]);
    assert_eq!(id_before, id_after);
}

#[test]
fn berth_cli_system_commands() {
    let d = Daemon::start();
    let out = d.berth(&["version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Server: berth Engine"));
    let out = d.berth(&["version", "--format", "{{.Server.ApiVersion}}"]);
    assert_eq!(stdout(&out).trim(), "1.50");
    let out = d.berth(&["info", "--format", "{{json .Swarm}}"]);
    assert!(
        stdout(&out).contains("\"LocalNodeState\":\"inactive\""),
        "{}",
        stdout(&out)
    );
    let out = d.berth(&["system", "df"]);
    assert!(stdout(&out).starts_with("TYPE"), "{}", stdout(&out));
    let now = chrono_now_secs() + 1;
    let out = d.berth(&["events", "--since", "0", "--until", &now.to_string()]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("daemon start"), "{}", stdout(&out));

    // Errors: daemon-side message and a non-zero exit.
    let out = d.berth(&["events", "--filter", "nope=1", "--until", "1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Error response from daemon: invalid filter 'nope'"),
        "{}",
        stderr(&out)
    );
    let out = d
        .berth_cmd(&["-H", "unix:///nonexistent.sock", "version"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Cannot connect to the berth daemon"),
        "{}",
        stderr(&out)
    );
}

/// Make a CA, a server certificate for 127.0.0.1 and a client certificate with openssl.
fn make_certs(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let st = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "openssl {args:?}");
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("cli.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=berth-test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server-key.pem",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-out",
        "server-cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "client.csr",
        "-subj",
        "/CN=client",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "cli.cnf",
    ]);
}

#[test]
fn tls_tcp_listener_with_client_certificates() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = |f: &str| certs.path().join(f).display().to_string();
    let host = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &c("ca.pem"),
        "--tlscert",
        &c("server-cert.pem"),
        "--tlskey",
        &c("server-key.pem"),
    ]);
    let docker = |extra: &[&str]| {
        std::process::Command::new("docker")
            .args(extra)
            .args(["-H", &host, "version", "--format", "{{.Server.APIVersion}}"])
            .env("DOCKER_CONFIG", &d.docker_config)
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap()
    };
    let out = docker(&[
        "--tlsverify",
        "--tlscacert",
        &c("ca.pem"),
        "--tlscert",
        &c("cert.pem"),
        "--tlskey",
        &c("key.pem"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1.50");
    // No client certificate: refused by the TLS layer.
    let out = docker(&["--tls", "--tlscacert", &c("ca.pem")]);
    assert!(!out.status.success());
    // Plain HTTP to the TLS port gets nowhere either.
    let out = docker(&[]);
    assert!(!out.status.success());
    // The unix socket still works.
    d.docker_ok(&["version"]);
}

/// A client may still be writing the end of an upload (a tar's end-of-archive
/// blocks, GNU tar's padding to 10 KiB records) when the daemon has read what
/// it needs and answered. The daemon reads such a body on to its end, so the
/// client's writes succeed (docker cp failed with "write: broken pipe") and
/// the connection serves the next request.
#[test]
fn uploads_are_read_to_their_end_and_the_connection_stays_usable() {
    use berth_integration::fixtures::{TarBuilder, busybox_tar};
    use berth_integration::http::Connection;

    let d = Daemon::with_busybox();
    let id = d.docker_ok(&["run", "-d", "bb", "sleep", "1000"]);
    let id = id.trim();
    let file = TarBuilder::new().file("up.txt", b"uploaded\n").finish();
    let context = TarBuilder::new()
        .file("Dockerfile", b"FROM bb\nCOPY up.txt /\n")
        .file("up.txt", b"built\n")
        .finish();
    let image = std::fs::read(busybox_tar()).unwrap();
    let uploads = [
        ("PUT", format!("/containers/{id}/archive?path=/tmp"), file),
        ("POST", "/build?t=padded&q=1".to_string(), context),
        ("POST", "/images/load?quiet=1".to_string(), image),
    ];
    for (method, path, tar) in uploads {
        let mut c = Connection::open(&d.sock).unwrap();
        c.start_chunked(method, &path, "application/x-tar").unwrap();
        c.chunk(&tar).unwrap();
        // The padding goes out once the answer is in (or after 2 s, for a
        // daemon that answers only at the body's end).
        let mut w = c.body_writer().unwrap();
        let (answered, wait) = std::sync::mpsc::channel::<()>();
        let padder = std::thread::spawn(move || {
            let _ = wait.recv_timeout(Duration::from_secs(2));
            w.chunk(&[0; 20 << 10]).and_then(|()| w.chunk(&[]))
        });
        let r = c.response().unwrap();
        let _ = answered.send(());
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let sent = padder.join().unwrap();
        assert!(sent.is_ok(), "{path}: the end of the body: {sent:?}");
        c.send("GET", "/_ping").unwrap();
        let ping = c.response();
        assert!(
            matches!(&ping, Ok(p) if p.status == 200 && p.body == "OK"),
            "{path}: the next request on the connection: {ping:?}"
        );
    }
    assert_eq!(
        d.docker_ok(&["exec", id, "cat", "/tmp/up.txt"]),
        "uploaded\n"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", "padded", "cat", "/up.txt"]),
        "built\n"
    );
}
