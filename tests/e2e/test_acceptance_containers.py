"""Issue #4's acceptance sequence, in order, with the real docker CLI (the TTY
steps on a pseudo-terminal of the test's own). The pieces are tested in
depth by test_interactive, test_resources, test_lifecycle, test_health,
test_files and test_ops; this runs them together the way a user would."""
import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
import unittest

from arca_fixture import DOCKER, ArcadTestCase, have_prereqs
from pty_fixture import Pty

SKIP = have_prereqs()
NET = ["--network", "none"]


@unittest.skipIf(SKIP, SKIP or "")
class ContainersAcceptanceTest(ArcadTestCase):
    def wait_for(self, what, fn, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = fn()
            if v:
                return v
            time.sleep(0.25)
        self.fail(f"timed out waiting for {what}\n{self.arcad.log()}")

    def test_sequence(self):
        d = self.d
        # docker run -it busybox sh: prompt, stty size, resize, exit 7 -> 7
        p = Pty([DOCKER, "run", *NET, "-it", "busybox", "sh"], self.arcad.env, rows=24, cols=80)
        try:
            p.expect(r"/ # ")
            p.send("stty size\r")
            p.expect(r"24 80")
            mark = len(p.text())
            p.resize(30, 90)
            time.sleep(0.3)
            p.send("stty size\r")
            p.expect(r"30 90", start=mark)
            p.send("exit 7\r")
            self.assertEqual(p.wait(), 7)
        finally:
            p.close()
        # echo hi | docker run -i --rm busybox cat
        self.assertEqual(d("run", *NET, "-i", "--rm", "busybox", "cat", input="hi\n",
                           check=True).stdout, "hi\n")
        # docker run -d --name svc ... && docker exec -it svc sh -c 'tty; echo $$'
        d("run", *NET, "-d", "--name", "svc", "busybox", "sleep", "1000", check=True)
        p = Pty([DOCKER, "exec", "-it", "svc", "sh", "-c", "tty; echo $$"], self.arcad.env)
        try:
            p.expect(r"/dev/pts/\d+\s+\d+")
            self.assertEqual(p.wait(), 0)
        finally:
            p.close()
        # docker exec svc sh -c 'exit 5'; echo $? -> 5
        self.assertEqual(d("exec", "svc", "sh", "-c", "exit 5").returncode, 5)
        # limits and stats
        d("run", *NET, "-d", "--name", "lim", "-m", "64m", "--cpus", "0.5", "--pids-limit", "20",
          "busybox", "sleep", "1000", check=True)
        r = d("stats", "--no-stream", "--format", "{{json .}}", "lim", check=True)
        st = json.loads(r.stdout)
        self.assertEqual(st["Name"], "lim")
        self.assertIn("64MiB", st["MemUsage"])
        # restart policy on-failure:3 -> RestartCount 3, exited
        rid = d("run", *NET, "-d", "--restart", "on-failure:3", "busybox", "sh", "-c", "exit 1",
                check=True).stdout.strip()

        def restarted():
            i = json.loads(d("inspect", rid, check=True).stdout)[0]
            return i["RestartCount"] == 3 and i["State"]["Status"] == "exited"
        self.wait_for("RestartCount 3", restarted)
        # health check: starting -> healthy
        d("run", *NET, "-d", "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s",
          "--name", "hc", "busybox", "sh", "-c", "sleep 3; touch /tmp/ok; sleep 100", check=True)
        self.assertEqual(d("inspect", "-f", "{{.State.Health.Status}}", "hc",
                           check=True).stdout.strip(), "starting")
        self.wait_for("healthy", lambda: d("inspect", "-f", "{{.State.Health.Status}}", "hc",
                                           check=True).stdout.strip() == "healthy")
        # docker cp ./dir svc:/tmp/ && docker cp svc:/etc/passwd - | tar -t
        src = tempfile.mkdtemp(dir=self.arcad.root)
        os.makedirs(os.path.join(src, "dir"))
        with open(os.path.join(src, "dir", "f.txt"), "w") as f:
            f.write("payload\n")
        subprocess.run([DOCKER, "cp", "./dir", "svc:/tmp/"], cwd=src, env=self.arcad.env,
                       check=True, capture_output=True)
        out = subprocess.run([DOCKER, "cp", "svc:/etc/passwd", "-"], env=self.arcad.env,
                             check=True, capture_output=True).stdout
        self.assertEqual(tarfile.open(fileobj=io.BytesIO(out)).getnames(), ["passwd"])
        # top, pause, unpause, rename, update
        r = d("top", "svc", check=True)
        self.assertIn("sleep 1000", r.stdout)
        d("pause", "svc", check=True)
        self.assertIn("(Paused)", d("ps", "-f", "name=svc", "--format", "{{.Status}}",
                                    check=True).stdout)
        d("unpause", "svc", check=True)
        d("rename", "svc", "svc2", check=True)
        # dockerd (cgroup v1) refuses --memory alone on a container without a
        # limit ("...update the memoryswap at the same time"); with both it applies.
        d("update", "--memory", "128m", "--memory-swap", "256m", "svc2", check=True)
        r = d("inspect", "-f", "{{.HostConfig.Memory}}", "svc2", check=True)
        self.assertEqual(r.stdout.strip(), str(128 << 20))
        # commit and run the snapshot
        d("commit", "svc2", "snap:1", check=True)
        r = d("run", *NET, "--rm", "snap:1", "ls", "/tmp/dir", check=True)
        self.assertEqual(r.stdout.split(), ["f.txt"])
        # export and diff
        out = subprocess.run([DOCKER, "export", "svc2"], env=self.arcad.env, check=True,
                             capture_output=True).stdout
        names = tarfile.open(fileobj=io.BytesIO(out)).getnames()
        self.assertIn("bin/busybox", names)
        self.assertIn("tmp/dir/f.txt", names)
        r = d("diff", "svc2", check=True)
        self.assertIn("A /tmp/dir/f.txt", r.stdout)
        self.assertIn("C /tmp", r.stdout)
        d("rm", "-f", "svc2", "lim", "hc", rid, check=True)


if __name__ == "__main__":
    unittest.main()
