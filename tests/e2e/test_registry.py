"""docker pull / push / login against registries on loopback (issue #3).

A Debian docker-registry (plain and htpasswd) and an in-process hostile
registry serve images the tests make themselves (registry_fixture.py)."""
import json
import os
import subprocess
import time
import unittest

from arca_fixture import Arcad, have_prereqs
import registry_fixture as rf

SKIP = have_prereqs() or rf.have_registry()


def tmp_leftovers(arcad):
    tmp = os.path.join(arcad.data_root, "image", "tmp")
    return os.listdir(tmp) if os.path.isdir(tmp) else []


@unittest.skipIf(SKIP, SKIP or "")
class PullPushTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reg = rf.Registry()
        cls.authreg = rf.Registry(auth=("u", "p"))
        cls.arcad = Arcad.with_busybox()
        cls.base = rf.base_layer()
        cls.img = rf.push_image(cls.reg.addr, "busybox", "latest", [cls.base, rf.random_layer(1)])
        cls.multi = rf.push_index(cls.reg.addr, "multi", "1")
        cls.private = rf.push_image(cls.authreg.addr, "private", "1", [cls.base], auth=("u", "p"))

    @classmethod
    def tearDownClass(cls):
        cls.arcad.cleanup()
        cls.reg.stop()
        cls.authreg.stop()

    def d(self, *args, **kw):
        return self.arcad.docker(*args, **kw)

    def inspect(self, ref):
        return json.loads(self.d("image", "inspect", ref, check=True).stdout)[0]

    def test_01_pull_progress_digest_status(self):
        ref = f"{self.reg.addr}/busybox:latest"
        r = self.d("pull", ref, check=True)
        self.assertIn("latest: Pulling from busybox", r.stdout)
        self.assertIn("Pull complete", r.stdout)
        self.assertIn(f"Digest: {self.img['manifest_digest']}", r.stdout)
        self.assertIn(f"Status: Downloaded newer image for {ref}", r.stdout)
        self.assertEqual(r.stdout.strip().splitlines()[-1], ref)
        info = self.inspect(ref)
        self.assertEqual(info["Id"], self.img["config_digest"])
        self.assertIn(f"{self.reg.addr}/busybox@{self.img['manifest_digest']}", info["RepoDigests"])
        self.assertEqual(self.d("run", "--rm", "--network", "none", ref, "echo", "pulled", check=True).stdout, "pulled\n")
        again = self.d("pull", ref, check=True)
        self.assertIn(f"Status: Image is up to date for {ref}", again.stdout)
        self.assertEqual(tmp_leftovers(self.arcad), [])
        # The raw stream has Docker's progress messages (the CLI draws bars from them).
        self.d("rmi", ref, check=True)
        raw = subprocess.run(
            ["curl", "-s", "--unix-socket", self.arcad.sock, "-X", "POST",
             f"http://x/v1.50/images/create?fromImage={self.reg.addr}/busybox&tag=latest"],
            capture_output=True, text=True, check=True).stdout
        msgs = [json.loads(line) for line in raw.splitlines() if line.strip()]
        statuses = [m.get("status", "") for m in msgs]
        self.assertIn("Pulling fs layer", statuses)
        self.assertIn("Downloading", statuses)
        dl = next(m for m in msgs if m.get("status") == "Downloading")
        self.assertIn("current", dl["progressDetail"])
        self.assertIn("total", dl["progressDetail"])
        self.assertEqual(len(dl["id"]), 12)

    def test_02_platform_selection_from_index(self):
        ref = f"{self.reg.addr}/multi:1"
        r = self.d("pull", "--platform", "linux/arm64", ref, check=True)
        self.assertIn(f"Digest: {self.multi['index_digest']}", r.stdout)
        info = self.inspect(ref)
        self.assertEqual(info["Architecture"], "arm64")
        self.assertEqual(info["Id"], self.multi["platforms"]["linux/arm64"]["config_digest"])
        r = self.d("pull", ref, check=True)
        self.assertEqual(self.inspect(ref)["Architecture"], "amd64")
        r = self.d("pull", "--platform", "linux/s390x", ref)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no matching manifest for linux/s390x", r.stderr)

    def test_03_pull_by_digest(self):
        ref = f"{self.reg.addr}/busybox@{self.img['manifest_digest']}"
        r = self.d("pull", ref, check=True)
        self.assertIn(f"Digest: {self.img['manifest_digest']}", r.stdout)
        self.assertEqual(self.inspect(ref)["Id"], self.img["config_digest"])
        bad = f"{self.reg.addr}/busybox@sha256:" + "0" * 64
        r = self.d("pull", bad)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not found", r.stderr)

    def test_04_login_and_private_pull(self):
        ref = f"{self.authreg.addr}/private:1"
        r = self.d("pull", ref)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unauthorized", r.stderr.lower())
        r = self.d("login", self.authreg.addr, "-u", "u", "-p", "wrong")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unauthorized", r.stderr.lower())
        r = self.d("login", self.authreg.addr, "-u", "u", "-p", "p", check=True)
        self.assertIn("Login Succeeded", r.stdout)
        self.d("pull", ref, check=True)
        self.assertEqual(self.inspect(ref)["Id"], self.private["config_digest"])
        mine = f"{self.authreg.addr}/private:2"
        self.d("tag", "busybox", mine, check=True)
        self.d("push", mine, check=True)
        self.d("logout", self.authreg.addr, check=True)
        r = self.d("push", mine)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unauthorized", r.stderr.lower())

    def test_05_push_then_pull_back(self):
        # busybox:latest came from `docker load` (uncompressed layers): push gzips them.
        mine = f"{self.reg.addr}/mine:1"
        self.d("tag", "busybox", mine, check=True)
        r = self.d("push", mine, check=True)
        self.assertIn(f"The push refers to repository [{self.reg.addr}/mine]", r.stdout)
        self.assertRegex(r.stdout, r"1: digest: sha256:[0-9a-f]{64} size: \d+")
        digest = r.stdout.split("digest: ")[1].split()[0]
        self.assertIn(f"{self.reg.addr}/mine@{digest}", self.inspect(mine)["RepoDigests"])
        st, ctype, body = rf.get_manifest(self.reg.addr, "mine", "1")
        self.assertEqual(st, 200)
        self.assertEqual(rf.sha256(body), digest)
        # Pushed again: every layer is there already.
        r = self.d("push", mine, check=True)
        self.assertIn("Layer already exists", r.stdout)
        # Another repository of the same registry: the layer is mounted, not uploaded.
        other = f"{self.reg.addr}/other:2"
        self.d("tag", "busybox", other, check=True)
        r = self.d("push", other, check=True)
        self.assertIn("Mounted from ", r.stdout)
        busybox_id = self.inspect("busybox")["Id"]
        self.d("rmi", mine, other, check=True)
        self.d("pull", mine, check=True)
        self.assertEqual(self.inspect(mine)["Id"], busybox_id)
        self.assertEqual(self.d("run", "--rm", "--network", "none", mine, "echo", "round trip", check=True).stdout,
                         "round trip\n")
        r = self.d("push", f"{self.reg.addr}/nosuch:1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("An image does not exist locally with the tag", r.stderr)

    def test_06_run_pulls_a_missing_image(self):
        ref = f"{self.reg.addr}/busybox:latest"
        self.d("rmi", "-f", ref)
        r = self.d("run", "--rm", "--network", "none", ref, "echo", "auto", check=True)
        self.assertIn("Unable to find image", r.stderr)
        self.assertIn("auto\n", r.stdout)

    def test_07_events(self):
        since = str(int(time.time()) - 1)
        self.d("pull", f"{self.reg.addr}/busybox:latest", check=True)
        time.sleep(1.1)
        r = self.d("events", "--since", since, "--until", "0s", "--format", "{{.Action}} {{.Actor.ID}}",
                   check=True)
        self.assertIn(f"pull {self.reg.addr}/busybox:latest", r.stdout)

    def test_09_oci_zstd_and_plain_layers(self):
        cases = [("oci", "gzip"), ("oci", "none"), ("docker", "none")]
        if rf.have_zstd():
            cases.append(("oci", "zstd"))
        for media, comp in cases:
            with self.subTest(media=media, compression=comp):
                repo = f"fmt-{media}-{comp}"
                img = rf.push_image(self.reg.addr, repo, "1", [self.base, rf.random_layer(1)],
                                    media=media, compression=comp)
                ref = f"{self.reg.addr}/{repo}:1"
                self.d("pull", ref, check=True)
                self.assertEqual(self.inspect(ref)["Id"], img["config_digest"])
                out = self.d("run", "--rm", "--network", "none", ref, "ls", "/random.bin", check=True)
                self.assertEqual(out.stdout, "/random.bin\n")

    def test_10_all_tags(self):
        for t in ("a", "b", "c"):
            rf.push_image(self.reg.addr, "alltags", t, [self.base], config_overrides={"config": {"Env": [f"T={t}"]}})
        r = self.d("pull", "--all-tags", f"{self.reg.addr}/alltags", check=True)
        for t in ("a", "b", "c"):
            self.assertIn(f"{t}: Pulling from alltags", r.stdout)
        self.assertIn(f"Status: Downloaded newer image for {self.reg.addr}/alltags", r.stdout)
        tags = self.d("images", "--format", "{{.Tag}}", f"{self.reg.addr}/alltags", check=True).stdout.split()
        self.assertEqual(sorted(tags), ["a", "b", "c"])
        r = self.d("pull", "-a", f"{self.reg.addr}/alltags", check=True)
        self.assertIn(f"Status: Image is up to date for {self.reg.addr}/alltags", r.stdout)

    def test_08_search_answers_clearly(self):
        r = self.d("search", f"{self.reg.addr}/busybox")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("search is not supported", r.stderr)


@unittest.skipIf(SKIP, SKIP or "")
class MirrorTest(unittest.TestCase):
    """Docker Hub names (busybox -> docker.io/library/busybox) served by a
    registry mirror on loopback (daemon.json registry-mirrors)."""

    def test_hub_name_through_mirror(self):
        with rf.Registry() as mirror:
            img = rf.push_image(mirror.addr, "library/busybox", "mirrored", [rf.base_layer()])
            arcad = Arcad(args=["--config-file", "/dev/null"])
            try:
                cfg = os.path.join(arcad.root, "daemon.json")
                with open(cfg, "w") as f:
                    json.dump({"registry-mirrors": [f"http://{mirror.addr}"]}, f)
                arcad.args = ["--config-file", cfg]
                arcad.start()
                info = json.loads(arcad.docker("info", "--format", "{{json .RegistryConfig}}",
                                               check=True).stdout)
                self.assertEqual(info["Mirrors"], [f"http://{mirror.addr}"])
                r = arcad.docker("pull", "busybox:mirrored", check=True)
                self.assertIn("mirrored: Pulling from library/busybox", r.stdout)
                self.assertIn("Status: Downloaded newer image for busybox:mirrored", r.stdout)
                self.assertEqual(r.stdout.strip().splitlines()[-1], "docker.io/library/busybox:mirrored")
                out = json.loads(arcad.docker("image", "inspect", "busybox:mirrored", check=True).stdout)[0]
                self.assertEqual(out["Id"], img["config_digest"])
                self.assertEqual(out["RepoTags"], ["busybox:mirrored"])
            finally:
                arcad.cleanup()


@unittest.skipIf(SKIP, SKIP or "")
class HostileRegistryTest(unittest.TestCase):
    """Every misbehaviour gives a clear error, leaves the store consistent and
    writes nothing outside it; a good pull afterwards works."""

    @classmethod
    def setUpClass(cls):
        # A short stall timeout keeps the hang case (4 attempts) quick.
        cls.arcad = Arcad(args=["--registry-stall-timeout", "3"]).start()
        cls.bad = rf.HostileRegistry(layers=[rf.base_layer(), rf.random_layer(2)], hang_seconds=60)

    @classmethod
    def tearDownClass(cls):
        cls.arcad.cleanup()
        cls.bad.stop()

    def pull_fails(self, case, expect):
        r = self.arcad.docker("pull", f"{self.bad.addr}/{case}:latest", timeout=120)
        self.assertNotEqual(r.returncode, 0, f"{case}: pull succeeded\n{r.stdout}")
        self.assertIn(expect, r.stderr, f"{case}: {r.stderr}")
        self.assertEqual(tmp_leftovers(self.arcad), [], case)
        images = self.arcad.docker("images", "-q", check=True).stdout.split()
        self.assertEqual(images, [], f"{case}: a half image was recorded")
        return r

    def test_bad_cases(self):
        cases = {
            "corrupt-blob": "verification failed",
            "wrong-diffid": "but the image config names",
            "size-lie": "bytes",
            "size-lie-big": "bytes",
            "truncated": "error pulling layer",
            "bad-json": "invalid",
            "missing-blob": "blob unknown",
            "digest-mismatch": "verification failed",
        }
        for case, expect in cases.items():
            with self.subTest(case=case):
                self.pull_fails(case, expect)

    def test_evil_tars_write_nothing_outside(self):
        for case in ("evil-symlink", "evil-abs", "evil-hardlink", "evil-dotdot"):
            with self.subTest(case=case):
                self.pull_fails(case, "")
        self.assertEqual(self.bad.escaped(), [])

    def test_hang_then_retry(self):
        # Stall timeout 3 s, the server hangs 60 s: 1 + 3 resumed attempts.
        t0 = time.time()
        r = self.pull_fails("hang", "error pulling layer")
        self.assertLess(time.time() - t0, 45)
        self.assertIn("Retrying in 1 second", r.stdout)
        r = self.arcad.docker("pull", f"{self.bad.addr}/good:latest", check=True)
        self.assertIn("Pull complete", r.stdout)
        self.arcad.docker("rmi", f"{self.bad.addr}/good:latest", check=True)

    def test_broken_download_resumes(self):
        self.bad.clear()
        ref = f"{self.bad.addr}/flaky:latest"
        r = self.arcad.docker("pull", ref, check=True)
        self.assertIn("Retrying in 1 second", r.stdout)
        self.assertIn("Pull complete", r.stdout)
        ranges = [g for g in self.bad.blob_gets("flaky") if "Range" in g["headers"]]
        self.assertTrue(ranges, "no Range request was made")
        self.arcad.docker("rmi", ref, check=True)

    def test_kill9_mid_pull_leaves_nothing(self):
        slow = rf.HostileRegistry(layers=[rf.base_layer(), rf.random_layer(4)], slow_chunk=8192,
                                  slow_delay=0.05)
        try:
            p = subprocess.Popen([rf.arca_fixture.DOCKER, "pull", f"{slow.addr}/slow:latest"],
                                 env=self.arcad.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.time() + 30
            while time.time() < deadline and not slow.blob_gets("slow"):
                time.sleep(0.05)
            time.sleep(1.0)  # mid-blob (4 MiB at ~160 KiB/s)
            self.arcad.kill9()
            p.communicate(timeout=30)
            self.arcad.start()
            images = self.arcad.docker("images", "-q", check=True).stdout.split()
            self.assertEqual(images, [])
            layers = os.path.join(self.arcad.data_root, "image", "layers")
            self.assertEqual(os.listdir(layers), [], "orphaned layers after restart")
            self.assertEqual(tmp_leftovers(self.arcad), [])
            # ...and the retry works.
            slow.slow_delay = 0
            self.arcad.docker("pull", f"{slow.addr}/slow:latest", check=True)
            self.arcad.docker("rmi", f"{slow.addr}/slow:latest", check=True)
        finally:
            slow.stop()

    def test_token_auth_and_layer_reuse(self):
        ref = f"{self.bad.addr}/token:latest"
        r = self.arcad.docker("pull", ref)
        self.assertNotEqual(r.returncode, 0)
        self.arcad.docker("login", self.bad.addr, "-u", self.bad.user, "-p", self.bad.password,
                          check=True)
        self.bad.clear()
        self.arcad.docker("pull", ref, check=True)
        self.assertTrue(self.bad.blob_gets("token"))
        # Same layers under another name: nothing is fetched again.
        self.bad.clear()
        r = self.arcad.docker("pull", f"{self.bad.addr}/good:latest", check=True)
        self.assertIn("Already exists", r.stdout)
        layer_gets = [g for g in self.bad.blob_gets() if g["path"].split("/")[-1] in
                      self.bad.image("good")["layer_digests"]]
        self.assertEqual(layer_gets, [])
        self.arcad.docker("rmi", ref, f"{self.bad.addr}/good:latest", check=True)


if __name__ == "__main__":
    unittest.main()
