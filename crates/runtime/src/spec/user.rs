//! `--user` resolution against the image's `/etc/passwd` and `/etc/group`, as Docker
//! does it: names or numeric ids, `user:group`, supplementary groups from the group
//! file and `--group-add`, and the user's home directory for `HOME`.

use std::path::{Component, Path, PathBuf};

use crate::error::{Result, RuntimeError};

/// The resolved identity of a container process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids, without duplicates, primary gid excluded.
    pub additional_gids: Vec<u32>,
    /// Home directory from passwd (`/` when unknown).
    pub home: String,
    /// User name from passwd, when found.
    pub name: Option<String>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolve `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) and `group_add`
/// inside `rootfs`. Files missing from the image are treated as empty, as Docker does,
/// so numeric ids always work while names need the files.
pub fn resolve(rootfs: &Path, spec: &str, group_add: &[String]) -> Result<ExecUser> {
    let passwd = read_in_root(rootfs, "/etc/passwd")
        .map(|s| parse_passwd(&s))
        .unwrap_or_default();
    let groups = read_in_root(rootfs, "/etc/group")
        .map(|s| parse_group(&s))
        .unwrap_or_default();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };

    let entry = passwd.iter().find(|e| e.name == user_part).or_else(|| {
        user_part
            .parse::<u32>()
            .ok()
            .and_then(|uid| passwd.iter().find(|e| e.uid == uid))
    });
    let (uid, mut gid, home, name) = match entry {
        Some(e) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
        None => match user_part.parse::<u32>() {
            Ok(uid) => (uid, 0, "/".to_string(), None),
            Err(_) => {
                return Err(RuntimeError::Invalid(format!(
                    "unable to find user {user_part}: no matching entries in passwd file"
                )));
            }
        },
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = lookup_group(&groups, g)?;
    }

    let mut additional = Vec::new();
    if let Some(n) = &name {
        for g in &groups {
            if g.members.iter().any(|m| m == n) && g.gid != gid && !additional.contains(&g.gid) {
                additional.push(g.gid);
            }
        }
    }
    for g in group_add {
        let id = lookup_group(&groups, g)?;
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional,
        home,
        name,
    })
}

fn lookup_group(groups: &[GroupEntry], g: &str) -> Result<u32> {
    if let Some(e) = groups.iter().find(|e| e.name == g) {
        return Ok(e.gid);
    }
    g.parse::<u32>().map_err(|_| {
        RuntimeError::Invalid(format!(
            "unable to find group {g}: no matching entries in group file"
        ))
    })
}

fn parse_passwd(s: &str) -> Vec<PasswdEntry> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f
                    .get(5)
                    .filter(|h| !h.is_empty())
                    .unwrap_or(&"/")
                    .to_string(),
            })
        })
        .collect()
}

fn parse_group(s: &str) -> Vec<GroupEntry> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|x| !x.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Read a file of the image, resolving symlinks as if `root` were `/` so a hostile
/// image cannot point `/etc/passwd` at a host file.
pub fn read_in_root(root: &Path, path: &str) -> Option<String> {
    let p = resolve_in_root(root, path)?;
    std::fs::read_to_string(p).ok()
}

/// `path` resolved inside `root`: `..` and absolute symlink targets never leave `root`.
/// Returns `None` on symlink loops.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut todo: Vec<String> = path
        .split('/')
        .rev()
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(comp) = todo.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let candidate = cur
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&comp);
        match std::fs::read_link(&candidate) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if target.is_absolute() {
                    cur.clear();
                }
                let parts: Vec<String> = target
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                        Component::ParentDir => Some("..".into()),
                        _ => None,
                    })
                    .collect();
                todo.extend(parts.into_iter().rev());
            }
            Err(_) => cur.push(comp),
        }
    }
    Some(cur.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nbob:x:1000:\naudio:x:29:bob\nvideo:x:44:bob,www\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn resolves_names_ids_and_groups() {
        let d = rootfs();
        let u = resolve(d.path(), "", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        let u = resolve(d.path(), "bob", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![29, 44]);
        let u = resolve(d.path(), "www:audio", &["1234".into(), "bob".into()]).unwrap();
        assert_eq!((u.uid, u.gid), (33, 29));
        assert_eq!(u.additional_gids, vec![44, 1234, 1000]);
        let u = resolve(d.path(), "4242:4343", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
        let u = resolve(d.path(), "1000", &[]).unwrap();
        assert_eq!(u.name.as_deref(), Some("bob"));
        assert!(
            resolve(d.path(), "nobody", &[])
                .unwrap_err()
                .to_string()
                .contains("unable to find user nobody")
        );
        assert!(resolve(d.path(), "bob:nogroup", &[]).is_err());
    }

    #[test]
    fn symlinks_stay_inside_root() {
        let d = rootfs();
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/../../../../etc/shadow-nope", d.path().join("etc/passwd"))
            .unwrap();
        let p = resolve_in_root(d.path(), "/etc/passwd").unwrap();
        assert!(p.starts_with(d.path()));
        // Missing passwd: numeric ids still work, names do not.
        assert_eq!(resolve(d.path(), "7", &[]).unwrap().uid, 7);
        assert!(resolve(d.path(), "bob", &[]).is_err());
    }
}
