//! Logical lines of a Dockerfile, as BuildKit's parser forms them: parser
//! directives at the top, comment and blank lines dropped, line continuations
//! joined (the escape character and trailing blanks removed, the next line's
//! leading blanks kept, comment and blank lines inside a continuation skipped),
//! and here-document bodies collected after `RUN`, `COPY` and `ADD` lines.
//!
//! parse-dockerfile only finds a `RUN` here-document when it starts the
//! command, and keeps no delimiter names; this pass finds all of them, so the
//! front end can hand the crate one instruction at a time.

use std::ops::Range;

/// A parse error at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

/// Parser directives (`# escape=`, `# syntax=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `\` or `` ` ``.
    pub escape: char,
    /// `# syntax=` (recorded, not acted on: berth is the front end).
    pub syntax: Option<String>,
}

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter (`EOF`), also the file name for `COPY <<name /dir/`.
    pub name: String,
    /// False when the delimiter was quoted: no variable expansion.
    pub expand: bool,
    /// `<<-`: leading tabs removed from every line.
    pub strip_tabs: bool,
    /// The body, every line ending in `\n`.
    pub body: String,
    /// Byte offset (in the delimiter-marker word list of the logical line) where the
    /// marker started, in words: 0 = the first word after the instruction and flags.
    pub word_index: usize,
}

/// One instruction in source form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstruction {
    /// 1-based first line.
    pub line: usize,
    /// Upper-cased keyword.
    pub keyword: String,
    /// The logical line (keyword included), as Docker prints it in `Step N/M : …`.
    pub joined: String,
    /// 0-based physical lines of the logical line.
    pub lines: Range<usize>,
    /// Here-documents, in order, with the physical lines of each body (terminator included).
    pub heredocs: Vec<(Heredoc, Range<usize>)>,
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(s: &str) -> bool {
    s.trim_start_matches([' ', '\t']).starts_with('#')
}

/// `(line without the continuation, ends here?)`: a continuation is the
/// escape character followed only by blanks.
fn trim_continuation(s: &str, escape: char) -> (&str, bool) {
    let t = s.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(rest) => (rest, false),
        None => (s, true),
    }
}

/// Read the directives block at the top of the file; returns them and the
/// index of the first line after it.
fn directives(lines: &[&str]) -> Result<(Directives, usize), ScanError> {
    let mut d = Directives {
        escape: '\\',
        syntax: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let l = trim_newline(raw).trim();
        let Some(rest) = l.strip_prefix('#') else {
            return Ok((d, i));
        };
        let Some((k, v)) = rest.split_once('=') else {
            return Ok((d, i));
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty()
            || !k.chars().all(|c| c.is_ascii_alphanumeric())
            || !k.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            return Ok((d, i));
        }
        let v = v.trim();
        if seen.contains(&k) {
            return Err(ScanError {
                line: i + 1,
                msg: format!("only one {k} parser directive can be used"),
            });
        }
        match k.as_str() {
            "escape" => {
                d.escape = match v {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ScanError {
                            line: i + 1,
                            msg: format!("invalid escape token '{other}' does not match ` or \\"),
                        });
                    }
                }
            }
            "syntax" => d.syntax = Some(v.to_string()),
            "check" => {}
            // An unknown key ends the block: it is an ordinary comment.
            _ => return Ok((d, i)),
        }
        seen.push(k);
    }
    Ok((d, lines.len()))
}

/// Split a logical line into shell-ish words, keeping quotes and escapes in
/// them (BuildKit's `parseWords`).
pub fn words(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        if quote.is_none() && (c == ' ' || c == '\t') {
            if in_word {
                out.push(std::mem::take(&mut word));
                in_word = false;
            }
            continue;
        }
        in_word = true;
        word.push(c);
        if c == escape && quote != Some('\'') {
            if let Some(n) = chars.next() {
                word.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            _ => {}
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// The command part of a logical line: the keyword and leading `--flags` removed.
pub fn after_flags(joined: &str, escape: char) -> &str {
    let mut rest = joined.trim_start();
    // keyword
    rest = rest
        .trim_start_matches(|c: char| !c.is_whitespace())
        .trim_start();
    loop {
        if !rest.starts_with("--") {
            return rest;
        }
        let w = words(rest, escape).into_iter().next().unwrap_or_default();
        // `words` keeps the word's characters, so its length is a byte offset.
        rest = rest.get(w.len()..).unwrap_or("").trim_start();
    }
}

/// Here-document markers (`<<EOF`, `<<-EOF`, `<<"EOF"`) among the command's words.
fn heredoc_markers(command: &str, escape: char) -> Vec<Heredoc> {
    let mut out = Vec::new();
    for (i, w) in words(command, escape).iter().enumerate() {
        let Some(rest) = w.strip_prefix("<<") else {
            continue;
        };
        if rest.starts_with('<') {
            continue;
        }
        let (strip_tabs, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let quoted = rest.contains(['"', '\'']);
        let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
        if name.is_empty() || name.contains('<') {
            continue;
        }
        out.push(Heredoc {
            name,
            expand: !quoted,
            strip_tabs,
            body: String::new(),
            word_index: i,
        });
    }
    out
}

/// Scan `text` into directives and raw instructions.
pub fn scan(text: &str) -> Result<(Directives, Vec<RawInstruction>), ScanError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (d, mut i) = directives(&lines)?;
    let mut out = Vec::new();
    while i < lines.len() {
        let raw = trim_newline(lines[i]);
        if is_comment(raw) {
            i += 1;
            continue;
        }
        let first = raw.trim_start_matches([' ', '\t']);
        let (head, mut done) = trim_continuation(first, d.escape);
        let start = i;
        i += 1;
        if done && head.trim().is_empty() {
            continue;
        }
        let mut joined = head.to_string();
        while !done && i < lines.len() {
            let l = trim_newline(lines[i]);
            i += 1;
            if is_comment(l) || l.trim().is_empty() {
                continue;
            }
            let (part, end) = trim_continuation(l, d.escape);
            joined.push_str(part);
            done = end;
        }
        let keyword = joined
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let logical = start..i;
        let mut heredocs = Vec::new();
        let json_form = after_flags(&joined, d.escape).starts_with('[');
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") && !json_form {
            for mut h in heredoc_markers(after_flags(&joined, d.escape), d.escape) {
                let body_start = i;
                let mut body = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let mut l = trim_newline(lines[i]);
                    i += 1;
                    if h.strip_tabs {
                        l = l.trim_start_matches('\t');
                    }
                    if l == h.name {
                        closed = true;
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                if !closed {
                    return Err(ScanError {
                        line: start + 1,
                        msg: format!("unterminated heredoc {}", h.name),
                    });
                }
                h.body = body;
                heredocs.push((h, body_start..i));
            }
        }
        out.push(RawInstruction {
            line: start + 1,
            keyword,
            joined: joined.trim_end().to_string(),
            lines: logical,
            heredocs,
        });
    }
    Ok((d, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_and_comments_are_joined_as_docker_does() {
        let (_, ins) =
            scan("FROM a\nRUN echo a && \\\n  # comment\n\n  echo b\nCMD echo \\\n  hi\n").unwrap();
        assert_eq!(ins[1].joined, "RUN echo a &&   echo b");
        assert_eq!(ins[1].line, 2);
        assert_eq!(ins[2].joined, "CMD echo   hi");
        assert_eq!(ins[2].line, 6);
    }

    #[test]
    fn directives_and_escape() {
        let (d, ins) =
            scan("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN a `\n b\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(ins[1].joined, "RUN a  b");
        assert!(scan("# escape=x\nFROM a\n").is_err());
    }

    #[test]
    fn heredocs_anywhere_in_run() {
        let (_, ins) = scan(
            "FROM a\nRUN cat <<-EOT > /f && cat <<'X'\n\thello $A\n\tEOT\nraw $B\nX\nENV A=1\n",
        )
        .unwrap();
        let h = &ins[1].heredocs;
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[0].0.name.as_str(), h[0].0.body.as_str(), h[0].0.expand),
            ("EOT", "hello $A\n", true)
        );
        assert_eq!(
            (h[1].0.name.as_str(), h[1].0.body.as_str(), h[1].0.expand),
            ("X", "raw $B\n", false)
        );
        assert_eq!(ins[2].keyword, "ENV");
        assert_eq!(ins[2].line, 7);
        assert!(scan("FROM a\nRUN <<EOF\necho\n").is_err());
    }
}
