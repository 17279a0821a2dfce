//! Images and registries end to end: the real docker CLI against berthd and
//! a real `docker-registry` on loopback (push, pull, login, mirrors, a killed
//! pull, a corrupt blob).

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_integration::fixtures;
use berth_integration::images::{files_below, ids, inspect, load};
use berth_integration::registry::Registry;
use berth_integration::{Daemon, stderr, stdout};

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
    // `docker login --password-stdin` with `password` piped in.
    let login = |password: &[u8]| {
        let mut c = d
            .docker_cmd(&["login", "-u", "tester", "--password-stdin", &reg.addr()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(c.stdin.as_mut().unwrap(), password).unwrap();
        drop(c.stdin.take());
        c.wait_with_output().unwrap()
    };
    let bad = login(b"wrong\n");
    assert!(
        !bad.status.success() && stderr(&bad).contains("401"),
        "{}",
        stderr(&bad)
    );
    let ok = login(b"s3cret\n");
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
