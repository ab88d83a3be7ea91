"""Helpers for the `docker build` e2e tests (issue #7).

- engine(): a live arcad with the fixture's busybox loaded, or, when
  ARCA_E2E_REFERENCE names a running dockerd (e.g.
  unix:///tmp/refd/docker.sock), that engine instead, so every expectation
  can be checked against Docker's real behaviour. Both have DOCKER_BUILDKIT=0
  in their env (the classic builder; the CLI prints its deprecation warning on
  stderr either way).
- BuildCase: a unittest base with one engine per class, temporary build
  contexts, a `build()` wrapper and `steps()` that splits the CLI's output by
  "Step N/M : ".
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from arca_fixture import DOCKER, Arcad, busybox_archive, have_prereqs

REFERENCE = os.environ.get("ARCA_E2E_REFERENCE", "")


def skip_reason():
    """Why these tests cannot run here, else None."""
    if REFERENCE:
        r = subprocess.run([DOCKER, "version"], env=dict(os.environ, DOCKER_HOST=REFERENCE),
                           capture_output=True, text=True)
        return None if r.returncode == 0 else f"reference {REFERENCE} is not answering"
    return have_prereqs()


class BuildArcad(Arcad):
    """arcad, with the classic builder selected in the CLI's env."""

    @property
    def env(self):
        e = super().env
        e["DOCKER_BUILDKIT"] = "0"
        return e


class ReferenceEngine(BuildArcad):
    """A running dockerd behind Arcad's interface (docker(), env, sock, log(),
    cleanup()); start() is never called. Remembers what existed at the start
    and cleanup() removes what the tests added."""

    def __init__(self, host):
        super().__init__()
        self.host = host
        self.sock = host[len("unix://"):]
        tar, self.busybox_id = busybox_archive(self.root)
        self.docker("load", "-i", tar, check=True)
        self.base_containers = set(self._ids("ps", "-aq", "--no-trunc"))
        self.base_images = set(self._ids("images", "-aq", "--no-trunc"))
        self.base_refs = set(self._refs())
        self.base_networks = set(self._ids("network", "ls", "-q", "--no-trunc"))

    @property
    def env(self):
        e = super().env
        e["DOCKER_HOST"] = self.host
        return e

    def log(self):
        return ""

    def _ids(self, *args):
        return self.docker(*args, check=True).stdout.split()

    def _refs(self):
        out = self._ids("images", "--format", "{{.Repository}}:{{.Tag}}")
        return [r for r in out if "<none>" not in r]

    def cleanup(self):
        new = [c for c in self._ids("ps", "-aq", "--no-trunc") if c not in self.base_containers]
        if new:
            self.docker("rm", "-f", *new)
        new = [n for n in self._ids("network", "ls", "-q", "--no-trunc")
               if n not in self.base_networks]
        if new:
            self.docker("network", "rm", *new)
        refs = [r for r in self._refs() if r not in self.base_refs]
        if refs:
            self.docker("rmi", *refs)
        for _ in range(10):  # children first: a parent refuses while it has some
            new = [i for i in self._ids("images", "-aq", "--no-trunc") if i not in self.base_images]
            if not new:
                break
            self.docker("rmi", *new)
        shutil.rmtree(self.root, ignore_errors=True)


def engine():
    """The engine under test: the reference dockerd if ARCA_E2E_REFERENCE is set."""
    if REFERENCE:
        return ReferenceEngine(REFERENCE)
    return BuildArcad.with_busybox()


STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$", re.M)


def steps(out):
    """{step number: (instruction text, the output lines up to the next step)}."""
    marks = list(STEP.finditer(out))
    res = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(out)
        res[int(m.group(1))] = (m.group(3), out[m.end():end])
    return res


def write_tree(root, files):
    """files: {relative path: str | bytes}; parents are created."""
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return root


class BuildCase(unittest.TestCase):
    """One engine per class, a work dir for contexts, and build helpers."""

    @classmethod
    def setUpClass(cls):
        cls.eng = engine()
        cls.work = tempfile.mkdtemp(prefix="arca-build-")

    @classmethod
    def tearDownClass(cls):
        cls.eng.cleanup()
        shutil.rmtree(cls.work, ignore_errors=True)

    def d(self, *args, check=False, **kw):
        return self.eng.docker(*args, check=check, **kw)

    def ok(self, *args, **kw):
        return self.d(*args, check=True, **kw)

    def ctx(self, files):
        """A fresh context dir holding files; returns its path."""
        return write_tree(tempfile.mkdtemp(dir=self.work), files)

    def build(self, ctx, *args, check=True, input=None):
        r = self.d("build", *args, ctx, input=input)
        if check and r.returncode != 0:
            self.fail(f"build {args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n"
                      f"{self.eng.log()}")
        return r

    def image_id(self, ref):
        return self.ok("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()

    def history(self, ref):
        """created_by of each layer of ref, newest first."""
        out = self.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).stdout
        return out.rstrip("\n").split("\n")

    def containers(self):
        return set(self.ok("ps", "-aq", "--no-trunc").stdout.split())
