"""Issue #6 acceptance: the issue's command sequence, in order, with the real
docker CLI (named volume data across containers, in-use removal refused, a
read-only bind, a sized tmpfs, copy-up into a fresh volume, arcad kill -9,
dangling/prune/system df), and a docker-compose 1.29 app whose named volume
keeps its data across down and up."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from arca_fixture import Arcad, ComposeTestCase, have_prereqs

SKIP = have_prereqs()
COMPOSE_SKIP = SKIP or (None if shutil.which("docker-compose") else "docker-compose missing")

COMPOSE = """
version: "3.7"
services:
  db:
    image: busybox
    command: sh -c 'test -f /data/first || date +%s%N > /data/first; echo up >> /data/log; sleep 1000'
    volumes:
      - dbdata:/data
      - /cache
volumes:
  dbdata:
"""


@unittest.skipIf(SKIP, SKIP)
class VolumesAcceptance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Arcad.with_busybox()
        cls.work = tempfile.mkdtemp(prefix="arca-vol-acc-")

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        shutil.rmtree(cls.work, ignore_errors=True)

    def d(self, *args, check=True, **kw):
        return self.a.docker(*args, check=check, **kw)

    def test_sequence(self):
        # docker volume create data && docker run --rm -v data:/d busybox sh -c 'echo 42 > /d/x'
        self.d("volume", "create", "data")
        self.d("run", "--rm", "-v", "data:/d", "busybox", "sh", "-c", "echo 42 > /d/x")
        # docker run --rm -v data:/d busybox cat /d/x   -> 42
        self.assertEqual(self.d("run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/x").stdout, "42\n")

        # in use: the volume stays, with its data
        cid = self.d("run", "-d", "--name", "user1", "-v", "data:/d", "busybox", "sleep", "1000").stdout.strip()
        r = self.d("volume", "rm", "data", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"remove data: volume is in use - [{cid}]", r.stderr)
        r = self.d("volume", "rm", "-f", "data", check=False)
        self.assertIn("volume is in use", r.stderr)
        self.assertEqual(self.d("exec", "user1", "cat", "/d/x").stdout, "42\n")

        # a read-only bind of the source tree
        src = os.path.join(self.work, "src")
        os.makedirs(src)
        with open(os.path.join(src, "main.c"), "w") as f:
            f.write("int main(){}\n")
        self.assertEqual(self.d("run", "--rm", "-v", f"{src}:/src:ro", "busybox", "ls", "/src").stdout,
                         "main.c\n")
        r = self.d("run", "--rm", "-v", f"{src}:/src:ro", "busybox", "touch", "/src/x", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("Read-only file system", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(src, "x")))

        # a 1 MiB tmpfs
        out = self.d("run", "--rm", "--tmpfs", "/scratch:size=1m", "busybox", "df", "/scratch").stdout
        fields = out.splitlines()[1].split()
        self.assertEqual((fields[0], fields[1], fields[-1]), ("tmpfs", "1024", "/scratch"))

        # copy-up: a fresh volume on /etc gets the image's /etc
        self.assertEqual(self.d("run", "--rm", "--mount", "type=volume,src=fresh,dst=/etc", "busybox",
                                "ls", "/etc/passwd").stdout, "/etc/passwd\n")
        fresh = json.loads(self.d("volume", "inspect", "fresh").stdout)[0]["Mountpoint"]
        self.assertTrue(os.path.isfile(os.path.join(fresh, "passwd")))

        # kill -9 arcad; restart; the data is still there
        self.a.kill9()
        self.a.start()
        self.assertEqual(self.d("run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/x").stdout, "42\n")

        # dangling, prune, system df
        self.d("run", "--name", "anon", "-v", "/scratchvol", "busybox", "sh", "-c",
               "head -c 5000 /dev/zero > /scratchvol/f")
        anon = json.loads(self.d("inspect", "anon").stdout)[0]["Mounts"][0]["Name"]
        self.d("rm", "anon")  # without -v: the anonymous volume stays, dangling
        dangling = self.d("volume", "ls", "-q", "-f", "dangling=true").stdout.split()
        self.assertEqual(sorted(dangling), sorted(["fresh", anon]))
        out = self.d("volume", "prune", "-f").stdout
        self.assertIn(anon, out)  # anonymous only (API >= 1.42)
        self.assertIn("Total reclaimed space: 5kB", out)
        names = self.d("volume", "ls", "-q").stdout.split()
        self.assertEqual(sorted(names), ["data", "fresh"])
        df = self.d("system", "df", "-v").stdout
        vols = df[df.index("Local Volumes space usage:"):df.index("Build cache usage:")]
        rows = {l.split()[0]: l.split()[1:] for l in vols.splitlines()[3:] if l.strip()}
        self.assertEqual(rows["data"], ["1", "3B"])  # user1 links it; "42\n"
        self.assertEqual(rows["fresh"][0], "0")
        self.d("rm", "-f", "user1")
        self.d("volume", "rm", "data", "fresh")


@unittest.skipIf(COMPOSE_SKIP, COMPOSE_SKIP)
class ComposeVolume(ComposeTestCase):
    COMPOSE = COMPOSE
    PROJECT = "volapp"

    def read(self, path, want=None):
        for _ in range(50):
            r = self.compose("exec", "-T", "db", "cat", path)
            if r.returncode == 0 and r.stdout and (want is None or r.stdout == want):
                return r.stdout
            subprocess.run(["sleep", "0.2"])
        self.fail(f"cannot read {path} ({r.stdout!r}): {r.stderr}\n{self.a.log()}")

    def test_named_volume_survives_down_and_up(self):
        r = self.compose("up", "-d")
        self.assertEqual(r.returncode, 0, r.stderr + self.a.log())
        first = self.read("/data/first")
        # a changed service is recreated: its anonymous volume comes along
        # (compose 1.29 reads the image's ContainerConfig and binds the old
        # container's anonymous volumes by name)
        self.assertEqual(self.compose("exec", "-T", "db", "sh", "-c", "echo kept > /cache/c").returncode, 0)
        path = os.path.join(self.dir, "docker-compose.yml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("sleep 1000", "sleep 1001"))
        r = self.compose("up", "-d")
        self.assertEqual(r.returncode, 0, r.stderr + self.a.log())
        self.assertIn("Recreating", r.stderr)
        self.assertEqual(self.read("/cache/c"), "kept\n")
        self.assertEqual(self.read("/data/log", "up\nup\n"), "up\nup\n")
        r = self.compose("down", "-t", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.a.docker("ps", "-aq").stdout.strip(), "")
        self.assertIn("volapp_dbdata", self.a.docker("volume", "ls", "-q").stdout.split())
        r = self.compose("up", "-d")
        self.assertEqual(r.returncode, 0, r.stderr + self.a.log())
        self.assertEqual(self.read("/data/first"), first)
        self.assertEqual(self.read("/data/log", "up\nup\nup\n"), "up\nup\nup\n")
        r = self.compose("down", "-v", "-t", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("volapp_dbdata", self.a.docker("volume", "ls", "-q").stdout.split())


if __name__ == "__main__":
    unittest.main()
