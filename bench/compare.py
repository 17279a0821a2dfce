#!/usr/bin/env python3
"""Side-by-side benchmark: Debian's dockerd (20.10, with its own containerd)
and berthd, each on private temp roots and sockets, driven by the same docker
CLI. Run through bench/compare.sh (which installs and builds what this needs).

Every figure is measured for both engines in alternating rounds (Docker, berth,
berth, Docker, ...) so background load hits both alike. Timings come from
hyperfine; CPU per operation from cgroup v1 cpuacct deltas (client + daemon
stack + the engine's container parent); memory from /proc (RSS).

Usage: compare.py --berth-bin DIR --out RESULTS.json --markdown SECTION.md
Needs root. Never touches a dockerd it did not start (refuses to run next to one).
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CPUACCT = "/sys/fs/cgroup/cpuacct"
CPU = "/sys/fs/cgroup/cpu"
CG = "berth-compare"
DOCKER_CLI = shutil.which("docker") or "/usr/local/bin/docker"
IMG = "bb:latest"

# All HTTP(S) that is not loopback goes to a dead proxy: nothing reaches Docker Hub.
NET_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1",
}


def log(msg):
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd, env=None, check=True, quiet=True):
    out = subprocess.run(cmd, shell=True, env=env, text=True,
                         stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None)
    if check and out.returncode != 0:
        raise SystemExit(f"command failed ({out.returncode}): {cmd}\n{out.stdout or ''}")
    return (out.stdout or "").strip()


def ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
        s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# ---- cgroups -----------------------------------------------------------------
def cg_setup(groups):
    for g in groups:
        for h in (CPUACCT, CPU):
            os.makedirs(f"{h}/{CG}/{g}", exist_ok=True)
        # Weight against other builds on the machine (sched_autogroup makes nice useless).
        with open(f"{CPU}/{CG}/{g}/cpu.shares", "w") as f:
            f.write("262144")


def cg_join(group, pid=None):
    pid = str(pid or os.getpid())
    for h in (CPUACCT, CPU):
        with open(f"{h}/{CG}/{group}/cgroup.procs", "w") as f:
            f.write(pid)


def cg_usage(path):
    try:
        with open(f"{CPUACCT}/{path}/cpuacct.usage") as f:
            return int(f.read())
    except OSError:
        return 0


def cg_teardown():
    for h in (CPUACCT, CPU):
        base = f"{h}/{CG}"
        if not os.path.isdir(base):
            continue
        for g in os.listdir(base):
            p = f"{base}/{g}"
            if os.path.isdir(p):
                try:
                    with open(f"{p}/cgroup.procs") as f:
                        pids = f.read().split()
                    for pid in pids:  # back to the root group before removing ours
                        with open(f"{h}/cgroup.procs", "w") as r:
                            r.write(pid)
                    os.rmdir(p)
                except OSError:
                    pass
        try:
            os.rmdir(base)
        except OSError:
            pass


# ---- engines -----------------------------------------------------------------
class Engine:
    def __init__(self, name, state, run, berth_bin=None, net_n=None):
        self.name = name
        self.state = state
        self.run = run
        self.berth_bin = berth_bin
        self.net_n = net_n
        self.proc = None
        self.sock = f"{run}/{name}.sock"
        self.env = dict(os.environ, **NET_ENV, DOCKER_HOST=f"unix://{self.sock}",
                        DOCKER_CONFIG=f"{state}/docker-config", DOCKER_BUILDKIT="0")
        self.env.pop("DOCKER_CONTEXT", None)
        self.env.pop("DOCKER_API_VERSION", None)
        os.makedirs(f"{state}/docker-config", exist_ok=True)
        with open(f"{state}/docker-config/config.json", "w") as f:
            f.write("{}")
        # Container cgroup parent of this engine (v1, hierarchical usage).
        self.container_cg = "docker" if name == "docker" else "berth"

    def argv(self):
        if self.name == "docker":
            cfg = f"{self.state}/daemon.json"
            with open(cfg, "w") as f:
                json.dump({"deprecated-key-path": f"{self.state}/key.json"}, f)
            return ["dockerd", "--iptables=false", "--ip6tables=false", "--config-file", cfg,
                    "--data-root", f"{self.state}/data", "--exec-root", f"{self.run}/exec",
                    "-H", f"unix://{self.sock}", "--pidfile", f"{self.run}/dockerd.pid"]
        n = self.net_n
        return [f"{self.berth_bin}/berthd", "--config-file", "/dev/null", "--data-root", f"{self.state}/data",
                "--exec-root", f"{self.run}/exec", "-H", f"unix://{self.sock}",
                "--pidfile", f"{self.run}/berthd.pid", "--bip", f"10.{n}.0.1/24",
                "--default-address-pool", f"base=10.{n}.64.0/18,size=24"]

    def start(self):
        """Start the daemon; returns ms from launch until /_ping answers 200."""
        os.makedirs(f"{self.run}/exec", exist_ok=True)
        log_f = open(f"{self.state}/daemon.log", "ab")
        group = self.name
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv(), env=dict(os.environ, **NET_ENV), stdin=subprocess.DEVNULL,
                                     stdout=log_f, stderr=log_f, start_new_session=True,
                                     preexec_fn=lambda: cg_join(group))
        while not ping(self.sock):
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} daemon exited; see {self.state}/daemon.log")
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"{self.name} daemon did not answer within 60 s")
            time.sleep(0.0005)
        return (time.perf_counter() - t0) * 1000

    def children(self):
        """Pids of the daemon's stack: the daemon, containerd, shims."""
        if not self.proc:
            return []
        pids = [self.proc.pid]
        if self.name == "docker":
            pids += [int(p) for p in sh(f"pgrep -P {self.proc.pid} -x containerd", check=False).split()]
            ctd_sock = f"{self.run}/exec/containerd/containerd.sock"
            pids += [int(p) for p in sh(f"pgrep -f 'containerd-shim-runc-v2 .*-address {ctd_sock}'", check=False).split()]
        else:
            pids += shim_pids([self.state, self.run])
        return pids

    def stop(self):
        """SIGTERM; returns ms until the daemon (and, for Docker, its containerd) exited."""
        if not self.proc:
            return 0.0
        ctd = [int(p) for p in sh(f"pgrep -P {self.proc.pid} -x containerd", check=False).split()] \
            if self.name == "docker" else []
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in ctd:
            while os.path.exists(f"/proc/{pid}") and time.perf_counter() - t0 < 30:
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if f.read().split()[2] == "Z":
                            break
                except OSError:
                    break
                time.sleep(0.0005)
        ms = (time.perf_counter() - t0) * 1000
        self.proc = None
        return ms

    def cli(self, args, check=True):
        return sh(f"{DOCKER_CLI} {args}", env=self.env, check=check)

    def cpu_ns(self):
        return cg_usage(f"{CG}/client") + cg_usage(f"{CG}/{self.name}") + cg_usage(self.container_cg)


def shim_pids(roots):
    """berth-shim processes whose command line names one of `roots`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "berth-shim" in cmd and any(r in cmd for r in roots):
            out.append(int(d))
    return out


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---- measuring ---------------------------------------------------------------
def hyperfine(e, name, cmd, runs, warmup=0, prepare=None, workdir=None):
    """hyperfine one command for engine e; returns (times_s, cpu_ms_per_op)."""
    out = f"{workdir}/{e.name}-{name}-{time.time_ns()}.json"
    argv = ["hyperfine", "--style", "basic", "-N", "--runs", str(runs), "--warmup", str(warmup),
            "--export-json", out]
    if prepare:
        argv = ["hyperfine", "--style", "basic", "--runs", str(runs), "--warmup", str(warmup),
                "--prepare", prepare, "--export-json", out]
    before = e.cpu_ns()
    subprocess.run(argv + [cmd], env=e.env, check=True, stdout=subprocess.DEVNULL)
    cpu = (e.cpu_ns() - before) / 1e6 / (runs + warmup)
    with open(out) as f:
        times = json.load(f)["results"][0]["times"]
    return times, cpu


def alternate(engines, rounds):
    """Engine order per round: A B, B A, A B ..."""
    for r in range(rounds):
        yield r, (engines if r % 2 == 0 else list(reversed(engines)))


def summary(samples_s):
    ms = [t * 1000 for t in samples_s]
    return {"median_ms": statistics.median(ms), "mean_ms": statistics.mean(ms),
            "stdev_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0, "min_ms": min(ms), "n": len(ms)}


def bench_hyperfine(engines, res, key, cmd, rounds, runs, workdir, prepare=None, warmup=1):
    times = {e.name: [] for e in engines}
    cpus = {e.name: [] for e in engines}
    for r, order in alternate(engines, rounds):
        for e in order:
            p = prepare(e) if prepare else None
            t, c = hyperfine(e, key, cmd(e), runs, warmup if r < 2 else 0, p, workdir)
            times[e.name] += t
            cpus[e.name].append(c)
    for e in engines:
        res.setdefault(key, {})[e.name] = dict(summary(times[e.name]), cpu_ms=statistics.median(cpus[e.name]))
        log(f"{key} {e.name}: median {res[key][e.name]['median_ms']:.1f} ms, cpu {res[key][e.name]['cpu_ms']:.1f} ms/op")


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_start50(engines, res, rounds, count, workdir):
    seq = {e.name: [] for e in engines}
    par = {e.name: [] for e in engines}
    cpu_seq = {e.name: [] for e in engines}
    d = DOCKER_CLI
    for r, order in alternate(engines, rounds):
        for e in order:
            remove_all(e)
            before = e.cpu_ns()
            seq[e.name].append(timed(lambda: sh(
                f"for i in $(seq 1 {count}); do {d} run -d --pull=never --name cmp-{r}s-$i {IMG} sleep 3600 >/dev/null || exit 1; done",
                env=e.env)))
            cpu_seq[e.name].append((e.cpu_ns() - before) / 1e6 / count)
            running = int(e.cli("ps -q | wc -l"))
            assert running == count, f"{e.name}: {running} running, wanted {count}"
            if r == 0:
                t, c = hyperfine(e, "ps50", f"{d} ps", 20, 2, None, workdir)
                res.setdefault("ps_50", {})[e.name] = dict(summary(t), cpu_ms=c)
            remove_all(e)
            par[e.name].append(timed(lambda: sh(
                f"seq 1 {count} | xargs -P 10 -I{{}} {d} run -d --pull=never --name cmp-{r}p-{{}} {IMG} sleep 3600 >/dev/null",
                env=e.env)))
            running = int(e.cli("ps -q | wc -l"))
            assert running == count, f"{e.name}: {running} running after parallel start"
            remove_all(e)
    for e in engines:
        res.setdefault("start50_seq", {})[e.name] = dict(summary(seq[e.name]), cpu_ms=statistics.median(cpu_seq[e.name]))
        res.setdefault("start50_par10", {})[e.name] = summary(par[e.name])
        log(f"start50 {e.name}: seq {res['start50_seq'][e.name]['median_ms']:.0f} ms, "
            f"par10 {res['start50_par10'][e.name]['median_ms']:.0f} ms, ps50 {res['ps_50'][e.name]['median_ms']:.1f} ms")


def remove_all(e):
    """Remove every container of e and wait until its list is empty."""
    for _ in range(300):
        ids = e.cli("ps -aq", check=False).split()
        if not ids:
            return
        e.cli("rm -f " + " ".join(ids), check=False)
    raise SystemExit(f"{e.name}: containers left after rm -f: {e.cli('ps -a', check=False)}")


def bench_memory(engines, res, count, settle):
    for e in engines:
        e.cli("version")
    time.sleep(settle)
    for e in engines:
        idle = rss_kib(e.children())
        res.setdefault("rss_idle_mib", {})[e.name] = idle / 1024
        for i in range(count):
            e.cli(f"run -d --pull=never --name mem-{i} {IMG} sleep 3600")
        time.sleep(settle)
        busy = rss_kib(e.children())
        res.setdefault("rss_per_container_mib", {})[e.name] = (busy - idle) / 1024 / count
        remove_all(e)
        log(f"memory {e.name}: idle {idle / 1024:.1f} MiB, per container {(busy - idle) / 1024 / count:.2f} MiB")


def bench_daemon(engines, res, rounds):
    starts = {e.name: [] for e in engines}
    stops = {e.name: [] for e in engines}
    for e in engines:
        e.stop()
    for _, order in alternate(engines, rounds):
        for e in order:
            starts[e.name].append(e.start() / 1000)
            time.sleep(1)
            stops[e.name].append(e.stop() / 1000)
    for e in engines:
        res.setdefault("daemon_start", {})[e.name] = summary(starts[e.name])
        res.setdefault("daemon_stop", {})[e.name] = summary(stops[e.name])
        log(f"daemon {e.name}: start {res['daemon_start'][e.name]['median_ms']:.1f} ms, "
            f"stop {res['daemon_stop'][e.name]['median_ms']:.1f} ms")


def build_available(e):
    out = sh(f"curl -s -o /dev/null -w '%{{http_code}}' --unix-socket {e.sock} -X POST "
             f"'http://d/v1.41/build?t=probe' -H 'Content-Type: application/x-tar' --data-binary @/dev/null",
             check=False)
    return out != "501"


# ---- images --------------------------------------------------------------------
def make_images(work, registry_port):
    """bb:latest (busybox fixture) and big = bb + 3 x 30 MiB random layers in the registry."""
    sh(f"sh {REPO}/tests/fixtures/make-busybox-image.sh {work}/bb.tar {IMG}")
    src = f"{work}/bb.tar"
    for i in range(1, 4):
        layer = f"{work}/layer{i}"
        os.makedirs(f"{layer}/data", exist_ok=True)
        with open(f"{layer}/data/r{i}", "wb") as f:
            f.write(os.urandom(30 << 20))
        dst = f"{work}/big{i}.tar"
        sh(f"python3 {REPO}/tests/compat/add-layer.py {src} {dst} {layer} --tags compare/big:1")
        src = dst
    sh(f"skopeo copy -q --dest-tls-verify=false docker-archive:{src} "
       f"docker://127.0.0.1:{registry_port}/compare/big:1")
    size = sh(f"skopeo inspect --tls-verify=false --raw docker://127.0.0.1:{registry_port}/compare/big:1")
    total = sum(layer["size"] for layer in json.loads(size)["layers"])
    return f"127.0.0.1:{registry_port}/compare/big:1", total


def build_context(work):
    ctx = f"{work}/build-ctx"
    os.makedirs(ctx, exist_ok=True)
    with open(f"{ctx}/Dockerfile", "w") as f:
        f.write("FROM bb\nRUN echo hello > /hello.txt\nCOPY file.txt /app/file.txt\n"
                "ENV GREETING=compare\nWORKDIR /app\nRUN cat /hello.txt file.txt > out.txt\n")
    with open(f"{ctx}/file.txt", "w") as f:
        f.write(os.urandom(3072).hex())
    return ctx


def versions(engines, berth_bin):
    v = {
        "dockerd": sh("dockerd --version", check=False),
        "containerd": sh("containerd --version", check=False),
        "runc": sh("runc --version | head -1", check=False),
        "docker CLI": sh(f"{DOCKER_CLI} version --format '{{{{.Client.Version}}}}' 2>/dev/null || true", check=False),
        "berthd": sh(f"{berth_bin}/berthd --version", check=False),
        "berth commit": sh(f"git -C {REPO} rev-parse --short HEAD 2>/dev/null", check=False)
        + (" (+ uncommitted changes)" if sh(f"git -C {REPO} status --porcelain 2>/dev/null | head -1", check=False) else ""),
        "hyperfine": sh("hyperfine --version", check=False),
    }
    return v


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1 hybrid"
    return {"cpus": os.cpu_count(), "cpu": model, "mem_gib": round(mem, 1), "kernel": platform.release(),
            "os": sh(". /etc/os-release; echo $PRETTY_NAME", check=False), "cgroup": cg}


# ---- report --------------------------------------------------------------------
ROWS = [
    ("run_bridge", "`run --rm bb true`, default bridge: wall, median", "median_ms", "ms"),
    ("run_bridge", "… CPU per run (client + daemon stack + container)", "cpu_ms", "ms"),
    ("run_none", "`run --rm --network none bb true`: wall, median", "median_ms", "ms"),
    ("run_none", "… CPU per run", "cpu_ms", "ms"),
    ("start50_seq", "50 × `run -d bb sleep`, one after another: wall, median", "median_ms", "s"),
    ("start50_seq", "… CPU per container started", "cpu_ms", "ms"),
    ("start50_par10", "50 × `run -d`, 10 at a time: wall, median", "median_ms", "s"),
    ("ps_50", "`ps` with 50 running: wall, median", "median_ms", "ms"),
    ("pull", "pull of the ~96 MB image from a loopback registry: wall, median", "median_ms", "s"),
    ("pull", "… CPU per pull", "cpu_ms", "ms"),
    ("build_cold", "5-step build, `--no-cache`: wall, median", "median_ms", "ms"),
    ("build_cached", "5-step build, all steps cached: wall, median", "median_ms", "ms"),
    ("daemon_start", "daemon start until `/_ping` answers: median", "median_ms", "ms"),
    ("daemon_stop", "SIGTERM until the daemon (and containerd) exited: median", "median_ms", "ms"),
    ("rss_idle_mib", "idle RSS of the daemon stack (fresh start, one request)", None, "MiB"),
    ("rss_per_container_mib", "RSS added per running container (daemon side: shims etc.)", None, "MiB"),
]


def fmt(v, unit):
    if unit == "s":
        return f"{v / 1000:.2f} s"
    if unit == "MiB":
        return f"{v:.1f} MiB" if v >= 1 else f"{v:.2f} MiB"
    return f"{v:.0f} ms" if v >= 100 else f"{v:.1f} ms"


def markdown(res, meta):
    m = meta["machine"]
    lines = [
        f"## Side by side with Docker (issue 9) — `bench/compare.sh`, {meta['date']}",
        "",
        f"Machine: {m['os']}, kernel {m['kernel']}, {m['cpus']} × {m['cpu']}, {m['mem_gib']} GiB, "
        f"cgroup {m['cgroup']}; load average {meta['load_before']} before, {meta['load_after']} after "
        "(other builds shared the cores; the engines were measured in alternating rounds, so load "
        "hits both alike, and their processes ran with a high cgroup CPU weight).",
        "",
        "Versions: " + "; ".join(f"{k} `{v}`" for k, v in meta["versions"].items() if v) + ".",
        "",
        "Both daemons ran side by side on private data roots, exec roots and sockets (dockerd with "
        "`--iptables=false`, managing its own containerd), driven by the same docker CLI. "
        f"Wall times are hyperfine medians over {meta['rounds']} alternating rounds; CPU is the "
        "cgroup cpuacct delta of the CLI, the daemon stack (daemon, containerd, shims) and the "
        "engine's container cgroups, divided by the operations. Ratio = Docker ÷ berth (above 1: "
        "berth is faster or smaller).",
        "",
        "| figure | Docker | berth | ratio |",
        "|---|---|---|---|",
    ]
    for key, label, field, unit in ROWS:
        r = res.get(key)
        if not r or "docker" not in r or "berth" not in r:
            continue
        d = r["docker"][field] if field else r["docker"]
        b = r["berth"][field] if field else r["berth"]
        ratio = f"{d / b:.1f}×" if b else "–"
        lines.append(f"| {label} | {fmt(d, unit)} | {fmt(b, unit)} | {ratio} |")
    for note in meta.get("notes", []):
        lines += ["", note]
    lines.append("")
    return "\n".join(lines)


# ---- main ------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth-bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "4")))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "5")))
    ap.add_argument("--net-n", type=int, default=int(os.environ.get("NET_N", "231")))
    a = ap.parse_args()

    if sh("pgrep -x dockerd", check=False):
        raise SystemExit("a dockerd is already running on this machine; compare.py starts its own and "
                         "refuses to run next to one it did not start")
    if sh("pgrep -x containerd", check=False):
        raise SystemExit("a containerd is already running; refusing to start dockerd's next to it")
    had_docker0 = os.path.exists("/sys/class/net/docker0")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        ip_forward = f.read().strip()
    state = tempfile.mkdtemp(prefix="berth-compare-", dir="/var/tmp")
    run = tempfile.mkdtemp(prefix="bcmp-", dir="/run")
    work = f"{state}/work"
    os.makedirs(work)
    cg_setup(["client", "docker", "berth"])
    cg_join("client")
    engines = [Engine("docker", f"{state}/docker", f"{run}/d"),
               Engine("berth", f"{state}/berth", f"{run}/b", a.berth_bin, a.net_n)]
    reg = None
    res = {}
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "rounds": a.rounds,
            "load_before": open("/proc/loadavg").read().split()[0], "notes": []}
    try:
        port = int(sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'"))
        os.makedirs(f"{work}/registry", exist_ok=True)
        with open(f"{work}/registry.yml", "w") as f:
            f.write(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {work}/registry}}}}\n"
                    f"http: {{addr: 127.0.0.1:{port}}}\n")
        reg = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(200):
            if sh(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{port}/v2/", check=False) == "200":
                break
            time.sleep(0.05)
        log("making images (busybox fixture; 3 x 30 MiB random layers for the pull)")
        big, big_bytes = make_images(work, port)
        meta["notes"].append(f"The pulled image is the busybox fixture plus three layers of 30 MiB of random "
                             f"data ({big_bytes / 1e6:.0f} MB compressed), served by Debian's docker-registry "
                             "on 127.0.0.1; each pull starts with the image absent.")
        for e in engines:
            e.start()
            e.cli(f"load -q -i {work}/bb.tar")
        meta["versions"] = versions(engines, a.berth_bin)

        d = DOCKER_CLI
        log("run --rm (bridge, none)")
        bench_hyperfine(engines, res, "run_bridge", lambda e: f"{d} run --rm --pull=never {IMG} true",
                        a.rounds, a.runs, work)
        bench_hyperfine(engines, res, "run_none", lambda e: f"{d} run --rm --pull=never --network none {IMG} true",
                        a.rounds, a.runs, work)
        log("50 containers: sequential, 10-way, ps")
        bench_start50(engines, res, max(2, a.rounds // 2), 50, work)
        log("pull")
        bench_hyperfine(engines, res, "pull", lambda e: f"{d} pull -q {big}", max(2, a.rounds // 2),
                        max(2, a.runs - 2), work, prepare=lambda e: f"{d} rmi -f {big}", warmup=0)
        if all(build_available(e) for e in engines):
            log("build (cold, cached)")
            ctx = build_context(work)
            bench_hyperfine(engines, res, "build_cold", lambda e: f"{d} build -q --no-cache -t compare/build {ctx}",
                            max(2, a.rounds // 2), max(2, a.runs - 2), work)
            for e in engines:
                e.cli(f"build -q -t compare/build {ctx}")
            bench_hyperfine(engines, res, "build_cached", lambda e: f"{d} build -q -t compare/build {ctx}",
                            max(2, a.rounds // 2), a.runs, work)
        else:
            meta["notes"].append("Build: skipped — berthd answered `POST /build` with 501 (not implemented yet).")
            log("build skipped: berth answers 501 on /build")
        log("daemon start/stop")
        bench_daemon(engines, res, max(4, a.rounds))
        log("memory")
        for e in engines:
            e.start()
        bench_memory(engines, res, 10, float(os.environ.get("SETTLE", "5")))
    finally:
        for e in engines:
            try:
                if e.proc:
                    e.cli(f"rm -f $({DOCKER_CLI} ps -aq) 2>/dev/null", check=False)
                e.stop()
            except Exception as ex:  # keep tearing down
                log(f"stopping {e.name}: {ex}")
        if reg:
            reg.terminate()
            reg.wait()
        # Shims of berth that outlived berthd by design: ours only, by pid.
        for pid in shim_pids([state, run]):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # dockerd made docker0 and set ip_forward; undo what was not there before.
        if not had_docker0:
            sh("ip link del docker0 2>/dev/null", check=False)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(ip_forward)
        sh(f"awk -v s={state} -v r={run} 'index($5, s) == 1 || index($5, r) == 1 {{print $5}}' /proc/self/mountinfo "
           "| sort -r | xargs -r -n1 umount -l", check=False)
        cg_teardown()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
    meta["load_after"] = open("/proc/loadavg").read().split()[0]
    with open(a.out, "w") as f:
        json.dump({"meta": meta, "results": res}, f, indent=1)
    with open(a.markdown, "w") as f:
        f.write(markdown(res, meta))
    print(markdown(res, meta))


if __name__ == "__main__":
    main()
