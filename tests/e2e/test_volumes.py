"""Issue #6 in depth, with the real docker CLI: the Mounts of inspect in
dockerd's shape, tmpfs options, dockerd's errors, copy-up with ownership,
image VOLUMEs, rm -v / --rm, --volumes-from, --read-only, docker cp into and
out of volumes, shared volumes, local driver options, volume events, ps
filters and symlinks that try to lead mounts out of the container."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from arca_fixture import ArcadTestCase, have_prereqs

SKIP = have_prereqs()


@unittest.skipIf(SKIP, SKIP)
class Volumes(ArcadTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="arca-vol-")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.work, ignore_errors=True)

    def tearDown(self):
        ids = self.d("ps", "-aq").stdout.split()
        if ids:
            self.d("rm", "-f", *ids)
        self.d("volume", "prune", "-af")

    def ok(self, *args, **kw):
        return self.d(*args, check=True, **kw)

    def mounts(self, name):
        return json.loads(self.ok("inspect", name).stdout)[0]["Mounts"]

    def mountpoint(self, vol):
        return json.loads(self.ok("volume", "inspect", vol).stdout)[0]["Mountpoint"]

    def test_inspect_shapes(self):
        src = os.path.join(self.work, "shape")
        os.makedirs(src, exist_ok=True)
        self.ok("create", "--name", "s1", "-v", "named:/d", "-v", "ro1:/r:ro", "-v", f"{src}:/b:ro",
                "-v", "/anon", "--mount", "type=volume,src=v2,dst=/e,volume-nocopy",
                "--mount", f"type=bind,src={src},dst=/b2", "--mount",
                "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=0700", "--tmpfs", "/scratch:size=1m",
                "busybox", "true")
        by_dst = {m["Destination"]: m for m in self.mounts("s1")}
        self.assertNotIn("/scratch", by_dst)  # --tmpfs: HostConfig.Tmpfs only, as dockerd
        self.assertEqual(by_dst["/d"], {"Type": "volume", "Name": "named", "Source": self.mountpoint("named"),
                                        "Destination": "/d", "Driver": "local", "Mode": "z", "RW": True,
                                        "Propagation": ""})
        self.assertEqual((by_dst["/r"]["Mode"], by_dst["/r"]["RW"]), ("ro", False))
        self.assertEqual(by_dst["/b"], {"Type": "bind", "Source": src, "Destination": "/b", "Mode": "ro",
                                        "RW": False, "Propagation": "rprivate"})
        self.assertEqual((by_dst["/b2"]["Mode"], by_dst["/b2"]["RW"]), ("", True))
        self.assertRegex(by_dst["/anon"]["Name"], r"^[0-9a-f]{64}$")
        self.assertEqual(by_dst["/anon"]["Mode"], "")
        self.assertEqual(by_dst["/e"]["Mode"], "z")
        self.assertEqual(by_dst["/t"], {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "",
                                        "RW": True, "Propagation": ""})
        info = json.loads(self.ok("inspect", "s1").stdout)[0]
        # the docker CLI sends its -v list in Go map order (random): compare as sets
        self.assertEqual(sorted(info["HostConfig"]["Binds"]), sorted(["named:/d", "ro1:/r:ro", f"{src}:/b:ro"]))
        self.assertEqual(info["HostConfig"]["Tmpfs"], {"/scratch": "size=1m"})
        self.assertEqual([m["Target"] for m in info["HostConfig"]["Mounts"]], ["/e", "/b2", "/t"])
        self.assertTrue(info["HostConfig"]["Mounts"][0]["VolumeOptions"]["NoCopy"])
        self.assertEqual(info["Config"]["Volumes"], {"/anon": {}})
        # the summary: names (an anonymous volume without its Source)
        ps = json.loads(self.ok("ps", "-a", "--format", "{{json .}}", "--no-trunc").stdout)
        self.assertIn("named", ps["Mounts"])
        self.assertEqual(self.ok("ps", "-aq", "-f", "volume=named").stdout.strip(), info["Id"][:12])
        self.assertEqual(self.ok("ps", "-aq", "-f", "volume=/b2").stdout.strip(), info["Id"][:12])
        self.assertEqual(self.ok("ps", "-aq", "-f", "volume=nope").stdout.strip(), "")

    def test_tmpfs_options(self):
        line = lambda *a: self.ok("run", "--rm", *a, "busybox", "sh", "-c",
                                  "grep ' /t ' /proc/mounts; stat -c %a /t").stdout.split("\n")
        out = line("--tmpfs", "/t")
        self.assertIn("rw,nosuid,nodev,noexec,relatime", out[0])
        self.assertNotIn("size=", out[0])
        self.assertEqual(out[1], "1777")
        out = line("--tmpfs", "/t:exec,size=2m,mode=755")
        self.assertNotIn("noexec", out[0])
        self.assertIn("size=2048k", out[0])
        self.assertEqual(out[1], "755")
        out = line("--mount", "type=tmpfs,dst=/t,tmpfs-mode=0700,readonly")
        self.assertTrue(out[0].split()[3].startswith("ro,nosuid,nodev,noexec"), out[0])
        self.assertEqual(out[1], "700")

    def test_errors(self):
        cases = [
            (["-v", "named:/"], "invalid specification: destination can't be '/'"),
            (["-v", "named:relative"], "invalid mount config for type \"volume\": invalid mount path: "
                                       "'relative' mount path must be absolute"),
            (["-v", "bad!name:/d"], "\"bad!name\" includes invalid characters for a local volume name"),
            (["--mount", "type=bind,src=/nonexistent-arca,dst=/x"],
             "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-arca"),
            (["-v", "a1:/d", "-v", "a2:/d"], "Duplicate mount point: /d"),
            (["--mount", "type=volume,src=v9,dst=/x,volume-opt=bogus=1"], 'invalid option key: "bogus"'),
            (["--tmpfs", "/t:size=abc"], "invalid tmpfs option"),
        ]
        for args, text in cases:
            r = self.d("run", "--rm", *args, "busybox", "true")
            self.assertEqual(r.returncode, 125, (args, r.stderr))
            self.assertIn(text, r.stderr, args)
        # an unknown --volumes-from is a 404 (through the API: on a 404 the CLI
        # would try to pull the image from the internet)
        body = json.dumps({"Image": "busybox", "Cmd": ["true"],
                           "HostConfig": {"VolumesFrom": ["no-such-container"]}})
        r = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", self.arcad.sock,
                            "-H", "Content-Type: application/json", "-d", body,
                            "http://x/v1.50/containers/create"], capture_output=True, text=True)
        self.assertEqual(r.stdout.splitlines()[-1], "404")
        self.assertIn("No such container: no-such-container", r.stdout)
        # -v creates a missing host directory (as dockerd); --mount does not (above)
        made = os.path.join(self.work, "made", "deep")
        self.ok("run", "--rm", "-v", f"{made}:/x", "busybox", "touch", "/x/f")
        self.assertTrue(os.path.isfile(os.path.join(made, "f")))

    def test_copy_up_ownership_nocopy_and_non_empty(self):
        self.ok("run", "--name", "mk", "busybox", "sh", "-c",
                "mkdir -p /data/sub && echo seed > /data/sub/f && ln -s sub/f /data/link && "
                "chown -R 1000:1001 /data && chmod 700 /data && chmod 640 /data/sub/f")
        self.ok("commit", "mk", "seeded")
        self.ok("rm", "mk")
        self.ok("run", "--rm", "-v", "cu:/data", "seeded", "true")
        mp = self.mountpoint("cu")
        st = os.stat(mp)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (1000, 1001, 0o700))
        f = os.stat(os.path.join(mp, "sub", "f"))
        self.assertEqual((f.st_uid, f.st_gid, f.st_mode & 0o7777), (1000, 1001, 0o640))
        self.assertEqual(os.readlink(os.path.join(mp, "link")), "sub/f")
        # a non-empty volume is left alone
        with open(os.path.join(mp, "sub", "f"), "w") as fh:
            fh.write("mine\n")
        self.assertEqual(self.ok("run", "--rm", "-v", "cu:/data", "seeded", "cat", "/data/sub/f").stdout,
                         "mine\n")
        # nocopy: nothing copied, the directory keeps its own owner
        self.ok("run", "--rm", "-v", "nc:/data:nocopy", "seeded", "true")
        self.assertEqual(os.listdir(self.mountpoint("nc")), [])
        self.assertEqual(os.stat(self.mountpoint("nc")).st_uid, 0)
        # binds are never written by copy-up
        bind = os.path.join(self.work, "emptybind")
        os.makedirs(bind, exist_ok=True)
        self.ok("run", "--rm", "-v", f"{bind}:/data", "seeded", "true")
        self.assertEqual(os.listdir(bind), [])
        self.ok("rmi", "seeded")

    def test_image_volume_rm_v_and_auto_remove(self):
        self.ok("run", "--name", "mk", "busybox", "sh", "-c", "mkdir /vol && echo img > /vol/f")
        self.ok("commit", "--change", "VOLUME /vol", "mk", "volimg")
        self.ok("rm", "mk")
        self.ok("run", "--name", "iv", "-v", "keep:/k", "volimg", "cat", "/vol/f")
        anon = [m["Name"] for m in self.mounts("iv") if m["Destination"] == "/vol"][0]
        with open(os.path.join(self.mountpoint(anon), "f")) as fh:
            self.assertEqual(fh.read(), "img\n")  # copied up from the image
        self.ok("rm", "-v", "iv")
        vols = self.ok("volume", "ls", "-q").stdout.split()
        self.assertNotIn(anon, vols)  # anonymous: removed with -v
        self.assertIn("keep", vols)   # named: kept
        # --rm: its anonymous volumes go; one shared through --volumes-from stays
        self.ok("run", "-d", "--name", "holder", "-v", "/shared", "busybox", "sleep", "1000")
        shared = self.mounts("holder")[0]["Name"]
        before = set(self.ok("volume", "ls", "-q").stdout.split())
        self.ok("run", "--rm", "-v", "/own", "--volumes-from", "holder", "busybox", "touch", "/shared/x")
        self.assertEqual(set(self.ok("volume", "ls", "-q").stdout.split()), before)
        self.assertTrue(os.path.exists(os.path.join(self.mountpoint(shared), "x")))
        # an image VOLUME covered by a named volume is not anonymous
        self.ok("run", "--rm", "-v", "named2:/vol", "volimg", "cat", "/vol/f")
        self.assertEqual(set(self.ok("volume", "ls", "-q").stdout.split()), before | {"named2"})
        self.ok("rm", "-f", "holder")
        self.ok("rmi", "volimg")

    def test_volumes_from_read_only_rootfs_and_sharing(self):
        self.ok("run", "-d", "--name", "wr", "-v", "sh:/d", "busybox", "sh", "-c",
                "i=0; while [ $i -lt 300 ]; do echo $i > /d/n; i=$((i+1)); sleep 0.1; done; sleep 1000")
        time.sleep(0.5)
        # two containers share it concurrently: the reader sees the writer's progress
        a = int(self.ok("run", "--rm", "--volumes-from", "wr", "busybox", "cat", "/d/n").stdout)
        time.sleep(0.5)
        b = int(self.ok("run", "--rm", "--volumes-from", "wr", "busybox", "cat", "/d/n").stdout)
        self.assertGreater(b, a)
        r = self.d("run", "--rm", "--volumes-from", "wr:ro", "busybox", "touch", "/d/y")
        self.assertIn("Read-only file system", r.stderr)
        ro = [m for m in json.loads(self.ok("inspect", "wr").stdout)[0]["Mounts"]]
        self.assertEqual(ro[0]["Name"], "sh")
        # --read-only: the root refuses writes, the volume takes them
        r = self.d("run", "--rm", "--read-only", "-v", "sh:/d", "busybox", "sh", "-c",
                   "touch /d/ok && touch /nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nope: Read-only file system", r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.mountpoint("sh"), "ok")))

    def test_cp_into_and_out_of_volumes(self):
        src = os.path.join(self.work, "cpsrc")
        with open(src, "w") as f:
            f.write("copied\n")
        self.ok("run", "-d", "--name", "run1", "-v", "cpv:/d", "-v", "cpro:/r:ro", "busybox", "sleep", "1000")
        self.ok("cp", src, "run1:/d/f1")  # running
        self.ok("create", "--name", "stop1", "-v", "cpv:/d", "busybox", "true")
        self.ok("cp", src, "stop1:/d/f2")  # never started
        self.assertEqual(sorted(os.listdir(self.mountpoint("cpv"))), ["f1", "f2"])
        self.assertEqual(self.ok("exec", "run1", "cat", "/d/f2").stdout, "copied\n")
        out = subprocess.run(["sh", "-c", "docker cp stop1:/d/f1 - | tar -xO"], env=self.arcad.env,
                             capture_output=True, text=True)
        self.assertEqual(out.stdout, "copied\n")
        r = self.d("cp", src, "run1:/r/x")
        self.assertIn("mounted volume is marked read-only", r.stderr)
        # export leaves volumes out (the mount point directory only)
        names = subprocess.run(["sh", "-c", "docker export run1 | tar -t"], env=self.arcad.env,
                               capture_output=True, text=True).stdout.split()
        self.assertIn("d/", names)
        self.assertNotIn("d/f1", names)

    def test_local_driver_options(self):
        self.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "tv")
        mp = self.mountpoint("tv")
        out = self.ok("run", "--rm", "-v", "tv:/t", "busybox", "sh", "-c",
                      "grep ' /t ' /proc/mounts; echo x > /t/f").stdout
        self.assertIn("tmpfs /t tmpfs rw,relatime,size=1024k", out)
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(f" {mp} ", f.read())  # unmounted with its last user
        dev = os.path.join(self.work, "bdev")
        os.makedirs(dev, exist_ok=True)
        self.ok("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={dev}", "bv")
        self.ok("run", "--rm", "-v", "bv:/b", "busybox", "sh", "-c", "echo dev > /b/f")
        with open(os.path.join(dev, "f")) as f:
            self.assertEqual(f.read(), "dev\n")
        self.ok("volume", "rm", "tv", "bv")
        self.assertTrue(os.path.exists(os.path.join(dev, "f")))  # rm leaves the device alone

    def test_volume_events(self):
        time.sleep(0.05)
        since = f"{time.time():.9f}"
        self.ok("volume", "create", "evv")
        self.ok("run", "--rm", "-v", "evv:/d:ro", "-v", "/anon", "busybox", "true")
        until = str(int(time.time()) + 1)
        ev = self.ok("events", "--since", since, "--until", until, "--format",
                     "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}").stdout.splitlines()
        kinds = [" ".join(e.split()[:2]) + (" evv" if " evv " in e else "") for e in ev]
        # dockerd's order: create, mount before start, unmount after die, the
        # anonymous volume's destroy before the container's
        want = ["volume create evv", "volume create evv", "volume create", "container create",
                "volume mount evv", "volume mount", "container start", "container die",
                "volume unmount evv", "volume unmount", "volume destroy", "container destroy"]
        got = [k for k in kinds if k.split()[0] == "volume" or k in
               ("container create", "container start", "container die", "container destroy")]
        got[:3] = sorted(got[:3])  # the volumes' creates come in no set order (dockerd: map order)
        want[:3] = sorted(want[:3])
        self.assertEqual(got, want, "\n".join(ev))
        mount = json.loads([e for e in ev if "volume mount evv" in e][0].split(" ", 3)[3])
        self.assertEqual((mount["destination"], mount["read/write"], mount["driver"]), ("/d", "false", "local"))

    def test_symlinks_never_lead_mounts_out(self):
        # the image's /esc is a symlink to the host's "/"; mounting at
        # /esc/arca-escape must land inside the container, never on the host
        marker = "/arca-escape-" + str(os.getpid())
        self.ok("run", "--name", "mk", "busybox", "ln", "-s", "/", "/esc")
        self.ok("commit", "mk", "escimg")
        self.ok("rm", "mk")
        self.ok("run", "--rm", "-v", f"esc:/esc{marker}", "escimg", "touch", f"/esc{marker}/f")
        self.assertFalse(os.path.exists(marker))
        self.assertTrue(os.path.exists(os.path.join(self.mountpoint("esc"), "f")))
        self.ok("create", "--name", "cpesc", "-v", f"esc2:/esc{marker}", "escimg", "true")
        src = os.path.join(self.work, "escsrc")
        with open(src, "w") as f:
            f.write("x")
        self.ok("cp", src, f"cpesc:/esc{marker}/g")
        self.assertFalse(os.path.exists(marker))
        self.assertTrue(os.path.exists(os.path.join(self.mountpoint("esc2"), "g")))
        self.ok("rm", "cpesc")
        self.ok("rmi", "escimg")

    def test_volume_in_use_by_stopped_container(self):
        self.ok("create", "--name", "holder", "-v", "held:/d", "busybox", "true")
        r = self.d("volume", "rm", "held")
        self.assertIn("volume is in use", r.stderr)
        r = self.d("volume", "prune", "-af")
        self.assertNotIn("held", r.stdout)
        self.ok("rm", "holder")
        self.ok("volume", "rm", "held")


if __name__ == "__main__":
    unittest.main()
