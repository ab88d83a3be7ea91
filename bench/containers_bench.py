#!/usr/bin/env python3
"""Issue #4 benchmarks: arcad side by side with a reference engine, one run.

  sudo python3 bench/containers_bench.py [--ref unix:///path/docker.sock]
         [--exec-runs 40] [--log-mb 500] [--idle 50]

  - `docker exec c true` latency (median, p90) against a running container
  - `docker logs c > /dev/null` throughput for a container that wrote
    --log-mb MB of 100-byte lines (MiB of log text per second)
  - per-container memory with --idle sleeping containers: PSS of the
    per-container process (arca-agent / containerd-shim), averaged
Targets (issue #4): exec <= 0.5x the reference's latency, logs >= 5x its
throughput, per-container PSS <= 0.5x. Loopback unix sockets only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from arca_fixture import Arcad, busybox_archive, DOCKER  # noqa: E402
from e2e_bench import cleanup, run, shim_pss, timed  # noqa: E402


def logs_throughput(env, mb):
    name = "benchlogs"
    run(env, "rm", "-f", name, check=False)
    line = "x" * 99
    n = mb * 1000 * 1000 // 100
    run(env, "run", "--network", "none", "--name", name, "busybox", "sh", "-c",
        f"yes {line} | head -n {n}")
    # The log is complete once the container has exited (the agent flushed it).
    best = None
    for _ in range(2):
        t0 = time.perf_counter()
        p = subprocess.run([DOCKER, "logs", name], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        size = len(p.stdout)
        mibs = size / (1 << 20) / dt
        best = max(best or 0, mibs)
    run(env, "rm", "-f", name, check=False)
    return {"bytes": size, "mib_per_s": round(best, 1)}


def bench(name, env, tar, args, shim_marker):
    print(f"== {name}", file=sys.stderr)
    res = {}
    run(env, "load", "-i", tar)
    run(env, "rm", "-f", "benchexec", check=False)
    run(env, "run", "-d", "--network", "none", "--name", "benchexec", "busybox", "sleep", "600")
    run(env, "exec", "benchexec", "true")  # warm-up
    res["exec_true"] = timed(env, ["exec", "benchexec", "true"], args.exec_runs)
    run(env, "rm", "-f", "benchexec")
    res["logs"] = logs_throughput(env, args.log_mb)
    cleanup(env, "benchidle")
    for i in range(args.idle):
        run(env, "run", "-d", "--network", "none", "--name", f"benchidle{i}", "busybox",
            "sleep", "600")
    time.sleep(2)
    res["per_container_process"] = shim_pss(shim_marker)
    cleanup(env, "benchidle")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default=os.environ.get("REF_DOCKER_HOST", ""))
    ap.add_argument("--exec-runs", type=int, default=40)
    ap.add_argument("--log-mb", type=int, default=500)
    ap.add_argument("--idle", type=int, default=50)
    args = ap.parse_args()
    a = Arcad().start()
    try:
        tar, _ = busybox_archive(a.root)
        out = {"arcad": bench("arcad", a.env, tar, args, "arca-agent")}
        if args.ref:
            env = dict(os.environ, DOCKER_HOST=args.ref, DOCKER_CONFIG=a.docker_config)
            out["reference"] = bench("reference", env, tar, args, "containerd-shim")
            r, x = out["reference"], out["arcad"]
            out["ratios"] = {
                "exec_latency_arca_over_ref": round(x["exec_true"]["median_ms"] /
                                                    r["exec_true"]["median_ms"], 2),
                "logs_throughput_arca_over_ref": round(x["logs"]["mib_per_s"] /
                                                       r["logs"]["mib_per_s"], 2),
                "pss_arca_over_ref": round(x["per_container_process"]["avg_pss_kb"] /
                                           r["per_container_process"]["avg_pss_kb"], 2),
            }
        print(json.dumps(out, indent=2))
    finally:
        a.cleanup()


if __name__ == "__main__":
    main()
