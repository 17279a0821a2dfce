//! tmpfs options: `--tmpfs /run:rw,size=64m` strings and `--mount type=tmpfs`
//! `TmpfsOptions`, checked and normalised the way Docker does (later options
//! override earlier ones; only known flags and tmpfs data keys pass).

use berth_api::types::container::TmpfsOptions;

use crate::error::{Result, VolumeError};

/// Mount flags a tmpfs option list may carry, each with the group it collides in
/// (`ro`/`rw` set the same bit; one propagation mode only).
const FLAGS: &[(&str, &str)] = &[
    ("ro", "rdonly"),
    ("rw", "rdonly"),
    ("suid", "nosuid"),
    ("nosuid", "nosuid"),
    ("dev", "nodev"),
    ("nodev", "nodev"),
    ("exec", "noexec"),
    ("noexec", "noexec"),
    ("sync", "sync"),
    ("async", "sync"),
    ("dirsync", "dirsync"),
    ("remount", "remount"),
    ("mand", "mand"),
    ("nomand", "mand"),
    ("atime", "noatime"),
    ("noatime", "noatime"),
    ("diratime", "nodiratime"),
    ("nodiratime", "nodiratime"),
    ("bind", "bind"),
    ("rbind", "rbind"),
    ("unbindable", "propagation"),
    ("runbindable", "propagation"),
    ("private", "propagation"),
    ("rprivate", "propagation"),
    ("shared", "propagation"),
    ("rshared", "propagation"),
    ("slave", "propagation"),
    ("rslave", "propagation"),
    ("relatime", "relatime"),
    ("norelatime", "relatime"),
    ("strictatime", "strictatime"),
    ("nostrictatime", "strictatime"),
];

/// `key=value` options tmpfs understands.
const DATA_KEYS: [&str; 7] = [
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// Check and de-duplicate a `--tmpfs` option string; the last of colliding options wins.
pub fn merge(data: &str) -> Result<Vec<String>> {
    let opts: Vec<&str> = data.split(',').filter(|o| !o.is_empty()).collect();
    let mut seen_groups: Vec<&str> = Vec::new();
    let mut seen_keys: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for opt in opts.iter().rev() {
        if *opt == "defaults" {
            continue;
        }
        if let Some((_, group)) = FLAGS.iter().find(|(f, _)| f == opt) {
            if !seen_groups.contains(group) {
                seen_groups.push(group);
                out.push(opt.to_string());
            }
            continue;
        }
        match opt.split_once('=') {
            Some((k, _)) if DATA_KEYS.contains(&k) => {
                if !seen_keys.contains(&k) {
                    seen_keys.push(k);
                    out.push(opt.to_string());
                }
            }
            // Go prints the split option with %q: ["foo"] or ["a" "b"].
            Some((k, v)) => {
                return Err(VolumeError::Invalid(format!(
                    "invalid tmpfs option [{k:?} {v:?}]"
                )));
            }
            None => {
                return Err(VolumeError::Invalid(format!(
                    "invalid tmpfs option [{opt:?}]"
                )));
            }
        }
    }
    out.reverse();
    Ok(out)
}

/// Options of a `--mount type=tmpfs` (without `ro`: read-only travels separately).
pub fn convert(opts: Option<&TmpfsOptions>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let Some(o) = opts else { return Ok(out) };
    if o.mode != 0 {
        out.push(format!("mode={:o}", o.mode));
    }
    if o.size_bytes < 0 {
        return Err(VolumeError::Invalid(format!(
            "invalid tmpfs size: {}",
            o.size_bytes
        )));
    }
    if o.size_bytes != 0 {
        // The largest unit that divides the size exactly, as Docker writes it.
        let (mut size, mut suffix) = (o.size_bytes, "");
        for (s, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
            if size % div == 0 {
                size /= div;
                suffix = s;
                break;
            }
        }
        out.push(format!("size={size}{suffix}"));
    }
    for opt in o.options.iter().flatten() {
        if opt.is_empty() || opt.len() > 2 {
            return Err(VolumeError::Invalid("invalid option array length".into()));
        }
        if !matches!(opt[0].as_str(), "exec" | "noexec") {
            return Err(VolumeError::Invalid(format!("invalid option: {}", opt[0])));
        }
        out.push(if opt.len() == 1 {
            opt[0].clone()
        } else {
            format!("{}={}", opt[0], opt[1])
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_last_and_checks_keys() {
        assert_eq!(
            merge("rw,size=64m,mode=1777").unwrap(),
            ["rw", "size=64m", "mode=1777"]
        );
        assert_eq!(
            merge("size=1m,exec,size=2m,noexec").unwrap(),
            ["size=2m", "noexec"]
        );
        assert_eq!(merge("").unwrap(), Vec::<String>::new());
        assert_eq!(
            merge("foo").unwrap_err().to_string(),
            "invalid tmpfs option [\"foo\"]"
        );
        assert_eq!(
            merge("a=b").unwrap_err().to_string(),
            "invalid tmpfs option [\"a\" \"b\"]"
        );
    }

    #[test]
    fn convert_like_docker() {
        let o = TmpfsOptions {
            size_bytes: 10 << 20,
            mode: 0o1770,
            options: Some(vec![vec!["exec".into()]]),
        };
        assert_eq!(
            convert(Some(&o)).unwrap(),
            ["mode=1770", "size=10m", "exec"]
        );
        let o = TmpfsOptions {
            size_bytes: 1000,
            ..Default::default()
        };
        assert_eq!(convert(Some(&o)).unwrap(), ["size=1000"]);
        let o = TmpfsOptions {
            options: Some(vec![vec!["suid".into()]]),
            ..Default::default()
        };
        assert_eq!(
            convert(Some(&o)).unwrap_err().to_string(),
            "invalid option: suid"
        );
        assert!(convert(None).unwrap().is_empty());
    }
}
