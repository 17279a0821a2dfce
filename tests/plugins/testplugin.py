#!/usr/bin/env python3
"""A Docker legacy plugin for berth's tests, stdlib only.

One process implements any of: a network driver + IPAM ("net"), a volume
driver ("volume"), an authorization plugin ("authz"). It listens on a unix
socket or on 127.0.0.1 TCP and can write its own .spec/.json file. Every call
is appended to --log as one JSON line {"method", "body", "headers"}.

Fault switches: --slow METHOD=SECONDS answers that method late, --garbage
METHOD answers it with bytes that are not HTTP, --crash METHOD exits the
process in the middle of that call.
"""

import argparse
import http.server
import ipaddress
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time

LOCK = threading.Lock()
ARGS = None
STATE = {"nets": {}, "eps": {}, "pools": {}, "vols": {}, "mounts": {}}


def log(method, body, headers):
    if not ARGS.log:
        return
    with LOCK, open(ARGS.log, "a") as f:
        f.write(json.dumps({"method": method, "body": body, "headers": headers}) + "\n")


def ip_cmd(*args):
    subprocess.run(["ip", *args], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Fail(Exception):
    pass


# ---- network driver ---------------------------------------------------------

def net_call(m, b):
    if m == "GetCapabilities":
        return {"Scope": "local", "ConnectivityScope": "local"}
    if m == "CreateNetwork":
        STATE["nets"][b["NetworkID"]] = b
        return {}
    if m == "DeleteNetwork":
        STATE["nets"].pop(b["NetworkID"], None)
        return {}
    if m == "CreateEndpoint":
        if b["NetworkID"] not in STATE["nets"]:
            raise Fail("no such network " + b["NetworkID"])
        iface = b.get("Interface") or {}
        eid = b["EndpointID"]
        out = {}
        if not iface.get("MacAddress"):
            out["MacAddress"] = "02:7e:57:%s:%s:%s" % (eid[0:2], eid[2:4], eid[4:6])
        STATE["eps"][eid] = {"net": b["NetworkID"], "mac": iface.get("MacAddress") or out.get("MacAddress")}
        return {"Interface": out}
    if m == "EndpointOperInfo":
        return {"Value": {"plugin": ARGS.name, "endpoint": b["EndpointID"]}}
    if m == "Join":
        eid = b["EndpointID"]
        host, peer = "tn" + eid[:10], "tp" + eid[:10]
        ip_cmd("link", "add", host, "type", "veth", "peer", "name", peer)
        ip_cmd("link", "set", host, "up")
        net = STATE["nets"].get(STATE["eps"].get(eid, {}).get("net"), {})
        gw = ""
        for d in net.get("IPv4Data") or []:
            if d.get("Gateway"):
                gw = d["Gateway"].split("/")[0]
        return {
            "InterfaceName": {"SrcName": peer, "DstPrefix": ARGS.dst_prefix},
            "Gateway": gw,
            "StaticRoutes": [{"Destination": "192.0.2.0/24", "RouteType": 1}],
        }
    if m == "Leave":
        return {}
    if m == "DeleteEndpoint":
        eid = b["EndpointID"]
        ip_cmd("link", "del", "tn" + eid[:10])
        STATE["eps"].pop(eid, None)
        return {}
    if m in ("ProgramExternalConnectivity", "RevokeExternalConnectivity", "DiscoverNew", "DiscoverDelete"):
        return {}
    return None


def ipam_call(m, b):
    pools = STATE["pools"]
    if m == "GetCapabilities":
        return {"RequiresMACAddress": False, "RequiresRequestReplay": False}
    if m == "GetDefaultAddressSpaces":
        return {"LocalDefaultAddressSpace": "testlocal", "GlobalDefaultAddressSpace": "testglobal"}
    if m == "RequestPool":
        want = b.get("Pool") or ""
        if want:
            net = ipaddress.ip_network(want)
            if any(p["net"].overlaps(net) for p in pools.values()):
                return {"Error": "invalid pool request: Pool overlaps with other one on this address space"}
        else:
            net = None
            for cand in ipaddress.ip_network(ARGS.pool_base).subnets(new_prefix=24):
                if not any(p["net"].overlaps(cand) for p in pools.values()):
                    net = cand
                    break
            if net is None:
                return {"Error": "no free pool"}
        pid = "%s/%s" % (b.get("AddressSpace"), net)
        pools[pid] = {"net": net, "used": set()}
        return {"PoolID": pid, "Pool": str(net), "Data": {}}
    if m == "ReleasePool":
        pools.pop(b["PoolID"], None)
        return {}
    if m == "RequestAddress":
        p = pools.get(b["PoolID"])
        if p is None:
            return {"Error": "no such pool " + b["PoolID"]}
        want = b.get("Address") or ""
        if want:
            a = ipaddress.ip_address(want)
            if a not in p["net"]:
                return {"Error": "address %s not in pool" % a}
            if a in p["used"]:
                return {"Error": "address %s already allocated" % a}
        else:
            a = next((h for h in p["net"].hosts() if h not in p["used"]), None)
            if a is None:
                return {"Error": "pool exhausted"}
        p["used"].add(a)
        return {"Address": "%s/%d" % (a, p["net"].prefixlen), "Data": {}}
    if m == "ReleaseAddress":
        p = pools.get(b["PoolID"])
        if p is not None:
            p["used"].discard(ipaddress.ip_address(b["Address"]))
        return {}
    return None


# ---- volume driver -------------------------------------------------------------

def vol_call(m, b):
    vols = STATE["vols"]
    root = ARGS.volume_root
    name = b.get("Name", "")
    path = os.path.join(root, name)
    if m == "Capabilities":
        return {"Capabilities": {"Scope": "local"}}
    if m == "Create":
        os.makedirs(path, exist_ok=True)
        vols.setdefault(name, {"opts": b.get("Opts") or {}, "mounts": set()})
        return {}
    if m == "List":
        return {"Volumes": [{"Name": n, "Mountpoint": os.path.join(root, n)} for n in sorted(vols)]}
    if name not in vols:
        if m in ("Get", "Path", "Remove", "Mount", "Unmount"):
            return {"Err": "no such volume"}
        return None
    v = vols[name]
    if m == "Get":
        return {"Volume": {"Name": name, "Mountpoint": path, "CreatedAt": "2024-01-02T03:04:05Z",
                           "Status": {"opts": v["opts"], "mounts": len(v["mounts"])}}}
    if m == "Path":
        return {"Mountpoint": path}
    if m == "Mount":
        v["mounts"].add(b["ID"])
        return {"Mountpoint": path}
    if m == "Unmount":
        v["mounts"].discard(b["ID"])
        return {}
    if m == "Remove":
        if v["mounts"]:
            return {"Err": "volume %s is mounted" % name}
        subprocess.run(["rm", "-rf", path], check=False)
        del vols[name]
        return {}
    return None


# ---- authorization -------------------------------------------------------------

def authz_call(m, b):
    if m == "AuthZReq":
        uri = b.get("RequestUri", "")
        if ARGS.deny_method and b.get("RequestMethod") == ARGS.deny_method and ARGS.deny_uri in uri:
            return {"Allow": False, "Msg": ARGS.deny_msg}
        return {"Allow": True}
    if m == "AuthZRes":
        return {"Allow": True}
    return None


IMPLEMENTS = {"net": ["NetworkDriver", "IpamDriver"], "volume": ["VolumeDriver"], "authz": ["authz"]}
DISPATCH = {"NetworkDriver": net_call, "IpamDriver": ipam_call, "VolumeDriver": vol_call, "AuthZPlugin": authz_call}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):
        return "plugin-client"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj=None, raw=None):
        data = raw if raw is not None else (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        method = self.path.lstrip("/")
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = {"_raw": raw.decode("latin-1")}
        log(method, body, dict(self.headers))
        if method in ARGS.crash:
            os._exit(3)
        if method in ARGS.garbage:
            self.wfile.write(b"\x00\xffgarbage, not HTTP at all\r\n\r\n\x07")
            self.wfile.flush()
            self.close_connection = True
            return
        if method in ARGS.slow_map:
            time.sleep(ARGS.slow_map[method])
        if method == "Plugin.Activate":
            impl = []
            for k in ARGS.kind:
                impl += IMPLEMENTS[k]
            return self.reply(200, {"Implements": impl})
        iface, _, m = method.partition(".")
        fn = DISPATCH.get(iface)
        try:
            with LOCK:
                out = fn(m, body if isinstance(body, dict) else {}) if fn else None
        except Fail as e:
            return self.reply(500, {"Err": str(e)})
        except Exception as e:  # a bug here must show up in the test, not hang it
            return self.reply(500, {"Err": "plugin error: %r" % (e,)})
        if out is None:
            return self.reply(404, raw=b"404 page not found\n")
        self.reply(200, out)


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def write_file(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--kind", action="append", choices=sorted(IMPLEMENTS), required=True)
    p.add_argument("--sock", help="listen on this unix socket")
    p.add_argument("--tcp", action="store_true", help="listen on 127.0.0.1:<free port>")
    p.add_argument("--spec", help="write a .spec file pointing at the listener")
    p.add_argument("--json", help="write a .json spec file pointing at the listener")
    p.add_argument("--log")
    p.add_argument("--pool-base", default="10.199.0.0/16")
    p.add_argument("--dst-prefix", default="eth")
    p.add_argument("--volume-root", default="/tmp/testplugin-volumes")
    p.add_argument("--deny-method", default="")
    p.add_argument("--deny-uri", default="")
    p.add_argument("--deny-msg", default="denied by test policy")
    p.add_argument("--slow", action="append", default=[], help="METHOD=SECONDS")
    p.add_argument("--garbage", action="append", default=[])
    p.add_argument("--crash", action="append", default=[])
    p.add_argument("--ready", help="touch this file once listening")
    ARGS = p.parse_args()
    ARGS.slow_map = {k: float(v) for k, v in (s.split("=", 1) for s in ARGS.slow)}
    if ARGS.tcp:
        srv = TcpServer(("127.0.0.1", 0), Handler)
        addr = "tcp://127.0.0.1:%d" % srv.server_address[1]
    else:
        os.makedirs(os.path.dirname(ARGS.sock), exist_ok=True)
        try:
            os.unlink(ARGS.sock)
        except FileNotFoundError:
            pass
        srv = UnixServer(ARGS.sock, Handler)
        addr = "unix://" + ARGS.sock
    if ARGS.spec:
        write_file(ARGS.spec, addr + "\n")
    if ARGS.json:
        write_file(ARGS.json, json.dumps({"Name": ARGS.name, "Addr": addr}))
    if ARGS.ready:
        write_file(ARGS.ready, addr)
    try:
        srv.serve_forever()
    finally:
        if not ARGS.tcp:
            try:
                os.unlink(ARGS.sock)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
