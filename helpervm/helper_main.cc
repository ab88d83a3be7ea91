// arca-nethelper: the network helper process (issue #5). Started by arcad,
// outlives it (like the agents): owns the helper network namespace (bridges),
// the embedded DNS and the published ports. Serves helpervm/helper.proto on a
// unix socket.
#include <signal.h>
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

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, netns_path;
  std::vector<std::string> upstreams;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
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
