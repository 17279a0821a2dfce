//! Images end to end: the real docker CLI against berthd, a real
//! `docker-registry` on loopback, and hostile archives.

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_integration::fixtures::{self, TarBuilder};
use berth_integration::registry::Registry;
use berth_integration::{Daemon, stderr, stdout};

fn load(d: &Daemon, tar: &Path) -> String {
    d.docker_ok(&["load", "-i", tar.to_str().unwrap()])
}

/// Distinct image ids (`docker images -q` prints one line per tag).
fn ids(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d
        .docker_ok(&["images", "-aq", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn inspect(d: &Daemon, name: &str) -> serde_json::Value {
    let out = d.docker_ok(&["image", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// Files (not directories) anywhere below `dir`.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn load_list_tag_inspect_history_rmi() {
    let d = Daemon::start();
    let out = load(&d, &fixtures::busybox_tar());
    assert!(
        out.contains("Loaded image: busybox:latest") && out.contains("Loaded image: alpine:3.10"),
        "{out}"
    );
    let list = d.docker_ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}",
    ]);
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(list.contains("busybox:latest"), "{list}");

    d.docker_ok(&["tag", "busybox", "127.0.0.1:5000/x/bb:1"]);
    let img = inspect(&d, "127.0.0.1:5000/x/bb:1");
    let tags: Vec<&str> = img["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"127.0.0.1:5000/x/bb:1") && tags.contains(&"busybox:latest"),
        "{tags:?}"
    );
    assert_eq!(img["Config"]["Cmd"][0], "sh");
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(img["Size"].as_i64().unwrap() > 1_000_000);
    assert_eq!(img["Os"], "linux");
    let id = img["Id"].as_str().unwrap().to_string();
    assert_eq!(inspect(&d, &id[7..19])["Id"], id.as_str());

    let hist = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}",
        "busybox",
    ]);
    assert_eq!(hist.trim(), format!("{id}|make-busybox-image.sh"));

    // Missing images: Docker's wording and 404.
    let o = d.docker(&["image", "inspect", "nope:1"]);
    assert!(
        !o.status.success() && stderr(&o).contains("No such image: nope:1"),
        "{}",
        stderr(&o)
    );

    // rmi by tag untags while other tags remain; by id with several repos needs -f.
    let o = d.docker_ok(&["rmi", "alpine:3.10"]);
    assert_eq!(o.trim(), "Untagged: alpine:3.10");
    let o = d.docker(&["rmi", &id]);
    assert!(
        stderr(&o).contains("must be forced")
            && stderr(&o).contains("referenced in multiple repositories"),
        "{}",
        stderr(&o)
    );
    let o = d.docker_ok(&["rmi", "-f", &id]);
    assert!(
        o.contains(&format!("Deleted: {id}")) && o.contains("Untagged: busybox:latest"),
        "{o}"
    );
    assert!(ids(&d).is_empty());
    assert!(
        files_below(&d.data_root.join("image/content/blobs")).is_empty(),
        "blobs left behind"
    );
}

#[test]
fn save_load_round_trip_and_archive_formats() {
    let a = Daemon::start();
    load(&a, &fixtures::layered_tar());
    load(&a, &fixtures::busybox_tar());
    let layered = inspect(&a, "layered:1");
    assert_eq!(layered["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    let hist = a.docker_ok(&["history", "-q", "layered:1"]);
    assert_eq!(hist.lines().count(), 2, "{hist}");

    // docker save | docker load into another daemon: same ids and tags.
    let b = Daemon::start();
    let mut save = a
        .docker_cmd(&["save", "layered:1", "busybox"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load_cmd = b
        .docker_cmd(&["load"])
        .stdin(save.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(save.wait().unwrap().success());
    let out = load_cmd.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Loaded image: layered:1") && text.contains("Loaded image: busybox:latest"),
        "{text}"
    );
    assert_eq!(inspect(&b, "layered:1")["Id"], layered["Id"]);
    assert_eq!(inspect(&b, "busybox")["Id"], inspect(&a, "busybox")["Id"]);

    // Loading the same archive again moves nothing and says so plainly.
    let out = load(&b, &fixtures::busybox_tar());
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");

    // An OCI archive (skopeo, gzip layers) loads too, with its name.
    let out = load(&b, &fixtures::oci_archive());
    assert!(out.contains("Loaded image: ocibox:1"), "{out}");
    assert_eq!(
        inspect(&b, "ocibox:1")["RootFS"]["Layers"],
        inspect(&b, "busybox")["RootFS"]["Layers"]
    );
}

#[test]
fn import_rootfs_with_changes() {
    let d = Daemon::start();
    let rootfs = TarBuilder::new()
        .dir("etc/")
        .file("etc/hello", b"hi\n")
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let tgz = dir.path().join("rootfs.tgz");
    std::fs::write(&tgz, fixtures::gzip(&rootfs)).unwrap();
    let out = d.docker_ok(&[
        "import",
        "-c",
        r#"CMD ["/bin/sh"]"#,
        "-c",
        "ENV A=1",
        "-c",
        "LABEL team=images",
        "-m",
        "from a test",
        tgz.to_str().unwrap(),
        "imported:1",
    ]);
    assert!(out.trim().starts_with("sha256:"), "{out}");
    let img = inspect(&d, "imported:1");
    assert_eq!(img["Id"], out.trim());
    assert_eq!(img["Config"]["Cmd"][0], "/bin/sh");
    assert_eq!(img["Config"]["Env"][0], "A=1");
    assert_eq!(img["Comment"], "from a test");
    assert_eq!(
        img["RootFS"]["Layers"][0],
        fixtures::digest(&rootfs).as_str()
    );
    let hist = d.docker_ok(&["history", "--format", "{{.Comment}}", "imported:1"]);
    assert_eq!(hist.trim(), "from a test");
    // From stdin, untagged.
    let mut c = d
        .docker_cmd(&["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), &rootfs).unwrap();
    drop(c.stdin.take());
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        d.docker_ok(&["images", "-q", "--filter", "dangling=true"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        d.docker_ok(&["images", "-q", "--filter", "label=team=images"])
            .lines()
            .count(),
        1
    );
}

#[test]
fn filters_and_prune() {
    let d = Daemon::start();
    load(&d, &fixtures::busybox_tar());
    load(&d, &fixtures::layered_tar());
    let refs = d.docker_ok(&[
        "images",
        "--format",
        "{{.Repository}}",
        "--filter",
        "reference=b*",
    ]);
    let mut refs: Vec<&str> = refs.lines().collect();
    refs.sort();
    assert_eq!(refs, ["bb", "busybox"]);
    assert_eq!(
        d.docker_ok(&[
            "images",
            "--format",
            "{{.Tag}}",
            "--filter",
            "dangling=false"
        ])
        .lines()
        .count(),
        5
    );
    let o = d.docker(&["images", "--filter", "bogus=1"]);
    assert!(
        !o.status.success() && stderr(&o).contains("invalid filter 'bogus'"),
        "{}",
        stderr(&o)
    );
    // Untag the layered image: it becomes dangling, prune removes it and frees its own layer only.
    d.docker_ok(&["rmi", "layered:1"]);
    let o = d.docker_ok(&["image", "prune", "-f"]);
    assert!(o.contains("Total reclaimed space"), "{o}");
    assert_eq!(ids(&d).len(), 1);
    assert!(
        d.docker_ok(&["images", "-q", "--filter", "dangling=true"])
            .trim()
            .is_empty()
    );
    inspect(&d, "busybox");
    let o = d.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(o.contains("Deleted"), "{o}");
    assert!(ids(&d).is_empty());
}

fn push_image(d: &Daemon, reg: &Registry, name: &str) -> String {
    let target = format!("{}/{name}", reg.addr());
    d.docker_ok(&["tag", "busybox", &target]);
    d.docker_ok(&["push", &target])
}

#[test]
fn push_pull_round_trip() {
    let reg = Registry::start();
    let d = Daemon::start();
    load(&d, &fixtures::layered_tar());
    d.docker_ok(&["tag", "layered:1", "busybox"]);
    let id = inspect(&d, "busybox")["Id"].as_str().unwrap().to_string();
    let out = push_image(&d, &reg, "x/bb:1");
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/x/bb]",
            reg.addr()
        )),
        "{out}"
    );
    assert!(
        out.contains("Pushed") && out.contains("1: digest: sha256:"),
        "{out}"
    );
    // The same layers to another repository: mounted, not uploaded again.
    let out = push_image(&d, &reg, "y/bb:2");
    assert!(
        out.contains("Mounted from x/bb") || out.contains("Layer already exists"),
        "{out}"
    );
    assert!(!out.contains("Pushed"), "{out}");
    // And again: everything exists.
    let out = push_image(&d, &reg, "x/bb:1");
    assert!(out.contains("Layer already exists"), "{out}");

    // A second daemon pulls it: progress drawn on a terminal, then the same image.
    let p = Daemon::start();
    let name = format!("{}/x/bb:1", reg.addr());
    let tty = Command::new("script")
        .args(["-qec", &format!("docker pull {name}"), "/dev/null"])
        .env("DOCKER_HOST", p.host())
        .env("DOCKER_CONFIG", &p.docker_config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&tty);
    assert!(tty.status.success(), "{text}\n{}", p.log());
    let pulling = format!("Pulling from {}/x/bb", reg.addr());
    for want in [
        pulling.as_str(),
        "Pull complete",
        "Digest: sha256:",
        "Status: Downloaded newer image for",
        "\u{1b}[",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text:?}");
    }
    let img = inspect(&p, &name);
    assert_eq!(img["Id"], id.as_str());
    let digests = img["RepoDigests"].as_array().unwrap();
    assert!(
        digests[0]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/x/bb@sha256:", reg.addr())),
        "{digests:?}"
    );
    let out = p.docker_ok(&["pull", &name]);
    assert!(out.contains("Image is up to date"), "{out}");
    // A missing tag is a clean 404 before any progress.
    let o = p.docker(&["pull", &format!("{}/x/bb:nope", reg.addr())]);
    assert!(
        !o.status.success() && stderr(&o).contains("not found"),
        "{}",
        stderr(&o)
    );
    // save of the pulled image loads elsewhere (blobs are all there).
    let mut save = p
        .docker_cmd(&["save", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load_out = d
        .docker_cmd(&["load"])
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(
        save.wait().unwrap().success() && load_out.status.success(),
        "{}",
        stderr(&load_out)
    );
    // Distribution inspect.
    let (status, body) = p.raw("GET", &format!("/v1.50/distribution/{name}/json"), None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"amd64\"") || body.contains("\"architecture\""),
        "{body}"
    );
}

#[test]
fn basic_auth_login_push_pull_logout() {
    let reg = Registry::start_htpasswd("tester", "s3cret");
    let d = Daemon::start();
    load(&d, &fixtures::busybox_tar());
    let target = format!("{}/auth/bb:1", reg.addr());
    d.docker_ok(&["tag", "busybox", &target]);
    let o = d.docker(&["push", &target]);
    assert!(!o.status.success(), "push without login must fail");
    assert!(
        format!("{}{}", stdout(&o), stderr(&o))
            .to_lowercase()
            .contains("unauthorized"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = d.docker(&["login", "-u", "tester", "--password-stdin", &reg.addr()]);
    assert!(!o.status.success(), "no password given");
    let mut c = d
        .docker_cmd(&["login", "-u", "tester", "--password-stdin", &reg.addr()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), b"wrong\n").unwrap();
    drop(c.stdin.take());
    let bad = c.wait_with_output().unwrap();
    assert!(
        !bad.status.success() && stderr(&bad).contains("401"),
        "{}",
        stderr(&bad)
    );
    let mut c = d
        .docker_cmd(&["login", "-u", "tester", "--password-stdin", &reg.addr()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), b"s3cret\n").unwrap();
    drop(c.stdin.take());
    let ok = c.wait_with_output().unwrap();
    assert!(
        ok.status.success() && stdout(&ok).contains("Login Succeeded"),
        "{}{}",
        stdout(&ok),
        stderr(&ok)
    );
    let out = d.docker_ok(&["push", &target]);
    assert!(out.contains("digest: sha256:"), "{out}");
    d.docker_ok(&["rmi", &target]);
    let out = d.docker_ok(&["pull", &target]);
    assert!(
        out.contains("Downloaded newer image") || out.contains("Image is up to date"),
        "{out}"
    );
    d.docker_ok(&["logout", &reg.addr()]);
    d.docker_ok(&["rmi", &target]);
    let o = d.docker(&["pull", &target]);
    assert!(!o.status.success(), "pull after logout must fail");
}

#[test]
fn registry_mirror_serves_docker_hub_names() {
    let reg = Registry::start();
    let src = Daemon::start();
    load(&src, &fixtures::busybox_tar());
    push_image(&src, &reg, "library/mirrored:1");
    let mirror = format!("http://{}", reg.addr());
    let d = Daemon::start_with(&["--registry-mirror", &mirror]);
    let out = d.docker_ok(&["pull", "mirrored:1"]);
    assert!(
        out.contains("Downloaded newer image for mirrored:1"),
        "{out}"
    );
    assert_eq!(
        inspect(&d, "mirrored:1")["Id"],
        inspect(&src, "busybox")["Id"]
    );
}

/// A docker archive whose only layer is `layer` (diff id as given or its digest).
fn archive_with(layer: Vec<u8>, diff: Option<String>) -> Vec<u8> {
    let (cfg, _) = fixtures::busybox_parts();
    fixtures::docker_archive(&cfg, &[layer], diff.map(|d| vec![d]), &["evil:1"])
}

#[test]
fn hostile_layers_are_refused() {
    let d = Daemon::start();
    let outside = d.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let out = outside.display().to_string();
    let t = |f: &dyn Fn(&mut TarBuilder)| {
        let mut b = TarBuilder::new();
        f(&mut b);
        b.finish()
    };
    let big = t(&|b| {
        b.file("big", &vec![7u8; 300_000]);
    });
    let gz = fixtures::gzip(&big);
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        (
            "dotdot",
            t(&|b| {
                b.file("../../../../../../escape", b"x");
            }),
            None,
        ),
        (
            "absolute",
            t(&|b| {
                b.file(&format!("{out}/abs"), b"x");
            }),
            None,
        ),
        (
            "symlink-then-write",
            t(&|b| {
                b.link("lnk", &out, false).file("lnk/pwned", b"x");
            }),
            None,
        ),
        (
            "relative-symlink-escape",
            t(&|b| {
                b.link("rel", "../../../../../../../../..", false)
                    .file("rel/tmp/pwned", b"x");
            }),
            None,
        ),
        (
            "dir-swapped-for-symlink",
            t(&|b| {
                b.dir("d/").link("d", &out, false).file("d/pwned", b"x");
            }),
            None,
        ),
        (
            "hardlink-outside",
            t(&|b| {
                b.link("h", &format!("{out}/secret"), true);
            }),
            None,
        ),
        (
            "hardlink-through-symlink",
            t(&|b| {
                b.link("s", &out, false).link("h", "s/secret", true);
            }),
            None,
        ),
        (
            "whiteout-through-symlink",
            t(&|b| {
                b.link("s", &out, false).file("s/.wh.secret", b"");
            }),
            None,
        ),
        (
            "truncated-gzip",
            gz[..gz.len() / 2].to_vec(),
            Some(fixtures::digest(&big)),
        ),
        (
            "digest-mismatch",
            big.clone(),
            Some(fixtures::digest(b"something else")),
        ),
    ];
    std::fs::write(outside.join("secret"), b"keep").unwrap();
    for (name, layer, diff) in cases {
        let archive = d.dir.path().join(format!("{name}.tar"));
        std::fs::write(&archive, archive_with(layer, diff)).unwrap();
        let o = d.docker(&["load", "-i", archive.to_str().unwrap()]);
        assert!(
            !o.status.success(),
            "{name}: hostile layer was accepted: {}",
            stdout(&o)
        );
        let msg = stderr(&o);
        assert!(!msg.trim().is_empty(), "{name}: no error message");
        eprintln!("{name}: {}", msg.trim());
        assert!(ids(&d).is_empty(), "{name}: an image was registered");
        assert_eq!(
            files_below(&outside),
            [outside.join("secret").display().to_string()],
            "{name}: wrote outside"
        );
        assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"keep");
    }
    for f in ["/escape", "/abs", "/tmp/pwned", "/pwned"] {
        assert!(!Path::new(f).exists(), "{f} appeared on the host");
    }
    // Nothing half-registered: no layers, no snapshots, no blobs.
    let snaps = d.data_root.join("image/overlayfs/snapshots");
    assert_eq!(
        std::fs::read_dir(&snaps).map(|r| r.count()).unwrap_or(0),
        0,
        "snapshots left in {}",
        snaps.display()
    );
    assert!(files_below(&d.data_root.join("image/content/blobs")).is_empty());
}

#[test]
fn killed_pull_leaves_a_consistent_store() {
    let reg = Registry::start();
    let src = Daemon::start();
    let archive = src.dir.path().join("big.tar");
    std::fs::write(&archive, fixtures::random_image(3, 16, "big:1")).unwrap();
    load(&src, &archive);
    let name = format!("{}/big/img:1", reg.addr());
    src.docker_ok(&["tag", "big:1", &name]);
    src.docker_ok(&["push", &name]);
    drop(src);

    let mut d = Daemon::start();
    load(&d, &fixtures::busybox_tar());
    let ingest = d.data_root.join("image/content/ingest");
    let mut pull = d
        .docker_cmd(&["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let started = std::fs::read_dir(&ingest)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false));
        if started || start.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    d.kill9();
    let _ = pull.wait();
    d.spawn();
    // Whatever survived is consistent: every listed image can be saved (all blobs present).
    for id in ids(&d) {
        let o = d
            .docker_cmd(&["save", &id])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "image {id} references missing content: {}",
            stderr(&o)
        );
    }
    assert!(
        !d.docker(&["image", "inspect", &name]).status.success(),
        "the pull was not interrupted"
    );
    let partial = files_below(&ingest)
        .iter()
        .any(|f| std::fs::metadata(f).map(|m| m.len() > 0).unwrap_or(false));
    // The pull can be repeated and completes.
    let out = d.docker_ok(&["pull", &name]);
    assert!(out.contains("Digest: sha256:"), "{out}");
    if partial {
        assert!(
            d.log().contains("resuming interrupted download"),
            "partial ingest was not resumed"
        );
    }
    let img = inspect(&d, &name);
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 4);
    let o = d
        .docker_cmd(&["save", &name])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        files_below(&ingest).is_empty(),
        "ingest left after a complete pull"
    );
}

#[test]
fn corrupt_registry_blob_fails_the_pull() {
    let reg = Registry::start();
    let src = Daemon::start();
    load(&src, &fixtures::busybox_tar());
    push_image(&src, &reg, "c/bb:1");
    // Overwrite the layer blob's data in the registry (same size, other bytes).
    let layer_blob = files_below(&reg.storage())
        .into_iter()
        .filter(|p| p.ends_with("/data"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let len = std::fs::metadata(&layer_blob).unwrap().len() as usize;
    std::fs::write(&layer_blob, vec![0x1fu8; len]).unwrap();
    let d = Daemon::start();
    let o = d.docker(&["pull", &format!("{}/c/bb:1", reg.addr())]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("mismatch") || text.contains("bad layer") || text.contains("invalid"),
        "{text}"
    );
    assert!(ids(&d).is_empty());
}

#[test]
fn berth_cli_image_commands() {
    let reg = Registry::start_htpasswd("cli", "pw");
    let d = Daemon::start();
    let run = |args: &[&str]| {
        let o = d.berth(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed: {}{}\n{}",
            stdout(&o),
            stderr(&o),
            berth_integration::tail(&d.log(), 20)
        );
        stdout(&o)
    };
    let bb = fixtures::busybox_tar();
    let out = run(&["load", "-i", bb.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let out = run(&["images"]);
    assert!(
        out.starts_with("REPOSITORY") && out.contains("busybox"),
        "{out}"
    );
    let id = run(&["image", "inspect", "--format", "{{.Id}}", "busybox"])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let target = format!("{}/cli/bb:1", reg.addr());
    run(&["tag", "busybox", &target]);
    let o = d.berth(&["push", &target]);
    assert!(!o.status.success(), "push without login must fail");
    let out = run(&["login", "-u", "cli", "-p", "pw", &reg.addr()]);
    assert!(out.contains("Login Succeeded"), "{out}");
    let cfg = std::fs::read_to_string(d.docker_config.join("config.json")).unwrap();
    assert!(cfg.contains(&reg.addr()), "{cfg}");
    let out = run(&["push", &target]);
    assert!(
        out.contains("Pushed") && out.contains("1: digest: sha256:"),
        "{out}"
    );
    let out = run(&["rmi", &target]);
    // The digest reference of the same repository goes with its last tag, as in Docker.
    assert!(
        out.starts_with(&format!(
            "Untagged: {target}\nUntagged: {}/cli/bb@sha256:",
            reg.addr()
        )),
        "{out}"
    );
    let out = run(&["pull", &target]);
    assert!(
        out.contains("Pull complete") || out.contains("Already exists"),
        "{out}"
    );
    assert_eq!(out.lines().last().unwrap(), target);
    let hist = run(&["history", "-q", "busybox"]);
    assert_eq!(hist.trim(), &id[7..19]);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.tar");
    run(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
    run(&["rmi", "-f", &id]);
    assert!(ids(&d).is_empty());
    let out = run(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let rootfs = dir.path().join("rootfs.tar");
    std::fs::write(&rootfs, TarBuilder::new().file("hello", b"hi").finish()).unwrap();
    let out = run(&[
        "import",
        "-c",
        "CMD [\"/hello\"]",
        rootfs.to_str().unwrap(),
        "imp:1",
    ]);
    assert!(out.trim().starts_with("sha256:"), "{out}");
    run(&["rmi", "imp:1"]);
    let out = run(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let out = run(&["logout", &reg.addr()]);
    assert!(out.contains("Removing login credentials"), "{out}");
}

#[test]
fn rmi_of_an_image_in_use_is_a_conflict() {
    let d = Daemon::start();
    load(&d, &fixtures::layered_tar());
    let id = inspect(&d, "layered:1")["Id"].as_str().unwrap().to_string();
    d.docker_ok(&["create", "--name", "user", "layered:1", "true"]);
    let o = d.docker(&["rmi", &id]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("image is being used by stopped container"),
        "{}",
        stderr(&o)
    );
    // By tag: untagged, the image stays for its container.
    let out = d.docker_ok(&["rmi", "layered:1"]);
    assert_eq!(out.trim(), "Untagged: layered:1");
    assert_eq!(ids(&d), [id.clone()]);
    d.docker_ok(&["rm", "user"]);
    let out = d.docker_ok(&["rmi", &id]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    // Image events were published with Docker's attributes.
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let ev = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    for want in ["load layered:1", "untag layered:1", "delete"] {
        assert!(
            ev.lines().any(|l| l.starts_with(want)),
            "missing event {want:?} in {ev}"
        );
    }
}
