#!/usr/bin/env python3
"""End-to-end benchmarks of arcad, side by side with a reference engine.

  sudo python3 bench/e2e_bench.py [--ref unix:///path/docker.sock] [--runs 20]

Measures, on the same machine in the same run:
  - GET /_ping requests/s on one keep-alive connection
  - `docker run --rm --network none busybox true` latency (median, p90)
  - `docker ps -a` at 0 / 100 / 500 containers (median of 10)
  - GET /containers/json?all=1 with 1,000 containers (median latency)
The reference (REF_DOCKER_HOST or --ref) is optional; without it only arcad
is measured. Everything runs against loopback unix sockets.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from arca_fixture import Arcad, busybox_archive, pids_by_cmdline, DOCKER, BIN  # noqa: E402


def run(env, *args, check=True):
    r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {r.stderr}")
    return r


def timed(env, args, n):
    xs = []
    for _ in range(n):
        t0 = time.perf_counter()
        run(env, *args)
        xs.append((time.perf_counter() - t0) * 1000)
    xs.sort()
    return {"median_ms": round(statistics.median(xs), 1), "p90_ms": round(xs[int(len(xs) * 0.9) - 1], 1)}


def http(sock, path, n, method="GET"):
    out = subprocess.run([os.path.join(BIN, "arca-http-client-bench"), "--socket", sock, "--path",
                          path, "--method", method, "--requests", str(n)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def containers(env, n, prefix):
    have = len(run(env, "ps", "-aq", "--filter", f"name={prefix}").stdout.split())
    for i in range(have, n):
        run(env, "create", "--network", "none", "--name", f"{prefix}{i}", "busybox", "true")


def cleanup(env, prefix):
    ids = run(env, "ps", "-aq", "--filter", f"name={prefix}").stdout.split()
    for i in range(0, len(ids), 100):
        run(env, "rm", "-f", *ids[i:i + 100], check=False)


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def shim_pss(marker, n=10):
    """Average PSS (KiB) and threads of the per-container process (arca-agent or
    containerd-shim) with n sleeping containers running."""
    pids = pids_by_cmdline(lambda cmd: marker in cmd.split("\0")[0])
    if not pids:
        return None
    total = sum(pss_kb(p) for p in pids)
    threads = sum(len(os.listdir(f"/proc/{p}/task")) for p in pids if os.path.exists(f"/proc/{p}/task"))
    return {"processes": len(pids), "avg_pss_kb": total // len(pids),
            "avg_threads": round(threads / len(pids), 1)}


def bench_engine(name, env, sock, runs, tar, shim_marker):
    print(f"== {name}", file=sys.stderr)
    res = {}
    run(env, "load", "-i", tar)
    res["ping_rps"] = http(sock, "/_ping", 20000)["rps"]
    run(env, "run", "--rm", "--network", "none", "busybox", "true")  # warm-up
    res["run_rm_true"] = timed(env, ["run", "--rm", "--network", "none", "busybox", "true"], runs)
    prefix = "benchps"
    cleanup(env, prefix)
    for n in (0, 100, 500):
        containers(env, n, prefix)
        res[f"ps_a_{n}"] = timed(env, ["ps", "-a"], 10)
    containers(env, 1000, prefix)
    res["containers_json_1000"] = http(sock, "/containers/json?all=1", 200)
    cleanup(env, prefix)
    for i in range(10):
        run(env, "run", "-d", "--network", "none", "--name", f"benchmem{i}", "busybox", "sleep", "600")
    time.sleep(1)
    res["per_container_process"] = shim_pss(shim_marker)
    cleanup(env, "benchmem")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default=os.environ.get("REF_DOCKER_HOST", ""))
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    a = Arcad().start()
    try:
        tar, _ = busybox_archive(a.root)
        out = {"arcad": bench_engine("arcad", a.env, a.sock, args.runs, tar, "arca-agent")}
        if args.ref:
            env = dict(os.environ, DOCKER_HOST=args.ref, DOCKER_CONFIG=a.docker_config)
            out["reference"] = bench_engine("reference", env, args.ref.replace("unix://", ""),
                                            args.runs, tar, "containerd-shim")
        print(json.dumps(out, indent=2))
    finally:
        a.cleanup()


if __name__ == "__main__":
    main()
