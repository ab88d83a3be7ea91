// arcad's side of the network helper (issue #5): starts arca-nethelper (or
// finds the one that outlived the previous arcad), replays State into it, and
// implements the executor's NetworkAttacher over the helper's gRPC API.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "engine/engine.h"
#include "helpervm/helper.grpc.pb.h"
#include "runtime/network_attacher.h"

namespace arca::helper {

struct PlaneOptions {
  std::string exec_root;    // <exec_root>/nethelper.sock, <exec_root>/netns/
  std::string helper_path;  // arca-nethelper
  std::vector<std::string> upstreams;  // --dns: the embedded DNS's upstreams ("" list: the host's)
  bool ip_masq = true;  // outbound NAT (arcad --ip-masq=false turns it off)
};

class NetworkPlane final : public runtime::NetworkAttacher {
 public:
  NetworkPlane(engine::Engine* engine, PlaneOptions opts);
  // Connects to the running helper or starts one.
  Status start();
  // Replays State: every bridge network, then every running container's
  // endpoints and ports (as recorded). Call after the executor reconciled.
  void resync();

  Status setUp(const runtime::ContainerNetworkPlan& plan, std::string* netns_path,
               std::vector<arca::v1::PortBinding>* ports) override;
  void tearDown(const std::string& id) override;
  Status connect(const std::string& id, const runtime::EndpointPlan& ep) override;
  Status disconnect(const std::string& id, const std::string& network_id) override;
  void removeNetwork(const std::string& network_id) override;
  std::string netnsPath(const std::string& id) const override;

 private:
  Status ensureHelper();
  Status ensureNetwork(const std::string& network_id);
  Status attach(const std::string& id, const runtime::EndpointPlan& ep, const std::string& ifname,
                bool fresh);
  Status publish(const runtime::ContainerNetworkPlan& plan, const std::string& container_ip,
                 std::vector<arca::v1::PortBinding>* ports);
  std::unique_ptr<v1::NetHelper::Stub> stub();
  Status spawnHelper();

  engine::Engine* engine_;
  PlaneOptions opts_;
  std::string socket_;
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;
  std::set<std::string> ready_networks_;  // created in this helper
  int32_t helper_pid_ = 0;
  std::mutex ensure_mu_;                     // one ensureHelper() at a time
  std::atomic<bool> need_resync_{false};     // the helper was replaced: replay State
  void resyncIfNeeded();
};

}  // namespace arca::helper
