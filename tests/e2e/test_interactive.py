"""Interactive I/O and exec (issue #4): docker run -it / -i, attach with
detach keys, resize, docker exec (TTY, stdin, env, user, workdir, detached,
exit codes), with the real docker CLI on a pseudo-terminal of the test's own."""
import hashlib
import json
import os
import re
import socket
import time
import unittest

from arca_fixture import DOCKER, Arcad, ArcadTestCase, have_prereqs
from pty_fixture import Pty

SKIP = have_prereqs()
RUN = ["run", "--network", "none"]


def api(sock, method, path, body=None):
    """One HTTP request on the daemon's socket; returns (status, body text)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} /v1.50{path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    s.sendall(head.encode() + data)
    resp = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    head, _, rest = resp.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, rest.decode(errors="replace")


def attach_raw(sock, name, data, until):
    """Attaches with stdin, sends `data`, half-closes once `until` was received;
    returns (status line, stream bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(f"POST /v1.50/containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1 "
              "HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              "Content-Length: 0\r\n\r\n".encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        resp += s.recv(4096)
    head, _, body = resp.partition(b"\r\n\r\n")
    s.sendall(data)
    while until not in body:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.shutdown(socket.SHUT_WR)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    return head.split(b"\r\n")[0], body


@unittest.skipIf(SKIP, SKIP or "")
class InteractiveTest(ArcadTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.arcad.docker(*RUN, "-d", "--name", "svc", "busybox", "sleep", "1000", check=True)

    def pty(self, *args, rows=40, cols=120):
        p = Pty([DOCKER, *args], self.arcad.env, rows=rows, cols=cols)
        self.addCleanup(p.close)
        return p

    # --- docker run -it / -i ---------------------------------------------------

    def test_run_it_prompt_size_resize_exit_code(self):
        p = self.pty(*RUN, "-it", "--rm", "busybox", "sh", rows=33, cols=101)
        p.expect(r"/ # ")
        p.send("stty size\r")
        p.expect(r"33 101")
        mark = len(p.text())
        p.resize(45, 132)
        time.sleep(0.5)
        p.send("stty size\r")
        p.expect(r"45 132", start=mark)
        p.send("tty; echo TERM=$TERM\r")
        p.expect(r"/dev/pts/\d+")
        p.expect(r"TERM=xterm")
        p.send("exit 7\r")
        self.assertEqual(p.wait(), 7, p.text())

    def test_piped_stdin(self):
        r = self.d(*RUN, "-i", "--rm", "busybox", "cat", input="hi\n", check=True)
        self.assertEqual(r.stdout, "hi\n")

    def test_piped_stdin_large(self):
        data = os.urandom(3 << 20)
        import subprocess
        r = subprocess.run([DOCKER, *RUN, "-i", "--rm", "busybox", "md5sum"], input=data,
                           env=self.arcad.env, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split()[0].decode(), hashlib.md5(data).hexdigest())

    def test_run_t_without_i(self):
        r = self.d(*RUN, "-t", "--rm", "busybox", "sh", "-c", "echo $TERM; tty", check=True)
        self.assertIn("xterm", r.stdout)
        self.assertIn("/dev/pts/", r.stdout)

    def test_tty_output_in_logs(self):
        self.d(*RUN, "-t", "--name", "ttylog", "busybox", "echo", "hello-tty", check=True)
        r = self.d("logs", "ttylog", check=True)
        self.assertIn("hello-tty", r.stdout)
        self.d("rm", "ttylog", check=True)

    # --- attach ------------------------------------------------------------------

    def test_detach_keys_and_reattach(self):
        p = self.pty(*RUN, "-it", "--name", "dk", "busybox", "sh")
        p.expect(r"/ # ")
        p.send("\x10\x11")  # ctrl-p ctrl-q
        self.assertEqual(p.wait(), 0, p.text())
        r = self.d("inspect", "-f", "{{.State.Running}}", "dk", check=True)
        self.assertEqual(r.stdout.strip(), "true")
        # Again, with keys of our own; then end the shell from a new attach.
        p2 = self.pty("attach", "--detach-keys", "ctrl-x,x", "dk")
        p2.send("echo back-$((40+2))\r")
        p2.expect(r"back-42")
        p2.send("\x18x")
        # The CLI reports the detach of `docker attach` as an error (exit 1).
        self.assertEqual(p2.wait(), 1, p2.text())
        self.assertIn("read escape sequence", p2.text())
        r = self.d("inspect", "-f", "{{.State.Running}}", "dk", check=True)
        self.assertEqual(r.stdout.strip(), "true")
        p3 = self.pty("attach", "dk")
        p3.send("exit 3\r")
        self.assertEqual(p3.wait(), 3, p3.text())
        self.d("rm", "dk", check=True)

    def test_attach_piped_stdin_keeps_container(self):
        self.d(*RUN, "-d", "-i", "--name", "rd", "busybox", "sh", "-c",
               "while read l; do echo got-$l; [ $l = stop ] && exit 6; done", check=True)
        # The client's stdin EOF ends its attach, not the container's stdin
        # (StdinOnce is off): the CLI then waits for the container's exit.
        s, body = attach_raw(self.arcad.sock, "rd", b"one\n", b"got-one")
        self.assertIn(b"got-one", body)
        r = self.d("inspect", "-f", "{{.State.Running}}", "rd", check=True)
        self.assertEqual(r.stdout.strip(), "true")
        _, body = attach_raw(self.arcad.sock, "rd", b"stop\n", b"got-stop")
        self.assertIn(b"got-stop", body)
        r = self.d("wait", "rd", check=True)
        self.assertEqual(r.stdout.strip(), "6")
        self.d("rm", "-f", "rd", check=True)

    def test_start_attach(self):
        cid = self.d("create", "--network", "none", "busybox", "sh", "-c",
                     "echo out; echo err >&2; exit 4", check=True).stdout.strip()
        r = self.d("start", "-a", cid)
        self.assertEqual(r.returncode, 4)
        self.assertEqual(r.stdout, "out\n")
        self.assertEqual(r.stderr, "err\n")
        self.d("rm", cid, check=True)

    # --- exec ----------------------------------------------------------------------

    def test_exec_it(self):
        p = self.pty("exec", "-it", "svc", "sh", "-c", "tty; echo pid=$$; stty size", rows=21, cols=77)
        p.expect(r"/dev/pts/\d+")
        p.expect(r"pid=\d+")
        p.expect(r"21 77")
        self.assertEqual(p.wait(), 0, p.text())

    def test_exec_interactive_shell(self):
        p = self.pty("exec", "-it", "svc", "sh")
        p.expect(r"/ # ")
        p.send("echo $((6*7))\r")
        p.expect(r"\b42\b")
        p.send("exit 9\r")
        self.assertEqual(p.wait(), 9, p.text())

    def test_exec_exit_code(self):
        r = self.d("exec", "svc", "sh", "-c", "exit 5")
        self.assertEqual(r.returncode, 5)

    def test_exec_env_user_workdir(self):
        r = self.d("exec", "-e", "A=1", "-w", "/tmp", "-u", "1000:1000", "svc", "sh", "-c",
                   "echo $A; pwd; id -u; id -g", check=True)
        self.assertEqual(r.stdout.split(), ["1", "/tmp", "1000", "1000"])
        r = self.d("exec", "-u", "nobody", "svc", "id", "-un", check=True)
        self.assertEqual(r.stdout.strip(), "nobody")

    def test_exec_stdin_and_streams(self):
        r = self.d("exec", "-i", "svc", "sh", "-c", "cat; echo to-err >&2", input="piped\n",
                   check=True)
        self.assertEqual(r.stdout, "piped\n")
        self.assertEqual(r.stderr, "to-err\n")

    def test_exec_detached(self):
        self.d("exec", "-d", "svc", "sh", "-c", "echo det > /tmp/det", check=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.d("exec", "svc", "cat", "/tmp/det")
            if r.returncode == 0:
                break
            time.sleep(0.2)
        self.assertEqual(r.stdout, "det\n")

    def test_exec_privileged(self):
        r = self.d("exec", "svc", "sh", "-c", "grep CapEff /proc/self/status", check=True)
        normal = int(r.stdout.split()[1], 16)
        r = self.d("exec", "--privileged", "svc", "sh", "-c", "grep CapEff /proc/self/status",
                   check=True)
        priv = int(r.stdout.split()[1], 16)
        self.assertGreater(bin(priv).count("1"), bin(normal).count("1"))

    def test_exec_inspect_api(self):
        st, body = api(self.arcad.sock, "POST", "/containers/svc/exec",
                       {"Cmd": ["sh", "-c", "exit 3"], "AttachStdout": True})
        self.assertEqual(st, 201, body)
        eid = json.loads(body)["Id"]
        st, body = api(self.arcad.sock, "GET", f"/exec/{eid}/json")
        info = json.loads(body)
        self.assertIsNone(info["ExitCode"])
        self.assertFalse(info["Running"])
        self.assertEqual(info["ProcessConfig"]["entrypoint"], "sh")
        self.assertEqual(info["ProcessConfig"]["arguments"], ["-c", "exit 3"])
        st, body = api(self.arcad.sock, "POST", f"/exec/{eid}/start", {"Detach": True})
        self.assertEqual(st, 200, body)
        deadline = time.time() + 10
        while time.time() < deadline:
            info = json.loads(api(self.arcad.sock, "GET", f"/exec/{eid}/json")[1])
            if info["ExitCode"] is not None:
                break
            time.sleep(0.1)
        self.assertEqual(info["ExitCode"], 3)
        # An exec runs once.
        st, body = api(self.arcad.sock, "POST", f"/exec/{eid}/start", {"Detach": True})
        self.assertEqual(st, 409, body)
        self.assertIn("has already run", body)

    # --- bad input -----------------------------------------------------------------

    def test_exec_bad_input(self):
        r = self.d("exec", "svc", "nope-not-here")
        self.assertEqual(r.returncode, 127, r.stderr)
        self.assertIn("executable file not found", r.stdout + r.stderr)
        self.d(*RUN, "--name", "stopped", "busybox", "true", check=True)
        r = self.d("exec", "stopped", "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is not running", r.stderr)
        self.d("rm", "stopped", check=True)
        st, body = api(self.arcad.sock, "POST", "/containers/svc/exec", {"Cmd": []})
        self.assertEqual(st, 400, body)
        st, body = api(self.arcad.sock, "POST", "/containers/svc/exec", {"Cmd": {"a": 1}})
        self.assertEqual(st, 400, body)
        st, body = api(self.arcad.sock, "GET", "/exec/" + "0" * 64 + "/json")
        self.assertEqual(st, 404, body)
        self.assertIn("No such exec instance", body)
        st, body = api(self.arcad.sock, "POST", "/exec/nope/start", {"Detach": True})
        self.assertEqual(st, 404, body)
        st, body = api(self.arcad.sock, "POST", "/containers/svc/exec",
                       {"Cmd": ["true"], "DetachKeys": "ctrl-"})
        self.assertEqual(st, 400, body)

    def test_resize_bad_input(self):
        st, body = api(self.arcad.sock, "POST", "/containers/svc/resize?h=10&w=10")
        self.assertEqual(st, 200, body)  # no terminal: nothing to size (dockerd: 200)
        st, body = api(self.arcad.sock, "POST", "/containers/svc/resize?h=x&w=10")
        self.assertEqual(st, 400, body)
        st, body = api(self.arcad.sock, "POST", "/containers/nope/resize?h=10&w=10")
        self.assertEqual(st, 404, body)
        r = self.d("attach", "nope-gone")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No such container", r.stderr)
        # Still serving.
        self.d("exec", "svc", "true", check=True)


@unittest.skipIf(SKIP, SKIP or "")
class RestartWithClientsTest(unittest.TestCase):
    """arcad stops while `docker logs -f` and `docker attach` are connected:
    containers keep running, clients see the end of their streams, and
    attaching again works."""

    def test_arcad_restart_with_attached_clients(self):
        import subprocess
        a = Arcad.with_busybox()
        self.addCleanup(a.cleanup)
        a.docker(*RUN, "-d", "-i", "--name", "echoer", "busybox", "sh", "-c",
                 "while read l; do echo got-$l; done", check=True)
        a.docker(*RUN, "-d", "--name", "ticker", "busybox", "sh", "-c",
                 "while true; do echo tick; sleep 0.2; done", check=True)
        logs = subprocess.Popen([DOCKER, "logs", "-f", "ticker"], env=a.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        att = subprocess.Popen([DOCKER, "attach", "echoer"], env=a.env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        att.stdin.write(b"one\n")
        att.stdin.flush()
        time.sleep(1.5)
        a.stop()
        out, err = logs.communicate(timeout=20)
        self.assertEqual(logs.returncode, 0, err)  # a clean end of the chunked stream
        self.assertIn(b"tick", out)
        out, _ = att.communicate(timeout=20)  # the stream ends; the CLI does not hang
        self.assertIn(b"got-one", out)
        a.start()
        for name in ("echoer", "ticker"):
            r = a.docker("inspect", "-f", "{{.State.Running}}", name, check=True)
            self.assertEqual(r.stdout.strip(), "true", name)
        _, body = attach_raw(a.sock, "echoer", b"two\n", b"got-two")
        self.assertIn(b"got-two", body)
        r = a.docker("logs", "--tail", "2", "ticker", check=True)
        self.assertIn("tick", r.stdout)


if __name__ == "__main__":
    unittest.main()
