"""docker-compose 1.29 on Arca (issue #5): a two-service app on a user
network; the client reaches the server by its service name; down removes
the network."""
import json
import shutil
import time
import unittest

from arca_fixture import ComposeTestCase, have_prereqs

SKIP = have_prereqs() or (None if shutil.which("docker-compose") else "docker-compose missing")

COMPOSE = """
version: "3.7"
services:
  server:
    image: busybox
    command: httpd -f -p 80 -h /var/www
  client:
    image: busybox
    depends_on: [server]
    command: >-
      sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20;
      do wget -qO- http://server/ && exit 0; sleep 0.3; done; exit 1'
networks:
  default:
    name: appnet_default
"""


@unittest.skipIf(SKIP, SKIP)
class ComposeNetwork(ComposeTestCase):
    COMPOSE = COMPOSE
    PROJECT = "appnet"

    def test_client_reaches_server_by_service_name(self):
        r = self.compose("up", "-d")
        self.assertEqual(r.returncode, 0, r.stderr + self.a.log())
        cid = ""
        for _ in range(100):
            cid = self.a.docker("ps", "-aq", "--filter", "label=com.docker.compose.service=client").stdout.strip()
            state = json.loads(self.a.docker("inspect", cid).stdout)[0]["State"] if cid else {}
            if state.get("Status") == "exited":
                break
            time.sleep(0.2)
        self.assertEqual(state.get("ExitCode"), 0, self.a.docker("logs", cid).stderr)
        self.assertIn("arca e2e page", self.a.docker("logs", cid).stdout)
        # compose's aliases: the service name and the container's
        server = self.a.docker("ps", "-q", "--filter", "label=com.docker.compose.service=server").stdout.strip()
        eps = json.loads(self.a.docker("inspect", server).stdout)[0]["NetworkSettings"]["Networks"]
        self.assertIn("server", eps["appnet_default"]["Aliases"])
        r = self.compose("down", "-t", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        names = self.a.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
        self.assertNotIn("appnet_default", names)


if __name__ == "__main__":
    unittest.main()
