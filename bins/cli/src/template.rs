//! A subset of Go's text/template, enough for docker-style `--format` strings:
//! `{{.Field.Sub}}`, `{{json .}}`, `{{index .Labels "k"}}`, `{{join .Names ","}}`,
//! `{{lower .X}}`, `{{upper .X}}`, `{{title .X}}`, `{{len .X}}`, `{{println .X}}`,
//! `{{printf "%s" .X}}`, `{{range .X}}…{{end}}`, `{{if .X}}…{{else}}…{{end}}`,
//! pipelines with `|`, and `{{-`/`-}}` trimming. Written by hand because no Rust
//! crate implements Go template semantics over JSON values.

use serde_json::Value;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Cmd>),
    Range(Vec<Cmd>, Vec<Node>, Vec<Node>),
    If(Vec<Cmd>, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Str(String),
    Num(f64),
}

#[derive(Debug, Clone)]
struct Cmd {
    func: Option<String>,
    args: Vec<Arg>,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

fn tokenize_action(s: &str) -> Result<Vec<String>, String> {
    let mut toks = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            chars.next();
            let mut lit = String::from("\"");
            let mut closed = false;
            while let Some(d) = chars.next() {
                if d == c {
                    closed = true;
                    break;
                }
                if d == '\\' && c == '"' {
                    match chars.next() {
                        Some('n') => lit.push('\n'),
                        Some('t') => lit.push('\t'),
                        Some(o) => lit.push(o),
                        None => break,
                    }
                } else {
                    lit.push(d);
                }
            }
            if !closed {
                return Err("unterminated string".into());
            }
            toks.push(lit);
        } else if c == '|' {
            chars.next();
            toks.push("|".into());
        } else {
            let mut w = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() || d == '|' {
                    break;
                }
                w.push(d);
                chars.next();
            }
            toks.push(w);
        }
    }
    Ok(toks)
}

fn parse_pipeline(s: &str) -> Result<Vec<Cmd>, String> {
    let toks = tokenize_action(s)?;
    let mut cmds = Vec::new();
    for group in toks.split(|t| t == "|") {
        if group.is_empty() {
            return Err("empty command in pipeline".into());
        }
        let mut args = Vec::new();
        let mut func = None;
        for (i, t) in group.iter().enumerate() {
            if let Some(lit) = t.strip_prefix('"') {
                args.push(Arg::Str(lit.to_string()));
            } else if t.starts_with('.') || t == "$" {
                let path = t
                    .trim_start_matches('$')
                    .split('.')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
                args.push(Arg::Field(path));
            } else if let Ok(n) = t.parse::<f64>() {
                args.push(Arg::Num(n));
            } else if i == 0 {
                func = Some(t.clone());
            } else {
                return Err(format!("unexpected {t:?}"));
            }
        }
        cmds.push(Cmd { func, args });
    }
    Ok(cmds)
}

impl Template {
    /// Parse a template.
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("{{") {
            let mut text = rest[..start].to_string();
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or("unclosed action")?;
            let mut inner = &after[..end];
            if let Some(t) = inner.strip_prefix('-') {
                text = text.trim_end().to_string();
                inner = t;
            }
            let mut trim_next = false;
            if let Some(t) = inner.strip_suffix('-') {
                inner = t;
                trim_next = true;
            }
            pieces.push((text, Some(inner.trim().to_string())));
            rest = &after[end + 2..];
            if trim_next {
                rest = rest.trim_start();
            }
        }
        pieces.push((rest.to_string(), None));
        let mut it = pieces.into_iter();
        let (nodes, term) = parse_nodes(&mut it)?;
        if term.is_some() {
            return Err("unexpected {{end}} or {{else}}".into());
        }
        Ok(Template { nodes })
    }

    /// Render against a JSON value.
    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        render_nodes(&self.nodes, v, &mut out)?;
        Ok(out)
    }
}

type Pieces = std::vec::IntoIter<(String, Option<String>)>;

fn parse_nodes(it: &mut Pieces) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some((text, action)) = it.next() {
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        let Some(a) = action else { break };
        if a == "end" || a == "else" {
            return Ok((nodes, Some(a)));
        }
        if let Some(p) = a.strip_prefix("range ") {
            let (body, term) = parse_nodes(it)?;
            let els = if term.as_deref() == Some("else") {
                parse_nodes(it)?.0
            } else {
                Vec::new()
            };
            nodes.push(Node::Range(parse_pipeline(p)?, body, els));
        } else if let Some(p) = a.strip_prefix("if ") {
            let (body, term) = parse_nodes(it)?;
            let els = if term.as_deref() == Some("else") {
                parse_nodes(it)?.0
            } else {
                Vec::new()
            };
            nodes.push(Node::If(parse_pipeline(p)?, body, els));
        } else if !a.starts_with("/*") {
            nodes.push(Node::Action(parse_pipeline(&a)?));
        }
    }
    Ok((nodes, None))
}

fn lookup(v: &Value, path: &[String]) -> Value {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return Value::Null,
        }
    }
    cur.clone()
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Print a value the way Go's `fmt.Print` prints decoded JSON.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<_> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_print(&o[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn eval_arg(a: &Arg, dot: &Value) -> Value {
    match a {
        Arg::Field(p) => lookup(dot, p),
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Num(n) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}

fn call(func: &str, args: &[Value]) -> Result<Value, String> {
    let s = |i: usize| args.get(i).map(go_print).unwrap_or_default();
    Ok(match func {
        "json" => Value::String(
            serde_json::to_string(args.first().unwrap_or(&Value::Null)).unwrap_or_default(),
        ),
        "lower" => Value::String(s(0).to_lowercase()),
        "upper" => Value::String(s(0).to_uppercase()),
        "title" => {
            let t = s(0);
            let mut c = t.chars();
            Value::String(
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default(),
            )
        }
        "len" => Value::from(match args.first() {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Object(o)) => o.len(),
            Some(Value::String(x)) => x.len(),
            _ => 0,
        }),
        "join" => match args.first() {
            Some(Value::Array(a)) => {
                Value::String(a.iter().map(go_print).collect::<Vec<_>>().join(&s(1)))
            }
            _ => Value::String(s(0)),
        },
        "split" => Value::Array(s(0).split(&s(1)).map(|x| Value::String(x.into())).collect()),
        "index" => {
            let mut cur = args.first().cloned().unwrap_or(Value::Null);
            for k in &args[1.min(args.len())..] {
                cur = match (k, &cur) {
                    (Value::Number(n), Value::Array(a)) => a
                        .get(n.as_u64().unwrap_or(0) as usize)
                        .cloned()
                        .unwrap_or(Value::Null),
                    (_, Value::Object(o)) => o.get(&go_print(k)).cloned().unwrap_or(Value::Null),
                    _ => Value::Null,
                };
            }
            cur
        }
        "println" => Value::String(args.iter().map(go_print).collect::<Vec<_>>().join(" ") + "\n"),
        "print" => Value::String(args.iter().map(go_print).collect::<Vec<_>>().join("")),
        "printf" => {
            let fmt = s(0);
            let mut out = String::new();
            let mut rest = args.iter().skip(1);
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '%' {
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some(_) => out.push_str(&rest.next().map(go_print).unwrap_or_default()),
                        None => out.push('%'),
                    }
                } else {
                    out.push(c);
                }
            }
            Value::String(out)
        }
        "truncate" => {
            let n = args.get(1).and_then(Value::as_u64).unwrap_or(0) as usize;
            Value::String(s(0).chars().take(n).collect())
        }
        "pad" => Value::String(format!(
            "{}{}{}",
            " ".repeat(args.get(1).and_then(Value::as_u64).unwrap_or(0) as usize),
            s(0),
            " ".repeat(args.get(2).and_then(Value::as_u64).unwrap_or(0) as usize)
        )),
        other => return Err(format!("function {other:?} not defined")),
    })
}

fn eval(p: &[Cmd], dot: &Value) -> Result<Value, String> {
    let mut prev: Option<Value> = None;
    for c in p {
        let mut args: Vec<Value> = c.args.iter().map(|a| eval_arg(a, dot)).collect();
        if let Some(v) = prev.take() {
            args.push(v);
        }
        prev = Some(match &c.func {
            Some(f) => call(f, &args)?,
            None => args.into_iter().next().unwrap_or(Value::Null),
        });
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&go_print(&eval(p, dot)?)),
            Node::If(p, a, b) => {
                render_nodes(if truthy(&eval(p, dot)?) { a } else { b }, dot, out)?
            }
            Node::Range(p, body, els) => {
                let items: Vec<Value> = match eval(p, dot)? {
                    Value::Array(a) => a,
                    Value::Object(o) => o.into_iter().map(|(_, v)| v).collect(),
                    _ => Vec::new(),
                };
                if items.is_empty() {
                    render_nodes(els, dot, out)?;
                }
                for item in &items {
                    render_nodes(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: Value) -> String {
        Template::parse(t).unwrap().render(&v).unwrap()
    }

    #[test]
    fn fields_json_index_range_if() {
        let v = json!({"Server": {"Version": "1.2"}, "Labels": {"a": "x"}, "Names": ["/a", "/b"], "On": true});
        assert_eq!(r("{{.Server.Version}}", v.clone()), "1.2");
        assert_eq!(r("{{json .Labels}}", v.clone()), r#"{"a":"x"}"#);
        assert_eq!(r(r#"{{index .Labels "a"}}"#, v.clone()), "x");
        assert_eq!(r(r#"{{join .Names ","}}"#, v.clone()), "/a,/b");
        assert_eq!(r("{{range .Names}}[{{.}}]{{end}}", v.clone()), "[/a][/b]");
        assert_eq!(r("{{if .On}}yes{{else}}no{{end}}", v.clone()), "yes");
        assert_eq!(r("{{.Missing}}", v.clone()), "<no value>");
        assert_eq!(r("{{.Server.Version | printf \"v%s\"}}", v.clone()), "v1.2");
        assert_eq!(r("a {{- .Server.Version -}} b", v), "a1.2b");
    }

    #[test]
    fn bad_templates_error() {
        assert!(Template::parse("{{.X").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(
            Template::parse("{{nosuch .X}}")
                .unwrap()
                .render(&json!({}))
                .is_err()
        );
    }
}
