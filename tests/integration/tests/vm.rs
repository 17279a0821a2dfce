//! VM isolation (issue 10): `--isolation=hyperv` runs each container in its own
//! QEMU microvm with berth's guest agent, driven by the real docker CLI.
//!
//! The guest kernel comes from Debian's linux-image-amd64 through
//! `scripts/vm/kernel-debian.sh`, run here on first use (cached under
//! /var/cache/berth/vm). Tests skip, saying why, when QEMU or the kernel package is
//! missing; CI installs both (scripts/deps.sh). Every VM boot costs ~2.5 s under
//! TCG, so the checks share few daemons.

// Test code: helpers outside #[test] fns may panic on setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_integration::{Daemon, stderr, stdout};

const KERNEL_DIR: &str = "/var/cache/berth/vm/current";

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The guest kernel's release, preparing the kernel when needed; `None` (with the
/// reason printed) when this machine cannot run VM containers.
fn guest_kernel() -> Option<String> {
    let on_path = |b: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(b).is_file()))
            .unwrap_or(false)
    };
    if !on_path("qemu-system-x86_64") {
        eprintln!("SKIP: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        return None;
    }
    let release = Path::new(KERNEL_DIR).join("release");
    if !release.exists() {
        let has_image = std::fs::read_dir("/boot")
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"))
            })
            .unwrap_or(false);
        if !has_image {
            eprintln!("SKIP: no /boot/vmlinuz-* (apt-get install linux-image-amd64)");
            return None;
        }
        // One extraction at a time, across test processes.
        let lock = std::fs::File::create("/tmp/berth-vm-kernel.lock").unwrap();
        lock.lock().unwrap();
        if !release.exists() {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vm/kernel-debian.sh");
            let out = std::process::Command::new("sh")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "kernel-debian.sh failed: {}",
                stderr(&out)
            );
        }
    }
    Some(std::fs::read_to_string(release).unwrap().trim().to_string())
}

fn vm_daemon() -> Option<(Daemon, String)> {
    let k = guest_kernel()?;
    let d = Daemon::start_with(&["--vm-kernel", &format!("{KERNEL_DIR}/vmlinux")]);
    d.load_busybox();
    Some((d, k))
}

fn host_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string()
}

fn qemu_pid(d: &Daemon, name: &str) -> i32 {
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", name]);
    let p: PathBuf = d.exec_root.join("shims").join(id.trim()).join("qemu.pid");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn vm_run_exec_volumes_network_and_vm_death() {
    let Some((d, guest)) = vm_daemon() else {
        return;
    };
    let info = d.docker_ok(&["info", "--format", "{{json .Warnings}}"]);
    assert!(!info.contains("not available"), "{info}");

    // The guest's own kernel answers.
    let r = d.docker_ok(&["run", "--rm", "--isolation=hyperv", "bb", "uname", "-r"]);
    assert_eq!(r.trim(), guest);
    assert_ne!(
        r.trim(),
        host_release(),
        "uname -r came from the host kernel"
    );

    // Exit codes and stdin, as with process isolation.
    let out = d.docker(&[
        "run",
        "--rm",
        "--isolation",
        "vm",
        "bb",
        "sh",
        "-c",
        "echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stderr(&out), "err\n");
    let mut child = d
        .docker_cmd(&[
            "run",
            "--rm",
            "-i",
            "--isolation=hyperv",
            "bb",
            "sh",
            "-c",
            "tr a-z A-Z; echo done",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello vm\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "HELLO VM\ndone\n");
    let out = d.docker(&["run", "--rm", "--isolation=hyperv", "bb", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));

    // Detached: logs, exec (a second guest process), stop.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "vm1",
        "--isolation=hyperv",
        "bb",
        "sh",
        "-c",
        "echo up; exec sleep 1000",
    ]);
    assert!(eventually(Duration::from_secs(30), || d
        .docker_ok(&["logs", "vm1"])
        == "up\n"));
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.Isolation}}", "vm1"])
            .trim(),
        "hyperv"
    );
    let out = d.docker(&[
        "exec",
        "vm1",
        "sh",
        "-c",
        "echo in-guest $(uname -r); exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("in-guest {guest}\n"));
    let ps = d.docker_ok(&["exec", "vm1", "ps", "-o", "pid,comm"]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]),
        "{ps}"
    );
    d.docker_ok(&["stop", "-t", "1", "vm1"]);
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "vm1"
        ])
        .trim(),
        "exited 137"
    );

    // A named volume written in a VM is read by a process-isolated container.
    d.docker_ok(&[
        "run",
        "--rm",
        "--isolation=hyperv",
        "-v",
        "vmdata:/data",
        "bb",
        "sh",
        "-c",
        "echo from-vm > /data/f; chown 1234 /data/f",
    ]);
    let r = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "vmdata:/data",
        "bb",
        "stat",
        "-c",
        "%u %n",
        "/data/f",
    ]);
    assert_eq!(r, "1234 /data/f\n");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-v", "vmdata:/data", "bb", "cat", "/data/f"]),
        "from-vm\n"
    );

    // On a user network, the VM reaches a process-isolated container by name.
    d.docker_ok(&["network", "create", "vmnet"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "vmnet",
        "bb",
        "sh",
        "-c",
        "echo hello-from-srv | nc -l -p 7000",
    ]);
    let r = d.docker_ok(&[
        "run",
        "--rm",
        "--isolation=hyperv",
        "--network",
        "vmnet",
        "bb",
        "nc",
        "srv",
        "7000",
    ]);
    assert_eq!(r, "hello-from-srv\n");

    // Killing the VMM marks the container exited, with an error.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "vm2",
        "--isolation=hyperv",
        "bb",
        "sleep",
        "1000",
    ]);
    let pid = qemu_pid(&d, "vm2");
    // SAFETY: kill(2) with a pid read from the container's shim directory.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    assert!(eventually(Duration::from_secs(30), || d
        .docker_ok(&["inspect", "-f", "{{.State.Status}}", "vm2"])
        .trim()
        == "exited"));
    let st = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}}|{{.State.Error}}",
        "vm2",
    ]);
    let (code, err) = st.trim().split_once('|').unwrap();
    assert_ne!(code, "0");
    assert!(err.contains("VM exited unexpectedly"), "{st}");
    d.docker_ok(&["rm", "-f", "vm1", "vm2", "srv"]);
}

#[test]
fn vm_survives_daemon_restart() {
    let Some((mut d, guest)) = vm_daemon() else {
        return;
    };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "lr",
        "--isolation=hyperv",
        "bb",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    assert!(eventually(Duration::from_secs(30), || d
        .docker_ok(&["logs", "lr"])
        == "started\n"));
    let qemu = qemu_pid(&d, "lr");
    d.kill9();
    d.spawn();
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "lr"])
            .trim(),
        "running"
    );
    assert_eq!(qemu_pid(&d, "lr"), qemu);
    assert_eq!(d.docker_ok(&["exec", "lr", "uname", "-r"]).trim(), guest);
    d.docker_ok(&["kill", "lr"]);
    assert!(eventually(Duration::from_secs(30), || d
        .docker_ok(&["inspect", "-f", "{{.State.Status}}", "lr"])
        .trim()
        == "exited"));
    let gone = || {
        // SAFETY: signal 0 only checks whether the pid exists.
        unsafe { libc::kill(qemu, 0) != 0 }
    };
    assert!(
        eventually(Duration::from_secs(10), gone),
        "the VM outlived its container"
    );
    d.docker_ok(&["rm", "lr"]);
}
