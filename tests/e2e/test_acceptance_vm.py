"""Issue #8: the VM sandbox (--runtime arca-vm), the issue's acceptance sequence
with the real docker CLI and docker-compose against a live arcad.

Every container here is its own QEMU microVM booting the kernel that
kernel/build.sh made (ARCA_VM_KERNEL; scripts/test.sh builds it). On these
machines KVM does not boot a guest, so the VMs run under TCG: few boots, and
generous timeouts."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from arca_fixture import DOCKER, Arcad, busybox_archive, have_prereqs, pids_by_cmdline  # noqa: E402
from pty_fixture import Pty  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL = os.environ.get("ARCA_VM_KERNEL") or os.path.join(REPO, "build", "vm-cache", "kernel",
                                                         "current", "vmlinux")
# scripts/test.sh sets ARCA_VM_KERNEL: then a missing kernel is a failure, not a skip.
REQUIRED = bool(os.environ.get("ARCA_VM_KERNEL"))
VM = ["--runtime", "arca-vm"]


def vm_prereqs():
    if not os.path.exists(KERNEL):
        if REQUIRED:
            raise AssertionError(f"ARCA_VM_KERNEL={KERNEL} does not exist")
        return f"no guest kernel at {KERNEL} (kernel/build.sh build/vm-cache)"
    if subprocess.run(["which", "qemu-system-x86_64"], capture_output=True).returncode != 0:
        if REQUIRED:
            raise AssertionError("qemu-system-x86_64 is missing")
        return "qemu-system-x86_64 missing"
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_arcad(extra=()):
    a = Arcad(args=["--vm-kernel", KERNEL, *extra])
    a.start(timeout=120)
    tar, image_id = busybox_archive(a.root)
    a.docker("load", "-i", tar, check=True)
    return a


@unittest.skipIf(have_prereqs() is not None, str(have_prereqs()))
class VmAcceptance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = vm_prereqs()
        if why:
            raise unittest.SkipTest(why)
        cls.a = start_arcad()  # --vm-accel auto: the accelerator is probed by a boot
        cls.port = free_port()

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()

    def d(self, *args, **kw):
        kw.setdefault("timeout", 240)
        return self.a.docker(*args, **kw)

    def test_1_info_lists_the_runtime_and_the_accelerator(self):
        info = json.loads(self.d("info", "--format", "{{json .}}", check=True).stdout)
        self.assertIn("arca-vm", info["Runtimes"])
        self.assertIn("runc", info["Runtimes"])
        self.assertEqual(info["DefaultRuntime"], "runc")
        args = info["Runtimes"]["arca-vm"].get("runtimeArgs") or []
        accel = [x for x in args if x.startswith("accel=")]
        self.assertEqual(len(accel), 1, args)
        if accel[0] == "accel=tcg":  # said, never hidden
            self.assertTrue(any("TCG" in w for w in info.get("Warnings") or []), info.get("Warnings"))
        if os.path.exists("/sys/module/kvm_pvm"):  # this project's machines: KVM boots nothing
            self.assertEqual(accel[0], "accel=tcg")
        # An unknown runtime is refused at create, as dockerd does.
        r = self.d("create", "--runtime", "nope", "busybox", "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown or invalid runtime name: nope", r.stderr)

    def test_2_run_uname_and_exit_code(self):
        r = self.d("run", "--rm", *VM, "busybox", "uname", "-r", check=True)
        guest = r.stdout.strip()
        self.assertRegex(guest, r"^6\.1\.\d+")  # the guest kernel (linux-source-6.1) ...
        self.assertNotEqual(guest, os.uname().release)  # ... not the host's
        r = self.d("run", "--rm", *VM, "busybox", "sh", "-c", "exit 4")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(self.d("ps", "-aq").stdout.strip(), "")  # --rm removed both
        # docker start of an exited VM container boots a new VM on the same
        # writable layer; a restart policy does the same on its own.
        r = self.d("run", "--name", "again", *VM, "busybox", "sh", "-c",
                   "cat /n 2>/dev/null; echo x >> /n; wc -l < /n", check=True)
        self.assertEqual(r.stdout.split(), ["1"])
        r = self.d("start", "-a", "again", check=True)
        self.assertEqual(r.stdout.split(), ["x", "2"])
        self.d("rm", "again", check=True)
        self.d("run", "-d", "--name", "flaky", *VM, "--restart", "on-failure:1", "busybox", "sh",
               "-c", "exit 1", check=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            st = json.loads(self.d("inspect", "flaky", check=True).stdout)[0]
            if st["RestartCount"] == 1 and not st["State"]["Running"] and not st["State"]["Restarting"]:
                break
            time.sleep(1)
        self.assertEqual(st["RestartCount"], 1)
        self.assertEqual(st["State"]["ExitCode"], 1)
        self.d("rm", "-f", "flaky", check=True)

    def test_3_interactive_terminal(self):
        p = Pty([DOCKER, "run", "-it", "--rm", *VM, "busybox", "sh"], self.a.env, rows=24, cols=80)
        try:
            p.expect(r"/ # ", timeout=120)
            p.send("stty size\r")
            p.expect(r"24 80")
            mark = len(p.text())
            p.resize(30, 90)
            time.sleep(0.5)
            p.send("stty size\r")
            p.expect(r"30 90", start=mark)
            p.send("exit 6\r")
            self.assertEqual(p.wait(timeout=60), 6)
        finally:
            p.close()

    def test_4_network_ports_dns_exec_stats_pause(self):
        d = self.d
        d("network", "create", "app", check=True)
        d("run", "-d", "--name", "vweb", *VM, "--network", "app", "-p", f"127.0.0.1:{self.port}:80",
          "busybox", "sh", "-c",
          "mkdir -p /www && echo hello-from-the-vm > /www/index.html && exec httpd -f -p 80 -h /www",
          check=True)
        body = ""
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        self.assertEqual(body.strip(), "hello-from-the-vm")
        # A namespace container on the same network reaches the VM by name.
        r = d("run", "--rm", "--network", "app", "busybox", "wget", "-qO-", "http://vweb/", check=True)
        self.assertEqual(r.stdout.strip(), "hello-from-the-vm")
        # docker network connect on the running VM: a spare NIC takes the endpoint.
        d("network", "create", "app2", check=True)
        d("network", "connect", "app2", "vweb", check=True)
        r = d("run", "--rm", "--network", "app2", "busybox", "wget", "-qO-", "http://vweb/", check=True)
        self.assertEqual(r.stdout.strip(), "hello-from-the-vm")
        d("network", "create", "app3", check=True)
        d("network", "connect", "app3", "vweb", check=True)
        d("network", "create", "app4", check=True)
        r = d("network", "connect", "app4", "vweb")  # two spares per VM: a clear refusal
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no spare NIC left", r.stderr)
        nets = json.loads(d("inspect", "-f", "{{json .NetworkSettings.Networks}}", "vweb").stdout)
        self.assertEqual(sorted(nets), ["app", "app2", "app3"])
        # docker exec runs in the guest: one vCPU, the guest's kernel.
        r = d("exec", "vweb", "sh", "-c", "grep -c processor /proc/cpuinfo; uname -r", check=True)
        cpus, release = r.stdout.split()
        self.assertEqual(cpus, "1")
        self.assertNotEqual(release, os.uname().release)
        self.assertEqual(d("exec", "vweb", "sh", "-c", "exit 3").returncode, 3)
        st = json.loads(d("stats", "--no-stream", "--format", "{{json .}}", "vweb", check=True).stdout)
        self.assertEqual(st["Name"], "vweb")
        self.assertNotEqual(st["MemUsage"].split("/")[0].strip(), "0B")
        d("pause", "vweb", check=True)  # the processes freeze, then the vCPUs stop (QMP)
        self.assertEqual(d("inspect", "-f", "{{.State.Status}}", "vweb").stdout.strip(), "paused")
        st = json.loads(d("stats", "--no-stream", "--format", "{{json .}}", "vweb", check=True).stdout)
        self.assertEqual(st["Name"], "vweb")  # the counters taken at pause
        time.sleep(3)
        d("unpause", "vweb", check=True)
        # The guest's clock stood still with its vCPUs; unpause sets it again.
        guest = int(d("exec", "vweb", "date", "+%s", check=True).stdout)
        self.assertLessEqual(abs(guest - time.time()), 2)
        top = d("top", "vweb", check=True).stdout
        self.assertIn("httpd", top)
        # The container's files stay the host's: diff and cp see what the guest wrote.
        self.assertIn("A /www/index.html", d("diff", "vweb", check=True).stdout)
        r = d("cp", "vweb:/www/index.html", "-", check=True)
        self.assertIn("hello-from-the-vm", r.stdout)

    def test_5_volume_shared_with_the_guest(self):
        self.d("run", "--rm", "-v", "data:/d", "busybox", "sh", "-c", "echo 42 > /d/x", check=True)
        r = self.d("run", "--rm", *VM, "-v", "data:/d", "busybox", "sh", "-c",
                   "cat /d/x; echo 43 > /d/y", check=True)
        self.assertEqual(r.stdout.strip(), "42")
        r = self.d("run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/y", check=True)
        self.assertEqual(r.stdout.strip(), "43")
        # A read-only bind is read-only to the whole guest (the host side of the share too).
        host = tempfile.mkdtemp(prefix="arca-vm-ro-", dir=self.a.root)
        with open(os.path.join(host, "f"), "w") as f:
            f.write("ro-data\n")
        r = self.d("run", "--rm", *VM, "-v", f"{host}:/x:ro", "busybox", "sh", "-c",
                   "cat /x/f; echo no > /x/g")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ro-data", r.stdout)
        self.assertIn("Read-only file system", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(host, "g")))

    def test_6_vm_survives_an_arcad_kill(self):
        self.a.kill9()
        self.a.start(timeout=120)
        self.d("exec", "vweb", "true", check=True)
        self.assertEqual(self.d("inspect", "-f", "{{.State.Running}}", "vweb").stdout.strip(), "true")
        r = self.d("logs", "vweb")
        self.assertEqual(r.returncode, 0)
        self.d("rm", "-f", "vweb", check=True)
        # Its QEMU is gone with it.
        deadline = time.time() + 10
        while pids_by_cmdline(lambda c: "qemu" in c and self.a.exec_root in c) and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(pids_by_cmdline(lambda c: "qemu" in c and self.a.exec_root in c), [])

    def test_8_resources_size_the_vm_and_health_checks_run_in_it(self):
        # --cpus gives vCPUs, --memory the guest's RAM (the limit + 64 MiB).
        r = self.d("run", "--rm", *VM, "-m", "256m", "--cpus", "2", "busybox", "sh", "-c",
                   "grep -c processor /proc/cpuinfo; grep MemTotal /proc/meminfo", check=True)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], str(min(2, os.cpu_count())))
        mem_kb = int(lines[1].split()[1])
        self.assertGreater(mem_kb, 256 * 1024)
        self.assertLess(mem_kb, 330 * 1024)
        self.d("run", "-d", "--name", "vhealth", *VM, "--health-cmd", "test -e /tmp",
               "--health-interval", "1s", "busybox", "sleep", "600", check=True)
        deadline = time.time() + 90
        status = ""
        while time.time() < deadline and status != "healthy":
            status = self.d("inspect", "-f", "{{.State.Health.Status}}", "vhealth").stdout.strip()
            time.sleep(1)
        self.assertEqual(status, "healthy")
        self.d("rm", "-f", "vhealth", check=True)

    def test_7_what_a_vm_cannot_do_is_refused_clearly(self):
        r = self.d("run", "--rm", *VM, "--network", "host", "busybox", "true")
        self.assertEqual(r.returncode, 125)
        self.assertIn("cannot share the network namespace of the host", r.stderr)
        r = self.d("run", "--rm", *VM, "--device", "/dev/null:/dev/xnull", "busybox", "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot pass host devices", r.stderr)


@unittest.skipIf(have_prereqs() is not None, str(have_prereqs()))
class VmDefaultRuntimeCompose(unittest.TestCase):
    """arcad --default-runtime arca-vm: a compose app whose containers are all VMs."""

    COMPOSE = """version: "2.4"
services:
  web:
    image: busybox
    command: sh -c "echo compose-vm > /i.html && exec httpd -f -p 80 -h / "
  client:
    image: busybox
    command: sh -c "sleep 600"
"""

    @classmethod
    def setUpClass(cls):
        why = vm_prereqs()
        if why:
            raise unittest.SkipTest(why)
        cls.a = start_arcad(["--default-runtime", "arca-vm", "--vm-accel", "tcg"])
        cls.dir = tempfile.mkdtemp(prefix="arca-compose-vm-")
        with open(os.path.join(cls.dir, "docker-compose.yml"), "w") as f:
            f.write(cls.COMPOSE)

    @classmethod
    def tearDownClass(cls):
        cls.compose("down", "-t", "1")
        cls.a.cleanup()

    @classmethod
    def compose(cls, *args):
        return subprocess.run(["docker-compose", "-p", "vmapp", *args], cwd=cls.dir, env=cls.a.env,
                              capture_output=True, text=True, timeout=400)

    def test_compose_app_of_vms(self):
        info = json.loads(self.a.docker("info", "--format", "{{json .}}", check=True).stdout)
        self.assertEqual(info["DefaultRuntime"], "arca-vm")
        r = self.compose("up", "-d")
        self.assertEqual(r.returncode, 0, r.stderr + self.a.log())
        for svc in ("web", "client"):
            cid = self.a.docker("ps", "-q", "--filter", f"label=com.docker.compose.service={svc}",
                                check=True).stdout.strip()
            self.assertTrue(cid, svc)
            rt = self.a.docker("inspect", "-f", "{{.HostConfig.Runtime}}", cid, check=True).stdout
            self.assertEqual(rt.strip(), "arca-vm")
        cid = self.a.docker("ps", "-q", "--filter", "label=com.docker.compose.service=client").stdout.strip()
        r = self.a.docker("exec", cid, "wget", "-qO-", "http://web/i.html", timeout=120)
        self.assertEqual(r.stdout.strip(), "compose-vm", r.stderr)
        r = self.compose("down", "-t", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.a.docker("ps", "-aq").stdout.strip(), "")


if __name__ == "__main__":
    unittest.main()
