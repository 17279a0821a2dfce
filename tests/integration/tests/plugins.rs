//! Plugins end to end (issue 7) with the real docker CLI: network + IPAM,
//! volume and authorization plugins (tests/plugins/testplugin.py) found
//! through `.sock`, `.spec` (unix and tcp) and `.json`; and the faults: a
//! plugin absent at start that appears later, one killed mid-call, one that
//! answers too late, one that speaks garbage. Each gives a clear error and
//! berthd keeps serving.
//!
//! Every daemon gets its own plugin directories (`--plugin-socket-dir`,
//! `--plugin-spec-dir`) and short plugin time limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

use base64::Engine as _;
use berth_integration::plugins::{Discovery, PluginDirs, TestPlugin};
use berth_integration::{Daemon, raw_request};

fn daemon(dirs: &PluginDirs, extra: &[&str], call: &str, retry: &str) -> Daemon {
    let mut flags = dirs.daemon_flags(call, retry);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let d = Daemon::start_with(&refs);
    d.load_busybox();
    d
}

fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.docker(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "docker {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

#[test]
fn network_plugins_found_through_sock_spec_and_json() {
    let dirs = PluginDirs::new();
    let d = daemon(&dirs, &[], "10s", "3s");
    let n = d.subnets.n;
    let forms = [
        ("tnsock", Discovery::Sock),
        ("tnunix", Discovery::UnixSpec),
        ("tntcp", Discovery::TcpSpec),
        ("tnjson", Discovery::Json),
    ];
    for (i, (name, how)) in forms.iter().enumerate() {
        let third = 128 + 16 * i;
        let base = format!("10.{n}.{third}.0/20");
        let p = TestPlugin::start(
            &dirs,
            name,
            &["net"],
            *how,
            &["--pool-base", &base, "--dst-prefix", "tnet"],
        );
        let net = format!("{name}-net");
        d.docker_ok(&["network", "create", "-d", name, "--ipam-driver", name, &net]);
        let inspect = d.docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Driver}} {{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
            &net,
        ]);
        assert_eq!(
            inspect.trim(),
            format!("{name} {name} 10.{n}.{third}.0/24"),
            "{name}"
        );
        // The container gets the plugin's address, the plugin's interface
        // (named with its DstPrefix, with its MAC) and its routes.
        let out = d.docker_ok(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "sh",
            "-c",
            "ip -o -4 addr show tnet0; ip link show tnet0; ip route",
        ]);
        assert!(
            out.contains(&format!("inet 10.{n}.{third}.")),
            "{name}: {out}"
        );
        assert!(out.contains("link/ether 02:7e:57:"), "{name}: {out}");
        assert!(
            out.contains(&format!("default via 10.{n}.{third}.1 dev tnet0")),
            "{name}: {out}"
        );
        assert!(out.contains("192.0.2.0/24 dev tnet0"), "{name}: {out}");
        d.docker_ok(&["network", "rm", &net]);
        let calls: Vec<String> = p.calls().into_iter().map(|(m, _)| m).collect();
        for m in [
            "NetworkDriver.GetCapabilities",
            "IpamDriver.GetDefaultAddressSpaces",
            "IpamDriver.RequestPool",
            "NetworkDriver.CreateNetwork",
            "NetworkDriver.CreateEndpoint",
            "NetworkDriver.Join",
            "NetworkDriver.Leave",
            "NetworkDriver.DeleteEndpoint",
            "IpamDriver.ReleaseAddress",
            "NetworkDriver.DeleteNetwork",
            "IpamDriver.ReleasePool",
        ] {
            assert!(
                calls.iter().any(|c| c == m),
                "{name}: {m} not called: {calls:?}"
            );
        }
        assert_eq!(
            calls.iter().filter(|c| *c == "Plugin.Activate").count(),
            1,
            "{calls:?}"
        );
        let first = &p.entries()[0];
        assert_eq!(
            first["headers"]["Accept"],
            "application/vnd.docker.plugins.v1.2+json"
        );
    }
    let info = d.docker_ok(&["info", "--format", "{{json .Plugins.Network}}"]);
    for (name, _) in forms {
        assert!(info.contains(name), "{info}");
    }
    // A volume-only plugin is not a network driver.
    let _v = TestPlugin::start(&dirs, "notnet", &["volume"], Discovery::Sock, &[]);
    let err = fails(&d, &["network", "create", "-d", "notnet", "x"]);
    assert!(
        err.contains("Plugin does not implement the requested driver"),
        "{err}"
    );
    // Managed (v2) plugins: none listed, installing one is refused clearly.
    assert_eq!(
        d.docker_ok(&["plugin", "ls", "--format", "{{.Name}}"])
            .trim(),
        ""
    );
    let err = fails(
        &d,
        &[
            "plugin",
            "install",
            "--grant-all-permissions",
            "vieux/sshfs",
        ],
    );
    assert!(err.contains("managed plugins"), "{err}");
}

#[test]
fn volume_plugins_create_mount_list_remove() {
    let dirs = PluginDirs::new();
    let mut d = daemon(&dirs, &[], "10s", "3s");
    let s = TestPlugin::start(&dirs, "tvsock", &["volume"], Discovery::Sock, &[]);
    let j = TestPlugin::start(&dirs, "tvjson", &["volume"], Discovery::Json, &[]);
    d.docker_ok(&[
        "volume", "create", "-d", "tvsock", "--opt", "size=1g", "pv1",
    ]);
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "pv1:/data",
        "busybox",
        "sh",
        "-c",
        "echo hello > /data/f",
    ]);
    assert_eq!(
        std::fs::read_to_string(s.volume_root.join("pv1/f")).unwrap(),
        "hello\n"
    );
    // -v with --volume-driver, and --mount volume-driver=, create through the plugin.
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "pv2:/data",
        "--volume-driver",
        "tvjson",
        "busybox",
        "touch",
        "/data/x",
    ]);
    assert!(j.volume_root.join("pv2/x").exists());
    d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=pv3,dst=/d,volume-driver=tvjson",
        "busybox",
        "touch",
        "/d/y",
    ]);
    assert!(j.volume_root.join("pv3/y").exists());
    // A volume the plugin has that berth never created: volume ls merges it.
    let (status, _) = raw_request(
        s.sock.as_ref().unwrap(),
        "POST",
        "/VolumeDriver.Create",
        Some(r#"{"Name":"outside","Opts":null}"#),
    );
    assert_eq!(status, 200);
    let ls = d.docker_ok(&["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]);
    for want in ["tvsock pv1", "tvjson pv2", "tvjson pv3", "tvsock outside"] {
        assert!(ls.lines().any(|l| l == want), "{want} missing:\n{ls}");
    }
    let inspect = d.docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Driver}} {{.Scope}} {{.Options}} {{.Status}}",
        "pv1",
    ]);
    assert!(
        inspect.starts_with("tvsock local map[size:1g]"),
        "{inspect}"
    );
    // Mount and Unmount carry the same 64-hex id; Create got the options.
    let calls = s.calls();
    let create = calls
        .iter()
        .find(|(m, b)| m == "VolumeDriver.Create" && b["Name"] == "pv1")
        .unwrap();
    assert_eq!(create.1["Opts"]["size"], "1g");
    let mount = calls
        .iter()
        .find(|(m, _)| m == "VolumeDriver.Mount")
        .unwrap();
    let unmount = calls
        .iter()
        .find(|(m, _)| m == "VolumeDriver.Unmount")
        .unwrap();
    let id = mount.1["ID"].as_str().unwrap();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(unmount.1["ID"], mount.1["ID"]);
    d.docker_ok(&["volume", "rm", "pv1", "pv2"]);
    assert!(!s.volume_root.join("pv1").exists() && !j.volume_root.join("pv2").exists());
    let info = d.docker_ok(&["info", "--format", "{{json .Plugins.Volume}}"]);
    assert!(
        info.contains("tvsock") && info.contains("tvjson") && info.contains("local"),
        "{info}"
    );
    // After a restart the plugin is found again when a volume needs it.
    d.restart();
    d.docker_ok(&["run", "--rm", "-v", "pv3:/d", "busybox", "ls", "/d/y"]);
}

fn b64json(v: &serde_json::Value) -> serde_json::Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn authorization_plugin_denies_rm_and_fails_closed() {
    let dirs = PluginDirs::new();
    let mut az = TestPlugin::start(
        &dirs,
        "tauthz",
        &["authz"],
        Discovery::TcpSpec,
        &[
            "--deny-method",
            "DELETE",
            "--deny-uri",
            "/containers/",
            "--deny-msg",
            "removing containers is not allowed",
        ],
    );
    let d = daemon(&dirs, &["--authorization-plugin", "tauthz"], "10s", "2s");
    d.docker_ok(&["create", "--name", "keepme", "busybox", "true"]);
    // Hijacked (attach) and streamed (logs) answers pass through the hook too.
    let out = d.docker_ok(&["run", "--name", "talker", "busybox", "echo", "hi there"]);
    assert_eq!(out.trim(), "hi there");
    assert_eq!(d.docker_ok(&["logs", "talker"]).trim(), "hi there");
    let err = fails(&d, &["rm", "keepme"]);
    assert!(
        err.contains("Error response from daemon: authorization denied by plugin tauthz: removing containers is not allowed"),
        "{err}"
    );
    assert!(
        d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("keepme")
    );
    let info = d.docker_ok(&["info", "--format", "{{json .Plugins.Authorization}}"]);
    assert_eq!(info.trim(), r#"["tauthz"]"#);
    // What the plugin saw, in Docker's field names.
    let entries = az.entries();
    let req = entries
        .iter()
        .find(|e| {
            e["method"] == "AuthZPlugin.AuthZReq"
                && e["body"]["RequestUri"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("/containers/create?name=keepme"))
        })
        .expect("AuthZReq of the create");
    let b = &req["body"];
    assert_eq!(b["RequestMethod"], "POST");
    assert!(b["RequestUri"].as_str().unwrap().starts_with("/v1."), "{b}");
    assert_eq!(b["RequestHeaders"]["Content-Type"], "application/json");
    assert_eq!(b64json(&b["RequestBody"])["Image"], "busybox");
    let res = entries
        .iter()
        .find(|e| {
            e["method"] == "AuthZPlugin.AuthZRes" && e["body"]["RequestUri"] == b["RequestUri"]
        })
        .expect("AuthZRes of the create");
    assert_eq!(res["body"]["ResponseStatusCode"], 201);
    assert!(b64json(&res["body"]["ResponseBody"])["Id"].is_string());
    // A plugin that cannot be reached denies everything, with 500.
    az.kill();
    let err = fails(&d, &["ps"]);
    assert!(
        err.contains("plugin tauthz failed with error: AuthZPlugin.AuthZReq:"),
        "{err}"
    );
}

#[test]
fn plugin_absent_at_start_then_appearing() {
    let dirs = PluginDirs::new();
    let d = daemon(&dirs, &[], "10s", "4s");
    let err = fails(&d, &["volume", "create", "-d", "latevol", "v0"]);
    assert!(
        err.contains("error looking up volume plugin latevol: plugin \"latevol\" not found"),
        "{err}"
    );
    // A request waiting for it succeeds once it appears (Docker's lookup retries).
    let waiting = d
        .docker_cmd(&["volume", "create", "-d", "latevol", "v1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _p = TestPlugin::start(&dirs, "latevol", &["volume"], Discovery::Sock, &[]);
    let out = waiting.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = d.docker_ok(&["volume", "inspect", "-f", "{{.Driver}}", "v1"]);
    assert_eq!(v.trim(), "latevol");
}

#[test]
fn plugin_killed_mid_call_and_garbage_answers() {
    let dirs = PluginDirs::new();
    let d = daemon(&dirs, &[], "10s", "2s");
    let _crash = TestPlugin::start(
        &dirs,
        "crashvol",
        &["volume"],
        Discovery::Sock,
        &["--crash", "VolumeDriver.Mount"],
    );
    d.docker_ok(&["volume", "create", "-d", "crashvol", "cv"]);
    let err = fails(&d, &["run", "--rm", "-v", "cv:/d", "busybox", "true"]);
    assert!(
        err.contains("plugin \"crashvol\": VolumeDriver.Mount:"),
        "{err}"
    );
    d.docker_ok(&["run", "--rm", "busybox", "true"]);
    // Gone now: calls fail (after the retry budget) saying so.
    let err = fails(&d, &["volume", "inspect", "cv"]);
    assert!(
        err.contains("plugin \"crashvol\"") && err.contains("cannot connect"),
        "{err}"
    );

    let _junk = TestPlugin::start(
        &dirs,
        "junknet",
        &["net"],
        Discovery::Sock,
        &["--garbage", "NetworkDriver.GetCapabilities"],
    );
    let err = fails(&d, &["network", "create", "-d", "junknet", "jn"]);
    assert!(
        err.contains("plugin \"junknet\": NetworkDriver.GetCapabilities:"),
        "{err}"
    );
    d.docker_ok(&["version"]);
    let ls = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.lines().any(|l| l == "jn"), "{ls}");
}

#[test]
fn slow_plugin_times_out_while_the_daemon_keeps_serving() {
    let dirs = PluginDirs::new();
    let d = daemon(&dirs, &[], "20s", "2s");
    let base = format!("10.{}.192.0/20", d.subnets.n);
    let p = TestPlugin::start(
        &dirs,
        "slownet",
        &["net"],
        Discovery::Sock,
        &[
            "--slow",
            "NetworkDriver.CreateNetwork=60",
            "--pool-base",
            &base,
        ],
    );
    let mut slow = d
        .docker_cmd(&[
            "network",
            "create",
            "-d",
            "slownet",
            "--ipam-driver",
            "slownet",
            "sn",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.wait_for_call("NetworkDriver.CreateNetwork");
    // While the plugin sits on the call, everything else is served, networks included.
    d.docker_ok(&["version"]);
    d.docker_ok(&["network", "ls"]);
    d.docker_ok(&["network", "create", "plain"]);
    d.docker_ok(&["run", "--rm", "--network", "plain", "busybox", "true"]);
    d.docker_ok(&["volume", "create", "lv"]);
    assert!(
        slow.try_wait().unwrap().is_none(),
        "the slow call is still pending"
    );
    let out = slow.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("plugin \"slownet\": NetworkDriver.CreateNetwork: no answer within 20s"),
        "{err}"
    );
    // The half-made network left nothing: its pool went back, its name is free.
    let ls = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.lines().any(|l| l == "sn"), "{ls}");
    assert!(p.calls().iter().any(|(m, _)| m == "IpamDriver.ReleasePool"));
}
