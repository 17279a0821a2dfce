#!/usr/bin/env python3
"""Add one layer to a single-image docker-archive tarball (as written by
tests/fixtures/make-busybox-image.sh), offline and without a daemon.

Usage: add-layer.py IN.tar OUT.tar DIR [--tags a:1,b:2] [--cmd '["/hello"]']

DIR's content becomes the new top layer (owned by root); --tags replaces the
RepoTags, --cmd the image's Cmd (JSON list).
"""
import argparse
import hashlib
import io
import json
import os
import tarfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("dir")
    ap.add_argument("--tags")
    ap.add_argument("--cmd")
    a = ap.parse_args()

    files = {}
    with tarfile.open(a.src) as t:
        for m in t.getmembers():
            if m.isfile():
                files[m.name.lstrip("./")] = t.extractfile(m).read()
    man = json.loads(files["manifest.json"])
    cfg_name = man[0]["Config"]
    cfg = json.loads(files.pop(cfg_name))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        def reset(ti):
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mtime = 0
            return ti
        for name in sorted(os.listdir(a.dir)):
            t.add(os.path.join(a.dir, name), arcname=name, filter=reset)
    layer = buf.getvalue()
    diff = hashlib.sha256(layer).hexdigest()
    files[f"{diff}/layer.tar"] = layer

    if a.cmd:
        cfg["config"]["Cmd"] = json.loads(a.cmd)
    cfg["rootfs"]["diff_ids"].append("sha256:" + diff)
    cfg["history"].append({"created": "1970-01-01T00:00:00Z", "created_by": "add-layer.py"})
    raw = json.dumps(cfg).encode()
    cid = hashlib.sha256(raw).hexdigest()
    files[f"{cid}.json"] = raw
    man[0]["Config"] = f"{cid}.json"
    man[0]["Layers"].append(f"{diff}/layer.tar")
    if a.tags:
        man[0]["RepoTags"] = a.tags.split(",")
    files["manifest.json"] = json.dumps(man).encode()

    with tarfile.open(a.dst, "w") as t:
        for name in sorted(files):
            ti = tarfile.TarInfo(name)
            ti.size = len(files[name])
            t.addfile(ti, io.BytesIO(files[name]))


if __name__ == "__main__":
    main()
