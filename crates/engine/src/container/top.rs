//! `docker top`: the host's `ps` output restricted to the container's processes
//! (those in its PID namespace), as Docker does.

use std::collections::HashSet;

use berth_api::types::inspect::TopResponse;
use berth_core::{Error, Result};

use crate::Engine;

/// Pids on the host that share `/proc/<init>/ns/pid`.
pub fn pids_in_pid_ns(init: i64) -> HashSet<i64> {
    let mut out = HashSet::new();
    let Ok(ns) = std::fs::read_link(format!("/proc/{init}/ns/pid")) else {
        return out;
    };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns) {
            out.insert(pid);
        }
    }
    out
}

/// Keep the rows of `ps` output whose PID column is one of `pids`.
pub fn filter_ps(output: &str, pids: &HashSet<i64>) -> Result<TopResponse> {
    let mut lines = output.lines();
    let header = lines
        .next()
        .ok_or_else(|| Error::internal("ps printed nothing"))?;
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
    let n = titles.len();
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < n {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i64>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..n - 1].iter().map(|s| s.to_string()).collect();
        row.push(fields[n - 1..].join(" "));
        processes.push(row);
    }
    Ok(TopResponse { titles, processes })
}

impl Engine {
    /// `GET /containers/{id}/top?ps_args=`.
    pub async fn top_container(&self, key: &str, ps_args: &str) -> Result<TopResponse> {
        let c = self.container(key)?;
        let st = c.state();
        if !st.status.is_alive() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if ps_args.contains('\0') {
            // No process argument can carry a NUL byte; refuse it as bad input.
            return Err(Error::invalid(
                "Error running ps: ps_args must not contain a NUL byte",
            ));
        }
        let args: Vec<String> = if ps_args.trim().is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.split_whitespace().map(str::to_string).collect()
        };
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| Error::internal(format!("run ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::invalid(format!(
                "Error running ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // A VM container's processes are in its guest; on the host it is the
        // supervisor and the VMM, in the container's cgroup.
        let pids = match self.isolation_of(&c.config()) {
            Ok(berth_runtime::vm::Isolation::Vm) => super::vm::cgroup_pids(&c.id),
            _ => pids_in_pid_ns(st.pid),
        };
        filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_rows_by_pid() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 10:00 ? 00:00:00 sleep 100\nroot 11 1 0 10:00 ? 00:00:00 other thing\n";
        let t = filter_ps(out, &HashSet::from([10])).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(
            t.processes,
            vec![vec![
                "root",
                "10",
                "1",
                "0",
                "10:00",
                "?",
                "00:00:00",
                "sleep 100"
            ]]
        );
        assert!(filter_ps("USER CMD\n", &HashSet::new()).is_err());
        let me = i64::from(std::process::id());
        assert!(pids_in_pid_ns(me).contains(&me));
    }
}
