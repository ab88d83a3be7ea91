"""Issue #2 acceptance: the real docker CLI against a live arcad."""
import json
import os
import re
import socket
import stat
import subprocess
import time
import unittest

from arca_fixture import Arcad, have_prereqs, DOCKER

SKIP = have_prereqs()


def raw_http(sock_path, request: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(request)
    s.settimeout(5)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and (b"Content-Length: 0" in out or out.endswith(b"\n")):
                head = out.split(b"\r\n\r\n", 1)
                m = re.search(rb"Content-Length: (\d+)", head[0])
                if m and len(head[1]) >= int(m.group(1)):
                    break
    except socket.timeout:
        pass
    s.close()
    return out


@unittest.skipIf(SKIP, SKIP)
class Skeleton(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Arcad.with_busybox()
        cls.image_id = cls.a.busybox_id

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()

    def d(self, *args, **kw):
        return self.a.docker(*args, **kw)

    def test_version_negotiated(self):
        r = self.d("version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}", check=True)
        self.assertEqual(r.stdout.split(), ["1.51", "1.50"])
        r = self.d("version", check=True)
        self.assertIn("1.24", r.stdout)  # minimum version

    def test_info(self):
        r = self.d("info", "--format", "{{json .}}", check=True)
        info = json.loads(r.stdout)
        self.assertGreaterEqual(info["Images"], 1)
        self.assertGreaterEqual(info["NCPU"], 1)
        self.assertGreater(info["MemTotal"], 0)
        self.assertEqual(info["OSType"], "linux")
        self.assertEqual(info["Swarm"]["LocalNodeState"], "inactive")
        self.assertIn("runc", info["Runtimes"])
        self.assertTrue(info["KernelVersion"])
        self.d("info", check=True)  # the human form parses too

    def test_images_and_inspect(self):
        r = self.d("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True)
        self.assertIn("busybox:latest " + self.image_id[7:19], r.stdout)
        r = self.d("image", "inspect", "busybox", check=True)
        img = json.loads(r.stdout)[0]
        self.assertEqual(img["Id"], self.image_id)
        self.assertEqual(img["RepoTags"], ["busybox:latest"])
        self.assertEqual(img["RootFS"]["Type"], "layers")
        self.assertEqual(img["Config"]["Cmd"], ["sh"])
        r = self.d("images", "--filter", "reference=busy*", "-q", check=True)
        self.assertEqual(r.stdout.split(), [self.image_id[7:19]])
        r = self.d("images", "--filter", "dangling=true", "-q", check=True)
        self.assertEqual(r.stdout.strip(), "")
        r = self.d("image", "inspect", "nope")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such image", r.stderr)

    def test_tag_and_rmi(self):
        self.d("tag", "busybox", "mybox:v1", check=True)
        r = self.d("images", "--format", "{{.Repository}}:{{.Tag}}", check=True)
        self.assertIn("mybox:v1", r.stdout)
        r = self.d("rmi", "mybox:v1", check=True)
        self.assertIn("Untagged: mybox:v1", r.stdout)
        self.assertNotIn("Deleted", r.stdout)  # busybox:latest still points at it
        # An image used by a container cannot go without -f.
        self.d("create", "--network", "none", "--name", "user1", "busybox", "true", check=True)
        r = self.d("rmi", self.image_id[7:19])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("conflict", r.stderr)
        self.d("rm", "user1", check=True)

    def test_run_echo(self):
        r = self.d("run", "--rm", "--network", "none", "busybox", "echo", "hello", check=True)
        self.assertEqual(r.stdout, "hello\n")
        r = self.d("ps", "-a", "-q", "--filter", "ancestor=busybox", "--filter", "status=exited")
        self.assertEqual(r.returncode, 0)

    def test_run_exit_code(self):
        r = self.d("run", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, "out\n")
        self.assertEqual(r.stderr, "err\n")

    def test_run_config_options(self):
        r = self.d("run", "--rm", "--network", "none", "-e", "A=1", "-w", "/tmp", "-u", "nobody",
                   "--hostname", "hh", "--entrypoint", "sh", "busybox", "-c",
                   "echo $A $(pwd) $(id -u) $(hostname)", check=True)
        self.assertEqual(r.stdout, "1 /tmp 65534 hh\n")
        r = self.d("run", "--rm", "--network", "none", "-u", "nosuchuser", "busybox", "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nosuchuser", r.stderr)

    def test_logs_since_until_and_streams(self):
        self.d("run", "--name", "lg", "--network", "none", "busybox", "sh", "-c",
               "echo one; echo two >&2", check=True)
        try:
            r = self.d("logs", "lg", check=True)
            self.assertEqual((r.stdout, r.stderr), ("one\n", "two\n"))
            r = self.d("logs", "--since", str(int(time.time()) + 60), "lg", check=True)
            self.assertEqual(r.stdout + r.stderr, "")
            r = self.d("logs", "--until", "2000-01-01T00:00:00Z", "lg", check=True)
            self.assertEqual(r.stdout + r.stderr, "")
            r = self.d("logs", "--since", "10m", "lg", check=True)
            self.assertEqual(r.stdout, "one\n")
            r = self.d("wait", "lg", check=True)  # not running: answers at once
            self.assertEqual(r.stdout.strip(), "0")
        finally:
            self.d("rm", "lg")

    def test_run_missing_command(self):
        r = self.d("run", "--rm", "--network", "none", "busybox", "nope-not-here")
        self.assertEqual(r.returncode, 127, r.stderr)
        self.assertIn("executable file not found", r.stderr)

    def test_unknown_network_is_a_clear_error(self):
        # issue #5: the default bridge works; a missing network fails the
        # start with dockerd's text (the create is accepted, as dockerd 20.10).
        r = self.d("run", "--rm", "busybox", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.d("run", "--rm", "--network", "nope", "busybox", "true")
        self.assertEqual(r.returncode, 125)
        self.assertIn("network nope not found", r.stderr)

    def test_long_running_lifecycle(self):
        d = self.d
        d("run", "-d", "--name", "tk", "--network", "none", "busybox", "sh", "-c",
          "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done", check=True)
        time.sleep(1.2)
        r = d("logs", "--tail", "2", "tk", check=True)
        lines = r.stdout.split()
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertEqual(int(lines[1]), int(lines[0]) + 1)
        r = subprocess.run(["timeout", "2", DOCKER, "logs", "-f", "tk"], env=self.a.env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 124)  # still following when the timeout hit
        n = [int(x) for x in r.stdout.split()]
        self.assertEqual(n[:3], [0, 1, 2])
        self.assertGreater(len(n), 5)
        r = d("logs", "-t", "--tail", "1", "tk", check=True)
        self.assertRegex(r.stdout, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \d+\n$")
        r = d("ps", check=True)
        self.assertRegex(r.stdout, r"tk\n")
        self.assertIn("Up ", r.stdout)
        r = d("ps", "--format", "{{.Names}} {{.Status}}", "--filter", "name=tk", check=True)
        self.assertTrue(r.stdout.startswith("tk Up"), r.stdout)
        r = d("inspect", "-f", "{{.State.Running}}", "tk", check=True)
        self.assertEqual(r.stdout.strip(), "true")
        t0 = time.time()
        d("stop", "tk", check=True)  # sh ignores SIGTERM as PID 1: killed after 10 s
        self.assertGreater(time.time() - t0, 9)
        r = d("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "tk", check=True)
        self.assertEqual(r.stdout.strip(), "exited 137")
        d("start", "tk", check=True)
        r = d("inspect", "-f", "{{.State.Running}}", "tk", check=True)
        self.assertEqual(r.stdout.strip(), "true")
        d("restart", "-t", "1", "tk", check=True)
        r = d("inspect", "-f", "{{.State.Running}}", "tk", check=True)
        self.assertEqual(r.stdout.strip(), "true")
        r = d("rm", "tk")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("container is running", r.stderr)
        d("kill", "tk", check=True)
        r = d("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "tk", check=True)
        self.assertEqual(r.stdout.strip(), "exited 137")
        d("rm", "tk", check=True)
        r = d("ps", "-a", "--filter", "name=tk", "-q", check=True)
        self.assertEqual(r.stdout.strip(), "")
        # The whole history, in order, as Docker reports it. (The CLI sends
        # --until 0s as whole seconds: wait for the second to end, as with dockerd.)
        time.sleep(1.1)
        r = d("events", "--since", "5m", "--until", "0s", "--filter", "container=tk",
              "--format", "{{.Action}}", check=True)
        actions = r.stdout.split()
        expected = ["create", "start",                          # run -d
                    "kill", "kill", "die", "stop",              # stop: TERM ignored, KILL
                    "start",                                    # start
                    "kill", "kill", "die", "stop", "start", "restart",  # restart -t 1
                    "kill", "die",                              # kill
                    "destroy"]                                  # rm
        self.assertEqual(actions, expected, r.stdout)

    def test_kill_signal_and_wait(self):
        # PID 1 of a namespace ignores signals it has no handler for: trap one.
        self.d("run", "-d", "--name", "sig", "--network", "none", "busybox", "sh", "-c",
               "trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done", check=True)
        deadline = time.time() + 10
        while "ready" not in self.d("logs", "sig").stdout and time.time() < deadline:
            time.sleep(0.05)
        self.d("kill", "-s", "USR1", "sig", check=True)
        r = self.d("wait", "sig", check=True)
        self.assertEqual(r.stdout.strip(), "42")
        time.sleep(1.1)  # --until 0s is sent in whole seconds
        r = self.d("events", "--since", "1m", "--until", "0s", "--filter", "container=sig",
                   "--filter", "event=kill", "--format", "{{.Actor.Attributes.signal}}", check=True)
        self.assertEqual(r.stdout.split(), ["10"])  # SIGUSR1
        r = self.d("kill", "sig")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is not running", r.stderr)
        self.d("rm", "sig", check=True)

    def test_autoremove_restart_and_force_rm(self):
        # A restart's stop does not trigger --rm's removal (as with dockerd) ...
        self.d("run", "-d", "--rm", "--name", "ar", "--network", "none", "busybox", "sleep", "100",
               check=True)
        self.d("restart", "-t", "0", "ar", check=True)
        r = self.d("inspect", "-f", "{{.State.Running}}", "ar", check=True)
        self.assertEqual(r.stdout.strip(), "true")
        # ... and rm -f of a running --rm container succeeds although the exit
        # triggers the auto-removal too.
        self.d("rm", "-f", "ar", check=True)
        self.assertNotEqual(self.d("inspect", "ar").returncode, 0)

    def test_rm_force_running(self):
        self.d("run", "-d", "--name", "frc", "--network", "none", "busybox", "sleep", "100",
               check=True)
        self.d("rm", "-f", "frc", check=True)
        r = self.d("inspect", "frc")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such object", r.stderr)

    def test_ps_filters_and_format(self):
        self.d("create", "--network", "none", "--name", "f1", "--label", "tier=web", "busybox",
               "true", check=True)
        self.d("run", "--network", "none", "--name", "f2", "busybox", "sh", "-c", "exit 5")
        try:
            r = self.d("ps", "-a", "--filter", "label=tier=web", "--format", "{{.Names}}", check=True)
            self.assertEqual(r.stdout.split(), ["f1"])
            r = self.d("ps", "-a", "--filter", "exited=5", "--format", "{{.Names}}", check=True)
            self.assertEqual(r.stdout.split(), ["f2"])
            r = self.d("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}", check=True)
            self.assertIn("f1", r.stdout.split())
            r = self.d("ps", "-a", "-n", "1", "--format", "{{.Names}}", check=True)
            self.assertEqual(r.stdout.split(), ["f2"])
            r = self.d("ps", "-a", "--format", "{{.Names}} {{.Status}}", "--filter", "name=f2", check=True)
            self.assertRegex(r.stdout, r"f2 Exited \(5\) .* ago")
            r = self.d("ps", "--filter", "bogus=1")
            self.assertNotEqual(r.returncode, 0)
        finally:
            self.d("rm", "f1", "f2")

    def test_name_conflict_and_short_id(self):
        r = self.d("create", "--network", "none", "--name", "dup", "busybox", "true", check=True)
        cid = r.stdout.strip()
        self.assertRegex(cid, r"^[0-9a-f]{64}$")
        r = self.d("create", "--network", "none", "--name", "dup", "busybox", "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('is already in use by container "' + cid, r.stderr)
        r = self.d("inspect", "-f", "{{.Name}} {{.Config.Hostname}}", cid[:8], check=True)
        self.assertEqual(r.stdout.strip(), "/dup " + cid[:12])
        self.d("rm", cid[:10], check=True)

    def test_ping_headers_and_errors(self):
        out = raw_http(self.a.sock, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out)
        self.assertIn(b"Api-Version: 1.51", out)
        self.assertIn(b"Ostype: linux", out)
        out = raw_http(self.a.sock, b"GET /v1.99/version HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"400", out.split(b"\r\n")[0])
        self.assertIn(b"client version 1.99 is too new. Maximum supported API version is 1.51", out)
        self.assertIn(b"Content-Type: application/json\r\n", out)
        out = raw_http(self.a.sock, b"GET /v1.50/nope HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"404", out.split(b"\r\n")[0])
        self.assertIn(b'{"message":"page not found"}', out)
        out = raw_http(self.a.sock, b"GET /v1.50/swarm HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"501", out.split(b"\r\n")[0])
        self.assertEqual(stat.S_IMODE(os.stat(self.a.sock).st_mode), 0o660)

    def test_events_filters(self):
        self.d("run", "--rm", "--network", "none", "--name", "ev1", "--label", "grp=a", "busybox",
               "true", check=True)
        time.sleep(1.1)  # --until 0s is sent in whole seconds
        r = self.d("events", "--since", "5m", "--until", "0s", "--filter", "label=grp=a",
                   "--filter", "event=die", "--format", "{{json .}}", check=True)
        evs = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(len(evs), 1, r.stdout)
        e = evs[0]
        self.assertEqual(e["status"], "die")
        self.assertEqual(e["Actor"]["Attributes"]["name"], "ev1")
        self.assertEqual(e["Actor"]["Attributes"]["exitCode"], "0")
        self.assertEqual(e["Actor"]["Attributes"]["image"], "busybox")
        r = self.d("events", "--since", "5m", "--until", "0s", "--filter", "type=image",
                   "--format", "{{.Action}}", check=True)
        self.assertIn("load", r.stdout.split())

    def test_events_stream_live(self):
        p = subprocess.Popen([DOCKER, "events", "--filter", "container=live1", "--format",
                              "{{.Action}}"], env=self.a.env, stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)
            self.d("run", "--rm", "--network", "none", "--name", "live1", "busybox", "true",
                   check=True)
            got = []
            deadline = time.time() + 10
            while "destroy" not in got and time.time() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                got.append(line.strip())
            self.assertEqual(got, ["create", "start", "die", "destroy"])
        finally:
            p.kill()
            p.wait()


@unittest.skipIf(SKIP, SKIP)
class Restart(unittest.TestCase):
    def setUp(self):
        self.a = Arcad.with_busybox()

    def tearDown(self):
        self.a.cleanup()

    def test_kill9_and_restart_keeps_containers(self):
        d = self.a.docker
        d("run", "-d", "--name", "runner", "--network", "none", "busybox", "sh", "-c",
          "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done", check=True)
        d("run", "--name", "done", "--network", "none", "busybox", "sh", "-c", "exit 7")
        d("create", "--name", "fresh", "--network", "none", "busybox", "true", check=True)
        before = d("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}}", check=True).stdout
        pid = d("inspect", "-f", "{{.State.Pid}}", "runner", check=True).stdout.strip()
        self.assertTrue(os.path.exists(f"/proc/{pid}"))
        self.a.kill9()
        time.sleep(0.5)
        self.assertTrue(os.path.exists(f"/proc/{pid}"), "the container died with arcad")
        self.a.start()
        after = d("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}}", check=True).stdout
        self.assertEqual(sorted(before.splitlines()), sorted(after.splitlines()))
        r = d("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "runner", check=True)
        self.assertEqual(r.stdout.split(), ["true", pid])
        r = d("inspect", "-f", "{{.State.ExitCode}}", "done", check=True)
        self.assertEqual(r.stdout.strip(), "7")
        # Logs kept flowing while arcad was down, and the reattached container
        # can still be stopped and its exit observed.
        n1 = len(d("logs", "runner", check=True).stdout.split())
        time.sleep(0.5)
        n2 = len(d("logs", "runner", check=True).stdout.split())
        self.assertGreater(n2, n1)
        d("kill", "runner", check=True)
        r = d("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "runner", check=True)
        self.assertEqual(r.stdout.strip(), "exited 137")
        r = self.a.replay("verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.a.stop()  # clean shutdown saves a snapshot; verify compares against it
        r = self.a.replay("verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("snapshot at seq", r.stdout)
        r = self.a.replay("state")
        self.assertIn("runner", r.stdout)
        r = self.a.replay("events")
        self.assertIn("container_created", r.stdout)

    def test_exit_while_arcad_down_is_recorded(self):
        d = self.a.docker
        d("run", "-d", "--name", "short", "--network", "none", "busybox", "sh", "-c",
          "sleep 1; exit 4", check=True)
        self.a.kill9()
        time.sleep(2)
        self.a.start()
        r = d("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "short", check=True)
        self.assertEqual(r.stdout.strip(), "exited 4")
        time.sleep(1.1)  # --until 0s is sent in whole seconds
        r = d("events", "--since", "1m", "--until", "0s", "--filter", "container=short",
              "--format", "{{.Action}}", check=True)
        self.assertEqual(r.stdout.split(), ["create", "start", "die"])


if __name__ == "__main__":
    unittest.main()
