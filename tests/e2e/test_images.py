"""docker save / load round trips, import, history, image prune and system df,
with the real docker CLI against a live arcad."""
import io
import json
import os
import subprocess
import tarfile
import time
import unittest

import arca_fixture
from arca_fixture import Arcad, have_prereqs, DOCKER

SKIP = have_prereqs()


def tar_members(path):
    with tarfile.open(path) as t:
        return {m.name: m for m in t.getmembers()}


def tar_json(path, name):
    with tarfile.open(path) as t:
        return json.load(t.extractfile(name))


def small_tar(files):
    """A plain tar holding files {name: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@unittest.skipIf(SKIP, SKIP)
class Images(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Arcad.with_busybox()
        cls.rootfs = os.path.join(cls.a.root, "rootfs")
        os.makedirs(cls.rootfs)
        with tarfile.open(fileobj=io.BytesIO(arca_fixture.busybox_layer())) as t:
            t.extractall(cls.rootfs)

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()

    def d(self, *args, **kw):
        return self.a.docker(*args, **kw)

    def path(self, name):
        return os.path.join(self.a.root, name)

    def import_rootfs(self, *args):
        """`tar -C rootfs -c . | docker import ARGS - ...`; returns the CLI result."""
        cmd = f"tar -C {self.rootfs} -c . | {DOCKER} import {' '.join(args)}"
        return subprocess.run(cmd, shell=True, env=self.a.env, capture_output=True, text=True,
                              timeout=60)

    def import_bytes(self, data, *args):
        return subprocess.run([DOCKER, "import", *args], input=data, env=self.a.env,
                              capture_output=True, timeout=60)

    def test_save_rmi_load_run(self):
        out = self.path("b.tar")
        self.d("save", "busybox", "-o", out, check=True)
        members = tar_members(out)
        for name in ("oci-layout", "index.json", "manifest.json", "repositories"):
            self.assertIn(name, members)
        manifest = tar_json(out, "manifest.json")
        self.assertEqual(len(manifest), 1)
        self.assertEqual(manifest[0]["RepoTags"], ["busybox:latest"])
        self.assertEqual(manifest[0]["Config"], "blobs/sha256/" + self.a.busybox_id[7:])
        for layer in manifest[0]["Layers"]:
            self.assertIn(layer, members)
        index = tar_json(out, "index.json")
        ann = index["manifests"][0]["annotations"]
        self.assertEqual(ann["io.containerd.image.name"], "docker.io/library/busybox:latest")
        self.assertEqual(ann["org.opencontainers.image.ref.name"], "latest")

        self.d("rmi", "busybox", check=True)
        r = self.d("load", "-i", out, check=True)
        self.assertIn("Loaded image: busybox:latest", r.stdout)
        r = self.d("run", "--rm", "--network", "none", "busybox", "echo", "back", check=True)
        self.assertEqual(r.stdout, "back\n")
        r = self.d("save", "nosuch:image", "-o", self.path("x.tar"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such image: nosuch:image", r.stderr)

    def test_save_two_images_and_by_id(self):
        self.d("tag", "busybox", "two:1", check=True)
        r = self.import_bytes(small_tar({"hello.txt": b"hi\n"}), "-")
        self.assertEqual(r.returncode, 0, r.stderr)
        untagged = r.stdout.decode().strip()
        self.assertRegex(untagged, r"^sha256:[0-9a-f]{64}$")
        out = self.path("two.tar")
        self.d("save", "-o", out, "two:1", untagged[7:19], check=True)
        manifest = tar_json(out, "manifest.json")
        self.assertEqual([m["RepoTags"] for m in manifest], [["two:1"], None])
        self.assertEqual(manifest[1]["Config"], "blobs/sha256/" + untagged[7:])
        # Both come back from the archive.
        self.d("rmi", untagged, check=True)
        self.d("rmi", "two:1", check=True)
        r = self.d("load", "-i", out, check=True)
        self.assertIn("Loaded image: two:1", r.stdout)
        self.d("image", "inspect", untagged, check=True)
        self.d("rmi", "two:1", untagged, check=True)

    def test_history(self):
        r = self.d("history", "busybox", check=True)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"])
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[1].startswith(self.a.busybox_id[7:19]))
        self.assertIn("arca e2e fixture", lines[1])
        self.assertIn("MB", lines[1])
        r = self.d("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}", "busybox", check=True)
        self.assertEqual(r.stdout.strip(), self.a.busybox_id + "|arca e2e fixture")
        r = self.d("history", "nosuch")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such image", r.stderr)

    def test_import_and_run(self):
        r = self.import_rootfs("-c", "'CMD [\"sh\"]'", "-", "imported:1")
        self.assertEqual(r.returncode, 0, r.stderr)
        image_id = r.stdout.strip()
        self.assertRegex(image_id, r"^sha256:[0-9a-f]{64}$")
        self.d("run", "--rm", "--network", "none", "imported:1", "true", check=True)
        r = self.d("image", "inspect", "-f", "{{json .Config.Cmd}} {{.Comment}} {{.Os}}", "imported:1",
                   check=True)
        self.assertEqual(r.stdout.strip(), '["sh"] Imported from - linux')

        r = self.import_rootfs("--change", "'ENV A=1'", "-c", "'WORKDIR /tmp'", "-m", "msg", "-",
                               "imported:2")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.d("image", "inspect", "-f", "{{json .Config.Env}} {{.Config.WorkingDir}} {{.Comment}}",
                   "imported:2", check=True)
        self.assertEqual(r.stdout.strip(), '["A=1"] /tmp msg')
        r = self.d("run", "--rm", "--network", "none", "imported:2", "sh", "-c", "echo $A $(pwd)",
                   check=True)
        self.assertEqual(r.stdout, "1 /tmp\n")
        r = self.d("history", "--format", "{{.Comment}}", "imported:2", check=True)
        self.assertEqual(r.stdout.strip(), "msg")
        # A gzip body imports too.
        subprocess.run(f"tar -C {self.rootfs} -cz . > {self.path('rootfs.tgz')}", shell=True, check=True)
        self.d("import", "-c", "CMD [\"sh\"]", self.path("rootfs.tgz"), "imported:gz", check=True)
        r = self.d("run", "--rm", "--network", "none", "imported:gz", "echo", "gz", check=True)
        self.assertEqual(r.stdout, "gz\n")
        # ... and saves, its layer decompressed for the archive.
        self.d("save", "-o", self.path("gz.tar"), "imported:gz", check=True)
        self.d("rmi", "imported:gz", check=True)
        self.d("load", "-i", self.path("gz.tar"), check=True)
        self.d("run", "--rm", "--network", "none", "imported:gz", "true", check=True)
        self.d("rmi", "imported:1", "imported:2", "imported:gz", check=True)

    def test_import_errors(self):
        tar = small_tar({"a": b"a"})
        r = self.import_bytes(tar, "-c", "FOO x", "-")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("foo is not a valid change command", r.stderr.decode())
        r = self.import_bytes(tar, "-c", "ENV a", "-")
        self.assertIn("ENV must have two arguments", r.stderr.decode())
        r = self.d("import", "http://127.0.0.1:9/x.tar")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("importing from a URL", r.stderr)

    def test_prune(self):
        # Dangling only: an untagged import goes, tagged images stay.
        r = self.import_bytes(small_tar({"d": b"dangling"}), "-")
        dangling = r.stdout.decode().strip()
        r = self.d("image", "prune", "-f", check=True)
        self.assertIn("deleted: " + dangling, r.stdout)
        self.assertIn("Total reclaimed space:", r.stdout)
        self.assertNotEqual(self.d("image", "inspect", dangling).returncode, 0)
        self.d("image", "inspect", "busybox", check=True)

        # -a: every image no container uses; containers (any state) keep theirs.
        self.import_bytes(small_tar({"k": b"keep"}), "-", "keep:1")
        self.import_bytes(small_tar({"g": b"gone" * 1000}), "-", "gone:1")
        self.d("create", "--network", "none", "--name", "pk1", "keep:1", "true", check=True)
        self.d("create", "--network", "none", "--name", "pk2", "busybox", "true", check=True)
        r = self.d("image", "prune", "-a", "-f", check=True)
        self.assertIn("untagged: gone:1", r.stdout)
        self.assertNotIn("keep:1", r.stdout)
        self.assertNotIn("busybox", r.stdout)
        self.assertRegex(r.stdout, r"Total reclaimed space: [1-9][0-9.]*kB")
        r = self.d("images", "--format", "{{.Repository}}:{{.Tag}}", check=True)
        self.assertIn("keep:1", r.stdout)
        self.assertIn("busybox:latest", r.stdout)
        self.assertNotIn("gone:1", r.stdout)
        self.d("rm", "pk1", "pk2", check=True)
        self.d("rmi", "keep:1", check=True)

    def test_system_df(self):
        self.d("create", "--network", "none", "--name", "df1", "busybox", "true", check=True)
        try:
            r = self.d("system", "df", check=True)
            rows = {l.split()[0]: l.split() for l in r.stdout.splitlines()}
            self.assertEqual(rows["TYPE"][:3], ["TYPE", "TOTAL", "ACTIVE"])
            self.assertGreaterEqual(int(rows["Images"][1]), 1)
            self.assertGreaterEqual(int(rows["Images"][2]), 1)
            self.assertGreaterEqual(int(rows["Containers"][1]), 1)
            self.assertIn("Local", rows)
            self.assertIn("Build", rows)
            r = self.d("system", "df", "-v", check=True)
            self.assertIn("Images space usage:", r.stdout)
            self.assertIn("Containers space usage:", r.stdout)
            self.assertRegex(r.stdout, r"busybox\s+latest\s+" + self.a.busybox_id[7:19])
            self.assertRegex(r.stdout, r"busybox\s+\"true\"\s+0\s+0B\s+.*df1")
            r = self.d("system", "df", "--format", "{{json .}}", check=True)
            kinds = [json.loads(l)["Type"] for l in r.stdout.splitlines()]
            self.assertEqual(kinds, ["Images", "Containers", "Local Volumes", "Build Cache"])
        finally:
            self.d("rm", "df1")

    def test_events(self):
        since = str(int(time.time()) - 1)
        self.d("save", "-o", self.path("ev.tar"), "busybox", check=True)
        r = self.import_bytes(small_tar({"e": b"event"}), "-", "evimp:1")
        image_id = r.stdout.decode().strip()
        self.d("rmi", "evimp:1", check=True)
        time.sleep(1.1)  # --until is sent in whole seconds
        r = self.d("events", "--since", since, "--until", "0s", "--filter", "type=image",
                   "--format", "{{.Action}} {{.Actor.ID}}", check=True)
        lines = r.stdout.splitlines()
        self.assertIn("save " + self.a.busybox_id, lines)
        self.assertIn("import " + image_id, lines)
        self.assertIn("untag " + image_id, lines)
        self.assertIn("delete " + image_id, lines)


if __name__ == "__main__":
    unittest.main()
