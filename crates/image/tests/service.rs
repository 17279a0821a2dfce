//! ImageService end to end on a real data root (root only: it mounts overlays).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use berth_core::events::EventBus;
use berth_core::store::Store;
use berth_image::{CommitOptions, ImageOptions, ImageService, ImageUser, ImageUsers, ProgressSink};

fn busybox_tar(dir: &std::path::Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/make-busybox-image.sh");
    let st = Command::new(script)
        .arg(&out)
        .args(["busybox:latest", "bb:latest"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    out
}

fn open(dir: &std::path::Path, snap: &str) -> ImageService {
    let store = Arc::new(Store::open(&dir.join("meta.db")).unwrap());
    let opts = ImageOptions {
        snapshotter: Some(snap.into()),
        ..Default::default()
    };
    ImageService::open(dir.join("image"), store, Arc::new(EventBus::new()), opts).unwrap()
}

struct Users(Vec<ImageUser>);
impl ImageUsers for Users {
    fn containers_using(&self, _: &str) -> Vec<ImageUser> {
        self.0.clone()
    }
}

fn lifecycle(snap: &str) {
    let dir = tempfile::tempdir().unwrap();
    let tar = busybox_tar(dir.path());
    let svc = open(dir.path(), snap);
    let lines = svc
        .load(
            std::fs::File::open(&tar).unwrap(),
            &ProgressSink::none(),
            true,
        )
        .unwrap();
    assert!(
        lines.iter().any(|l| l == "Loaded image: busybox:latest\n"),
        "{lines:?}"
    );
    let img = svc.resolve("busybox").unwrap();
    assert_eq!(
        svc.resolve("docker.io/library/bb:latest").unwrap().id,
        img.id
    );
    assert_eq!(svc.resolve(&img.id[7..19]).unwrap().id, img.id);
    assert_eq!(img.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(img.repo_tags, ["bb:latest", "busybox:latest"]);
    assert!(img.size > 1_000_000);
    assert_eq!(
        svc.resolve("nope").unwrap_err().to_string(),
        "No such image: nope"
    );

    // A container layer: mount, write, diff, commit.
    svc.prepare_rw("c1", &img.id).unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    svc.mount_rw("c1", &mnt).unwrap();
    assert!(mnt.join("bin/busybox").exists());
    std::fs::write(mnt.join("etc/hello"), b"hi").unwrap();
    std::fs::remove_file(mnt.join("etc/group")).unwrap();
    svc.unmount_rw(&mnt).unwrap();
    let ch: Vec<(String, u8)> = svc
        .changes("c1")
        .unwrap()
        .into_iter()
        .map(|c| (c.path, c.kind.code()))
        .collect();
    assert_eq!(
        ch,
        [
            ("/etc".to_string(), 0),
            ("/etc/group".to_string(), 2),
            ("/etc/hello".to_string(), 1)
        ]
    );
    let mut tar_bytes = Vec::new();
    svc.diff_tar("c1", &mut tar_bytes).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar_bytes[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"etc/.wh.group".to_string()) && names.contains(&"etc/hello".to_string()),
        "{names:?}"
    );
    let mut cfg = img.config.clone();
    cfg.cmd = Some(vec!["cat".into(), "/etc/hello".into()]);
    let new_id = svc
        .commit(
            Some("c1"),
            Some(&img.id),
            CommitOptions {
                config: cfg,
                comment: "msg".into(),
                tags: vec!["mine:1".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let new = svc.resolve("mine:1").unwrap();
    assert_eq!(new.id, new_id);
    assert_eq!(new.diff_ids.len(), 2);
    assert_eq!(new.parent, img.id);
    assert_eq!(new.history.last().unwrap().comment, "msg");
    svc.prepare_rw("c2", &new_id).unwrap();
    svc.mount_rw("c2", &mnt).unwrap();
    assert_eq!(std::fs::read(mnt.join("etc/hello")).unwrap(), b"hi");
    assert!(!mnt.join("etc/group").exists());
    svc.unmount_rw(&mnt).unwrap();

    // In use: rmi refuses; untag works.
    svc.set_users(Arc::new(Users(vec![ImageUser {
        container_id: "abcdef0123456789".into(),
        running: true,
    }])));
    let err = svc.delete(&new_id, true, false).unwrap_err().to_string();
    assert!(
        err.contains("being used by running container abcdef012345"),
        "{err}"
    );
    svc.set_users(Arc::new(Users(vec![])));

    // save → fresh store → load round trip.
    let mut archive = Vec::new();
    svc.save(&["mine:1".into()], &mut archive).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let svc2 = open(dir2.path(), snap);
    svc2.load(&archive[..], &ProgressSink::none(), true)
        .unwrap();
    let back = svc2.resolve("mine:1").unwrap();
    assert_eq!(back.id, new_id);

    // Delete: busybox untag keeps the image (bb still names it); by id deletes.
    svc.remove_rw("c2").unwrap();
    svc.remove_rw("c1").unwrap();
    let d = svc.delete("busybox", false, false).unwrap();
    assert_eq!(d, [berth_image::Deleted::Untagged("busybox:latest".into())]);
    let d = svc.delete("mine:1", false, false).unwrap();
    assert_eq!(d.len(), 2, "{d:?}");
    let d = svc.delete("bb", false, false).unwrap();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(svc.list().unwrap().is_empty());
    assert!(svc.layer_sizes().unwrap().is_empty());
    let blobs = std::fs::read_dir(dir.path().join("image/content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
}

#[test]
fn lifecycle_overlay() {
    lifecycle("overlayfs");
}

#[test]
fn lifecycle_naive() {
    lifecycle("naive");
}
