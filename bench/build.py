#!/usr/bin/env python3
"""Build benchmark for berthd (issue 8): the 5-step classic build of
performance-anchors.md task h, with the docker CLI and DOCKER_BUILDKIT=0:

    FROM bb / RUN echo hello > /hello.txt / COPY file.txt /app/file.txt /
    ENV GREETING=anchors / WORKDIR /app / RUN cat /hello.txt file.txt > out.txt

cold (`--no-cache`) and fully cached. Docker 20.10 classic on this machine:
0.9 s cold, 55 ms cached; targets: <= 0.25 s cold, <= 15 ms cached.

Also reports the daemon-side time of a cached build (the POST /build request
alone, context in, last message out), which excludes the docker CLI's own
start-up (~15 ms here, see `docker version` in performance-anchors.md).

Usage: bench/build.py [--runs N] [--bin DIR]   (KEEP=1 keeps the work dir)
Needs root, the docker CLI and release binaries (`cargo build --release --bins`).
"""
import argparse, io, os, shutil, signal, socket, statistics, subprocess, tarfile, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = """FROM bb
RUN echo hello > /hello.txt
COPY file.txt /app/file.txt
ENV GREETING=anchors
WORKDIR /app
RUN cat /hello.txt file.txt > out.txt
"""


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


def raw_build(sock, body, query):
    """POST /build on the socket; returns seconds until the stream ended."""
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    head = (f"POST /v1.50/build?{query} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
            f"Content-Type: application/x-tar\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    s.sendall(head + body)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    dt = time.perf_counter() - t0
    if b"Successfully tagged" not in out:
        raise SystemExit(f"build failed: {out[-500:]!r}")
    return dt


def stats(name, xs):
    xs = sorted(xs)
    print(f"{name:<44} median {statistics.median(xs) * 1000:8.1f} ms   min {xs[0] * 1000:8.1f}   max {xs[-1] * 1000:8.1f}   (n={len(xs)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bbench", dir="/tmp")
    sock = os.path.join(work, "api.sock")
    log = open(os.path.join(work, "berthd.log"), "w")
    proc = subprocess.Popen([os.path.join(a.bin, "berthd"), "--config-file", "/dev/null", "--data-root", os.path.join(work, "data"),
                             "--exec-root", os.path.join(work, "exec"), "-H", "unix://" + sock,
                             "--bip", "10.251.0.1/24", "--default-address-pool", "base=10.251.64.0/18,size=24"],
                            stdout=log, stderr=log)
    try:
        wait_sock(sock, proc)
        env = dict(os.environ, DOCKER_HOST="unix://" + sock, DOCKER_BUILDKIT="0", DOCKER_CONFIG=os.path.join(work, "cfg"))
        bb = os.path.join(work, "bb.tar")
        subprocess.run([os.path.join(ROOT, "tests/fixtures/make-busybox-image.sh"), bb, "bb:latest"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["docker", "load", "-q", "-i", bb], env=env, check=True, stdout=subprocess.DEVNULL)
        ctx = os.path.join(work, "ctx")
        os.makedirs(ctx)
        open(os.path.join(ctx, "Dockerfile"), "w").write(DOCKERFILE)
        open(os.path.join(ctx, "file.txt"), "w").write("file content\n")

        def docker_build(extra):
            t0 = time.perf_counter()
            r = subprocess.run(["docker", "build", "-q", "-t", "bench:1", *extra, ctx], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                raise SystemExit(r.stderr.decode())
            return dt

        docker_build([])  # warm-up
        cold = [docker_build(["--no-cache"]) for _ in range(a.runs)]
        cached = [docker_build([]) for _ in range(a.runs)]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for name in ("Dockerfile", "file.txt"):
                t.add(os.path.join(ctx, name), arcname=name)
        body = buf.getvalue()
        api_cached = [raw_build(sock, body, "t=bench%3A1") for _ in range(a.runs)]
        api_cold = [raw_build(sock, body, "t=bench%3A1&nocache=1") for _ in range(max(3, a.runs // 2))]
        v = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}"], env=env, stdout=subprocess.PIPE).stdout.decode().strip()
        print(f"docker CLI {v}, berthd {a.bin}, load {os.getloadavg()[0]:.2f}")
        stats("docker build --no-cache (cold)", cold)
        stats("docker build (all cached)", cached)
        stats("POST /build nocache=1 (daemon only)", api_cold)
        stats("POST /build cached (daemon only)", api_cached)
        left = subprocess.run(["docker", "ps", "-aq"], env=env, stdout=subprocess.PIPE).stdout.decode().split()
        print(f"containers left after the runs: {len(left)}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if os.environ.get("KEEP") != "1":
            subprocess.run(["umount", "-R", os.path.join(work, "data")], stderr=subprocess.DEVNULL)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work dir kept:", work)


if __name__ == "__main__":
    main()
