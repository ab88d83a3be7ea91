// arca-nethelper: the network helper process (issue #5). Started by arcad,
// outlives it (like the agents): owns the helper network namespace (bridges),
// the embedded DNS and the published ports. Serves helpervm/helper.proto on a
// unix socket.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "helpervm/helper_service.h"
#include "net/dns.h"
#include "net/netns.h"

using namespace arca;

namespace {

// The host's resolvers: the helper's upstream sockets live in the host's
// namespace, so loopback resolvers (systemd-resolved) work too.
std::vector<std::string> hostResolvers() {
  std::vector<std::string> out;
  std::ifstream f("/etc/resolv.conf");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream l(line);
    std::string k, v;
    l >> k >> v;
    if (k == "nameserver" && !v.empty()) out.push_back(v);
  }
  return out;
}

// The uplink: a veth pair between the host and the helper namespace with a
// /30 link network, the helper's default route through it, and the host's
// side of outbound NAT (forwarding on, MASQUERADE of the link network, no
// input from it). Idempotent. `name`: the host side's interface name.
Status setUpUplink(int ns_fd, const std::string& ns_path, const std::string& name,
                   const std::string& link_prefix /* "169.254.X" */, int base) {
  std::string out;
  std::string host_ip = link_prefix + "." + std::to_string(base + 1);
  std::string helper_ip = link_prefix + "." + std::to_string(base + 2);
  std::string subnet = link_prefix + "." + std::to_string(base) + "/30";
  if (net::runInNetns(ns_fd, {"ip", "link", "show", "uplink"}, "", &out) != 0) {
    std::string script = "link add " + name + " type veth peer name uplink netns " + ns_path + "\n";
    script += "addr replace " + host_ip + "/30 dev " + name + "\n";
    script += "link set " + name + " up\n";
    if (net::runInNetns(-1, {"ip", "-batch", "-"}, script, &out) != 0) {
      return Internal("uplink " + name + ": " + out);
    }
    std::string inside = "addr replace " + helper_ip + "/30 dev uplink\nlink set uplink up\n"
                         "route replace default via " + host_ip + "\n";
    if (net::runInNetns(ns_fd, {"ip", "-batch", "-"}, inside, &out) != 0) {
      return Internal("uplink (helper side): " + out);
    }
  }
  // The host's side. -C first: a restarted helper adds nothing twice.
  std::vector<std::vector<std::string>> rules = {
      {"-t", "nat", "POSTROUTING", "-s", subnet, "!", "-o", name, "-j", "MASQUERADE"},
      {"-t", "filter", "INPUT", "-i", name, "-j", "DROP"},
      {"-t", "filter", "FORWARD", "-i", name, "-j", "ACCEPT"},
      {"-t", "filter", "FORWARD", "-o", name, "-m", "conntrack", "--ctstate",
       "RELATED,ESTABLISHED", "-j", "ACCEPT"},
  };
  for (const auto& r : rules) {
    std::vector<std::string> check = {"iptables", "-w", "5", r[0], r[1], "-C"};
    check.insert(check.end(), r.begin() + 2, r.end());
    if (net::runInNetns(-1, check, "", &out) == 0) continue;
    std::vector<std::string> add = {"iptables", "-w", "5", r[0], r[1], "-I"};
    add.insert(add.end(), r.begin() + 2, r.end());
    if (net::runInNetns(-1, add, "", &out) != 0) return Internal("host iptables: " + out);
  }
  if (net::runInNetns(-1, {"sysctl", "-q", "-w", "net.ipv4.ip_forward=1"}, "", &out) != 0) {
    return Internal("host ip_forward: " + out);
  }
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, netns_path;
  std::vector<std::string> upstreams;
  std::string uplink;  // host side name; "" = no outbound NAT
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--uplink") uplink = argv[i + 1];
    if (k == "--socket") socket_path = argv[i + 1];
    else if (k == "--netns") netns_path = argv[i + 1];
    else if (k == "--upstream") upstreams.push_back(argv[i + 1]);
  }
  if (socket_path.empty() || netns_path.empty()) {
    std::cerr << "usage: arca-nethelper --socket PATH --netns PATH\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l nethelper: %v");
  // One helper per exec root: a second one (arcad thought the first dead)
  // leaves at once instead of taking the socket and the namespace over.
  std::string lock_path = socket_path + ".lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("another network helper holds {}", lock_path);
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(netns_path).parent_path(), ec);
  if (Status st = net::createNetns(netns_path); !st.ok()) {
    spdlog::error("helper namespace {}: {}", netns_path, st.message());
    return 1;
  }
  auto ns = net::openNetns(netns_path);
  if (!ns.ok()) {
    spdlog::error("{}", ns.status().message());
    return 1;
  }
  // No routing between networks (nor anywhere else): a new namespace may
  // inherit the host's ip_forward=1.
  {
    std::string out;
    int rc = net::runInNetns(*ns, {"sysctl", "-q", "-w", "net.ipv4.ip_forward=0",
                                   "net.ipv6.conf.all.forwarding=0"}, "", &out);
    if (rc != 0) {
      spdlog::error("cannot turn IP forwarding off in the helper namespace: {}", out);
      return 1;
    }
  }
  net::DnsServerOptions dopts;
  dopts.upstreams = upstreams.empty() ? hostResolvers() : upstreams;
  dopts.make_upstream_socket = [](int family) {
    return socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  };
  auto dns = net::DnsServer::create(dopts);
  if (!dns.ok()) {
    spdlog::error("dns: {}", dns.status().message());
    return 1;
  }
  if (Status st = (*dns)->start(); !st.ok()) {
    spdlog::error("dns: {}", st.message());
    return 1;
  }
  helper::HelperService service(*ns, std::move(*dns));
  if (!uplink.empty()) {
    // The link network: 169.254.X.Y/30 from the name's hash (one per exec root).
    uint32_t h = 2166136261u;
    for (char c : uplink) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    std::string prefix = "169.254." + std::to_string(1 + h % 253);
    int base = static_cast<int>((h >> 8) % 64) * 4;
    Status st = setUpUplink(*ns, netns_path, uplink, prefix, base);
    if (st.ok()) st = service.enableUplink();
    if (!st.ok()) {
      spdlog::error("outbound NAT is off: {}", st.message());
    } else {
      spdlog::info("outbound NAT through {} ({}.{}/30)", uplink, prefix, base);
    }
  }
  unlink(socket_path.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server) {
    spdlog::error("cannot serve on {}", socket_path);
    return 1;
  }
  chmod(socket_path.c_str(), 0600);
  spdlog::info("serving on {} (namespace {})", socket_path, netns_path);
  server->Wait();
  return 0;
}
