#!/usr/bin/env python3
"""`docker run --rm bb true` through berthd: wall time and CPU per run.

Starts its own berthd (temp roots, its own bridge address), loads a busybox image
built from /bin/busybox, then times N runs of the real docker CLI after a few
warm-ups. CPU per run is the sum of
  - the CLI (rusage of the child),
  - berthd and the shims it starts (cgroup v1 cpuacct group `berth-bench-run`,
    which berthd is started in; shims inherit it),
  - the containers (cpuacct `/berth`, the parent of every container's cgroup; a
    placeholder child keeps it alive between runs — containers of other daemons
    on the host would be counted too, so the median is reported).

With --boost, the bench, the CLI, berthd and its shims run in a cgroup v1 `cpu` group
with cpu.shares=262144 (as Docker's anchor benchmark did on this shared machine), so
neighbouring builds delay them less; the group is removed afterwards.

Usage: bench/run.py [--runs N] [--berthd PATH] [--shim PATH] [--network none|bridge] [--boost]
Needs root, the docker CLI on PATH and /bin/busybox. Not a test.
"""
import argparse, hashlib, io, json, os, shutil, signal, socket, statistics, subprocess
import tarfile, tempfile, time

CPUACCT = "/sys/fs/cgroup/cpuacct"
GROUP = CPUACCT + "/berth-bench-run"
BOOST = "/sys/fs/cgroup/cpu/berth-bench-run"
KEEP = CPUACCT + "/berth/zz-bench-keep"


def image_tar(path):
    """A docker-archive with tag bb:latest: busybox, its applets, passwd/group."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        def add(name, data=None, mode=0o755, link=None, kind=tarfile.REGTYPE):
            ti = tarfile.TarInfo(name)
            ti.mode, ti.type = mode, kind
            if link:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
            if data is not None:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
        for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"]:
            add(d, kind=tarfile.DIRTYPE)
        add("bin/busybox", open("/bin/busybox", "rb").read())
        applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout
        for a in applets.split():
            if a != "busybox":
                add("bin/" + a, link="busybox")
        add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        add("etc/group", b"root:x:0:\n", 0o644)
    data = layer.getvalue()
    diff = hashlib.sha256(data).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
    cid = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": cid + ".json", "RepoTags": ["bb:latest"],
                            "Layers": [diff + "/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, blob in [(cid + ".json", config), (diff + "/layer.tar", data),
                           ("manifest.json", manifest)]:
            ti = tarfile.TarInfo(name)
            ti.size = len(blob)
            t.addfile(ti, io.BytesIO(blob))


def ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.1 200")
        s.close()
        return ok
    except OSError:
        return False


def usage(group):
    try:
        with open(group + "/cpuacct.usage") as f:
            return int(f.read())
    except OSError:
        return 0


def run(cmd, env):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode()
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {err}")
    return wall, ru.ru_utime + ru.ru_stime


def cpu_boost(group):
    """Make cgroup v1 `cpu` group `group` with cpu.shares=262144 and move this process in."""
    os.makedirs(group, exist_ok=True)
    with open(group + "/cpu.shares", "w") as f:
        f.write("262144")
    with open(group + "/cgroup.procs", "w") as f:
        f.write("0")


def med(v):
    return statistics.median(v) * 1000


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--berthd", default=os.path.join(here, "../target/release/berthd"))
    ap.add_argument("--shim", default=None, help="berth-shim binary (default: next to berthd)")
    ap.add_argument("--network", default="bridge", choices=["bridge", "none"])
    ap.add_argument("--bip", default="10.173.0.1/24")
    ap.add_argument("--args", default="", help="extra `docker run` flags")
    ap.add_argument("--boost", action="store_true", help="cpu.shares=262144 for the bench")
    a = ap.parse_args()
    if a.boost:
        # This process (and so the CLI) and, through the wrapper below, berthd.
        cpu_boost(BOOST)
    root = tempfile.mkdtemp(prefix="berth-run-bench-")
    sock = root + "/api.sock"
    os.makedirs(GROUP + "/daemon", exist_ok=True)
    os.makedirs(KEEP, exist_ok=True)
    env = dict(os.environ, DOCKER_HOST="unix://" + sock, DOCKER_CONFIG=root + "/cli")
    denv = dict(os.environ)
    if a.shim:
        denv["BERTH_SHIM"] = os.path.abspath(a.shim)
    # The daemon joins the group before exec, so berthd and its shims are counted.
    boost = f" && echo $$ > {BOOST}/cgroup.procs" if a.boost else ""
    d = subprocess.Popen(["sh", "-c", f"echo $$ > {GROUP}/daemon/cgroup.procs{boost} && exec \"$@\"", "sh",
                          a.berthd, "--config-file", "/dev/null", "--data-root", root + "/data",
                          "--exec-root", root + "/exec", "-H", "unix://" + sock, "--bip", a.bip],
                         env=denv, stdout=subprocess.DEVNULL, stderr=open(root + "/berthd.log", "w"))
    try:
        while not ping(sock):
            if d.poll() is not None:
                raise SystemExit("berthd exited: " + open(root + "/berthd.log").read()[-2000:])
            time.sleep(0.005)
        image_tar(root + "/bb.tar")
        run(["docker", "load", "-q", "-i", root + "/bb.tar"], env)
        cmd = ["docker", "run", "--rm"] + (["--network", "none"] if a.network == "none" else [])
        cmd += a.args.split() + ["bb", "true"]
        for _ in range(a.warmup):
            run(cmd, env)
        walls, cli, daemon, ctr = [], [], [], []
        load0 = os.getloadavg()[0]
        for _ in range(a.runs):
            g0, c0 = usage(GROUP), usage(CPUACCT + "/berth")
            w, c = run(cmd, env)
            walls.append(w)
            cli.append(c)
            daemon.append((usage(GROUP) - g0) / 1e9)
            ctr.append((usage(CPUACCT + "/berth") - c0) / 1e9)
        total = [x + y + z for x, y, z in zip(cli, daemon, ctr)]
        print(f"{' '.join(cmd)}: {a.runs} runs, load {load0:.2f} -> {os.getloadavg()[0]:.2f}")
        print(f"  wall  median {med(walls):6.1f} ms  min {min(walls)*1000:6.1f}  max {max(walls)*1000:6.1f}")
        print(f"  cpu   median {med(total):6.1f} ms  (cli {med(cli):.1f}, berthd+shims {med(daemon):.1f},"
              f" containers {med(ctr):.1f})")
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(10)
        except subprocess.TimeoutExpired:
            d.kill()
        if a.boost:
            with open("/sys/fs/cgroup/cpu/cgroup.procs", "w") as f:
                f.write("0")
        for g in [KEEP, GROUP + "/daemon", GROUP, BOOST]:
            try:
                os.rmdir(g)
            except OSError:
                pass
        try:
            os.rmdir(CPUACCT + "/berth")
        except OSError:
            pass
        subprocess.run(["umount", "-R", root], stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
