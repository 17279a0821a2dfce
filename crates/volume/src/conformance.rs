//! The one behaviour suite every [`VolumeDriver`] passes (the local driver now,
//! remote plugin drivers later): create/get/list/path, mount counting,
//! data surviving unmount, remove, and NotFound for missing volumes.
//!
//! Call [`run`] from a test with a driver whose mountpoints are host paths this
//! process can write (it writes one small file per volume).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use berth_core::{Classify, ErrorKind};

use crate::driver::{Scope, VolumeDriver};

fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Run the suite against `d`.
pub async fn run(d: &dyn VolumeDriver) {
    let caps = d.capabilities().await.expect("capabilities");
    assert!(matches!(caps.scope, Scope::Local | Scope::Global));

    let a = unique("conf-a");
    let b = unique("conf-b");
    let missing = unique("conf-missing");

    // Create, get, list, path.
    d.create(&a, &BTreeMap::new()).await.expect("create a");
    d.create(&b, &BTreeMap::new()).await.expect("create b");
    let va = d.get(&a).await.expect("get a");
    assert_eq!(va.name, a);
    let names: Vec<String> = d
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(names.contains(&a) && names.contains(&b), "{names:?}");
    if let Some(t) = &va.created_at {
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "CreatedAt is RFC 3339: {t}"
        );
    }

    // Mount gives a writable directory; data survives unmount and a new mount.
    let p1 = d.mount(&a, "id-1").await.expect("mount a");
    assert!(p1.is_absolute() && p1.is_dir(), "{}", p1.display());
    std::fs::write(p1.join("hello"), b"world").unwrap();
    let p2 = d.mount(&a, "id-2").await.expect("second mount of a");
    assert_eq!(p1, p2, "one volume, one path");
    d.unmount(&a, "id-1").await.expect("unmount id-1");
    assert_eq!(
        std::fs::read(p2.join("hello")).unwrap(),
        b"world",
        "still mounted for id-2"
    );
    d.unmount(&a, "id-2").await.expect("unmount id-2");
    let p3 = d.mount(&a, "id-3").await.expect("mount again");
    assert_eq!(
        std::fs::read(p3.join("hello")).unwrap(),
        b"world",
        "data survives unmount"
    );
    assert_eq!(d.path(&a).await.expect("path while mounted"), p3);
    d.unmount(&a, "id-3").await.expect("unmount id-3");

    // Volumes are separate.
    let pb = d.mount(&b, "id-b").await.expect("mount b");
    assert!(!pb.join("hello").exists(), "b does not see a's data");
    d.unmount(&b, "id-b").await.expect("unmount b");

    // Creating an existing volume keeps its data.
    d.create(&a, &BTreeMap::new())
        .await
        .expect("create existing");
    let p4 = d.mount(&a, "id-4").await.expect("mount after re-create");
    assert_eq!(std::fs::read(p4.join("hello")).unwrap(), b"world");
    d.unmount(&a, "id-4").await.expect("unmount id-4");

    // Remove.
    d.remove(&a).await.expect("remove a");
    assert_eq!(
        d.get(&a).await.expect_err("get removed").kind(),
        ErrorKind::NotFound
    );
    let names: Vec<String> = d
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(!names.contains(&a) && names.contains(&b), "{names:?}");
    d.remove(&b).await.expect("remove b");

    // Missing volumes are NotFound everywhere.
    assert_eq!(
        d.get(&missing).await.expect_err("get").kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.remove(&missing).await.expect_err("remove").kind(),
        ErrorKind::NotFound
    );
    assert!(
        d.mount(&missing, "x").await.is_err(),
        "mount of a missing volume fails"
    );
}
