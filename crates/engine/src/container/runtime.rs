//! Glue between containers and `berth-shim`: where the shim binary is, bundle
//! paths, log settings, mounting the root filesystem, and namespace paths of
//! other containers for `container:<id>` modes.

use std::path::PathBuf;

use berth_core::{Error, Result};
use berth_runtime::client::ShimHandle;
use berth_runtime::layout::{LogConfig, LogDriver, RuntimeKind};

use super::{ConfigRecord, Container};
use crate::Engine;

/// The `berth-shim` binary: `$BERTH_SHIM`, or next to the running executable.
pub fn shim_binary() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_SHIM") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("berth-shim")))
        .unwrap_or_else(|| PathBuf::from("berth-shim"))
}

/// Parse Docker's size strings for log options (`10m`, `1g`, `512k`, `100`).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.trim_end_matches('b').chars().last()? {
        'k' => (&s[..s.trim_end_matches('b').len() - 1], 1u64 << 10),
        'm' => (&s[..s.trim_end_matches('b').len() - 1], 1 << 20),
        'g' => (&s[..s.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (s.trim_end_matches('b'), 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as u64)
}

impl Engine {
    /// Shim handle of a container (its shim may or may not run).
    pub fn shim(&self, c: &Container) -> ShimHandle {
        self.shims.handle(&c.id)
    }

    /// `<exec-root>/bundles/<id>`.
    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("bundles").join(id)
    }

    /// Which runtime drives a container.
    pub fn runtime_kind(rec: &ConfigRecord) -> Result<RuntimeKind> {
        RuntimeKind::parse(&rec.host_config.runtime).ok_or_else(|| {
            Error::invalid(format!(
                "unknown or invalid runtime name: {}",
                rec.host_config.runtime
            ))
        })
    }

    /// Log settings from `--log-driver`/`--log-opt`.
    pub fn log_config(&self, c: &Container, rec: &ConfigRecord) -> Result<LogConfig> {
        let lc = &rec.host_config.log_config;
        let driver = match lc.kind.as_str() {
            "" | "json-file" => LogDriver::JsonFile,
            "local" => LogDriver::Local,
            "none" => LogDriver::None,
            other => {
                return Err(Error::invalid(format!(
                    "logger: no log driver named '{other}' is registered"
                )));
            }
        };
        let path = PathBuf::from(self.container_paths(c).log);
        let path = if path.as_os_str().is_empty() {
            self.container_dir(&c.id).join("none.log")
        } else {
            path
        };
        let mut cfg = LogConfig::with_defaults(driver, path);
        for (k, v) in &lc.config {
            match k.as_str() {
                "max-size" => {
                    cfg.max_size = if v == "-1" {
                        0
                    } else {
                        parse_size(v)
                            .ok_or_else(|| Error::invalid(format!("invalid max-size: {v}")))?
                    }
                }
                "max-file" => {
                    cfg.max_files = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| Error::invalid(format!("invalid max-file: {v}")))?
                }
                // Accepted for compatibility; berth's formats need them not.
                "compress" | "labels" | "env" | "env-regex" | "tag" | "mode"
                | "max-buffer-size" => {}
                other => {
                    return Err(Error::invalid(format!(
                        "unknown log opt '{other}' for {} log driver",
                        lc.kind
                    )));
                }
            }
        }
        Ok(cfg)
    }

    /// Mount the container's root filesystem at `rootfs_dir` unless already mounted.
    pub async fn mount_rootfs(&self, c: &Container) -> Result<PathBuf> {
        let target = self.rootfs_dir(&c.id);
        let images = self.images.clone();
        let id = c.id.clone();
        let t = target.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::create_dir_all(&t)
                .map_err(|e| Error::internal(format!("create {}: {e}", t.display())))?;
            if is_mountpoint(&t) {
                return Ok(());
            }
            images.mount_rw(&id, &t).map_err(Error::from)
        })
        .await
        .map_err(|e| Error::internal(format!("mount rootfs: {e}")))??;
        Ok(target)
    }

    /// Unmount the root filesystem (best effort; removal retries).
    pub async fn unmount_rootfs(&self, c: &Container) {
        let target = self.rootfs_dir(&c.id);
        let images = self.images.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if is_mountpoint(&target)
                && let Err(e) = images.unmount_rw(&target)
            {
                tracing::warn!("unmount {}: {e}", target.display());
            }
        })
        .await;
    }

    /// `/proc/<pid>/ns/<kind>` of a running container, for `container:<id>` modes.
    pub fn ns_path(&self, key: &str, kind: &str) -> Result<PathBuf> {
        let other = self.container(key)?;
        let st = other.state();
        if !st.status.is_alive() || st.pid <= 0 {
            return Err(Error::conflict(format!(
                "cannot join namespace of a non running container: {}",
                other.id
            )));
        }
        Ok(PathBuf::from(format!("/proc/{}/ns/{kind}", st.pid)))
    }
}

/// Is `p` the root of a mount? Asked of the kernel (`statx`'s `STATX_ATTR_MOUNT_ROOT`,
/// Linux 5.8), which costs one call where scanning `/proc/self/mountinfo` grows with
/// every container's mounts; older kernels fall back to the scan.
pub fn is_mountpoint(p: &std::path::Path) -> bool {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    match rustix::fs::statx(
        rustix::fs::CWD,
        p,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) {
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Ok(_) => in_mountinfo(p),
        Err(_) => false,
    }
}

fn in_mountinfo(p: &std::path::Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| unescape(m) == want))
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("abc"), None);
    }

    #[test]
    fn mount_roots_as_the_mount_table_lists_them() {
        assert!(is_mountpoint(std::path::Path::new("/proc")));
        assert!(!is_mountpoint(std::path::Path::new("/proc/self")));
        for p in ["/", "/proc", "/sys", "/dev", "/etc", "/tmp", "/proc/self"] {
            let p = std::path::Path::new(p);
            assert_eq!(is_mountpoint(p), in_mountinfo(p), "{}", p.display());
        }
    }
}
