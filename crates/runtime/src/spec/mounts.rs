//! Mounts, masked and read-only paths, and devices, following Docker's defaults.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Mount};

use super::input::{ContainerSpec, DeviceMapping, MountKind, MountSpec, NsMode};
use crate::error::{Result, RuntimeError};

/// Docker's `/dev/shm` size: 64 MiB.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Paths Docker hides (a file under `/dev/null`, a directory under an empty tmpfs).
pub const DOCKER_MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only.
pub const DOCKER_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where `--init` is mounted, as in Docker.
pub const INIT_PATH: &str = "/sbin/docker-init";

fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.into());
    m.set_typ(Some(typ.into()));
    m.set_source(Some(source.into()));
    m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
    m
}

fn bind(dest: &str, source: &Path, opts: Vec<String>) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.into());
    m.set_typ(Some("bind".into()));
    m.set_source(Some(source.to_path_buf()));
    m.set_options(Some(opts));
    m
}

/// All mounts of the container: Docker's defaults, then the network files and user
/// mounts sorted so parents come before children. A user mount on a default
/// destination replaces the default.
pub fn all(spec: &ContainerSpec) -> Result<Vec<Mount>> {
    let ro_if = |ro: bool| if ro { "ro" } else { "rw" };
    let shm = format!("size={}", spec.shm_size.unwrap_or(DEFAULT_SHM_SIZE));
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", ro_if(!spec.privileged)],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[
                "nosuid",
                "noexec",
                "nodev",
                "relatime",
                ro_if(!spec.privileged),
            ],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    if spec.namespaces.ipc == NsMode::Host {
        mounts.push(bind(
            "/dev/shm",
            Path::new("/dev/shm"),
            vec!["rbind".into(), "rprivate".into()],
        ));
    } else {
        mounts.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm],
        ));
    }

    let mut extra = Vec::new();
    let files = [
        ("/etc/resolv.conf", &spec.network_files.resolv_conf),
        ("/etc/hostname", &spec.network_files.hostname),
        ("/etc/hosts", &spec.network_files.hosts),
    ];
    for (dest, src) in files {
        if let Some(src) = src {
            let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
            if spec.readonly_rootfs {
                opts.push("ro".into());
            }
            extra.push((dest.to_string(), bind(dest, src, opts)));
        }
    }
    if let Some(init) = &spec.init {
        extra.push((
            INIT_PATH.into(),
            bind(INIT_PATH, init, vec!["bind".into(), "ro".into()]),
        ));
    }
    for m in &spec.mounts {
        extra.push((m.destination.clone(), user_mount(m)?));
    }
    // Parents before children, as Docker sorts them; stable for equal depth.
    extra.sort_by_key(|(dest, _)| Path::new(dest).components().count());
    for (dest, m) in extra {
        mounts.retain(|d| d.destination() != Path::new(&dest));
        mounts.push(m);
    }
    Ok(mounts)
}

fn user_mount(m: &MountSpec) -> Result<Mount> {
    if !m.destination.starts_with('/') {
        return Err(RuntimeError::Invalid(format!(
            "invalid mount config: mount path must be absolute: {}",
            m.destination
        )));
    }
    Ok(match m.kind {
        MountKind::Tmpfs => {
            let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
            opts.extend(m.options.iter().cloned());
            if m.readonly {
                opts.push("ro".into());
            }
            let mut t = Mount::default();
            t.set_destination(m.destination.clone().into());
            t.set_typ(Some("tmpfs".into()));
            t.set_source(Some("tmpfs".into()));
            t.set_options(Some(opts));
            t
        }
        MountKind::Bind | MountKind::Volume => {
            if !m.source.is_absolute() {
                return Err(RuntimeError::Invalid(format!(
                    "invalid mount config: bind source path must be absolute: {}",
                    m.source.display()
                )));
            }
            let mut opts = vec![if m.non_recursive { "bind" } else { "rbind" }.to_string()];
            opts.push(
                m.propagation
                    .unwrap_or(super::input::Propagation::RPrivate)
                    .as_str()
                    .into(),
            );
            if m.readonly {
                opts.push("ro".into());
            }
            opts.extend(m.options.iter().cloned());
            bind(&m.destination, &m.source, opts)
        }
    })
}

/// The device-cgroup rules Docker installs for an unprivileged container.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |allow: bool,
                typ: Option<LinuxDeviceType>,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.into()));
        r
    };
    let c = Some(LinuxDeviceType::C);
    vec![
        rule(false, None, None, None, "rwm"),
        rule(true, c, None, None, "m"),
        rule(true, Some(LinuxDeviceType::B), None, None, "m"),
        rule(true, c, Some(1), Some(3), "rwm"), // null
        rule(true, c, Some(1), Some(5), "rwm"), // zero
        rule(true, c, Some(1), Some(7), "rwm"), // full
        rule(true, c, Some(1), Some(8), "rwm"), // random
        rule(true, c, Some(1), Some(9), "rwm"), // urandom
        rule(true, c, Some(5), Some(0), "rwm"), // tty
        rule(true, c, Some(5), Some(1), "rwm"), // console
        rule(true, c, Some(5), Some(2), "rwm"), // ptmx
        rule(true, c, Some(136), None, "rwm"),  // pts/*
        rule(true, c, Some(10), Some(200), "rwm"), // net/tun
                                                // Docker also lists a deny for c 10:229 (fuse); the leading deny-all covers it,
                                                // and runc's cgroup v1 emulator rejects a deny that punches into `c *:* m`.
    ]
}

/// Parse `--device-cgroup-rule` (`c 1:3 rwm`, `a *:* rwm`).
pub fn parse_device_rule(s: &str) -> Result<LinuxDeviceCgroup> {
    let bad = || RuntimeError::Invalid(format!("invalid device cgroup rule format: '{s}'"));
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [typ, nums, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (maj, min) = nums.split_once(':').ok_or_else(bad)?;
    let num = |x: &str| -> Result<Option<i64>> {
        if x == "*" {
            Ok(None)
        } else {
            x.parse().map(Some).map_err(|_| bad())
        }
    };
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(num(maj)?);
    r.set_minor(num(min)?);
    r.set_access(Some(access.to_string()));
    Ok(r)
}

/// A host device node as an OCI device plus its cgroup rule.
pub fn host_device(d: &DeviceMapping) -> Result<(LinuxDevice, LinuxDeviceCgroup)> {
    // Docker follows symlinks for `--device` (the source is resolved first).
    let meta = std::fs::metadata(&d.host).map_err(|e| {
        RuntimeError::Invalid(format!(
            "error gathering device information while adding custom device \"{}\": {e}",
            d.host.display()
        ))
    })?;
    let ft = meta.file_type();
    if !ft.is_char_device() && !ft.is_block_device() {
        return Err(RuntimeError::Invalid(format!(
            "{} is not a device node",
            d.host.display()
        )));
    }
    let path = if d.container.is_empty() {
        d.host.to_string_lossy().into_owned()
    } else {
        d.container.clone()
    };
    let (dev, mut rule) = device_from(&path, &meta);
    let perms = if d.permissions.is_empty() {
        "rwm"
    } else {
        d.permissions.as_str()
    };
    rule.set_access(Some(perms.to_string()));
    Ok((dev, rule))
}

/// Every device node under the host's `/dev` (for `--privileged`), as Docker lists
/// them (containerd's `HostDevices`): the tree is walked, directories the host's
/// mounts own (`pts`, `shm`, `fd`, `mqueue`, ...) are skipped, and symlinks are
/// not followed. Following them broke privileged containers: `/dev/stdin` resolves
/// to whatever the caller's stdin is (often `/dev/null`), which the runtime then
/// tried to create a second time. Nodes the runtime creates itself are left out.
pub fn all_host_devices() -> Vec<LinuxDevice> {
    let mut out = Vec::new();
    walk_devices(Path::new("/dev"), 0, &mut out);
    out
}

fn walk_devices(dir: &Path, depth: usize, out: &mut Vec<LinuxDevice>) {
    const SKIP_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    const SKIP_NODES: [&str; 8] = [
        "console", "ptmx", "tty", "null", "zero", "full", "random", "urandom",
    ];
    // /dev is shallow; the bound only guards against a pathological tree.
    if depth > 8 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            if !SKIP_DIRS.contains(&name.as_ref()) {
                walk_devices(&e.path(), depth + 1, out);
            }
        } else if (ft.is_char_device() || ft.is_block_device())
            && !(depth == 0 && SKIP_NODES.contains(&name.as_ref()))
        {
            out.push(device_from(&e.path().to_string_lossy(), &meta).0);
        }
    }
}

/// An OCI device at `path` (inside the container) for the node described by `meta`,
/// plus an `rwm` cgroup rule for it.
fn device_from(path: &str, meta: &std::fs::Metadata) -> (LinuxDevice, LinuxDeviceCgroup) {
    let typ = if meta.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        LinuxDeviceType::C
    };
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev) as i64, libc::minor(rdev) as i64);
    let mut dev = LinuxDevice::default();
    dev.set_path(path.into());
    dev.set_typ(typ);
    dev.set_major(major);
    dev.set_minor(minor);
    dev.set_file_mode(Some(meta.mode() & 0o7777));
    dev.set_uid(Some(meta.uid()));
    dev.set_gid(Some(meta.gid()));
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true);
    rule.set_typ(Some(typ));
    rule.set_major(Some(major));
    rule.set_minor(Some(minor));
    rule.set_access(Some("rwm".into()));
    (dev, rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_mounts_sorted_and_override_defaults() {
        let spec = ContainerSpec {
            mounts: vec![
                MountSpec {
                    kind: MountKind::Bind,
                    source: "/tmp/a".into(),
                    destination: "/data/sub".into(),
                    readonly: true,
                    options: vec![],
                    propagation: None,
                    non_recursive: false,
                },
                MountSpec {
                    kind: MountKind::Volume,
                    source: "/tmp/v".into(),
                    destination: "/data".into(),
                    readonly: false,
                    options: vec![],
                    propagation: Some(super::super::input::Propagation::RShared),
                    non_recursive: false,
                },
                MountSpec {
                    kind: MountKind::Tmpfs,
                    source: "".into(),
                    destination: "/dev/shm".into(),
                    readonly: false,
                    options: vec!["size=1m".into()],
                    propagation: None,
                    non_recursive: false,
                },
            ],
            ..ContainerSpec::default()
        };
        let m = all(&spec).unwrap();
        let dests: Vec<String> = m
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/data",
                "/data/sub",
                "/dev/shm"
            ]
        );
        assert_eq!(
            m[6].options().as_ref().unwrap(),
            &vec!["rbind".to_string(), "rshared".to_string()]
        );
        assert!(m[7].options().as_ref().unwrap().contains(&"ro".to_string()));
        assert!(
            m[8].options()
                .as_ref()
                .unwrap()
                .contains(&"size=1m".to_string())
        );
    }

    #[test]
    fn shm_size_and_device_rules() {
        let spec = ContainerSpec {
            shm_size: Some(1 << 20),
            ..ContainerSpec::default()
        };
        let m = all(&spec).unwrap();
        let shm = m
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert!(
            shm.options()
                .as_ref()
                .unwrap()
                .contains(&"size=1048576".to_string())
        );
        let r = parse_device_rule("c 42:* rmw").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(42), None));
        assert!(parse_device_rule("x 1:2 rwm").is_err());
        assert!(parse_device_rule("c 1:2 rwx").is_err());
    }

    #[test]
    fn host_devices_follow_no_symlinks_and_recurse() {
        let devs = all_host_devices();
        let paths: Vec<String> = devs
            .iter()
            .map(|d| d.path().display().to_string())
            .collect();
        for p in &paths {
            let meta = std::fs::symlink_metadata(p).unwrap();
            assert!(!meta.file_type().is_symlink(), "{p}");
            assert!(
                !p.starts_with("/dev/pts/") && !p.starts_with("/dev/fd"),
                "{p}"
            );
        }
        for p in ["/dev/stdin", "/dev/null", "/dev/console"] {
            assert!(!paths.iter().any(|x| x == p), "{p}");
        }
        if Path::new("/dev/net/tun").exists() {
            assert!(paths.iter().any(|x| x == "/dev/net/tun"));
        }
    }
}
