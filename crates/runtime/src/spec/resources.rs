//! cgroup resources, rlimits and sysctls, with Docker's semantics and validation.

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType,
};

use super::input::{Resources, Ulimit};
use crate::error::{Result, RuntimeError};

/// Docker's CFS period when `--cpus` is used (100 ms).
const DEFAULT_CFS_PERIOD: i64 = 100_000;

/// Fill `res` (which already carries device rules) from Docker's resource fields.
pub fn apply(r: &Resources, res: &mut LinuxResources, warnings: &mut Vec<String>) -> Result<()> {
    if r.memory < 0 || r.memory_reservation < 0 {
        return Err(RuntimeError::Invalid(
            "invalid memory limit: must be positive".into(),
        ));
    }
    if r.memory > 0 && r.memory < 6 << 20 {
        return Err(RuntimeError::Invalid(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    let mut mem = LinuxMemory::default();
    let mut any_mem = false;
    if r.memory > 0 {
        mem.set_limit(Some(r.memory));
        // Docker: unset swap means "as much swap as memory" (memory+swap = 2 × memory).
        let swap = match r.memory_swap {
            0 => r.memory * 2,
            s if s > 0 && s < r.memory => {
                return Err(RuntimeError::Invalid(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ));
            }
            s => s,
        };
        if swap_supported() {
            mem.set_swap(Some(swap));
        } else if r.memory_swap != 0 {
            warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
        }
        any_mem = true;
    } else if r.memory_swap > 0 {
        return Err(RuntimeError::Invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if r.memory_reservation > 0 {
        mem.set_reservation(Some(r.memory_reservation));
        any_mem = true;
    }
    if let Some(s) = r.memory_swappiness.filter(|s| *s >= 0) {
        if s > 100 {
            return Err(RuntimeError::Invalid(format!(
                "invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
        mem.set_swappiness(Some(s as u64));
        any_mem = true;
    }
    if r.oom_kill_disable {
        mem.set_disable_oom_killer(Some(true));
        any_mem = true;
    }
    if any_mem {
        res.set_memory(Some(mem));
    }

    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    if r.nano_cpus > 0 {
        if r.cpu_quota > 0 || r.cpu_period > 0 {
            return Err(RuntimeError::Invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
            ));
        }
        cpu.set_period(Some(DEFAULT_CFS_PERIOD as u64));
        cpu.set_quota(Some(r.nano_cpus * DEFAULT_CFS_PERIOD / 1_000_000_000));
        any_cpu = true;
    }
    if r.cpu_period > 0 {
        cpu.set_period(Some(r.cpu_period as u64));
        any_cpu = true;
    }
    if r.cpu_quota > 0 {
        cpu.set_quota(Some(r.cpu_quota));
        any_cpu = true;
    }
    if r.cpu_shares > 0 {
        cpu.set_shares(Some(r.cpu_shares as u64));
        any_cpu = true;
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(r.cpuset_cpus.clone()));
        any_cpu = true;
    }
    if !r.cpuset_mems.is_empty() {
        cpu.set_mems(Some(r.cpuset_mems.clone()));
        any_cpu = true;
    }
    if any_cpu {
        res.set_cpu(Some(cpu));
    }
    if let Some(limit) = r.pids_limit.filter(|l| *l > 0) {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        res.set_pids(Some(p));
    }
    if r.blkio_weight > 0 {
        if !(10..=1000).contains(&r.blkio_weight) {
            return Err(RuntimeError::Invalid(
                "Range of blkio weight is from 10 to 1000".into(),
            ));
        }
        if blkio_weight_supported() {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(r.blkio_weight));
            res.set_block_io(Some(b));
        } else {
            warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
        }
    }
    Ok(())
}

fn swap_supported() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn blkio_weight_supported() -> bool {
    [
        "/sys/fs/cgroup/blkio/blkio.weight",
        "/sys/fs/cgroup/blkio/blkio.bfq.weight",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
        || std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.contains("io"))
}

fn rlimit_type(name: &str) -> Option<(PosixRlimitType, libc::__rlimit_resource_t)> {
    use PosixRlimitType as T;
    Some(match name {
        "core" => (T::RlimitCore, libc::RLIMIT_CORE),
        "cpu" => (T::RlimitCpu, libc::RLIMIT_CPU),
        "data" => (T::RlimitData, libc::RLIMIT_DATA),
        "fsize" => (T::RlimitFsize, libc::RLIMIT_FSIZE),
        "locks" => (T::RlimitLocks, libc::RLIMIT_LOCKS),
        "memlock" => (T::RlimitMemlock, libc::RLIMIT_MEMLOCK),
        "msgqueue" => (T::RlimitMsgqueue, libc::RLIMIT_MSGQUEUE),
        "nice" => (T::RlimitNice, libc::RLIMIT_NICE),
        "nofile" => (T::RlimitNofile, libc::RLIMIT_NOFILE),
        "nproc" => (T::RlimitNproc, libc::RLIMIT_NPROC),
        "rss" => (T::RlimitRss, libc::RLIMIT_RSS),
        "rtprio" => (T::RlimitRtprio, libc::RLIMIT_RTPRIO),
        "rttime" => (T::RlimitRttime, libc::RLIMIT_RTTIME),
        "sigpending" => (T::RlimitSigpending, libc::RLIMIT_SIGPENDING),
        "stack" => (T::RlimitStack, libc::RLIMIT_STACK),
        "as" => (T::RlimitAs, libc::RLIMIT_AS),
        _ => return None,
    })
}

fn current_hard(res: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
    let rc = unsafe { libc::getrlimit(res, &mut r) };
    if rc == 0 { r.rlim_max } else { u64::MAX }
}

/// Parse `name=soft[:hard]` (Docker's `--ulimit` syntax).
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let bad = || RuntimeError::Invalid(format!("invalid ulimit argument: {s}"));
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
        None => {
            let v: i64 = vals.parse().map_err(|_| bad())?;
            (v, v)
        }
    };
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// OCI rlimits for `--ulimit`s. A limit above what the daemon itself may hold is
/// never requested (raising a hard limit needs `CAP_SYS_RESOURCE`, which this kind
/// of host lacks, and the runtime would fail): it is clamped with a warning.
pub fn rlimits(ulimits: &[Ulimit], warnings: &mut Vec<String>) -> Result<Vec<PosixRlimit>> {
    let mut out: Vec<PosixRlimit> = Vec::new();
    for u in ulimits {
        let (typ, res) = rlimit_type(&u.name)
            .ok_or_else(|| RuntimeError::Invalid(format!("invalid ulimit type: {}", u.name)))?;
        let to_u = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        let (mut soft, mut hard) = (to_u(u.soft), to_u(u.hard));
        if soft > hard {
            return Err(RuntimeError::Invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
        let max = current_hard(res);
        if hard > max {
            warnings.push(format!(
                "ulimit {}: hard limit {} exceeds the daemon's hard limit {max}; clamped to {max}",
                u.name, u.hard
            ));
            hard = max;
            soft = soft.min(max);
        }
        out.retain(|r| r.typ() != typ);
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft)
                .hard(hard)
                .build()?,
        );
    }
    Ok(out)
}

/// Validate `--sysctl`s as Docker does: only namespaced keys, and `net.*` only with a
/// private network namespace, `kernel.*` IPC keys only with a private IPC namespace.
pub fn sysctls(
    s: &BTreeMap<String, String>,
    host_net: bool,
    host_ipc: bool,
) -> Result<HashMap<String, String>> {
    const IPC: [&str; 10] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.msg_next_id",
        "kernel.sem_next_id",
    ];
    let mut out = HashMap::new();
    for (k, v) in s {
        let ipc =
            IPC.contains(&k.as_str()) || k.starts_with("fs.mqueue.") || k == "kernel.shm_next_id";
        let ok = if ipc {
            !host_ipc
        } else if k.starts_with("net.") {
            !host_net
        } else {
            k == "kernel.domainname" || k == "kernel.hostname"
        };
        if !ok {
            return Err(RuntimeError::Invalid(format!(
                "sysctl '{k}' is not allowed"
            )));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_memory_and_pids() {
        let r = Resources {
            memory: 64 << 20,
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            pids_limit: Some(20),
            ..Resources::default()
        };
        let mut res = LinuxResources::default();
        let mut w = Vec::new();
        apply(&r, &mut res, &mut w).unwrap();
        let cpu = res.cpu().as_ref().unwrap();
        assert_eq!(
            (cpu.quota(), cpu.period(), cpu.shares()),
            (Some(150_000), Some(100_000), Some(512))
        );
        let mem = res.memory().as_ref().unwrap();
        assert_eq!(mem.limit(), Some(64 << 20));
        if swap_supported() {
            assert_eq!(mem.swap(), Some(128 << 20));
        }
        assert_eq!(res.pids().as_ref().unwrap().limit(), 20);
        let bad = Resources {
            nano_cpus: 1,
            cpu_quota: 5,
            ..Resources::default()
        };
        assert!(apply(&bad, &mut res, &mut w).is_err());
        let bad = Resources {
            memory: 64 << 20,
            memory_swap: 1 << 20,
            ..Resources::default()
        };
        assert!(apply(&bad, &mut res, &mut w).is_err());
    }

    #[test]
    fn ulimits_never_exceed_current_hard_limit() {
        let hard = current_hard(libc::RLIMIT_NOFILE);
        let want = if hard == u64::MAX {
            1 << 20
        } else {
            hard as i64 + 1000
        };
        let mut w = Vec::new();
        let r = rlimits(
            &[parse_ulimit(&format!("nofile={want}:{want}")).unwrap()],
            &mut w,
        )
        .unwrap();
        assert!(r[0].hard() <= hard && r[0].soft() <= r[0].hard());
        if hard != u64::MAX {
            assert_eq!(w.len(), 1);
        }
        let r = rlimits(&[parse_ulimit("nofile=100:200").unwrap()], &mut w).unwrap();
        assert_eq!((r[0].soft(), r[0].hard()), (100, 200));
        assert!(rlimits(&[parse_ulimit("nofile=300:200").unwrap()], &mut w).is_err());
        assert!(rlimits(&[parse_ulimit("bogus=1").unwrap()], &mut w).is_err());
        assert!(parse_ulimit("nofile").is_err());
    }

    #[test]
    fn sysctl_rules() {
        let m: BTreeMap<String, String> =
            [("net.ipv4.ip_forward".to_string(), "1".to_string())].into();
        assert!(sysctls(&m, false, false).is_ok());
        assert!(sysctls(&m, true, false).is_err());
        let m: BTreeMap<String, String> = [("kernel.panic".to_string(), "1".to_string())].into();
        assert!(sysctls(&m, false, false).is_err());
    }
}
