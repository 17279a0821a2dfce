//! Volumes and mounts end to end with the real docker CLI against berthd.
//!
//! The first group needs only the volume endpoints; the rest run containers
//! (`docker run`) with named, anonymous, bind and tmpfs mounts.

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_integration::fixtures::{self, TarBuilder};
use berth_integration::{Daemon, stderr, stdout};
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The HTTP body of a raw response.
fn body(raw: &str) -> Value {
    let b = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // Chunked bodies: take the JSON between the first `{`/`[` and the last `}`/`]`.
    let start = b.find(['{', '[']).unwrap_or(0);
    let end = b.rfind(['}', ']']).map_or(b.len(), |i| i + 1);
    json(&b[start..end])
}

fn volume_names(d: &Daemon) -> Vec<String> {
    d.docker_ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn volume_dirs(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.data_root.join("volumes"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn docker_volume_create_ls_inspect_rm() {
    let d = Daemon::start();
    assert_eq!(
        d.docker_ok(&["volume", "create", "--label", "app=web", "web"])
            .trim(),
        "web"
    );
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=10m",
        "tv",
    ]);
    let anon = d.docker_ok(&["volume", "create"]).trim().to_string();
    assert_eq!(anon.len(), 64, "{anon}");

    let ls = d.docker_ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER    VOLUME NAME"), "{ls}");
    assert!(
        ls.contains("local     web") && ls.contains("local     tv"),
        "{ls}"
    );
    assert_eq!(
        d.docker_ok(&["volume", "ls", "-q", "--filter", "label=app=web"])
            .trim(),
        "web"
    );
    assert_eq!(
        d.docker_ok(&["volume", "ls", "-q", "--filter", "name=w"])
            .trim(),
        "web"
    );
    assert_eq!(
        d.docker_ok(&["volume", "ls", "-q", "--filter", "dangling=true"])
            .lines()
            .count(),
        3
    );

    let v = json(&d.docker_ok(&["volume", "inspect", "web"]));
    let v = &v[0];
    assert_eq!(v["Name"], "web");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["app"], "web");
    let mp = d.data_root.join("volumes/web/_data");
    assert_eq!(v["Mountpoint"], mp.to_str().unwrap());
    assert!(mp.is_dir());
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'), "{v}");
    let tv = json(&d.docker_ok(&["volume", "inspect", "tv"]));
    assert_eq!(tv[0]["Options"]["o"], "size=10m");
    let a = json(&d.docker_ok(&["volume", "inspect", &anon]));
    assert_eq!(a[0]["Labels"]["com.docker.volume.anonymous"], "");
    assert_eq!(
        d.docker_ok(&["volume", "inspect", "-f", "{{.Driver}}/{{.Name}}", "web"])
            .trim(),
        "local/web"
    );

    // Creating an existing name returns it unchanged.
    assert_eq!(
        d.docker_ok(&["volume", "create", "--label", "other=1", "web"])
            .trim(),
        "web"
    );
    assert!(
        json(&d.docker_ok(&["volume", "inspect", "web"]))[0]["Labels"]
            .get("other")
            .is_none()
    );

    let out = d.docker(&["volume", "inspect", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("get nope: no such volume"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["volume", "rm", "nope"]);
    assert!(stderr(&out).contains("no such volume"), "{}", stderr(&out));
    assert!(d.docker(&["volume", "rm", "-f", "nope"]).status.success());

    assert_eq!(d.docker_ok(&["volume", "rm", "web"]).trim(), "web");
    assert!(!d.data_root.join("volumes/web").exists());

    // Prune: anonymous only by default; -a for named ones; never volumes with options.
    d.docker_ok(&["volume", "create", "named"]);
    let out = d.docker_ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&anon) && !out.contains("named"), "{out}");
    let out = d.docker_ok(&["volume", "prune", "-af"]);
    assert!(out.contains("named"), "{out}");
    assert_eq!(volume_names(&d), ["tv"]);
    d.docker_ok(&["volume", "rm", "tv"]);
}

#[test]
fn hostile_volume_names_create_nothing() {
    let d = Daemon::start();
    for bad in ["../x", "a/../../b", "..", "x"] {
        let out = d.docker(&["volume", "create", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
        let err = stderr(&out);
        assert!(err.contains(&format!("create {bad}: ")), "{err}");
    }
    let (status, raw) = d.raw(
        "POST",
        "/v1.50/volumes/create",
        Some(r#"{"Name":"../../etc"}"#),
    );
    assert_eq!(status, 400, "{raw}");
    assert!(
        body(&raw)["message"]
            .as_str()
            .unwrap()
            .contains("includes invalid characters for a local volume name"),
        "{raw}"
    );
    let (status, _) = d.raw(
        "POST",
        "/v1.50/volumes/create",
        Some(r#"{"Name":"ok","DriverOpts":{"bogus":"1"}}"#),
    );
    assert_eq!(status, 400);
    assert!(volume_names(&d).is_empty());
    assert!(volume_dirs(&d).is_empty(), "{:?}", volume_dirs(&d));
    assert!(!d.data_root.join("etc").exists() && !d.data_root.join("x").exists());
}

#[test]
fn volumes_api_shapes() {
    let d = Daemon::start();
    let (status, raw) = d.raw("GET", "/v1.50/volumes", None);
    assert_eq!(status, 200);
    assert_eq!(
        body(&raw),
        serde_json::json!({"Volumes": [], "Warnings": []})
    );
    let (status, raw) = d.raw(
        "POST",
        "/v1.50/volumes/create",
        Some(r#"{"Name":"v1","Labels":{"k":"v"}}"#),
    );
    assert_eq!(status, 201, "{raw}");
    let v = body(&raw);
    assert_eq!(
        (
            v["Name"].as_str(),
            v["Driver"].as_str(),
            v["Scope"].as_str()
        ),
        (Some("v1"), Some("local"), Some("local"))
    );
    assert!(
        v.get("UsageData").is_none() && v.get("Status").is_none(),
        "{v}"
    );
    let (status, raw) = d.raw("GET", "/v1.50/volumes/nope", None);
    assert_eq!(
        (status, body(&raw)["message"].as_str()),
        (404, Some("get nope: no such volume"))
    );
    let (status, _) = d.raw(
        "GET",
        "/v1.50/volumes?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        None,
    );
    assert_eq!(status, 400);
    let (status, _) = d.raw("PUT", "/v1.50/volumes/v1", Some("{}"));
    assert_eq!(status, 503, "cluster volumes need swarm");

    // Prune: API >= 1.42 keeps named volumes unless all=true; older clients prune them.
    let (status, raw) = d.raw("POST", "/v1.50/volumes/prune", None);
    assert_eq!(status, 200);
    assert_eq!(body(&raw)["VolumesDeleted"], serde_json::json!([]));
    let (_, raw) = d.raw("POST", "/v1.41/volumes/prune", None);
    assert_eq!(body(&raw)["VolumesDeleted"], serde_json::json!(["v1"]));
    let (status, _) = d.raw("DELETE", "/v1.50/volumes/v1", None);
    assert_eq!(status, 404);
}

#[test]
fn volumes_survive_daemon_restart_and_kill9() {
    let mut d = Daemon::start();
    d.docker_ok(&["volume", "create", "--label", "a=b", "keep"]);
    std::fs::write(d.data_root.join("volumes/keep/_data/f"), b"data").unwrap();
    d.restart();
    let v = json(&d.docker_ok(&["volume", "inspect", "keep"]));
    assert_eq!(v[0]["Labels"]["a"], "b");
    d.kill9();
    d.spawn();
    assert_eq!(volume_names(&d), ["keep"]);
    assert_eq!(
        std::fs::read(d.data_root.join("volumes/keep/_data/f")).unwrap(),
        b"data"
    );
}

#[test]
fn berth_cli_volume_commands() {
    let d = Daemon::start();
    let ok = |args: &[&str]| {
        let out = d.berth(args);
        assert!(out.status.success(), "berth {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        ok(&[
            "volume",
            "create",
            "--label",
            "k=v",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "bv"
        ])
        .trim(),
        "bv"
    );
    assert_eq!(ok(&["volume", "create"]).trim().len(), 64);
    let ls = ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER") && ls.contains("bv"), "{ls}");
    assert_eq!(ok(&["volume", "ls", "-q", "-f", "label=k=v"]).trim(), "bv");
    assert_eq!(
        ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}}:{{.Driver}}",
            "-f",
            "name=bv"
        ])
        .trim(),
        "bv:local"
    );
    let v = json(&ok(&["volume", "inspect", "bv"]));
    assert_eq!(v[0]["Options"]["type"], "tmpfs");
    assert_eq!(
        ok(&["volume", "inspect", "-f", "{{.Scope}}", "bv"]).trim(),
        "local"
    );
    let out = d.berth(&["volume", "inspect", "nope"]);
    assert!(
        !out.status.success() && stderr(&out).contains("get nope: no such volume"),
        "{}",
        stderr(&out)
    );
    let out = ok(&["volume", "prune", "-f"]);
    assert!(
        out.contains("Deleted Volumes:") && out.contains("Total reclaimed space"),
        "{out}"
    );
    assert_eq!(ok(&["volume", "rm", "bv"]).trim(), "bv");
    let out = d.berth(&["volume", "rm", "bv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(ok(&["volume", "ls", "-q"]).trim().is_empty());
}

// ---- with containers ----

fn load_busybox(d: &Daemon) {
    d.docker_ok(&["load", "-i", fixtures::busybox_tar().to_str().unwrap()]);
}

/// `volimg:1`: busybox with `VOLUME /data` and `/data/hello` in the image.
fn load_volume_image(d: &Daemon) {
    let (mut cfg, base) = fixtures::busybox_parts();
    cfg["config"]["Volumes"] = serde_json::json!({"/data": {}});
    let layer = TarBuilder::new()
        .dir("data/")
        .file("data/hello", b"from the image\n")
        .finish();
    let archive = fixtures::docker_archive(&cfg, &[base, layer], None, &["volimg:1"]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("volimg.tar");
    std::fs::write(&p, archive).unwrap();
    d.docker_ok(&["load", "-i", p.to_str().unwrap()]);
}

fn mounts(d: &Daemon, ctr: &str) -> Vec<Value> {
    let v = json(&d.docker_ok(&["container", "inspect", ctr]));
    v[0]["Mounts"].as_array().cloned().unwrap_or_default()
}

#[test]

fn named_volume_data_passes_between_containers() {
    let d = Daemon::start();
    load_busybox(&d);
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo hello > /d/f",
    ]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"])
            .trim(),
        "hello"
    );
    assert_eq!(
        volume_names(&d),
        ["data"],
        "-v name:/path creates the named volume once"
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "source=data,target=/m,readonly",
        "busybox",
        "cat",
        "/m/f",
    ]);
    assert_eq!(out.trim(), "hello");
}

#[test]

fn in_use_volume_cannot_be_removed_even_after_kill9() {
    let mut d = Daemon::start();
    load_busybox(&d);
    let id = d
        .docker_ok(&["create", "--name", "user", "-v", "used:/u", "busybox"])
        .trim()
        .to_string();
    let m = mounts(&d, "user");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["Type"], "volume");
    assert_eq!(m[0]["Name"], "used");
    assert_eq!(m[0]["Driver"], "local");
    assert_eq!(m[0]["Mode"], "z");
    assert_eq!(m[0]["RW"], true);
    assert_eq!(
        m[0]["Source"],
        d.data_root.join("volumes/used/_data").to_str().unwrap()
    );

    let out = d.docker(&["volume", "rm", "used"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("remove used: volume is in use - [{id}]")),
        "{}",
        stderr(&out)
    );
    let (status, _) = d.raw("DELETE", "/v1.50/volumes/used?force=1", None);
    assert_eq!(status, 409, "force does not remove a volume in use");
    assert!(
        d.docker_ok(&["volume", "ls", "-q", "--filter", "dangling=true"])
            .trim()
            .is_empty()
    );

    // Counts are rebuilt from the container records after a crash.
    d.kill9();
    d.spawn();
    let (status, _) = d.raw("DELETE", "/v1.50/volumes/used", None);
    assert_eq!(status, 409);
    d.docker_ok(&["rm", "user"]);
    d.docker_ok(&["volume", "rm", "used"]);
}

#[test]

fn image_volume_gets_image_content_and_goes_with_rm_v() {
    let d = Daemon::start();
    load_volume_image(&d);
    let out = d.docker_ok(&["run", "--name", "cv", "volimg:1", "cat", "/data/hello"]);
    assert_eq!(out.trim(), "from the image");
    let m = mounts(&d, "cv");
    assert_eq!(m.len(), 1, "{m:?}");
    let name = m[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert_eq!(
        (m[0]["Type"].as_str(), m[0]["Destination"].as_str()),
        (Some("volume"), Some("/data"))
    );
    assert_eq!(
        (
            m[0]["Mode"].as_str(),
            m[0]["RW"].as_bool(),
            m[0]["Propagation"].as_str()
        ),
        (Some(""), Some(true), Some(""))
    );
    let v = json(&d.docker_ok(&["volume", "inspect", &name]));
    assert_eq!(v[0]["Labels"]["com.docker.volume.anonymous"], "");
    d.docker_ok(&["rm", "-v", "cv"]);
    assert!(
        volume_names(&d).is_empty(),
        "rm -v removes the anonymous volume"
    );

    // --rm removes it too; -v /path makes one; nocopy keeps it empty; a named volume
    // that already has data is not overwritten.
    d.docker_ok(&["run", "--rm", "-v", "/extra", "volimg:1", "true"]);
    assert!(volume_names(&d).is_empty());
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,dst=/data,volume-nocopy",
        "volimg:1",
        "ls",
        "-A",
        "/data",
    ]);
    assert_eq!(out.trim(), "");
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "mine:/data",
        "volimg:1",
        "sh",
        "-c",
        "echo changed > /data/hello",
    ]);
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "mine:/data",
            "volimg:1",
            "cat",
            "/data/hello"
        ])
        .trim(),
        "changed"
    );
    assert_eq!(volume_names(&d), ["mine"], "named volumes survive --rm");
}

#[test]

fn binds_read_only_and_created_sources() {
    let d = Daemon::start();
    load_busybox(&d);
    let host = tempfile::tempdir().unwrap();
    let h = host.path().to_str().unwrap();
    std::fs::write(host.path().join("in"), b"host file").unwrap();
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/h:ro"),
        "busybox",
        "sh",
        "-c",
        "cat /h/in && touch /h/new",
    ]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("host file"));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!host.path().join("new").exists());

    d.docker_ok(&[
        "create",
        "--name",
        "bnd",
        "-v",
        &format!("{h}:/h:ro"),
        "--mount",
        &format!("type=bind,src={h},dst=/m,bind-propagation=rslave"),
        "busybox",
    ]);
    let m = mounts(&d, "bnd");
    let ro = m.iter().find(|m| m["Destination"] == "/h").unwrap();
    assert_eq!(
        (
            ro["Type"].as_str(),
            ro["Source"].as_str(),
            ro["Mode"].as_str()
        ),
        (Some("bind"), Some(h), Some("ro"))
    );
    assert_eq!(
        (ro["RW"].as_bool(), ro["Propagation"].as_str()),
        (Some(false), Some("rprivate"))
    );
    let rs = m.iter().find(|m| m["Destination"] == "/m").unwrap();
    assert_eq!(
        (
            rs["Mode"].as_str(),
            rs["RW"].as_bool(),
            rs["Propagation"].as_str()
        ),
        (Some(""), Some(true), Some("rslave"))
    );

    // -v creates a missing host directory; --mount refuses it.
    let new = host.path().join("made/by/v");
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/n", new.display()),
        "busybox",
        "true",
    ]);
    assert!(new.is_dir());
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,src=/no/such/dir,dst=/x",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains(
            "invalid mount config for type \"bind\": bind source path does not exist: /no/such/dir"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]

fn tmpfs_mounts_have_the_asked_size() {
    let d = Daemon::start();
    load_busybox(&d);
    let df = |args: &[&str], path: &str| -> String {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "sh", "-c"]);
        let script = format!("grep ' {path} ' /proc/mounts; df -k {path} | tail -1");
        a.push(&script);
        d.docker_ok(&a)
    };
    let out = df(&["--mount", "type=tmpfs,dst=/t,tmpfs-size=10m"], "/t");
    assert!(out.contains("tmpfs /t tmpfs"), "{out}");
    assert!(
        out.lines().last().unwrap().split_whitespace().nth(1) == Some("10240"),
        "{out}"
    );
    let out = df(&["--tmpfs", "/run2:size=5m"], "/run2");
    assert!(
        out.lines().last().unwrap().split_whitespace().nth(1) == Some("5120"),
        "{out}"
    );

    // A local volume on tmpfs: mounted on first use, unmounted when the last user goes.
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=10m",
        "tv",
    ]);
    let out = df(&["-v", "tv:/v"], "/v");
    assert!(
        out.lines().last().unwrap().split_whitespace().nth(1) == Some("10240"),
        "{out}"
    );
    let data = d.data_root.join("volumes/tv/_data");
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(data.to_str().unwrap());
    assert!(!mounted, "unmounted after the container exited");
    d.docker_ok(&["volume", "rm", "tv"]);
}

#[test]

fn volumes_from_shares_mounts() {
    let d = Daemon::start();
    load_busybox(&d);
    d.docker_ok(&[
        "create",
        "--name",
        "donor",
        "-v",
        "shared:/s",
        "-v",
        "/anon",
        "busybox",
    ]);
    d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "donor",
        "busybox",
        "sh",
        "-c",
        "echo x > /s/f && echo y > /anon/g",
    ]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "donor:ro",
        "busybox",
        "cat",
        "/s/f",
        "/anon/g",
    ]);
    assert_eq!(out, "x\ny\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "donor:ro",
        "busybox",
        "touch",
        "/s/new",
    ]);
    assert!(
        !out.status.success() && stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    d.docker_ok(&[
        "create",
        "--name",
        "heir",
        "--volumes-from",
        "donor",
        "busybox",
    ]);
    let names: Vec<String> = mounts(&d, "heir")
        .iter()
        .map(|m| m["Destination"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"/s".to_string()) && names.contains(&"/anon".to_string()),
        "{names:?}"
    );
    let out = d.docker(&["run", "--rm", "--volumes-from", "nope", "busybox", "true"]);
    assert!(!out.status.success());
}

#[test]

fn hostile_mount_specs_are_refused_and_create_nothing() {
    let d = Daemon::start();
    load_busybox(&d);
    let cases: &[(&[&str], &str)] = &[
        (
            &["-v", "/tmp:relative"],
            "invalid mount path: 'relative' mount path must be absolute",
        ),
        (
            &["--mount", "type=bind,src=/tmp,dst=relative"],
            "invalid mount path: 'relative' mount path must be absolute",
        ),
        (
            &["--mount", "type=bind,src=/definitely/missing,dst=/x"],
            "bind source path does not exist: /definitely/missing",
        ),
        (
            &["--mount", "type=bind,src=/tmp,dst=/x,foo=bar"],
            "unexpected key 'foo'",
        ),
        (
            &["--mount", "type=volume,src=../x,dst=/d"],
            "includes invalid characters for a local volume name",
        ),
        (
            &["-v", "../escape:/d", "-v", "v1:/d"],
            "Duplicate mount point: /d",
        ),
        (
            &["-v", "okvol:/a", "-v", "/tmp:/b:bogus"],
            "invalid mode: bogus",
        ),
        (&["--tmpfs", "/t:size=1m,bogus"], "invalid tmpfs option"),
    ];
    for (args, want) in cases {
        let mut a = vec!["create"];
        a.extend_from_slice(args);
        a.push("busybox");
        let out = d.docker(&a);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    // Through the API: an unknown mount type is a 400.
    let (status, raw) = d.raw(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"foo","Source":"x","Target":"/x"}]}}"#),
    );
    assert_eq!(status, 400, "{raw}");
    assert!(
        body(&raw)["message"]
            .as_str()
            .unwrap()
            .contains("invalid mount config for type \"foo\": mount type unknown"),
        "{raw}"
    );
    assert!(
        d.docker_ok(&["ps", "-aq"]).trim().is_empty(),
        "no container created"
    );
    assert!(
        volume_names(&d).is_empty(),
        "no volume created: {:?}",
        volume_names(&d)
    );
    assert!(volume_dirs(&d).is_empty());
}

#[test]

fn system_df_shows_volume_usage() {
    let d = Daemon::start();
    load_busybox(&d);
    d.docker_ok(&[
        "run",
        "--name",
        "wv",
        "-v",
        "sized:/s",
        "busybox",
        "sh",
        "-c",
        "head -c 2000000 /dev/zero > /s/f",
    ]);
    let out = d.docker_ok(&["system", "df", "-v"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("sized"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((cols[1], cols[2]), ("1", "2MB"), "{line}");
}
