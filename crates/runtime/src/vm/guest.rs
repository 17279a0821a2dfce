//! The OCI spec translated for the guest agent: which host directories are
//! shared (tags), the container's mounts as the guest performs them, and the
//! processes. Works on the bundle's JSON, the form the shim reads it in.
//!
//! Sharing: the root filesystem is tag `rootfs`; every directory bind mount
//! (volumes, `-v /dir:…`) gets its own tag `m<N>` (so `:ro` is enforced by QEMU
//! too); single files (`/etc/hosts`, `/etc/resolv.conf`, `--init`, `-v file:…`)
//! are bound by the shim onto placeholders in a staging directory shared as tag
//! `files`, so the guest never sees their siblings. Kernel filesystems (`proc`,
//! `tmpfs`, `mqueue`, `sysfs`, …) are mounted by the guest kernel; `devpts` is the
//! agent's own instance, so terminals the agent opens exist in the container.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::proto::{self, Caps, Mount, Process, Rlimit, Setup, Share};
use super::vmm::HostShare;
use crate::error::{Result, RuntimeError};
use crate::spec::caps::ALL_CAPS;

/// virtio-mmio transports of QEMU's microvm, minus the control port.
pub const MAX_DEVICES: usize = 23;

/// Devices every container gets in `/dev` (bound from the guest's devtmpfs).
const DEFAULT_DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// What the shim needs to boot the guest and set the container up.
#[derive(Debug, Clone, Default)]
pub struct GuestPlan {
    /// Directories to share (the root filesystem first).
    pub shares: Vec<HostShare>,
    /// Host files to bind onto `<staging>/<index>` (shared as tag `files`).
    pub files: Vec<PathBuf>,
    /// The agent's `Setup`, without the network (the shim adds it).
    pub setup: Setup,
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `MS_*` flags and the remaining data of mount options.
pub fn mount_flags(opts: &[String]) -> (u64, String, bool) {
    let mut flags = 0u64;
    let mut data = Vec::new();
    let mut bind = false;
    for o in opts {
        match o.as_str() {
            "ro" => flags |= 1,
            "rw" | "suid" | "dev" | "exec" | "async" | "atime" => {}
            "nosuid" => flags |= 2,
            "nodev" => flags |= 4,
            "noexec" => flags |= 8,
            "sync" => flags |= 16,
            "noatime" => flags |= 1024,
            "nodiratime" => flags |= 2048,
            "relatime" => flags |= 1 << 21,
            "strictatime" => flags |= 1 << 24,
            "bind" => bind = true,
            "rbind" => {
                bind = true;
                flags |= 1 << 14;
            }
            // Propagation is the guest's own business: nothing propagates to the host.
            "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared" | "unbindable"
            | "runbindable" | "z" | "Z" | "nocopy" => {}
            other => data.push(other.to_string()),
        }
    }
    (flags, data.join(","), bind)
}

/// Plan the guest for the bundle's `config.json` (as JSON). `staging` is the host
/// directory shared as tag `files`.
pub fn plan(config: &Value, bundle: &Path, staging: &Path) -> Result<GuestPlan> {
    let root = config
        .pointer("/root/path")
        .and_then(Value::as_str)
        .ok_or_else(|| RuntimeError::Invalid("config.json has no root.path".into()))?;
    let root = if Path::new(root).is_absolute() {
        PathBuf::from(root)
    } else {
        bundle.join(root)
    };
    let mut out = GuestPlan::default();
    out.shares.push(HostShare {
        tag: "rootfs".into(),
        path: root,
        readonly: false,
    });
    out.setup.shares.push(Share {
        tag: "rootfs".into(),
        readonly: false,
    });
    let mut files_rw = false;
    for m in config
        .get("mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let dest = m
            .get("destination")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let fstype = m
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let source = m
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let opts = strs(m.get("options").unwrap_or(&Value::Null));
        let (flags, data, bind_opt) = mount_flags(&opts);
        if fstype == "bind" || bind_opt {
            let src = PathBuf::from(&source);
            let md = std::fs::metadata(&src)
                .map_err(|e| RuntimeError::io(format!("bind mount source {source}"), e))?;
            let guest_src = if md.is_dir() {
                let tag = format!("m{}", out.shares.len());
                let readonly = flags & 1 != 0;
                out.shares.push(HostShare {
                    tag: tag.clone(),
                    path: src,
                    readonly,
                });
                out.setup.shares.push(Share {
                    tag: tag.clone(),
                    readonly,
                });
                format!("/shares/{tag}")
            } else if md.is_file() {
                out.files.push(src);
                files_rw |= flags & 1 == 0;
                format!("/shares/files/{}", out.files.len() - 1)
            } else {
                return Err(RuntimeError::Invalid(format!(
                    "bind mount {source}: only directories and regular files can be shared with a VM"
                )));
            };
            out.setup.mounts.push(Mount {
                dest,
                fstype: "bind".into(),
                source: guest_src,
                flags,
                data,
            });
            continue;
        }
        let (fstype, source) = match fstype.as_str() {
            "devpts" => ("bind".to_string(), "/dev/pts".to_string()),
            _ => (fstype, source),
        };
        let flags = if fstype == "bind" { 0 } else { flags };
        let data = if fstype == "bind" {
            String::new()
        } else {
            data
        };
        out.setup.mounts.push(Mount {
            dest,
            fstype,
            source,
            flags,
            data,
        });
    }
    if !out.files.is_empty() {
        out.shares.push(HostShare {
            tag: "files".into(),
            path: staging.to_path_buf(),
            readonly: !files_rw,
        });
        out.setup.shares.push(Share {
            tag: "files".into(),
            readonly: !files_rw,
        });
    }
    if out.shares.len() > MAX_DEVICES {
        return Err(RuntimeError::Invalid(format!(
            "a VM container can share at most {} directories, this one needs {}",
            MAX_DEVICES - 1,
            out.shares.len()
        )));
    }
    let s = &mut out.setup;
    s.readonly_rootfs = config
        .pointer("/root/readonly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    s.masked = strs(config.pointer("/linux/maskedPaths").unwrap_or(&Value::Null));
    s.readonly_paths = strs(
        config
            .pointer("/linux/readonlyPaths")
            .unwrap_or(&Value::Null),
    );
    s.devices = DEFAULT_DEVICES.iter().map(|d| d.to_string()).collect();
    for d in config
        .pointer("/linux/devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = d
            .get("path")
            .and_then(Value::as_str)
            .and_then(|p| p.strip_prefix("/dev/"))
            && !s.devices.iter().any(|x| x == name)
        {
            s.devices.push(name.to_string());
        }
    }
    s.hostname = config
        .get("hostname")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    s.domainname = config
        .get("domainname")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(m) = config.pointer("/linux/sysctl").and_then(Value::as_object) {
        s.sysctls = m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
    }
    Ok(out)
}

fn caps_mask(v: Option<&Value>) -> u64 {
    let names = v.map(strs).unwrap_or_default();
    names
        .iter()
        .filter_map(|n| ALL_CAPS.iter().position(|c| c == n))
        .fold(0u64, |m, i| m | (1u64 << i))
}

fn rlimit_number(name: &str) -> Option<u32> {
    const NAMES: [&str; 16] = [
        "CPU",
        "FSIZE",
        "DATA",
        "STACK",
        "CORE",
        "RSS",
        "NPROC",
        "NOFILE",
        "MEMLOCK",
        "AS",
        "LOCKS",
        "SIGPENDING",
        "MSGQUEUE",
        "NICE",
        "RTPRIO",
        "RTTIME",
    ];
    let n = name.strip_prefix("RLIMIT_").unwrap_or(name);
    NAMES.iter().position(|x| *x == n).map(|i| i as u32)
}

/// An OCI `process` object (JSON) for the agent; `stdin` keeps stdin open.
pub fn process(p: &Value, stdin: bool) -> Result<Process> {
    let args = strs(p.get("args").unwrap_or(&Value::Null));
    if args.is_empty() {
        return Err(RuntimeError::Invalid("process has no args".into()));
    }
    let num = |ptr: &str| p.pointer(ptr).and_then(Value::as_u64).unwrap_or(0) as u32;
    let gids = p
        .pointer("/user/additionalGids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_u64().map(|g| g as u32))
                .collect()
        })
        .unwrap_or_default();
    let caps = p.get("capabilities");
    let cap = |k: &str| caps_mask(caps.and_then(|c| c.get(k)));
    let rlimits = p
        .get("rlimits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(Rlimit {
                resource: rlimit_number(r.get("type")?.as_str()?)?,
                soft: r.get("soft")?.as_u64()?,
                hard: r.get("hard")?.as_u64()?,
            })
        })
        .collect();
    Ok(Process {
        args,
        env: strs(p.get("env").unwrap_or(&Value::Null)),
        cwd: p
            .get("cwd")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string(),
        uid: num("/user/uid"),
        gid: num("/user/gid"),
        gids,
        terminal: p.get("terminal").and_then(Value::as_bool).unwrap_or(false),
        stdin,
        caps: Caps {
            bounding: cap("bounding"),
            effective: cap("effective"),
            permitted: cap("permitted"),
            inheritable: cap("inheritable"),
            ambient: cap("ambient"),
        },
        no_new_privs: p
            .get("noNewPrivileges")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        rlimits,
        size: (
            num("/consoleSize/width") as u16,
            num("/consoleSize/height") as u16,
        ),
    })
}

/// The frame a host sends to start `p`.
pub fn start_frame(init: bool, session: u32, p: &Process) -> proto::Frame {
    let kind = if init {
        proto::Kind::Run
    } else {
        proto::Kind::Exec
    };
    proto::Frame::new(kind, session, p.encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plan_shares_dirs_and_stages_files() {
        let d = tempfile::tempdir().unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        let hosts = d.path().join("hosts");
        std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
        let cfg = json!({
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "box",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance"]},
                {"destination": "/data", "type": "bind", "source": vol, "options": ["rbind", "ro"]},
                {"destination": "/etc/hosts", "type": "bind", "source": hosts, "options": ["rbind", "rprivate"]}
            ],
            "linux": {"maskedPaths": ["/proc/kcore"], "devices": [{"path": "/dev/fuse"}], "sysctl": {"net.ipv4.ip_forward": "1"}}
        });
        let p = plan(&cfg, Path::new("/b"), Path::new("/stage")).unwrap();
        let tags: Vec<&str> = p.shares.iter().map(|s| s.tag.as_str()).collect();
        assert_eq!(tags, ["rootfs", "m1", "files"]);
        assert_eq!(p.shares[0].path, Path::new("/b/rootfs"));
        assert!(p.shares[1].readonly && !p.shares[2].readonly);
        assert_eq!(p.files, vec![hosts]);
        let m = &p.setup.mounts;
        assert_eq!((m[0].fstype.as_str(), m[0].flags), ("proc", 14));
        assert_eq!(
            (m[1].fstype.as_str(), m[1].source.as_str()),
            ("bind", "/dev/pts")
        );
        assert_eq!((m[2].source.as_str(), m[2].flags & 1), ("/shares/m1", 1));
        assert_eq!(m[3].source, "/shares/files/0");
        assert!(p.setup.readonly_rootfs && p.setup.devices.contains(&"fuse".to_string()));
        assert_eq!(p.setup.hostname, "box");
        assert_eq!(
            p.setup.sysctls,
            vec![("net.ipv4.ip_forward".to_string(), "1".to_string())]
        );
    }

    #[test]
    fn process_translation() {
        let p = json!({
            "args": ["sh", "-c", "exit 3"], "env": ["PATH=/bin"], "cwd": "/tmp", "terminal": true,
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}],
            "noNewPrivileges": true, "consoleSize": {"height": 24, "width": 80}
        });
        let x = process(&p, true).unwrap();
        assert_eq!((x.uid, x.gid, x.gids.clone()), (1000, 1000, vec![10]));
        assert_eq!(x.caps.bounding, 1 | (1 << 5));
        assert_eq!(x.caps.effective, 1 << 5);
        assert_eq!(
            x.rlimits,
            vec![Rlimit {
                resource: 7,
                soft: 1024,
                hard: 4096
            }]
        );
        assert_eq!(x.size, (80, 24));
        assert!(x.terminal && x.stdin && x.no_new_privs);
        assert!(process(&json!({"args": []}), false).is_err());
    }
}
