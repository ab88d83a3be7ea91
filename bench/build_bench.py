#!/usr/bin/env python3
"""Issue #7 benchmark: `docker build` with the classic builder, arcad side by
side with a reference engine, one run.

  sudo python3 bench/build_bench.py [--ref unix:///path/docker.sock] [--runs 5]
         [--big-mb 4] [--only both|arca|ref]

A 20-step Dockerfile (FROM busybox, then a mix of RUN, COPY, ENV, LABEL,
WORKDIR, ARG, EXPOSE, USER, VOLUME and CMD; 5 RUNs, 3 COPYs of a 50-file
directory, a small file and a --big-mb MiB random file) on a context made once
and shared by both engines. Timed on the host around the docker CLI
(DOCKER_BUILDKIT=0 for both engines):
  - cold: `docker build --no-cache` (every step executed); the image and its
    untagged parents are removed after each run, untimed
  - cached: a rebuild with every step after FROM answered from the cache (the
    output is checked: 19 "Using cache"), after one untimed warm-up build
Rounds interleave the engines (alternating which goes first); each figure is
best and median of RUNS, in ms. Ratios arca/ref of the medians; targets
(issue #7): cached <= 0.5x, cold <= 1.0x. Everything made is removed afterwards.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from arca_fixture import Arcad, busybox_archive  # noqa: E402
from e2e_bench import run  # noqa: E402
from volume_bench import bench_all  # noqa: E402

DOCKERFILE = """\
FROM busybox
ENV APP=/app LANG=C.UTF-8
LABEL org.example.bench=1
WORKDIR /app
ARG VERSION=1
COPY files/ /app/files/
RUN mkdir -p /app/data && echo $VERSION > /app/version
COPY a.txt /app/a.txt
RUN cat /app/a.txt /app/files/f1 > /app/data/a.copy
ENV STAGE=build
RUN for i in $(seq 1 200); do echo $i; done > /app/data/seq
COPY big.bin /app/big.bin
RUN sha256sum /app/big.bin > /app/big.sum
LABEL org.example.stage=final
EXPOSE 8080
USER nobody
WORKDIR /app/data
RUN ls -la /app > /tmp/listing
VOLUME /app/cache
CMD ["sh", "-c", "cat /app/version"]
"""
STEPS = 20
TAG = "buildbench"


def make_context(root, big_mb):
    ctx = os.path.join(root, "ctx")
    os.makedirs(os.path.join(ctx, "files"))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    for i in range(50):
        with open(os.path.join(ctx, "files", f"f{i}"), "w") as f:
            f.write(f"file {i}\n" * 20)
    with open(os.path.join(ctx, "a.txt"), "w") as f:
        f.write("a\n")
    with open(os.path.join(ctx, "big.bin"), "wb") as f:
        f.write(os.urandom(big_mb << 20))
    return ctx


def build(env, ctx, *args):
    """Wall time (ms) of one `docker build`, and its output."""
    t0 = time.perf_counter()
    r = run(env, "build", *args, ctx, check=False)
    ms = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        raise RuntimeError(f"build {args}: rc {r.returncode}: {(r.stdout + r.stderr)[-500:]}")
    return ms, r.stdout


class Engine:
    def __init__(self, name, env, tar, ctx):
        self.name, self.env, self.ctx = name, env, ctx
        self.times = {"cold": [], "cached": []}
        run(env, "load", "-i", tar)
        self.teardown()
        self.res = {"server": run(env, "version", "--format", "{{.Server.Version}}").stdout.strip()}

    def measure(self, _args):
        """One cold build, then one fully cached rebuild (volume_bench's
        bench_all calls it once per round)."""
        ms, out = build(self.env, self.ctx, "--no-cache", "-t", f"{TAG}:cold")
        if out.count(" ---> Running in ") < 5 or "Using cache" in out:
            raise RuntimeError(f"cold build used the cache:\n{out[-800:]}")
        self.times["cold"].append(ms)
        run(self.env, "rmi", f"{TAG}:cold")  # and its untagged parents
        if not self.times["cached"]:
            build(self.env, self.ctx, "-t", TAG)  # warm-up: fills the cache
        ms, out = build(self.env, self.ctx, "-t", TAG)
        hits = out.count(" ---> Using cache\n")
        if hits != STEPS - 1:
            raise RuntimeError(f"cached build: {hits} cache hits, want {STEPS - 1}:\n{out[-800:]}")
        self.times["cached"].append(ms)

    def summary(self):
        for k, xs in self.times.items():
            if xs:
                self.res[f"{k}_best_ms"] = round(min(xs), 1)
                self.res[f"{k}_median_ms"] = round(statistics.median(xs), 1)
                self.res[f"{k}_all_ms"] = [round(x, 1) for x in xs]
        return self.res

    def teardown(self):
        run(self.env, "rmi", f"{TAG}:cold", f"{TAG}:latest", check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default=os.environ.get("REF_DOCKER_HOST", ""))
    ap.add_argument("--runs", type=int, default=5, help="rounds (interleaved engines)")
    ap.add_argument("--big-mb", type=int, default=4, help="size of the big COPY, MiB")
    ap.add_argument("--only", choices=("both", "arca", "ref"), default="both")
    args = ap.parse_args()
    if args.only == "ref" and not args.ref:
        ap.error("--only ref needs --ref (or REF_DOCKER_HOST)")
    out = {"steps": STEPS, "runs": args.runs, "big_mb": args.big_mb}
    work = tempfile.mkdtemp(prefix="arca-bbench-")
    a = None
    try:
        tar, _ = busybox_archive(work)
        ctx = make_context(work, args.big_mb)
        cfg = os.path.join(work, "docker-config")
        os.makedirs(cfg, exist_ok=True)
        engines = {}
        if args.only != "ref":
            a = Arcad(root=os.path.join(work, "arcad")).start()
            engines["arcad"] = Engine("arcad", dict(a.env, DOCKER_BUILDKIT="0"), tar, ctx)
        if args.ref and args.only != "arca":
            env = dict(os.environ, DOCKER_HOST=args.ref, DOCKER_CONFIG=cfg, DOCKER_BUILDKIT="0")
            env.pop("DOCKER_CONTEXT", None)
            env.pop("DOCKER_API_VERSION", None)
            engines["reference"] = Engine("reference", env, tar, ctx)
        try:
            bench_all(engines, args)
        finally:
            for name, e in engines.items():
                e.teardown()
                out[name] = e.summary()
        x, r = out.get("arcad", {}), out.get("reference", {})
        if x and r and "error" not in x and "error" not in r:
            ratio = lambda k: round(x[k] / r[k], 2) if r.get(k) else None
            out["ratios_arca_over_ref"] = {
                "cold_median": ratio("cold_median_ms"), "cold_best": ratio("cold_best_ms"),
                "cached_median": ratio("cached_median_ms"),
                "cached_best": ratio("cached_best_ms")}
            out["targets_met"] = {
                "cached_le_0.5x": out["ratios_arca_over_ref"]["cached_median"] <= 0.5,
                "cold_le_1.0x": out["ratios_arca_over_ref"]["cold_median"] <= 1.0}
        print(json.dumps(out, indent=2))
    finally:
        if a:
            a.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
