//! Options of the `local` driver: `type`, `device`, `o` (mount the volume from a
//! device, tmpfs or a bind instead of a plain directory) and `size` (needs quota
//! support, which berth does not have), with Docker's validation messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError};

/// Option names the local driver accepts.
const VALID: [&str; 4] = ["type", "o", "device", "size"];

/// For each option, the options it needs (checked in this order).
const REQUIRES: [(&str, &[&str]); 3] = [
    ("device", &["type"]),
    ("type", &["device"]),
    ("o", &["device", "type"]),
];

/// What the local driver mounts on a volume's `_data` directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountOpts {
    /// Filesystem type (`tmpfs`, `nfs`, `none` for a bind).
    pub kind: String,
    /// Source device or path.
    pub device: String,
    /// Mount options (`size=10m,uid=1000`, `bind`).
    pub options: String,
}

/// Check `opts` and turn them into what to mount, if anything.
pub fn parse(opts: &BTreeMap<String, String>) -> Result<Option<MountOpts>> {
    if opts.is_empty() {
        return Ok(None);
    }
    for key in opts.keys() {
        if !VALID.contains(&key.as_str()) {
            return Err(VolumeError::Invalid(format!("invalid option: {key:?}")));
        }
    }
    if let Some(size) = opts.get("size") {
        // Quotas need project quotas on the backing filesystem; refuse rather than ignore.
        let _ = size;
        return Err(VolumeError::Invalid(
            "quota size requested but no quota support".into(),
        ));
    }
    for (opt, needs) in REQUIRES {
        let missing = needs.iter().find(|n| !opts.contains_key(**n));
        if let (true, Some(missing)) = (opts.contains_key(opt), missing) {
            return Err(VolumeError::Invalid(format!(
                "missing required option: {missing:?}"
            )));
        }
    }
    let get = |k: &str| opts.get(k).cloned().unwrap_or_default();
    let m = MountOpts {
        kind: get("type"),
        device: get("device"),
        options: get("o"),
    };
    if m.kind.is_empty() && m.device.is_empty() {
        return Ok(None);
    }
    if m.device.is_empty() {
        return Err(VolumeError::Invalid(
            "missing device in volume options".into(),
        ));
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn docker_validation() {
        assert_eq!(parse(&o(&[])).unwrap(), None);
        let m = parse(&o(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=10m"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (m.kind.as_str(), m.device.as_str(), m.options.as_str()),
            ("tmpfs", "tmpfs", "size=10m")
        );
        assert_eq!(
            parse(&o(&[("foo", "x")])).unwrap_err().to_string(),
            "invalid option: \"foo\""
        );
        assert_eq!(
            parse(&o(&[("type", "tmpfs")])).unwrap_err().to_string(),
            "missing required option: \"device\""
        );
        assert_eq!(
            parse(&o(&[("device", "x")])).unwrap_err().to_string(),
            "missing required option: \"type\""
        );
        assert!(parse(&o(&[("o", "size=1m"), ("type", "tmpfs")])).is_err());
        assert!(
            parse(&o(&[("size", "10m")]))
                .unwrap_err()
                .to_string()
                .contains("quota")
        );
    }
}
