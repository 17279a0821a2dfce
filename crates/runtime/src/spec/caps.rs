//! Capabilities: Docker's default set, `--cap-add`/`--cap-drop` (with or without the
//! `CAP_` prefix, `ALL`), and `--privileged`.
//!
//! "All capabilities" means every capability this kernel knows *and* that the caller
//! still holds in its bounding set: a runtime cannot grant what it lacks (this very
//! machine has no `CAP_SYS_RESOURCE`), and asking for it would make container
//! creation fail.

use std::collections::BTreeSet;

use crate::error::{Result, RuntimeError};

/// Every capability name by bit number (`capabilities(7)`, up to Linux 6.x).
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capability set (`CapEff` 00000000a80425fb).
pub const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Normalise a user-given name: upper case, `CAP_` prefix added; `ALL` stays `ALL`.
pub fn normalize(name: &str) -> Result<String> {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(RuntimeError::Invalid(format!(
            "unknown capability: \"{name}\""
        )))
    }
}

/// The capabilities the caller may grant: known ones present in its bounding set
/// (read once; a process's bounding set only shrinks when it drops capabilities
/// itself, which the daemon never does).
pub fn grantable() -> BTreeSet<String> {
    static BND: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let bnd = *BND.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX)
    });
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bnd & (1u64 << bit) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Docker's merge: start from the defaults (or everything for `--privileged`), then
/// `--cap-drop`, then `--cap-add`; `ALL` in either list means every grantable one.
/// As in Docker, adding and dropping the same capability keeps it (add wins).
pub fn effective(privileged: bool, add: &[String], drop: &[String]) -> Result<BTreeSet<String>> {
    let all = grantable();
    if privileged {
        return Ok(all);
    }
    let add: Vec<String> = add.iter().map(|c| normalize(c)).collect::<Result<_>>()?;
    let drop: Vec<String> = drop.iter().map(|c| normalize(c)).collect::<Result<_>>()?;
    let mut set: BTreeSet<String> = DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    if drop.iter().any(|c| c == "ALL") {
        set.clear();
    } else {
        for c in &drop {
            set.remove(c);
        }
    }
    if add.iter().any(|c| c == "ALL") {
        set.extend(all.iter().cloned());
    } else {
        for c in add {
            if !all.contains(&c) {
                return Err(RuntimeError::Invalid(format!(
                    "capability {c} cannot be granted: the daemon does not hold it in its bounding set"
                )));
            }
            set.insert(c);
        }
    }
    Ok(set)
}

/// Convert names to the OCI type.
pub fn to_oci(set: &BTreeSet<String>) -> Result<oci_spec::runtime::Capabilities> {
    set.iter()
        .map(|n| {
            serde_json::from_value(serde_json::Value::String(n.clone()))
                .map_err(|_| RuntimeError::Invalid(format!("unknown capability: \"{n}\"")))
        })
        .collect()
}

/// The capability bit mask of a set (as `/proc/<pid>/status` prints it).
pub fn mask(set: &BTreeSet<String>) -> u64 {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(_, n)| set.contains(**n))
        .fold(0, |m, (b, _)| m | (1 << b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_matches_docker_mask() {
        let set = effective(false, &[], &[]).unwrap();
        assert_eq!(mask(&set), 0xa80425fb);
    }

    #[test]
    fn add_and_drop_with_and_without_prefix() {
        let set = effective(
            false,
            &["net_admin".into()],
            &["CAP_CHOWN".into(), "kill".into()],
        )
        .unwrap();
        assert!(
            set.contains("CAP_NET_ADMIN")
                && !set.contains("CAP_CHOWN")
                && !set.contains("CAP_KILL")
        );
        let set = effective(false, &["SYS_PTRACE".into()], &["ALL".into()]).unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec!["CAP_SYS_PTRACE".to_string()]
        );
        let set = effective(false, &["all".into()], &[]).unwrap();
        assert_eq!(set, grantable());
        assert!(
            effective(false, &["bogus".into()], &[])
                .unwrap_err()
                .to_string()
                .contains("unknown capability")
        );
        assert_eq!(
            to_oci(&effective(false, &[], &[]).unwrap()).unwrap().len(),
            14
        );
    }
}
