"""pytest plugin for the docker-py run: deselects the tests listed in
deselect.txt (out of scope: swarm, Docker Hub-only content) and writes each
test's outcome to $BERTH_REPORT as JSON lines {"id", "outcome", "longrepr"}.

A test counts as failed if any phase (setup, call, teardown) failed; ids are
relative to tests/integration so they match expected-failures.txt.
"""
import json
import os

PREFIX = "tests/integration/"
_results = {}


def _read_list(path):
    ids = {}
    if not os.path.exists(path):
        return ids
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test_id, _, reason = line.partition(" ")
            ids[test_id] = reason.strip()
    return ids


def _short(nodeid):
    return nodeid[len(PREFIX):] if nodeid.startswith(PREFIX) else nodeid


def pytest_collection_modifyitems(config, items):
    deselect = _read_list(os.environ.get("BERTH_DESELECT", ""))
    keep, drop = [], []
    for item in items:
        (drop if _short(item.nodeid) in deselect else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collectreport(report):
    if report.failed:
        _results[_short(report.nodeid) or "<collection>"] = ("failed", str(report.longrepr)[-2000:])


def pytest_runtest_logreport(report):
    tid = _short(report.nodeid)
    prev = _results.get(tid, ("passed", ""))[0]
    if report.failed:
        _results[tid] = ("failed", str(report.longrepr)[-2000:])
    elif report.skipped and prev != "failed":
        _results[tid] = ("skipped", "")
    elif report.when == "call" and prev != "failed":
        _results[tid] = ("passed", "")


def pytest_sessionfinish(session):
    out = os.environ.get("BERTH_REPORT")
    if not out:
        return
    with open(out, "w") as f:
        for tid, (outcome, longrepr) in sorted(_results.items()):
            f.write(json.dumps({"id": tid, "outcome": outcome, "longrepr": longrepr}) + "\n")
