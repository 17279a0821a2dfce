//! Lexical path handling for container paths (Go's `path.Clean` and
//! `filepath.IsLocal` on unix), which Docker applies to mount targets and subpaths.

/// Go's `path.Clean`: drop `.` and empty elements, resolve `..` lexically; `/..` is `/`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `filepath.IsLocal` on unix: relative, non-empty, and never leaving its base.
pub fn is_local(p: &str) -> bool {
    if p.is_empty() || p.starts_with('/') {
        return false;
    }
    let c = clean(p);
    c != ".." && !c.starts_with("../")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_clean() {
        for (i, o) in [
            ("/a/b/", "/a/b"),
            ("/a//b/./c/..", "/a/b"),
            ("/..", "/"),
            ("/../x", "/x"),
            ("a/../..", ".."),
            ("", "."),
            ("./", "."),
            ("//", "/"),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }

    #[test]
    fn go_is_local() {
        assert!(is_local("a") && is_local("a/../b") && is_local("a/b/"));
        assert!(!is_local("") && !is_local("/a") && !is_local("..") && !is_local("a/../../b"));
    }
}
