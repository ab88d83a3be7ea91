"""Issue #7 acceptance: the issue's command sequence, in order, with the real
docker CLI and the classic builder (multi-stage build and run, a fully cached
rebuild, a cache break at the changed COPY, --build-arg with --target, -f -,
a Dockerfile error, history, builder prune), and a docker-compose 1.29
project with a `build:` service.

ARCA_E2E_REFERENCE=unix:///tmp/refd/docker.sock runs it against a reference
dockerd instead of arcad (see build_fixture.py); expectations below were
checked against dockerd 20.10.24."""
import os
import re
import shutil
import tempfile
import unittest

from arca_fixture import ComposeTestCase
from build_fixture import REFERENCE, BuildCase, engine, skip_reason, steps, write_tree

SKIP = skip_reason()
COMPOSE_SKIP = SKIP or (None if shutil.which("docker-compose") else "docker-compose missing")

DOCKERFILE = """\
FROM busybox AS builder
ARG V=1
RUN echo "built v$V" > /out.txt && echo building-v$V
FROM busybox
ENV GREETING=hello
WORKDIR /app
COPY --from=builder /out.txt /app/out.txt
COPY file /app/file
USER nobody
CMD ["sh", "-c", "echo $GREETING from $(pwd) as $(id -u); cat /app/out.txt /app/file"]
"""
CMD_HISTORY = ('/bin/sh -c #(nop)  CMD ["sh" "-c" "echo $GREETING from $(pwd) as $(id -u); '
               'cat /app/out.txt /app/file"]')

COMPOSE = """
version: "3.7"
services:
  web:
    build:
      context: ./web
      args:
        MSG: composed
    command: sh -c 'cat /msg; sleep 1000'
"""


def cached(block):
    return " ---> Using cache\n" in block


@unittest.skipIf(SKIP, SKIP)
class BuildAcceptance(BuildCase):
    def test_sequence(self):
        ctx = self.ctx({"Dockerfile": DOCKERFILE, "file": "one\n"})
        iid = os.path.join(self.work, "iid")

        # docker build -t app:1 ctx/   (multi-stage; --iidfile as compose uses it)
        r = self.build(ctx, "-t", "app:1", "--iidfile", iid)
        s = steps(r.stdout)
        self.assertEqual(sorted(s), list(range(1, 11)), r.stdout)
        self.assertIn("Step 1/10 : FROM busybox AS builder", r.stdout)
        self.assertIn("building-v1\n", s[3][1])  # RUN output is in the build output
        self.assertIn(" ---> Running in ", s[3][1])
        self.assertFalse(any(cached(b) for _, b in s.values()))
        app1 = self.image_id("app:1")
        with open(iid) as f:
            self.assertEqual(f.read(), app1)
        self.assertIn(f"Successfully built {app1[7:19]}\n", r.stdout)
        self.assertIn("Successfully tagged app:1\n", r.stdout)

        # docker run --rm app:1: CMD, ENV, WORKDIR, USER took effect
        out = self.ok("run", "--rm", "app:1").stdout
        self.assertEqual(out, "hello from /app as 65534\nbuilt v1\none\n")

        # rebuild: every step after a FROM says "Using cache"; same id
        r = self.build(ctx, "-t", "app:1")
        s = steps(r.stdout)
        for n, (text, block) in s.items():
            if text.startswith("FROM "):
                self.assertFalse(cached(block), (n, block))
            else:
                self.assertTrue(cached(block), (n, text, block))
                self.assertNotIn("Running in", block)
        self.assertEqual(self.image_id("app:1"), app1)

        # echo change >> ctx/file: the cache breaks at COPY file, not before
        with open(os.path.join(ctx, "file"), "a") as f:
            f.write("change\n")
        r = self.build(ctx, "-t", "app:1")
        s = steps(r.stdout)
        self.assertEqual([n for n in s if cached(s[n][1])], [2, 3, 5, 6, 7], r.stdout)
        self.assertEqual(s[8][0], "COPY file /app/file")
        self.assertFalse(cached(s[9][1]))  # USER commits again after the break
        app1b = self.image_id("app:1")
        self.assertNotEqual(app1b, app1)
        self.assertEqual(self.ok("run", "--rm", "app:1").stdout,
                         "hello from /app as 65534\nbuilt v1\none\nchange\n")

        # docker build --build-arg V=2 --target builder -t b ctx/
        r = self.build(ctx, "--build-arg", "V=2", "--target", "builder", "-t", "b")
        s = steps(r.stdout)
        self.assertEqual(sorted(s), [1, 2, 3], r.stdout)
        self.assertIn("Step 3/3 : RUN", r.stdout)
        self.assertTrue(cached(s[2][1]))  # ARG V=1 itself does not depend on --build-arg
        self.assertFalse(cached(s[3][1]))  # the RUN sees V=2: a new cache key
        self.assertIn("building-v2\n", s[3][1])
        self.assertEqual(self.ok("run", "--rm", "b", "cat", "/out.txt").stdout, "built v2\n")
        self.assertEqual(self.history("b")[0],
                         '|1 V=2 /bin/sh -c echo "built v$V" > /out.txt && echo building-v$V')

        # docker build -f - ctx/ < Dockerfile.alt
        alt = "FROM busybox\nCOPY file /alt-file\nCMD [\"cat\", \"/alt-file\"]\n"
        r = self.build(ctx, "-f", "-", "--iidfile", iid, input=alt)
        self.assertIn("Step 3/3 : CMD [\"cat\", \"/alt-file\"]", r.stdout)
        with open(iid) as f:
            alt_id = f.read()
        self.assertEqual(self.ok("run", "--rm", alt_id).stdout, "one\nchange\n")

        # docker build ctx-with-error/: exit 1, the line named, no containers left
        before = self.containers()
        bad = self.ctx({"Dockerfile": "FROM busybox\nRUN echo ok\nFROBNICATE all\nCMD [\"x\"]\n"})
        r = self.build(bad, check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        # dockerd answers 400 before the stream starts, hence the CLI's prefix
        self.assertIn("Error response from daemon: dockerfile parse error line 3: "
                      "unknown instruction: FROBNICATE", r.stderr)
        self.assertNotIn("Step 1/", r.stdout)
        self.assertEqual(self.containers(), before)

        # docker history app:1: one row per instruction of the final stage
        h = self.history("app:1")
        self.assertEqual(len(h), 7, h)  # 6 instructions + the base image's one entry
        self.assertEqual(h[0], CMD_HISTORY)
        self.assertEqual(h[1], "/bin/sh -c #(nop)  USER nobody")
        self.assertRegex(h[2], r"^/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in /app/file $")
        self.assertRegex(h[3], r"^/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in /app/out.txt $")
        self.assertEqual(h[4], "/bin/sh -c #(nop) WORKDIR /app")
        self.assertEqual(h[5], "/bin/sh -c #(nop)  ENV GREETING=hello")
        self.assertEqual(h[6], "arca e2e fixture")
        table = self.ok("history", "app:1").stdout.splitlines()
        self.assertEqual(table[0].split(), ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"])
        self.assertEqual(len(table), 8)

        # docker builder prune -f
        r = self.ok("builder", "prune", "-f")
        self.assertIn("Total reclaimed space:", r.stdout)
        r = self.build(ctx, "-t", "app:1")
        if REFERENCE:
            # dockerd 20.10: /build/prune only clears BuildKit's cache; the
            # classic builder's cache (its intermediate images) survives.
            self.assertIn("Using cache", r.stdout)
        else:
            # issue #7: `docker builder prune` clears the classic cache too
            self.assertNotIn("Using cache", r.stdout)
        # docker system prune calls POST /build/prune too
        r = self.ok("system", "prune", "-f")
        self.assertIn("Total reclaimed space:", r.stdout)


@unittest.skipIf(COMPOSE_SKIP, COMPOSE_SKIP)
class ComposeBuild(ComposeTestCase):
    """docker-compose 1.29 builds through the docker CLI (with --iidfile)."""
    COMPOSE = COMPOSE
    PROJECT = "bldapp"

    @classmethod
    def setUpClass(cls):
        cls.a = engine()
        cls.dir = tempfile.mkdtemp(prefix="arca-compose-build-")
        write_tree(cls.dir, {
            "docker-compose.yml": COMPOSE,
            "web/Dockerfile": 'FROM busybox\nARG MSG=dflt\nRUN echo "$MSG" > /msg\n',
        })

    def test_build_up_down(self):
        before = set(self.a.docker("ps", "-aq").stdout.split())
        r = self.compose("build")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.a.log())
        out = r.stdout + r.stderr
        self.assertIn("Building web", out)
        self.assertIn("Successfully tagged bldapp_web:latest", out)
        image = self.a.docker("image", "inspect", "-f", "{{.Id}}", "bldapp_web").stdout.strip()
        self.assertTrue(re.fullmatch(r"sha256:[0-9a-f]{64}", image), image)
        r = self.compose("up", "-d")
        self.assertEqual(r.returncode, 0, r.stderr + self.a.log())
        self.assertEqual(self.a.docker("inspect", "-f", "{{.Image}}", "bldapp_web_1").stdout.strip(),
                         image)
        r = self.compose("exec", "-T", "web", "cat", "/msg")
        self.assertEqual(r.stdout, "composed\n", r.stderr)
        r = self.compose("down", "-t", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(set(self.a.docker("ps", "-aq").stdout.split()), before)


if __name__ == "__main__":
    unittest.main()
