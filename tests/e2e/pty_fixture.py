"""Runs a command (the docker CLI) on a pseudo-terminal of its own, as a
user's shell would: the test reads what the terminal shows, types, and
resizes the window."""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time


class Pty:
    def __init__(self, argv, env, rows=40, cols=120):
        self.master, slave = os.openpty()
        self.set_size(rows, cols)

        def become_terminal_owner():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     preexec_fn=become_terminal_owner, close_fds=True)
        os.close(slave)
        self.out = b""
        self.closed = False

    def set_size(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, rows, cols):
        """The window changed: the kernel tells the terminal's foreground group (SIGWINCH)."""
        self.set_size(rows, cols)
        try:
            self.proc.send_signal(signal.SIGWINCH)
        except ProcessLookupError:
            pass

    def _read(self, timeout):
        if self.closed:
            time.sleep(min(timeout, 0.05))
            return
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the last process on the terminal is gone
            data = b""
        if not data:
            self.closed = True
        self.out += data

    def text(self):
        return self.out.decode(errors="replace")

    def expect(self, pattern, timeout=30, start=0):
        """Waits until `pattern` (a regex) appears in the output after `start`."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.text(), start)
            if m:
                return m
            left = deadline - time.time()
            if left <= 0 or (self.closed and self.proc.poll() is not None):
                raise AssertionError(f"{pattern!r} not seen; terminal showed:\n{self.text()!r}")
            self._read(min(left, 0.2))

    def send(self, s):
        os.write(self.master, s.encode() if isinstance(s, str) else s)

    def wait(self, timeout=30):
        deadline = time.time() + timeout
        while self.proc.poll() is None:
            if time.time() > deadline:
                raise AssertionError(f"command did not end; terminal showed:\n{self.text()!r}")
            self._read(0.1)
        # What is still buffered on the terminal.
        for _ in range(20):
            if self.closed:
                break
            self._read(0.05)
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass
