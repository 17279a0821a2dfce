#!/usr/bin/env python3
"""Daemon benchmarks for berthd (issue 2): start until /_ping answers, shutdown
time after SIGTERM, idle RSS/USS, and `docker version` latency against it.

Usage: bench/daemon.py [--runs N] [--berthd PATH]
Needs root. Prints a markdown table; copy figures into BENCHMARKS.md.
"""
import argparse, os, shutil, signal, socket, statistics, subprocess, tempfile, time


def ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
        s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start(berthd, root):
    sock = os.path.join(root, "api.sock")
    t0 = time.perf_counter()
    p = subprocess.Popen([berthd, "--config-file", "/dev/null", "--data-root", root + "/data",
                          "--exec-root", root + "/exec", "-H", "unix://" + sock],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ping(sock):
        if p.poll() is not None:
            raise SystemExit("berthd exited")
        time.sleep(0.0002)
    return p, sock, (time.perf_counter() - t0) * 1000


def mem(pid):
    rss = uss = dirty = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                uss += int(line.split()[1])
            if line.startswith("Private_Dirty:"):
                dirty = int(line.split()[1])
    # USS counts the binary's text pages too (clean, file-backed, reclaimable;
    # the kernel maps whole page-cache folios); private dirty is what the
    # daemon itself allocated.
    return rss / 1024, uss / 1024, dirty / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--berthd", default=os.path.join(os.path.dirname(__file__), "../target/release/berthd"))
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="berth-bench-")
    starts, stops = [], []
    try:
        for i in range(a.runs):
            p, sock, ms = start(a.berthd, root)
            starts.append(ms)
            t0 = time.perf_counter()
            p.send_signal(signal.SIGTERM)
            p.wait()
            stops.append((time.perf_counter() - t0) * 1000)
        p, sock, _ = start(a.berthd, root)
        env = dict(os.environ, DOCKER_HOST="unix://" + sock, DOCKER_CONFIG=root + "/dc")
        subprocess.run(["docker", "version"], env=env, stdout=subprocess.DEVNULL, check=True)
        time.sleep(2)
        rss, uss, dirty = mem(p.pid)
        lat = []
        for i in range(a.runs):
            t0 = time.perf_counter()
            subprocess.run(["docker", "version"], env=env, stdout=subprocess.DEVNULL, check=True)
            lat.append((time.perf_counter() - t0) * 1000)
        p.send_signal(signal.SIGTERM)
        p.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    med = statistics.median
    print("| figure | berth | Docker here (performance-anchors.md) |")
    print("|---|---|---|")
    print(f"| daemon start until /_ping answers (median of {a.runs}, min) | {med(starts):.1f} ms ({min(starts):.1f}) | ~480 ms (dockerd+containerd, until `docker version`) |")
    print(f"| SIGTERM until exit (median, max) | {med(stops):.1f} ms ({max(stops):.1f}) | ~2600 ms |")
    print(f"| idle RSS / USS / private dirty after one request + 2 s | {rss:.1f} / {uss:.1f} / {dirty:.1f} MiB | 115 MiB / 111 MiB / - |")
    print(f"| `docker version` wall (median of {a.runs}, min) | {med(lat):.1f} ms ({min(lat):.1f}) | 18.3 ms |")
    print(hot_list_match(a.berthd))


def hot_list_match(binary):
    """How much of the hot-symbol layout list the binary still has (see bench/hot-symbols.sh):
    a stale list costs resident memory, so the RSS figure above is only comparable when most match."""
    listed = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../bins/daemon/layout/hot-symbols.txt")
    try:
        want = open(listed).read().split()
        out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True).stdout
    except OSError as e:
        return f"hot-symbol list: not checked ({e})"
    have = {line.split()[-1] for line in out.splitlines() if line.strip()}
    found = sum(1 for w in want if w in have)
    note = "" if found >= 0.9 * len(want) else " - stale: rerun bench/hot-symbols.sh"
    return f"hot-symbol list: {found} of {len(want)} names present in the binary{note}"


if __name__ == "__main__":
    main()
