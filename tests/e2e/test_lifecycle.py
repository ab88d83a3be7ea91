"""Container lifecycle (issue #4): restart policies with Docker's back-off and
their decisions across an arcad crash, `docker wait` conditions, `docker kill`
with any signal, json-file log rotation (max-size / max-file) and
`docker logs` across rotated files."""
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from arca_fixture import DOCKER, Arcad, have_prereqs

SKIP = have_prereqs()
RUN = ["run", "--network", "none"]


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def api(sock, method, url, timeout=60):
    c = UnixHTTP(sock, timeout)
    c.request(method, url)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def until(pred, timeout=30, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Base(unittest.TestCase):
    def d(self, *args, **kw):
        return self.arcad.docker(*args, **kw)

    def inspect(self, ref):
        r = self.d("inspect", ref)
        return json.loads(r.stdout)[0] if r.returncode == 0 else None

    def state(self, ref):
        i = self.inspect(ref)
        return (i["State"]["Status"], i["RestartCount"]) if i else (None, None)


@unittest.skipIf(SKIP, SKIP or "")
class LifecycleTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.arcad = Arcad.with_busybox()

    @classmethod
    def tearDownClass(cls):
        cls.arcad.cleanup()

    def test_restart_policy_validation(self):
        for args, msg in [
            (["--restart", "bogus"], "invalid restart policy: unknown policy 'bogus'"),
            (["--restart", "on-failure:-1"], "maximum retry count cannot be negative"),
            (["--restart", "always:3"],
             "maximum retry count can only be used with 'on-failure'"),
        ]:
            r = self.d(*RUN, "-d", *args, "busybox", "true")
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(msg, r.stderr, args)
        st, body = api(self.arcad.sock, "POST", "/containers/create")  # no body: still served
        self.assertEqual(st, 400)

    def test_on_failure_retries_then_exits(self):
        cid = self.d(*RUN, "-d", "--restart", "on-failure:3", "busybox", "sh", "-c",
                     "echo ran; exit 1", check=True).stdout.strip()
        # docker logs -f ends when the run ends, as with dockerd (not across restarts).
        f = subprocess.run([DOCKER, "logs", "-f", cid], env=self.arcad.env, capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(f.returncode, 0)
        done = until(lambda: self.state(cid) == ("exited", 3), timeout=40)
        self.assertTrue(done, self.state(cid))
        i = self.inspect(cid)
        self.assertEqual(i["State"]["ExitCode"], 1)
        self.assertEqual(i["HostConfig"]["RestartPolicy"],
                         {"Name": "on-failure", "MaximumRetryCount": 3})
        self.assertEqual(self.d("logs", cid, check=True).stdout, "ran\n" * 4)
        time.sleep(1.1)
        ev = self.d("events", "--since", "60s", "--until", "0s", "--filter", f"container={cid}",
                    "--format", "{{.Action}}", check=True).stdout.split()
        self.assertEqual(ev.count("start"), 4, ev)
        self.assertEqual(ev.count("die"), 4, ev)
        self.assertNotIn("restart", ev)
        # A user's start resets RestartCount, as dockerd's does.
        self.d("start", cid, check=True)
        self.assertTrue(until(lambda: self.state(cid) == ("exited", 3), timeout=40))
        self.d("rm", cid, check=True)

    def test_logs_follow_ends_at_docker_restart(self):
        # dockerd (measured: 20.10) ends `docker logs -f` when the run ends,
        # also when `docker restart` starts the container again.
        cid = self.d(*RUN, "-d", "busybox", "sh", "-c",
                     'trap "exit 0" TERM; while true; do echo tick; sleep 0.2; done',
                     check=True).stdout.strip()
        f = subprocess.Popen([DOCKER, "logs", "-f", cid], env=self.arcad.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        self.d("restart", "-t", "5", cid, check=True)
        try:
            out, _ = f.communicate(timeout=20)
        finally:
            f.kill()
        self.assertEqual(f.returncode, 0)
        self.assertIn("tick", out)
        self.assertEqual(self.state(cid)[0], "running")
        self.d("rm", "-f", cid, check=True)

    def test_restarting_status_stop_and_rm(self):
        cid = self.d(*RUN, "-d", "--restart", "always", "busybox", "sh", "-c", "exit 2",
                     check=True).stdout.strip()
        # The back-off grows (100 ms, 200 ms, ...): the container is seen restarting.
        seen = until(lambda: self.state(cid)[0] == "restarting" and self.state(cid)[1] >= 4,
                     timeout=40, step=0.05)
        self.assertTrue(seen, self.state(cid))
        ps = until(lambda: [l for l in self.d("ps", "--format", "{{.ID}} {{.Status}}",
                                              check=True).stdout.splitlines()
                            if l.startswith(cid[:12]) and "Restarting (2)" in l], timeout=20,
                   step=0.05)
        self.assertTrue(ps)
        i = self.inspect(cid)
        if i["State"]["Status"] == "restarting":
            self.assertTrue(i["State"]["Restarting"])
            self.assertTrue(i["State"]["Running"])
        r = self.d("rm", cid)
        if r.returncode != 0:
            self.assertIn("container is restarting", r.stderr)
        # docker stop abandons the pending restart.
        self.d("stop", cid, check=True)
        self.assertEqual(self.state(cid)[0], "exited")
        time.sleep(1.5)
        self.assertEqual(self.state(cid)[0], "exited")
        ev = self.d("events", "--since", "60s", "--until", "0s", "--filter", f"container={cid}",
                    "--format", "{{.Action}}", check=True).stdout.split()
        self.assertEqual(ev[-1], "stop", ev)
        self.d("rm", cid, check=True)

    def test_always_restarts_after_a_crash_not_after_kill_or_stop(self):
        cid = self.d(*RUN, "-d", "--restart", "always", "busybox", "sleep", "1000",
                     check=True).stdout.strip()
        pid = self.inspect(cid)["State"]["Pid"]
        self.assertGreater(pid, 0)
        os.kill(pid, signal.SIGKILL)  # the process dies on its own account
        back = until(lambda: self.state(cid) == ("running", 1) and
                     self.inspect(cid)["State"]["Pid"] not in (0, pid), timeout=30)
        self.assertTrue(back, self.state(cid))
        # dockerd: `docker kill` counts as a manual stop and cancels the policy.
        self.d("kill", cid, check=True)
        time.sleep(1.5)
        self.assertEqual(self.state(cid), ("exited", 1))
        self.d("start", cid, check=True)
        self.assertEqual(self.state(cid), ("running", 0))
        self.d("stop", "-t", "1", cid, check=True)
        time.sleep(1.5)
        self.assertEqual(self.state(cid)[0], "exited")
        self.d("rm", cid, check=True)

    def test_wait_conditions(self):
        sock = self.arcad.sock
        st, body = api(sock, "POST", "/containers/nope/wait")
        self.assertEqual(st, 404)
        cid = self.d(*RUN, "-d", "busybox", "sh", "-c", "exit 3", check=True).stdout.strip()
        self.assertEqual(self.d("wait", cid, check=True).stdout.strip(), "3")
        st, body = api(sock, "POST", f"/containers/{cid}/wait?condition=bogus")
        self.assertEqual(st, 400)
        self.assertIn('invalid condition: \\"bogus\\"', body)
        st, body = api(sock, "POST", f"/containers/{cid}/wait?condition=not-running")
        self.assertEqual((st, json.loads(body)["StatusCode"]), (200, 3))
        # next-exit waits for the next run's exit; removed for the removal.
        for cond, action in [("next-exit", "start"), ("removed", "rm")]:
            out = {}
            t = threading.Thread(target=lambda: out.update(
                r=api(sock, "POST", f"/containers/{cid}/wait?condition={cond}")))
            t.start()
            time.sleep(0.5)
            self.assertTrue(t.is_alive(), cond)
            self.d(action, cid, check=True)
            t.join(30)
            self.assertEqual(out["r"][0], 200)
            self.assertEqual(json.loads(out["r"][1])["StatusCode"], 3)

    def test_kill_with_any_signal(self):
        cid = self.d(*RUN, "-d", "busybox", "sh", "-c",
                     'trap "echo got-usr1" USR1; trap "echo got-usr2" USR2; '
                     'echo ready; while true; do sleep 0.1; done', check=True).stdout.strip()
        self.assertTrue(until(lambda: "ready" in self.d("logs", cid).stdout))
        for sig in ["USR1", "SIGUSR2", "usr1", "10"]:
            self.d("kill", "-s", sig, cid, check=True)
            time.sleep(0.3)
        logs = until(lambda: (lambda o: o if o.count("got-usr1") >= 3 else None)(
            self.d("logs", cid).stdout), timeout=10)
        self.assertTrue(logs)
        self.assertIn("got-usr2", logs)
        for sig, msg in [("FOO", "invalid signal: FOO"),
                         ("99", "the linux daemon does not support signal 99"),
                         ("0", "invalid signal: 0")]:
            r = self.d("kill", "-s", sig, cid)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(msg, r.stderr)
        self.assertEqual(self.state(cid)[0], "running")
        # PID 1 ignores signals it has no handler for; the signal is delivered all the same.
        self.d("kill", "-s", "RTMIN+3", cid, check=True)
        self.assertEqual(self.state(cid)[0], "running")
        self.d("kill", cid, check=True)
        self.assertEqual(self.d("wait", cid, check=True).stdout.strip(), "137")
        r = self.d("kill", cid)
        self.assertIn("is not running", r.stderr)
        self.d("rm", cid, check=True)

    def test_log_rotation(self):
        r = self.d(*RUN, "--log-opt", "foo=bar", "busybox", "true")
        self.assertIn("unknown log opt 'foo' for json-file log driver", r.stderr)
        r = self.d(*RUN, "--log-opt", "max-size=abc", "busybox", "true")
        self.assertIn("failed to initialize logging driver: invalid size: 'abc'", r.stderr)
        cid = self.d(*RUN, "-d", "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
                     "busybox", "sh", "-c",
                     "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done",
                     check=True).stdout.strip()
        self.d("wait", cid, check=True)
        path = self.inspect(cid)["LogPath"]
        self.assertTrue(os.path.exists(path + ".1"))
        self.assertTrue(os.path.exists(path + ".2"))
        self.assertFalse(os.path.exists(path + ".3"))
        for p in (path + ".1", path + ".2"):
            self.assertLess(os.path.getsize(p), 10000 + 200)
            self.assertGreaterEqual(os.path.getsize(p), 10000)
        lines = self.d("logs", cid, check=True).stdout.splitlines()
        self.assertLess(len(lines), 3000)
        self.assertGreater(len(lines), 200)
        first = int(lines[0].split("-")[1])
        self.assertEqual(lines, [f"line-{i}" for i in range(first, 3000)])
        tail = self.d("logs", "--tail", "5", cid, check=True).stdout.splitlines()
        self.assertEqual(tail, [f"line-{i}" for i in range(2995, 3000)])
        self.d("rm", cid, check=True)

    def test_logs_follow_across_rotation(self):
        cid = self.d(*RUN, "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=10",
                     "busybox", "sh", "-c",
                     "sleep 1; i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); "
                     "[ $((i % 20)) = 0 ] && sleep 0.05; done", check=True).stdout.strip()
        f = subprocess.run([DOCKER, "logs", "-f", cid], env=self.arcad.env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(f.returncode, 0, f.stderr)
        path = self.inspect(cid)["LogPath"]
        self.assertTrue(os.path.exists(path + ".5"))  # rotated many times while followed
        self.assertEqual(f.stdout.splitlines(), [f"line-{i}" for i in range(400)])
        self.d("rm", cid, check=True)


@unittest.skipIf(SKIP, SKIP or "")
class RestartAcrossArcadCrashTest(Base):
    def setUp(self):
        self.arcad = Arcad.with_busybox()

    def tearDown(self):
        self.arcad.cleanup()

    def test_policies_at_arcad_start(self):
        run = lambda name, policy, *cmd: self.d(*RUN, "-d", "--name", name, "--restart", policy,
                                                "busybox", *cmd, check=True)
        run("us_run", "unless-stopped", "sh", "-c", "echo hello; exec sleep 1000")
        run("us_stopped", "unless-stopped", "sleep", "1000")
        run("al_stopped", "always", "sleep", "1000")
        run("us_crash", "unless-stopped", "sleep", "1000")
        run("backoff", "always", "sh", "-c", "exit 1")
        self.d("stop", "-t", "1", "us_stopped", "al_stopped", check=True)
        # Let the back-off grow so that a restart is pending when arcad dies.
        pending = until(lambda: self.state("backoff")[0] == "restarting" and
                        self.state("backoff")[1] >= 6, timeout=60, step=0.05)
        self.assertTrue(pending, self.state("backoff"))
        count = self.state("backoff")[1]
        run_pid = self.inspect("us_run")["State"]["Pid"]
        crash_pid = self.inspect("us_crash")["State"]["Pid"]
        self.arcad.kill9()
        os.kill(crash_pid, signal.SIGKILL)  # dies while arcad is down
        time.sleep(0.5)
        self.arcad.start()
        self.assertEqual(self.state("us_run")[0], "running")
        self.assertEqual(self.inspect("us_run")["State"]["Pid"], run_pid)
        self.assertEqual(self.d("logs", "us_run", check=True).stdout, "hello\n")
        self.assertEqual(self.state("us_stopped")[0], "exited")
        self.assertTrue(until(lambda: self.state("al_stopped")[0] == "running", timeout=20))
        self.assertTrue(until(lambda: self.state("us_crash")[0] == "running", timeout=20))
        # The restart decided before the crash happens after it.
        self.assertTrue(until(lambda: self.state("backoff")[1] > count, timeout=30),
                        (count, self.state("backoff")))
        self.d("rm", "-f", "us_run", "us_stopped", "al_stopped", "us_crash", "backoff",
               check=True)
        self.assertEqual(self.d("ps", "-aq", check=True).stdout.strip(), "")


if __name__ == "__main__":
    unittest.main()
