#include "helpervm/helper_service.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "net/netns.h"

namespace arca::helper {
namespace {

grpc::Status fail(grpc::StatusCode code, const std::string& msg) {
  spdlog::warn("{}", msg);
  return grpc::Status(code, msg);
}

// Interface names are at most 15 characters and must be unique per namespace.
std::string vethName(const std::string& container_id, const std::string& network_id) {
  return "ve" + container_id.substr(0, 7) + network_id.substr(0, 6);
}
std::string peerName(const std::string& container_id, const std::string& network_id) {
  return "vp" + container_id.substr(0, 7) + network_id.substr(0, 6);
}

bool validName(const std::string& s) {
  if (s.empty() || s.size() > 15) return false;
  for (char c : s) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool validIpv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool validHex(const std::string& s) {
  if (s.size() < 12) return false;
  for (char c : s) {
    if (!isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Runs `ip -batch` in a namespace; the output on failure.
bool ipBatch(int ns_fd, const std::string& script, std::string* out, bool force = false) {
  std::vector<std::string> argv = {"ip"};
  if (force) argv.push_back("-force");
  argv.insert(argv.end(), {"-batch", "-"});
  int rc = net::runInNetns(ns_fd, argv, script, out);
  return rc == 0;
}

}  // namespace

HelperService::HelperService(int helper_ns_fd, std::unique_ptr<net::DnsServer> dns)
    : ns_fd_(helper_ns_fd),
      dns_(std::move(dns)),
      started_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()) {}

Status HelperService::enableUplink() {
  std::lock_guard<std::mutex> lk(mu_);
  uplink_ = true;
  if (Status st = rebuildFirewallLocked(); !st.ok()) {
    uplink_ = false;
    return st;  // forwarding stays off: fail closed
  }
  std::string out;
  int rc = net::runInNetns(ns_fd_, {"sysctl", "-q", "-w", "net.ipv4.ip_forward=1"}, "", &out);
  if (rc != 0) return Internal("ip_forward in the helper namespace: " + out);
  // Frames bridged inside one network skip iptables (br_netfilter's sysctls
  // are per namespace): the firewall only sees routed traffic. Best effort:
  // without br_netfilter the key does not exist, and the rules accept
  // bridged traffic anyway.
  (void)net::runInNetns(ns_fd_, {"sysctl", "-q", "-e", "-w", "net.bridge.bridge-nf-call-iptables=0"},
                        "", &out);
  return Status::Ok();
}

Status HelperService::rebuildFirewallLocked() {
  if (!uplink_) return Status::Ok();
  // Forwarding: a network's own traffic (bridged frames pass FORWARD when
  // br_netfilter is loaded), non-internal networks out through the uplink,
  // replies back; nothing between networks. Input from containers: DNS,
  // ICMP and the replies of the helper's own connections (port proxies).
  std::string r = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n";
  r += "-A INPUT -i uplink -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
  r += "-A INPUT -i uplink -j DROP\n";
  r += "-A FORWARD -i uplink -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
  for (const auto& [id, n] : networks_) {
    const std::string& br = n.bridge();
    r += "-A INPUT -i " + br + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
    r += "-A INPUT -i " + br + " -p udp --dport 53 -j ACCEPT\n";
    r += "-A INPUT -i " + br + " -p icmp -j ACCEPT\n";
    r += "-A INPUT -i " + br + " -j DROP\n";
    r += "-A FORWARD -i " + br + " -o " + br + " -j ACCEPT\n";
    if (!n.internal()) r += "-A FORWARD -i " + br + " -o uplink -j ACCEPT\n";
  }
  r += "COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
       ":POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o uplink -j MASQUERADE\nCOMMIT\n";
  std::string out;
  int rc = net::runInNetns(ns_fd_, {"iptables-restore", "-w", "5"}, r, &out);
  if (rc == 0) return Status::Ok();
  // Fail closed: without its rules the namespace must not route at all.
  std::string ignored;
  (void)net::runInNetns(ns_fd_, {"sysctl", "-q", "-w", "net.ipv4.ip_forward=0"}, "", &ignored);
  spdlog::error("helper firewall: iptables-restore failed ({}): {}; forwarding is off", rc, out);
  return Internal("helper firewall: " + out);
}

void HelperService::countLocked() {
  n_networks_ = static_cast<int32_t>(networks_.size());
  int eps = 0, ports = 0;
  for (const auto& [c, m] : endpoints_) eps += static_cast<int>(m.size());
  for (const auto& [c, p] : published_) ports += p.bound.ports_size();
  n_endpoints_ = eps;
  n_ports_ = ports;
}

void HelperService::refreshClientScopesLocked(const std::string& container_id) {
  auto c = endpoints_.find(container_id);
  if (c == endpoints_.end()) return;
  std::vector<std::string> scopes;
  for (const auto& [nid, ep] : c->second) {
    auto n = networks_.find(nid);
    if (n != networks_.end() && n->second.dns()) scopes.push_back(nid);
  }
  for (const auto& [nid, ep] : c->second) dns_->setClientScopes(ep.spec.ipv4(), scopes);
}

HelperService::~HelperService() {
  std::lock_guard<std::mutex> lk(mu_);
  published_.clear();
}

grpc::Status HelperService::CreateNetwork(grpc::ServerContext*, const v1::Network* req,
                                          v1::Empty*) {
  if (!validHex(req->id()) || !validName(req->bridge()) || !validIpv4(req->gateway())) {
    return fail(grpc::StatusCode::INVALID_ARGUMENT, "invalid network " + req->id());
  }
  std::lock_guard<std::mutex> lk(mu_);
  auto it = networks_.find(req->id());
  if (it != networks_.end() && it->second.SerializeAsString() == req->SerializeAsString()) {
    return grpc::Status::OK;
  }
  std::string prefix = req->subnet().substr(req->subnet().find('/') + 1);
  std::string script = "link add " + req->bridge() + " type bridge\n";
  script += "addr replace " + req->gateway() + "/" + prefix + " dev " + req->bridge() + "\n";
  if (req->mtu() > 0) script += "link set " + req->bridge() + " mtu " + std::to_string(req->mtu()) + "\n";
  script += "link set " + req->bridge() + " up\n";
  std::string out;
  ipBatch(ns_fd_, script, &out, /*force=*/true);  // "File exists" on a replay is fine
  std::string check;
  if (!ipBatch(ns_fd_, "link show " + req->bridge() + "\n", &check)) {
    return fail(grpc::StatusCode::INTERNAL, "creating bridge " + req->bridge() + ": " + out);
  }
  if (req->dns() && dns_fds_.count(req->id()) == 0) {
    auto fd = net::socketInNetns(ns_fd_, AF_INET, SOCK_DGRAM, 0);
    if (!fd.ok()) return fail(grpc::StatusCode::INTERNAL, "dns socket: " + fd.status().message());
    // Only queries that arrive on this network's bridge: names stay per network.
    setsockopt(*fd, SOL_SOCKET, SO_BINDTODEVICE, req->bridge().c_str(),
               static_cast<socklen_t>(req->bridge().size()));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(53);
    inet_pton(AF_INET, req->gateway().c_str(), &sa.sin_addr);
    if (bind(*fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      std::string e = strerror(errno);
      close(*fd);
      return fail(grpc::StatusCode::INTERNAL, "dns bind " + req->gateway() + ":53: " + e);
    }
    Status st = dns_->addSocket(*fd, req->id());
    if (!st.ok()) return fail(grpc::StatusCode::INTERNAL, st.message());
    dns_fds_[req->id()] = *fd;
  }
  if (req->dns()) dns_->setForwarding(req->id(), !req->internal());
  networks_[req->id()] = *req;
  countLocked();
  if (Status fw = rebuildFirewallLocked(); !fw.ok()) {
    return fail(grpc::StatusCode::INTERNAL, fw.message());
  }
  spdlog::info("network {} ready on bridge {} ({})", req->id().substr(0, 12), req->bridge(),
               req->subnet());
  return grpc::Status::OK;
}

grpc::Status HelperService::DeleteNetwork(grpc::ServerContext*, const v1::NetworkRef* req,
                                          v1::Empty*) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = networks_.find(req->id());
  if (it == networks_.end()) return grpc::Status::OK;
  std::vector<std::string> attached;  // detachLocked erases from endpoints_
  for (const auto& [cid, eps] : endpoints_) {
    if (eps.count(req->id())) attached.push_back(cid);
  }
  for (const auto& cid : attached) (void)detachLocked(cid, req->id());
  dns_->removeScope(req->id());  // closes the socket
  dns_fds_.erase(req->id());
  record_names_.erase(req->id());
  std::string out;
  ipBatch(ns_fd_, "link del " + it->second.bridge() + "\n", &out, true);
  networks_.erase(it);
  countLocked();
  (void)rebuildFirewallLocked();
  return grpc::Status::OK;
}

void HelperService::refreshRecordsLocked(const std::string& network_id) {
  auto net = networks_.find(network_id);
  if (net == networks_.end() || !net->second.dns()) return;
  std::map<std::string, std::vector<std::string>> records;
  for (const auto& [cid, eps] : endpoints_) {
    auto ep = eps.find(network_id);
    if (ep == eps.end()) continue;
    for (const auto& n : ep->second.spec.dns_names()) records[n].push_back(ep->second.spec.ipv4());
  }
  auto& names = record_names_[network_id];
  for (const auto& n : names) {
    if (!records.count(n)) dns_->removeRecords(network_id, n);
  }
  names.clear();
  for (const auto& [n, ips] : records) {
    (void)dns_->setRecords(network_id, n, ips);
    names.insert(n);
  }
}

grpc::Status HelperService::AttachEndpoint(grpc::ServerContext*, const v1::Endpoint* req,
                                           v1::Empty*) {
  if (!validHex(req->container_id()) || !validHex(req->network_id()) || !validIpv4(req->ipv4()) ||
      !validIpv4(req->gateway()) || req->netns_path().empty() || req->netns_path()[0] != '/') {
    return fail(grpc::StatusCode::INVALID_ARGUMENT, "invalid endpoint");
  }
  std::lock_guard<std::mutex> lk(mu_);
  auto net = networks_.find(req->network_id());
  if (net == networks_.end()) {
    return fail(grpc::StatusCode::FAILED_PRECONDITION, "network " + req->network_id() + " is not set up");
  }
  const std::string veth = vethName(req->container_id(), req->network_id());
  const std::string peer = peerName(req->container_id(), req->network_id());
  std::string out;
  auto known = endpoints_.find(req->container_id());
  if (req->fresh() && known != endpoints_.end()) {
    known->second.erase(req->network_id());  // a stale record of an earlier run
  }
  bool exists = known != endpoints_.end() && known->second.count(req->network_id());
  // A replay (arcad or the helper restarted) finds the veth already there.
  if (!exists && !req->fresh()) exists = ipBatch(ns_fd_, "link show " + veth + "\n", &out);
  if (!exists) {
    auto cns = net::openNetns(req->netns_path());
    if (!cns.ok()) return fail(grpc::StatusCode::FAILED_PRECONDITION, cns.status().message());
    std::string links;
    std::string ifname = req->ifname();
    if (ifname.empty() || !validName(ifname)) {
      // The container side's name: the first free ethN.
      net::runInNetns(*cns, {"ip", "-o", "link", "show"}, "", &links);
      int n = 0;
      while (links.find(": eth" + std::to_string(n) + "@") != std::string::npos ||
             links.find(": eth" + std::to_string(n) + ":") != std::string::npos) {
        ++n;
      }
      ifname = "eth" + std::to_string(n);
    }
    std::string mtu = net->second.mtu() > 0 ? " mtu " + std::to_string(net->second.mtu()) : "";
    std::string script = "link add " + veth + mtu + " type veth peer name " + peer + mtu + "\n";
    script += "link set " + veth + " master " + net->second.bridge() + " up\n";
    script += "link set " + peer + " netns " + req->netns_path() + "\n";
    bool created;
    if (req->fresh()) {
      // An earlier run's veth may linger (its namespace is destroyed
      // asynchronously, or kept alive by a container: joiner): delete it
      // first. A failed creation shows in the container-side batch below.
      created = ipBatch(ns_fd_, "link del " + veth + "\n" + script, &out, /*force=*/true) ||
                out.find("Cannot find device \"" + veth + "\"") != std::string::npos;
    } else {
      created = ipBatch(ns_fd_, script, &out);
    }
    if (!created) {
      ipBatch(ns_fd_, "link del " + veth + "\n", &links, true);
      close(*cns);
      return fail(grpc::StatusCode::INTERNAL, "veth for " + req->container_id().substr(0, 12) + ": " + out);
    }
    std::string inside = "link set " + peer + " name " + ifname + "\n";
    if (!req->mac().empty()) inside += "link set " + ifname + " address " + req->mac() + "\n";
    inside += "addr add " + req->ipv4() + "/" + std::to_string(req->prefix()) + " dev " + ifname + "\n";
    inside += "link set " + ifname + " up\n";
    if (req->default_route()) inside += "route replace default via " + req->gateway() + "\n";
    bool ok = ipBatch(*cns, inside, &out);
    close(*cns);
    if (!ok) {
      ipBatch(ns_fd_, "link del " + veth + "\n", &links, true);
      return fail(grpc::StatusCode::INTERNAL, "configuring " + ifname + " of " +
                                                  req->container_id().substr(0, 12) + ": " + out);
    }
  }
  endpoints_[req->container_id()][req->network_id()] = {*req, veth};
  refreshRecordsLocked(req->network_id());
  refreshClientScopesLocked(req->container_id());
  countLocked();
  if (net->second.dns() && req->dns_names_size() > 0) {
    (void)dns_->setReverse(req->network_id(), req->ipv4(), req->dns_names(0));
  }
  return grpc::Status::OK;
}

grpc::Status HelperService::detachLocked(const std::string& container_id,
                                         const std::string& network_id, bool delete_link) {
  auto c = endpoints_.find(container_id);
  if (c == endpoints_.end()) return grpc::Status::OK;
  auto ep = c->second.find(network_id);
  if (ep == c->second.end()) return grpc::Status::OK;
  std::string out;
  if (delete_link) ipBatch(ns_fd_, "link del " + ep->second.veth + "\n", &out, true);
  dns_->removeReverse(network_id, ep->second.spec.ipv4());
  dns_->setClientScopes(ep->second.spec.ipv4(), {});
  c->second.erase(ep);
  if (c->second.empty()) {
    endpoints_.erase(c);
  } else {
    refreshClientScopesLocked(container_id);
  }
  refreshRecordsLocked(network_id);
  countLocked();
  return grpc::Status::OK;
}

grpc::Status HelperService::DetachEndpoint(grpc::ServerContext*, const v1::EndpointRef* req,
                                           v1::Empty*) {
  std::lock_guard<std::mutex> lk(mu_);
  auto c = endpoints_.find(req->container_id());
  if (c == endpoints_.end() || !c->second.count(req->network_id())) {
    // Not known to this helper (e.g. it restarted): the veth may still exist.
    std::string out;
    ipBatch(ns_fd_, "link del " + vethName(req->container_id(), req->network_id()) + "\n", &out, true);
    return grpc::Status::OK;
  }
  return detachLocked(req->container_id(), req->network_id());
}

grpc::Status HelperService::PublishPorts(grpc::ServerContext*, const v1::PublishRequest* req,
                                         v1::PublishReply* reply) {
  std::lock_guard<std::mutex> lk(mu_);
  auto existing = published_.find(req->container_id());
  if (existing != published_.end()) {
    *reply = existing->second.bound;  // already published (a replay)
    return grpc::Status::OK;
  }
  Published pub;
  for (const auto& p : req->ports()) {
    bool udp = p.proto() == "udp";
    if (!udp && p.proto() != "tcp") {
      return fail(grpc::StatusCode::INVALID_ARGUMENT, "unsupported protocol " + p.proto());
    }
    sockaddr_in backend{};
    backend.sin_family = AF_INET;
    backend.sin_port = htons(static_cast<uint16_t>(p.container_port()));
    if (inet_pton(AF_INET, p.container_ip().c_str(), &backend.sin_addr) != 1) {
      return fail(grpc::StatusCode::INVALID_ARGUMENT, "invalid container address " + p.container_ip());
    }
    int lo = p.host_port_lo(), hi = std::max(p.host_port_lo(), p.host_port_hi());
    StatusOr<int> fd = Internal("no port");
    for (int port = lo; port <= hi; ++port) {
      fd = udp ? net::PortProxy::listenUdp(p.host_ip(), static_cast<uint16_t>(port))
               : net::PortProxy::listenTcp(p.host_ip(), static_cast<uint16_t>(port));
      if (fd.ok() || port == hi) break;
    }
    if (!fd.ok()) {
      std::string msg = fd.status().message();
      if (fd.status().code() == Code::kAlreadyExists) {
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, msg);
      }
      return fail(grpc::StatusCode::INTERNAL, msg);
    }
    auto port = net::PortProxy::boundPort(*fd);
    int ns = ns_fd_;
    auto proxy = std::make_unique<net::PortProxy>(
        udp ? net::PortProxy::Protocol::kUdp : net::PortProxy::Protocol::kTcp, *fd,
        reinterpret_cast<const sockaddr*>(&backend), static_cast<socklen_t>(sizeof backend),
        [ns](int domain, int type) {
          auto s = net::socketInNetns(ns, domain, type, 0);
          return s.ok() ? *s : -1;
        });
    Status st = proxy->start();
    if (!st.ok()) return fail(grpc::StatusCode::INTERNAL, st.message());
    auto* b = pub.bound.add_ports();
    b->set_proto(p.proto());
    b->set_host_ip(p.host_ip());
    b->set_host_port(port.ok() ? *port : 0);
    b->set_container_port(p.container_port());
    pub.proxies.push_back(std::move(proxy));
  }
  *reply = pub.bound;
  published_[req->container_id()] = std::move(pub);
  countLocked();
  return grpc::Status::OK;
}

void HelperService::unpublishLocked(const std::string& container_id) {
  published_.erase(container_id);  // PortProxy's destructor stops it
  countLocked();
}

grpc::Status HelperService::UnpublishPorts(grpc::ServerContext*, const v1::ContainerRef* req,
                                           v1::Empty*) {
  std::lock_guard<std::mutex> lk(mu_);
  unpublishLocked(req->container_id());
  return grpc::Status::OK;
}

grpc::Status HelperService::ReleaseContainer(grpc::ServerContext*, const v1::ContainerRef* req,
                                             v1::Empty*) {
  std::lock_guard<std::mutex> lk(mu_);
  unpublishLocked(req->container_id());
  std::vector<std::string> nets;
  auto c = endpoints_.find(req->container_id());
  if (c != endpoints_.end()) {
    for (const auto& [nid, ep] : c->second) nets.push_back(nid);
  }
  for (const auto& nid : nets) {
    (void)detachLocked(req->container_id(), nid, /*delete_link=*/!req->namespace_going());
  }
  return grpc::Status::OK;
}

grpc::Status HelperService::Health(grpc::ServerContext*, const v1::Empty*, v1::HealthReply* reply) {
  reply->set_pid(getpid());
  reply->set_started_ns(started_ns_);
  reply->set_networks(n_networks_);
  reply->set_endpoints(n_endpoints_);
  reply->set_ports(n_ports_);
  return grpc::Status::OK;
}

}  // namespace arca::helper
