"""docker cp / export / diff / commit against a live arcad, with the real docker CLI.

No `docker exec` here: contents are checked with `docker cp c:path -` and with
`docker run` of committed images.
"""
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import unittest

from arca_fixture import DOCKER, Arcad, have_prereqs

REASON = have_prereqs()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


@unittest.skipIf(REASON, REASON or "")
class FilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Arcad.with_busybox()
        cls.work = tempfile.mkdtemp(prefix="arca-e2e-files-")
        cls.a.docker("run", "-d", "--name", "svc", "--network", "none", "busybox",
                     "sleep", "1000", check=True)

    @classmethod
    def tearDownClass(cls):
        cls.a.docker("rm", "-f", "svc")
        cls.a.cleanup()
        shutil.rmtree(cls.work, ignore_errors=True)

    def docker(self, *args, **kw):
        return self.a.docker(*args, **kw)

    def api(self, method, path, body=None, headers=None):
        c = UnixHTTPConnection(self.a.sock)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def tar_of(self, container_path):
        """`docker cp c:path -` as {name: TarInfo/bytes}."""
        r = subprocess.run([DOCKER, "cp", container_path, "-"], env=self.a.env,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = {}
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
            for m in t.getmembers():
                out[m.name] = (m, t.extractfile(m).read() if m.isfile() else None)
        return out

    def make_dir(self, name):
        d = os.path.join(self.work, name)
        os.makedirs(os.path.join(d, "sub"), exist_ok=True)
        with open(os.path.join(d, "sub", "x"), "w") as f:
            f.write("hello\n")
        with open(os.path.join(d, "y"), "w") as f:
            f.write("top\n")
        return d

    def test_cp_dir_into_running_container_and_back(self):
        d = self.make_dir("dir")
        self.docker("cp", d, "svc:/tmp/", check=True)
        t = self.tar_of("svc:/tmp/dir")
        self.assertIn("dir", t)
        self.assertTrue(t["dir"][0].isdir())
        self.assertEqual(t["dir/sub/x"][1], b"hello\n")
        self.assertEqual(t["dir/y"][1], b"top\n")
        # Copy out to a local directory, as users do.
        out = os.path.join(self.work, "out")
        os.makedirs(out, exist_ok=True)
        self.docker("cp", "svc:/tmp/dir", out, check=True)
        with open(os.path.join(out, "dir", "sub", "x")) as f:
            self.assertEqual(f.read(), "hello\n")

    def test_cp_file_out_lists_in_tar(self):
        r = subprocess.run(f"{DOCKER} cp svc:/etc/passwd - | tar -t", shell=True, env=self.a.env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["passwd"])

    def test_stat_header_and_head_on_missing_path(self):
        status, headers, _ = self.api("HEAD", "/v1.50/containers/svc/archive?path=/nope")
        self.assertEqual(status, 404)
        status, _, body = self.api("GET", "/v1.50/containers/svc/archive?path=/nope")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["message"], "Could not find the file /nope in container svc")
        status, _, body = self.api("GET", "/v1.50/containers/svc/archive")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["message"], "bad parameter: pathcannot be empty")
        status, _, _ = self.api("HEAD", "/v1.50/containers/nope/archive?path=/")
        self.assertEqual(status, 404)
        status, headers, _ = self.api("HEAD", "/v1.50/containers/svc/archive?path=/bin/ls")
        self.assertEqual(status, 200)
        import base64
        st = json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))
        self.assertEqual(st["name"], "ls")
        self.assertEqual(st["mode"], 134218239)  # os.ModeSymlink|0777
        self.assertEqual(st["linkTarget"], "/bin/busybox")
        self.assertEqual(st["size"], len("busybox"))
        status, headers, _ = self.api("HEAD", "/v1.50/containers/svc/archive?path=/etc")
        st = json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))
        self.assertEqual(st["mode"], 2147484141)  # os.ModeDir|0755
        self.assertEqual(st["linkTarget"], "")

    def test_cp_into_and_out_of_stopped_containers(self):
        self.docker("create", "--name", "stopped", "--network", "none", "busybox",
                    "ls", "/tmp/dir2/sub", check=True)
        self.addCleanup(self.docker, "rm", "-f", "stopped")
        d = self.make_dir("dir2")
        self.docker("cp", d, "stopped:/tmp/", check=True)
        self.assertEqual(self.tar_of("stopped:/tmp/dir2/y")["y"][1], b"top\n")
        # The copy is in the container's writable layer: the command sees it.
        r = self.docker("start", "-a", "stopped", check=True)
        self.assertEqual(r.stdout.split(), ["x"])
        # And after it exited.
        self.assertEqual(self.tar_of("stopped:/tmp/dir2/sub/x")["x"][1], b"hello\n")
        # No private mount left behind.
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(os.path.join(self.a.exec_root, "m/"), f.read())

    def test_start_during_copy_of_stopped_container(self):
        """A `docker start` while a stopped container's root is mounted for an
        export waits for it; both succeed and the export is complete."""
        self.docker("run", "--name", "busy", "--network", "none", "busybox", "sh", "-c",
                    "dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null; ls /big", check=True)
        self.addCleanup(self.docker, "rm", "-f", "busy")
        exp = subprocess.Popen([DOCKER, "export", "busy"], env=self.a.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = exp.stdout.read(65536)  # the export is under way, then stalls on us
        time.sleep(0.5)
        start = subprocess.Popen([DOCKER, "start", "-a", "busy"], env=self.a.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        self.assertIsNone(start.poll(), "start did not wait for the mounted root")
        rest = exp.stdout.read()
        self.assertEqual(exp.wait(timeout=60), 0, exp.stderr.read())
        out, err = start.communicate(timeout=60)
        self.assertEqual(start.returncode, 0, err)
        self.assertEqual(out.strip(), "/big")
        with tarfile.open(fileobj=io.BytesIO(first + rest)) as t:
            self.assertEqual(t.getmember("big").size, 32 << 20)

    def test_escapes_never_reach_the_host(self):
        host = os.path.join(self.work, "hostdir")
        os.makedirs(host, exist_ok=True)
        with open(os.path.join(host, "secret"), "w") as f:
            f.write("host secret\n")
        self.docker("run", "--name", "esc", "--network", "none", "busybox", "sh", "-c",
                    f"ln -s /etc/shadow /tmp/shadow && ln -s {host} /tmp/hostdir && "
                    f"ln -s {host}/secret /tmp/secret && ln -s ../../../../../../.. /tmp/up",
                    check=True)
        self.addCleanup(self.docker, "rm", "-f", "esc")
        # ".." never leaves the container root; busybox has no /etc/shadow.
        r = self.docker("cp", "esc:/../../etc/shadow", self.work)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Could not find the file", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.work, "shadow")))
        r = self.docker("cp", "esc:/tmp/up/etc/shadow", self.work)
        self.assertNotEqual(r.returncode, 0)
        # A symlink comes out as a symlink, never as the host file's content.
        t = self.tar_of("esc:/tmp/secret")
        self.assertTrue(t["secret"][0].issym())
        self.assertEqual(t["secret"][0].linkname, f"{host}/secret")
        r = subprocess.run([DOCKER, "cp", "esc:/tmp/hostdir/", "-"], env=self.a.env,
                           capture_output=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn(b"host secret", r.stdout)
        r = subprocess.run([DOCKER, "cp", "-L", "esc:/tmp/secret", "-"], env=self.a.env,
                           capture_output=True, timeout=60)
        self.assertNotIn(b"host secret", r.stdout)
        # Writes through the symlinks land in the container or nowhere.
        src = os.path.join(self.work, "payload")
        with open(src, "w") as f:
            f.write("payload\n")
        before = sorted(os.listdir(host))
        for dst in ("esc:/tmp/hostdir", "esc:/tmp/hostdir/", "esc:/tmp/up/tmp/",
                    "esc:/tmp/secret"):
            self.docker("cp", src, dst)
        self.assertEqual(sorted(os.listdir(host)), before)
        with open(os.path.join(host, "secret")) as f:
            self.assertEqual(f.read(), "host secret\n")
        # A hostile tar: ".." entries and writes through a symlink are refused.
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for name, data in (("../../../../evil", b"x"),):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        status, _, body = self.api("PUT", "/v1.50/containers/esc/archive?path=/tmp",
                                   body=buf.getvalue(),
                                   headers={"Content-Type": "application/x-tar"})
        self.assertEqual(status, 500, body)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo("hostdir/evil")
            info.size = 1
            t.addfile(info, io.BytesIO(b"x"))
        status, _, body = self.api("PUT", "/v1.50/containers/esc/archive?path=/tmp",
                                   body=buf.getvalue(),
                                   headers={"Content-Type": "application/x-tar"})
        self.assertEqual(status, 500, body)
        self.assertFalse(os.path.exists(os.path.join(host, "evil")))
        self.assertFalse(os.path.exists(os.path.join(self.work, "evil")))

    def test_put_errors(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo("f")
            info.size = 1
            t.addfile(info, io.BytesIO(b"x"))
        hdr = {"Content-Type": "application/x-tar"}
        status, _, body = self.api("PUT", "/v1.50/containers/svc/archive?path=/etc/passwd",
                                   body=buf.getvalue(), headers=hdr)
        self.assertEqual((status, json.loads(body)["message"]),
                         (400, "extraction point is not a directory"))
        status, _, body = self.api("PUT", "/v1.50/containers/svc/archive?path=/tmp/nope",
                                   body=buf.getvalue(), headers=hdr)
        self.assertEqual((status, json.loads(body)["message"]),
                         (404, "Could not find the file /tmp/nope in container svc"))
        # noOverwriteDirNonDir: a file never replaces a directory.
        status, _, _ = self.api("PUT", "/v1.50/containers/svc/archive?path=/&noOverwriteDirNonDir=1",
                                body=self._tar_with("tmp", b"x"), headers=hdr)
        self.assertEqual(status, 500)
        self.docker("create", "--name", "ro", "--read-only", "--network", "none", "busybox",
                    "true", check=True)
        self.addCleanup(self.docker, "rm", "-f", "ro")
        src = os.path.join(self.work, "rofile")
        with open(src, "w") as f:
            f.write("x")
        r = self.docker("cp", src, "ro:/tmp/")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("container rootfs is marked read-only", r.stderr)

    @staticmethod
    def _tar_with(name, data):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def test_commit_and_run(self):
        d = self.make_dir("cdir")
        self.docker("run", "-d", "--name", "csrc", "--network", "none", "busybox",
                    "sleep", "1000", check=True)
        self.addCleanup(self.docker, "rm", "-f", "csrc")
        self.docker("cp", d, "csrc:/tmp/", check=True)
        since = str(int(time.time()) - 1)
        r = self.docker("commit", "csrc", "snap:1", check=True)
        self.assertTrue(r.stdout.strip().startswith("sha256:"), r.stdout)
        self.addCleanup(self.docker, "rmi", "-f", "snap:1")
        r = self.docker("run", "--rm", "--network", "none", "snap:1", "ls", "/tmp/cdir", check=True)
        self.assertEqual(r.stdout.split(), ["sub", "y"])
        # The new layer survives garbage collection and saves (its plain tar is its blob).
        self.docker("commit", "csrc", "gc-trigger:1", check=True)
        self.assertIn("Deleted:", self.docker("rmi", "gc-trigger:1", check=True).stdout)
        saved = subprocess.run([DOCKER, "save", "snap:1"], env=self.a.env, capture_output=True,
                               timeout=60)
        self.assertEqual(saved.returncode, 0, saved.stderr.decode())
        with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as t:
            manifest = json.load(t.extractfile("manifest.json"))
            self.assertEqual(len(manifest[0]["Layers"]), 2)
        hist = self.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "snap:1",
                           check=True).stdout.splitlines()
        self.assertEqual(hist[0], "sleep 1000")
        # /events: the image tag, then the container's commit.
        ev = self.docker("events", "--since", since, "--until", str(int(time.time()) + 1),
                         "--format", "{{json .}}", check=True).stdout.splitlines()
        evs = [json.loads(l) for l in ev]
        commits = [e for e in evs if e["Action"] == "commit"
                   and e["Actor"]["Attributes"]["imageRef"] == "snap:1"]
        self.assertEqual(len(commits), 1, ev)
        self.assertEqual(commits[0]["Type"], "container")
        self.assertEqual(commits[0]["Actor"]["Attributes"]["imageRef"], "snap:1")
        self.assertEqual(commits[0]["Actor"]["Attributes"]["name"], "csrc")
        self.assertTrue(any(e["Action"] == "tag" and e["Actor"]["Attributes"]["name"] == "snap:1"
                            for e in evs), ev)

    def test_commit_with_changes_message_author(self):
        self.docker("run", "--name", "copt", "--network", "none", "busybox", "sh", "-c",
                    "echo hi > /hello", check=True)
        self.addCleanup(self.docker, "rm", "-f", "copt")
        self.docker("commit", "-c", 'CMD ["cat", "/hello"]', "-c", "ENV A=b", "-m", "msg",
                    "-a", "author", "copt", "snap:2", check=True)
        self.addCleanup(self.docker, "rmi", "-f", "snap:2")
        info = json.loads(self.docker("inspect", "snap:2", check=True).stdout)[0]
        self.assertEqual(info["Config"]["Cmd"], ["cat", "/hello"])
        self.assertIn("A=b", info["Config"]["Env"])
        self.assertEqual(info["Comment"], "msg")
        self.assertEqual(info["Author"], "author")
        r = self.docker("run", "--rm", "--network", "none", "snap:2", check=True)
        self.assertEqual(r.stdout, "hi\n")
        # Bad input: a digest reference, an unknown change, a missing container.
        r = self.docker("commit", "-c", "BOGUS x", "copt", "snap:3")
        self.assertNotEqual(r.returncode, 0)
        r = self.docker("commit", "nope", "snap:3")
        self.assertIn("No such container: nope", r.stderr)

    def test_commit_of_unchanged_container_adds_an_empty_layer_entry(self):
        self.docker("create", "--name", "cnone", "--network", "none", "busybox", "true", check=True)
        self.addCleanup(self.docker, "rm", "-f", "cnone")
        self.docker("commit", "cnone", "snap:empty", check=True)
        self.addCleanup(self.docker, "rmi", "-f", "snap:empty")
        info = json.loads(self.docker("inspect", "snap:empty", check=True).stdout)[0]
        self.assertEqual(len(info["RootFS"]["Layers"]), 1)

    def test_export(self):
        r = subprocess.run(f"{DOCKER} export svc | tar -t | head -400", shell=True,
                           env=self.a.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        names = r.stdout.split()
        self.assertIn("bin/busybox", names)
        self.assertIn("bin/", names)
        self.assertIn(".dockerenv", names)
        self.assertFalse(any(n.startswith("/") or n.startswith("./") for n in names))
        r = self.docker("export", "nope")
        self.assertIn("No such container: nope", r.stderr)

    def test_diff_matches_docker(self):
        self.docker("run", "--name", "dif", "--network", "none", "busybox", "sh", "-c",
                    "mkdir -p /tmp/a && echo x > /tmp/a/f && rm /etc/group && mkdir /root/new",
                    check=True)
        self.addCleanup(self.docker, "rm", "-f", "dif")
        r = self.docker("diff", "dif", check=True)
        # What dockerd 20.10 prints for the same commands (its order is not stable).
        want = {"C /etc", "D /etc/group", "C /root", "A /root/new", "C /tmp", "A /tmp/a",
                "A /tmp/a/f"}
        self.assertEqual(set(r.stdout.splitlines()), want)
        # A container that changed nothing: no output (the API says null).
        self.docker("run", "--name", "clean", "--network", "none", "busybox", "true", check=True)
        self.addCleanup(self.docker, "rm", "-f", "clean")
        self.assertEqual(self.docker("diff", "clean", check=True).stdout, "")
        status, _, body = self.api("GET", "/v1.50/containers/clean/changes")
        self.assertEqual((status, body.strip()), (200, b"null"))


if __name__ == "__main__":
    unittest.main()
