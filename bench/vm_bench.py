#!/usr/bin/env python3
"""Issue #8 benchmarks: the VM sandbox beside the namespace sandbox and a
reference engine, in one run.

  sudo python3 bench/vm_bench.py --kernel build/vm-cache/kernel/current/vmlinux
         [--ref unix:///path/docker.sock] [--runs 20] [--exec-runs 20] [--idle 3]

  - `docker run --rm busybox true`: median / p90 of --runs, for --runtime
    arca-vm, the namespace sandbox and the reference engine
  - boot-to-agent: QEMU's start until the guest agent answers (arcad's debug
    log line "VM ... answered after N ms", one per VM started)
  - `docker exec c true` latency against a running VM, a namespace container
    and a reference container
  - host memory per idle VM: RSS and PSS of each QEMU process with --idle
    sleeping 128 MiB VMs (the namespace sandbox: its arca-agent's PSS)
Reports which accelerator ran (docker info). Targets (issue #8) under TCG:
run <= 1500 ms, exec <= 50 ms, RSS per idle VM <= 60 MiB; with KVM: run <=
300 ms, exec <= 20 ms. Loopback and unix sockets only.
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from arca_fixture import Arcad, busybox_archive, pids_by_cmdline  # noqa: E402
from e2e_bench import pss_kb, run, timed  # noqa: E402


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def engine_bench(env, runtime_args, args, label):
    print(f"== {label}", file=sys.stderr)
    res = {}
    run(env, "run", "--rm", "--network", "none", *runtime_args, "busybox", "true")  # warm-up
    res["run_rm_true"] = timed(env, ["run", "--rm", "--network", "none", *runtime_args, "busybox",
                                     "true"], args.runs)
    run(env, "rm", "-f", "benchvm", check=False)
    run(env, "run", "-d", "--network", "none", "--name", "benchvm", *runtime_args, "busybox",
        "sleep", "3600")
    run(env, "exec", "benchvm", "true")
    res["exec_true"] = timed(env, ["exec", "benchvm", "true"], args.exec_runs)
    run(env, "rm", "-f", "benchvm")
    return res


def idle_memory(env, a, runtime_args, n, marker):
    names = [f"benchidle{i}" for i in range(n)]
    for nm in names:
        run(env, "rm", "-f", nm, check=False)
        run(env, "run", "-d", "--network", "none", "--name", nm, *runtime_args, "busybox", "sleep",
            "3600")
    import time
    time.sleep(5)  # let the guests settle
    pids = pids_by_cmdline(lambda c: marker(c))
    out = None
    if pids:
        out = {"processes": len(pids),
               "avg_rss_mib": round(sum(rss_kb(p) for p in pids) / len(pids) / 1024, 1),
               "avg_pss_mib": round(sum(pss_kb(p) for p in pids) / len(pids) / 1024, 1)}
    for nm in names:
        run(env, "rm", "-f", nm, check=False)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--ref", default="")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--exec-runs", type=int, default=20)
    ap.add_argument("--idle", type=int, default=3)
    args = ap.parse_args()
    out = {}
    a = Arcad(args=["--vm-kernel", os.path.abspath(args.kernel)])
    try:
        a.start(timeout=120)
        tar, _ = busybox_archive(a.root)
        run(a.env, "load", "-i", tar)
        info = json.loads(run(a.env, "info", "--format", "{{json .}}").stdout)
        out["accelerator"] = [x for x in info["Runtimes"]["arca-vm"]["runtimeArgs"]
                              if x.startswith("accel=")][0][6:]
        out["warnings"] = info.get("Warnings")
        out["arca_vm"] = engine_bench(a.env, ["--runtime", "arca-vm"], args, "arca (arca-vm)")
        boots = [int(m) for m in re.findall(r"answered after (\d+) ms", open(a.log_path).read())]
        boots.sort()
        out["arca_vm"]["boot_to_agent_ms"] = {"median": boots[len(boots) // 2], "n": len(boots)}
        out["arca_vm"]["idle"] = idle_memory(
            a.env, a, ["--runtime", "arca-vm"], args.idle,
            lambda c: "qemu-system" in c and a.exec_root in c)
        out["arca_namespace"] = engine_bench(a.env, [], args, "arca (namespace)")
        out["arca_namespace"]["idle"] = idle_memory(
            a.env, a, [], args.idle,
            lambda c: c.split("\0")[0].endswith("arca-agent") and a.exec_root in c)
    finally:
        a.cleanup()
    if args.ref:
        env = dict(os.environ, DOCKER_HOST=args.ref)
        env.pop("DOCKER_CONTEXT", None)
        tmp = "/tmp/arca-vm-bench-ref"
        os.makedirs(tmp, exist_ok=True)
        tar, _ = busybox_archive(tmp)
        run(env, "load", "-i", tar)
        out["reference"] = engine_bench(env, [], args, "reference")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
