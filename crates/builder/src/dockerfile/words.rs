//! Key/value arguments of `ENV`, `LABEL` and `ARG`, split as BuildKit's
//! `parseNameVal` and `parseNameOrNameVal` do: words keep their quotes and
//! escapes here (expansion removes them later), the legacy `ENV key value`
//! form takes the whole rest of the line as the value.

use super::scan::words;

/// `KEY=value` pairs (raw, unexpanded) of `ENV` or `LABEL`.
pub fn name_values(
    rest: &str,
    keyword: &str,
    escape: char,
) -> Result<Vec<(String, String)>, String> {
    let ws = words(rest, escape);
    let Some(first) = ws.first() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if !first.contains('=') {
        let rest = rest.trim();
        let mut parts = rest.splitn(2, [' ', '\t']);
        let key = parts.next().unwrap_or("").to_string();
        let value = parts
            .next()
            .map(|v| v.trim_start_matches([' ', '\t']).to_string());
        return match value {
            Some(v) if !v.is_empty() => Ok(vec![(key, v)]),
            _ => Err(format!("{keyword} must have two arguments")),
        };
    }
    let mut out = Vec::new();
    for w in ws {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        if k.is_empty() {
            return Err(format!("{keyword} names can not be blank"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `NAME[=default]` entries (raw) of `ARG`.
pub fn arg_decls(rest: &str, escape: char) -> Result<Vec<(String, Option<String>)>, String> {
    let ws = words(rest, escape);
    if ws.is_empty() {
        return Err("ARG requires at least one argument".into());
    }
    Ok(ws
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_forms() {
        assert_eq!(
            name_values("A=1 B=\"two words\"     C=3", "ENV", '\\').unwrap(),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "3".into())
            ]
        );
        assert_eq!(
            name_values("KEY value with  spaces", "ENV", '\\').unwrap(),
            vec![("KEY".into(), "value with  spaces".into())]
        );
        assert!(
            name_values("KEY", "ENV", '\\')
                .unwrap_err()
                .contains("two arguments")
        );
        assert!(
            name_values("A=1 B", "ENV", '\\')
                .unwrap_err()
                .contains("can't find =")
        );
        assert_eq!(
            name_values("\"a b\"=c d='e f' g=h\\ i", "LABEL", '\\').unwrap(),
            vec![
                ("\"a b\"".into(), "c".into()),
                ("d".into(), "'e f'".into()),
                ("g".into(), "h\\ i".into())
            ]
        );
    }

    #[test]
    fn arg_forms() {
        assert_eq!(
            arg_decls("X Y=2", '\\').unwrap(),
            vec![("X".into(), None), ("Y".into(), Some("2".into()))]
        );
    }
}
