//! `plan_mounts` and the parsers against Docker's behaviour and messages.

use std::collections::BTreeMap;

use berth_api::types::container::{BindOptions, HostConfig, Mount, TmpfsOptions, VolumeOptions};

use super::*;

fn hc(binds: &[&str], mounts: Vec<Mount>, tmpfs: &[(&str, &str)]) -> HostConfig {
    HostConfig {
        binds: (!binds.is_empty()).then(|| binds.iter().map(|s| s.to_string()).collect()),
        mounts: (!mounts.is_empty()).then_some(mounts),
        tmpfs: (!tmpfs.is_empty()).then(|| {
            tmpfs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
        ..Default::default()
    }
}

fn mount(kind: &str, src: &str, dst: &str) -> Mount {
    Mount {
        kind: kind.into(),
        source: src.into(),
        target: dst.into(),
        ..Default::default()
    }
}

fn err(h: &HostConfig) -> String {
    plan_mounts(h, &[], &[]).unwrap_err().to_string()
}

#[test]
fn binds_become_docker_mount_points() {
    let t = tempfile::tempdir().unwrap();
    let host = t.path().display().to_string();
    let h = hc(
        &[
            &format!("{host}:/ctr:ro"),
            "named:/data",
            "/anon-dst",
            &format!("{host}/missing:/m:rshared"),
        ],
        vec![],
        &[],
    );
    let reqs = plan_mounts(&h, &[], &[]).unwrap();
    let pts = mount_points(&reqs);
    assert_eq!(pts.len(), 4);
    let b = &pts[0];
    assert_eq!(
        (b.kind.as_str(), b.source.as_str(), b.destination.as_str()),
        ("bind", host.as_str(), "/ctr")
    );
    assert_eq!(
        (b.mode.as_str(), b.rw, b.propagation.as_str()),
        ("ro", false, "rprivate")
    );
    let v = &reqs[1];
    assert_eq!(
        (v.kind, v.name.as_str(), v.rw, v.copy_data, v.anonymous),
        (MountKind::Volume, "named", true, true, false)
    );
    assert_eq!(pts[1].driver, "local");
    assert!(reqs[2].anonymous && reqs[2].name.is_empty());
    // A missing -v host path is fine now and created at start.
    assert!(reqs[3].create_source);
    assert_eq!(reqs[3].propagation, "rshared");
}

#[test]
fn bind_mode_and_spec_errors() {
    assert_eq!(
        err(&hc(&["/a:/b:bogus"], vec![], &[])),
        "invalid mode: bogus"
    );
    assert_eq!(
        err(&hc(&["/b:rw"], vec![], &[])),
        "invalid volume specification: '/b:rw'"
    );
    assert_eq!(
        err(&hc(&[":/b"], vec![], &[])),
        "invalid volume specification: ':/b'"
    );
    assert_eq!(
        err(&hc(&["/a:/b:ro:x"], vec![], &[])),
        "invalid volume specification: '/a:/b:ro:x'"
    );
    assert_eq!(
        err(&hc(&["/a:/b:ro,rw"], vec![], &[])),
        "invalid mode: ro,rw"
    );
    assert_eq!(
        err(&hc(&["/tmp:relative"], vec![], &[])),
        "invalid volume specification: '/tmp:relative': invalid mount config for type \"bind\": invalid mount path: 'relative' mount path must be absolute"
    );
    assert_eq!(
        err(&hc(&["/tmp:/"], vec![], &[])),
        "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
    );
    assert_eq!(
        err(&hc(&["v:/d:shared"], vec![], &[])),
        "invalid volume specification: 'v:/d:shared': invalid mount config for type \"volume\": field BindOptions must not be specified"
    );
    assert_eq!(
        err(&hc(&["/h:/d:nocopy"], vec![], &[])),
        "invalid volume specification: '/h:/d:nocopy': invalid mount config for type \"bind\": field VolumeOptions must not be specified"
    );
    let r = plan_mounts(&hc(&["v:/d:nocopy,ro"], vec![], &[]), &[], &[]).unwrap();
    assert!(!r[0].copy_data && !r[0].rw);
}

#[test]
fn mount_objects_validate_like_docker() {
    let t = tempfile::tempdir().unwrap();
    let host = t.path().display().to_string();
    let e = err(&hc(
        &[],
        vec![mount("bind", "/definitely/not/here", "/x")],
        &[],
    ));
    assert_eq!(
        e,
        "invalid mount config for type \"bind\": bind source path does not exist: /definitely/not/here"
    );
    let e = err(&hc(&[], vec![mount("bind", &host, "rel")], &[]));
    assert_eq!(
        e,
        "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
    );
    assert_eq!(
        err(&hc(&[], vec![mount("bind", "", "/x")], &[])),
        "invalid mount config for type \"bind\": field Source must not be empty"
    );
    assert_eq!(
        err(&hc(&[], vec![mount("volume", "v", "")], &[])),
        "invalid mount config for type \"volume\": field Target must not be empty"
    );
    assert_eq!(
        err(&hc(&[], vec![mount("foo", "v", "/x")], &[])),
        "invalid mount config for type \"foo\": mount type unknown"
    );
    assert_eq!(
        err(&hc(&[], vec![mount("tmpfs", "x", "/x")], &[])),
        "invalid mount config for type \"tmpfs\": field Source must not be specified"
    );
    let mut ro_anon = mount("volume", "", "/x");
    ro_anon.read_only = true;
    assert!(
        err(&hc(&[], vec![ro_anon], &[]))
            .ends_with("must not set ReadOnly mode when using anonymous volumes")
    );
    let mut bad_sub = mount("volume", "v", "/x");
    bad_sub.volume_options = Some(VolumeOptions {
        subpath: "../etc".into(),
        ..Default::default()
    });
    assert!(
        err(&hc(&[], vec![bad_sub], &[]))
            .ends_with("subpath must be a relative path within the volume")
    );
    let mut bad_prop = mount("bind", &host, "/x");
    bad_prop.bind_options = Some(BindOptions {
        propagation: "sideways".into(),
        ..Default::default()
    });
    assert!(err(&hc(&[], vec![bad_prop], &[])).ends_with("invalid propagation mode: sideways"));
    let mut create = mount("bind", "/not/here/either", "/x");
    create.bind_options = Some(BindOptions {
        create_mountpoint: true,
        ..Default::default()
    });
    assert!(plan_mounts(&hc(&[], vec![create], &[]), &[], &[]).unwrap()[0].create_source);
}

#[test]
fn mount_objects_fill_requests() {
    let mut v = mount("volume", "data", "/srv/");
    let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
    v.volume_options = Some(VolumeOptions {
        no_copy: true,
        labels: Some(labels.clone()),
        driver_config: Some(berth_api::types::container::DriverConfig {
            name: "local".into(),
            options: BTreeMap::from([("type".to_string(), "tmpfs".to_string())]),
        }),
        subpath: "sub/dir".into(),
    });
    let mut t = mount("tmpfs", "", "/t");
    t.tmpfs_options = Some(TmpfsOptions {
        size_bytes: 10 << 20,
        mode: 0o700,
        options: None,
    });
    let reqs = plan_mounts(&hc(&[], vec![v, t], &[]), &[], &[]).unwrap();
    let r = &reqs[0];
    assert_eq!(
        (r.destination.as_str(), r.copy_data, r.subpath.as_str()),
        ("/srv", false, "sub/dir")
    );
    assert_eq!(r.labels.as_ref(), Some(&labels));
    assert_eq!(r.driver_opts.as_ref().unwrap()["type"], "tmpfs");
    assert_eq!(reqs[1].tmpfs_options, ["mode=700", "size=10m"]);
    let p = reqs[1].mount_point().unwrap();
    assert_eq!(
        (
            p.kind.as_str(),
            p.source.as_str(),
            p.mode.as_str(),
            p.propagation.as_str()
        ),
        ("tmpfs", "", "", "")
    );
}

#[test]
fn duplicates_and_precedence() {
    assert_eq!(
        err(&hc(&["a:/d", "b:/d"], vec![], &[])),
        "Duplicate mount point: /d"
    );
    assert_eq!(
        err(&hc(&["a:/d/"], vec![mount("volume", "b", "/d/")], &[])),
        "Duplicate mount point: /d/"
    );
    assert_eq!(
        err(&hc(&["a:/run"], vec![], &[("/run", "")])),
        "Duplicate mount point: /run"
    );
    // Image volumes never override explicit mounts, and are anonymous volumes with copy-up.
    let reqs = plan_mounts(
        &hc(&["named:/data"], vec![], &[("/cache", "size=1m")]),
        &["/data".into(), "/cache".into(), "/logs/".into()],
        &[],
    )
    .unwrap();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].name, "named");
    assert_eq!(
        (reqs[1].kind, reqs[1].origin),
        (MountKind::Tmpfs, Origin::Tmpfs)
    );
    assert!(
        reqs[1].mount_point().is_none(),
        "--tmpfs is not listed in inspect"
    );
    let img = &reqs[2];
    assert_eq!(
        (
            img.destination.as_str(),
            img.origin,
            img.anonymous,
            img.copy_data
        ),
        ("/logs", Origin::Image, true, true)
    );
    let e = plan_mounts(&HostConfig::default(), &["relative".into()], &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "invalid mount config for type \"volume\": invalid mount path: 'relative' mount path must be absolute"
    );
    let e = err(&hc(&[], vec![], &[("run", "")]));
    assert_eq!(
        e,
        "invalid mount config for type \"tmpfs\": invalid mount path: 'run' mount path must be absolute"
    );
    assert_eq!(
        err(&hc(&[], vec![], &[("/run", "size=1m,bogus")])),
        "invalid tmpfs option [\"bogus\"]"
    );
}

#[test]
fn volumes_from_inherits_and_can_be_overridden() {
    let donor = plan_mounts(
        &hc(&["shared:/data", "/h:/h"], vec![], &[("/t", "")]),
        &[],
        &[],
    )
    .unwrap();
    let vf = VolumesFrom {
        mode: "ro".into(),
        mounts: donor,
    };
    let reqs = plan_mounts(
        &hc(&["other:/h"], vec![], &[]),
        &[],
        std::slice::from_ref(&vf),
    )
    .unwrap();
    assert_eq!(
        reqs.len(),
        2,
        "tmpfs of the donor is not inherited: {reqs:?}"
    );
    let d = reqs.iter().find(|r| r.destination == "/data").unwrap();
    assert_eq!(
        (d.name.as_str(), d.rw, d.origin, d.copy_data),
        ("shared", false, Origin::VolumesFrom, false)
    );
    assert_eq!(
        reqs.iter().find(|r| r.destination == "/h").unwrap().name,
        "other"
    );
    assert_eq!(
        parse_volumes_from("c1").unwrap(),
        ("c1".to_string(), "rw".to_string())
    );
    assert_eq!(parse_volumes_from("c1:ro").unwrap().1, "ro");
    assert_eq!(
        parse_volumes_from("c1:shared").unwrap_err().to_string(),
        "invalid mode: shared"
    );
    assert_eq!(
        parse_volumes_from("c1:nocopy").unwrap_err().to_string(),
        "invalid mode: nocopy"
    );
    assert!(parse_volumes_from("").is_err());
}

#[test]
fn requests_round_trip_through_json() {
    let reqs = plan_mounts(
        &hc(&["v:/d:ro", "/h:/h"], vec![], &[("/t", "size=1m")]),
        &["/img".into()],
        &[],
    )
    .unwrap();
    let json = serde_json::to_string(&reqs).unwrap();
    let back: Vec<MountRequest> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reqs);
    assert!(json.contains("\"origin\":\"tmpfs\""), "{json}");
}
