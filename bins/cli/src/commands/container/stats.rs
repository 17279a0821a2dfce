//! `stats`: per-container samples from `GET /containers/{id}/stats`, shown
//! with docker's columns and arithmetic (CPU % from the deltas against
//! `precpu_stats`, memory without the inactive page cache).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use berth_api::client;
use berth_api::types::inspect::ContainerSummary;
use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::super::Ctx;
use super::super::system::enc;
use crate::output::{self, human_size};

/// `stats` flags.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (default: all running).
    pub containers: Vec<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// Go's `%.4g`: four significant digits, trailing zeros dropped.
fn g4(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (v.abs().log10().floor() as i32 + 1).max(1);
    let decimals = (4 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `units.BytesSize`: binary units, `%.4g`.
pub fn bytes_size(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let (mut v, mut i) = (b.max(0.0), 0);
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", g4(v), units[i])
}

fn u(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// One stats sample as docker's table fields.
pub fn stats_row(s: &Value, id: &str, name: &str, no_trunc: bool) -> Value {
    let cpu_delta = u(&s["cpu_stats"]["cpu_usage"]["total_usage"])
        - u(&s["precpu_stats"]["cpu_usage"]["total_usage"]);
    let sys_delta =
        u(&s["cpu_stats"]["system_cpu_usage"]) - u(&s["precpu_stats"]["system_cpu_usage"]);
    let mut online = u(&s["cpu_stats"]["online_cpus"]);
    if online == 0.0 {
        online = s["cpu_stats"]["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, Vec::len) as f64;
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let mem = &s["memory_stats"];
    let usage = u(&mem["usage"]);
    // cgroup v1 reports total_inactive_file, v2 inactive_file.
    let inactive = mem["stats"]["total_inactive_file"]
        .as_f64()
        .or(mem["stats"]["inactive_file"].as_f64())
        .unwrap_or(0.0);
    let used = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = u(&mem["limit"]);
    let mem_perc = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s["networks"].as_object() {
        for n in nets.values() {
            rx += u(&n["rx_bytes"]);
            tx += u(&n["tx_bytes"]);
        }
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => rd += u(&e["value"]),
            Some("write") => wr += u(&e["value"]),
            _ => {}
        }
    }
    let short_id: String = if no_trunc {
        id.to_string()
    } else {
        id.chars().take(12).collect()
    };
    json!({
        "Container": short_id,
        "ID": short_id,
        "Name": name.trim_start_matches('/'),
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(used), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx as i64), human_size(tx as i64)),
        "BlockIO": format!("{} / {}", human_size(rd as i64), human_size(wr as i64)),
        "PIDs": s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string(),
    })
}

fn table(fmt: &output::Format, rows: &[Value]) -> Result<()> {
    output::print_rows(fmt, rows, |rows| {
        let mut lines = vec![
            "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS"
                .to_string(),
        ];
        for r in rows {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            lines.push(
                [
                    s("ID"),
                    s("Name"),
                    s("CPUPerc"),
                    s("MemUsage"),
                    s("MemPerc"),
                    s("NetIO"),
                    s("BlockIO"),
                    s("PIDs"),
                ]
                .join("\t"),
            );
        }
        super::ps::tabwrite_min(&lines, 10)
    })
}

/// `berth stats`.
pub async fn stats(ctx: &Ctx, a: StatsArgs) -> Result<()> {
    let targets: Vec<(String, String)> = if a.containers.is_empty() {
        let list: Vec<ContainerSummary> = ctx
            .client
            .get_json(&format!(
                "/containers/json{}",
                if a.all { "?all=1" } else { "" }
            ))
            .await?;
        list.into_iter()
            .map(|c| (c.id.clone(), c.names.first().cloned().unwrap_or_default()))
            .collect()
    } else {
        a.containers
            .iter()
            .map(|c| (c.clone(), c.clone()))
            .collect()
    };
    let fmt = output::parse_format(a.format.as_deref(), HEADERS)?;
    let latest: Arc<Mutex<BTreeMap<usize, Value>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(), String>>(16);
    for (i, (id, name)) in targets.iter().cloned().enumerate() {
        let client = ctx.client.clone();
        let (latest, tx, no_trunc, stream) = (latest.clone(), tx.clone(), a.no_trunc, !a.no_stream);
        tokio::spawn(async move {
            let path = format!(
                "/containers/{}/stats?stream={}",
                enc(&id),
                if stream { 1 } else { 0 }
            );
            let resp = match client
                .request(Method::GET, &path, client::empty(), &[])
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    return;
                }
            };
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Some(d) = frame.data_ref() else { continue };
                buf.extend_from_slice(d);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                        let id = v["id"]
                            .as_str()
                            .filter(|s| !s.is_empty())
                            .unwrap_or(&id)
                            .to_string();
                        let name = v["name"]
                            .as_str()
                            .filter(|s| !s.is_empty())
                            .unwrap_or(&name)
                            .to_string();
                        if let Ok(mut m) = latest.lock() {
                            m.insert(i, stats_row(&v, &id, &name, no_trunc));
                        }
                        if tx.send(Ok(())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    let snapshot = |latest: &Arc<Mutex<BTreeMap<usize, Value>>>| {
        latest
            .lock()
            .map(|m| m.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    if a.no_stream {
        while let Some(r) = rx.recv().await {
            if let Err(e) = r {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            table(&fmt, &snapshot(&latest))?;
        }
    } else {
        while let Some(r) = rx.recv().await {
            match r {
                Ok(()) => {
                    // Docker clears the screen and redraws the whole table.
                    print!("\x1b[2J\x1b[H");
                    table(&fmt, &snapshot(&latest))?;
                }
                Err(e) => errors.push(e),
            }
        }
    }
    if !errors.is_empty() {
        for e in errors {
            eprintln!("{e}");
        }
        return Err(crate::ExitCode(1).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_like_docker() {
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1048576.0), "1MiB");
        assert_eq!(bytes_size(123_456_789.0), "117.7MiB");
        assert_eq!(bytes_size(8_192_000_000.0), "7.629GiB");
    }

    #[test]
    fn docker_arithmetic() {
        let s = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3145728, "limit": 104857600, "stats": {"total_inactive_file": 1048576}},
            "networks": {"eth0": {"rx_bytes": 1234, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3}
        });
        let r = stats_row(&s, "0123456789abcdef", "/web", false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 100MiB");
        assert_eq!(r["MemPerc"], "2.00%");
        assert_eq!(r["NetIO"], "1.23kB / 0B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
    }
}
