#include "helpervm/plane.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "engine/lookup.h"
#include "engine/network_commands.h"
#include "net/netns.h"

namespace arca::helper {
namespace {

constexpr auto kRpcTimeout = std::chrono::seconds(20);

Status fromGrpc(const grpc::Status& st, const std::string& what) {
  if (st.ok()) return Status::Ok();
  if (st.error_code() == grpc::StatusCode::ALREADY_EXISTS) return Conflict(st.error_message());
  if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) return InvalidArgument(st.error_message());
  return Internal(what + ": " + st.error_message());
}

void deadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
}

std::string bridgeName(const arca::v1::Network& n) {
  auto it = n.spec().options().find("com.docker.network.bridge.name");
  if (it != n.spec().options().end() && !it->second.empty()) return it->second;
  return "br-" + n.id().substr(0, 12);
}

}  // namespace

NetworkPlane::NetworkPlane(engine::Engine* engine, PlaneOptions opts)
    : engine_(engine), opts_(std::move(opts)), socket_(opts_.exec_root + "/nethelper.sock") {}

std::string NetworkPlane::netnsPath(const std::string& id) const {
  return opts_.exec_root + "/netns/" + id.substr(0, 12);
}

std::unique_ptr<v1::NetHelper::Stub> NetworkPlane::stub() {
  std::lock_guard<std::mutex> lk(mu_);
  if (!channel_) {
    grpc::ChannelArguments args;  // the helper is local: reconnect fast after a (re)start
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    channel_ = grpc::CreateCustomChannel("unix:" + socket_, grpc::InsecureChannelCredentials(), args);
  }
  return v1::NetHelper::NewStub(channel_);
}

Status NetworkPlane::spawnHelper() {
  std::string netns = opts_.exec_root + "/netns/helper";
  std::string log = opts_.exec_root + "/nethelper.log";
  std::vector<std::string> args = {opts_.helper_path, "--socket", socket_, "--netns", netns};
  for (const auto& u : opts_.upstreams) args.insert(args.end(), {"--upstream", u});
  if (opts_.ip_masq) {
    // The host side of the uplink: one name per exec root, written down for
    // whoever cleans the exec root up (tests).
    uint32_t h = 2166136261u;
    for (char c : opts_.exec_root) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    char name[16];
    snprintf(name, sizeof name, "arca%08x", h);
    args.insert(args.end(), {"--uplink", name});
    FILE* f = fopen((opts_.exec_root + "/uplink").c_str(), "w");
    if (f) {
      fprintf(f, "%s\n", name);
      fclose(f);
    }
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t mid = fork();
  if (mid < 0) return Internal("fork: " + std::string(strerror(errno)));
  if (mid == 0) {
    setsid();
    pid_t p = fork();
    if (p != 0) _exit(p > 0 ? 0 : 1);
    int null = open("/dev/null", O_RDWR);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null >= 0) dup2(null, 0);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    execv(opts_.helper_path.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }
  return Status::Ok();
}

void NetworkPlane::resyncIfNeeded() {
  if (need_resync_.exchange(false)) {
    spdlog::warn("network helper replaced: replaying networks, endpoints and ports");
    resync();
  }
}

Status NetworkPlane::ensureHelper() {
  std::lock_guard<std::mutex> serial(ensure_mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt == 0 && access(socket_.c_str(), F_OK) != 0) {
      spdlog::info("starting the network helper");
      ARCA_RETURN_IF_ERROR(spawnHelper());
      {
        std::lock_guard<std::mutex> lk(mu_);
        channel_.reset();
      }
      continue;
    }
    auto s = stub();
    for (int i = 0; i < 100; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(attempt ? 200 : 2000));
      if (attempt) ctx.set_wait_for_ready(true);
      v1::Empty req;
      v1::HealthReply reply;
      auto st = s->Health(&ctx, req, &reply);
      if (st.ok()) {
        std::lock_guard<std::mutex> lk(mu_);
        if (helper_pid_ != reply.pid()) {
          if (helper_pid_ != 0) {
            spdlog::warn("network helper restarted (pid {})", reply.pid());
            need_resync_ = true;
          }
          helper_pid_ = reply.pid();
          ready_networks_.clear();
        }
        return Status::Ok();
      }
      // A busy helper is slow, not dead: only a refused connection starts one.
      if (attempt == 0 && st.error_code() != grpc::StatusCode::UNAVAILABLE) {
        return Unavailable("the network helper does not answer: " + st.error_message());
      }
      if (attempt == 0) break;  // none running: start one
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (attempt == 0) {
      spdlog::info("starting the network helper");
      ARCA_RETURN_IF_ERROR(spawnHelper());
      std::lock_guard<std::mutex> lk(mu_);
      channel_.reset();
    }
  }
  return Unavailable("the network helper (" + opts_.helper_path + ") did not start; see " +
                     opts_.exec_root + "/nethelper.log");
}

Status NetworkPlane::start() {
  std::error_code ec;
  std::filesystem::create_directories(opts_.exec_root + "/netns", ec);
  return ensureHelper();
}

Status NetworkPlane::ensureNetwork(const std::string& network_id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (ready_networks_.count(network_id)) return Status::Ok();
  }
  v1::Network req;
  bool found = engine_->read([&](const arca::v1::State& s) {
    auto it = s.networks().find(network_id);
    if (it == s.networks().end()) return false;
    const auto& n = it->second;
    req.set_id(n.id());
    req.set_bridge(bridgeName(n));
    req.set_subnet(n.subnet());
    req.set_gateway(n.gateway());
    req.set_internal(n.internal());
    req.set_dns(!engine::isDefaultBridge(n));
    auto mtu = n.spec().options().find("com.docker.network.driver.mtu");
    if (mtu != n.spec().options().end()) req.set_mtu(atoi(mtu->second.c_str()));
    req.set_icc(true);
    return true;
  });
  if (!found) return NotFound("network " + network_id + " not found");
  grpc::ClientContext ctx;
  deadline(&ctx);
  v1::Empty reply;
  ARCA_RETURN_IF_ERROR(fromGrpc(stub()->CreateNetwork(&ctx, req, &reply), "network helper"));
  std::lock_guard<std::mutex> lk(mu_);
  ready_networks_.insert(network_id);
  return Status::Ok();
}

Status NetworkPlane::attach(const std::string& id, const runtime::EndpointPlan& ep,
                            const std::string& ifname, bool fresh) {
  ARCA_RETURN_IF_ERROR(ensureNetwork(ep.network_id));
  v1::Endpoint req;
  req.set_container_id(id);
  req.set_network_id(ep.network_id);
  req.set_netns_path(netnsPath(id));
  req.set_ipv4(ep.ipv4);
  req.set_prefix(ep.prefix);
  req.set_gateway(ep.gateway);
  req.set_mac(ep.mac);
  req.set_default_route(ep.default_route);
  for (const auto& n : ep.dns_names) req.add_dns_names(n);
  req.set_ifname(ifname);
  req.set_fresh(fresh);
  grpc::ClientContext ctx;
  deadline(&ctx);
  v1::Empty reply;
  return fromGrpc(stub()->AttachEndpoint(&ctx, req, &reply), "network helper");
}

Status NetworkPlane::publish(const runtime::ContainerNetworkPlan& plan,
                             const std::string& container_ip, std::vector<arca::v1::PortBinding>* ports) {
  if (plan.ports.empty()) return Status::Ok();
  v1::PublishRequest req;
  req.set_container_id(plan.id);
  for (const auto& p : plan.ports) {
    auto* r = req.add_ports();
    auto slash = p.container_port.find('/');
    r->set_proto(slash == std::string::npos ? "tcp" : p.container_port.substr(slash + 1));
    r->set_host_ip(p.host_ip);
    r->set_host_port_lo(p.host_port_lo);
    r->set_host_port_hi(p.host_port_hi);
    r->set_container_ip(container_ip);
    r->set_container_port(atoi(p.container_port.c_str()));
  }
  grpc::ClientContext ctx;
  deadline(&ctx);
  v1::PublishReply reply;
  auto st = stub()->PublishPorts(&ctx, req, &reply);
  if (!st.ok()) {
    // dockerd's wording for a port already taken.
    std::string short_id = plan.id.substr(0, 12);
    return Internal("driver failed programming external connectivity on endpoint " + short_id +
                    ": " + st.error_message());
  }
  for (const auto& b : reply.ports()) {
    arca::v1::PortBinding pb;
    pb.set_container_port(std::to_string(b.container_port()) + "/" + b.proto());
    pb.set_host_ip(b.host_ip().empty() ? "0.0.0.0" : b.host_ip());
    pb.set_host_port(std::to_string(b.host_port()));
    ports->push_back(std::move(pb));
  }
  return Status::Ok();
}

Status NetworkPlane::setUp(const runtime::ContainerNetworkPlan& plan, std::string* netns_path,
                           std::vector<arca::v1::PortBinding>* ports) {
  if (plan.mode != runtime::ContainerNetworkPlan::Mode::kBridge) return Status::Ok();
  ARCA_RETURN_IF_ERROR(ensureHelper());
  resyncIfNeeded();
  const std::string path = netnsPath(plan.id);
  bool fresh = access(path.c_str(), F_OK) != 0;  // a replay finds it (and its veths) there
  ARCA_RETURN_IF_ERROR(net::createNetns(path));
  for (size_t i = 0; i < plan.endpoints.size(); ++i) {
    ARCA_RETURN_IF_ERROR(
        attach(plan.id, plan.endpoints[i], fresh ? "eth" + std::to_string(i) : "", fresh));
  }
  if (!plan.endpoints.empty()) {
    ARCA_RETURN_IF_ERROR(publish(plan, plan.endpoints.front().ipv4, ports));
  }
  *netns_path = path;
  return Status::Ok();
}

void NetworkPlane::tearDown(const std::string& id) {
  grpc::ClientContext ctx;
  deadline(&ctx);
  v1::ContainerRef req;
  req.set_container_id(id);
  req.set_namespace_going(true);
  v1::Empty reply;
  auto st = stub()->ReleaseContainer(&ctx, req, &reply);
  if (!st.ok() && st.error_code() != grpc::StatusCode::UNAVAILABLE) {
    spdlog::warn("network helper: release {}: {}", id.substr(0, 12), st.error_message());
  }
  Status rm = net::removeNetns(netnsPath(id));
  if (!rm.ok()) spdlog::warn("network namespace of {}: {}", id.substr(0, 12), rm.message());
}

Status NetworkPlane::connect(const std::string& id, const runtime::EndpointPlan& ep) {
  ARCA_RETURN_IF_ERROR(ensureHelper());
  resyncIfNeeded();
  return attach(id, ep, "", false);
}

Status NetworkPlane::disconnect(const std::string& id, const std::string& network_id) {
  grpc::ClientContext ctx;
  deadline(&ctx);
  v1::EndpointRef req;
  req.set_container_id(id);
  req.set_network_id(network_id);
  v1::Empty reply;
  return fromGrpc(stub()->DetachEndpoint(&ctx, req, &reply), "network helper");
}

void NetworkPlane::removeNetwork(const std::string& network_id) {
  grpc::ClientContext ctx;
  deadline(&ctx);
  v1::NetworkRef req;
  req.set_id(network_id);
  v1::Empty reply;
  auto st = stub()->DeleteNetwork(&ctx, req, &reply);
  if (!st.ok()) spdlog::warn("network helper: delete {}: {}", network_id.substr(0, 12), st.error_message());
  std::lock_guard<std::mutex> lk(mu_);
  ready_networks_.erase(network_id);
}

void NetworkPlane::resync() {
  std::vector<runtime::ContainerNetworkPlan> running;
  std::vector<std::string> nets;
  engine_->read([&](const arca::v1::State& s) {
    for (const auto& [id, n] : s.networks()) {
      if (n.driver() == "bridge") nets.push_back(id);
    }
    for (const auto& [id, c] : s.containers()) {
      if (c.status() != "running" && !c.paused()) continue;
      auto plan = runtime::planContainerNetwork(s, c);
      if (plan.mode != runtime::ContainerNetworkPlan::Mode::kBridge) continue;
      // Republish on the ports recorded at start.
      plan.ports.clear();
      for (const auto& b : c.ports()) {
        runtime::PortPlan p;
        p.container_port = b.container_port();
        p.host_ip = b.host_ip() == "0.0.0.0" ? "" : b.host_ip();
        p.host_port_lo = p.host_port_hi = atoi(b.host_port().c_str());
        plan.ports.push_back(p);
      }
      running.push_back(std::move(plan));
    }
    return 0;
  });
  for (const auto& id : nets) {
    Status st = ensureNetwork(id);
    if (!st.ok()) spdlog::warn("network {}: {}", id.substr(0, 12), st.toString());
  }
  for (const auto& plan : running) {
    std::string path;
    std::vector<arca::v1::PortBinding> ports;
    Status st = setUp(plan, &path, &ports);
    if (!st.ok()) spdlog::warn("networking of {}: {}", plan.id.substr(0, 12), st.toString());
  }
}

}  // namespace arca::helper
