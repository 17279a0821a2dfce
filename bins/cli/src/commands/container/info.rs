//! `inspect` (containers, and the generic form trying each object type),
//! `port`, `top`, `diff`, `logs`.

use anyhow::{Result, anyhow, bail};
use berth_api::client::{self, ClientError};
use berth_api::stdcopy::{Decoder, StreamId};
use berth_api::types::inspect::{ContainerInspect, FilesystemChange, TopResponse};
use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::super::Ctx;
use super::super::system::enc;
use crate::output::{parse_tpl, render};

/// `inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type (generic `inspect` only).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Objects.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `port` arguments.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Container.
    pub container: String,
    /// `PRIVATE_PORT[/PROTO]`.
    pub port: Option<String>,
}

/// `top` arguments.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Container.
    pub container: String,
    /// `ps` options.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `diff` arguments.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Container.
    pub container: String,
}

/// `logs` flags.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs.
    #[arg(long)]
    pub details: bool,
    /// Follow log output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes).
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs.
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes).
    #[arg(long)]
    pub until: Option<String>,
    /// Container.
    pub container: String,
}

/// Re-indent compact JSON with 4 spaces, keeping the daemon's key order
/// (docker prints its structs' field order; a `Value` map would sort keys).
pub fn reindent(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let (mut in_str, mut esc) = (false, false);
    let chars: Vec<char> = raw.chars().collect();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(depth));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_str {
            out.push(c);
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if chars.get(j) == Some(&close) {
                    out.push(c);
                    out.push(close);
                    i = j + 1;
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// The object types generic `inspect` tries, in order, with their paths.
fn inspect_paths(kind: Option<&str>, name: &str, size: bool) -> Vec<(&'static str, String)> {
    let n = enc(name);
    let all = [
        (
            "container",
            format!("/containers/{n}/json{}", if size { "?size=1" } else { "" }),
        ),
        ("image", format!("/images/{n}/json")),
        ("volume", format!("/volumes/{n}")),
        ("network", format!("/networks/{n}")),
    ];
    all.into_iter()
        .filter(|(k, _)| kind.is_none_or(|want| want == *k))
        .collect()
}

/// Inspect `names`; `kind` restricts the object type (`container inspect` passes `container`).
pub async fn inspect(ctx: &Ctx, a: InspectArgs, kind: Option<&str>) -> Result<()> {
    let kind = kind.or(a.kind.as_deref());
    if let Some(k) = kind
        && !["container", "image", "network", "volume"].contains(&k)
    {
        bail!("\"{k}\" is not a valid value for --type");
    }
    let tpl = a
        .format
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(parse_tpl)
        .transpose()?;
    let mut found: Vec<(Value, String)> = Vec::new();
    let mut errors = Vec::new();
    'names: for name in &a.names {
        for (_, path) in inspect_paths(kind, name, a.size) {
            let got = match ctx
                .client
                .request(Method::GET, &path, client::empty(), &[])
                .await
            {
                Ok(resp) => client::read_all(resp).await,
                Err(e) => Err(e),
            };
            match got {
                Ok(raw) => {
                    let raw = String::from_utf8_lossy(&raw).trim().to_string();
                    let v: Value = serde_json::from_str(&raw)
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    found.push((v, raw));
                    continue 'names;
                }
                // A typed inspect reports the daemon's own 404, as docker does.
                Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) && kind.is_none() => {
                    continue;
                }
                Err(e) => {
                    errors.push(e.to_string());
                    continue 'names;
                }
            }
        }
        errors.push(format!("Error: No such object: {name}"));
    }
    match &tpl {
        Some(t) => {
            for (v, _) in &found {
                println!("{}", render(t, v)?);
            }
        }
        None => {
            let raws: Vec<&str> = found.iter().map(|(_, r)| r.as_str()).collect();
            println!("{}", reindent(&format!("[{}]", raws.join(","))));
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{e}");
        }
        return Err(crate::ExitCode(1).into());
    }
    Ok(())
}

async fn inspect_container(ctx: &Ctx, name: &str) -> Result<ContainerInspect> {
    Ok(ctx
        .client
        .get_json(&format!("/containers/{}/json", enc(name)))
        .await?)
}

/// `port` lines for a container's `NetworkSettings.Ports`.
pub fn port_lines(c: &ContainerInspect, want: Option<&str>) -> Vec<String> {
    let want = want.map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut out = Vec::new();
    for (port, bindings) in &c.network_settings.ports {
        if want.as_ref().is_some_and(|w| w != port) {
            continue;
        }
        for b in bindings.iter().flatten() {
            let ip = if b.host_ip.contains(':') {
                format!("[{}]", b.host_ip)
            } else {
                b.host_ip.clone()
            };
            let addr = format!("{ip}:{}", b.host_port);
            out.push(if want.is_some() {
                addr
            } else {
                format!("{port} -> {addr}")
            });
        }
    }
    out
}

/// `berth port`.
pub async fn port(ctx: &Ctx, a: PortArgs) -> Result<()> {
    let c = inspect_container(ctx, &a.container).await?;
    let lines = port_lines(&c, a.port.as_deref());
    if let Some(p) = &a.port
        && lines.is_empty()
    {
        bail!("Error: No public port '{p}' published for {}", a.container);
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// `berth top`.
pub async fn top(ctx: &Ctx, a: TopArgs) -> Result<()> {
    let q = if a.ps_args.is_empty() {
        String::new()
    } else {
        format!("?ps_args={}", enc(&a.ps_args.join(" ")))
    };
    let t: TopResponse = ctx
        .client
        .get_json(&format!("/containers/{}/top{q}", enc(&a.container)))
        .await?;
    let mut lines = vec![t.titles.join("\t")];
    lines.extend(t.processes.iter().map(|p| p.join("\t")));
    print!("{}", super::ps::tabwrite_min(&lines, 20));
    Ok(())
}

/// `berth diff`.
pub async fn diff(ctx: &Ctx, a: DiffArgs) -> Result<()> {
    let changes: Option<Vec<FilesystemChange>> = ctx
        .client
        .get_json(&format!("/containers/{}/changes", enc(&a.container)))
        .await?;
    for c in changes.unwrap_or_default() {
        let k = match c.kind {
            0 => "C",
            1 => "A",
            2 => "D",
            _ => "?",
        };
        println!("{k} {}", c.path);
    }
    Ok(())
}

/// Docker's `GetTimestamp`: relative durations and dates become `secs.nanos` here,
/// so the daemon sees the client's clock.
pub fn timestamp_param(v: &str) -> String {
    match berth_core::timefmt::parse_timestamp(v, chrono::Utc::now()) {
        Some(t) => format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos()),
        None => v.to_string(),
    }
}

/// `berth logs`.
pub async fn logs(ctx: &Ctx, a: LogsArgs) -> Result<()> {
    let c = inspect_container(ctx, &a.container).await?;
    let b = |v: bool| if v { "1" } else { "0" };
    let mut q = format!(
        "stdout=1&stderr=1&follow={}&timestamps={}&details={}&tail={}",
        b(a.follow),
        b(a.timestamps),
        b(a.details),
        enc(&a.tail)
    );
    if let Some(s) = &a.since {
        q.push_str(&format!("&since={}", enc(&timestamp_param(s))));
    }
    if let Some(u) = &a.until {
        q.push_str(&format!("&until={}", enc(&timestamp_param(u))));
    }
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/containers/{}/logs?{q}", enc(&c.id)),
            client::empty(),
            &[],
        )
        .await?;
    let mut body = resp.into_body();
    let (mut out, mut err) = (tokio::io::stdout(), tokio::io::stderr());
    let mut dec = Decoder::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ClientError::Protocol(e.to_string()))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if c.config.tty {
            out.write_all(data).await?;
            out.flush().await?;
            continue;
        }
        dec.push(data);
        while let Some((id, chunk)) = dec.next_frame().map_err(|e| anyhow!(e))? {
            match id {
                StreamId::Stderr => {
                    err.write_all(&chunk).await?;
                    err.flush().await?;
                }
                StreamId::Systemerr => bail!("{}", String::from_utf8_lossy(&chunk).trim_end()),
                _ => {
                    out.write_all(&chunk).await?;
                    out.flush().await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::types::container::PortBinding;

    #[test]
    fn reindent_keeps_order_and_strings() {
        let raw = r#"{"Id":"x","Args":[],"B":{},"S":"a,b:{c}\"[","N":[1,{"z":null}]}"#;
        assert_eq!(
            reindent(raw),
            "{\n    \"Id\": \"x\",\n    \"Args\": [],\n    \"B\": {},\n    \"S\": \"a,b:{c}\\\"[\",\n    \"N\": [\n        1,\n        {\n            \"z\": null\n        }\n    ]\n}"
        );
        assert_eq!(reindent("[]"), "[]");
    }

    #[test]
    fn inspect_tries_types_in_order() {
        let kinds: Vec<_> = inspect_paths(None, "x", true)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kinds, ["container", "image", "volume", "network"]);
        assert_eq!(
            inspect_paths(Some("container"), "x", true)[0].1,
            "/containers/x/json?size=1"
        );
    }

    #[test]
    fn port_output() {
        let mut c = ContainerInspect {
            name: "/web".into(),
            ..Default::default()
        };
        c.network_settings.ports.insert(
            "80/tcp".into(),
            Some(vec![
                PortBinding {
                    host_ip: "0.0.0.0".into(),
                    host_port: "8080".into(),
                },
                PortBinding {
                    host_ip: "::".into(),
                    host_port: "8080".into(),
                },
            ]),
        );
        c.network_settings.ports.insert("443/tcp".into(), None);
        assert_eq!(
            port_lines(&c, None),
            ["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]
        );
        assert_eq!(port_lines(&c, Some("80")), ["0.0.0.0:8080", "[::]:8080"]);
        assert!(port_lines(&c, Some("443/tcp")).is_empty());
    }

    #[test]
    fn timestamps_become_unix() {
        assert_eq!(
            timestamp_param("2024-01-01T00:00:00Z"),
            "1704067200.000000000"
        );
        assert_eq!(timestamp_param("1700000000"), "1700000000.000000000");
        assert_eq!(timestamp_param("garbage"), "garbage");
    }
}
