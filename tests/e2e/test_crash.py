"""Crash safety: kill -9 arcad while clients are creating containers; after the
restart every acknowledged create is there (the state is a prefix of the log
that includes everything acknowledged), and arca-replay verify passes."""
import json
import socket
import threading
import time
import unittest

from arca_fixture import Arcad, have_prereqs

SKIP = have_prereqs()


def post_create(sock_path, name):
    body = json.dumps({"Image": "busybox", "Cmd": ["true"],
                       "HostConfig": {"NetworkMode": "none"}}).encode()
    req = (f"POST /v1.50/containers/create?name={name} HTTP/1.1\r\nHost: x\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
           "Connection: close\r\n\r\n").encode() + body
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    try:
        s.connect(sock_path)
        s.sendall(req)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        return None
    finally:
        s.close()
    if not out.startswith(b"HTTP/1.1 201"):
        return None
    return json.loads(out.split(b"\r\n\r\n", 1)[1])["Id"]


@unittest.skipIf(SKIP, SKIP)
class CrashMidAppend(unittest.TestCase):
    def setUp(self):
        self.a = Arcad.with_busybox()

    def tearDown(self):
        self.a.cleanup()

    def test_acknowledged_creates_survive_kill9(self):
        acked = []
        lock = threading.Lock()
        stop = threading.Event()

        def worker(w):
            for i in range(400):  # bounded
                if stop.is_set():
                    return
                cid = post_create(self.a.sock, f"crash{w}_{i}")
                if cid:
                    with lock:
                        acked.append(cid)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        self.a.kill9()
        stop.set()
        for t in threads:
            t.join()
        self.assertGreater(len(acked), 10, "too few creates before the kill to mean anything")
        self.a.start()
        present = set(self.a.docker("ps", "-aq", "--no-trunc", check=True).stdout.split())
        missing = [c for c in acked if c not in present]
        self.assertEqual(missing, [], f"{len(missing)} acknowledged creates lost")
        r = self.a.replay("verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
