#!/usr/bin/env python3
"""Pull benchmark for berthd (issue 3): `docker pull` of a ~96 MB image (busybox
plus three layers of 30 MiB of random bytes, gzip) from a loopback
`docker-registry`, with the busybox base layer already present, as in
performance-anchors.md task g (Docker 20.10: ~1.0 s; target <= 0.45 s).

Usage: bench/pull.py [--runs N] [--berthd PATH] [--mb 30] [--layers 3]
(KEEP=1 keeps the work dir, with berthd.log, for inspection.)
Needs root, docker-registry, the docker CLI and a release berthd
(`cargo build --release --bins`). Prints median/min/max wall time.
"""
import argparse, gzip, hashlib, io, json, os, shutil, signal, socket, statistics, subprocess, tarfile, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(port, limit=15):
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(16).startswith(b"HTTP/1.1 200"):
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit("registry did not start")


def wait_sock(sock, proc, limit=20):
    t0 = time.time()
    while time.time() - t0 < limit:
        if proc.poll() is not None:
            raise SystemExit("berthd exited")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            if s.recv(16).startswith(b"HTTP/1.1 200"):
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit("berthd did not answer")


def tar_bytes(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def big_archive(work, layers, mb):
    """docker-archive: busybox base + `layers` random layers, tagged bench/big:1."""
    bb = os.path.join(work, "bb.tar")
    subprocess.run([os.path.join(ROOT, "tests/fixtures/make-busybox-image.sh"), bb, "bb:latest"], check=True,
                   stdout=subprocess.DEVNULL)
    with tarfile.open(bb) as t:
        manifest = json.load(t.extractfile("./manifest.json") if "./manifest.json" in t.getnames() else t.extractfile("manifest.json"))
        name = lambda n: n if n in t.getnames() else "./" + n
        cfg = json.load(t.extractfile(name(manifest[0]["Config"])))
        base = t.extractfile(name(manifest[0]["Layers"][0])).read()
    blobs = [base]
    for i in range(layers):
        blobs.append(tar_bytes([(f"data/blob{i}", os.urandom(mb << 20))]))
    diffs = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
    cfg["rootfs"] = {"type": "layers", "diff_ids": diffs}
    cfg["history"] = [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(blobs))]
    raw = json.dumps(cfg).encode()
    cfg_name = hashlib.sha256(raw).hexdigest() + ".json"
    files = [(f"{d[7:]}/layer.tar", b) for d, b in zip(diffs, blobs)]
    files.append((cfg_name, raw))
    files.append(("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": ["bench/big:1"],
                                                 "Layers": [f for f, _ in files[:len(blobs)]]}]).encode()))
    out = os.path.join(work, "big.tar")
    with open(out, "wb") as f:
        f.write(tar_bytes(files))
    return bb, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--berthd", default=os.path.join(ROOT, "target/release/berthd"))
    ap.add_argument("--mb", type=int, default=30)
    ap.add_argument("--layers", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="berth-bench-pull-")
    procs = []
    try:
        port = free_port()
        os.makedirs(os.path.join(work, "reg"))
        with open(os.path.join(work, "reg.yml"), "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {work}/reg\nhttp:\n  addr: 127.0.0.1:{port}\n")
        procs.append(subprocess.Popen(["docker-registry", "serve", f"{work}/reg.yml"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(port)
        sock = os.path.join(work, "api.sock")
        d = subprocess.Popen([a.berthd, "--config-file", "/dev/null", "--data-root", work + "/data",
                              "--exec-root", work + "/exec", "-H", "unix://" + sock],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "berthd.log"), "w"))
        procs.append(d)
        wait_sock(sock, d)
        env = dict(os.environ, DOCKER_HOST="unix://" + sock, DOCKER_CONFIG=os.path.join(work, "dc"))
        docker = lambda *args: subprocess.run(["docker", *args], env=env, check=True,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        bb, big = big_archive(work, a.layers, a.mb)
        docker("load", "-i", bb)
        docker("load", "-i", big)
        ref = f"127.0.0.1:{port}/bench/big:1"
        docker("tag", "bench/big:1", ref)
        t0 = time.perf_counter()
        docker("push", ref)
        push_s = time.perf_counter() - t0
        docker("rmi", "bench/big:1")
        times = []
        for i in range(a.runs + 1):
            docker("rmi", "-f", ref)
            t0 = time.perf_counter()
            docker("pull", "-q", ref)
            dt = time.perf_counter() - t0
            if i > 0:  # first run is a warm-up
                times.append(dt)
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(os.path.join(work, "reg")) for f in fs)
        print(f"| pull {a.layers}x{a.mb} MiB random layers ({size/1e6:.0f} MB in registry), {a.runs} runs | "
              f"median {statistics.median(times)*1000:.0f} ms | min {min(times)*1000:.0f} | max {max(times)*1000:.0f} |")
        print(f"| first push of the same image | {push_s*1000:.0f} ms |")
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["umount", "-R", work + "/data"], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True) if not os.environ.get("KEEP") else print(work)


if __name__ == "__main__":
    main()
