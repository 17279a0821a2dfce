#!/usr/bin/env python3
"""A/B of two berthd builds: `docker run --rm bb true`, run after run, alternating.

bench/run.py measures one build at a time; on this shared machine the speed of
everything (the docker CLI included) drifts by 10-20 % over minutes, more than
most single changes move. Here both daemons run at once, each in its own cpuacct
group, and their runs alternate (A B B A A B ...), so drift hits both alike. The
result is the median of the per-pair differences next to each side's medians.

Usage: bench/ab.py --a DIR --b DIR [--runs N] [--boost]
DIR holds `berthd` and `berth-shim`. Needs root, the docker CLI and /bin/busybox.
Not a test.
"""
import argparse, os, shutil, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as single  # noqa: E402  (image_tar, ping, usage, run)

CPUACCT = single.CPUACCT
GROUP = CPUACCT + "/berth-bench-ab"
BOOST = "/sys/fs/cgroup/cpu/berth-bench-ab"


class Daemon:
    def __init__(self, name, bindir, bip, boost):
        self.name, self.root = name, tempfile.mkdtemp(prefix=f"berth-ab-{name}-")
        self.group = f"{GROUP}/{name}"
        os.makedirs(self.group, exist_ok=True)
        sock = self.root + "/api.sock"
        self.env = dict(os.environ, DOCKER_HOST="unix://" + sock, DOCKER_CONFIG=self.root + "/cli")
        denv = dict(os.environ, BERTH_SHIM=os.path.join(bindir, "berth-shim"))
        join = f"echo $$ > {self.group}/cgroup.procs"
        if boost:
            join += f" && echo $$ > {BOOST}/cgroup.procs"
        self.proc = subprocess.Popen(
            ["sh", "-c", join + ' && exec "$@"', "sh", os.path.join(bindir, "berthd"),
             "--config-file", "/dev/null", "--data-root", self.root + "/data",
             "--exec-root", self.root + "/exec", "-H", "unix://" + sock, "--bip", bip,
             "--bridge", "berthab" + name],
            env=denv, stdout=subprocess.DEVNULL, stderr=open(self.root + "/berthd.log", "w"))
        while not single.ping(sock):
            if self.proc.poll() is not None:
                raise SystemExit(f"berthd {name} exited: " + open(self.root + "/berthd.log").read()[-2000:])
            time.sleep(0.005)
        single.image_tar(self.root + "/bb.tar")
        single.run(["docker", "load", "-q", "-i", self.root + "/bb.tar"], self.env)
        self.cli, self.daemon, self.ctr = [], [], []

    def once(self, record):
        g0, c0 = single.usage(self.group), single.usage(CPUACCT + "/berth")
        _, c = single.run(["docker", "run", "--rm", "bb", "true"], self.env)
        if record:
            self.cli.append(c * 1000)
            self.daemon.append((single.usage(self.group) - g0) / 1e6)
            self.ctr.append((single.usage(CPUACCT + "/berth") - c0) / 1e6)

    def totals(self):
        return [x + y + z for x, y, z in zip(self.cli, self.daemon, self.ctr)]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["umount", "-R", self.root], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)
        try:
            os.rmdir(self.group)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--runs", type=int, default=100, help="runs per side")
    ap.add_argument("--boost", action="store_true")
    a = ap.parse_args()
    if a.boost:
        single.cpu_boost(BOOST)
    os.makedirs(single.KEEP, exist_ok=True)
    ds = []
    try:
        ds = [Daemon("a", a.a, "10.171.0.1/24", a.boost), Daemon("b", a.b, "10.172.0.1/24", a.boost)]
        for i in range(3 + a.runs):
            # ABBA order: neither side always goes first.
            order = ds if i % 2 == 0 else ds[::-1]
            for d in order:
                d.once(record=i >= 3)
        m = statistics.median
        for d, path in zip(ds, [a.a, a.b]):
            print(f"{d.name} ({path}): cpu median {m(d.totals()):.1f} ms (cli {m(d.cli):.1f}, "
                  f"berthd+shims {m(d.daemon):.1f}, containers {m(d.ctr):.1f})")
        for label, xs, ys in [("total", ds[0].totals(), ds[1].totals()), ("cli", ds[0].cli, ds[1].cli),
                              ("berthd+shims", ds[0].daemon, ds[1].daemon),
                              ("containers", ds[0].ctr, ds[1].ctr)]:
            diff = [y - x for x, y in zip(xs, ys)]
            print(f"  b - a {label:13s} median {m(diff):+.2f} ms  mean {statistics.mean(diff):+.2f}")
    finally:
        for d in ds:
            d.stop()
        if a.boost:
            with open("/sys/fs/cgroup/cpu/cgroup.procs", "w") as f:
                f.write("0")
        for g in [single.KEEP, GROUP, BOOST]:
            try:
                os.rmdir(g)
            except OSError:
                pass


if __name__ == "__main__":
    main()
