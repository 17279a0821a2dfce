//! Reading and adjusting a running container's cgroup (`docker stats`,
//! `docker update`). The shim creates the cgroup at `/berth/<id>` in every v1
//! hierarchy, or under the unified hierarchy on a pure cgroup v2 host.

use std::path::PathBuf;

const ROOT: &str = "/sys/fs/cgroup";

/// True on a pure cgroup v2 host.
pub fn is_v2() -> bool {
    std::path::Path::new(ROOT)
        .join("cgroup.controllers")
        .exists()
}

/// Directory of `controller` for container `id` (v1), or the unified directory (v2).
pub fn dir(controller: &str, id: &str) -> PathBuf {
    if is_v2() {
        PathBuf::from(ROOT).join("berth").join(id)
    } else {
        PathBuf::from(ROOT).join(controller).join("berth").join(id)
    }
}

/// Read a file as trimmed text.
pub fn read(controller: &str, id: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(dir(controller, id).join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Read a number (`max` is `None`).
pub fn read_u64(controller: &str, id: &str, file: &str) -> Option<u64> {
    read(controller, id, file).and_then(|s| s.parse().ok())
}

/// `key value` lines as a map.
pub fn read_kv(controller: &str, id: &str, file: &str) -> std::collections::BTreeMap<String, u64> {
    read(controller, id, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// Write a value; errors name the file.
pub fn write(controller: &str, id: &str, file: &str, value: &str) -> Result<(), String> {
    let p = dir(controller, id).join(file);
    std::fs::write(&p, value).map_err(|e| format!("write {}: {e}", p.display()))
}
