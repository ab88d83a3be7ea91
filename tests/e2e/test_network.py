"""Networking in depth (issue #5): DNS rules, /etc files, published ports,
connect/disconnect, internal networks, the default bridge's legacy
behaviour, host mode, API shapes and errors, events, the helper's recovery.
Traffic stays on loopback and inside namespaces arcad created."""
import json
import os
import socket
import struct
import subprocess
import threading
import time
import unittest

from arca_fixture import Arcad, have_prereqs

SKIP = have_prereqs()


class FakeUpstream:
    """A DNS server on 127.0.0.1 answering every A query with 10.9.8.7."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            qid = data[:2]
            i = 12
            labels = []
            while i < len(data) and data[i] != 0:
                n = data[i]
                labels.append(data[i + 1:i + 1 + n].decode(errors="replace"))
                i += 1 + n
            qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
            question = data[12:i + 5]
            self.queries.append(".".join(labels))
            if qtype == 1:
                answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 9, 8, 7])
                hdr = qid + b"\x81\x80" + struct.pack("!HHHH", 1, 1, 0, 0)
            else:
                answer = b""
                hdr = qid + b"\x81\x80" + struct.pack("!HHHH", 1, 0, 0, 0)
            self.sock.sendto(hdr + question + answer, addr)

    def close(self):
        self.stop = True
        self.t.join(timeout=2)
        self.sock.close()


@unittest.skipIf(SKIP, SKIP)
class Network(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = FakeUpstream()
        cls.a = Arcad(args=["--dns", f"127.0.0.1:{cls.upstream.port}"])
        cls.a.start()
        tar_dir = cls.a.root
        from arca_fixture import busybox_archive
        tar, _ = busybox_archive(tar_dir)
        cls.a.docker("load", "-i", tar, check=True)

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.upstream.close()

    def d(self, *args, check=True, **kw):
        return self.a.docker(*args, check=check, **kw)

    def run_in(self, net, *cmd, check=True):
        return self.d("run", "--rm", "--network", net, "busybox", *cmd, check=check)

    def test_dns_names_aliases_short_id_scoping_and_forwarding(self):
        self.d("network", "create", "dns1")
        self.d("network", "create", "dns2")
        cid = self.d("run", "-d", "--name", "srv", "--network", "dns1", "--network-alias", "db",
                     "--network-alias", "cache", "busybox", "sleep", "1000").stdout.strip()
        ip = json.loads(self.d("inspect", "srv").stdout)[0]["NetworkSettings"]["Networks"]["dns1"]["IPAddress"]
        for name in ("srv", "db", "cache", cid[:12], "SRV"):
            r = self.run_in("dns1", "nslookup", name)
            self.assertIn("Address: " + ip, r.stdout, name)
        # scoped: dns2 does not know srv; the upstream is asked (and answers here)
        r = self.run_in("dns2", "nslookup", "srv", check=False)
        self.assertNotIn(ip, r.stdout)
        # unknown names go upstream
        r = self.run_in("dns1", "nslookup", "example.test")
        self.assertIn("10.9.8.7", r.stdout)
        self.assertIn("example.test", self.upstream.queries)
        # reverse lookup of a container's address
        r = self.run_in("dns1", "nslookup", ip, check=False)
        self.assertIn("srv", r.stdout)
        # the name goes with the container
        self.d("rm", "-f", "srv")
        r = self.run_in("dns1", "nslookup", "db", check=False)
        self.assertNotIn(ip, r.stdout)
        # Inspect shows DNSNames and Aliases as dockerd 1.51 does.
        self.d("network", "rm", "dns1", "dns2")

    def test_container_on_two_networks_resolves_both(self):
        def cleanup():
            self.d("rm", "-f", "db2", "ui2", "api2", "late2", check=False)
            self.d("network", "rm", "front", "back", "late", check=False)
        self.addCleanup(cleanup)
        self.d("network", "create", "front")
        self.d("network", "create", "back")
        self.d("run", "-d", "--name", "db2", "--network", "back", "busybox", "sleep", "1000")
        self.d("run", "-d", "--name", "ui2", "--network", "front", "busybox", "sleep", "1000")
        self.d("create", "--name", "api2", "--network", "front", "busybox", "sleep", "1000")
        self.d("network", "connect", "back", "api2")
        self.d("start", "api2")
        resolv = self.d("exec", "api2", "cat", "/etc/resolv.conf").stdout
        self.assertEqual(len([l for l in resolv.splitlines() if l.startswith("nameserver")]), 1)
        ip = lambda c, n: json.loads(self.d("inspect", c).stdout)[0]["NetworkSettings"]["Networks"][n]["IPAddress"]
        for name, net in (("db2", "back"), ("ui2", "front")):
            r = self.d("exec", "api2", "nslookup", name)
            self.assertIn("Address: " + ip(name, net), r.stdout, name)
        # connected while running: the new network's names resolve too
        self.d("network", "create", "late")
        self.d("run", "-d", "--name", "late2", "--network", "late", "busybox", "sleep", "1000")
        self.d("network", "connect", "late", "api2")
        r = self.d("exec", "api2", "nslookup", "late2")
        self.assertIn("Address: " + ip("late2", "late"), r.stdout)
        # ...but only for the container on those networks (db2 asks upstream)
        r = self.d("exec", "db2", "nslookup", "ui2", check=False)
        self.assertNotIn(ip("ui2", "front"), r.stdout)

    def test_internal_network_answers_local_names_only(self):
        self.d("network", "create", "--internal", "priv")
        self.d("run", "-d", "--name", "isrv", "--network", "priv", "busybox", "sleep", "1000")
        r = self.run_in("priv", "nslookup", "isrv")
        self.assertIn("Address: ", r.stdout)
        before = len(self.upstream.queries)
        r = self.run_in("priv", "nslookup", "outside.test", check=False)
        self.assertNotIn("10.9.8.7", r.stdout)
        self.assertEqual(len(self.upstream.queries), before, "internal network forwarded a query")
        # no default route out of an internal network
        r = self.run_in("priv", "ip", "route")
        self.assertNotIn("default", r.stdout)
        info = json.loads(self.d("network", "inspect", "priv").stdout)[0]
        self.assertTrue(info["Internal"])
        self.d("rm", "-f", "isrv")
        self.d("network", "rm", "priv")

    def test_host_is_unreachable_except_published_ports(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", 18555))
        srv.listen(8)
        self.addCleanup(srv.close)
        addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True,
                               text=True).stdout.split()
        host_ips = [a.split("/")[0] for i, a in enumerate(addrs) if addrs[i - 1] == "inet"]
        gw = "172.17.0.1"
        for ip in [gw] + host_ips:
            r = self.d("run", "--rm", "busybox", "sh", "-c",
                       f"echo hi | nc -w2 {ip} 18555 && echo CONNECTED", check=False)
            self.assertNotIn("CONNECTED", r.stdout, f"a container reached {ip}:18555")
        # the same client reaches a published container port on the host's address? No:
        # published ports are the host's; the check above can fail, see the other network:
        self.d("network", "create", "reach")
        self.addCleanup(self.d, "network", "rm", "reach", check=False)
        self.d("run", "-d", "--name", "reachsrv", "--network", "reach", "busybox", "sh", "-c",
               "sleep 100000 | nc -l -p 18555")
        self.addCleanup(self.d, "rm", "-f", "reachsrv", check=False)
        ip = json.loads(self.d("inspect", "reachsrv").stdout)[0]["NetworkSettings"]["Networks"]["reach"]["IPAddress"]
        r = self.d("run", "--rm", "--network", "reach", "busybox", "sh", "-c",
                   f"echo hi | nc -w2 {ip} 18555 && echo CONNECTED", check=False)
        self.assertIn("CONNECTED", r.stdout)

    def test_outbound_nat_to_a_test_namespace(self):
        # An "outside" host in a namespace this test makes: containers reach it
        # through the helper's uplink and the host's NAT; internal networks don't.
        ns = "arcaup%d" % os.getpid()
        cmds = [["ip", "netns", "add", ns],
                ["ip", "link", "add", "aut-h", "type", "veth", "peer", "name", "aut-n", "netns", ns],
                ["ip", "addr", "add", "10.253.0.1/24", "dev", "aut-h"],
                ["ip", "link", "set", "aut-h", "up"],
                ["ip", "-n", ns, "addr", "add", "10.253.0.2/24", "dev", "aut-n"],
                ["ip", "-n", ns, "link", "set", "aut-n", "up"]]
        self.addCleanup(subprocess.run, ["ip", "netns", "del", ns], capture_output=True)
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True)
        server = ("import socket,sys\n"
                  "s=socket.socket();s.bind(('10.253.0.2',18777));s.listen(4);s.settimeout(20)\n"
                  "for _ in range(2):\n"
                  "  try: c,a=s.accept()\n"
                  "  except OSError: break\n"
                  "  print(a[0],flush=True);c.send(b'hello-outside\\n');c.close()\n")
        srv = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", server],
                               stdout=subprocess.PIPE, text=True)
        self.addCleanup(srv.kill)
        time.sleep(0.5)
        r = self.d("run", "--rm", "busybox", "nc", "-w3", "10.253.0.2", "18777")
        self.assertIn("hello-outside", r.stdout)
        self.d("network", "create", "--internal", "noout")
        self.addCleanup(self.d, "network", "rm", "noout", check=False)
        r = self.d("run", "--rm", "--network", "noout", "busybox", "nc", "-w2", "10.253.0.2",
                   "18777", check=False)
        self.assertNotIn("hello-outside", r.stdout)
        self.d("network", "create", "out2")
        self.addCleanup(self.d, "network", "rm", "out2", check=False)
        r = self.d("run", "--rm", "--network", "out2", "busybox", "nc", "-w3", "10.253.0.2", "18777")
        self.assertIn("hello-outside", r.stdout)
        srv.kill()
        peers = srv.communicate(timeout=5)[0].split()
        self.assertEqual(peers, ["10.253.0.1", "10.253.0.1"])  # masqueraded by the host

    def test_etc_files(self):
        self.d("network", "create", "etcnet")
        self.addCleanup(self.d, "network", "rm", "etcnet", check=False)
        r = self.d("run", "--rm", "--network", "etcnet", "--hostname", "h1", "--domainname",
                   "example.internal", "--add-host", "extra:10.1.2.3", "--dns-search", "s.example",
                   "busybox", "sh", "-c",
                   "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; cat /etc/hostname")
        hosts, resolv, hostname = r.stdout.split("---\n")
        self.assertRegex(hosts, r"172\.\d+\.0\.2\th1\.example\.internal h1")
        self.assertIn("10.1.2.3\textra", hosts)
        self.assertIn("127.0.0.1\tlocalhost", hosts)
        gw = json.loads(self.d("network", "inspect", "etcnet").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
        servers = [l.split()[1] for l in resolv.splitlines() if l.startswith("nameserver")]
        self.assertEqual(servers, [gw], resolv)
        self.assertIn("search s.example", resolv)
        self.assertEqual(hostname.strip(), "h1")

    def test_default_bridge_is_legacy_and_links_write_hosts(self):
        self.d("run", "-d", "--name", "legacy", "busybox", "sleep", "1000")
        info = json.loads(self.d("inspect", "legacy").stdout)[0]
        ns = info["NetworkSettings"]
        self.assertRegex(ns["IPAddress"], r"^172\.17\.0\.\d+$")
        self.assertEqual(ns["Gateway"], "172.17.0.1")
        self.assertEqual(ns["MacAddress"], ns["Networks"]["bridge"]["MacAddress"])
        self.assertIsNone(ns["Networks"]["bridge"]["DNSNames"])
        # no name resolution on the default bridge
        r = self.d("run", "--rm", "busybox", "nslookup", "legacy", check=False)
        self.assertNotIn(ns["IPAddress"], r.stdout)
        # but addresses work, and --link writes /etc/hosts
        r = self.d("run", "--rm", "--link", "legacy:db", "busybox", "sh", "-c",
                   "cat /etc/hosts; ping -c1 -W2 db")
        self.assertIn(ns["IPAddress"] + "\tdb legacy", r.stdout)
        self.assertIn("1 packets received", r.stdout)
        # aliases are for user-defined networks only
        # (the CLI refuses first; the API gives dockerd's text)
        body = json.dumps({"Image": "busybox", "Cmd": ["true"],
                           "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["x"]}}}})
        r = subprocess.run(["curl", "-s", "--unix-socket", self.a.sock, "-H",
                            "Content-Type: application/json", "-d", body,
                            "http://x/v1.51/containers/create"], capture_output=True, text=True)
        self.assertIn("network-scoped alias is supported only for containers in user defined networks", r.stdout)
        self.d("rm", "-f", "legacy")

    def test_published_ports_random_ranges_and_release(self):
        cid = self.d("run", "-d", "-p", "80", "-p", "127.0.0.1::80", "--name", "rnd", "busybox",
                     "httpd", "-f", "-p", "80", "-h", "/var/www").stdout.strip()
        ports = json.loads(self.d("inspect", "rnd").stdout)[0]["NetworkSettings"]["Ports"]["80/tcp"]
        self.assertEqual(len(ports), 2)
        for p in ports:
            self.assertTrue(p["HostPort"].isdigit() and int(p["HostPort"]) > 1024, p)
        host_port = [p for p in ports if p["HostIp"] == "127.0.0.1"][0]["HostPort"]
        body = ""
        for _ in range(50):
            body = subprocess.run(["curl", "-s", f"127.0.0.1:{host_port}"], capture_output=True,
                                  text=True).stdout
            if body:
                break
            time.sleep(0.1)
        self.assertIn("arca e2e page", body)
        ps = self.d("ps", "--filter", "name=rnd", "--format", "{{.Ports}}").stdout
        self.assertIn(f"127.0.0.1:{host_port}->80/tcp", ps)
        lines = self.d("port", "rnd", "80").stdout.split()
        self.assertIn(f"127.0.0.1:{host_port}", lines)
        # a taken port: dockerd's error, and nothing left behind
        r = self.d("run", "-d", "--name", "clash", "-p", f"127.0.0.1:{host_port}:80", "busybox",
                   "sleep", "100", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("port is already allocated", r.stderr)
        self.d("rm", "-f", "clash")
        # stop releases the ports
        self.d("stop", "-t", "1", "rnd")
        c = subprocess.run(["curl", "-s", "-m", "2", f"127.0.0.1:{host_port}"], capture_output=True)
        self.assertNotEqual(c.returncode, 0)
        stopped = json.loads(self.d("inspect", "rnd").stdout)[0]["NetworkSettings"]
        self.assertEqual(stopped["Ports"], {})
        self.assertEqual(stopped["Networks"]["bridge"]["IPAddress"], "")
        # a range: the first free port of it
        self.d("run", "-d", "--name", "rng", "-p", "127.0.0.1:18300-18310:80", "busybox", "sleep", "100")
        self.assertEqual(self.d("port", "rng").stdout.strip(), "80/tcp -> 127.0.0.1:18300")
        self.d("rm", "-f", "rnd", "rng")

    def test_udp_port(self):
        # Debian's busybox has no UDP server applet: the relay itself is unit
        # tested (tests/unit/net/port_proxy_test.cc); here the binding.
        self.d("run", "-d", "--name", "udp", "-p", "127.0.0.1:18353:9999/udp", "busybox",
               "sleep", "100")
        self.assertEqual(self.d("port", "udp").stdout.strip(), "9999/udp -> 127.0.0.1:18353")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with self.assertRaises(OSError):
            s.bind(("127.0.0.1", 18353))
        s.close()
        self.d("rm", "-f", "udp")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 18353))  # released with the container
        s.close()

    def test_connect_disconnect_stopped_and_running(self):
        self.d("network", "create", "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.254",
               "--ip-range", "10.77.0.128/25", "--label", "tier=back", "-o",
               "com.docker.network.driver.mtu=1400", "fixed")
        info = json.loads(self.d("network", "inspect", "fixed").stdout)[0]
        self.assertEqual(info["IPAM"]["Config"][0], {"Subnet": "10.77.0.0/24",
                                                      "IPRange": "10.77.0.128/25",
                                                      "Gateway": "10.77.0.254"})
        self.assertEqual(info["Labels"], {"tier": "back"})
        self.assertEqual(info["Options"], {"com.docker.network.driver.mtu": "1400"})
        # a stopped container: connect with --ip and --alias, then start
        self.d("create", "--name", "late", "busybox", "sleep", "1000")
        self.d("network", "connect", "--ip", "10.77.0.5", "--alias", "lateone", "fixed", "late")
        self.d("start", "late")
        r = self.d("exec", "late", "ip", "-o", "addr")
        self.assertIn("10.77.0.5/24", r.stdout)
        self.assertIn("mtu 1400", self.d("exec", "late", "ip", "link").stdout)
        r = self.run_in("fixed", "nslookup", "lateone")
        self.assertIn("10.77.0.5", r.stdout)
        # a running one: the allocator uses the range
        self.d("run", "-d", "--name", "live", "busybox", "sleep", "1000")
        self.d("network", "connect", "fixed", "live")
        addr = json.loads(self.d("inspect", "live").stdout)[0]["NetworkSettings"]["Networks"]["fixed"]["IPAddress"]
        self.assertEqual(addr, "10.77.0.128")
        self.assertIn("10.77.0.128/24", self.d("exec", "live", "ip", "-o", "addr").stdout)
        r = self.d("exec", "live", "ping", "-c1", "-W2", "10.77.0.5")
        self.assertIn("1 packets received", r.stdout)
        members = json.loads(self.d("network", "inspect", "fixed").stdout)[0]["Containers"]
        self.assertEqual(sorted(v["Name"] for v in members.values()), ["late", "live"])
        self.assertTrue(all(v["IPv4Address"].endswith("/24") for v in members.values()))
        # connect twice: dockerd's refusal; rm of a network in use
        r = self.d("network", "connect", "fixed", "live", check=False)
        self.assertIn("already exists in network fixed", r.stderr)
        # disconnect the running one: its interface goes
        self.d("network", "disconnect", "fixed", "live")
        self.assertNotIn("10.77.0.128", self.d("exec", "live", "ip", "-o", "addr").stdout)
        r = self.d("network", "disconnect", "fixed", "live", check=False)
        self.assertIn("is not connected to network fixed", r.stderr)
        # -f on a container that is gone is fine
        self.d("network", "disconnect", "-f", "fixed", "gone-container")
        # bad input
        r = self.d("network", "connect", "--ip", "10.77.0.5", "fixed", "live", check=False)
        self.assertIn("Address already in use", r.stderr)
        r = self.d("network", "create", "--subnet", "10.77.0.0/16", "clash", check=False)
        self.assertIn("Pool overlaps with other one on this address space", r.stderr)
        r = self.d("network", "create", "fixed", check=False)
        self.assertIn("network with name fixed already exists", r.stderr)
        r = self.d("network", "rm", "bridge", check=False)
        self.assertIn("bridge is a pre-defined network and cannot be removed", r.stderr)
        r = self.d("network", "inspect", "nope", check=False)
        self.assertIn("network nope not found", r.stderr)
        self.d("rm", "-f", "late", "live")
        self.d("network", "rm", "fixed")

    def test_exhaustion_and_host_and_none_modes(self):
        self.d("network", "create", "--subnet", "10.78.0.0/30", "tiny")
        self.d("create", "--name", "t1", "--network", "tiny", "busybox", "true")
        r = self.d("create", "--name", "t2", "--network", "tiny", "busybox", "true", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no available IPv4 addresses", r.stderr)
        self.d("rm", "t1")
        self.d("network", "rm", "tiny")
        # host: the host's interfaces
        r = self.d("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
        self.assertIn("eth0", r.stdout)
        # none: loopback only
        r = self.d("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
        self.assertEqual([l.split(":")[1].strip() for l in r.stdout.splitlines()], ["lo"])
        # container: joins a running container only
        self.d("create", "--name", "sleeper", "busybox", "sleep", "100")
        r = self.d("run", "--rm", "--network", "container:sleeper", "busybox", "true", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("non running container", r.stderr)
        self.d("rm", "sleeper")

    def test_ls_filters_and_events(self):
        since = str(int(time.time()) - 1)
        self.d("network", "create", "--label", "team=a", "fa")
        self.d("network", "create", "fb")
        self.d("run", "-d", "--name", "fuser", "--network", "fa", "busybox", "sleep", "100")
        ls = lambda *f: sorted(self.d("network", "ls", "--format", "{{.Name}}", *f).stdout.split())
        self.assertEqual(ls("-f", "label=team=a"), ["fa"])
        self.assertEqual(ls("-f", "name=f"), ["fa", "fb"])
        self.assertEqual(ls("-f", "type=builtin"), ["bridge", "host", "none"])
        self.assertEqual(ls("-f", "driver=null"), ["none"])
        self.assertEqual(ls("-f", "dangling=true"), ["fb"])
        fb_id = self.d("network", "inspect", "-f", "{{.Id}}", "fb").stdout.strip()
        self.assertEqual(ls("-f", "id=" + fb_id[:10]), ["fb"])
        r = self.d("network", "ls", "-f", "bogus=1", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.d("rm", "-f", "fuser")
        self.d("network", "rm", "fa", "fb")
        ev = self.d("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                    "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}}").stdout.split("\n")
        self.assertIn("create fa", ev)
        self.assertIn("connect fa", ev)
        self.assertIn("destroy fb", ev)

    def test_helper_restarts_and_state_is_replayed(self):
        self.d("network", "create", "rec")
        self.d("run", "-d", "--name", "recsrv", "--network", "rec", "-p", "127.0.0.1:18391:80",
               "busybox", "httpd", "-f", "-p", "80", "-h", "/var/www")
        time.sleep(0.3)
        helper = subprocess.run(["pgrep", "-f", "arca-nethelper --socket " + self.a.exec_root],
                                capture_output=True, text=True).stdout.split()
        self.assertEqual(len(helper), 1)
        os.kill(int(helper[0]), 9)
        self.a.kill9()
        self.a.start()
        page = self.run_in("rec", "wget", "-qO-", "http://recsrv/")
        self.assertIn("arca e2e page", page.stdout)
        body = subprocess.run(["curl", "-s", "127.0.0.1:18391"], capture_output=True, text=True).stdout
        self.assertIn("arca e2e page", body)
        self.d("rm", "-f", "recsrv")
        self.d("network", "rm", "rec")


if __name__ == "__main__":
    unittest.main()
