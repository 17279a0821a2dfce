//! The one behaviour suite every snapshotter passes (run as root: it mounts).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use berth_core::store::Store;

use super::mount::{mount_all, unmount};
use super::*;
use crate::unpack::{WhiteoutMode, apply_layer};

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1000);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn with_mount<T>(mounts: &[Mount], dir: &Path, f: impl FnOnce(&Path) -> T) -> T {
    let target = dir.join(format!("mnt-{:x}", rand::random::<u32>()));
    fs::create_dir_all(&target).unwrap();
    mount_all(mounts, &target).unwrap();
    let out = f(&target);
    unmount(&target).unwrap();
    out
}

fn suite(s: &dyn Snapshotter, dir: &Path) {
    // A base layer, applied directly and committed.
    s.prepare("extract-1", None).unwrap();
    let base = tar_of(&[
        ("etc/passwd", b"root"),
        ("etc/motd", b"hi"),
        ("bin/sh", b"sh"),
    ]);
    apply_layer(
        &base[..],
        &s.apply_dir("extract-1").unwrap(),
        s.whiteout_mode(),
    )
    .unwrap();
    s.commit("l1", "extract-1").unwrap();
    assert_eq!(s.stat("l1").unwrap().unwrap().kind, Kind::Committed);
    assert!(s.stat("extract-1").unwrap().is_none());
    assert!(
        s.commit("l1b", "l1").is_err(),
        "committed snapshots cannot be committed again"
    );

    // A second layer with a whiteout, on top.
    s.prepare("extract-2", Some("l1")).unwrap();
    let upper = tar_of(&[("etc/.wh.motd", b""), ("etc/added", b"new")]);
    apply_layer(
        &upper[..],
        &s.apply_dir("extract-2").unwrap(),
        s.whiteout_mode(),
    )
    .unwrap();
    s.commit("l2", "extract-2").unwrap();

    // A container layer: sees the stack, writes go to it alone.
    let mounts = s.prepare("rw", Some("l2")).unwrap();
    with_mount(&mounts, dir, |root| {
        assert_eq!(fs::read(root.join("etc/passwd")).unwrap(), b"root");
        assert_eq!(fs::read(root.join("etc/added")).unwrap(), b"new");
        assert!(
            !root.join("etc/motd").exists(),
            "whiteout hides the lower file"
        );
        fs::write(root.join("etc/passwd"), b"changed").unwrap();
        fs::create_dir(root.join("data")).unwrap();
        fs::write(root.join("data/file"), vec![1u8; 5000]).unwrap();
        fs::remove_file(root.join("bin/sh")).unwrap();
    });
    assert_eq!(s.mounts("rw").unwrap(), mounts);
    let changes: Vec<(String, ChangeKind)> = s
        .changes("rw")
        .unwrap()
        .into_iter()
        .map(|c| (c.path, c.kind))
        .collect();
    for want in [
        ("/bin".to_string(), ChangeKind::Modified),
        ("/bin/sh".to_string(), ChangeKind::Deleted),
        ("/data".to_string(), ChangeKind::Added),
        ("/data/file".to_string(), ChangeKind::Added),
        ("/etc/passwd".to_string(), ChangeKind::Modified),
    ] {
        assert!(
            changes.contains(&want),
            "{} missing {want:?} in {changes:?}",
            s.name()
        );
    }
    assert!(
        !changes.iter().any(|(p, _)| p == "/etc/added"),
        "{changes:?}"
    );
    let entries = s.diff_entries("rw").unwrap();
    assert!(
        entries.contains(&DiffEntry::Whiteout("bin/sh".into())),
        "{entries:?}"
    );
    assert!(entries.contains(&DiffEntry::Content("data/file".into())));
    assert!(s.usage("rw").unwrap().size >= 5000);

    // Lower layers are untouched.
    with_mount(&s.view("v", Some("l2")).unwrap(), dir, |root| {
        assert_eq!(fs::read(root.join("etc/passwd")).unwrap(), b"root");
        assert!(root.join("bin/sh").exists());
        assert!(
            fs::write(root.join("x"), b"x").is_err(),
            "views are read-only"
        );
    });

    // Parents cannot go while children exist; removal frees in order.
    assert!(s.remove("l1").is_err());
    assert!(s.prepare("rw", Some("l2")).is_err(), "keys are unique");
    assert!(s.prepare("orphan", Some("nope")).is_err() || s.parallel_apply());
    let _ = s.remove("orphan");
    s.remove("v").unwrap();
    s.remove("rw").unwrap();
    s.remove("l2").unwrap();
    s.remove("l1").unwrap();
    assert!(s.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(dir.join(s.name()).join("snapshots"))
            .unwrap()
            .count(),
        0
    );
}

fn store(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open(&dir.join("meta.db")).unwrap())
}

#[test]
fn overlay_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("overlayfs");
    fs::create_dir_all(&root).unwrap();
    assert!(
        overlay::Overlay::supported(&root),
        "overlayfs must work on this host"
    );
    let s = overlay::Overlay::open(&root, store(dir.path())).unwrap();
    assert_eq!(s.whiteout_mode(), WhiteoutMode::Overlay);
    suite(&s, dir.path());
}

#[test]
fn naive_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let s = naive::Naive::open(&dir.path().join("naive"), store(dir.path())).unwrap();
    suite(&s, dir.path());
}

#[test]
fn crash_leftovers_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let root = dir.path().join("naive");
    {
        let s = naive::Naive::open(&root, st.clone()).unwrap();
        s.prepare("a", None).unwrap();
    }
    fs::create_dir_all(root.join("snapshots/999/fs")).unwrap();
    let s = naive::Naive::open(&root, st).unwrap();
    assert!(!root.join("snapshots/999").exists());
    assert!(s.stat("a").unwrap().is_some());
}
