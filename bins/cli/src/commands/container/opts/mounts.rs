//! `-v`, `--mount` and `--device` specs, in the docker CLI's syntax and with its
//! error messages.

use std::collections::BTreeMap;

use berth_api::types::container::{
    BindOptions, DeviceMapping, DriverConfig, Mount, TmpfsOptions, VolumeOptions,
};

use super::parse_ram;

/// What a `-v` spec turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSpec {
    /// A `HostConfig.Binds` entry (bind mount or named volume).
    Bind(String),
    /// An anonymous volume at this path (`Config.Volumes`).
    Anonymous(String),
}

fn is_mode(s: &str) -> bool {
    s.split(',').all(|m| {
        matches!(
            m,
            "ro" | "rw"
                | "z"
                | "Z"
                | "nocopy"
                | "consistent"
                | "cached"
                | "delegated"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
                | "private"
                | "rprivate"
        )
    })
}

/// `-v [src:]dst[:mode]`; relative host paths starting with `.` are made absolute
/// against `cwd`, as the docker CLI does. Like docker, only the shape is checked
/// here: the daemon judges paths and modes.
pub fn parse_volume(spec: &str, cwd: &std::path::Path) -> Result<VolumeSpec, String> {
    let invalid = |why: &str| format!("invalid volume specification: '{spec}': {why}");
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [a, b] if !b.starts_with('/') && is_mode(b) => ("", *a, *b),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid("too many colons")),
    };
    if dst.is_empty() {
        return Err(invalid("empty section between colons"));
    }
    if !mode.is_empty() && !is_mode(mode) {
        return Err(invalid(&format!("invalid mode: {mode}")));
    }
    if src.is_empty() {
        return Ok(VolumeSpec::Anonymous(dst.to_string()));
    }
    let src = if src.starts_with('.') {
        let abs = cwd.join(src);
        normalize(&abs)
    } else {
        src.to_string()
    };
    Ok(VolumeSpec::Bind(if mode.is_empty() {
        format!("{src}:{dst}")
    } else {
        format!("{src}:{dst}:{mode}")
    }))
}

/// Lexically clean an absolute path (`/a/./b/../c` → `/a/c`).
fn normalize(p: &std::path::Path) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    format!("/{}", out.join("/"))
}

fn parse_bool(key: &str, val: &str) -> Result<bool, String> {
    match val.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(format!("invalid value for {key}: {val}")),
    }
}

/// `--mount type=bind,source=/a,target=/b,readonly` with Docker's validation.
pub fn parse_mount(spec: &str) -> Result<Mount, String> {
    let mut m = Mount {
        kind: "volume".into(),
        ..Default::default()
    };
    let mut bind = BindOptions::default();
    let mut vol = VolumeOptions::default();
    let mut tmpfs = TmpfsOptions::default();
    let (mut has_bind, mut has_vol, mut has_tmpfs) = (false, false, false);
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
            None => {
                let k = field.trim().to_ascii_lowercase();
                match k.as_str() {
                    "readonly" | "ro" | "volume-nocopy" | "bind-nonrecursive" => (k, "true"),
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
            }
        };
        match key.as_str() {
            "type" => m.kind = val.to_ascii_lowercase(),
            "source" | "src" => m.source = val.to_string(),
            "target" | "dst" | "destination" => m.target = val.to_string(),
            "readonly" | "ro" => m.read_only = parse_bool(&key, val)?,
            "consistency" => m.consistency = val.to_string(),
            "bind-propagation" => {
                has_bind = true;
                bind.propagation = val.to_ascii_lowercase();
            }
            "bind-nonrecursive" => {
                has_bind = true;
                bind.non_recursive = parse_bool(&key, val)?;
            }
            "bind-recursive" => {
                has_bind = true;
                match val {
                    "enabled" => {}
                    "disabled" => bind.non_recursive = true,
                    "writable" => {}
                    "readonly" => bind.read_only_force_recursive = true,
                    _ => {
                        return Err(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        ));
                    }
                }
            }
            "bind-create-host-path" => {
                has_bind = true;
                bind.create_mountpoint = parse_bool(&key, val)?;
            }
            "volume-nocopy" => {
                has_vol = true;
                vol.no_copy = parse_bool(&key, val)?;
            }
            "volume-label" => {
                has_vol = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                vol.labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(k.to_string(), v.to_string());
            }
            "volume-driver" => {
                has_vol = true;
                vol.driver_config
                    .get_or_insert_with(DriverConfig::default)
                    .name = val.to_string();
            }
            "volume-opt" => {
                has_vol = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                vol.driver_config
                    .get_or_insert_with(DriverConfig::default)
                    .options
                    .insert(k.to_string(), v.to_string());
            }
            "volume-subpath" => {
                has_vol = true;
                vol.subpath = val.to_string();
            }
            "tmpfs-size" => {
                has_tmpfs = true;
                tmpfs.size_bytes =
                    parse_ram(val).map_err(|_| format!("invalid value for {key}: {val}"))?;
            }
            "tmpfs-mode" => {
                has_tmpfs = true;
                tmpfs.mode = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    if has_vol && m.kind != "volume" {
        return Err(format!(
            "cannot mix 'volume-*' options with mount type '{}'",
            m.kind
        ));
    }
    if has_bind && m.kind != "bind" {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{}'",
            m.kind
        ));
    }
    if has_tmpfs && m.kind != "tmpfs" {
        return Err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{}'",
            m.kind
        ));
    }
    if has_bind {
        m.bind_options = Some(bind);
    }
    if has_vol {
        m.volume_options = Some(vol);
    }
    if has_tmpfs {
        m.tmpfs_options = Some(tmpfs);
    }
    Ok(m)
}

/// `--device /dev/x[:/dev/y][:rwm]`.
pub fn parse_device(spec: &str) -> Result<DeviceMapping, String> {
    let perms_ok = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, perms) = match parts.as_slice() {
        [src] => (*src, *src, "rwm"),
        [src, p] if perms_ok(p) => (*src, *src, *p),
        [src, dst] => (*src, *dst, "rwm"),
        [src, dst, p] if perms_ok(p) => (*src, *dst, *p),
        _ => return Err(format!("invalid device specification: {spec}")),
    };
    if !dst.starts_with('/') {
        return Err(format!("invalid device specification: {spec}"));
    }
    Ok(DeviceMapping {
        path_on_host: src.into(),
        path_in_container: dst.into(),
        cgroup_permissions: perms.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs() {
        let cwd = std::path::Path::new("/home/u/proj");
        assert_eq!(
            parse_volume("/data", cwd).unwrap(),
            VolumeSpec::Anonymous("/data".into())
        );
        assert_eq!(
            parse_volume("/a:/b:ro", cwd).unwrap(),
            VolumeSpec::Bind("/a:/b:ro".into())
        );
        assert_eq!(
            parse_volume("vol:/b", cwd).unwrap(),
            VolumeSpec::Bind("vol:/b".into())
        );
        assert_eq!(
            parse_volume("./src:/b", cwd).unwrap(),
            VolumeSpec::Bind("/home/u/proj/src:/b".into())
        );
        assert_eq!(
            parse_volume("../x:/b", cwd).unwrap(),
            VolumeSpec::Bind("/home/u/x:/b".into())
        );
        assert_eq!(
            parse_volume("/data:ro", cwd).unwrap(),
            VolumeSpec::Anonymous("/data".into())
        );
        assert_eq!(
            parse_volume("rel:rel", cwd).unwrap(),
            VolumeSpec::Bind("rel:rel".into())
        );
        assert!(
            parse_volume("/a:/b:bogus", cwd)
                .unwrap_err()
                .contains("invalid mode")
        );
        assert!(
            parse_volume("a:b:c:d", cwd)
                .unwrap_err()
                .contains("too many colons")
        );
    }

    #[test]
    fn mount_specs() {
        let m =
            parse_mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rshared").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("bind", "/a", "/b", true)
        );
        assert_eq!(m.bind_options.unwrap().propagation, "rshared");
        let m = parse_mount("src=data,dst=/d,volume-label=a=b,volume-nocopy").unwrap();
        assert_eq!(m.kind, "volume");
        let vo = m.volume_options.unwrap();
        assert!(vo.no_copy);
        assert_eq!(vo.labels.unwrap()["a"], "b");
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (64 << 20, 0o1770));
        assert_eq!(
            parse_mount("type=bind,source=/a").unwrap_err(),
            "target is required"
        );
        assert_eq!(
            parse_mount("type=bind,target=/b,bogus").unwrap_err(),
            "invalid field 'bogus' must be a key=value pair"
        );
        assert_eq!(
            parse_mount("target=/b,color=red").unwrap_err(),
            "unexpected key 'color' in 'color=red'"
        );
        assert_eq!(
            parse_mount("type=bind,target=/b,volume-nocopy").unwrap_err(),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            parse_mount("type=volume,target=/b,bind-propagation=shared").unwrap_err(),
            "cannot mix 'bind-*' options with mount type 'volume'"
        );
        assert_eq!(
            parse_mount("target=/b,readonly=maybe").unwrap_err(),
            "invalid value for readonly: maybe"
        );
    }

    #[test]
    fn devices() {
        let d = parse_device("/dev/sda:/dev/xvdc:r").unwrap();
        assert_eq!(
            (
                d.path_on_host.as_str(),
                d.path_in_container.as_str(),
                d.cgroup_permissions.as_str()
            ),
            ("/dev/sda", "/dev/xvdc", "r")
        );
        assert_eq!(parse_device("/dev/fuse").unwrap().cgroup_permissions, "rwm");
        assert_eq!(
            parse_device("/dev/fuse:rw").unwrap().path_in_container,
            "/dev/fuse"
        );
        assert!(parse_device("/dev/a:rel").is_err());
    }
}
