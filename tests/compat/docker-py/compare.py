#!/usr/bin/env python3
"""Compare a docker-py run (JSON lines from berth_report.py) with the committed
expected-failure list. Exit 1 on an unexpected failure (a regression); list the
expected failures that now pass so the list only shrinks.

Usage: compare.py REPORT.jsonl EXPECTED-FAILURES.txt
"""
import json
import sys


def read_list(path):
    ids = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                test_id, _, reason = line.partition(" ")
                ids[test_id] = reason.strip()
    return ids


def main():
    report, expected_path = sys.argv[1], sys.argv[2]
    expected = read_list(expected_path)
    results = {}
    with open(report) as f:
        for line in f:
            r = json.loads(line)
            results[r["id"]] = r
    passed = [t for t, r in results.items() if r["outcome"] == "passed"]
    failed = [t for t, r in results.items() if r["outcome"] == "failed"]
    skipped = [t for t, r in results.items() if r["outcome"] == "skipped"]
    unexpected = [t for t in failed if t not in expected]
    flaky = {t for t, reason in expected.items() if reason.startswith("flaky:")}
    fixed = [t for t in passed if t in expected and t not in flaky]
    missing = [t for t in expected if t not in results]

    for t in unexpected:
        print(f"UNEXPECTED FAILURE {t}\n{results[t]['longrepr'][-1500:]}\n")
    for t in fixed:
        print(f"NOW PASSES (remove from {expected_path.split('/')[-1]}): {t}")
    for t in missing:
        print(f"listed but not run: {t}")
    print(f"docker-py: {len(passed)} passed, {len(failed) - len(unexpected)} expected failures, "
          f"{len(skipped)} skipped, {len(fixed)} listed but passing")
    print(f"{len(passed)} passed, {len(unexpected)} failed")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
