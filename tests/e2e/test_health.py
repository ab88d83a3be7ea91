"""Health checks (issue #4): --health-* flags and the image's HEALTHCHECK,
State.Health with its log, health_status events, docker ps "(healthy)"."""
import json
import time
import unittest

from arca_fixture import ArcadTestCase, have_prereqs

SKIP = have_prereqs()
RUN = ["run", "--network", "none"]


@unittest.skipIf(SKIP, SKIP or "")
class HealthTest(ArcadTestCase):

    def health(self, name):
        r = self.d("inspect", "-f", "{{json .State.Health}}", name, check=True)
        return json.loads(r.stdout)

    def wait_status(self, name, want, timeout=30):
        deadline = time.time() + timeout
        h = None
        while time.time() < deadline:
            h = self.health(name)
            if h and h["Status"] == want:
                return h
            time.sleep(0.2)
        self.fail(f"{name}: health {want!r} not reached: {h}\n{self.arcad.log()}")

    def test_starting_then_healthy(self):
        self.d(*RUN, "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok",
               "--health-interval", "1s", "busybox", "sh", "-c",
               "sleep 3; touch /tmp/ok; sleep 100", check=True)
        self.assertEqual(self.health("hc")["Status"], "starting")
        r = self.d("ps", "--format", "{{.Status}}", "-f", "name=hc", check=True)
        self.assertIn("(health: starting)", r.stdout)
        h = self.wait_status("hc", "healthy")
        self.assertEqual(h["FailingStreak"], 0)
        self.assertEqual(h["Log"][-1]["ExitCode"], 0)
        r = self.d("ps", "--format", "{{.Status}}", "-f", "name=hc", check=True)
        self.assertIn("(healthy)", r.stdout)
        r = self.d("inspect", "-f", "{{json .Config.Healthcheck}}", "hc", check=True)
        cfg = json.loads(r.stdout)
        self.assertEqual(cfg["Test"], ["CMD-SHELL", "test -f /tmp/ok"])
        self.assertEqual(cfg["Interval"], 1000000000)
        time.sleep(1.1)
        r = self.d("events", "--since", "60s", "--until", "0s", "--filter", "container=hc",
                   "--filter", "event=health_status", "--format", "{{.Action}}", check=True)
        self.assertIn("health_status: healthy", r.stdout)
        self.d("rm", "-f", "hc", check=True)

    def test_unhealthy_after_retries_and_timeout(self):
        self.d(*RUN, "-d", "--name", "bad", "--health-cmd", "echo nope; exit 1",
               "--health-interval", "1s", "--health-retries", "2", "busybox", "sleep", "100",
               check=True)
        h = self.wait_status("bad", "unhealthy")
        self.assertGreaterEqual(h["FailingStreak"], 2)
        self.assertEqual(h["Log"][-1]["ExitCode"], 1)
        self.assertEqual(h["Log"][-1]["Output"], "nope\n")
        self.d(*RUN, "-d", "--name", "slow", "--health-cmd", "sleep 5",
               "--health-interval", "1s", "--health-timeout", "1s", "--health-retries", "1",
               "busybox", "sleep", "100", check=True)
        h = self.wait_status("slow", "unhealthy")
        self.assertEqual(h["Log"][-1]["ExitCode"], -1)
        self.assertIn("Health check exceeded timeout (1s)", h["Log"][-1]["Output"])
        self.d("rm", "-f", "bad", "slow", check=True)

    def test_image_healthcheck_and_none(self):
        self.d(*RUN, "-d", "--name", "base", "busybox", "sleep", "100", check=True)
        self.d("commit", "-c", "HEALTHCHECK --interval=1s CMD true", "base", "hcimg:1", check=True)
        self.d("rm", "-f", "base", check=True)
        self.d(*RUN, "-d", "--name", "fromimg", "hcimg:1", "sleep", "100", check=True)
        self.wait_status("fromimg", "healthy")
        self.d(*RUN, "-d", "--name", "nohc", "--no-healthcheck", "hcimg:1", "sleep", "100",
               check=True)
        r = self.d("inspect", "-f", "{{json .State.Health}}", "nohc", check=True)
        self.assertEqual(r.stdout.strip(), "null")
        self.d("rm", "-f", "fromimg", "nohc", check=True)

    def test_bad_input(self):
        r = self.d(*RUN, "--health-cmd", "true", "--health-interval", "100us", "busybox", "true")
        self.assertEqual(r.returncode, 125)
        self.assertIn("Interval in Healthcheck cannot be less than 1ms", r.stderr)
        r = self.d(*RUN, "--health-cmd", "true", "--health-retries", "-1", "busybox", "true")
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
