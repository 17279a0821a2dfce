//! `docker update`: new limits are written to the running container's cgroup
//! and recorded in its HostConfig; only fields given (non-zero) change.

use berth_api::types::inspect::{UpdateBody, UpdateResponse};
use berth_core::{Error, Result};

use super::{cgroup, merge};
use crate::Engine;

impl Engine {
    /// `POST /containers/{id}/update`.
    pub async fn update_container(&self, key: &str, body: UpdateBody) -> Result<UpdateResponse> {
        let c = self.container(key)?;
        let _op = c.op.lock().await;
        let mut hc = c.with_config(|r| r.host_config.clone());
        let n = &body.resources;
        let r = &mut hc.resources;
        if n.memory != 0 {
            r.memory = n.memory;
        }
        if n.memory_swap != 0 {
            r.memory_swap = n.memory_swap;
        }
        if n.memory_reservation != 0 {
            r.memory_reservation = n.memory_reservation;
        }
        if n.cpu_shares != 0 {
            r.cpu_shares = n.cpu_shares;
        }
        if n.nano_cpus != 0 {
            r.nano_cpus = n.nano_cpus;
        }
        if n.cpu_period != 0 {
            r.cpu_period = n.cpu_period;
        }
        if n.cpu_quota != 0 {
            r.cpu_quota = n.cpu_quota;
        }
        if !n.cpuset_cpus.is_empty() {
            r.cpuset_cpus = n.cpuset_cpus.clone();
        }
        if !n.cpuset_mems.is_empty() {
            r.cpuset_mems = n.cpuset_mems.clone();
        }
        if n.pids_limit.is_some() {
            r.pids_limit = n.pids_limit;
        }
        if n.blkio_weight != 0 {
            r.blkio_weight = n.blkio_weight;
        }
        if let Some(rp) = &body.restart_policy {
            if hc.auto_remove && !rp.name.is_empty() && rp.name != "no" {
                return Err(Error::invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
            hc.restart_policy = rp.clone();
        }
        let (hc, _) = merge::host_defaults(hc, crate::host::ncpu(), cgroup::is_v2())?;
        if c.status().is_alive() {
            apply_cgroup(&c.id, &hc.resources).map_err(Error::internal)?;
        }
        c.update_config(|rec| rec.host_config = hc);
        self.save_config(&c)?;
        self.emit_container(&c, "update", &[]);
        Ok(UpdateResponse {
            warnings: Vec::new(),
        })
    }
}

fn apply_cgroup(id: &str, r: &berth_api::types::container::Resources) -> Result<(), String> {
    let v2 = cgroup::is_v2();
    if r.memory > 0 {
        if v2 {
            cgroup::write("memory", id, "memory.max", &r.memory.to_string())?;
        } else {
            // The swap limit must never be below the memory limit: raise it first.
            let swap = if r.memory_swap > 0 {
                r.memory_swap
            } else {
                r.memory * 2
            };
            let _ = cgroup::write(
                "memory",
                id,
                "memory.memsw.limit_in_bytes",
                &swap.to_string(),
            );
            cgroup::write("memory", id, "memory.limit_in_bytes", &r.memory.to_string())?;
            let _ = cgroup::write(
                "memory",
                id,
                "memory.memsw.limit_in_bytes",
                &swap.to_string(),
            );
        }
    }
    if r.cpu_shares > 0 && !v2 {
        cgroup::write("cpu", id, "cpu.shares", &r.cpu_shares.to_string())?;
    }
    let (quota, period) = if r.nano_cpus > 0 {
        (r.nano_cpus / 10_000, 100_000)
    } else {
        (r.cpu_quota, r.cpu_period)
    };
    if quota > 0 {
        let period = if period > 0 { period } else { 100_000 };
        if v2 {
            cgroup::write("cpu", id, "cpu.max", &format!("{quota} {period}"))?;
        } else {
            cgroup::write("cpu", id, "cpu.cfs_period_us", &period.to_string())?;
            cgroup::write("cpu", id, "cpu.cfs_quota_us", &quota.to_string())?;
        }
    }
    if !r.cpuset_cpus.is_empty() {
        cgroup::write("cpuset", id, "cpuset.cpus", &r.cpuset_cpus)?;
    }
    if let Some(p) = r.pids_limit {
        let v = if p <= 0 {
            "max".to_string()
        } else {
            p.to_string()
        };
        cgroup::write("pids", id, "pids.max", &v)?;
    }
    Ok(())
}
