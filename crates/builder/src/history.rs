//! How history entries and cache probes are written: Docker's `#(nop)`
//! comments and Go's `%q`/`%v` renderings of the values in them
//! (`CMD ["sh" "-c" "x"]`, `VOLUME [/data]`, `HEALTHCHECK &{["CMD-SHELL" "x"] "5s" …}`).

use crate::dockerfile::Health;

/// `[shell…, "#(nop) ", comment]`: the two-word comment most instructions use.
pub fn nop(shell: &[String], comment: &str) -> Vec<String> {
    let mut v = shell.to_vec();
    v.push("#(nop) ".to_string());
    v.push(comment.to_string());
    v
}

/// `[shell…, "#(nop) " + comment]`: the one-word comment of WORKDIR, COPY and ADD.
pub fn nop1(shell: &[String], comment: &str) -> Vec<String> {
    let mut v = shell.to_vec();
    v.push(format!("#(nop) {comment}"));
    v
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ")
    )
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub fn plain_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// Go's `%q` of an int: a quoted rune.
pub fn quote_rune(n: i64) -> String {
    let c = u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    match c {
        '\'' => "'\\''".into(),
        '\\' => "'\\\\'".into(),
        '\u{7}' => "'\\a'".into(),
        '\u{8}' => "'\\b'".into(),
        '\u{c}' => "'\\f'".into(),
        '\n' => "'\\n'".into(),
        '\r' => "'\\r'".into(),
        '\t' => "'\\t'".into(),
        '\u{b}' => "'\\v'".into(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

/// Go's `time.Duration.String()`.
pub fn duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |whole: u64, rem: u64, digits: usize| -> String {
        if rem == 0 {
            return whole.to_string();
        }
        let f = format!("{rem:0digits$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    };
    if u < 1_000_000_000 {
        let (unit, div, digits) = if u < 1_000 {
            ("ns", 1, 0)
        } else if u < 1_000_000 {
            ("µs", 1_000, 3)
        } else {
            ("ms", 1_000_000, 6)
        };
        return format!("{sign}{}{unit}", frac(u / div, u % div, digits));
    }
    let h = u / 3_600_000_000_000;
    let m = (u % 3_600_000_000_000) / 60_000_000_000;
    let s_ns = u % 60_000_000_000;
    let secs = frac(s_ns / 1_000_000_000, s_ns % 1_000_000_000, 9);
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// Go's `%q` of a `*container.HealthConfig`.
pub fn health(h: &Health) -> String {
    format!(
        "&{{{} {} {} {} {} {}}}",
        quote_list(&h.test),
        quote(&duration(h.interval)),
        quote(&duration(h.timeout)),
        quote(&duration(h.start_period)),
        quote(&duration(h.start_interval)),
        quote_rune(h.retries)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_renderings() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(nop(&sh, "ENV X=1").join(" "), "/bin/sh -c #(nop)  ENV X=1");
        assert_eq!(
            nop1(&sh, "WORKDIR /app").join(" "),
            "/bin/sh -c #(nop) WORKDIR /app"
        );
        assert_eq!(
            quote_list(&["sh".into(), "-c".into(), "echo \"hi\"\n".into()]),
            r#"["sh" "-c" "echo \"hi\"\n"]"#
        );
        assert_eq!(plain_list(&["/data".into(), "/x".into()]), "[/data /x]");
        assert_eq!(duration(5_000_000_000), "5s");
        assert_eq!(duration(90_000_000_000), "1m30s");
        assert_eq!(duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration(1_500_000_000), "1.5s");
        assert_eq!(duration(500_000_000), "500ms");
        assert_eq!(duration(1_500), "1.5µs");
        let h = Health {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 5_000_000_000,
            retries: 3,
            ..Default::default()
        };
        assert_eq!(
            health(&h),
            r#"&{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\x03'}"#
        );
    }
}
