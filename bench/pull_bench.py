#!/usr/bin/env python3
"""docker pull of a 200 MB, 5-layer image from a loopback registry, side by side
with a reference engine, plus arcad's memory during the pull.

  sudo python3 bench/pull_bench.py [--ref unix:///path/docker.sock] [--runs 3] [--mib 40]

Each run removes the image from both engines, then times `docker pull` (the
CLI's wall time). arcad's peak RSS during the pull is read from VmHWM after
resetting it (/proc/PID/clear_refs 5). Layer unpack throughput alone is
measured by build/bin/arca-unpack-bench.
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
from arca_fixture import Arcad, DOCKER  # noqa: E402
import registry_fixture as rf  # noqa: E402


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pull_times(env, ref, runs, pid=None):
    times, peaks = [], []
    for _ in range(runs):
        subprocess.run([DOCKER, "rmi", "-f", ref], env=env, capture_output=True)
        subprocess.run([DOCKER, "image", "prune", "-f"], env=env, capture_output=True)
        if pid:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            base = status_kb(pid, "VmRSS")
        t0 = time.perf_counter()
        subprocess.run([DOCKER, "pull", "-q", ref], env=env, capture_output=True, check=True)
        times.append((time.perf_counter() - t0) * 1000)
        if pid:
            peaks.append((base, status_kb(pid, "VmHWM")))
    return times, peaks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default=os.environ.get("REF_DOCKER_HOST"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--mib", type=int, default=40)
    a = ap.parse_args()
    out = {}
    with rf.Registry() as reg:
        layers = [rf.random_layer(a.mib, name=f"l{i}.bin") for i in range(a.layers)]
        img = rf.push_image(reg.addr, "big", "1", layers)
        total = sum(img["layer_sizes"]) if "layer_sizes" in img else 0
        ref = f"{reg.addr}/big:1"
        out["image"] = {"layers": a.layers, "compressed_bytes": total}
        arcad = Arcad().start()
        try:
            t, peaks = pull_times(arcad.env, ref, a.runs, arcad.proc.pid)
            out["arcad"] = {"pull_ms": [round(x) for x in t], "median_ms": round(statistics.median(t)),
                            "rss_before_kb": [p[0] for p in peaks], "rss_peak_kb": [p[1] for p in peaks]}
        finally:
            arcad.cleanup()
        if a.ref:
            env = dict(os.environ, DOCKER_HOST=a.ref)
            t, _ = pull_times(env, ref, a.runs)
            out["reference"] = {"pull_ms": [round(x) for x in t], "median_ms": round(statistics.median(t))}
            out["ratio"] = round(out["arcad"]["median_ms"] / out["reference"]["median_ms"], 2)
            subprocess.run([DOCKER, "rmi", "-f", ref], env=env, capture_output=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
