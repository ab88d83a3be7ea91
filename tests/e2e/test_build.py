"""Issue #7 in depth, with the real docker CLI and the classic builder:
.dockerignore, ARG before FROM, FROM scratch, build-args and their warning,
ENV and substitution, labels, the config instructions in inspect and history,
ONBUILD, ADD of tars and directories, COPY's wildcard / trailing-slash /
--chown rules, a failing RUN, streamed RUN output, -q / several -t /
--no-cache, compressed contexts, intermediate images in `docker images`, and a
base image that cannot be pulled.

ARCA_E2E_REFERENCE=unix:///tmp/refd/docker.sock runs it against a reference
dockerd instead of arcad (see build_fixture.py); expectations below were
checked against dockerd 20.10.24."""
import bz2
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest

from arca_fixture import BUSYBOX, DOCKER
from build_fixture import REFERENCE, BuildCase, skip_reason, steps

SKIP = skip_reason()
ID = r"[0-9a-f]{12}"
NOP = "/bin/sh -c #(nop) "


def tar_bytes(files, mode="w"):
    """A context tar (mode "w", "w:gz", ...) of {name: str}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, data in files.items():
            b = data.encode()
            info = tarfile.TarInfo(name)
            info.size = len(b)
            t.addfile(info, io.BytesIO(b))
    return buf.getvalue()


@unittest.skipIf(SKIP, SKIP)
class Build(BuildCase):
    def run_out(self, *args):
        return self.ok("run", "--rm", *args).stdout

    def test_dockerignore(self):
        ctx = self.ctx({
            # the CLI filters the context; the daemon drops Dockerfile and
            # .dockerignore itself when they are listed (the CLI sends them anyway)
            ".dockerignore": "**/*.log\n!keep.log\nsub\nDockerfile\n.dockerignore\n",
            "Dockerfile": "FROM busybox\nCOPY . /ctx/\nRUN find /ctx | sort\n",
            "a.txt": "a", "b.log": "b", "keep.log": "k", "logs/x.log": "x", "sub/s.txt": "s",
        })
        r = self.build(ctx, "-t", "ign")
        self.assertEqual(self.run_out("ign", "sh", "-c", "find /ctx | sort").split(),
                         ["/ctx", "/ctx/a.txt", "/ctx/keep.log", "/ctx/logs"])
        with open(os.path.join(ctx, "Dockerfile.bad"), "w") as f:
            f.write("FROM busybox\nCOPY b.log /x\n")
        r = self.build(ctx, "-f", os.path.join(ctx, "Dockerfile.bad"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("COPY failed: file not found in build context or excluded by .dockerignore: "
                      "stat b.log: file does not exist", r.stderr)

    def test_arg_before_from_and_build_args(self):
        ctx = self.ctx({"Dockerfile": (
            "ARG BASE=busybox\nARG TAGV=latest\nFROM ${BASE}:${TAGV}\nARG TAGV\nARG A=defa\nARG B\n"
            'RUN echo "tagv=$TAGV a=$A b=$B p=$HTTP_PROXY"\n')})
        r = self.build(ctx, "-t", "args", "--build-arg", "B=bee", "--build-arg", "UNUSED=1",
                       "--build-arg", "UNUSED2=2", "--build-arg", "HTTP_PROXY=http://127.0.0.1:1")
        self.assertIn("Step 3/7 : FROM ${BASE}:${TAGV}", r.stdout)  # echoed unexpanded
        self.assertIn("tagv=latest a=defa b=bee p=http://127.0.0.1:1\n", r.stdout)
        # the names' order is Go map order: compare as a set; predefined proxy
        # args are never reported
        m = re.search(r"^\[Warning\] One or more build-args \[(.*)\] were not consumed$",
                      r.stdout, re.M)
        self.assertTrue(m, r.stdout)
        self.assertEqual(sorted(m.group(1).split()), ["UNUSED", "UNUSED2"])
        # RUN's history names the ARGs in effect (sorted), not the proxy args
        h = self.history("args")
        self.assertEqual(h[0], '|3 A=defa B=bee TAGV=latest /bin/sh -c echo '
                               '"tagv=$TAGV a=$A b=$B p=$HTTP_PROXY"')
        self.assertEqual(h[1:4], [NOP + " ARG B", NOP + " ARG A=defa", NOP + " ARG TAGV"])
        # the proxy value does not stay in the image
        self.assertNotIn("HTTP_PROXY", self.ok("inspect", "-f", "{{json .Config.Env}}",
                                               "args").stdout)

    def test_from_scratch(self):
        ctx = self.ctx({"Dockerfile": 'FROM scratch\nCOPY busybox /bin/busybox\n'
                                      'CMD ["/bin/busybox", "echo", "from-scratch"]\n'})
        shutil.copy(BUSYBOX, os.path.join(ctx, "busybox"))  # a static binary
        r = self.build(ctx, "-t", "scr")
        self.assertIn("Step 1/3 : FROM scratch\n", r.stdout)
        self.assertEqual(self.run_out("scr"), "from-scratch\n")
        info = json.loads(self.ok("image", "inspect", "scr").stdout)[0]
        self.assertEqual(len(info["RootFS"]["Layers"]), 1)
        self.assertEqual(info["Config"]["Env"],
                         ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
        self.assertEqual(len(self.history("scr")), 2)

    def test_env_and_substitution(self):
        ctx = self.ctx({"Dockerfile": (
            "FROM busybox\nARG A=defa\n"
            'ENV E1=one E2="two words" E3=${A:-x}\n'
            "ENV E4 four with spaces\n"
            "ENV E5=${UNSET:-dflt} E6=${A:+alt} E7=${UNSET:+alt}-end E8=\\$A E9=$E1-${E1}\n"
            "WORKDIR /w/$E1\n"
            'RUN echo "e2=$E2 e5=$E5 e8=$E8 pwd=$(pwd)"\n')})
        r = self.build(ctx, "-t", "envs")
        self.assertIn("e2=two words e5=dflt e8=$A pwd=/w/one\n", r.stdout)
        env = json.loads(self.ok("inspect", "-f", "{{json .Config.Env}}", "envs").stdout)
        self.assertEqual(env[1:], ["E1=one", "E2=two words", "E3=defa", "E4=four with spaces",
                                   "E5=dflt", "E6=alt", "E7=-end", "E8=$A", "E9=one-one"])
        h = self.history("envs")
        self.assertEqual(h[1], NOP + "WORKDIR /w/one")
        self.assertEqual(h[3], NOP + " ENV E4=four with spaces")
        self.assertEqual(h[4], NOP + " ENV E1=one E2=two words E3=defa")

    def test_labels(self):
        ctx = self.ctx({"Dockerfile": 'FROM busybox\nLABEL l1=v1 "l2"="v 2"\n'})
        r = self.build(ctx, "-t", "lab", "--label", "extra=yes")
        # --label becomes one more LABEL step at the end (dockerd's classic builder)
        self.assertIn("Step 3/3 : LABEL extra=yes", r.stdout)
        labels = json.loads(self.ok("inspect", "-f", "{{json .Config.Labels}}", "lab").stdout)
        self.assertEqual(labels, {"l1": "v1", "l2": "v 2", "extra": "yes"})
        self.assertEqual(self.history("lab")[:2], [NOP + " LABEL extra=yes",
                                                   NOP + " LABEL l1=v1 l2=v 2"])

    def test_config_instructions(self):
        ctx = self.ctx({"Dockerfile": (
            "FROM busybox\nEXPOSE 80 443/tcp 53/udp\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /other\n"
            "STOPSIGNAL SIGUSR1\n"
            "HEALTHCHECK --interval=5s --timeout=2s --retries=4 --start-period=1s "
            "CMD wget -q -O- http://localhost/ || exit 1\n"
            'SHELL ["/bin/sh", "-ec"]\nRUN echo shell-form\nENTRYPOINT ["/bin/echo", "ep"]\n'
            'CMD ["c1"]\nUSER 65534:65534\nWORKDIR rel\nWORKDIR sub\n')})
        self.build(ctx, "-t", "cfg")
        c = json.loads(self.ok("image", "inspect", "cfg").stdout)[0]["Config"]
        self.assertEqual(c["ExposedPorts"], {"80/tcp": {}, "443/tcp": {}, "53/udp": {}})
        self.assertEqual(c["Volumes"], {"/data": {}, "/logs": {}, "/other": {}})
        self.assertEqual(c["StopSignal"], "SIGUSR1")
        self.assertEqual(c["Healthcheck"], {
            "Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
            "Interval": 5000000000, "Timeout": 2000000000, "StartPeriod": 1000000000,
            "Retries": 4})
        self.assertEqual(c["Shell"], ["/bin/sh", "-ec"])
        self.assertEqual((c["Entrypoint"], c["Cmd"]), (["/bin/echo", "ep"], ["c1"]))
        self.assertEqual((c["User"], c["WorkingDir"]), ("65534:65534", "/rel/sub"))
        self.assertEqual(self.run_out("cfg", "x", "y"), "ep x y\n")
        # created_by: Go's formatting of each instruction's value; after SHELL
        # the prefix is the new shell
        self.assertEqual(self.history("cfg")[:12], [
            "/bin/sh -ec #(nop) WORKDIR /rel/sub",
            "/bin/sh -ec #(nop) WORKDIR /rel",
            "/bin/sh -ec #(nop)  USER 65534:65534",
            '/bin/sh -ec #(nop)  CMD ["c1"]',
            '/bin/sh -ec #(nop)  ENTRYPOINT ["/bin/echo" "ep"]',
            "/bin/sh -ec echo shell-form",
            "/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]",
            NOP + ' HEALTHCHECK &{["CMD-SHELL" "wget -q -O- http://localhost/ || exit 1"] '
                  '"5s" "2s" "1s" \'\\x04\'}',
            NOP + " STOPSIGNAL SIGUSR1",
            NOP + " VOLUME [/other]",
            NOP + " VOLUME [/data /logs]",
            NOP + " EXPOSE 443/tcp 53/udp 80",  # the words as written, sorted
        ])

    def test_onbuild(self):
        parent = self.ctx({"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /trig\n"
                                         "ONBUILD ENV T=1\n"})
        self.build(parent, "-t", "onb")
        self.assertEqual(json.loads(self.ok("inspect", "-f", "{{json .Config.OnBuild}}",
                                            "onb").stdout), ["RUN echo triggered > /trig", "ENV T=1"])
        self.assertEqual(self.history("onb")[0], NOP + " ONBUILD ENV T=1")
        child = self.ctx({"Dockerfile": "FROM onb\nRUN cat /trig; echo T=$T\n"})
        r = self.build(child, "-t", "onbchild")
        s = steps(r.stdout)
        self.assertIn("# Executing 2 build triggers\n", s[1][1])
        self.assertIn("triggered\nT=1\n", s[2][1])
        self.assertIsNone(json.loads(self.ok("inspect", "-f", "{{json .Config.OnBuild}}",
                                             "onbchild").stdout))  # triggers are not inherited
        self.assertEqual(self.history("onbchild")[1:3],
                         [NOP + " ENV T=1", "/bin/sh -c echo triggered > /trig"])
        one = self.ctx({"Dockerfile": "FROM busybox\nONBUILD RUN echo one-trigger\n"})
        self.build(one, "-t", "onb1")
        r = self.build(self.ctx({"Dockerfile": "FROM onb1\n"}))
        self.assertIn("# Executing 1 build trigger\n", r.stdout)
        self.assertIn("one-trigger\n", r.stdout)

    def test_add_tar_and_directory(self):
        ctx = self.ctx({"dir/d1": "d1", "dir/inner/i1": "i1", "top/tf": "tf"})
        with tarfile.open(os.path.join(ctx, "arch.tar"), "w") as t:
            t.add(os.path.join(ctx, "top"), "top")
        with tarfile.open(os.path.join(ctx, "arch.tgz"), "w:gz") as t:
            t.add(os.path.join(ctx, "top"), "top")
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM busybox\nADD arch.tar /x/\nADD arch.tgz /y\nADD dir /dircontents/\n"
                    "COPY arch.tar /z/\nCOPY dir /copydir\n")
        self.build(ctx, "-t", "adds")
        out = self.run_out("adds", "sh", "-c", "find /x /y /z /dircontents /copydir | sort")
        self.assertEqual(out.split(), [
            "/copydir", "/copydir/d1", "/copydir/inner", "/copydir/inner/i1",
            "/dircontents", "/dircontents/d1", "/dircontents/inner", "/dircontents/inner/i1",
            "/x", "/x/top", "/x/top/tf", "/y", "/y/top", "/y/top/tf", "/z", "/z/arch.tar"])
        h = self.history("adds")
        self.assertRegex(h[0], r"^/bin/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in /copydir $")
        self.assertRegex(h[2], r"^/bin/sh -c #\(nop\) ADD dir:[0-9a-f]{64} in /dircontents/ $")
        self.assertRegex(h[4], r"^/bin/sh -c #\(nop\) ADD file:[0-9a-f]{64} in /x/ $")

    def test_copy_wildcards_and_slashes(self):
        files = {"src/a.txt": "a", "src/b.txt": "b", "src/c.md": "c", "plain": "p"}
        ctx = self.ctx(dict(files, Dockerfile=(
            "FROM busybox\nCOPY src/*.txt /txt/\nCOPY plain /newname\nCOPY plain /intodir/\n"
            "COPY src/a.txt src/b.txt /multi/\nCOPY plain relfile\n")))
        self.build(ctx, "-t", "cps")
        out = self.run_out("cps", "sh", "-c", "find /txt /newname /intodir /multi /relfile | sort")
        self.assertEqual(out.split(), ["/intodir", "/intodir/plain", "/multi", "/multi/a.txt",
                                       "/multi/b.txt", "/newname", "/relfile", "/txt",
                                       "/txt/a.txt", "/txt/b.txt"])
        h = self.history("cps")
        self.assertRegex(h[0], r"^/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in relfile $")
        self.assertRegex(h[1], r"^/bin/sh -c #\(nop\) COPY multi:[0-9a-f]{64} in /multi/ $")
        for df, err in (
                ("COPY src/*.txt /notadir", "When using COPY with more than one source file, "
                                            "the destination must be a directory and end with a /"),
                ("COPY nomatch* /x", "COPY failed: no source files were specified"),
                ("COPY nofile /x", "COPY failed: file not found in build context or excluded by "
                                   ".dockerignore: stat nofile: file does not exist")):
            bad = self.ctx(dict(files, Dockerfile=f"FROM busybox\n{df}\n"))
            r = self.build(bad, check=False)
            self.assertEqual(r.returncode, 1, df)
            self.assertIn(err, r.stderr, df)

    def test_copy_chown(self):
        ctx = self.ctx({"plain": "p", "src/a.txt": "a", "Dockerfile": (
            "FROM busybox\nCOPY --chown=65534:65534 plain /owned\n"
            "COPY --chown=nobody:nogroup src /srcowned\nCOPY plain /rootowned\n")})
        self.build(ctx, "-t", "chown")
        out = self.run_out("chown", "stat", "-c", "%n %u:%g", "/owned", "/srcowned",
                           "/srcowned/a.txt", "/rootowned")
        self.assertEqual(out, "/owned 65534:65534\n/srcowned 65534:65534\n"
                              "/srcowned/a.txt 65534:65534\n/rootowned 0:0\n")
        # 20.10 writes the flag and the source with no space between them
        self.assertRegex(self.history("chown")[1],
                         r"^/bin/sh -c #\(nop\) COPY --chown=nobody:nogroupdir:[0-9a-f]{64} "
                         r"in /srcowned $")
        # a user name alone also names the group, and busybox has no group nobody
        bad = self.ctx({"plain": "p", "Dockerfile": "FROM busybox\nCOPY --chown=nobody plain /x\n"})
        r = self.build(bad, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unable to convert uid/gid chown string to host mapping: can't find gid for "
                      "group nobody: no such group: nobody", r.stderr)

    def test_run_failure(self):
        ctx = self.ctx({"Dockerfile": "FROM busybox\nRUN echo before\nRUN exit 3\nRUN echo never\n"})
        before = self.containers()
        r = self.build(ctx, check=False)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("The command '/bin/sh -c exit 3' returned a non-zero code: 3", r.stderr)
        self.assertIn("Step 3/4 : RUN exit 3", r.stdout)
        self.assertNotIn("Step 4/4", r.stdout)
        # rm=1 (the CLI's default) removes only the containers of steps that
        # succeeded: the failed one stays, exited with the RUN's status
        left = self.containers() - before
        self.assertEqual(len(left), 1, left)
        state = json.loads(self.ok("inspect", left.pop()).stdout)[0]
        self.assertEqual(state["State"]["ExitCode"], 3)
        self.assertEqual(state["Config"]["Cmd"], ["/bin/sh", "-c", "exit 3"])
        self.ok("rm", state["Id"])
        r = self.build(ctx, "--force-rm", check=False)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(self.containers(), before)

    def test_run_output_streamed(self):
        ctx = self.ctx({"Dockerfile": "FROM busybox\n"
                                      "RUN echo line1; echo line2 >&2; sleep 2; echo line3\n"})
        seen = {}
        t0 = time.monotonic()
        with subprocess.Popen([DOCKER, "build", "--no-cache", ctx], env=self.eng.env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as p:
            for line in p.stdout:
                word = re.sub(r"\x1b\[[0-9;]*m", "", line).split(" ")[0].strip()
                if word in ("line1", "line3", "Successfully") and word not in seen:
                    seen[word] = time.monotonic() - t0
        self.assertEqual(p.returncode, 0)
        self.assertEqual(sorted(seen), ["Successfully", "line1", "line3"])
        # line1 arrives while the RUN is still sleeping, not at its end
        self.assertGreater(seen["line3"] - seen["line1"], 1.0, seen)
        r = self.build(ctx)  # cached now: the RUN is not run again
        self.assertNotIn("\nline1\n", r.stdout)
        self.assertIn(" ---> Using cache\n", r.stdout)
        r = self.build(ctx, "--no-cache")
        # stderr comes in the same stream; dockerd wraps it in ANSI red
        self.assertIn("\x1b[91mline2\n\x1b[0m", r.stdout)

    def test_quiet_tags_no_cache(self):
        ctx = self.ctx({"Dockerfile": "FROM busybox\nRUN date +%s > /stamp\nLABEL x=1\n"})
        r = self.build(ctx, "-q", "-t", "q1", "-t", "q2:v")
        self.assertRegex(r.stdout, r"^sha256:[0-9a-f]{64}\n$")
        iid = r.stdout.strip()
        self.assertEqual((self.image_id("q1"), self.image_id("q2:v")), (iid, iid))
        r = self.build(ctx, "-t", "q3")
        self.assertEqual(r.stdout.count(" ---> Using cache\n"), 2)
        self.assertIn("Successfully tagged q3:latest\n", r.stdout)
        self.assertEqual(self.image_id("q3"), iid)
        r = self.build(ctx, "--no-cache", "-t", "q3")
        self.assertNotIn("Using cache", r.stdout)
        self.assertNotEqual(self.image_id("q3"), iid)
        self.assertEqual(self.image_id("q1"), iid)

    def test_compressed_contexts(self):
        ctx = self.ctx({"Dockerfile": "FROM busybox\nCOPY hello /hello\n", "hello": "ctx\n"})
        r = self.build(ctx, "--compress", "-t", "gz")  # the CLI sends gzip
        self.assertIn("Successfully tagged gz:latest", r.stdout)
        import docker  # python3-docker: a raw context, as other clients send it
        api = docker.APIClient(base_url=self.eng.env["DOCKER_HOST"], version="auto")
        files = {"Dockerfile": "FROM busybox\nCOPY hello /hello\n", "hello": "raw\n"}
        plain = tar_bytes(files)
        for name, body in (("gzip", tar_bytes(files, "w:gz")), ("bzip2", bz2.compress(plain)),
                           ("xz", lzma.compress(plain))):
            msgs = list(api.build(fileobj=io.BytesIO(body), custom_context=True, decode=True,
                                  tag=f"comp-{name}", rm=True))
            self.assertFalse([m for m in msgs if "error" in m], (name, msgs))
            ids = [m["aux"]["ID"] for m in msgs if "aux" in m]
            self.assertEqual(ids, [self.image_id(f"comp-{name}")], name)
            self.assertEqual(self.run_out(f"comp-{name}", "cat", "/hello"), "raw\n")
        self.assertEqual(self.run_out("gz", "cat", "/hello"), "ctx\n")

    def test_images_hides_intermediates(self):
        ctx = self.ctx({"Dockerfile": "FROM busybox\nENV A=1\nRUN echo inter > /i\nLABEL z=1\n"})
        r = self.build(ctx, "--no-cache", "-t", "inter")
        made = re.findall(rf"^ ---> ({ID})$", r.stdout, re.M)[1:]  # [0] is busybox
        self.assertEqual(len(made), 3, r.stdout)
        top = self.ok("images", "-q").stdout.split()
        every = self.ok("images", "-aq").stdout.split()
        self.assertEqual([i for i in made if i in top], [made[-1]])
        self.assertEqual([i for i in made if i in every], made)

    def test_missing_base_image(self):
        # the name points at a closed local port: any pull fails at once
        ctx = self.ctx({"Dockerfile": "FROM 127.0.0.1:1/nope/busybox:1\nRUN true\n"})
        before = self.containers()
        r = self.build(ctx, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Step 1/2 : FROM 127.0.0.1:1/nope/busybox:1", r.stdout)
        self.assertNotIn("Step 2/2", r.stdout)
        self.assertEqual(self.containers(), before)
        r = self.build(self.ctx({"Dockerfile": "FROM busybox AS a\nRUN true\n"}), "--target",
                       "nope", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("failed to reach build target nope in Dockerfile", r.stderr)

    def test_add_url_chmod_and_events(self):
        """ADD of a URL (served on loopback by the test), COPY/ADD --chmod,
        and the build's events (its RUN container's lifecycle, the tag)."""
        import http.server
        import threading

        body = b"downloaded payload\n"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        url = f"http://127.0.0.1:{srv.server_address[1]}/files/payload.txt"
        url2 = f"http://127.0.0.1:{srv.server_address[1]}/other/second.txt"
        since = str(int(time.time()) - 1)
        ctx = self.ctx({"f": "x", "Dockerfile": (
            f"FROM busybox\nADD {url} {url2} /dl/\nCOPY --chmod=750 f /f\nRUN true\n")})
        r = self.build(ctx, "-t", "urlimg")
        self.assertEqual(self.run_out("urlimg", "cat", "/dl/payload.txt", "/dl/second.txt"),
                         "downloaded payload\n" * 2)
        # dockerd: mode 0600, the Last-Modified time, the bare hash in history
        self.assertEqual(self.run_out("urlimg", "stat", "-c", "%a %Y", "/dl/payload.txt", "/f"),
                         "600 1445412480\n750 " +
                         self.run_out("urlimg", "stat", "-c", "%Y", "/f"))
        self.assertRegex(self.history("urlimg")[2], r"^/bin/sh -c #\(nop\) ADD multi:[0-9a-f]{64} in /dl/ $")
        # the same URL content: cached
        r = self.build(ctx, "-t", "urlimg")
        self.assertEqual(r.stdout.count(" ---> Using cache"), 3, r.stdout)
        # a new mode is a new step
        with open(os.path.join(ctx, "Dockerfile")) as f:
            text = f.read()
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(text.replace("--chmod=750", "--chmod=700"))
        r = self.build(ctx, "-t", "urlimg")
        self.assertEqual(r.stdout.count(" ---> Using cache"), 1, r.stdout)
        self.assertEqual(self.run_out("urlimg", "stat", "-c", "%a", "/f"), "700\n")
        until = str(int(time.time()) + 1)
        ev = self.ok("events", "--since", since, "--until", until, "--format",
                     "{{.Type}} {{.Action}}").stdout.split("\n")
        for want in ("container create", "container start", "container die", "container destroy",
                     "image tag"):
            self.assertIn(want, ev)

    def test_client_gone_cancels_the_build(self):
        """The docker CLI killed during a RUN: the build stops, its RUN
        container is killed and removed, no image is tagged."""
        before = self.containers()
        ctx = self.ctx({"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\nRUN echo never\n"})
        p = subprocess.Popen([DOCKER, "build", "-t", "cancelled", ctx], env=self.eng.env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            deadline = time.time() + 30
            seen = ""
            while time.time() < deadline and "started" not in seen:
                seen += p.stdout.readline()
            self.assertIn("started", seen)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        deadline = time.time() + 20
        while time.time() < deadline and self.containers() != before:
            time.sleep(0.2)
        self.assertEqual(self.containers(), before)
        self.assertNotEqual(self.d("image", "inspect", "cancelled").returncode, 0)

    def test_run_options(self):
        """networkmode, extrahosts and shmsize reach the RUN containers."""
        ctx = self.ctx({"Dockerfile": (
            "FROM busybox\nRUN ls /sys/class/net | sort | tr '\\n' ' '; echo\n"
            "RUN grep buildhost /etc/hosts\nRUN df -k /dev/shm | tail -1\n")})
        r = self.build(ctx, "--network", "none", "--add-host", "buildhost:10.1.2.3",
                       "--shm-size", "8m")
        s = steps(r.stdout)
        self.assertIn("lo \n", s[2][1])  # only loopback with --network none
        self.assertRegex(s[3][1], r"10\.1\.2\.3\s+buildhost")
        self.assertRegex(s[4][1], r"\s8192\s")

    def test_env_pairs_expand_against_the_previous_env(self):
        ctx = self.ctx({"Dockerfile": "FROM busybox\nENV abc=hello\nENV abc=bye def=$abc\n"
                                      "ARG A=1 B=x$A\nRUN echo \"def=$def B=$B\"\n"})
        r = self.build(ctx, "-t", "envpairs")
        self.assertIn("def=hello B=x\n", r.stdout)
        self.assertEqual(self.history("envpairs")[2], NOP + " ENV abc=bye def=hello")

    def test_dockerignore_removal_stays_in_the_context(self):
        """A context whose Dockerfile path runs through a symlinked directory
        pointing at the host: dockerd's removal of an ignored Dockerfile never
        follows it out (python3-docker sends the raw tar)."""
        if REFERENCE:
            self.skipTest("arca only (the victim directory is on this host)")
        import docker
        victim = tempfile.mkdtemp(prefix="arca-victim-")
        self.addCleanup(shutil.rmtree, victim, True)
        with open(os.path.join(victim, "Dockerfile"), "w") as f:
            f.write("FROM busybox\n")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            link = tarfile.TarInfo("sub")
            link.type = tarfile.SYMTYPE
            link.linkname = victim
            t.addfile(link)
            # the Dockerfile exists inside the context where the link
            # resolves in-root; the host path of the same name is the victim
            for name, data in ((victim.lstrip("/") + "/Dockerfile", b"FROM busybox\nCMD [\"true\"]\n"),
                               (".dockerignore", b"sub\n")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        buf.seek(0)
        client = docker.APIClient(base_url="unix://" + self.eng.sock, version="1.41")
        out = list(client.build(fileobj=buf, custom_context=True, dockerfile="sub/Dockerfile",
                                decode=True))
        self.assertTrue(os.path.exists(os.path.join(victim, "Dockerfile")), out)


if __name__ == "__main__":
    unittest.main()
