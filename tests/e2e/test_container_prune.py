"""docker container prune (issue #4's first piece): stopped containers go,
running ones and those the filters spare stay."""
import json
import time
import unittest

from arca_fixture import ArcadTestCase, have_prereqs

SKIP = have_prereqs()


@unittest.skipIf(SKIP, SKIP or "")
class ContainerPruneTest(ArcadTestCase):

    def ids(self):
        return set(self.d("ps", "-aq", "--no-trunc", check=True).stdout.split())

    def test_prune(self):
        run = ["run", "--network", "none"]
        exited = self.d(*run, "-d", "busybox", "true", check=True).stdout.strip()
        created = self.d("create", "--network", "none", "busybox", "true", check=True).stdout.strip()
        keep = self.d(*run, "-d", "--label", "keep=1", "busybox", "true", check=True).stdout.strip()
        running = self.d(*run, "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
        self.d("wait", exited, keep, check=True)
        r = self.d("container", "prune", "-f", "--filter", "label!=keep=1", check=True)
        self.assertIn("Deleted Containers:", r.stdout)
        self.assertIn(exited, r.stdout)
        self.assertIn(created, r.stdout)
        self.assertEqual(self.ids(), {keep, running})
        # until: the kept one is younger than an hour ago -> nothing goes.
        r = self.d("container", "prune", "-f", "--filter", "until=1h", check=True)
        self.assertNotIn(keep, r.stdout)
        self.assertEqual(self.ids(), {keep, running})
        r = self.d("container", "prune", "-f", check=True)
        self.assertIn(keep, r.stdout)
        self.assertEqual(self.ids(), {running})
        r = self.d("container", "prune", "-f", "--filter", "bogus=1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid filter 'bogus'", r.stderr)
        self.d("rm", "-f", running, check=True)
        time.sleep(1.1)
        ev = self.d("events", "--since", "30s", "--until", "0s", "--filter", "event=destroy",
                    "--format", "{{.Actor.ID}}", check=True).stdout.split()
        self.assertTrue({exited, created, keep} <= set(ev))


if __name__ == "__main__":
    unittest.main()
