//! Variable substitution as the Dockerfile reference defines it (BuildKit's
//! `shell.Lex`): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
//! `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`; single quotes
//! are literal, double quotes allow expansion, the escape character (`\` or
//! the `# escape=` one) makes the next character literal and is removed.
//!
//! Used by `ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR ARG`
//! (and the flags of some); `RUN`, `CMD` and `ENTRYPOINT` are left to the shell.

/// An environment for expansion: `KEY=value` entries, later ones winning.
#[derive(Debug, Clone, Default)]
pub struct Env(pub Vec<(String, String)>);

impl Env {
    /// From `KEY=value` strings.
    pub fn from_list<'a>(list: impl IntoIterator<Item = &'a String>) -> Env {
        Env(list
            .into_iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect())
    }

    /// Add an entry (it wins over earlier ones).
    pub fn push(&mut self, k: impl Into<String>, v: impl Into<String>) {
        self.0.push((k.into(), v.into()));
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Expand one word (quotes removed, never split).
pub fn word(s: &str, env: &Env, escape: char) -> Result<String, String> {
    Ok(Lexer::new(s, env, escape).run(false)?.join(""))
}

/// Expand and split into words on unquoted blanks (EXPOSE's rule).
pub fn words(s: &str, env: &Env, escape: char) -> Result<Vec<String>, String> {
    Lexer::new(s, env, escape).run(true)
}

/// Expand variables in a here-document body: quotes are plain text (as in a
/// shell here-document), the escape character keeps the next character
/// (both stay), only `$` substitutions change the text.
pub fn heredoc(s: &str, env: &Env, escape: char) -> Result<String, String> {
    let mut lx = Lexer::new(s, env, escape);
    let mut out = String::new();
    while let Some(c) = lx.next() {
        if c == escape {
            out.push(c);
            if let Some(n) = lx.next() {
                out.push(n);
            }
        } else if c == '$' {
            out.push_str(&lx.dollar()?);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a Env,
    escape: char,
}

/// Output words under construction.
#[derive(Default)]
struct Words {
    done: Vec<String>,
    cur: String,
    has_cur: bool,
}

impl Words {
    fn push(&mut self, c: char) {
        self.cur.push(c);
        self.has_cur = true;
    }
    fn push_str(&mut self, s: &str) {
        self.cur.push_str(s);
        self.has_cur = true;
    }
    /// Expanded unquoted text splits on blanks when splitting.
    fn push_split(&mut self, s: &str, split: bool) {
        if !split {
            return self.push_str(s);
        }
        for c in s.chars() {
            if c == ' ' || c == '\t' || c == '\n' {
                self.end();
            } else {
                self.push(c);
            }
        }
    }
    fn mark(&mut self) {
        self.has_cur = true;
    }
    fn end(&mut self) {
        if self.has_cur {
            self.done.push(std::mem::take(&mut self.cur));
            self.has_cur = false;
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    fn new(s: &str, env: &'a Env, escape: char) -> Lexer<'a> {
        Lexer {
            chars: s.chars().collect(),
            pos: 0,
            env,
            escape,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    fn run(mut self, split: bool) -> Result<Vec<String>, String> {
        let mut w = Words::default();
        while let Some(c) = self.next() {
            if split && (c == ' ' || c == '\t') {
                w.end();
            } else if c == self.escape {
                match self.next() {
                    Some(n) => w.push(n),
                    None => w.push(c),
                }
            } else if c == '\'' {
                w.mark();
                loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(x) => w.push(x),
                        None => return Err(
                            "unexpected end of statement while looking for matching single-quote"
                                .into(),
                        ),
                    }
                }
            } else if c == '"' {
                w.mark();
                let s = self.double_quoted()?;
                w.push_str(&s);
            } else if c == '$' {
                let v = self.dollar()?;
                w.push_split(&v, split);
                if !split {
                    w.mark();
                }
            } else {
                w.push(c);
            }
        }
        w.end();
        if !split && w.done.is_empty() {
            w.done.push(String::new());
        }
        Ok(w.done)
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('"') => return Ok(out),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
            }
        }
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced()
            }
            Some(c) if is_name_char(c) => {
                let mut name = String::new();
                // `$1` is one positional digit, as in sh; names run on.
                if c.is_ascii_digit() {
                    self.pos += 1;
                    name.push(c);
                } else {
                    while let Some(c) = self.peek().filter(|c| is_name_char(*c)) {
                        self.pos += 1;
                        name.push(c);
                    }
                }
                Ok(self.env.get(&name).unwrap_or("").to_string())
            }
            _ => Ok("$".to_string()),
        }
    }

    /// After `${`.
    fn braced(&mut self) -> Result<String, String> {
        let mut name = String::new();
        while let Some(c) = self.peek().filter(|c| is_name_char(*c)) {
            self.pos += 1;
            name.push(c);
        }
        if name.is_empty() {
            return Err(format!(
                "bad substitution: missing variable name in ${{{}",
                self.rest_preview()
            ));
        }
        let c = self.next().ok_or("missing '}'")?;
        if c == '}' {
            return Ok(self.env.get(&name).unwrap_or("").to_string());
        }
        let (colon, op) = if c == ':' {
            (true, self.next().ok_or("missing '}'")?)
        } else {
            (false, c)
        };
        if !matches!(op, '-' | '+' | '?') {
            return Err(format!("unsupported modifier ({op}) in substitution"));
        }
        let word = self.until_close()?;
        let val = self.env.get(&name);
        let set = val.is_some();
        let non_empty = val.is_some_and(|v| !v.is_empty());
        let ok = if colon { non_empty } else { set };
        Ok(match op {
            '-' => {
                if ok {
                    val.unwrap_or("").to_string()
                } else {
                    word
                }
            }
            '+' => {
                if ok {
                    word
                } else {
                    String::new()
                }
            }
            _ => {
                if ok {
                    val.unwrap_or("").to_string()
                } else if word.is_empty() {
                    return Err(format!("{name}: is not allowed to be unset"));
                } else {
                    return Err(format!("{name}: {word}"));
                }
            }
        })
    }

    /// The word of a `${name:-word}` up to its `}`, expanded.
    fn until_close(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('}') => return Ok(out),
                Some('$') => out.push_str(&self.dollar()?),
                Some('\'') => loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(x) => out.push(x),
                        None => return Err("missing '}'".into()),
                    }
                },
                Some('"') => out.push_str(&self.double_quoted()?),
                Some(c) if c == self.escape => {
                    if let Some(n) = self.next() {
                        out.push(n);
                    }
                }
                Some(c) => out.push(c),
                None => return Err("missing '}'".into()),
            }
        }
    }

    fn rest_preview(&self) -> String {
        self.chars[self.pos.min(self.chars.len())..]
            .iter()
            .take(16)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        let mut e = Env::default();
        e.push("A", "one");
        e.push("E", "");
        e.push("P", "80 443");
        e
    }

    #[test]
    fn substitution_forms() {
        let e = env();
        let w = |s: &str| word(s, &e, '\\').unwrap();
        assert_eq!(w("$A"), "one");
        assert_eq!(w("${A}x"), "onex");
        assert_eq!(w("${B:-def}"), "def");
        assert_eq!(w("${E:-def}"), "def");
        assert_eq!(w("${E-def}"), "");
        assert_eq!(w("${A:+yes}"), "yes");
        assert_eq!(w("${E:+yes}"), "");
        assert_eq!(w("${E+yes}"), "yes");
        assert_eq!(w("${B:-${A}}"), "one");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "one b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("\"a\\\"b\""), "a\"b");
        assert_eq!(w("\"a\\nb\""), "a\\nb");
        assert_eq!(w("$"), "$");
        assert_eq!(w("a$-b"), "a$-b");
        assert_eq!(w("$UNSET"), "");
        assert_eq!(word("`$A", &e, '`').unwrap(), "$A");
        assert!(
            word("${B:?need b}", &e, '\\')
                .unwrap_err()
                .contains("need b")
        );
        assert!(word("'open", &e, '\\').is_err());
        assert!(word("${A", &e, '\\').is_err());
        assert_eq!(
            heredoc("x='$A' \\$A ${B:-d}\n", &e, '\\').unwrap(),
            "x='one' \\$A d\n"
        );
    }

    #[test]
    fn word_splitting() {
        let e = env();
        assert_eq!(
            words("$P 8080/udp", &e, '\\').unwrap(),
            vec!["80", "443", "8080/udp"]
        );
        assert_eq!(words("\"$P\"", &e, '\\').unwrap(), vec!["80 443"]);
        assert_eq!(words("", &e, '\\').unwrap(), Vec::<String>::new());
    }
}
