//! Parsing and validating one mount: `-v`/`Binds` strings, `--mount`/`Mounts`
//! objects, `--volumes-from` specs. Messages are Docker's (`invalid mount config
//! for type "bind": bind source path does not exist: /x`).

use berth_api::types::container::{BindOptions, DriverConfig, Mount, VolumeOptions};

use super::{MountKind, MountRequest, Origin, path, tmpfs};
use crate::error::{Result, VolumeError};

const RW_MODES: [&str; 2] = ["rw", "ro"];
const LABEL_MODES: [&str; 2] = ["z", "Z"];
const CONSISTENCY_MODES: [&str; 3] = ["consistent", "cached", "delegated"];
/// Propagation modes, Docker's default first.
pub const PROPAGATION_MODES: [&str; 6] = [
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

/// Is `mode` a valid `-v` mode list (at most one of each kind)?
pub fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let slot = if RW_MODES.contains(&o) {
            0
        } else if LABEL_MODES.contains(&o) {
            1
        } else if PROPAGATION_MODES.contains(&o) {
            2
        } else if o == "nocopy" {
            3
        } else if CONSISTENCY_MODES.contains(&o) {
            4
        } else {
            return false;
        };
        counts[slot] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

/// Does a valid `mode` leave the mount writable?
pub fn read_write(mode: &str) -> bool {
    valid_mode(mode) && !mode.split(',').any(|o| o == "ro")
}

fn propagation_of(mode: &str) -> Option<&str> {
    mode.split(',').find(|o| PROPAGATION_MODES.contains(o))
}

fn invalid_spec(raw: &str) -> VolumeError {
    VolumeError::Invalid(format!("invalid volume specification: '{raw}'"))
}

/// One `Binds` entry (`-v [src:]dst[:mode]`). `volume_driver` is `HostConfig.VolumeDriver`.
pub fn parse_bind(raw: &str, volume_driver: &str) -> Result<MountRequest> {
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(invalid_spec(raw));
    }
    let mut spec = Mount::default();
    let mut mode = "";
    match arr.as_slice() {
        [dst] => spec.target = dst.to_string(),
        [src, dst] => {
            // `/foo:rw` is a destination with a mode, which volumes cannot have.
            if valid_mode(dst) {
                return Err(invalid_spec(raw));
            }
            spec.source = src.to_string();
            spec.target = dst.to_string();
        }
        [src, dst, m] => {
            spec.source = src.to_string();
            spec.target = dst.to_string();
            mode = m;
        }
        _ => return Err(invalid_spec(raw)),
    }
    if !valid_mode(mode) {
        return Err(VolumeError::Invalid(format!("invalid mode: {mode}")));
    }
    spec.kind = if spec.source.starts_with('/') {
        "bind"
    } else {
        "volume"
    }
    .into();
    spec.read_only = !read_write(mode);
    if !volume_driver.is_empty() && spec.kind == "volume" {
        spec.volume_options = Some(VolumeOptions {
            driver_config: Some(DriverConfig {
                name: volume_driver.into(),
                options: Default::default(),
            }),
            ..Default::default()
        });
    }
    if mode.split(',').any(|o| o == "nocopy") {
        spec.volume_options
            .get_or_insert_with(Default::default)
            .no_copy = true;
    }
    if let Some(p) = propagation_of(mode) {
        spec.bind_options = Some(BindOptions {
            propagation: p.into(),
            ..Default::default()
        });
    }
    let mut req = parse_spec(&spec, false, Origin::Bind)
        .map_err(|e| VolumeError::Invalid(format!("invalid volume specification: '{raw}': {e}")))?;
    req.mode = mode.to_string();
    // `-v` creates a missing host directory at start, unlike `--mount`.
    req.create_source = req.kind == MountKind::Bind;
    Ok(req)
}

/// One `Mounts` entry (`--mount`), checking that a bind source exists.
pub fn parse_mount(m: &Mount) -> Result<MountRequest> {
    parse_spec(m, true, Origin::Mount)
}

fn mount_err(m: &Mount, msg: impl std::fmt::Display) -> VolumeError {
    VolumeError::Invalid(format!("invalid mount config for type {:?}: {msg}", m.kind))
}

/// Validate a mount target: present, not `/`, absolute.
pub fn check_target(target: &str) -> std::result::Result<(), String> {
    if target.is_empty() {
        return Err("field Target must not be empty".into());
    }
    if path::clean(&target.replace('\\', "/")) == "/" {
        return Err("invalid specification: destination can't be '/'".into());
    }
    if !target.replace('\\', "/").starts_with('/') {
        return Err(format!(
            "invalid mount path: '{target}' mount path must be absolute"
        ));
    }
    Ok(())
}

fn extra(field: &str) -> String {
    format!("field {field} must not be specified")
}

/// Docker's `validateMountConfig` + `parseMountSpec` for one mount.
fn parse_spec(m: &Mount, check_source: bool, origin: Origin) -> Result<MountRequest> {
    check_target(&m.target).map_err(|e| mount_err(m, e))?;
    let destination = path::clean(&m.target);
    let mut req = MountRequest::new(MountKind::Tmpfs, origin, &destination);
    req.rw = !m.read_only;
    match m.kind.as_str() {
        "bind" => {
            if m.source.is_empty() {
                return Err(mount_err(m, "field Source must not be empty"));
            }
            let opts = m.bind_options.clone().unwrap_or_default();
            if !opts.propagation.is_empty()
                && !PROPAGATION_MODES.contains(&opts.propagation.as_str())
            {
                return Err(mount_err(
                    m,
                    format!("invalid propagation mode: {}", opts.propagation),
                ));
            }
            if m.volume_options.is_some() {
                return Err(mount_err(m, extra("VolumeOptions")));
            }
            if m.tmpfs_options.is_some() {
                return Err(mount_err(m, extra("TmpfsOptions")));
            }
            if !m.source.starts_with('/') {
                return Err(mount_err(
                    m,
                    format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        m.source
                    ),
                ));
            }
            if opts.read_only_non_recursive && opts.read_only_force_recursive {
                return Err(mount_err(
                    m,
                    "must not set both ReadOnlyNonRecursive and ReadOnlyForceRecursive",
                ));
            }
            if (opts.read_only_non_recursive || opts.read_only_force_recursive) && !m.read_only {
                return Err(mount_err(
                    m,
                    "must not set ReadOnlyNonRecursive or ReadOnlyForceRecursive when ReadOnly is false",
                ));
            }
            if check_source {
                let exists =
                    std::fs::metadata(&m.source)
                        .map(|_| true)
                        .or_else(|e| match e.kind() {
                            std::io::ErrorKind::NotFound => Ok(false),
                            _ => Err(mount_err(m, format!("stat {}: {e}", m.source))),
                        })?;
                if !exists && !opts.create_mountpoint {
                    return Err(mount_err(
                        m,
                        format!("bind source path does not exist: {}", m.source),
                    ));
                }
            }
            req.kind = MountKind::Bind;
            req.source = path::clean(&m.source);
            req.propagation = if opts.propagation.is_empty() {
                PROPAGATION_MODES[0].into()
            } else {
                opts.propagation
            };
            req.non_recursive = opts.non_recursive;
            req.create_source = opts.create_mountpoint;
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(mount_err(m, extra("BindOptions")));
            }
            if m.tmpfs_options.is_some() {
                return Err(mount_err(m, extra("TmpfsOptions")));
            }
            let anonymous = m.source.is_empty();
            let opts = m.volume_options.clone().unwrap_or_default();
            if !opts.subpath.is_empty() {
                if anonymous {
                    return Err(mount_err(
                        m,
                        "must not set Subpath when using anonymous volumes",
                    ));
                }
                if !path::is_local(&opts.subpath) {
                    return Err(mount_err(
                        m,
                        "subpath must be a relative path within the volume",
                    ));
                }
            }
            if m.read_only && anonymous {
                return Err(mount_err(
                    m,
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
            req.kind = MountKind::Volume;
            req.name = m.source.clone();
            req.anonymous = anonymous;
            req.copy_data = !opts.no_copy;
            req.subpath = opts.subpath;
            req.labels = opts.labels;
            if let Some(dc) = opts.driver_config {
                req.driver = dc.name;
                req.driver_opts = (!dc.options.is_empty()).then_some(dc.options);
            }
        }
        "tmpfs" => {
            if m.bind_options.is_some() {
                return Err(mount_err(m, extra("BindOptions")));
            }
            if m.volume_options.is_some() {
                return Err(mount_err(m, extra("VolumeOptions")));
            }
            if !m.source.is_empty() {
                return Err(mount_err(m, extra("Source")));
            }
            req.tmpfs_options =
                tmpfs::convert(m.tmpfs_options.as_ref()).map_err(|e| mount_err(m, e))?;
        }
        "image" | "npipe" | "cluster" => {
            return Err(mount_err(m, "mount type not supported by berth"));
        }
        _ => return Err(mount_err(m, "mount type unknown")),
    }
    Ok(req)
}

/// `--volumes-from container[:ro|rw]` → (container, mode); Docker's checks.
pub fn parse_volumes_from(spec: &str) -> Result<(String, String)> {
    if spec.is_empty() {
        return Err(VolumeError::Invalid(
            "volumes-from specification cannot be an empty string".into(),
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_string(), "rw".into()));
    }
    // Propagation and copy modes are the source container's business.
    if !valid_mode(mode) || propagation_of(mode).is_some() || mode.split(',').any(|o| o == "nocopy")
    {
        return Err(VolumeError::Invalid(format!("invalid mode: {mode}")));
    }
    Ok((id.to_string(), mode.to_string()))
}
