#!/usr/bin/env python3
"""Write the spec schemathesis tests against: Docker's swagger-v1.50.yaml with
the places where the swagger disagrees with what Docker itself sends corrected.
Everything else is checked as published.

Usage: overlay.py IN.yaml OUT.yaml [PATH:PARAM=VALUE...]

Each PATH:PARAM=VALUE gives a path parameter of a GET operation a real value
as its `x-example` (test data, not a correction): the examples phase then
inspects objects run.sh created instead of only names that do not exist.
"""
import sys

import yaml

# Properties Docker sends as `null`: Go marshals a nil slice, map or pointer as
# null, and dockerd leaves these nil unless a client set them (e.g. `docker
# inspect` shows "CapAdd": null, "Binds": null, "Aliases": null; `docker volume
# inspect` of a plain `docker volume create` shows "Labels": null and
# "Options": null; `docker network inspect bridge` shows IPAM "Options": null).
# The swagger marks none of them x-nullable.
NULLABLE = {
    "ContainerConfig": ["Entrypoint", "Volumes"],
    "HostConfig": ["Binds", "CapAdd", "CapDrop", "ExtraHosts", "GroupAdd", "Links", "SecurityOpt",
                   "VolumesFrom"],
    "Resources": ["DeviceCgroupRules", "DeviceRequests", "MemorySwappiness"],
    "EndpointSettings": ["Aliases", "Links", "DNSNames"],
    "PluginsInfo": ["Authorization"],
    "IPAM": ["Options"],
    "Volume": ["Labels", "Options"],
}
# The same for inline response schemas: `GET /exec/{id}/json` of an exec that
# has not finished (or not started) has "ExitCode": null (a nil *int in dockerd).
NULLABLE_RESPONSE = {("/exec/{id}/json", "get", 200): ["ExitCode"]}
# Whole definitions Docker sends as null where they are used (`GenericResources`
# of `GET /info` is a nil slice).
NULLABLE_DEFINITIONS = ["GenericResources"]

# Bounds the swagger sets tighter than dockerd: the docker CLI sends
# MemorySwappiness -1 ("unset") and dockerd keeps and shows it.
MINIMUM = {("Resources", "MemorySwappiness"): -1}

# Statuses dockerd answers that the swagger does not list for an operation:
# 400 for unparsable `filters`/query values (errdefs.InvalidParameter), 409 for
# `top` of a container that is not running (errdefs.Conflict; "Container X is
# not running"), 400 for `ps_args` ps rejects (Docker: 500 with the same text).
EXTRA_STATUSES = {
    ("/containers/{id}/top", "get"): ["400", "409"],
    ("/containers/json", "get"): ["400"],
    ("/images/json", "get"): ["400"],
    ("/networks", "get"): ["400"],
    ("/volumes", "get"): ["400"],
    ("/plugins", "get"): ["400"],
    ("/system/df", "get"): ["400"],
    ("/images/{name}/history", "get"): ["400"],
    ("/images/{name}/json", "get"): ["400"],
}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        spec = yaml.safe_load(f)
    defs = spec["definitions"]
    for name, props in NULLABLE.items():
        d = defs[name]
        # Some definitions are allOf compositions (HostConfig = Resources + more).
        holders = [d] + d.get("allOf", [])
        for prop in props:
            for h in holders:
                if prop in h.get("properties", {}):
                    h["properties"][prop]["x-nullable"] = True
    for (name, prop), low in MINIMUM.items():
        for h in [defs[name]] + defs[name].get("allOf", []):
            if prop in h.get("properties", {}):
                h["properties"][prop]["minimum"] = low
    for (path, method, status), props in NULLABLE_RESPONSE.items():
        responses = spec["paths"][path][method]["responses"]
        schema = (responses.get(status) or responses[str(status)])["schema"]
        for prop in props:
            schema["properties"][prop]["x-nullable"] = True
    for name in NULLABLE_DEFINITIONS:
        defs[name]["x-nullable"] = True
    for (path, method), statuses in EXTRA_STATUSES.items():
        responses = spec["paths"][path][method]["responses"]
        for st in statuses:
            responses.setdefault(st, {
                "description": "error (added by tests/compat/schemathesis/overlay.py)",
                "schema": {"$ref": "#/definitions/ErrorResponse"},
            })
    for arg in sys.argv[3:]:
        where, value = arg.split("=", 1)
        path, param = where.rsplit(":", 1)
        for p in spec["paths"][path]["get"].get("parameters", []):
            if p.get("in") == "path" and p["name"] == param:
                p["x-example"] = value
    with open(dst, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)


if __name__ == "__main__":
    main()
