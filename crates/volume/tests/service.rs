//! The volume service end to end on a real data root: the API operations, the
//! container lifecycle calls (create, mount with copy-up, release, restore) and
//! their reference counting. Runs as root (tmpfs volumes are really mounted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_api::types::container::{HostConfig, Mount};
use berth_core::events::EventBus;
use berth_core::filters::Filters;
use berth_core::store::Store;
use berth_core::{Classify, ErrorKind};
use berth_volume::mounter::{Mounter, SysMounter};
use berth_volume::{ContainerUse, MountKind, VolumeService, VolumesFrom, plan_mounts};

struct Env {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    events: Arc<EventBus>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("meta.db")).unwrap());
        Env {
            dir,
            store,
            events: Arc::new(EventBus::new()),
        }
    }

    fn service(&self) -> VolumeService {
        VolumeService::open(
            self.dir.path().join("volumes"),
            self.store.clone(),
            self.events.clone(),
        )
        .unwrap()
    }

    fn actions(&self) -> Vec<String> {
        let (past, _) = self.events.subscribe(Some(0));
        past.into_iter()
            .map(|e| format!("{} {}", e.action, e.actor.id))
            .collect()
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn hc(binds: &[&str]) -> HostConfig {
    HostConfig {
        binds: Some(binds.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

const C1: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const C2: &str = "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";

#[tokio::test]
async fn create_inspect_list_remove() {
    let env = Env::new();
    let s = env.service();
    let v = s
        .create("web", "", Some(map(&[])), Some(map(&[("app", "web")])))
        .await
        .unwrap();
    assert_eq!(
        (v.name.as_str(), v.driver.as_str(), v.scope.as_str()),
        ("web", "local", "local")
    );
    assert_eq!(
        Path::new(&v.mountpoint),
        env.dir.path().join("volumes/web/_data")
    );
    assert!(chrono::DateTime::parse_from_rfc3339(&v.created_at).is_ok());
    assert_eq!(v.labels.as_ref().unwrap()["app"], "web");
    assert_eq!(v.options, Some(BTreeMap::new()));

    // Creating an existing name returns it unchanged.
    let again = s
        .create("web", "local", None, Some(map(&[("other", "x")])))
        .await
        .unwrap();
    assert_eq!(again, v);
    let e = s.create("web", "nfs-plugin", None, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        "create web: driver 'local' already has volume 'web': volume name must be unique"
    );
    let e = s.create("x2", "nope", None, None).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (
            ErrorKind::NotFound,
            "create x2: error looking up volume plugin nope: plugin \"nope\" not found"
        )
    );

    assert_eq!(s.inspect("web").await.unwrap(), v);
    let e = s.inspect("nope").await.unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (ErrorKind::NotFound, "get nope: no such volume")
    );

    s.create("db", "", None, None).await.unwrap();
    let (all, warnings) = s.list(&Filters::default()).await.unwrap();
    assert!(warnings.is_empty());
    assert_eq!(
        all.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["db", "web"]
    );
    let (f, _) = s
        .list(&Filters::from_pairs([("label", "app=web")]))
        .await
        .unwrap();
    assert_eq!(f.len(), 1);
    let (f, _) = s.list(&Filters::from_pairs([("name", "d")])).await.unwrap();
    assert_eq!(f[0].name, "db");
    let e = s
        .list(&Filters::from_pairs([("colour", "red")]))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (ErrorKind::InvalidArgument, "invalid filter 'colour'")
    );

    s.remove("db", false).await.unwrap();
    assert_eq!(
        s.remove("db", false).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    s.remove("db", true).await.unwrap();
    assert!(!env.dir.path().join("volumes/db").exists());
    let acts = env.actions();
    assert!(
        acts.contains(&"create web".to_string()) && acts.contains(&"destroy db".to_string()),
        "{acts:?}"
    );

    // Survives a restart of the service.
    drop(s);
    let s = env.service();
    assert_eq!(s.inspect("web").await.unwrap(), v);
}

#[tokio::test]
async fn hostile_names_create_nothing() {
    let env = Env::new();
    let s = env.service();
    for bad in ["../x", "a/b", "..", "/abs"] {
        let e = s.create(bad, "", None, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert!(e.to_string().starts_with(&format!("create {bad}: ")), "{e}");
        assert!(
            e.to_string()
                .contains("includes invalid characters for a local volume name"),
            "{e}"
        );
    }
    assert!(s.list(&Filters::default()).await.unwrap().0.is_empty());
    assert!(!env.dir.path().join("x").exists());
    let entries = std::fs::read_dir(env.dir.path().join("volumes"))
        .unwrap()
        .count();
    assert_eq!(entries, 0);
    let e = s
        .create("ok-name", "", Some(map(&[("type", "tmpfs")])), None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "create ok-name: missing required option: \"device\""
    );
}

#[tokio::test]
async fn anonymous_volumes_and_prune() {
    let env = Env::new();
    let s = env.service();
    let anon = s.create("", "", None, None).await.unwrap();
    assert_eq!(anon.name.len(), 64);
    assert_eq!(
        anon.labels
            .as_ref()
            .unwrap()
            .get("com.docker.volume.anonymous")
            .map(String::as_str),
        Some("")
    );
    s.create("named", "", None, None).await.unwrap();
    s.create("kept", "", None, Some(map(&[("keep", "1")])))
        .await
        .unwrap();
    s.create(
        "opt",
        "",
        Some(map(&[("type", "tmpfs"), ("device", "tmpfs")])),
        None,
    )
    .await
    .unwrap();
    std::fs::write(Path::new(&anon.mountpoint).join("f"), vec![0u8; 1000]).unwrap();

    let r = s.prune(&Filters::default()).await.unwrap();
    assert_eq!(r.volumes_deleted, std::slice::from_ref(&anon.name));
    assert_eq!(r.space_reclaimed, 1000);
    let r = s
        .prune(&Filters::from_pairs([("all", "true"), ("label!", "keep")]))
        .await
        .unwrap();
    assert_eq!(r.volumes_deleted, ["named"]);
    let left: Vec<String> = s
        .list(&Filters::default())
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(
        left,
        ["kept", "opt"],
        "volumes with options are never pruned"
    );
    assert!(
        s.prune(&Filters::from_pairs([("until", "1h")]))
            .await
            .is_err()
    );
    assert!(env.actions().iter().any(|a| a.starts_with("prune")));
}

#[tokio::test]
async fn container_lifecycle_refcounts_copy_up_and_restore() {
    let env = Env::new();
    let s = env.service();
    // An "image rootfs" with content at /data and a file at /etc/conf.
    let rootfs = env.dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("data/sub")).unwrap();
    std::fs::write(rootfs.join("data/sub/hello"), b"from image").unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    let host = env.dir.path().join("hostdir/new");

    let h = hc(&["shared:/shared", &format!("{}:/host:ro", host.display())]);
    let reqs = plan_mounts(&h, &["/data".into()], &[]).unwrap();
    let reqs = s.create_mounts(C1, reqs).await.unwrap();
    let anon = reqs
        .iter()
        .find(|r| r.destination == "/data")
        .unwrap()
        .clone();
    assert_eq!(anon.name.len(), 64);
    let shared = reqs.iter().find(|r| r.destination == "/shared").unwrap();
    let mp = shared.mount_point().unwrap();
    assert_eq!(
        (
            mp.kind.as_str(),
            mp.name.as_str(),
            mp.driver.as_str(),
            mp.mode.as_str(),
            mp.rw
        ),
        ("volume", "shared", "local", "z", true)
    );
    assert_eq!(
        mp.source,
        env.dir
            .path()
            .join("volumes/shared/_data")
            .display()
            .to_string()
    );
    let amp = anon.mount_point().unwrap();
    assert_eq!((amp.mode.as_str(), amp.propagation.as_str()), ("", ""));

    // In use by a created (not running) container: no removal, even forced.
    let e = s.remove("shared", true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!("remove shared: volume is in use - [{C1}]")
    );
    assert!(
        s.list(&Filters::from_pairs([("dangling", "true")]))
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert_eq!(
        s.prune(&Filters::from_pairs([("all", "1")]))
            .await
            .unwrap()
            .volumes_deleted
            .len(),
        0
    );

    // First start: the -v host dir is created, the anonymous volume gets the image's content.
    let mounts = s.prepare_mounts(C1, &reqs, Some(&rootfs)).await.unwrap();
    assert!(host.is_dir());
    let data = mounts.iter().find(|m| m.destination == "/data").unwrap();
    assert_eq!(data.kind, MountKind::Volume);
    assert_eq!(
        std::fs::read(data.host_path.join("sub/hello")).unwrap(),
        b"from image"
    );
    let hm = mounts.iter().find(|m| m.destination == "/host").unwrap();
    assert!(hm.readonly && hm.propagation.as_deref() == Some("rprivate"));
    std::fs::write(data.host_path.join("mine"), b"1").unwrap();
    s.unmount(C1).await;

    // A second container shares /shared through --volumes-from.
    let from = VolumesFrom {
        mode: "ro".into(),
        mounts: reqs.clone(),
    };
    let reqs2 = s
        .create_mounts(
            C2,
            plan_mounts(&HostConfig::default(), &[], &[from]).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        reqs2.iter().all(|r| !r.rw),
        "volumes-from :ro makes every inherited mount read-only"
    );
    assert_eq!(s.refs("shared"), [C1, C2]);

    // Daemon restart (state in memory is lost): the engine restores from its records.
    drop(s);
    let s = env.service();
    assert!(s.refs("shared").is_empty());
    s.restore(vec![
        ContainerUse {
            container_id: C1.into(),
            mounts: reqs.clone(),
            running: false,
        },
        ContainerUse {
            container_id: C2.into(),
            mounts: reqs2.clone(),
            running: false,
        },
    ])
    .await;
    assert_eq!(
        s.remove("shared", false).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );

    // rm -v of C1: its anonymous volume goes (C2 still uses it through volumes-from? then it stays).
    s.release(C1, true).await;
    assert!(s.inspect(&anon.name).await.is_ok(), "still used by C2");
    s.release(C2, true).await;
    assert_eq!(
        s.inspect(&anon.name).await.unwrap_err().kind(),
        ErrorKind::NotFound,
        "anonymous volume removed with its last user"
    );
    assert!(
        s.inspect("shared").await.is_ok(),
        "named volumes survive rm -v"
    );
    s.remove("shared", false).await.unwrap();
    let acts = env.actions();
    assert!(
        acts.iter().any(|a| a.starts_with("mount "))
            && acts.iter().any(|a| a.starts_with("unmount ")),
        "{acts:?}"
    );
}

#[tokio::test]
async fn failed_create_mounts_leaves_nothing() {
    let env = Env::new();
    let s = env.service();
    s.create("exists", "", None, None).await.unwrap();
    let mut bad = Mount {
        kind: "volume".into(),
        source: "../evil".into(),
        target: "/e".into(),
        ..Default::default()
    };
    bad.read_only = false;
    let h = HostConfig {
        binds: Some(vec!["exists:/x".into()]),
        mounts: Some(vec![bad]),
        ..Default::default()
    };
    let reqs = plan_mounts(&h, &["/anon".into()], &[]).unwrap();
    let e = s.create_mounts(C1, reqs).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().starts_with("create ../evil: "), "{e}");
    assert!(s.refs("exists").is_empty());
    let names: Vec<String> = s
        .list(&Filters::default())
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["exists"], "no anonymous volume left behind");
}

#[tokio::test]
async fn tmpfs_volume_is_mounted_while_containers_run() {
    let env = Env::new();
    let s = env.service();
    s.create(
        "tv",
        "",
        Some(map(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=10m"),
        ])),
        None,
    )
    .await
    .unwrap();
    let data = env.dir.path().join("volumes/tv/_data");
    let reqs = s
        .create_mounts(C1, plan_mounts(&hc(&["tv:/t"]), &[], &[]).unwrap())
        .await
        .unwrap();
    let reqs2 = s
        .create_mounts(C2, plan_mounts(&hc(&["tv:/t"]), &[], &[]).unwrap())
        .await
        .unwrap();
    assert!(!SysMounter.is_mounted(&data).unwrap());
    s.prepare_mounts(C1, &reqs, None).await.unwrap();
    s.prepare_mounts(C2, &reqs2, None).await.unwrap();
    assert!(SysMounter.is_mounted(&data).unwrap());
    // Restarting C1 (prepare again) keeps the filesystem.
    std::fs::write(data.join("f"), b"x").unwrap();
    s.prepare_mounts(C1, &reqs, None).await.unwrap();
    assert_eq!(std::fs::read(data.join("f")).unwrap(), b"x");
    s.unmount(C1).await;
    s.unmount(C1).await;
    assert!(SysMounter.is_mounted(&data).unwrap(), "C2 still runs");

    // Crash and restart with C2 still running: the mount is adopted and counted.
    drop(s);
    let s = env.service();
    s.restore(vec![
        ContainerUse {
            container_id: C1.into(),
            mounts: reqs.clone(),
            running: false,
        },
        ContainerUse {
            container_id: C2.into(),
            mounts: reqs2.clone(),
            running: true,
        },
    ])
    .await;
    assert_eq!(std::fs::read(data.join("f")).unwrap(), b"x");
    s.unmount(C2).await;
    assert!(!SysMounter.is_mounted(&data).unwrap(), "last user gone");
    s.release(C1, false).await;
    s.release(C2, false).await;
    s.remove("tv", false).await.unwrap();
}

#[tokio::test]
async fn usage_reports_size_and_refcount() {
    let env = Env::new();
    let s = env.service();
    let v = s.create("u1", "", None, None).await.unwrap();
    std::fs::write(Path::new(&v.mountpoint).join("f"), vec![1u8; 4321]).unwrap();
    s.create_mounts(C1, plan_mounts(&hc(&["u1:/u"]), &[], &[]).unwrap())
        .await
        .unwrap();
    let usage = s.usage().await.unwrap();
    let u = usage[0].usage_data.as_ref().unwrap();
    assert_eq!((u.size, u.ref_count), (4321, 1));
    s.release(C1, true).await;
    assert_eq!(
        s.usage().await.unwrap()[0]
            .usage_data
            .as_ref()
            .unwrap()
            .ref_count,
        0
    );
}
