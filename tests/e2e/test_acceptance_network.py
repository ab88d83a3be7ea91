"""Issue #5 acceptance: the issue's command sequence, in order, with the real
docker CLI and curl on the host (networks, DNS by name and alias, isolation,
connect, published ports, container: mode, arcad kill -9, rm/prune)."""
import json
import os
import subprocess
import time
import unittest

from arca_fixture import Arcad, have_prereqs


@unittest.skipIf(have_prereqs(), have_prereqs())
class NetworkAcceptance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Arcad.with_busybox()

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()

    def d(self, *args, check=True, **kw):
        return self.a.docker(*args, check=check, **kw)

    def test_sequence(self):
        # docker network create app && docker network inspect app
        net_id = self.d("network", "create", "app").stdout.strip()
        self.assertRegex(net_id, r"^[0-9a-f]{64}$")
        info = json.loads(self.d("network", "inspect", "app").stdout)[0]
        self.assertEqual(info["Name"], "app")
        self.assertEqual(info["Driver"], "bridge")
        self.assertEqual(info["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16")

        # web serves a page on the network
        self.d("run", "-d", "--name", "web", "--network", "app", "busybox",
               "httpd", "-f", "-p", "80", "-h", "/var/www")
        page = self.d("run", "--rm", "--network", "app", "busybox", "wget", "-qO-", "http://web/")
        self.assertIn("arca e2e page", page.stdout)
        web = json.loads(self.d("inspect", "web").stdout)[0]
        web_ip = web["NetworkSettings"]["Networks"]["app"]["IPAddress"]
        self.assertEqual(web_ip, "172.18.0.2")
        ns = self.d("run", "--rm", "--network", "app", "busybox", "nslookup", "web")
        self.assertIn("Address: " + web_ip, ns.stdout)

        # an alias resolves
        self.d("run", "-d", "--name", "api", "--network", "app", "--network-alias", "backend",
               "busybox", "sleep", "1000")
        ping = self.d("run", "--rm", "--network", "app", "busybox", "ping", "-c1", "backend")
        self.assertIn("1 packets received", ping.stdout)

        # another network cannot reach web, by name or by address
        self.d("network", "create", "other")
        r = self.d("run", "--rm", "--network", "other", "busybox", "wget", "-T2", "-qO-",
                   "http://web/", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("arca e2e page", r.stdout)
        # (busybox wget crashes on numeric hosts, under dockerd too: nc speaks HTTP here)
        get = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w2 {web_ip} 80"
        r = self.d("run", "--rm", "--network", "other", "busybox", "sh", "-c", get, check=False)
        self.assertNotIn("arca e2e page", r.stdout, "network isolation broken")
        # (the same request from the app network works: the check can fail)
        r = self.d("run", "--rm", "--network", "app", "busybox", "sh", "-c", get)
        self.assertIn("arca e2e page", r.stdout)

        # after connect it can
        self.d("network", "connect", "other", "web")
        page = self.d("run", "--rm", "--network", "other", "busybox", "wget", "-qO-", "http://web/")
        self.assertIn("arca e2e page", page.stdout)

        # a published port, reachable from the host
        self.d("run", "-d", "-p", "127.0.0.1:18080:80", "--name", "pub", "busybox",
               "httpd", "-f", "-p", "80", "-h", "/var/www")
        body = ""
        for _ in range(50):
            c = subprocess.run(["curl", "-s", "127.0.0.1:18080"], capture_output=True, text=True)
            body = c.stdout
            if "arca e2e page" in body:
                break
            time.sleep(0.1)
        self.assertIn("arca e2e page", body)
        self.assertEqual(self.d("port", "pub").stdout.strip(), "80/tcp -> 127.0.0.1:18080")
        page = self.d("run", "--rm", "--network", "container:web", "busybox", "wget", "-qO-",
                      "http://127.0.0.1/")
        self.assertIn("arca e2e page", page.stdout)

        # kill -9 arcad; restart: names and ports still work
        self.a.kill9()
        self.a.start()
        page = self.d("run", "--rm", "--network", "app", "busybox", "wget", "-qO-", "http://web/")
        self.assertIn("arca e2e page", page.stdout)
        c = subprocess.run(["curl", "-s", "127.0.0.1:18080"], capture_output=True, text=True)
        self.assertIn("arca e2e page", c.stdout)

        # rm while in use fails; after the containers go it works; prune
        r = self.d("network", "rm", "app", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("has active endpoints", r.stderr)
        self.d("rm", "-f", "web", "api", "pub")
        self.d("network", "rm", "app")
        pr = self.d("network", "prune", "-f")
        self.assertIn("other", pr.stdout)
        names = self.d("network", "ls", "--format", "{{.Name}}").stdout.split()
        self.assertEqual(sorted(names), ["bridge", "host", "none"])
        # the published port went with its container
        c = subprocess.run(["curl", "-s", "-m", "2", "127.0.0.1:18080"], capture_output=True)
        self.assertNotEqual(c.returncode, 0)


if __name__ == "__main__":
    unittest.main()
