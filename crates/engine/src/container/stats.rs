//! `docker stats`: samples of the container's cgroup counters and network
//! interfaces, once per second when streaming.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use berth_core::Result;
use futures::Stream;
use serde_json::{Value, json};

use super::{Container, cgroup};
use crate::Engine;

/// Host CPU time in nanoseconds (sum of /proc/stat's first line, in USER_HZ ticks).
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    ticks * (1_000_000_000 / 100)
}

fn networks(pid: i64) -> Value {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                   "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}),
        );
    }
    Value::Object(out)
}

fn cpu_stats(id: &str, running: bool) -> Value {
    if !running {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    }
    let online = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (total, user, kernel, percpu, throttle) = if cgroup::is_v2() {
        let s = cgroup::read_kv("cpu", id, "cpu.stat");
        let g = |k: &str| s.get(k).copied().unwrap_or(0);
        (
            g("usage_usec") * 1000,
            g("user_usec") * 1000,
            g("system_usec") * 1000,
            Vec::new(),
            (
                g("nr_periods"),
                g("nr_throttled"),
                g("throttled_usec") * 1000,
            ),
        )
    } else {
        let total = cgroup::read_u64("cpuacct", id, "cpuacct.usage").unwrap_or(0);
        let st = cgroup::read_kv("cpuacct", id, "cpuacct.stat");
        let tick = 1_000_000_000 / 100;
        let percpu: Vec<u64> = cgroup::read("cpuacct", id, "cpuacct.usage_percpu")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let th = cgroup::read_kv("cpu", id, "cpu.stat");
        let g = |k: &str| th.get(k).copied().unwrap_or(0);
        (
            total,
            st.get("user").copied().unwrap_or(0) * tick,
            st.get("system").copied().unwrap_or(0) * tick,
            percpu,
            (g("nr_periods"), g("nr_throttled"), g("throttled_time")),
        )
    };
    let mut usage =
        json!({"total_usage": total, "usage_in_kernelmode": kernel, "usage_in_usermode": user});
    if !percpu.is_empty() {
        usage["percpu_usage"] = json!(percpu);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": system_cpu_ns(),
        "online_cpus": online,
        "throttling_data": {"periods": throttle.0, "throttled_periods": throttle.1, "throttled_time": throttle.2},
    })
}

fn memory_stats(id: &str, running: bool) -> Value {
    if !running {
        return json!({});
    }
    if cgroup::is_v2() {
        let stats = cgroup::read_kv("memory", id, "memory.stat");
        let limit =
            cgroup::read_u64("memory", id, "memory.max").unwrap_or_else(crate::host::mem_total);
        json!({"usage": cgroup::read_u64("memory", id, "memory.current").unwrap_or(0), "stats": stats, "limit": limit})
    } else {
        let stats = cgroup::read_kv("memory", id, "memory.stat");
        let limit = cgroup::read_u64("memory", id, "memory.limit_in_bytes")
            .unwrap_or(0)
            .min(crate::host::mem_total());
        json!({
            "usage": cgroup::read_u64("memory", id, "memory.usage_in_bytes").unwrap_or(0),
            "max_usage": cgroup::read_u64("memory", id, "memory.max_usage_in_bytes").unwrap_or(0),
            "failcnt": cgroup::read_u64("memory", id, "memory.failcnt").unwrap_or(0),
            "stats": stats,
            "limit": limit,
        })
    }
}

fn blkio_stats(id: &str, running: bool) -> Value {
    if !running {
        return json!({"io_service_bytes_recursive": null});
    }
    let mut entries = Vec::new();
    if cgroup::is_v2() {
        for line in cgroup::read("io", id, "io.stat")
            .unwrap_or_default()
            .lines()
        {
            let mut it = line.split_whitespace();
            let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let op = match k {
                    "rbytes" => "read",
                    "wbytes" => "write",
                    _ => continue,
                };
                entries.push(json!({"major": maj.parse::<u64>().unwrap_or(0), "minor": min.parse::<u64>().unwrap_or(0), "op": op, "value": v.parse::<u64>().unwrap_or(0)}));
            }
        }
    } else {
        for line in cgroup::read("blkio", id, "blkio.throttle.io_service_bytes")
            .unwrap_or_default()
            .lines()
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 3 {
                continue;
            }
            let Some((maj, min)) = f[0].split_once(':') else {
                continue;
            };
            entries.push(json!({"major": maj.parse::<u64>().unwrap_or(0), "minor": min.parse::<u64>().unwrap_or(0), "op": f[1].to_ascii_lowercase(), "value": f[2].parse::<u64>().unwrap_or(0)}));
        }
    }
    json!({"io_service_bytes_recursive": entries})
}

impl Engine {
    fn stats_sample(&self, c: &Container, pre: Option<&Value>) -> Value {
        let st = c.state();
        let running = st.status.is_alive();
        let id = &c.id;
        let pids_limit = cgroup::read("pids", id, "pids.max").and_then(|v| v.parse::<u64>().ok());
        let mut v = json!({
            "read": berth_core::timefmt::now_rfc3339(),
            "preread": berth_core::timefmt::ZERO_TIME,
            "pids_stats": if running { json!({"current": cgroup::read_u64("pids", id, "pids.current").unwrap_or(0)}) } else { json!({}) },
            "blkio_stats": blkio_stats(id, running),
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu_stats(id, running),
            "precpu_stats": json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}),
            "memory_stats": memory_stats(id, running),
            "name": format!("/{}", c.name()),
            "id": id,
        });
        if let (Some(l), true) = (pids_limit, running) {
            v["pids_stats"]["limit"] = json!(l);
        }
        if running && st.pid > 0 {
            v["networks"] = networks(st.pid);
        }
        if let Some(p) = pre {
            v["preread"] = p["read"].clone();
            v["precpu_stats"] = p["cpu_stats"].clone();
        }
        v
    }

    /// `GET /containers/{id}/stats`.
    pub async fn container_stats(
        self: &Arc<Self>,
        key: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<Pin<Box<dyn Stream<Item = Value> + Send>>> {
        let c = self.container(key)?;
        let engine = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            let mut prev: Option<Value> = None;
            if !stream && !one_shot && c.status().is_alive() {
                prev = Some(engine.stats_sample(&c, None));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            loop {
                let s = engine.stats_sample(&c, prev.as_ref());
                if tx.send(s.clone()).await.is_err() || !stream || !c.status().is_alive() {
                    return;
                }
                prev = Some(s);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }
}
