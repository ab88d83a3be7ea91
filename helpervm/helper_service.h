// The network helper's service (issue #5): owns a bridge per Docker network
// inside the helper's network namespace, the embedded DNS on each
// user-defined network's gateway, and the userland proxies of published
// ports (listening in the host's namespace, connecting from the helper's).
// Every operation is idempotent, so arcad can replay its State into it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "helpervm/helper.grpc.pb.h"
#include "net/dns.h"
#include "net/port_proxy.h"

namespace arca::helper {

class HelperService final : public v1::NetHelper::Service {
 public:
  // `helper_ns_fd`: the helper's network namespace (bridges live there).
  HelperService(int helper_ns_fd, std::unique_ptr<net::DnsServer> dns);
  // Outbound NAT through the uplink (a veth to the host named "uplink" in the
  // helper namespace): the helper namespace forwards, and its firewall keeps
  // networks apart and lets only non-internal networks out. Without it the
  // namespace does not forward at all. Call before serving.
  Status enableUplink();
  ~HelperService() override;

  grpc::Status CreateNetwork(grpc::ServerContext*, const v1::Network*, v1::Empty*) override;
  grpc::Status DeleteNetwork(grpc::ServerContext*, const v1::NetworkRef*, v1::Empty*) override;
  grpc::Status AttachEndpoint(grpc::ServerContext*, const v1::Endpoint*, v1::Empty*) override;
  grpc::Status DetachEndpoint(grpc::ServerContext*, const v1::EndpointRef*, v1::Empty*) override;
  grpc::Status PublishPorts(grpc::ServerContext*, const v1::PublishRequest*,
                            v1::PublishReply*) override;
  grpc::Status UnpublishPorts(grpc::ServerContext*, const v1::ContainerRef*, v1::Empty*) override;
  grpc::Status ReleaseContainer(grpc::ServerContext*, const v1::ContainerRef*,
                                v1::Empty*) override;
  grpc::Status Health(grpc::ServerContext*, const v1::Empty*, v1::HealthReply*) override;

 private:
  struct Endpoint {
    v1::Endpoint spec;
    std::string veth;  // host side, in the helper namespace
  };
  struct Published {
    std::vector<std::unique_ptr<net::PortProxy>> proxies;
    v1::PublishReply bound;
  };
  // `delete_link` false: the container's namespace goes next and takes the
  // veth pair with it.
  grpc::Status detachLocked(const std::string& container_id, const std::string& network_id,
                            bool delete_link = true);
  void unpublishLocked(const std::string& container_id);
  void refreshRecordsLocked(const std::string& network_id);
  // The helper namespace's iptables rules for the current networks.
  Status rebuildFirewallLocked();
  // Tells the DNS which networks each address of `container_id` may resolve.
  void refreshClientScopesLocked(const std::string& container_id);
  bool uplink_ = false;
  // Health answers without mu_ (a busy helper must not look dead).
  std::atomic<int32_t> n_networks_{0}, n_endpoints_{0}, n_ports_{0};
  void countLocked();

  int ns_fd_;
  std::unique_ptr<net::DnsServer> dns_;
  int64_t started_ns_;
  std::mutex mu_;
  std::map<std::string, v1::Network> networks_;
  std::map<std::string, int> dns_fds_;  // network id -> its DNS socket (owned by dns_)
  std::map<std::string, std::map<std::string, Endpoint>> endpoints_;  // container -> network -> ep
  std::map<std::string, Published> published_;
  std::map<std::string, std::set<std::string>> record_names_;  // network -> names set in dns_
};

}  // namespace arca::helper
