//! Output helpers shared by commands: docker's human sizes and durations, a
//! tabwriter for aligned tables, and `--format` handling (`table …`, `json`, or a template).

use chrono::Utc;
use serde_json::Value;

use crate::template::Template;

/// Docker's `units.HumanSize` (decimal units, 3 significant digits): `2.1MB`.
pub fn human_size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes.max(0) as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let s = format!("{:.*}", 3usize.saturating_sub(s.find('.').unwrap_or(3)), v);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86400),
        1_209_600..=7_775_999 => format!("{} weeks", s / 604_800),
        7_776_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

/// `N minutes ago` for a unix time.
pub fn ago(unix: i64) -> String {
    format!("{} ago", human_duration(Utc::now().timestamp() - unix))
}

/// Align tab-separated columns like Go's tabwriter(minwidth 0, padding 3).
pub fn tabwrite(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How a listing should be printed.
pub enum Format {
    /// The command's default table.
    Default,
    /// `table {{…}}` with headers.
    Table(Template, String),
    /// A raw template, one line per object.
    Raw(Template),
    /// `json`: one JSON object per line.
    Json,
}

/// Interpret a `--format` value; `headers` maps field names to column titles.
pub fn parse_format(f: Option<&str>, headers: &[(&str, &str)]) -> anyhow::Result<Format> {
    let Some(f) = f.filter(|f| !f.is_empty()) else {
        return Ok(Format::Default);
    };
    if f == "json" || f == "{{json .}}" {
        return Ok(Format::Json);
    }
    if f == "table" {
        return Ok(Format::Default);
    }
    if let Some(t) = f.strip_prefix("table") {
        let t = t.trim_start();
        let mut header = t.to_string();
        for (field, title) in headers {
            header = header.replace(&format!("{{{{.{field}}}}}"), title);
        }
        let header = Template::parse(&header)
            .map_err(|e| anyhow::anyhow!("template: {e}"))?
            .render(&Value::Null)
            .unwrap_or_default();
        return Ok(Format::Table(parse_tpl(t)?, header));
    }
    Ok(Format::Raw(parse_tpl(f)?))
}

/// Parse a template, with docker's message on error.
pub fn parse_tpl(t: &str) -> anyhow::Result<Template> {
    let t = t.replace("\\t", "\t").replace("\\n", "\n");
    Template::parse(&t).map_err(|e| anyhow::anyhow!("template parsing error: {e}"))
}

/// Render one object with a template.
pub fn render(t: &Template, v: &Value) -> anyhow::Result<String> {
    t.render(v).map_err(|e| anyhow::anyhow!("template: {e}"))
}

/// Print rows (already JSON objects for templates) in the chosen format;
/// `default` renders the default table.
pub fn print_rows(
    fmt: &Format,
    rows: &[Value],
    default: impl Fn(&[Value]) -> String,
) -> anyhow::Result<()> {
    match fmt {
        Format::Default => print!("{}", default(rows)),
        Format::Json => {
            for r in rows {
                println!("{}", serde_json::to_string(r)?);
            }
        }
        Format::Raw(t) => {
            for r in rows {
                println!("{}", render(t, r)?);
            }
        }
        Format::Table(t, header) => {
            let mut lines = vec![header.clone()];
            for r in rows {
                lines.push(render(t, r)?);
            }
            print!("{}", tabwrite(&lines));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_100_000), "2.1MB");
        assert_eq!(human_size(1_234_567_890), "1.23GB");
        assert_eq!(human_size(12_345), "12.3kB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(10_000), "2 hours");
    }

    #[test]
    fn tabwriter_aligns() {
        let t = tabwrite(&["A\tBB\tC".into(), "long\tx\ty".into()]);
        assert_eq!(t, "A      BB   C\nlong   x    y\n");
    }
}
