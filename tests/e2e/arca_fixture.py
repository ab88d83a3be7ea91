"""Test fixtures for Arca's end-to-end tests.

- busybox_archive() / make_archive(): a real `docker save` archive of a busybox image,
  built offline from Debian's static busybox (no registry needed).
- Arcad: starts build/bin/arcad on a temporary socket, data root and exec
  root, and cleans everything up (processes, mounts) afterwards.
- docker(): runs the real docker CLI against it.
"""
import atexit
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import unittest

BUSYBOX = "/bin/busybox"
DOCKER = os.environ.get("DOCKER_CLI", "/usr/local/bin/docker")
BIN = os.environ.get("ARCA_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bin")


def have_prereqs():
    """Returns a reason string when e2e tests cannot run here, else None."""
    if os.geteuid() != 0:
        return "e2e tests need root (namespaces, mounts)"
    for p in (BUSYBOX, DOCKER, os.path.join(BIN, "arcad"), os.path.join(BIN, "arca-agent"),
              os.path.join(BIN, "arca-nethelper")):
        if not os.path.exists(p):
            return f"missing {p}"
    if not shutil.which("runc"):
        return "missing runc"
    return None


def _layer_tar(files):
    """files: list of (path, kind, data/target, mode). Reproducible tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, kind, payload, mode in files:
            info = tarfile.TarInfo(path)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                t.addfile(info)
            else:
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def busybox_layer():
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    files = []
    for d in ["bin", "etc", "tmp", "root", "dev", "proc", "sys", "home", "var", "var/www"]:
        files.append((d, "dir", None, 0o1777 if d == "tmp" else 0o755))
    files.append(("var/www/index.html", "file", b"<h1>arca e2e page</h1>\n", 0o644))
    with open(BUSYBOX, "rb") as f:
        files.append(("bin/busybox", "file", f.read(), 0o755))
    for a in sorted(set(applets)):
        if a != "busybox":
            files.append((f"bin/{a}", "symlink", "busybox", 0o777))
    files.append(("etc/passwd", "file",
                  b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
                  0o644))
    files.append(("etc/group", "file", b"root:x:0:\nnogroup:x:65534:\n", 0o644))
    return _layer_tar(files)


def make_archive(path, tag="busybox:latest", layers=None, cmd=None, env=None, labels=None,
                 extra_config=None):
    """Writes a `docker save` archive (manifest.json form) with one image."""
    layers = layers if layers is not None else [busybox_layer()]
    diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd or ["sh"],
            "Labels": labels or None,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "arca e2e fixture"}],
    }
    if extra_config:
        config["config"].update(extra_config)
    cfg = json.dumps(config, sort_keys=True).encode()
    cfg_hex = hashlib.sha256(cfg).hexdigest()
    with tarfile.open(path, "w") as t:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
        add(f"{cfg_hex}.json", cfg)
        names = []
        for i, l in enumerate(layers):
            n = f"{hashlib.sha256(l).hexdigest()}/layer.tar"
            add(n, l)
            names.append(n)
        manifest = [{"Config": f"{cfg_hex}.json", "RepoTags": [tag] if tag else [],
                     "Layers": names}]
        add("manifest.json", json.dumps(manifest).encode())
    return "sha256:" + cfg_hex


_BUSYBOX_CACHE = {}


def busybox_archive(workdir):
    """A busybox docker-save archive, built once per test process."""
    if "path" not in _BUSYBOX_CACHE:
        d = tempfile.mkdtemp(prefix="arca-e2e-img-")
        atexit.register(shutil.rmtree, d, True)
        p = os.path.join(d, "busybox.tar")
        _BUSYBOX_CACHE["id"] = make_archive(p)
        _BUSYBOX_CACHE["path"] = p
    dst = os.path.join(workdir, "busybox.tar")
    if not os.path.exists(dst):
        shutil.copy(_BUSYBOX_CACHE["path"], dst)
    return dst, _BUSYBOX_CACHE["id"]


def pids_by_cmdline(pred):
    """PIDs of processes whose NUL-separated cmdline satisfies pred(cmdline)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if pred(cmd):
            out.append(int(pid))
    return out


class Arcad:
    """A live arcad on a temporary socket / data root / exec root."""

    @classmethod
    def with_busybox(cls):
        """Started, with the fixture's busybox:latest loaded."""
        a = cls().start()
        tar, image_id = busybox_archive(a.root)
        a.docker("load", "-i", tar, check=True)
        a.busybox_id = image_id
        return a

    def __init__(self, root=None, args=()):
        self.args = list(args)  # extra arcad flags
        if not any(a == "--dns" for a in self.args):
            # The embedded DNS never forwards a test's names off this machine:
            # nothing listens on 127.0.0.1:1, so unknown names get NXDOMAIN.
            self.args += ["--dns", "127.0.0.1:1"]
        self.root = root or tempfile.mkdtemp(prefix="arca-e2e-")
        self.sock = os.path.join(self.root, "arca.sock")
        self.data_root = os.path.join(self.root, "root")
        self.exec_root = os.path.join(self.root, "run")
        self.docker_config = os.path.join(self.root, "docker-config")
        os.makedirs(self.docker_config, exist_ok=True)
        self.proc = None
        self.log_path = os.path.join(self.root, "arcad.log")

    @property
    def env(self):
        e = dict(os.environ)
        e["DOCKER_HOST"] = f"unix://{self.sock}"
        e["DOCKER_CONFIG"] = self.docker_config
        e.pop("DOCKER_API_VERSION", None)
        e.pop("DOCKER_CONTEXT", None)
        return e

    def start(self, timeout=20):
        logf = open(self.log_path, "ab")
        if getattr(self, "_logf", None):
            self._logf.close()
        self._logf = logf
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "arcad"), "--host", f"unix://{self.sock}", "--data-root",
             self.data_root, "--exec-root", self.exec_root, "--log-level", "debug", *self.args],
            stdout=logf, stderr=logf, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"arcad exited {self.proc.returncode}:\n{self.log()}")
            r = subprocess.run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"],
                               env=self.env, capture_output=True, text=True)
            if r.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"arcad did not come up:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def docker(self, *args, check=False, timeout=120, input=None):
        r = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}\n--- arcad log ---\n{self.log()}")
        return r

    def replay(self, *args):
        return subprocess.run([os.path.join(BIN, "arca-replay"), "--data-root", self.data_root,
                               *args], capture_output=True, text=True, timeout=120)

    def cleanup(self):
        """Stops arcad, kills every agent and container it left, unmounts, removes files."""
        self.stop()
        if getattr(self, "_logf", None):
            self._logf.close()
            self._logf = None
        # Agents and their containers: anything whose cmdline names our roots.
        for pid in pids_by_cmdline(lambda cmd: self.exec_root in cmd or self.root in cmd):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # The helper's uplink: its host-side iptables rules (the interface goes
        # with the helper's namespace below).
        try:
            with open(os.path.join(self.exec_root, "uplink")) as f:
                uplink = f.read().strip()
        except OSError:
            uplink = ""
        if uplink:
            for table in ("filter", "nat"):
                rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True,
                                       text=True).stdout.splitlines()
                for rule in rules:
                    if uplink in rule.split() and rule.startswith("-A "):
                        subprocess.run(["iptables", "-t", table, "-D", *rule.split()[1:]],
                                       capture_output=True)
            subprocess.run(["ip", "link", "del", uplink], capture_output=True)
        runc_root = os.path.join(self.exec_root, "runc")
        if os.path.isdir(runc_root):
            for cid in os.listdir(runc_root):
                subprocess.run(["runc", "--root", runc_root, "delete", "-f", cid],
                               capture_output=True)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(self.root)), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


class ArcadTestCase(unittest.TestCase):
    """A test class sharing one live arcad with the fixture's busybox loaded."""

    @classmethod
    def setUpClass(cls):
        cls.arcad = Arcad.with_busybox()

    @classmethod
    def tearDownClass(cls):
        cls.arcad.cleanup()

    def d(self, *args, **kw):
        return self.arcad.docker(*args, **kw)


class ComposeTestCase(unittest.TestCase):
    """A live arcad (busybox loaded) and a docker-compose project directory
    holding COMPOSE (a class attribute) as docker-compose.yml; PROJECT names it."""
    COMPOSE = ""
    PROJECT = "arca"

    @classmethod
    def setUpClass(cls):
        cls.a = Arcad.with_busybox()
        cls.dir = tempfile.mkdtemp(prefix="arca-compose-")
        with open(os.path.join(cls.dir, "docker-compose.yml"), "w") as f:
            f.write(cls.COMPOSE)

    @classmethod
    def tearDownClass(cls):
        cls.compose("down", "-v", "-t", "1")
        cls.a.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def compose(cls, *args):
        return subprocess.run(["docker-compose", "-p", cls.PROJECT, *args], cwd=cls.dir,
                              env=cls.a.env, capture_output=True, text=True, timeout=180)
