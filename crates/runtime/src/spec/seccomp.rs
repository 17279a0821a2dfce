//! Seccomp profiles in Docker's JSON format and their resolution into the OCI form.
//!
//! Docker's format is the OCI one plus conditions: a rule may apply only on some
//! architectures, only when the container holds (or lacks) some capabilities, or only
//! from a minimum kernel version. Resolution evaluates those conditions for this
//! host and the container's capability set, exactly once, at spec generation.

use std::collections::BTreeSet;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};

/// A profile in Docker's `seccomp.json` format.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Action when no rule matches.
    pub default_action: LinuxSeccompAction,
    /// errno for an `SCMP_ACT_ERRNO` default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Architectures to filter (used when `archMap` is absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Arch>,
    /// Native architecture → its sub-architectures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMap>,
    /// Filter flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// Rules.
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// The native architecture.
    pub architecture: Arch,
    /// Compatible sub-architectures.
    #[serde(default)]
    pub sub_architectures: Option<Vec<Arch>>,
}

/// A syscall rule with Docker's conditions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Deprecated single name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Syscall names.
    #[serde(default)]
    pub names: Vec<String>,
    /// Action when matched.
    pub action: LinuxSeccompAction,
    /// errno for `SCMP_ACT_ERRNO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions (all must hold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    /// Human note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Apply only when all of these hold.
    #[serde(default)]
    pub includes: Filter,
    /// Skip when any of these hold.
    #[serde(default)]
    pub excludes: Filter,
}

/// An argument comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    /// Argument index (0-5).
    pub index: usize,
    /// Value compared.
    pub value: u64,
    /// Second value (mask for `SCMP_CMP_MASKED_EQ`).
    #[serde(default)]
    pub value_two: u64,
    /// Operator.
    pub op: LinuxSeccompOperator,
}

/// Docker's rule conditions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Go architecture names (`amd64`, `arm64`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// Capability names (`CAP_SYS_ADMIN`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// Minimum kernel, `major.minor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// Parse a profile from Docker's JSON.
pub fn parse(json: &str) -> Result<Profile> {
    serde_json::from_str(json)
        .map_err(|e| RuntimeError::Invalid(format!("decoding seccomp profile failed: {e}")))
}

/// This machine's architecture, in Go's spelling and libseccomp's.
fn native_arch() -> (&'static str, Option<Arch>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", Some(Arch::ScmpArchX86_64)),
        "x86" => ("386", Some(Arch::ScmpArchX86)),
        "aarch64" => ("arm64", Some(Arch::ScmpArchAarch64)),
        "arm" => ("arm", Some(Arch::ScmpArchArm)),
        "s390x" => ("s390x", Some(Arch::ScmpArchS390x)),
        "powerpc64" => ("ppc64le", Some(Arch::ScmpArchPpc64le)),
        "riscv64" => ("riscv64", Some(Arch::ScmpArchRiscv64)),
        other => (other, None),
    }
}

/// The running kernel's `(major, minor)`.
pub fn kernel_version() -> (u32, u32) {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    parse_kernel(&rel).unwrap_or((0, 0))
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.trim().split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()?;
    Some((major, minor))
}

/// Evaluate Docker's conditions for `caps` (the container's bounding set) on this
/// host and produce the OCI seccomp section.
pub fn resolve(profile: &Profile, caps: &BTreeSet<String>) -> Result<LinuxSeccomp> {
    resolve_for(profile, caps, native_arch(), kernel_version())
}

fn resolve_for(
    profile: &Profile,
    caps: &BTreeSet<String>,
    (go_arch, native): (&str, Option<Arch>),
    kernel: (u32, u32),
) -> Result<LinuxSeccomp> {
    let mut arches = profile.architectures.clone();
    if arches.is_empty() {
        for m in &profile.arch_map {
            if Some(m.architecture) == native {
                arches.push(m.architecture);
                arches.extend(m.sub_architectures.iter().flatten().copied());
            }
        }
    }
    let min_ok = |mk: &Option<String>| match mk {
        None => true,
        Some(v) => parse_kernel(v).is_none_or(|want| kernel >= want),
    };
    let mut out = Vec::new();
    for rule in &profile.syscalls {
        let inc = &rule.includes;
        let exc = &rule.excludes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == go_arch) {
            continue;
        }
        if !inc.caps.iter().all(|c| caps.contains(c)) || !min_ok(&inc.min_kernel) {
            continue;
        }
        if exc.arches.iter().any(|a| a == go_arch) || exc.caps.iter().any(|c| caps.contains(c)) {
            continue;
        }
        if exc.min_kernel.is_some() && min_ok(&exc.min_kernel) {
            continue;
        }
        let mut names = rule.names.clone();
        names.extend(rule.name.iter().cloned());
        if names.is_empty() {
            return Err(RuntimeError::Invalid(
                "seccomp rule without a syscall name".into(),
            ));
        }
        let args: Vec<LinuxSeccompArg> = rule
            .args
            .iter()
            .map(|a| {
                let b = LinuxSeccompArgBuilder::default()
                    .index(a.index)
                    .value(a.value)
                    .op(a.op);
                if a.value_two != 0 {
                    b.value_two(a.value_two).build()
                } else {
                    b.build()
                }
            })
            .collect::<std::result::Result<_, _>>()?;
        let mut sc = LinuxSyscall::default();
        sc.set_names(names);
        sc.set_action(rule.action);
        sc.set_errno_ret(rule.errno_ret);
        if !args.is_empty() {
            sc.set_args(Some(args));
        }
        out.push(sc);
    }
    let mut s = LinuxSeccomp::default();
    s.set_default_action(profile.default_action);
    s.set_default_errno_ret(profile.default_errno_ret);
    if !arches.is_empty() {
        s.set_architectures(Some(arches));
    }
    if !profile.flags.is_empty() {
        s.set_flags(Some(profile.flags.clone()));
    }
    s.set_syscalls(Some(out));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn conditions_follow_caps_arch_and_kernel() {
        let p = parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]},
                       {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
              {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
              {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}],
               "excludes":{"caps":["CAP_SYS_ADMIN"]}},
              {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]}},
              {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}]}"#,
        )
        .unwrap();
        let x86 = ("amd64", Some(Arch::ScmpArchX86_64));
        let none = BTreeSet::new();
        let r = resolve_for(&p, &none, x86, (6, 1)).unwrap();
        assert_eq!(names(&r), ["read", "clone", "arch_prctl", "ptrace"]);
        assert_eq!(r.architectures().as_ref().unwrap().len(), 3);
        let admin: BTreeSet<String> = ["CAP_SYS_ADMIN".to_string()].into();
        let r = resolve_for(&p, &admin, ("arm64", Some(Arch::ScmpArchAarch64)), (4, 4)).unwrap();
        assert_eq!(names(&r), ["read", "mount"]);
        assert_eq!(
            r.architectures().as_ref().unwrap(),
            &vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(
            parse("{nope")
                .unwrap_err()
                .to_string()
                .contains("decoding seccomp profile failed")
        );
        assert_eq!(parse_kernel("6.18.44-amd64"), Some((6, 18)));
    }
}
