//! Remote (plugin) volume drivers: the shared conformance suite against a
//! fake plugin process (tests/plugins/testplugin.py), then the service using
//! a plugin it looks up lazily: create, list merging the plugin's own
//! volumes, mounts for a container with 64-hex mount ids, remove, and clear
//! errors for absent or dead plugins.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use berth_core::events::EventBus;
use berth_core::filters::Filters;
use berth_core::store::Store;
use berth_core::{Classify, ErrorKind};
use berth_plugin::dto::iface;
use berth_plugin::{Dirs, Registry, Settings};
use berth_volume::remote::RemoteVolumeDriver;
use berth_volume::{MountKind, MountRequest, Origin, VolumeService};

struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/plugins/testplugin.py")
}

fn start(sock: &Path, root: &Path, log: &Path) -> Plugin {
    let ready = sock.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let name = sock.file_stem().unwrap().to_string_lossy().to_string();
    let mut child = Command::new("python3")
        .arg(script())
        .args(["--name", &name, "--kind", "volume"])
        .arg("--sock")
        .arg(sock)
        .arg("--volume-root")
        .arg(root)
        .arg("--log")
        .arg(log)
        .arg("--ready")
        .arg(&ready)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if ready.exists() {
            return Plugin(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("fake plugin did not start");
}

fn registry(run: &Path) -> Arc<Registry> {
    Arc::new(Registry::new(
        Dirs {
            sockets: vec![run.to_path_buf()],
            specs: Vec::new(),
        },
        Settings {
            call_timeout: Duration::from_secs(5),
            retry_budget: Duration::from_secs(2),
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_driver_passes_the_conformance_suite() {
    let t = tempfile::tempdir().unwrap();
    let run = t.path().join("run");
    let _p = start(
        &run.join("fakevol.sock"),
        &t.path().join("data"),
        &t.path().join("log"),
    );
    let reg = registry(&run);
    let d = RemoteVolumeDriver::new(reg.get("fakevol", iface::VOLUME).await.unwrap());
    berth_volume::conformance::run(&d).await;
}

fn methods(log: &Path) -> Vec<(String, serde_json::Value)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["method"].as_str().unwrap().to_string(), v["body"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_uses_plugins_found_lazily() {
    let t = tempfile::tempdir().unwrap();
    let run = t.path().join("run");
    let log = t.path().join("log");
    let store = Arc::new(Store::open(&t.path().join("meta.db")).unwrap());
    let s =
        VolumeService::open(t.path().join("volumes"), store, Arc::new(EventBus::new())).unwrap();
    s.set_plugins(registry(&run));

    let e = s.create("v1", "tvol", None, None).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (
            ErrorKind::NotFound,
            "create v1: error looking up volume plugin tvol: plugin \"tvol\" not found"
        )
    );
    let p = start(&run.join("tvol.sock"), &t.path().join("data"), &log);
    let opts = std::collections::BTreeMap::from([("size".to_string(), "1g".to_string())]);
    let v = s.create("v1", "tvol", Some(opts), None).await.unwrap();
    assert_eq!((v.driver.as_str(), v.scope.as_str()), ("tvol", "local"));
    assert_eq!(v.created_at, "2024-01-02T03:04:05Z");
    assert!(s.driver_names().contains(&"tvol".to_string()));

    // A volume the plugin has that berth never created shows in ls and inspect.
    let c = berth_plugin::Client::new(
        "tvol",
        berth_plugin::Addr::Unix(run.join("tvol.sock")),
        Settings::default(),
    )
    .unwrap();
    let _: berth_plugin::dto::Empty = c
        .call(
            "VolumeDriver.Create",
            Some(&serde_json::json!({"Name": "outside", "Opts": null})),
        )
        .await
        .unwrap();
    let (vols, warnings) = s.list(&Filters::default()).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let names: Vec<(&str, &str)> = vols
        .iter()
        .map(|v| (v.name.as_str(), v.driver.as_str()))
        .collect();
    assert!(
        names.contains(&("v1", "tvol")) && names.contains(&("outside", "tvol")),
        "{names:?}"
    );
    assert_eq!(s.inspect("outside").await.unwrap().driver, "tvol");

    // A container mounts it: Mount with a 64-hex id, Unmount with the same.
    let cid = berth_core::id::generate();
    let mut req = MountRequest::new(MountKind::Volume, Origin::Mount, "/data");
    req.name = "v1".into();
    req.driver = "tvol".into();
    req.rw = true;
    let reqs = s.create_mounts(&cid, vec![req]).await.unwrap();
    let mounts = s.prepare_mounts(&cid, &reqs, None).await.unwrap();
    assert_eq!(mounts[0].host_path, t.path().join("data/v1"));
    let e = s.remove("v1", false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "in use: {e}");
    s.release(&cid, false).await;
    let calls = methods(&log);
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
    let create = calls
        .iter()
        .find(|(m, b)| m == "VolumeDriver.Create" && b["Name"] == "v1")
        .unwrap();
    assert_eq!(create.1["Opts"]["size"], "1g");
    // Docker's order: Get (absent) before Create.
    let first_get = calls
        .iter()
        .position(|(m, _)| m == "VolumeDriver.Get")
        .unwrap();
    assert!(
        first_get
            < calls
                .iter()
                .position(|(m, _)| m == "VolumeDriver.Create")
                .unwrap()
    );
    s.remove("v1", false).await.unwrap();
    assert_eq!(
        s.inspect("v1").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // The plugin dies: calls fail with an error naming it; local volumes still work.
    drop(p);
    let e = s.inspect("outside").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("plugin \"tvol\""), "{e}");
    s.create("localvol", "", None, None).await.unwrap();
    let (vols, warnings) = s.list(&Filters::default()).await.unwrap();
    assert!(vols.iter().any(|v| v.name == "localvol"));
    assert!(warnings.iter().any(|w| w.contains("tvol")), "{warnings:?}");
}
