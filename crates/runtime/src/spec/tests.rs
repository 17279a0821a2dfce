//! Tests of the whole generated spec: Docker's defaults, options, and the OCI JSON schema.

use std::path::{Path, PathBuf};

use super::*;

fn rootfs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::write(
        d.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(d.path().join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    d
}

fn base(root: &Path) -> ContainerSpec {
    ContainerSpec {
        id: "c1".into(),
        rootfs: root.to_path_buf(),
        args: vec!["sh".into(), "-c".into(), "true".into()],
        env: vec!["A=1".into()],
        hostname: "abc".into(),
        ..ContainerSpec::default()
    }
}

fn json(s: &Spec) -> serde_json::Value {
    serde_json::to_value(s).unwrap()
}

#[test]
fn defaults_match_docker() {
    let d = rootfs();
    let b = build(&base(d.path())).unwrap();
    let v = json(&b.spec);
    let p = &v["process"];
    assert_eq!(p["user"]["uid"], 0);
    assert_eq!(p["cwd"], "/");
    assert!(p.get("noNewPrivileges").is_none());
    assert_eq!(p["rlimits"], serde_json::json!([]));
    assert!(p["capabilities"].get("inheritable").is_none());
    let env: Vec<String> = serde_json::from_value(p["env"].clone()).unwrap();
    assert_eq!(env[0], format!("PATH={DEFAULT_PATH}"));
    assert!(env.contains(&"HOSTNAME=abc".to_string()) && env.contains(&"HOME=/root".to_string()));
    assert!(!env.iter().any(|e| e.starts_with("TERM=")));
    assert_eq!(v["hostname"], "abc");
    assert_eq!(v["linux"]["cgroupsPath"], "/berth/c1");
    assert_eq!(v["linux"]["maskedPaths"].as_array().unwrap().len(), 12);
    assert!(
        v["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&"/proc/kcore".into())
    );
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    let ns: Vec<String> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect();
    for t in ["mount", "network", "uts", "pid", "ipc"] {
        assert!(ns.contains(&t.to_string()), "{t} missing from {ns:?}");
    }
    assert_eq!(
        b.spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap()
            .len(),
        14
    );
    assert!(b.warnings.is_empty());
}

#[test]
fn privileged_user_init_tty_and_namespaces() {
    let d = rootfs();
    let mut c = base(d.path());
    c.privileged = true;
    c.tty = true;
    c.user = "nobody".into();
    c.init = Some(PathBuf::from("/usr/libexec/berth-init"));
    c.readonly_rootfs = true;
    c.namespaces.network = NsMode::Host;
    c.namespaces.ipc = NsMode::Join("/proc/1/ns/ipc".into());
    let v = json(&build(&c).unwrap().spec);
    assert_eq!(v["process"]["user"]["uid"], 65534);
    assert_eq!(v["process"]["args"][0], "/sbin/docker-init");
    assert_eq!(v["process"]["args"][1], "--");
    assert!(
        v["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&"TERM=xterm".into())
    );
    assert_eq!(v["process"]["terminal"], true);
    assert_eq!(v["root"]["readonly"], true);
    assert!(v["linux"].get("seccomp").is_none());
    assert_eq!(v["linux"]["maskedPaths"], serde_json::json!([]));
    let nss = v["linux"]["namespaces"].as_array().unwrap();
    assert!(!nss.iter().any(|n| n["type"] == "network"));
    assert!(
        nss.iter()
            .any(|n| n["type"] == "ipc" && n["path"] == "/proc/1/ns/ipc")
    );
    let mounts = v["mounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["destination"] == "/sbin/docker-init")
    );
    assert!(
        mounts.iter().any(|m| m["destination"] == "/sys"
            && m["options"].as_array().unwrap().contains(&"rw".into()))
    );
}

#[test]
fn seccomp_modes_and_errors() {
    let d = rootfs();
    let mut c = base(d.path());
    c.seccomp = SeccompMode::Unconfined;
    assert!(
        json(&build(&c).unwrap().spec)["linux"]
            .get("seccomp")
            .is_none()
    );
    c.seccomp = SeccompMode::Custom(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#.into());
    let v = json(&build(&c).unwrap().spec);
    assert_eq!(v["linux"]["seccomp"]["syscalls"][0]["names"][0], "mkdir");
    c.seccomp = SeccompMode::Custom("garbage".into());
    assert!(build(&c).is_err());
    let mut c = base(d.path());
    c.user = "ghost".into();
    assert_eq!(
        build(&c).unwrap_err().to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
    let mut c = base(d.path());
    c.args.clear();
    assert!(build(&c).is_err());
}

/// Validate against the OCI runtime-spec JSON schema with Python's `jsonschema` when
/// both the schema (in the shared folder) and the module are present.
#[test]
fn validates_against_oci_schema() {
    let schema_dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs/oci-runtime-spec");
    let has_py = std::process::Command::new("python3")
        .args(["-c", "import jsonschema, referencing"])
        .status()
        .is_ok_and(|s| s.success());
    if !schema_dir.join("config-schema.json").exists() || !has_py {
        eprintln!("skipped: OCI schema or python3 jsonschema not available");
        return;
    }
    let d = rootfs();
    let mut c = base(d.path());
    c.resources.memory = 64 << 20;
    c.resources.pids_limit = Some(10);
    c.resources.nano_cpus = 500_000_000;
    c.ulimits = vec![resources::parse_ulimit("nofile=100:200").unwrap()];
    c.sysctls
        .insert("net.ipv4.ping_group_range".into(), "0 0".into());
    c.device_cgroup_rules = vec!["c 42:* rwm".into()];
    let spec_path = d.path().join("config.json");
    std::fs::write(
        &spec_path,
        serde_json::to_vec(&build(&c).unwrap().spec).unwrap(),
    )
    .unwrap();
    let script = r#"
import json, sys, pathlib
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4
d = pathlib.Path(sys.argv[1]).resolve()
docs = {p.name: json.loads(p.read_text()) for p in d.glob("*.json")}
reg = Registry().with_resources([("file://%s/%s" % (d, n), DRAFT4.create_resource(s)) for n, s in docs.items()])
schema = dict(docs["config-schema.json"]); schema["id"] = "file://%s/config-schema.json" % d
v = Draft4Validator(schema, registry=reg)
errs = list(v.iter_errors(json.load(open(sys.argv[2]))))
for e in errs: print(list(e.path), e.message)
sys.exit(1 if errs else 0)
"#;
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            schema_dir.to_str().unwrap(),
            spec_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "schema errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
