//! Images end to end, locally: the real docker CLI against berthd with
//! archives (load, save, import, hostile layers), filters, prune and the
//! berth CLI. Registry round trips are in registry.rs.

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;

use berth_integration::fixtures::{self, TarBuilder};
use berth_integration::images::{files_below, ids, inspect, load};
use berth_integration::registry::Registry;
use berth_integration::{Daemon, stderr, stdout};

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
    assert_eq!(ids(&d), std::slice::from_ref(&id));
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
