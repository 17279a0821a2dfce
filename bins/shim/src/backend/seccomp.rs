//! The container's seccomp profile, compiled once per profile and loaded by the shim's
//! own executor right before `execve` (youki backend only).
//!
//! libcontainer 0.7 compiles `linux.seccomp` with libseccomp inside the container's
//! init process on every start: Docker's profile is ~350 syscalls for three
//! architectures (x86_64, x86, x32), about 11 ms of CPU on the critical path for a
//! program that is the same for every container with the same profile and
//! capabilities. And its exec path (`as_tenant`) rebuilds `linux` without the
//! profile, so `docker exec` processes ran unfiltered.
//!
//! So the shim takes the profile out of the spec libcontainer sees, compiles it with
//! libseccomp exactly as libcontainer would (same actions, architectures, flags and
//! rule splitting; all three architectures kept, so 32-bit calls are filtered as
//! Docker filters them), caches the program by profile under the exec root (a tmpfs),
//! and [`SeccompExecutor`] loads it in the init process and in every exec'd process.
//!
//! Ordering. Without `no_new_privileges`, loading a filter needs CAP_SYS_ADMIN, which
//! is why libcontainer loads it before dropping capabilities. To load it at exec time
//! instead, the capabilities libcontainer applies keep CAP_SYS_ADMIN and CAP_SETPCAP
//! ([`Prepared::widen`]); the executor drops them from the bounding set, loads the
//! filter, then lowers the effective and permitted sets to the container's. The
//! process then execs with exactly the filter and capabilities libcontainer (or runc)
//! would have given it. Under the filter run only `capget`/`capset` and `execve`;
//! libcontainer's own order runs more under it (capset, prctl, socket calls), so any
//! profile libcontainer can start, this path can too.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use caps::{CapSet, Capability};
use libcontainer::capabilities::CapabilityExt;
use libcontainer::oci_spec::runtime::{
    Arch, Capability as OciCapability, LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, Spec,
};
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

/// Bumped whenever the translation below changes, so stale cache entries are not used.
const FORMAT: &str = "berth-seccomp-1";

/// Capabilities the process keeps until the executor has loaded the filter.
const HELD: [Capability; 2] = [Capability::CAP_SYS_ADMIN, Capability::CAP_SETPCAP];

/// A compiled filter and how to load it.
#[derive(Debug)]
pub struct Filter {
    /// The BPF program (`struct sock_filter[]`).
    bpf: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*` for seccomp(2).
    flags: libc::c_uint,
}

/// A profile taken out of a spec: the filter plus what the executor must restore.
#[derive(Debug, Clone)]
pub struct Prepared {
    filter: Arc<Filter>,
}

/// Can this profile be loaded by the executor? Notify actions need libcontainer's
/// listener plumbing, so those profiles stay with libcontainer.
pub fn supported(s: &LinuxSeccomp) -> bool {
    let notify = |a: LinuxSeccompAction| a == LinuxSeccompAction::ScmpActNotify;
    !notify(s.default_action())
        && !s.syscalls().iter().flatten().any(|c| notify(c.action()))
        && s.listener_path().is_none()
}

impl Prepared {
    /// Compile `s` (or take it from `cache`).
    pub fn new(s: &LinuxSeccomp, cache: &Path) -> anyhow::Result<Prepared> {
        let material = [
            FORMAT.as_bytes(),
            b"\n",
            libseccomp_version().as_bytes(),
            b"\n",
            &serde_json::to_vec(s)?,
        ]
        .concat();
        let file = cache.join(format!("{:016x}.bpf", fnv1a(&material)));
        let bpf = match read_cached(&file, &material) {
            Some(bpf) => bpf,
            None => {
                let bpf = compile(s)?;
                // A failed cache write only costs the next start a compile.
                let _ = std::fs::create_dir_all(cache).and_then(|_| {
                    berth_runtime::layout::replace_file(&file, &[&material[..], &bpf].concat())
                });
                bpf
            }
        };
        let mut flags = 0;
        for f in s.flags().iter().flatten() {
            flags |= match f {
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                }
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 1 << 5,
            } as libc::c_uint;
        }
        Ok(Prepared {
            filter: Arc::new(Filter { bpf, flags }),
        })
    }

    /// Add the capabilities the executor needs until the filter is loaded (none
    /// with `no_new_privileges`, which lets any process load a filter). Returns
    /// the executor that restores `caps` afterwards.
    pub fn widen(&self, caps: Option<&mut LinuxCapabilities>, nnp: bool) -> SeccompExecutor {
        let mut restore = None;
        if let Some(caps) = caps.filter(|_| !nnp) {
            let target = Target::of(caps);
            let held = |c: &Capability| {
                target.bounding.contains(c)
                    && target.effective.contains(c)
                    && target.permitted.contains(c)
            };
            if !HELD.iter().all(held) {
                let add = |set: &Option<std::collections::HashSet<OciCapability>>| {
                    let mut s = set.clone().unwrap_or_default();
                    s.extend(HELD.map(OciCapability::from_cap));
                    Some(s)
                };
                caps.set_bounding(add(caps.bounding()));
                caps.set_effective(add(caps.effective()));
                caps.set_permitted(add(caps.permitted()));
                restore = Some(target);
            }
        }
        SeccompExecutor {
            filter: self.filter.clone(),
            restore,
        }
    }
}

/// The capability sets a process must end with.
#[derive(Debug, Clone)]
struct Target {
    bounding: caps::CapsHashSet,
    effective: caps::CapsHashSet,
    permitted: caps::CapsHashSet,
}

impl Target {
    fn of(c: &LinuxCapabilities) -> Target {
        let conv = |s: &Option<std::collections::HashSet<OciCapability>>| -> caps::CapsHashSet {
            s.iter().flatten().map(|c| c.to_cap()).collect()
        };
        Target {
            bounding: conv(c.bounding()),
            effective: conv(c.effective()),
            permitted: conv(c.permitted()),
        }
    }
}

/// Loads the filter (and restores the container's capabilities) right before exec.
#[derive(Clone)]
pub struct SeccompExecutor {
    filter: Arc<Filter>,
    restore: Option<Target>,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!("seccomp executor: {what}: {e}");
            ExecutorError::Other(format!("{what}: {e}"))
        };
        if let Some(t) = &self.restore {
            for c in HELD {
                if !t.bounding.contains(&c) {
                    caps::drop(None, CapSet::Bounding, c)
                        .map_err(|e| fail("drop bounding capability", &e))?;
                }
            }
        }
        load(&self.filter).map_err(|e| fail("load seccomp filter", &e))?;
        if let Some(t) = &self.restore {
            caps::set(None, CapSet::Effective, &t.effective)
                .map_err(|e| fail("set effective capabilities", &e))?;
            caps::set(None, CapSet::Permitted, &t.permitted)
                .map_err(|e| fail("set permitted capabilities", &e))?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER) with a precompiled program.
fn load(f: &Filter) -> std::io::Result<()> {
    let insns = f.bpf.len() / std::mem::size_of::<libc::sock_filter>();
    let prog = libc::sock_fprog {
        len: insns as libc::c_ushort,
        filter: f.bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `insns` whole sock_filter records inside `f.bpf`, which
    // outlives the call; the kernel copies the program.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            f.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn read_cached(file: &Path, material: &[u8]) -> Option<Vec<u8>> {
    let data = std::fs::read(file).ok()?;
    let bpf = data.strip_prefix(material)?;
    (!bpf.is_empty() && bpf.len() % std::mem::size_of::<libc::sock_filter>() == 0)
        .then(|| bpf.to_vec())
}

/// FNV-1a: a stable name for a cache file (the file holds the full key, compared on read).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}

/// Where compiled programs are kept: `<exec-root>/seccomp`.
pub fn cache_dir(exec_root: &Path) -> PathBuf {
    exec_root.join("seccomp")
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> anyhow::Result<ScmpAction> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno).with_context(|| format!("SCMP_ACT_TRACE errno {errno}"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
    })
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn compare(op: LinuxSeccompOperator, index: u32, value: u64, value_two: u64) -> ScmpArgCompare {
    let op = match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI (runc, Docker): `(arg & value) == valueTwo`.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(index, ScmpCompareOp::MaskedEqual(value), value_two);
        }
    };
    ScmpArgCompare::new(index, op, value)
}

/// libcontainer 0.7's translation (`seccomp::initialize_seccomp`), exported instead of
/// loaded: rules whose action is the default are skipped, unknown syscall names are
/// skipped with a warning, and conditions on the same argument become separate rules.
fn compile(s: &LinuxSeccomp) -> anyhow::Result<Vec<u8>> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).context("new seccomp filter")?;
    for a in s.architectures().iter().flatten() {
        ctx.add_arch(arch(*a))
            .with_context(|| format!("add architecture {a:?}"))?;
    }
    ctx.set_ctl_nnp(false)?;
    for call in s.syscalls().iter().flatten() {
        let act = action(call.action(), call.errno_ret())?;
        if act == default {
            continue;
        }
        for name in call.names() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                tracing::warn!("seccomp: syscall {name} unknown to libseccomp, not filtered");
                continue;
            };
            let args: Vec<_> = call.args().iter().flatten().collect();
            let cmps: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| {
                    compare(
                        a.op(),
                        a.index() as u32,
                        a.value(),
                        a.value_two().unwrap_or(0),
                    )
                })
                .collect();
            let indices: BTreeSet<usize> = args.iter().map(|a| a.index()).collect();
            let r = if cmps.is_empty() {
                ctx.add_rule(act, nr).map(|_| ())
            } else if indices.len() < cmps.len() {
                cmps.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map(|_| ())
                })
            } else {
                ctx.add_rule_conditional(act, nr, &cmps).map(|_| ())
            };
            r.with_context(|| format!("add seccomp rule for {name}"))?;
        }
    }
    export(&ctx)
}

/// The program libseccomp would load, through a pipe (it only exports to an fd
/// before 2.6; a filter is at most 4096 instructions, 32 KiB, within a pipe's buffer).
fn export(ctx: &ScmpFilterContext) -> anyhow::Result<Vec<u8>> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    ctx.export_bpf(&w).context("export seccomp filter")?;
    drop(w);
    let mut bpf = Vec::new();
    std::fs::File::from(r).read_to_end(&mut bpf)?;
    if bpf.is_empty() || bpf.len() % std::mem::size_of::<libc::sock_filter>() != 0 {
        bail!("libseccomp exported {} bytes", bpf.len());
    }
    Ok(bpf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    /// Run `f` in a forked child with `filter` loaded; its exit code.
    fn in_child(filter: &Filter, f: fn() -> i32) -> i32 {
        // SAFETY: the child only makes raw syscalls (seccomp, the probe) and _exit.
        unsafe {
            match libc::fork() {
                0 => {
                    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                    let rc = if load(filter).is_ok() { f() } else { 99 };
                    libc::_exit(rc)
                }
                pid => {
                    let mut st = 0;
                    libc::waitpid(pid, &mut st, 0);
                    libc::WEXITSTATUS(st)
                }
            }
        }
    }

    #[test]
    fn compiled_filters_load_and_filter_with_oci_semantics() {
        let d = tempfile::tempdir().unwrap();
        // Deny getpgid(arg0 & 0xff == 0x7f) only: OCI's masked-equal is
        // `(arg & value) == valueTwo`.
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":33,
                "args":[{"index":0,"value":255,"valueTwo":127,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        let first = Prepared::new(&p, d.path()).unwrap();
        // The second one comes from the cache, byte for byte.
        let second = Prepared::new(&p, d.path()).unwrap();
        assert_eq!(first.filter.bpf, second.filter.bpf);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        fn denied() -> i32 {
            // SAFETY: plain syscalls.
            let r = unsafe { libc::syscall(libc::SYS_getpgid, 0x17f) };
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            if r == -1 && e == 33 { 0 } else { 1 }
        }
        fn allowed() -> i32 {
            // SAFETY: plain syscalls; pid 0 is the caller.
            let r = unsafe { libc::syscall(libc::SYS_getpgid, 0x100) };
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            // Not filtered: the kernel answers (no such pid), not errno 33.
            if r >= 0 || e != 33 { 0 } else { 1 }
        }
        assert_eq!(in_child(&first.filter, denied), 0);
        assert_eq!(in_child(&first.filter, allowed), 0);
    }

    #[test]
    fn widening_keeps_and_restores_the_containers_sets() {
        let d = tempfile::tempdir().unwrap();
        let p = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        let prepared = Prepared::new(&p, d.path()).unwrap();
        let mut caps: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN"],"effective":["CAP_CHOWN"],"permitted":["CAP_CHOWN"]}"#,
        )
        .unwrap();
        let e = prepared.widen(Some(&mut caps), false);
        let held: Vec<OciCapability> = HELD.map(OciCapability::from_cap).to_vec();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            assert!(held.iter().all(|c| set.as_ref().unwrap().contains(c)));
        }
        let t = e.restore.unwrap();
        assert_eq!(t.effective, [Capability::CAP_CHOWN].into_iter().collect());
        // With no_new_privileges nothing is widened.
        let mut caps2: LinuxCapabilities =
            serde_json::from_str(r#"{"bounding":["CAP_CHOWN"]}"#).unwrap();
        assert!(prepared.widen(Some(&mut caps2), true).restore.is_none());
        assert_eq!(caps2.bounding().as_ref().unwrap().len(), 1);
    }
}
