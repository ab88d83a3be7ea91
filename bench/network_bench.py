#!/usr/bin/env python3
"""Issue #5 benchmarks: arcad side by side with a reference engine, one run.

  sudo python3 bench/network_bench.py [--ref unix:///path/docker.sock] [--mb 512]
         [--lookups 2000]

  - container-to-container TCP throughput on one user network: busybox
    `dd | nc` into `nc -l > /dev/null` (MiB/s, best of 3)
  - published-port TCP throughput from the host (127.0.0.1:port -> container
    port) through the userland proxy (docker-proxy for the reference, which
    runs with --iptables=false) (MiB/s, best of 3)
  - DNS name lookup latency of a container's name from another container on
    the same network: UDP queries sent from the client container's network
    namespace to its resolv.conf nameserver (p50, p90 in ms)
Targets (issue #5): throughput >= 0.9x the reference's; lookup p50 < 1 ms.
Traffic stays on loopback and inside the engines' namespaces.
"""
import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from arca_fixture import Arcad, busybox_archive, DOCKER  # noqa: E402
from e2e_bench import run  # noqa: E402

LOOKUP = r"""
import socket, struct, sys, time, statistics
server, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = lambda i: struct.pack("!HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + b"".join(
    bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((server, 53))
lat = []
fails = 0
for i in range(n):
    t0 = time.perf_counter()
    s.send(q(i))
    try:
        r = s.recv(512)
    except socket.timeout:
        fails += 1
        continue
    dt = time.perf_counter() - t0
    if struct.unpack("!H", r[6:8])[0] < 1:
        fails += 1
        continue
    lat.append(dt * 1000)
lat.sort()
print(f"{statistics.median(lat) if lat else -1} {lat[int(len(lat) * 0.9)] if lat else -1} {fails}")
"""


def inspect(env, name):
    return json.loads(run(env, "inspect", name).stdout)[0]


def c2c_throughput(env, net, mb):
    """MiB/s from a client container to a server container (by address).
    Timed on the host around `docker exec`, less an empty exec's time."""
    run(env, "rm", "-f", "nbsrv", "nbcli", check=False)
    run(env, "run", "-d", "--name", "nbsrv", "--network", net, "busybox", "sh", "-c",
        "while true; do sleep 100000 | nc -l -p 5001 > /dev/null; done")
    run(env, "run", "-d", "--name", "nbcli", "--network", net, "busybox", "sleep", "600")
    ip = inspect(env, "nbsrv")["NetworkSettings"]["Networks"][net]["IPAddress"]
    time.sleep(0.5)
    empty = []
    for _ in range(5):
        t0 = time.perf_counter()
        run(env, "exec", "nbcli", "true")
        empty.append(time.perf_counter() - t0)
    base = statistics.median(empty)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        r = run(env, "exec", "nbcli", "sh", "-c",
                f"dd if=/dev/zero bs=1M count={mb} 2>/tmp/dd | nc {ip} 5001; cat /tmp/dd",
                check=False)
        secs = time.perf_counter() - t0 - base
        if f"{mb}+0 records out" not in r.stdout or secs <= 0:
            continue
        best = max(best, mb / secs)
        time.sleep(0.5)
    run(env, "rm", "-f", "nbsrv", "nbcli", check=False)
    return round(best, 1)


def port_throughput(env, mb, port):
    """MiB/s from the host through a published port into a container."""
    run(env, "rm", "-f", "nbpub", check=False)
    run(env, "run", "-d", "--name", "nbpub", "-p", f"127.0.0.1:{port}:5001", "busybox", "sh",
        "-c", "while true; do sleep 100000 | nc -l -p 5001 > /dev/null; done")
    time.sleep(0.5)
    chunk = b"\0" * (1 << 20)
    best = 0.0
    done = 0
    for _ in range(8):  # 3 good runs; a run that meets a restarting server is retried
        if done == 3:
            break
        try:
            s = socket.create_connection(("127.0.0.1", port))
            t0 = time.perf_counter()
            for _ in range(mb):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)  # EOF once the container side has read everything
            dt = time.perf_counter() - t0
            s.close()
        except OSError:
            time.sleep(0.5)
            continue
        done += 1
        best = max(best, mb / dt)
        time.sleep(0.5)
    run(env, "rm", "-f", "nbpub", check=False)
    return round(best, 1)


def lookup_latency(env, net, n):
    run(env, "rm", "-f", "nbname", "nbcli", check=False)
    run(env, "run", "-d", "--name", "nbname", "--network", net, "busybox", "sleep", "600")
    run(env, "run", "-d", "--name", "nbcli", "--network", net, "busybox", "sleep", "600")
    pid = inspect(env, "nbcli")["State"]["Pid"]
    resolv = run(env, "exec", "nbcli", "cat", "/etc/resolv.conf").stdout
    server = [l.split()[1] for l in resolv.splitlines() if l.startswith("nameserver")][0]
    r = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", LOOKUP,
                        server, "nbname", str(n)], capture_output=True, text=True, timeout=300)
    run(env, "rm", "-f", "nbname", "nbcli", check=False)
    try:
        p50, p90, fails = r.stdout.split()
    except ValueError:
        return {"error": (r.stdout + r.stderr)[-300:]}
    return {"server": server, "p50_ms": round(float(p50), 3), "p90_ms": round(float(p90), 3),
            "failed": int(fails), "queries": n}


def bench(name, env, tar, args, port):
    print(f"== {name}", file=sys.stderr)
    run(env, "load", "-i", tar)
    run(env, "network", "rm", "nbnet", check=False)
    run(env, "network", "create", "nbnet")
    res = {
        "c2c_mib_per_s": c2c_throughput(env, "nbnet", args.mb),
        "published_port_mib_per_s": port_throughput(env, args.mb, port),
        "dns_lookup": lookup_latency(env, "nbnet", args.lookups),
    }
    run(env, "network", "rm", "nbnet", check=False)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default=os.environ.get("REF_DOCKER_HOST", ""))
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--lookups", type=int, default=2000)
    args = ap.parse_args()
    a = Arcad().start()
    try:
        tar, _ = busybox_archive(a.root)
        out = {"arcad": bench("arcad", a.env, tar, args, 18501)}
        if args.ref:
            env = dict(os.environ, DOCKER_HOST=args.ref, DOCKER_CONFIG=a.docker_config)
            out["reference"] = bench("reference", env, tar, args, 18502)
            r, x = out["reference"], out["arcad"]
            ratio = lambda k: round(x[k] / r[k], 2) if r[k] else None
            out["ratios"] = {
                "c2c_throughput_arca_over_ref": ratio("c2c_mib_per_s"),
                "published_port_arca_over_ref": ratio("published_port_mib_per_s"),
            }
        print(json.dumps(out, indent=2))
    finally:
        a.cleanup()


if __name__ == "__main__":
    main()
