//! Image helpers shared by the image and registry tests.

use std::path::Path;

use crate::Daemon;

pub fn load(d: &Daemon, tar: &Path) -> String {
    d.docker_ok(&["load", "-i", tar.to_str().unwrap()])
}

/// Distinct image ids (`docker images -q` prints one line per tag).
pub fn ids(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d
        .docker_ok(&["images", "-aq", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

pub fn inspect(d: &Daemon, name: &str) -> serde_json::Value {
    let out = d.docker_ok(&["image", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// Files (not directories) anywhere below `dir`.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}
