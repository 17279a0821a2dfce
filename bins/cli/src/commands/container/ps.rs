//! `ps` / `container ls`: docker's columns and `--format` fields.

use anyhow::Result;
use berth_api::types::inspect::{ContainerSummary, Port};
use clap::Args;
use serde_json::{Value, json};

use super::super::Ctx;
use super::super::system::{enc, filters_json};
use crate::output::{self, ago, human_size};

/// `ps` flags.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states).
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes.
    #[arg(short = 's', long)]
    pub size: bool,
    /// Filter output based on conditions provided.
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// Docker's table writer: Go's tabwriter with `minwidth` (10 for formatted
/// tables, 20 for `top`) and padding 3; the last cell of a line is not padded.
pub fn tabwrite_min(lines: &[String], minwidth: usize) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![minwidth; cols];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count() + 3);
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Go's `strconv.Quote` for the printable strings commands are.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Docker's `DisplayablePorts`: published ports as `ip:public->private/proto`,
/// consecutive ports folded into ranges, unpublished as `private/proto`.
pub fn display_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        (&a.kind, &a.ip, a.private_port, a.public_port).cmp(&(
            &b.kind,
            &b.ip,
            b.private_port,
            b.public_port,
        ))
    });
    // Group (ip, proto, offset) runs: consecutive private and public ports.
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let start = &ports[i];
        let mut j = i;
        while j + 1 < ports.len() {
            let (a, b) = (&ports[j], &ports[j + 1]);
            let next = b.kind == a.kind
                && b.ip == a.ip
                && b.private_port == a.private_port + 1
                && (a.public_port == 0) == (b.public_port == 0)
                && (a.public_port == 0 || b.public_port == a.public_port + 1);
            if !next {
                break;
            }
            j += 1;
        }
        let end = &ports[j];
        let range = |a: u16, b: u16| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        };
        let private = format!(
            "{}/{}",
            range(start.private_port, end.private_port),
            start.kind
        );
        if start.public_port == 0 {
            out.push(private);
        } else {
            let ip = if start.ip.contains(':') {
                format!("[{}]", start.ip)
            } else {
                start.ip.clone()
            };
            out.push(format!(
                "{ip}:{}->{private}",
                range(start.public_port, end.public_port)
            ));
        }
        i = j + 1;
    }
    out.join(", ")
}

/// Names without the leading `/`; link names (`/a/b`) only with `no_trunc`.
fn names(c: &ContainerSummary, no_trunc: bool) -> String {
    c.names
        .iter()
        .map(|n| n.trim_start_matches('/'))
        .filter(|n| no_trunc || !n.contains('/'))
        .collect::<Vec<_>>()
        .join(",")
}

/// One container as the template fields docker offers.
pub fn row(c: &ContainerSummary, no_trunc: bool) -> Value {
    let id = if no_trunc {
        c.id.clone()
    } else {
        c.id.chars().take(12).collect()
    };
    let command = if no_trunc {
        go_quote(&c.command)
    } else {
        go_quote(&ellipsis(&c.command, 20))
    };
    let created_at = chrono::DateTime::from_timestamp(c.created, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default();
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) if root > 0 => {
            format!("{} (virtual {})", human_size(rw), human_size(root))
        }
        (Some(rw), _) => human_size(rw),
        _ => "0B".into(),
    };
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                m.source.clone()
            } else {
                m.name.clone()
            }
        })
        .map(|s| if no_trunc { s } else { ellipsis(&s, 15) })
        .collect();
    let local_volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
    json!({
        "ID": id,
        "Image": c.image,
        "Command": command,
        "CreatedAt": created_at,
        "RunningFor": ago(c.created),
        "Ports": display_ports(&c.ports),
        "State": c.state,
        "Status": c.status,
        "Size": size,
        "Names": names(c, no_trunc),
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": c.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Platform": Value::Null,
    })
}

/// The list query for `ps` flags.
pub fn list_query(a: &PsArgs) -> Result<String> {
    let mut q = Vec::new();
    if a.all {
        q.push("all=1".to_string());
    }
    let limit = if a.latest && a.last == -1 { 1 } else { a.last };
    if limit > 0 {
        q.push(format!("limit={limit}"));
    }
    if a.size {
        q.push("size=1".to_string());
    }
    if !a.filter.is_empty() {
        q.push(format!("filters={}", enc(&filters_json(&a.filter)?)));
    }
    Ok(format!("/containers/json?{}", q.join("&")))
}

/// `berth ps`.
pub async fn ps(ctx: &Ctx, a: PsArgs) -> Result<()> {
    let list: Vec<ContainerSummary> = ctx.client.get_json(&list_query(&a)?).await?;
    let rows: Vec<Value> = list.iter().map(|c| row(c, a.no_trunc)).collect();
    let format = match a.format.as_deref() {
        None | Some("") if a.quiet => Some("{{.ID}}".to_string()),
        f => f.map(str::to_string),
    };
    let fmt = output::parse_format(format.as_deref(), HEADERS)?;
    let size = a.size;
    output::print_rows(&fmt, &rows, |rows| {
        let mut head = "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES".to_string();
        if size {
            head.push_str("\tSIZE");
        }
        let mut lines = vec![head];
        for r in rows {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let mut l = [
                s("ID"),
                s("Image"),
                s("Command"),
                s("RunningFor"),
                s("Status"),
                s("Ports"),
                s("Names"),
            ]
            .join("\t");
            if size {
                l.push('\t');
                l.push_str(&s("Size"));
            }
            lines.push(l);
        }
        tabwrite_min(&lines, 10)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ip: &str, private: u16, public: u16) -> Port {
        Port {
            ip: ip.into(),
            private_port: private,
            public_port: public,
            kind: "tcp".into(),
        }
    }

    #[test]
    fn tables_have_docker_min_widths() {
        let t = tabwrite_min(&["NAMES\tSIZE".into(), "web\t0B".into()], 10);
        assert_eq!(t, "NAMES     SIZE\nweb       0B\n");
        let t = tabwrite_min(&["CONTAINER ID\tX".into()], 10);
        assert_eq!(t, "CONTAINER ID   X\n");
    }

    #[test]
    fn ports_like_docker() {
        assert_eq!(display_ports(&[p("", 80, 0)]), "80/tcp");
        assert_eq!(
            display_ports(&[p("0.0.0.0", 80, 8080), p("::", 80, 8080)]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            display_ports(&[p("0.0.0.0", 81, 8001), p("0.0.0.0", 80, 8000)]),
            "0.0.0.0:8000-8001->80-81/tcp"
        );
        assert_eq!(
            display_ports(&[p("", 80, 0), p("", 81, 0), p("", 90, 0)]),
            "80-81/tcp, 90/tcp"
        );
    }

    #[test]
    fn rows_truncate_like_docker() {
        let c = ContainerSummary {
            id: "0123456789abcdef0123".into(),
            names: vec!["/web".into(), "/other/alias".into()],
            command: "sh -c 'echo hello world; sleep 100'".into(),
            created: 0,
            size_rw: Some(0),
            size_root_fs: Some(4_260_000),
            ..Default::default()
        };
        let r = row(&c, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Command"], "\"sh -c 'echo hello w…\"");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Size"], "0B (virtual 4.26MB)");
        let r = row(&c, true);
        assert_eq!(r["Names"], "web,other/alias");
        assert_eq!(r["ID"], "0123456789abcdef0123");
    }

    #[test]
    fn queries() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: PsArgs,
        }
        let q = |args: &[&str]| {
            list_query(
                &T::try_parse_from(std::iter::once("ps").chain(args.iter().copied()))
                    .unwrap()
                    .a,
            )
            .unwrap()
        };
        assert_eq!(q(&[]), "/containers/json?");
        assert_eq!(q(&["-a", "-s"]), "/containers/json?all=1&size=1");
        assert_eq!(q(&["-l"]), "/containers/json?limit=1");
        assert_eq!(q(&["-n", "3"]), "/containers/json?limit=3");
        assert!(q(&["--filter", "status=exited"]).contains("filters=%7B%22status%22"));
    }
}
