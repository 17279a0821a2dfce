//! `.dockerignore` (Docker's `patternmatcher` rules) and the glob matching
//! that COPY sources use (Go's `filepath.Match`).
//!
//! Patterns: one per line, `#` comments and blank lines skipped, surrounding
//! blanks trimmed, a leading `!` makes an exception, the pattern is cleaned
//! (`./`, `//`, trailing `/` removed, a leading `/` dropped). `*` and `?` never
//! cross a `/`, `**` crosses any number of directories, `[...]` is a class and
//! `\` escapes. The last matching pattern decides; a pattern matching a parent
//! directory matches everything below it.
//!
//! Written by hand: the matching rules are Docker's own (not gitignore's), and
//! the whole matcher is smaller than an adapter to a glob crate.

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of non-`/` characters.
    Star,
    /// `**` in the middle: any number of whole directories (`(.*/)?`).
    AnyDirs,
    /// `**` at the end: anything.
    AnyRest,
    /// `?`.
    One,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

/// A glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
}

impl Glob {
    /// Compile; `double_star` enables `**` (dockerignore); Go's filepath.Match treats it as `*`.
    pub fn new(pattern: &str, double_star: bool) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if double_star && chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    toks.push(if i >= chars.len() {
                        Tok::AnyRest
                    } else {
                        Tok::AnyDirs
                    });
                }
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::One),
                '\\' => match chars.get(i) {
                    Some(n) => {
                        toks.push(Tok::Lit(*n));
                        i += 1;
                    }
                    None => return Err(format!("syntax error in pattern {pattern:?}")),
                },
                '[' => {
                    let mut neg = false;
                    if matches!(chars.get(i), Some('!') | Some('^')) {
                        neg = true;
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut closed = false;
                    let mut first = true;
                    while i < chars.len() {
                        let mut a = chars[i];
                        i += 1;
                        if a == ']' && !first {
                            closed = true;
                            break;
                        }
                        first = false;
                        if a == '\\' {
                            a = *chars
                                .get(i)
                                .ok_or_else(|| format!("syntax error in pattern {pattern:?}"))?;
                            i += 1;
                        }
                        let mut b = a;
                        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']')
                        {
                            b = chars[i + 1];
                            i += 2;
                        }
                        ranges.push((a, b));
                    }
                    if !closed {
                        return Err(format!("syntax error in pattern {pattern:?}"));
                    }
                    toks.push(Tok::Class(neg, ranges));
                }
                c => toks.push(Tok::Lit(c)),
            }
        }
        Ok(Glob { toks })
    }

    /// Does the whole of `path` match?
    pub fn matches(&self, path: &str) -> bool {
        let p: Vec<char> = path.chars().collect();
        match_at(&self.toks, &p)
    }
}

fn match_at(toks: &[Tok], p: &[char]) -> bool {
    let Some((t, rest)) = toks.split_first() else {
        return p.is_empty();
    };
    match t {
        Tok::Lit(c) => p.first() == Some(c) && match_at(rest, &p[1..]),
        Tok::One => p.first().is_some_and(|c| *c != '/') && match_at(rest, &p[1..]),
        Tok::Class(neg, ranges) => {
            p.first()
                .is_some_and(|c| *c != '/' && ranges.iter().any(|(a, b)| a <= c && c <= b) != *neg)
                && match_at(rest, &p[1..])
        }
        Tok::Star => {
            for n in 0..=p.len() {
                if match_at(rest, &p[n..]) {
                    return true;
                }
                if n < p.len() && p[n] == '/' {
                    return false;
                }
            }
            false
        }
        Tok::AnyRest => true,
        Tok::AnyDirs => {
            if match_at(rest, p) {
                return true;
            }
            (0..p.len()).any(|n| p[n] == '/' && match_at(rest, &p[n + 1..]))
        }
    }
}

/// Does `s` contain glob magic (unescaped)?
pub fn has_magic(s: &str) -> bool {
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Lexically clean a slash path (Go's `path.Clean` without the leading `/`): no
/// `.` parts, no empty parts, `..` resolved; a `..` above the start is kept.
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !p.starts_with('/') {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: Glob,
    exception: bool,
}

/// A `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parse `.dockerignore` text.
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let mut l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let exception = l.starts_with('!');
            if exception {
                l = l[1..].trim();
            }
            let cleaned = clean(l);
            if cleaned.is_empty() {
                continue;
            }
            let glob = Glob::new(&cleaned, true)
                .map_err(|e| format!("invalid .dockerignore pattern: {e}"))?;
            patterns.push(Pattern { glob, exception });
        }
        Ok(Ignore { patterns })
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Is `path` (relative, slash-separated) excluded? A pattern matching one
    /// of its parent directories counts.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exception != matched {
                continue;
            }
            let mut m = p.glob.matches(&path);
            if !m && parents.len() > 1 {
                m = (1..parents.len()).any(|i| p.glob.matches(&parents[..i].join("/")));
            }
            if m {
                matched = !p.exception;
            }
        }
        matched
    }

    /// Could anything below directory `dir` be re-included by an exception?
    /// (When not, an excluded directory can be skipped whole.)
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, s: &str| Glob::new(p, true).unwrap().matches(s);
        assert!(g("*.txt", "a.txt"));
        assert!(!g("*.txt", "d/a.txt"));
        assert!(g("**/*.txt", "d/e/a.txt"));
        assert!(g("**/*.txt", "a.txt"));
        assert!(g("d/**", "d/x/y"));
        assert!(g("a?c", "abc") && !g("a?c", "a/c"));
        assert!(g("[a-c]x", "bx") && !g("[!a-c]x", "bx"));
        assert!(g("a\\*", "a*") && !g("a\\*", "ab"));
        assert!(Glob::new("[ab", true).is_err());
        assert!(has_magic("a*") && !has_magic("a\\*") && !has_magic("plain"));
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
    }

    #[test]
    fn dockerignore_rules() {
        let ig = Ignore::parse("# comment\n*.log\n!keep.log\nsecret/\n**/tmp\n/build\n").unwrap();
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(ig.excluded("secret/key"));
        assert!(ig.excluded("x/y/tmp/z"));
        assert!(ig.excluded("build/out"));
        assert!(!ig.excluded("src/main.rs"));
        assert!(!ig.excluded("d/a.log"));
        let ig = Ignore::parse("*\n!src\n").unwrap();
        assert!(ig.excluded("Dockerfile"));
        assert!(!ig.excluded("src"));
    }
}
