#!/usr/bin/env python3
"""Benchmark VM isolation (issue 10). Not a test.

1. `docker run --rm --isolation=hyperv bb true` end to end against a private berthd,
   with each guest kernel given (the accelerator berthd picks: TCG here).
2. The VMM alone: QEMU microvm from launch to exit with a PVH stub guest (a few
   instructions that write to isa-debug-exit), under KVM when /dev/kvm works.

Usage: bench/vm.py [--runs N] [--bin-dir DIR] [--kernel VMLINUX ...]
Needs root, qemu-system-x86_64, the docker CLI, busybox-static, as/ld (binutils),
and built binaries (default target/release; `cargo build --release -p berthd -p berth-shim`).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

STUB = r"""
    .section .note.Xen, "a"
    .align 4
    .long 4, 4, 18            /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .align 4
    .long start
    .text
    .code32
    .globl start
start:
    mov $0xf4, %dx
    mov $0x0, %al
    out %al, %dx              /* isa-debug-exit: QEMU exits */
1:  hlt
    jmp 1b
"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(xs):
    return f"median {median(xs)*1000:.0f} ms (min {min(xs)*1000:.0f}, max {max(xs)*1000:.0f}, n={len(xs)})"


def run_bench(bin_dir, kernel, runs):
    d = tempfile.mkdtemp(prefix="bvm", dir="/tmp")
    sock = os.path.join(d, "api.sock")
    env = dict(os.environ, DOCKER_HOST="unix://" + sock, DOCKER_CONFIG=os.path.join(d, "cfg"))
    log = open(os.path.join(d, "berthd.log"), "w")
    daemon = subprocess.Popen(
        [os.path.join(bin_dir, "berthd"), "--config-file", "/dev/null", "--data-root", os.path.join(d, "data"),
         "--exec-root", os.path.join(d, "x"), "-H", "unix://" + sock, "--bip", "10.199.0.1/24",
         "--vm-kernel", kernel], stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        tar = os.path.join(d, "bb.tar")
        subprocess.run([os.path.join(ROOT, "tests/fixtures/make-busybox-image.sh"), tar, "bb:latest"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["docker", "load", "-i", tar], env=env, check=True, stdout=subprocess.DEVNULL)
        cmd = ["docker", "run", "--rm", "--isolation=hyperv", "bb", "true"]
        subprocess.run(cmd, env=env, check=True)  # warm-up: builds the initramfs
        times = []
        for _ in range(runs):
            t = time.monotonic()
            subprocess.run(cmd, env=env, check=True)
            times.append(time.monotonic() - t)
        info = subprocess.run(["docker", "info", "--format", "{{json .Warnings}}"], env=env,
                              capture_output=True, text=True).stdout.strip()
        return times, info
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(d, ignore_errors=True)


def vmm_bench(runs, accel):
    d = tempfile.mkdtemp(prefix="bvmm")
    try:
        with open(os.path.join(d, "stub.S"), "w") as f:
            f.write(STUB)
        subprocess.run(["as", "--32", "-o", os.path.join(d, "stub.o"), os.path.join(d, "stub.S")], check=True)
        subprocess.run(["ld", "-m", "elf_i386", "-Ttext", "0x100000", "-e", "start", "-o",
                        os.path.join(d, "stub.elf"), os.path.join(d, "stub.o")], check=True)
        cpu = "max"
        if accel == "kvm":
            # PVM's KVM refuses IA32_ARCH_CAPABILITIES (MSR 0x10a) of -cpu host.
            cpu = "host,-arch-capabilities" if os.path.exists("/sys/module/kvm_pvm") else "host"
        cmd = ["qemu-system-x86_64", "-accel", accel, "-cpu", cpu,
               "-M", "microvm,x-option-roms=off", "-m", "128M", "-nodefaults", "-no-user-config",
               "-display", "none", "-no-reboot", "-kernel", os.path.join(d, "stub.elf"),
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        times = []
        for _ in range(runs):
            t = time.monotonic()
            p = subprocess.run(cmd, capture_output=True)
            times.append(time.monotonic() - t)
            if p.returncode not in (1, 0):
                raise SystemExit(f"qemu failed ({p.returncode}): {p.stderr.decode()}")
        return times
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target/release"))
    ap.add_argument("--kernel", action="append", default=[])
    args = ap.parse_args()
    kernels = args.kernel or ["/var/cache/berth/vm/current/vmlinux"]
    for k in kernels:
        times, warnings = run_bench(args.bin_dir, k, args.runs)
        print(f"run --rm --isolation=hyperv bb true, kernel {k}: {fmt(times)}")
        print(f"  docker info warnings: {warnings}")
    accels = ["tcg"]
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        accels.insert(0, "kvm")
    for a in accels:
        print(f"VMM alone (QEMU microvm, PVH stub, launch to exit), {a}: {fmt(vmm_bench(max(args.runs, 20), a))}")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
