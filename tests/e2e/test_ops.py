"""docker stats, top, pause and unpause (issue #4) with the real docker CLI:
Docker's JSON shapes, the freezer, and dockerd's answers to bad input."""
import json
import os
import socket
import time
import unittest

from arca_fixture import Arcad, have_prereqs

SKIP = have_prereqs()

# The keys dockerd 20.10 sends for a running container on --network none (cgroup v1).
STATS_KEYS = {"read", "preread", "pids_stats", "blkio_stats", "num_procs", "storage_stats",
              "cpu_stats", "precpu_stats", "memory_stats", "name", "id"}
BLKIO_KEYS = {"io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
              "io_time_recursive", "sectors_recursive"}


def connect(sock_path, request, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall(request.encode())
    return s


def http(sock_path, method, path, timeout=10):
    """One HTTP/1.0 request on the unix socket: (status, body bytes)."""
    s = connect(sock_path, f"{method} {path} HTTP/1.0\r\nHost: x\r\n\r\n", timeout)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def stream_lines(sock_path, path, count, timeout=10):
    """Reads the first `count` NDJSON objects of a chunked stream, then hangs up."""
    s = connect(sock_path, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n", timeout)
    buf = b""
    objs = []
    deadline = time.time() + timeout
    while len(objs) < count and time.time() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        # Chunk framing aside, every object is one line starting with '{'.
        lines = buf.split(b"\n")
        buf = lines.pop()
        objs += [json.loads(line) for line in lines if line.startswith(b"{")]
    s.close()
    return objs[:count]


@unittest.skipIf(SKIP, SKIP or "")
class OpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.arcad = Arcad.with_busybox()
        d = cls.arcad.docker
        cls.svc = d("run", "-d", "--name", "svc", "--network", "none", "busybox", "sleep", "1000",
                    check=True).stdout.strip()
        # -m comes with the resources work of issue #4: use it when this build has it.
        r = d("run", "-d", "--name", "lim", "--network", "none", "-m", "64m", "--pids-limit",
              "20", "busybox", "sleep", "1000")
        cls.has_limits = r.returncode == 0
        if not cls.has_limits:
            d("rm", "-f", "lim")
            d("run", "-d", "--name", "lim", "--network", "none", "busybox", "sleep", "1000",
              check=True)

    @classmethod
    def tearDownClass(cls):
        cls.arcad.docker("rm", "-f", "svc", "lim", "paused1", "paused2", "paused3", "stopme")
        cls.arcad.cleanup()

    def d(self, *args, **kw):
        return self.arcad.docker(*args, **kw)

    def api(self, method, path):
        return http(self.arcad.sock, method, "/v1.51" + path)

    # --- stats ---------------------------------------------------------------

    def test_stats_no_stream_cli(self):
        out = self.d("stats", "--no-stream", "lim", check=True).stdout
        lines = out.strip().splitlines()
        self.assertEqual(lines[0].split()[:4], ["CONTAINER", "ID", "NAME", "CPU"])
        self.assertIn("lim", lines[1])
        self.assertIn("MiB" if self.has_limits else "GiB", lines[1])
        if self.has_limits:
            self.assertIn("/ 64MiB", lines[1])
        row = json.loads(self.d("stats", "--no-stream", "--format", "{{json .}}", "svc",
                                check=True).stdout)
        self.assertEqual(row["Name"], "svc")
        self.assertEqual(row["ID"], self.svc[:12])
        self.assertEqual(row["PIDs"], "1")
        self.assertEqual(row["NetIO"], "0B / 0B")
        self.assertNotEqual(row["MemUsage"].split(" / ")[1], "0B")

    def test_stats_document_shape(self):
        st, body = self.api("GET", "/containers/lim/stats?stream=false")
        self.assertEqual(st, 200)
        s = json.loads(body)
        self.assertEqual(set(s), STATS_KEYS)  # no "networks" on --network none
        self.assertEqual(s["name"], "/lim")
        self.assertEqual(len(s["id"]), 64)
        self.assertEqual(set(s["blkio_stats"]), BLKIO_KEYS)
        self.assertNotEqual(s["preread"], "0001-01-01T00:00:00Z")  # two samples
        self.assertGreater(s["precpu_stats"]["system_cpu_usage"], 0)
        self.assertGreater(s["cpu_stats"]["system_cpu_usage"],
                           s["precpu_stats"]["system_cpu_usage"])
        self.assertEqual(s["pids_stats"]["current"], 1)
        self.assertGreater(s["cpu_stats"]["online_cpus"], 0)
        self.assertEqual(set(s["cpu_stats"]["throttling_data"]),
                         {"periods", "throttled_periods", "throttled_time"})
        mem = s["memory_stats"]
        self.assertGreater(mem["usage"], 0)
        self.assertGreater(mem["limit"], 0)
        self.assertIn("total_inactive_file", mem["stats"])
        self.assertNotIn("shmem", mem["stats"])
        if self.has_limits:
            self.assertEqual(mem["limit"], 64 << 20)
            self.assertEqual(s["pids_stats"]["limit"], 20)
        # one-shot: one sample, no precpu.
        st, body = self.api("GET", "/containers/lim/stats?stream=false&one-shot=true")
        self.assertEqual(st, 200)
        s = json.loads(body)
        self.assertEqual(s["preread"], "0001-01-01T00:00:00Z")
        self.assertEqual(set(s["precpu_stats"]), {"cpu_usage", "throttling_data"})
        st, _ = self.api("GET", "/containers/lim/stats?stream=true&one-shot=true")
        self.assertEqual(st, 400)

    def test_stats_stream(self):
        objs = stream_lines(self.arcad.sock, "/v1.51/containers/svc/stats", 3)
        self.assertEqual(len(objs), 3)
        self.assertEqual(objs[0]["preread"], "0001-01-01T00:00:00Z")
        self.assertEqual(objs[1]["preread"], objs[0]["read"])
        self.assertEqual(objs[2]["precpu_stats"], objs[1]["cpu_stats"])
        self.assertTrue(all(o["name"] == "/svc" for o in objs))

    def test_stats_stopped_and_missing(self):
        self.d("run", "-d", "--name", "stopme", "--network", "none", "busybox", "true",
               check=True)
        self.d("wait", "stopme", check=True)
        st, body = self.api("GET", "/containers/stopme/stats?stream=false")
        self.assertEqual(st, 200)
        s = json.loads(body)
        self.assertEqual(s["read"], "0001-01-01T00:00:00Z")
        self.assertEqual(s["memory_stats"], {})
        self.assertIsNone(s["blkio_stats"]["io_service_bytes_recursive"])
        st, body = self.api("GET", "/containers/nope/stats?stream=false")
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(body)["message"], "No such container: nope")
        r = self.d("stats", "--no-stream", "nope")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such container: nope", r.stderr)

    # --- top -----------------------------------------------------------------

    def test_top(self):
        out = self.d("top", "svc", check=True).stdout.splitlines()
        self.assertEqual(out[0].split(), ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"])
        self.assertEqual(len(out), 2)
        self.assertTrue(out[1].rstrip().endswith("sleep 1000"))
        out = self.d("top", "svc", "-o", "pid,comm", check=True).stdout.splitlines()
        self.assertEqual(out[0].split(), ["PID", "COMMAND"])
        self.assertEqual(out[1].split()[1], "sleep")
        st, body = self.api("GET", "/containers/svc/top")
        self.assertEqual(st, 200)
        top = json.loads(body)
        self.assertEqual(list(top), ["Processes", "Titles"])
        self.assertEqual(top["Processes"][0][-1], "sleep 1000")
        # Only the container's processes, never the host's.
        pids = {int(p[1]) for p in top["Processes"]}
        self.assertNotIn(1, pids)
        self.assertNotIn(os.getpid(), pids)

    def test_top_bad_args(self):
        st, body = self.api("GET", "/containers/svc/top?ps_args=--bogus")
        self.assertEqual(st, 500)
        self.assertTrue(json.loads(body)["message"].startswith("ps: "))
        st, body = self.api("GET", "/containers/svc/top?ps_args=-o%20comm")
        self.assertEqual(st, 500)
        self.assertEqual(json.loads(body)["message"], "Couldn't find PID field in ps output")

    # --- pause / unpause -----------------------------------------------------

    def freezer_state(self, cid):
        for p in (f"/sys/fs/cgroup/freezer/arca/{cid}/freezer.state",):
            if os.path.exists(p):
                with open(p) as f:
                    return f.read().strip()
        with open(f"/sys/fs/cgroup/arca/{cid}/cgroup.freeze") as f:  # cgroup v2
            return "FROZEN" if f.read().strip() == "1" else "THAWED"

    def test_pause_unpause(self):
        cid = self.d("run", "-d", "--name", "paused1", "--network", "none", "busybox", "sh", "-c",
                     "i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.1; done",
                     check=True).stdout.strip()
        self.d("pause", "paused1", check=True)
        self.assertEqual(self.freezer_state(cid), "FROZEN")
        st = json.loads(self.d("inspect", "paused1", check=True).stdout)[0]["State"]
        self.assertEqual((st["Status"], st["Running"], st["Paused"]), ("paused", True, True))
        ps = self.d("ps", "--filter", "name=paused1", "--format", "{{.Status}}|{{.State}}",
                    check=True).stdout.strip()
        self.assertRegex(ps, r"^Up .* \(Paused\)\|paused$")
        self.assertIn("paused1", self.d("ps", "--filter", "status=paused", "--format",
                                        "{{.Names}}", check=True).stdout)
        # Frozen: the loop does not advance.
        before = self.d("top", "paused1", check=True).stdout  # top works on a paused container
        self.assertIn("sh -c", before)
        t1 = self.read_tick(cid)
        time.sleep(0.5)
        self.assertEqual(self.read_tick(cid), t1)
        # Errors as dockerd's.
        r = self.d("pause", "paused1")
        self.assertIn(f"Container {cid} is already paused", r.stderr)
        st, _ = self.api("POST", "/containers/paused1/pause")
        self.assertEqual(st, 409)
        r = self.d("rm", "paused1")
        self.assertIn('cannot remove container "/paused1": container is paused and must be '
                      'unpaused first', r.stderr)
        st, body = self.api("POST", "/containers/paused1/start")
        self.assertEqual(st, 409)
        self.assertIn("cannot start a paused container, try unpause instead", body.decode())
        self.d("unpause", "paused1", check=True)
        self.assertEqual(self.freezer_state(cid), "THAWED")
        time.sleep(0.5)
        self.assertNotEqual(self.read_tick(cid), t1)
        st, body = self.api("POST", "/containers/paused1/unpause")
        self.assertEqual(st, 500)
        self.assertEqual(json.loads(body)["message"], f"Container {cid} is not paused")
        self.assertFalse(json.loads(self.d("inspect", "paused1", check=True).stdout)[0]
                         ["State"]["Paused"])
        # A paused container stops: SIGTERM, thaw, die (sh as PID 1 ignores TERM -> KILL).
        self.d("pause", "paused1", check=True)
        self.d("stop", "-t", "1", "paused1", check=True)
        st = json.loads(self.d("inspect", "paused1", check=True).stdout)[0]["State"]
        self.assertEqual((st["Status"], st["Paused"], st["ExitCode"]), ("exited", False, 137))
        # Stopped: pause/unpause/top answer like dockerd.
        st, body = self.api("POST", "/containers/paused1/pause")
        self.assertEqual((st, json.loads(body)["message"]), (409, f"Container {cid} is not running"))
        st, body = self.api("POST", "/containers/paused1/unpause")
        self.assertEqual((st, json.loads(body)["message"]), (500, f"Container {cid} is not paused"))
        st, body = self.api("GET", "/containers/paused1/top")
        self.assertEqual((st, json.loads(body)["message"]), (409, f"Container {cid} is not running"))
        r = self.d("top", "paused1")
        self.assertIn(f"Container {cid} is not running", r.stderr)
        # Restart works after a paused stop.
        self.d("start", "paused1", check=True)
        self.d("rm", "-f", "paused1", check=True)
        # The /events projection.
        actions = self.d("events", "--since", "0", "--until", str(int(time.time()) + 1),
                         "--filter", "container=" + cid, "--format", "{{.Action}}",
                         check=True).stdout.split()
        self.assertEqual(actions[:5], ["create", "start", "pause", "unpause", "pause"])
        self.assertIn("unpause", actions[5:])
        self.assertEqual(actions[-1], "destroy")

    def read_tick(self, cid):
        r = self.d("inspect", "-f", "{{.State.Pid}}", cid, check=True)
        with open(f"/proc/{r.stdout.strip()}/root/tmp/tick") as f:
            return f.read()

    def test_rm_force_paused(self):
        cid = self.d("run", "-d", "--name", "paused2", "--network", "none", "busybox", "sleep",
                     "1000", check=True).stdout.strip()
        self.d("pause", "paused2", check=True)
        t0 = time.time()
        self.d("rm", "-f", "paused2", check=True)
        self.assertLess(time.time() - t0, 10)
        self.assertEqual(self.d("ps", "-aq", "--filter", "id=" + cid, check=True).stdout, "")
        self.assertFalse(os.path.exists(f"/sys/fs/cgroup/freezer/arca/{cid}"))

    def test_kill_thaws_and_stream_ends_on_removal(self):
        # As dockerd: a signal to a paused container without StopSignal thaws it.
        self.d("run", "-d", "--name", "paused3", "--network", "none", "busybox", "sh", "-c",
               "trap 'echo got usr1' USR1; while true; do sleep 0.2; done", check=True)
        self.d("pause", "paused3", check=True)
        info = self.d("info", "--format", "{{.ContainersPaused}}", check=True).stdout.strip()
        self.assertEqual(info, "1")
        self.d("kill", "-s", "USR1", "paused3", check=True)
        st = json.loads(self.d("inspect", "paused3", check=True).stdout)[0]["State"]
        self.assertEqual((st["Status"], st["Paused"]), ("running", False))
        deadline = time.time() + 10
        while "got usr1" not in self.d("logs", "paused3").stdout and time.time() < deadline:
            time.sleep(0.2)
        self.assertIn("got usr1", self.d("logs", "paused3").stdout)
        # A stats stream ends once its container is removed.
        s = connect(self.arcad.sock, "GET /v1.51/containers/paused3/stats HTTP/1.1\r\n"
                    "Host: x\r\n\r\n", 15)
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        self.d("rm", "-f", "paused3", check=True)
        data = b""
        while chunk := s.recv(65536):  # the terminating chunk, then the server keeps alive
            data += chunk
            if data.endswith(b"0\r\n\r\n"):
                break
        s.close()
        self.assertTrue(data.endswith(b"0\r\n\r\n"))

    def test_pause_missing(self):
        for verb in ("pause", "unpause"):
            st, body = self.api("POST", f"/containers/nope/{verb}")
            self.assertEqual((st, json.loads(body)["message"]), (404, "No such container: nope"))
        st, _ = self.api("GET", "/containers/nope/top")
        self.assertEqual(st, 404)


if __name__ == "__main__":
    unittest.main()
