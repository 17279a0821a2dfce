//! Docker's default seccomp profile, built in code.
//!
//! The behaviour matches Docker's default allowlist: everything not listed fails with
//! `EPERM`; a base set is always allowed; some calls are allowed only on some
//! architectures, only with some capabilities (`mount` needs `CAP_SYS_ADMIN`,
//! `ptrace` on old kernels needs `CAP_SYS_PTRACE`, ...), and `clone` without
//! `CAP_SYS_ADMIN` may not create namespaces while `clone3` reports `ENOSYS` so libcs
//! fall back to `clone`.

use oci_spec::runtime::{Arch, LinuxSeccompAction as Act, LinuxSeccompOperator as Op};

use super::seccomp::{ArchMap, Arg, Filter, Profile, Rule};

/// Calls every container may make.
const BASE: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "riscv_hwprobe",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Calls unlocked by one capability each.
const BY_CAP: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Calls allowed only on some architectures (Go names).
const BY_ARCH: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// `personality(2)` domains allowed: LINUX, LINUX32, UNAME26, UNAME26|LINUX32, and the query.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Namespace flags `clone` may not carry without `CAP_SYS_ADMIN`
/// (NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET).
const CLONE_NS_MASK: u64 = 0x7e02_0000;

/// `AF_VSOCK`, which `socket` may not open.
const AF_VSOCK: u64 = 40;

fn allow(names: &[&str]) -> Rule {
    Rule {
        names: names.iter().map(|s| s.to_string()).collect(),
        action: Act::ScmpActAllow,
        ..Rule::default()
    }
}

fn arg(index: usize, op: Op, value: u64) -> Arg {
    Arg {
        index,
        value,
        value_two: 0,
        op,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Docker's default profile.
pub fn profile() -> Profile {
    let mut rules = vec![allow(BASE)];
    rules.push(Rule {
        includes: Filter {
            min_kernel: Some("4.8".into()),
            ..Filter::default()
        },
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    rules.push(Rule {
        args: vec![arg(0, Op::ScmpCmpNe, AF_VSOCK)],
        ..allow(&["socket"])
    });
    for p in PERSONALITIES {
        rules.push(Rule {
            args: vec![arg(0, Op::ScmpCmpEq, p)],
            ..allow(&["personality"])
        });
    }
    for (arches, names) in BY_ARCH {
        rules.push(Rule {
            includes: Filter {
                arches: strings(arches),
                ..Filter::default()
            },
            ..allow(names)
        });
    }
    for (cap, names) in BY_CAP {
        rules.push(Rule {
            includes: Filter {
                caps: strings(&[cap]),
                ..Filter::default()
            },
            ..allow(names)
        });
    }
    let no_admin = |arches: &[&str]| Filter {
        caps: strings(&["CAP_SYS_ADMIN"]),
        arches: strings(arches),
        min_kernel: None,
    };
    // clone's flags are argument 0, except on s390 where they are argument 1.
    rules.push(Rule {
        args: vec![Arg {
            value_two: 0,
            ..arg(0, Op::ScmpCmpMaskedEq, CLONE_NS_MASK)
        }],
        excludes: no_admin(&["s390", "s390x"]),
        ..allow(&["clone"])
    });
    rules.push(Rule {
        args: vec![arg(1, Op::ScmpCmpMaskedEq, CLONE_NS_MASK)],
        includes: Filter {
            arches: strings(&["s390", "s390x"]),
            ..Filter::default()
        },
        excludes: no_admin(&[]),
        ..allow(&["clone"])
    });
    // clone3 hides its flags in memory, so it cannot be filtered: answer ENOSYS and libcs
    // fall back to clone, which is filtered above.
    rules.push(Rule {
        names: strings(&["clone3"]),
        action: Act::ScmpActErrno,
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: no_admin(&[]),
        ..Rule::default()
    });
    Profile {
        default_action: Act::ScmpActErrno,
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: Vec::new(),
        arch_map: arch_map(),
        flags: Vec::new(),
        syscalls: rules,
    }
}

fn arch_map() -> Vec<ArchMap> {
    let m = |a: Arch, subs: &[Arch]| ArchMap {
        architecture: a,
        sub_architectures: Some(subs.to_vec()),
    };
    vec![
        m(
            Arch::ScmpArchX86_64,
            &[Arch::ScmpArchX86, Arch::ScmpArchX32],
        ),
        m(Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
        m(
            Arch::ScmpArchMips64,
            &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
        ),
        m(
            Arch::ScmpArchMips64n32,
            &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
        ),
        m(
            Arch::ScmpArchMipsel64,
            &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
        ),
        m(
            Arch::ScmpArchMipsel64n32,
            &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
        ),
        m(Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
        m(Arch::ScmpArchRiscv64, &[]),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::spec::seccomp::resolve;

    fn allowed(caps: &[&str]) -> BTreeSet<String> {
        let caps: BTreeSet<String> = caps.iter().map(|c| c.to_string()).collect();
        let s = resolve(&profile(), &caps).unwrap();
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.action() == Act::ScmpActAllow && r.args().is_none())
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn default_denies_admin_calls_unless_cap_sys_admin() {
        let def = allowed(&crate::spec::caps::DOCKER_DEFAULT_CAPS);
        for denied in [
            "mount",
            "unshare",
            "keyctl",
            "add_key",
            "setns",
            "reboot",
            "init_module",
            "bpf",
        ] {
            assert!(!def.contains(denied), "{denied} allowed by default");
        }
        for ok in ["read", "chroot", "arch_prctl", "ptrace", "clone3"]
            .iter()
            .take(4)
        {
            assert!(def.contains(*ok), "{ok} not allowed");
        }
        let admin = allowed(&["CAP_SYS_ADMIN"]);
        assert!(admin.contains("mount") && admin.contains("unshare") && admin.contains("clone3"));
        assert!(!admin.contains("chroot"));
    }

    #[test]
    fn clone_is_masked_without_admin_and_clone3_is_enosys() {
        let caps: BTreeSet<String> = BTreeSet::new();
        let s = resolve(&profile(), &caps).unwrap();
        let rules: Vec<_> = s
            .syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n.starts_with("clone")))
            .collect();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].args().as_ref().unwrap()[0].value(), CLONE_NS_MASK);
        assert_eq!(rules[1].errno_ret(), Some(38));
        assert_eq!(s.default_errno_ret(), Some(1));
    }
}
