"""Registry fixtures for Arca's end-to-end tests (loopback only, standard library only).

- Registry: Debian's distribution registry (/usr/bin/docker-registry) on a free
  127.0.0.1 port with its own storage, optionally behind htpasswd basic auth.
- push_image() / push_index(): push a single-platform image, or one image per
  platform plus an OCI index / docker manifest list, through the distribution API.
- HostileRegistry: an in-process registry (read side only) serving one image with
  misbehaviour chosen by repository name: see HostileRegistry.CASES.
- base_layer() / random_layer(): uncompressed layer tars (busybox rootfs from
  arca_fixture; N MiB of random bytes).

What the reference dockerd 20.10 does with each case is in REGISTRY_CASES.md.

Self-check: python3 tests/e2e/registry_fixture.py selftest
"""
import atexit
import base64
import ctypes
import functools
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arca_fixture  # noqa: E402  (busybox rootfs layer and the layer tar writer)

REGISTRY_BIN = os.environ.get("ARCA_REGISTRY_BIN", "/usr/bin/docker-registry")
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"

# Media types.
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    ("docker", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ("docker", "none"): "application/vnd.docker.image.rootfs.diff.tar",
    # Not in the docker schema 2 spec, but containerd knows it.
    ("docker", "zstd"): "application/vnd.docker.image.rootfs.diff.tar.zstd",
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
}
IN_TOTO = "application/vnd.in-toto+json"
ACCEPT_ALL = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])


class ZstdUnavailable(unittest.SkipTest):
    """Raised for compression="zstd" without the zstd tool (apt-get install zstd)."""


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# ----------------------------------------------------------------------------- layers

@functools.lru_cache(maxsize=1)
def base_layer():
    """arca_fixture's busybox rootfs layer (uncompressed tar), built once per process."""
    return arca_fixture.busybox_layer()


def random_layer(mib, name="random.bin"):
    """An uncompressed layer tar holding one file of `mib` MiB of random bytes."""
    return arca_fixture._layer_tar([(name, "file", os.urandom(int(mib * 1024 * 1024)), 0o644)])


def have_zstd():
    return shutil.which("zstd") is not None


def compress(data, compression):
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "none":
        return data
    if compression == "zstd":
        if not have_zstd():
            raise ZstdUnavailable("zstd tool missing (apt-get install zstd)")
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True,
                              check=True).stdout
    raise ValueError(f"compression {compression!r}: gzip, zstd or none")


def _parse_platform(p):
    parts = p.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"platform {p!r}: os/arch[/variant]")
    return {"os": parts[0], "architecture": parts[1], **({"variant": parts[2]} if len(parts) == 3 else {})}


def build_image(layers, config_overrides=None, compression="gzip", media="docker"):
    """The blobs and manifest of a single-platform image, without pushing anything.

    layers: uncompressed tar bytes. config_overrides: top-level image config keys
    (architecture, os, variant, rootfs, ...) replace the defaults, except "config",
    which is merged into the container config (Cmd, Env, Labels, ...).
    Returns dict(manifest_digest, config_digest, layer_digests, diff_ids,
    manifest_bytes, manifest_media_type, config_bytes, blobs={digest: bytes},
    layer_sizes).
    """
    if media not in ("docker", "oci"):
        raise ValueError(f"media {media!r}: docker or oci")
    layers = list(layers)
    diff_ids = [sha256(l) for l in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "arca e2e registry fixture"}
                    for _ in layers],
    }
    for k, v in (config_overrides or {}).items():
        if k == "config":
            config["config"].update(v)
        else:
            config[k] = v
    cfg = _json(config)
    blobs = {sha256(cfg): cfg}
    ldesc = []
    for l in layers:
        c = compress(l, compression)
        blobs[sha256(c)] = c
        ldesc.append({"mediaType": LAYER_TYPES[(media, compression)], "digest": sha256(c),
                      "size": len(c)})
    mtype = DOCKER_MANIFEST if media == "docker" else OCI_MANIFEST
    manifest = _json({
        "schemaVersion": 2, "mediaType": mtype,
        "config": {"mediaType": DOCKER_CONFIG if media == "docker" else OCI_CONFIG,
                   "digest": sha256(cfg), "size": len(cfg)},
        "layers": ldesc,
    })
    return {
        "manifest_digest": sha256(manifest), "config_digest": sha256(cfg),
        "layer_digests": [d["digest"] for d in ldesc], "layer_sizes": [d["size"] for d in ldesc],
        "diff_ids": diff_ids, "manifest_bytes": manifest, "manifest_media_type": mtype,
        "config_bytes": cfg, "blobs": blobs,
    }


# ----------------------------------------------------------------------------- client

class RegistryError(Exception):
    pass


class _Client:
    """Minimal distribution API client (push side) with optional basic auth."""

    def __init__(self, addr, auth=None):
        self.base = f"http://{addr}"
        self.auth = None
        if auth:
            self.auth = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()

    def req(self, method, url, data=None, headers=None):
        if not url.startswith("http"):
            url = self.base + url
        r = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        if self.auth:
            r.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(r, timeout=60) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def put_blob(self, repo, data):
        d = sha256(data)
        st, _, _ = self.req("HEAD", f"/v2/{repo}/blobs/{d}")
        if st == 200:
            return d
        st, h, body = self.req("POST", f"/v2/{repo}/blobs/uploads/", b"")
        if st != 202:
            raise RegistryError(f"POST upload {repo}: HTTP {st} {body[:300]!r}")
        loc = h.get("Location", "")
        if loc.startswith("/"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        st, _, body = self.req("PUT", f"{loc}{sep}digest={urllib.parse.quote(d)}", data,
                               {"Content-Type": "application/octet-stream"})
        if st != 201:
            raise RegistryError(f"PUT blob {d} to {repo}: HTTP {st} {body[:300]!r}")
        return d

    def put_manifest(self, repo, ref, body, media_type):
        st, h, resp = self.req("PUT", f"/v2/{repo}/manifests/{ref}", body,
                               {"Content-Type": media_type})
        if st != 201:
            raise RegistryError(f"PUT manifest {repo}:{ref}: HTTP {st} {resp[:400]!r}")
        got = h.get("Docker-Content-Digest")
        if got and got != sha256(body):
            raise RegistryError(f"registry says {got}, expected {sha256(body)}")
        return sha256(body)


def push_image(registry_addr, repo, tag, layers, config_overrides=None, auth=None,
               compression="gzip", media="docker"):
    """Pushes one single-platform image (blobs: POST + monolithic PUT ?digest=; then
    PUT manifest). tag=None pushes the manifest by digest only. auth=(user, password)
    for basic auth. Returns build_image()'s dict (manifest_digest, config_digest,
    layer_digests, diff_ids, manifest_bytes, ...)."""
    img = build_image(layers, config_overrides, compression, media)
    c = _Client(registry_addr, auth)
    for d, data in img["blobs"].items():
        c.put_blob(repo, data)
    c.put_manifest(repo, tag or img["manifest_digest"], img["manifest_bytes"],
                   img["manifest_media_type"])
    return img


def _attestation_manifest(c, repo, subject):
    """A BuildKit-like attestation manifest (in-toto layer) for `subject`."""
    statement = _json({"_type": "https://in-toto.io/Statement/v0.1",
                       "predicateType": "https://spdx.dev/Document",
                       "subject": [{"name": "arca-e2e", "digest": {"sha256": subject.split(":")[1]}}],
                       "predicate": {"spdxVersion": "SPDX-2.3"}})
    cfg = _json({"architecture": "unknown", "os": "unknown", "config": {},
                 "rootfs": {"type": "layers", "diff_ids": [sha256(statement)]}})
    c.put_blob(repo, statement)
    c.put_blob(repo, cfg)
    man = _json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(cfg), "size": len(cfg)},
        "layers": [{"mediaType": IN_TOTO, "digest": sha256(statement), "size": len(statement),
                    "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}],
    })
    return c.put_manifest(repo, sha256(man), man, OCI_MANIFEST), len(man)


def push_index(registry_addr, repo, tag, platforms=None, media="oci", auth=None,
               compression="gzip", attestation=True, config_overrides=None):
    """Pushes one image per platform ("os/arch[/variant]" -> uncompressed layers;
    default linux/amd64 and linux/arm64, both busybox) with a config of the matching
    os/architecture/variant, then an OCI index (media="oci") or docker manifest list
    (media="docker") tagged `tag`. attestation=True adds, per platform, a BuildKit-like
    attestation manifest entry (platform unknown/unknown, annotation
    vnd.docker.reference.type=attestation-manifest) that engines must skip.
    Returns dict(index_digest, index_bytes, media_type,
                 platforms={platform: push_image() dict}, attestations=[digests])."""
    if platforms is None:
        platforms = {"linux/amd64": [base_layer()], "linux/arm64": [base_layer()]}
    c = _Client(registry_addr, auth)
    entries, per, atts = [], {}, []
    for plat, layers in platforms.items():
        p = _parse_platform(plat)
        ov = dict(config_overrides or {})
        ov.update(p)
        img = push_image(registry_addr, repo, None, layers, ov, auth, compression, media)
        per[plat] = img
        entries.append({"mediaType": img["manifest_media_type"], "digest": img["manifest_digest"],
                        "size": len(img["manifest_bytes"]), "platform": p})
    if attestation:
        for img in per.values():
            d, size = _attestation_manifest(c, repo, img["manifest_digest"])
            atts.append(d)
            entries.append({"mediaType": OCI_MANIFEST, "digest": d, "size": size,
                            "platform": {"architecture": "unknown", "os": "unknown"},
                            "annotations": {"vnd.docker.reference.digest": img["manifest_digest"],
                                            "vnd.docker.reference.type": "attestation-manifest"}})
    mtype = OCI_INDEX if media == "oci" else DOCKER_LIST
    index = _json({"schemaVersion": 2, "mediaType": mtype, "manifests": entries})
    c.put_manifest(repo, tag or sha256(index), index, mtype)
    return {"index_digest": sha256(index), "index_bytes": index, "media_type": mtype,
            "platforms": per, "attestations": atts}


def get_manifest(registry_addr, repo, ref, auth=None, accept=ACCEPT_ALL):
    """(status, content-type, body) of GET /v2/<repo>/manifests/<ref>."""
    st, h, body = _Client(registry_addr, auth).req("GET", f"/v2/{repo}/manifests/{ref}",
                                                   headers={"Accept": accept})
    return st, h.get("Content-Type"), body


def get_blob(registry_addr, repo, digest, auth=None):
    st, _, body = _Client(registry_addr, auth).req("GET", f"/v2/{repo}/blobs/{digest}")
    return st, body


# ----------------------------------------------------------------------------- Registry

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: SIGKILL the child when the thread that started it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_LIVE = set()


@atexit.register
def _stop_all():
    for r in list(_LIVE):
        r.stop()


def have_registry():
    """A reason string when Registry cannot run here, else None."""
    if not os.path.exists(REGISTRY_BIN):
        return f"missing {REGISTRY_BIN} (apt-get install docker-registry)"
    return None


class Registry:
    """Debian's distribution registry on 127.0.0.1:<free port>.

        with Registry() as r:                      # r.addr == "127.0.0.1:PORT"
            push_image(r.addr, "busybox", "latest", [base_layer()])
        with Registry(auth=("user", "pass")) as r: # htpasswd basic auth

    The process is killed and its folder removed by stop() / on leaving the with
    block / at interpreter exit; it also dies with the thread that started it.
    """

    def __init__(self, auth=None, start=True):
        self.auth = auth
        self.dir = None
        self.proc = None
        self.addr = None
        if start:
            self.start()

    @property
    def url(self):
        return f"http://{self.addr}"

    def start(self, timeout=20):
        reason = have_registry()
        if reason:
            raise unittest.SkipTest(reason)
        self.dir = tempfile.mkdtemp(prefix="arca-e2e-registry-")
        _LIVE.add(self)
        try:
            auth_cfg = ""
            if self.auth:
                if not os.path.exists(HTPASSWD):
                    raise unittest.SkipTest("missing htpasswd (apt-get install apache2-utils)")
                out = subprocess.run([HTPASSWD, "-Bbn", self.auth[0], self.auth[1]],
                                     capture_output=True, text=True, check=True).stdout
                with open(os.path.join(self.dir, "htpasswd"), "w") as f:
                    f.write(out.strip() + "\n")
                auth_cfg = (f"auth:\n  htpasswd:\n    realm: arca-e2e\n"
                            f"    path: {self.dir}/htpasswd\n")
            for attempt in range(5):
                if self._try_start(auth_cfg, timeout):
                    return self
            raise RuntimeError(f"registry did not start:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def _try_start(self, auth_cfg, timeout):
        port = free_port()
        self.addr = f"127.0.0.1:{port}"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                    f"  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.addr}\n  secret: arca-e2e-{secrets.token_hex(8)}\n"
                    f"{auth_cfg}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self._logf = open(os.path.join(self.dir, "registry.log"), "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=self._logf,
                                     stderr=self._logf, stdin=subprocess.DEVNULL, env=env,
                                     preexec_fn=_die_with_parent)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:  # e.g. port taken meanwhile: try another
                self._reap()
                return False
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=2).close()
                return True
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        self._reap()
        return False

    def _reap(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if getattr(self, "_logf", None):
            self._logf.close()
            self._logf = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "registry.log"), errors="replace") as f:
                return f.read()[-8000:]
        except (OSError, TypeError):
            return ""

    def stop(self):
        self._reap()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        _LIVE.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ----------------------------------------------------------------------------- HostileRegistry

def _tar_with_hardlinks(entries):
    """Like arca_fixture._layer_tar, plus ("path", "hardlink", target, mode) entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, kind, payload, mode in entries:
            if kind != "hardlink":
                part = tarfile.open(fileobj=io.BytesIO(
                    arca_fixture._layer_tar([(path, kind, payload, mode)])))
                for m in part.getmembers():
                    t.addfile(m, part.extractfile(m) if m.isreg() else None)
                continue
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mode, info.mtime = tarfile.LNKTYPE, payload, mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            t.addfile(info)
    return buf.getvalue()


def evil_layers(escape_dir):
    """{case: uncompressed layer tar} whose entries try to write to escape_dir (an
    absolute host folder) from inside a layer. Digests are right: only the unpacker
    can refuse them. escape_dir/victim is a host file the hardlink case targets."""
    up = "../" * 24
    ed = escape_dir.lstrip("/")
    symlink = [
        ("evil", "dir", None, 0o755),
        ("evil/out-abs", "symlink", escape_dir, 0o777),            # absolute target
        ("evil/out-abs/pwned-via-abs-symlink", "file", b"pwned\n", 0o644),
        ("evil/out-rel", "symlink", up + ed, 0o777),                # relative ../ target
        ("evil/out-rel/pwned-via-rel-symlink", "file", b"pwned\n", 0o644),
    ]
    absolute = [(escape_dir + "/pwned-abs-path", "file", b"pwned\n", 0o644)]
    hardlink = [
        ("evil", "dir", None, 0o755),
        ("evil/victim-link", "hardlink", up + ed + "/victim", 0o644),
        ("evil/victim-link", "file", b"pwned\n", 0o644),           # rewrite through it
    ]
    dotdot = [(up + ed + "/pwned-dotdot", "file", b"pwned\n", 0o644)]
    return {
        "evil-symlink": _tar_with_hardlinks(symlink),
        "evil-abs": _tar_with_hardlinks(absolute),
        "evil-hardlink": _tar_with_hardlinks(hardlink),
        "evil-dotdot": _tar_with_hardlinks(dotdot),
        # Everything in one layer, the ../ entry last.
        "evil-tar": _tar_with_hardlinks(symlink + absolute + hardlink + dotdot),
    }


def _error_body(code, message, detail=None):
    return _json({"errors": [{"code": code, "message": message, "detail": detail}]})


class HostileRegistry:
    """A threaded registry (read side of the distribution API) on 127.0.0.1:<free
    port> serving one image (`layers`, gzip; default busybox) under every repository
    name; the last component of the name picks the behaviour:

      good           correct image
      slow           layer blobs streamed in slow_chunk bytes every slow_delay s
      token          needs a Bearer token from /token (basic auth user/password)
      corrupt-blob   last layer served with other bytes (a gzip header mtime changed:
                     still valid gzip, same size and content) -> digest mismatch
      wrong-diffid   config rootfs.diff_ids[-1] is wrong (blobs all digest-correct)
      size-lie       manifest says the last layer is 100 bytes smaller than it is
      size-lie-big   ... 100 bytes larger
      flaky          layer blobs: a plain GET breaks halfway (as truncated), a Range
                     request (a resumed download) is served whole
      truncated      layer blobs: full Content-Length, connection closed halfway
                     (a resumed Range request too: 206, half of that range, close)
      hang           layer blobs: headers and half the bytes, then silence for up
                     to hang_seconds (ends early when the server stops), then close
      bad-json       manifest body is not JSON (Docker-Content-Digest matches it)
      digest-mismatch  the good manifest whatever digest is asked for; its
                     Docker-Content-Digest header claims the requested ref/ a wrong one
      missing-blob   last layer: 404 BLOB_UNKNOWN
      evil-tar       an extra layer with symlink / absolute / hardlink / ../ escapes
                     (evil-symlink, evil-abs, evil-hardlink, evil-dotdot: one each)
                     aimed at .escape_dir (stays empty if the unpacker is sound;
                     .escape_dir/victim must keep its content "victim\\n")

    Auth (challenge="bearer", the default, like Docker Hub): /v2/ answers 401
    WWW-Authenticate: Bearer realm="http://ADDR/token",service="hostile"; /token
    gives any client a token, but only one asked with basic auth (user, password)
    opens the "token" repositories. Repositories other than "token" also answer
    without any Authorization. challenge=None: /v2/ answers 200 and only the token
    repositories answer 401 with a challenge (scope="repository:NAME:pull").

    Every request is recorded in .requests (dicts: method, path, query, headers,
    case); see blob_gets(). .image(case) gives that case's manifest/blob digests.
    """

    CASES = ("good", "slow", "flaky", "token", "corrupt-blob", "wrong-diffid", "size-lie", "size-lie-big",
             "truncated", "hang", "bad-json", "digest-mismatch", "missing-blob", "evil-tar",
             "evil-symlink", "evil-abs", "evil-hardlink", "evil-dotdot")

    def __init__(self, layers=None, user="hostile", password="hostile-pass", hang_seconds=60,
                 slow_chunk=16 * 1024, slow_delay=0.02, media="docker", challenge="bearer"):
        self.user, self.password = user, password
        self.hang_seconds, self.slow_chunk, self.slow_delay = hang_seconds, slow_chunk, slow_delay
        self.challenge = challenge
        self.requests = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns = set()
        self._tokens = {}  # token -> True if issued with valid credentials
        self.escape_dir = tempfile.mkdtemp(prefix="arca-e2e-escape-")
        _LIVE.add(self)  # stopped at interpreter exit if nobody did
        with open(os.path.join(self.escape_dir, "victim"), "w") as f:
            f.write("victim\n")
        try:
            self._images = self._build(list(layers) if layers is not None else [base_layer()],
                                       media)
            self._server = _Server(("127.0.0.1", 0), _Handler)
        except BaseException:
            self.stop()
            raise
        self._server.hostile = self
        self.addr = "127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return f"http://{self.addr}"

    def _build(self, layers, media):
        good = build_image(layers, media=media)
        imgs = {c: good for c in ("good", "slow", "flaky", "token", "truncated", "hang", "missing-blob",
                                  "corrupt-blob", "digest-mismatch")}
        last = good["layer_digests"][-1]
        bad = bytearray(good["blobs"][last])
        bad[4:8] = b"\x01\x02\x03\x04"  # gzip MTIME: same size, same content, other digest
        imgs["corrupt-blob"] = dict(good, blobs=dict(good["blobs"], **{last: bytes(bad)}))
        diff_ids = list(good["diff_ids"])
        diff_ids[-1] = sha256(b"not the layer")
        imgs["wrong-diffid"] = build_image(
            layers, {"rootfs": {"type": "layers", "diff_ids": diff_ids}}, media=media)
        for case, delta in (("size-lie", -100), ("size-lie-big", 100)):
            m = json.loads(good["manifest_bytes"])
            m["layers"][-1]["size"] += delta
            mb = _json(m)
            imgs[case] = dict(good, manifest_bytes=mb, manifest_digest=sha256(mb))
        junk = b"{this is not json at all\n"
        imgs["bad-json"] = dict(good, manifest_bytes=junk, manifest_digest=sha256(junk))
        for case, evil in evil_layers(self.escape_dir).items():
            imgs[case] = build_image(layers + [evil], media=media)
        return imgs

    def image(self, case="good"):
        """build_image()-style dict of what `case` serves (manifest_digest, ...)."""
        return self._images[case]

    def _record(self, handler, case):
        u = urllib.parse.urlsplit(handler.path)
        with self._lock:
            self.requests.append({"method": handler.command, "path": u.path, "query": u.query,
                                  "headers": dict(handler.headers.items()), "case": case,
                                  "time": time.time()})

    def blob_gets(self, case=None):
        """Recorded GET requests of blobs (optionally of one case)."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "GET" and "/blobs/" in r["path"]
                    and (case is None or r["case"] == case)]

    def clear(self):
        with self._lock:
            self.requests.clear()

    def stop(self):
        _LIVE.discard(self)
        if self._stopping.is_set():
            return
        self._stopping.set()
        if not hasattr(self, "_thread"):  # __init__ failed before serving
            shutil.rmtree(self.escape_dir, ignore_errors=True)
            return
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(5)
        deadline = time.time() + 5
        while time.time() < deadline:
            with self._lock:
                if not self._conns:
                    break
            time.sleep(0.02)
        shutil.rmtree(self.escape_dir, ignore_errors=True)

    def escaped(self):
        """What the evil layers managed to do on the host: a list of problems."""
        out = [f"{self.escape_dir}/{n}" for n in os.listdir(self.escape_dir) if n != "victim"]
        victim = os.path.join(self.escape_dir, "victim")
        with open(victim) as f:
            if f.read() != "victim\n":
                out.append(f"{victim} modified")
        if os.stat(victim).st_nlink != 1:
            out.append(f"{victim} hard-linked from elsewhere")
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arca-e2e-hostile-registry/1"
    timeout = 120

    @property
    def h(self):
        return self.server.hostile

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.h._lock:
            self.h._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        with self.h._lock:
            self.h._conns.discard(self.connection)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    # -- helpers
    def _send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        hdrs = dict(headers or {})
        hdrs.setdefault("Content-Type", "application/json" if body else "text/plain")
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _challenge(self, scope=None):
        c = f'Bearer realm="http://{self.h.addr}/token",service="hostile"'
        if scope:
            c += f',scope="{scope}"'
        return c

    def _unauthorized(self, scope, head):
        self._send(401, _error_body("UNAUTHORIZED", "authentication required",
                                    [{"Type": "repository", "Name": scope.split(":")[1],
                                      "Action": "pull"}] if scope else None),
                   {"WWW-Authenticate": self._challenge(scope)}, head)

    def _drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    # -- verbs
    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)

    def _readonly(self):
        self.h._record(self, None)
        self._drain()
        self._send(405, _error_body("UNSUPPORTED", "this registry is read-only"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _readonly

    def _route(self, head):
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        parts = path.split("/")
        case = None
        kind = None
        if path.startswith("/v2/") and len(parts) >= 5 and parts[-2] in ("manifests", "blobs"):
            name = "/".join(parts[2:-2])
            case, kind, ref = name.rsplit("/", 1)[-1], parts[-2], parts[-1]
        self.h._record(self, case)
        if path == "/token":
            return self._token(u.query, head)
        if path in ("/v2", "/v2/"):
            if self.h.challenge == "bearer" and not self._bearer_ok(any_token=True):
                return self._unauthorized(None, head)
            return self._send(200, b"{}", head=head)
        if kind is None:
            return self._send(404, _error_body("NOT_FOUND", "not found"), head=head)
        if case not in self.h._images:
            return self._send(404, _error_body("NAME_UNKNOWN", "repository name not known to registry",
                                               {"name": name}), head=head)
        if case == "token" and not self._bearer_ok(any_token=False):
            return self._unauthorized(f"repository:{name}:pull", head)
        img = self.h._images[case]
        if kind == "manifests":
            return self._manifest(case, img, ref, head)
        return self._blob(case, img, ref, head)

    def _bearer_ok(self, any_token):
        a = self.headers.get("Authorization", "")
        if not a.startswith("Bearer "):
            return False
        with self.h._lock:
            authed = self.h._tokens.get(a[7:].strip())
        return authed is not None and (any_token or authed)

    def _token(self, query, head):
        q = urllib.parse.parse_qs(query)
        user = password = None
        a = self.headers.get("Authorization", "")
        if a.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(a[6:]).decode().partition(":")
            except Exception:
                pass
        if user is not None and (user, password) != (self.h.user, self.h.password):
            return self._send(401, _error_body("UNAUTHORIZED", "invalid username or password"),
                              head=head)
        tok = secrets.token_hex(16)
        with self.h._lock:
            self.h._tokens[tok] = user is not None
        body = _json({"token": tok, "access_token": tok, "expires_in": 300,
                      "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "scope": " ".join(q.get("scope", []))})
        return self._send(200, body, head=head)

    def _manifest(self, case, img, ref, head):
        body = img["manifest_bytes"]
        digest = img["manifest_digest"]
        if case == "digest-mismatch":
            digest = ref if ref.startswith("sha256:") else sha256(b"some other manifest")
        elif ref.startswith("sha256:") and ref != digest:
            return self._send(404, _error_body("MANIFEST_UNKNOWN", "manifest unknown",
                                               {"digest": ref}), head=head)
        self._send(200, body, {"Content-Type": img["manifest_media_type"],
                               "Docker-Content-Digest": digest}, head)

    def _blob(self, case, img, digest, head):
        data = img["blobs"].get(digest)
        if data is None or (case == "missing-blob" and digest == img["layer_digests"][-1]):
            return self._send(404, _error_body("BLOB_UNKNOWN", "blob unknown to registry",
                                               digest), head=head)
        hdrs = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest,
                "Accept-Ranges": "bytes"}
        status, start, end = 200, 0, len(data)
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].partition("-")
            try:
                start = int(a) if a else max(0, len(data) - int(b))
                end = min(len(data), int(b) + 1) if a and b else len(data)
            except ValueError:
                start, end = 0, len(data)
            if start >= len(data) and len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            status = 206
            hdrs["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        part = data[start:end]
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if head:
            return
        mode = case if digest in img["layer_digests"] else None
        if mode == "flaky" and not rng:
            # The first attempt breaks halfway; a resumed (Range) request is served whole.
            mode = "truncated"
        if mode in ("truncated", "hang"):
            # Half of what was asked for (a resumed range too), then silence/close.
            self.wfile.write(part[:len(part) // 2])
            self.wfile.flush()
            if mode == "hang":
                self.h._stopping.wait(self.h.hang_seconds)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif mode == "slow":
            for i in range(0, len(part), self.h.slow_chunk):
                if self.h._stopping.is_set():
                    self.close_connection = True
                    return
                self.wfile.write(part[i:i + self.h.slow_chunk])
                self.wfile.flush()
                self.h._stopping.wait(self.h.slow_delay)
        else:
            self.wfile.write(part)


# ----------------------------------------------------------------------------- selftest

def _selftest():
    import urllib.request as ur
    ok = []

    def check(cond, what):
        if not cond:
            raise AssertionError(what)
        ok.append(what)

    base = base_layer()
    with Registry() as r:
        check(ur.urlopen(f"{r.url}/v2/").status == 200, "registry /v2/ 200")
        combos = [("gzip", "docker"), ("gzip", "oci"), ("none", "docker"), ("none", "oci")]
        if have_zstd():
            combos += [("zstd", "oci"), ("zstd", "docker")]
        for comp, media in combos:
            repo = f"img-{comp}-{media}"
            img = push_image(r.addr, repo, "v1", [base, random_layer(0.25)], compression=comp,
                             media=media, config_overrides={"config": {"Cmd": ["echo", repo]}})
            st, ct, body = get_manifest(r.addr, repo, "v1")
            check(st == 200 and body == img["manifest_bytes"] and ct == img["manifest_media_type"],
                  f"manifest {repo} by tag")
            check(get_manifest(r.addr, repo, img["manifest_digest"])[2] == img["manifest_bytes"],
                  f"manifest {repo} by digest")
            for d in img["layer_digests"] + [img["config_digest"]]:
                st, data = get_blob(r.addr, repo, d)
                check(st == 200 and sha256(data) == d, f"blob {repo} {d[:19]}")
            if comp == "gzip":
                check(gzip.decompress(get_blob(r.addr, repo, img["layer_digests"][0])[1]) == base,
                      "gzip layer decompresses to the base layer")
        for media in ("oci", "docker"):
            idx = push_index(r.addr, f"multi-{media}", "latest", media=media)
            st, ct, body = get_manifest(r.addr, f"multi-{media}", "latest")
            check(st == 200 and body == idx["index_bytes"] and ct == idx["media_type"],
                  f"index ({media}) by tag")
            ents = json.loads(body)["manifests"]
            check(len(ents) == 4 and sum(e["platform"]["os"] == "unknown" for e in ents) == 2,
                  f"index ({media}) has 2 platforms + 2 attestations")
            arm = idx["platforms"]["linux/arm64"]
            check(json.loads(arm["config_bytes"])["architecture"] == "arm64", "arm64 config")
            check(get_manifest(r.addr, f"multi-{media}", arm["manifest_digest"])[2]
                  == arm["manifest_bytes"], f"arm64 manifest ({media}) by digest")
        pid = r.proc.pid
    check(not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
          "registry process gone after stop")

    with Registry(auth=("alice", "wonder")) as r:
        try:
            ur.urlopen(f"{r.url}/v2/")
            check(False, "auth registry refuses anonymous")
        except urllib.error.HTTPError as e:
            check(e.code == 401 and "Basic" in e.headers.get("WWW-Authenticate", ""),
                  "auth registry: anonymous 401 Basic")
        img = push_image(r.addr, "private/busybox", "latest", [base], auth=("alice", "wonder"))
        check(get_manifest(r.addr, "private/busybox", "latest", auth=("alice", "wonder"))[2]
              == img["manifest_bytes"], "auth registry: push + get with basic auth")
        check(get_manifest(r.addr, "private/busybox", "latest")[0] == 401,
              "auth registry: anonymous manifest 401")

    with HostileRegistry(hang_seconds=60) as h:
        good = h.image("good")

        def get(path, headers=None):
            req = ur.Request(h.url + path, headers=headers or {})
            try:
                with ur.urlopen(req, timeout=10) as resp:
                    return resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers, e.read()

        st, hd, _ = get("/v2/")
        check(st == 401 and hd["WWW-Authenticate"].startswith('Bearer realm="http://127.0.0.1:'),
              "hostile /v2/ Bearer challenge")
        st, hd, body = get("/v2/good/manifests/latest")
        check(st == 200 and body == good["manifest_bytes"]
              and hd["Docker-Content-Digest"] == good["manifest_digest"], "hostile good manifest")
        for d in good["layer_digests"] + [good["config_digest"]]:
            check(sha256(get(f"/v2/good/blobs/{d}")[2]) == d, "hostile good blob digest")
        ld = good["layer_digests"][-1]
        st, hd, body = get(f"/v2/good/blobs/{ld}", {"Range": "bytes=10-"})
        check(st == 206 and body == good["blobs"][ld][10:], "hostile Range")
        data = get(f"/v2/corrupt-blob/blobs/{ld}")[2]
        check(sha256(data) != ld and len(data) == len(good["blobs"][ld])
              and gzip.decompress(data) == gzip.decompress(good["blobs"][ld]),
              "corrupt-blob: same size and content, other digest")
        cfg = json.loads(get("/v2/wrong-diffid/blobs/" + h.image("wrong-diffid")["config_digest"])[2])
        check(cfg["rootfs"]["diff_ids"][-1] != good["diff_ids"][-1], "wrong-diffid config")
        m = json.loads(get("/v2/size-lie/manifests/latest")[2])
        check(m["layers"][-1]["size"] == len(good["blobs"][ld]) - 100, "size-lie manifest")
        body = get("/v2/bad-json/manifests/latest")[2]
        try:
            json.loads(body)
            check(False, "bad-json is not JSON")
        except ValueError:
            ok.append("bad-json is not JSON")
        check(get(f"/v2/missing-blob/blobs/{ld}")[0] == 404, "missing-blob 404")
        try:
            get(f"/v2/truncated/blobs/{ld}")
            check(False, "truncated raises")
        except (http.client.IncompleteRead, ConnectionError) as e:
            ok.append(f"truncated raises {type(e).__name__}")
        # token case
        check(get("/v2/token/manifests/latest")[0] == 401, "token: anonymous 401")
        anon = json.loads(get("/token?service=hostile&scope=repository:token:pull")[2])["token"]
        check(get("/v2/token/manifests/latest", {"Authorization": f"Bearer {anon}"})[0] == 401,
              "token: anonymous token refused")
        basic = "Basic " + base64.b64encode(b"hostile:wrong").decode()
        check(get("/token?service=hostile", {"Authorization": basic})[0] == 401,
              "token: wrong password 401")
        basic = "Basic " + base64.b64encode(b"hostile:hostile-pass").decode()
        tok = json.loads(get("/token?service=hostile&scope=repository:token:pull",
                             {"Authorization": basic})[2])["access_token"]
        st, _, body = get("/v2/token/manifests/latest", {"Authorization": f"Bearer {tok}"})
        check(st == 200 and body == good["manifest_bytes"], "token: authorized manifest")
        # evil layers carry the escapes
        evil = h.image("evil-tar")
        names = tarfile.open(fileobj=io.BytesIO(gzip.decompress(
            get(f"/v2/evil-tar/blobs/{evil['layer_digests'][-1]}")[2]))).getnames()
        check(any(n.startswith("../") for n in names) and any(n.startswith("/") for n in names),
              "evil-tar has ../ and absolute entries")
        check(h.escaped() == [], "escape dir untouched")
        # hang: partial body, then the server stop ends it quickly
        s = socket.create_connection(("127.0.0.1", int(h.addr.split(":")[1])))
        s.sendall(f"GET /v2/hang/blobs/{ld} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.settimeout(5)
        got = b""
        while len(got) < len(good["blobs"][ld]) // 2:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        check(b"200 OK" in got and f"Content-Length: {len(good['blobs'][ld])}".encode() in got,
              "hang: headers with full length")
        s.settimeout(1)
        try:
            check(s.recv(1) == b"" and False, "hang: silence")
        except socket.timeout:
            ok.append("hang: silence")
        n = len(h.blob_gets())
        check(n >= 5 and all(r["method"] == "GET" for r in h.blob_gets()), "requests recorded")
        t0 = time.time()
        h.stop()
        check(time.time() - t0 < 5, "stop ends a hanging response quickly")
        s.settimeout(5)
        check(s.recv(65536) == b"", "hang: connection closed at stop")
        s.close()
    with HostileRegistry(challenge=None, hang_seconds=1) as h:
        st = ur.urlopen(h.url + "/v2/").status
        check(st == 200, "challenge=None: /v2/ 200")
        check(ur.urlopen(h.url + "/v2/good/manifests/latest").status == 200,
              "challenge=None: good without auth")
        try:
            ur.urlopen(h.url + "/v2/token/manifests/latest")
            check(False, "challenge=None: token repo 401")
        except urllib.error.HTTPError as e:
            check(e.code == 401 and 'scope="repository:token:pull"' in e.headers["WWW-Authenticate"],
                  "challenge=None: token repo 401 with scope")
        ld = h.image()["layer_digests"][-1]
        size = len(h.image()["blobs"][ld])
        req = ur.Request(h.url + f"/v2/truncated/blobs/{ld}", headers={"Range": "bytes=1000-"})
        try:
            ur.urlopen(req, timeout=10).read()
            check(False, "truncated range is cut")
        except http.client.IncompleteRead as e:
            check(len(e.partial) == (size - 1000) // 2, "truncated: a range gets half of it")
        t0 = time.time()
        try:
            ur.urlopen(h.url + f"/v2/hang/blobs/{h.image()['layer_digests'][-1]}", timeout=10).read()
        except (http.client.IncompleteRead, ConnectionError):
            pass
        check(0.9 < time.time() - t0 < 5, "hang_seconds bounds the hang")
    for line in ok:
        print("ok", line)
    print(f"selftest passed ({len(ok)} checks)")


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        _selftest()
    else:
        print(__doc__)
        sys.exit(2)
