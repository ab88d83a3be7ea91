#!/usr/bin/env python3
"""Issue #6 benchmarks: volume and bind-mount I/O, arcad side by side with a
reference engine, one run.

  sudo python3 bench/volume_bench.py [--ref unix:///path/docker.sock] [--mb 1024]
         [--files 10000] [--runs 5] [--dir /tmp] [--only both|arca|ref]

For each engine, one long-running busybox container (`--network none`) has a
named volume (`-v vbenchvol:/vol`) and a bind mount of a fresh host directory
(`-v <dir>/...:/bind`). In each of the two:
  - sequential write: `dd if=/dev/zero of=F bs=1M count=MB conv=fsync`
  - sequential read: `dd if=F of=/dev/null bs=1M`, page cache dropped first
    (`echo 3 > /proc/sys/vm/drop_caches` on the host)
  - small-file create rate: FILES files of 4 KiB written by one busybox shell
    loop with the `echo` builtin (no fork per file), no sync in the timing
Rounds interleave the engines (alternating which goes first); each figure is
the best of RUNS, timed on the host around `docker exec` less
the median of an empty `docker exec` (start-up cost excluded; busybox `date`
has no %N and Debian's busybox `dd` prints no rate). Before each timed run the
previous data is removed, `sync`ed and the page cache dropped.
MiB/s and files/s; ratios arca/ref (target >= 0.95).

Both engines' data roots (hence the named volumes) and the bind directories
live on the filesystem of --dir (default /tmp, where the reference's data root
is in bench/README.md); the JSON reports each path's filesystem type
(`stat -f -c %T`) and whether they share one device, so the comparison is on
the same kind of filesystem. Everything made is removed afterwards.
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

CTR = "vbench"
VOL = "vbenchvol"


def fs_info(path):
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return {"path": path, "fs_type": r.stdout.strip() or r.stderr.strip(),
            "device": os.stat(path).st_dev}


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def exec_base(env):
    """Median time (s) of an empty `docker exec`."""
    xs = []
    for _ in range(5):
        t0 = time.perf_counter()
        run(env, "exec", CTR, "true")
        xs.append(time.perf_counter() - t0)
    return statistics.median(xs)


def timed_exec(env, script, base):
    """Seconds spent in `sh -c script` in the container, less an empty exec."""
    t0 = time.perf_counter()
    r = run(env, "exec", CTR, "sh", "-c", script, check=False)
    secs = time.perf_counter() - t0 - base
    if r.returncode != 0:
        raise RuntimeError(f"exec {script!r}: rc {r.returncode}: {(r.stdout + r.stderr)[-300:]}")
    return secs, r.stdout + r.stderr


def prepare(env, script):
    """Untimed clean-up in the container, then sync and an empty page cache."""
    run(env, "exec", CTR, "sh", "-c", script)
    drop_caches()


def seq_once(env, d, mb, base):
    """One write and one cold read of an mb MiB file in container dir d: MiB/s."""
    f = f"{d}/f"
    prepare(env, f"rm -f {f}; sync")
    secs_w, out = timed_exec(env, f"dd if=/dev/zero of={f} bs=1M count={mb} conv=fsync", base)
    if f"{mb}+0 records out" not in out:
        raise RuntimeError(f"write in {d}: {out[-300:]}")
    drop_caches()
    secs_r, out = timed_exec(env, f"dd if={f} of=/dev/null bs=1M", base)
    if f"{mb}+0 records out" not in out:
        raise RuntimeError(f"read in {d}: {out[-300:]}")
    prepare(env, f"rm -f {f}; sync")
    return mb / max(secs_w, 1e-6), mb / max(secs_r, 1e-6)


def small_once(env, d, n, base):
    """The rate of creating n 4 KiB files in a fresh dir under container dir d."""
    sf = f"{d}/sf"
    # 4095 'x' + the newline echo adds = 4096 bytes; echo is an ash builtin.
    script = (f's=$(head -c 4095 /dev/zero | tr "\\0" x); cd {sf} && i=0; '
              f'while [ $i -lt {n} ]; do echo "$s" > f$i; i=$((i+1)); done')
    prepare(env, f"rm -rf {sf}; mkdir {sf}; sync")
    secs, _ = timed_exec(env, script, base)
    cnt = run(env, "exec", CTR, "sh", "-c", f"ls {sf} | wc -l").stdout.strip()
    size = run(env, "exec", CTR, "sh", "-c", f"wc -c < {sf}/f0").stdout.strip()
    if cnt != str(n) or size != "4096":
        raise RuntimeError(f"small files in {d}: {cnt} files, f0 {size} bytes")
    prepare(env, f"rm -rf {sf}; sync")
    return n / max(secs, 1e-6)


class Engine:
    """One engine's container with a named volume on /vol and a bind on /bind."""

    def __init__(self, name, env, tar, args, data_root):
        self.name, self.env, self.res, self.bind = name, env, {}, None
        self.res["data_root"] = fs_info(data_root)
        self.bind = tempfile.mkdtemp(prefix=f"arca-vbench-bind-{name}-", dir=args.dir)
        self.res["bind_dir"] = fs_info(self.bind)
        run(env, "load", "-i", tar)
        self.teardown(keep_bind=True)
        run(env, "volume", "create", VOL)
        mp = json.loads(run(env, "volume", "inspect", VOL).stdout)[0]["Mountpoint"]
        self.res["volume"] = fs_info(mp)
        run(env, "run", "-d", "--name", CTR, "--network", "none", "-v", f"{VOL}:/vol",
            "-v", f"{self.bind}:/bind", "busybox", "sleep", "36000")
        run(env, "exec", CTR, "true")  # warm-up
        self.base = exec_base(env)
        self.res["empty_exec_ms"] = round(self.base * 1000, 1)

    def measure(self, args):
        """One round of every figure; the best so far is kept."""
        for key, d in (("volume", "/vol"), ("bind", "/bind")):
            w, r = seq_once(self.env, d, args.mb, self.base)
            f = small_once(self.env, d, args.files, self.base)
            for k, v in ((f"{key}_write_mib_per_s", w), (f"{key}_read_mib_per_s", r),
                         (f"{key}_small_files_per_s", f)):
                self.res[k] = round(max(self.res.get(k, 0.0), v), 1)

    def teardown(self, keep_bind=False):
        run(self.env, "rm", "-f", CTR, check=False)
        run(self.env, "volume", "rm", "-f", VOL, check=False)
        if not keep_bind and self.bind:
            shutil.rmtree(self.bind, ignore_errors=True)


def bench_all(engines, args):
    """Rounds interleave the engines (their order alternating), so drift of the
    disk or the page cache over the run hits both alike; best of RUNS each."""
    live = dict(engines)
    for i in range(args.runs):
        order = list(live.items())
        if i % 2:
            order.reverse()
        for name, e in order:
            print(f"== round {i + 1}/{args.runs}: {name}", file=sys.stderr)
            try:
                e.measure(args)
            except Exception as ex:  # keep the other engine's figures
                print(f"{name}: {ex}", file=sys.stderr)
                e.res["error"] = str(ex)[-500:]
                live.pop(name)


KEYS = [f"{k}_{m}" for k in ("volume", "bind")
        for m in ("write_mib_per_s", "read_mib_per_s", "small_files_per_s")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default=os.environ.get("REF_DOCKER_HOST", ""))
    ap.add_argument("--mb", type=int, default=1024, help="file size for dd, MiB")
    ap.add_argument("--files", type=int, default=10000, help="4 KiB files to create")
    ap.add_argument("--runs", type=int, default=5, help="best of RUNS (interleaved rounds)")
    ap.add_argument("--dir", default="/tmp",
                    help="where arcad's data root and the bind dirs go (the reference's fs)")
    ap.add_argument("--only", choices=("both", "arca", "ref"), default="both")
    args = ap.parse_args()
    if args.only == "ref" and not args.ref:
        ap.error("--only ref needs --ref (or REF_DOCKER_HOST)")
    out = {"mb": args.mb, "files": args.files, "runs": args.runs}
    work = tempfile.mkdtemp(prefix="arca-vbench-", dir=args.dir)
    a = None
    try:
        tar, _ = busybox_archive(work)
        cfg = os.path.join(work, "docker-config")
        os.makedirs(cfg, exist_ok=True)
        engines = {}
        if args.only != "ref":
            a = Arcad(root=os.path.join(work, "arcad")).start()
            engines["arcad"] = Engine("arcad", a.env, tar, args, a.data_root)
        if args.ref and args.only != "arca":
            env = dict(os.environ, DOCKER_HOST=args.ref, DOCKER_CONFIG=cfg)
            env.pop("DOCKER_CONTEXT", None)
            root = run(env, "info", "--format", "{{.DockerRootDir}}").stdout.strip()
            engines["reference"] = Engine("reference", env, tar, args, root)
        try:
            bench_all(engines, args)
        finally:
            for name, e in engines.items():
                e.teardown()
                out[name] = e.res
        x, r = out.get("arcad", {}), out.get("reference", {})
        if "error" not in x and "error" not in r and x and r:
            out["ratios_arca_over_ref"] = {
                k: round(x[k] / r[k], 2) if r[k] else None for k in KEYS}
            out["same_filesystem"] = {
                "data_roots_same_device": x["data_root"]["device"] == r["data_root"]["device"],
                "fs_types": sorted({v[p]["fs_type"] for v in (x, r)
                                    for p in ("data_root", "bind_dir", "volume")}),
            }
        print(json.dumps(out, indent=2))
    finally:
        if a:
            a.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
