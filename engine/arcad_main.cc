// arcad: the daemon. Wires the event log, engine, executors and API server.
//
// Start-up: open the log -> fold (latest snapshot + tail) -> executors
// reconcile with the world (reattach live sandboxes, record dead ones) ->
// serve the API. Shutdown (SIGINT/SIGTERM): stop serving, stop executors
// (sandboxes keep running), write a snapshot, close the log.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <rapidjson/document.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/http_server.h"
#include "engine/engine.h"
#include "engine/network_commands.h"
#include "eventlog/event_log.h"
#include "api/container_config.h"
#include "runtime/executor.h"
#include "runtime/image/image_store.h"
#include "runtime/namespace/namespace_driver.h"
#include "runtime/vm/vm_backend.h"
#include "runtime/volumes.h"
#include "api/health.h"
#include "helpervm/plane.h"

namespace fs = std::filesystem;
using namespace arca;

namespace {

struct Flags {
  std::set<std::string> given;  // flags set on the command line (they win over daemon.json)
  std::vector<std::string> hosts;
  std::string data_root = "/var/lib/arca";
  std::string exec_root = "/var/run/arca";
  std::string config_file;
  std::string log_level = "info";
  std::string default_runtime = "runc";
  std::string oci_runtime = "runc";
  std::string vm_kernel;        // issue #8: "" = <data-root>/vm/kernel/current/vmlinux
  std::string vm_accel = "auto";
  bool salvage = false;
  bool doctor = false;  // issue #8: say what the VM sandbox lacks, then exit
  uint64_t snapshot_every = 10000;
  std::vector<std::string> insecure_registries;
  std::vector<std::string> registry_mirrors;
  std::vector<std::string> dns;  // the embedded DNS's upstreams (default: the host's resolvers)
  bool ip_masq = true;           // outbound NAT for bridge networks
  int max_concurrent_downloads = 3;
  int max_concurrent_uploads = 5;
  long registry_stall_timeout_s = 30;
};

void usage() {
  std::cout << "Usage: arcad [OPTIONS]\n\n"
               "A Docker-compatible container engine.\n\n"
               "Options:\n"
               "  -H, --host string            Daemon socket to listen on (default "
               "unix:///var/run/arca.sock)\n"
               "      --data-root string       Root of persistent state (default /var/lib/arca)\n"
               "      --exec-root string       Root of runtime state (default /var/run/arca)\n"
               "      --config-file string     daemon.json with the same keys as dockerd's\n"
               "      --log-level string       debug, info, warn, error (default info)\n"
               "      --default-runtime string Default container runtime: runc (namespaces) or arca-vm\n"
               "                               (a microVM per container) (default runc)\n"
               "      --vm-kernel path         The VM sandbox's guest kernel (default\n"
               "                               <data-root>/vm/kernel/current/vmlinux, kernel/build.sh)\n"
               "      --vm-accel string        auto (probe KVM by a boot, else TCG), kvm or tcg\n"
               "      --dns list               DNS servers the embedded DNS forwards to (ip[:port];\n"
               "                               default: the host's resolv.conf)\n"
               "      --ip-masq=false          No outbound NAT for containers (default: on)\n"
               "      --insecure-registry list Registries reached over plain HTTP or unverified TLS\n"
               "      --registry-mirror list   Mirrors of docker.io, tried first\n"
               "      --max-concurrent-downloads int  Parallel layer downloads per pull (default 3)\n"
               "      --max-concurrent-uploads int    Parallel layer uploads per push (default 5)\n"
               "      --registry-stall-timeout int    Seconds without a byte before a registry\n"
               "                               transfer counts as broken (default 30)\n"
               "      --oci-runtime string     OCI runtime binary for the namespace sandbox: runc or crun\n"
               "      --snapshot-every N       Events between state snapshots (default 10000)\n"
               "      --salvage                Truncate a corrupt event log at the first bad record\n"
               "      --doctor                 Check what the VM sandbox (arca-vm) needs, then exit\n"
               "  -v, --version                Print version and exit\n";
}

bool parseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      val = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto next = [&]() -> std::string {
      if (!val.empty()) return val;
      if (i + 1 >= argc) {
        std::cerr << "arcad: flag needs an argument: " << a << "\n";
        exit(2);
      }
      return argv[++i];
    };
    f->given.insert(a == "-H" ? "--host" : a == "-l" ? "--log-level" : a);
    if (a == "-H" || a == "--host") {
      f->hosts.push_back(next());
    } else if (a == "--data-root") {
      f->data_root = next();
    } else if (a == "--exec-root") {
      f->exec_root = next();
    } else if (a == "--config-file") {
      f->config_file = next();
    } else if (a == "--log-level" || a == "-l") {
      f->log_level = next();
    } else if (a == "--default-runtime") {
      f->default_runtime = next();
    } else if (a == "--vm-kernel") {
      f->vm_kernel = next();
    } else if (a == "--vm-accel") {
      f->vm_accel = next();
    } else if (a == "--insecure-registry") {
      f->insecure_registries.push_back(next());
    } else if (a == "--ip-masq=false" || a == "--ip-masq=0") {
      f->ip_masq = false;
    } else if (a == "--ip-masq" || a == "--ip-masq=true" || a == "--ip-masq=1") {
      f->ip_masq = true;
    } else if (a == "--dns") {
      f->dns.push_back(next());
    } else if (a == "--registry-mirror") {
      f->registry_mirrors.push_back(next());
    } else if (a == "--max-concurrent-downloads") {
      f->max_concurrent_downloads = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--registry-stall-timeout") {
      f->registry_stall_timeout_s = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--max-concurrent-uploads") {
      f->max_concurrent_uploads = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--oci-runtime") {
      f->oci_runtime = next();
    } else if (a == "--snapshot-every") {
      f->snapshot_every = std::stoull(next());
    } else if (a == "--doctor") {
      f->doctor = true;
    } else if (a == "--salvage") {
      f->salvage = true;
    } else if (a == "-v" || a == "--version") {
      std::cout << "arcad version " << api::kArcaVersion << " (Docker Engine API "
                << api::kApiVersion << ")\n";
      exit(0);
    } else if (a == "-h" || a == "--help") {
      usage();
      exit(0);
    } else {
      std::cerr << "arcad: unknown flag: " << a << "\n";
      usage();
      return false;
    }
  }
  return true;
}

// daemon.json: flags given on the command line win, as they must not conflict
// in dockerd (we are more lenient: the flag wins).
bool applyConfigFile(Flags* f) {
  auto given = [&](const char* flag) { return f->given.count(flag) > 0; };
  if (f->config_file.empty()) return true;
  std::ifstream in(f->config_file);
  if (!in) {
    std::cerr << "arcad: cannot read config file " << f->config_file << "\n";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  rapidjson::Document d;
  d.Parse(ss.str().c_str());
  if (d.HasParseError() || !d.IsObject()) {
    std::cerr << "arcad: " << f->config_file << " is not a JSON object\n";
    return false;
  }
  for (auto& m : d.GetObject()) {
    std::string k = m.name.GetString();
    if (k == "data-root" && m.value.IsString()) {
      if (!given("--data-root")) f->data_root = m.value.GetString();
    } else if (k == "exec-root" && m.value.IsString()) {
      if (!given("--exec-root")) f->exec_root = m.value.GetString();
    } else if (k == "log-level" && m.value.IsString()) {
      if (!given("--log-level")) f->log_level = m.value.GetString();
    } else if (k == "default-runtime" && m.value.IsString()) {
      if (!given("--default-runtime")) f->default_runtime = m.value.GetString();
    } else if (k == "ip-masq" && m.value.IsBool()) {
      if (!given("--ip-masq") && !given("--ip-masq=false")) f->ip_masq = m.value.GetBool();
    } else if (k == "dns" && m.value.IsArray()) {
      if (given("--dns")) continue;
      for (auto& h : m.value.GetArray()) {
        if (h.IsString()) f->dns.push_back(h.GetString());
      }
    } else if ((k == "insecure-registries" || k == "registry-mirrors") && m.value.IsArray()) {
      bool insecure = k == "insecure-registries";
      if (given(insecure ? "--insecure-registry" : "--registry-mirror")) continue;
      for (auto& h : m.value.GetArray()) {
        if (!h.IsString()) continue;
        (insecure ? f->insecure_registries : f->registry_mirrors).push_back(h.GetString());
      }
    } else if ((k == "max-concurrent-downloads" || k == "max-concurrent-uploads") && m.value.IsInt()) {
      bool down = k == "max-concurrent-downloads";
      if (given(down ? "--max-concurrent-downloads" : "--max-concurrent-uploads")) continue;
      (down ? f->max_concurrent_downloads : f->max_concurrent_uploads) = std::max(1, m.value.GetInt());
    } else if (k == "hosts" && m.value.IsArray()) {
      if (given("--host")) continue;
      for (auto& h : m.value.GetArray()) {
        if (h.IsString()) f->hosts.push_back(h.GetString());
      }
    } else {
      spdlog::warn("config file: key \"{}\" is not supported yet and is ignored", k);
    }
  }
  return true;
}

std::string readOrCreateId(const std::string& path, engine::IdSource& ids) {
  std::ifstream in(path);
  std::string id;
  if (in && std::getline(in, id) && !id.empty()) return id;
  id = ids.newId();
  std::ofstream(path) << id << "\n";
  return id;
}

std::string selfDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  return fs::path(buf).parent_path().string();
}

runtime::VmOptions vmOptions(const Flags& flags) {
  runtime::VmOptions vo;
  vo.state_dir = flags.exec_root + "/vm";
  vo.cache_dir = flags.data_root + "/vm";
  vo.kernel = flags.vm_kernel.empty() ? vo.cache_dir + "/kernel/current/vmlinux" : flags.vm_kernel;
  vo.agent_path = selfDir() + "/arca-agent";
  vo.accel = flags.vm_accel;
  return vo;
}

// arcad --doctor: what the VM sandbox needs on this machine, line by line.
int doctor(const Flags& flags) {
  runtime::VmOptions vo = vmOptions(flags);
  std::cout << "VM sandbox (--runtime " << runtime::kVmRuntime << ")\n";
  std::cout << "  guest kernel: " << vo.kernel << "\n";
  bool kvm = access("/dev/kvm", R_OK | W_OK) == 0;
  std::cout << "  /dev/kvm: " << (kvm ? "present" : "absent (VMs run under TCG emulation)")
            << (access("/sys/module/kvm_pvm", F_OK) == 0 ? " (kvm_pvm: a PVM nested hypervisor)" : "")
            << "\n";
  auto missing = runtime::VmBackend::missing(vo);
  for (const auto& m : missing) std::cout << "  missing: " << m << "\n";
  if (!missing.empty()) {
    std::cout << "not ready\n";
    return 1;
  }
  auto b = runtime::VmBackend::create(vo);
  if (!b.ok()) {
    std::cout << "  error: " << b.status().message() << "\nnot ready\n";
    return 1;
  }
  std::cout << "  accelerator: " << (*b)->accelerator()
            << ((*b)->acceleratorNote().empty() ? "" : " (" + (*b)->acceleratorNote() + ")") << "\n";
  std::cout << "ready\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!parseFlags(argc, argv, &flags)) return 2;
  if (flags.doctor) return doctor(flags);
  auto logger = spdlog::stderr_color_mt("arcad");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (!applyConfigFile(&flags)) return 1;
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  if (flags.hosts.empty()) flags.hosts.push_back("unix:///var/run/arca.sock");
  if (!api::knownRuntime(flags.default_runtime)) {
    spdlog::error("default runtime {} is unknown (runc, crun, arca or {})", flags.default_runtime,
                  runtime::kVmRuntime);
    return 1;
  }
  if (flags.vm_accel != "auto" && flags.vm_accel != "kvm" && flags.vm_accel != "tcg") {
    spdlog::error("--vm-accel must be auto, kvm or tcg");
    return 1;
  }
  if (geteuid() != 0) {
    spdlog::error("arcad needs root (namespaces, mounts, cgroups)");
    return 1;
  }

  // Block the signals we handle before any thread starts (threads inherit the mask).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGQUIT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  fs::create_directories(flags.data_root, ec);
  fs::create_directories(flags.exec_root, ec);
  fs::create_directories(flags.data_root + "/containers", ec);
  chmod(flags.data_root.c_str(), 0711);

  // One daemon per data root.
  int lock_fd = open((flags.data_root + "/arcad.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("another arcad is using data root {}", flags.data_root);
    return 1;
  }

  eventlog::Options lo;
  lo.path = flags.data_root + "/eventlog";
  lo.salvage = flags.salvage;
  auto log = eventlog::EventLog::open(lo);
  if (!log.ok()) {
    spdlog::error("{}", log.status().message());
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto state = engine::recoverState(**log);
  if (!state.ok()) {
    spdlog::error("replay failed: {}", state.status().message());
    return 1;
  }
  auto replay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0).count();
  spdlog::info("replayed the event log up to seq {} in {} ms", state->seq(), replay_ms);

  engine::SystemClock clock;
  engine::RandomIdSource ids;
  engine::Engine::Options eo;
  eo.snapshot_every = flags.snapshot_every;
  engine::Engine engine(log->get(), std::move(*state), &clock, &ids, eo);

  // The predefined networks (bridge, host, none) exist from the first start.
  if (auto seq = engine.execute([&](const v1::State& s, std::vector<v1::Event>* out) {
        for (auto& e : engine::defaultNetworkEvents(s, ids)) out->push_back(std::move(e));
        return Status::Ok();
      });
      !seq.ok()) {
    spdlog::error("default networks: {}", seq.status().message());
    return 1;
  }

  auto images = image::ImageStore::create(flags.data_root + "/image");
  if (!images.ok()) {
    spdlog::error("image store: {}", images.status().message());
    return 1;
  }
  runtime::NamespaceDriverOptions no;
  no.exec_root = flags.exec_root;
  no.containers_dir = flags.data_root + "/containers";
  no.agent_path = selfDir() + "/arca-agent";
  no.oci_runtime = flags.oci_runtime;
  // issue #8: the VM sandbox, when this machine has what it needs.
  runtime::VmOptions vo = vmOptions(flags);
  std::unique_ptr<runtime::VmBackend> vm;
  if (auto b = runtime::VmBackend::create(vo); b.ok()) {
    vm = std::move(*b);
    no.vm = vm.get();
  } else {
    no.vm_unavailable = b.status().message();
    if (flags.default_runtime == runtime::kVmRuntime) {
      spdlog::error("{}", b.status().message());
      return 1;
    }
    spdlog::info("{}", b.status().message());
  }
  auto driver = runtime::NamespaceDriver::create(no);
  if (!driver.ok()) {
    spdlog::error("namespace sandbox: {}", driver.status().message());
    return 1;
  }
  runtime::LocalVolumes volumes(flags.data_root + "/volumes");  // issue #6
  runtime::Executor executor(&engine, driver->get(), images->get(),
                             {flags.data_root + "/containers", &volumes});
  // issue #5: the network helper owns bridges, DNS and published ports.
  helper::NetworkPlane plane(&engine, {flags.exec_root, selfDir() + "/arca-nethelper", flags.dns, flags.ip_masq});
  if (Status ps = plane.start(); !ps.ok()) {
    spdlog::error("network helper: {}", ps.message());
    return 1;
  }
  executor.setNetwork(&plane);
  executor.start();
  plane.resync();
  // Save the reconciled state: start-up after a crash folds from here, and
  // `arca-replay verify` has a daemon-saved state to compare with.
  if (Status st = engine.snapshot(); !st.ok()) spdlog::warn("start-up snapshot: {}", st.toString());

  api::ApiContext ctx;
  ctx.engine = &engine;
  ctx.executor = &executor;
  ctx.images = images->get();
  ctx.driver = driver->get();
  ctx.network = &plane;
  ctx.volumes = &volumes;
  ctx.data_root = flags.data_root;
  ctx.exec_root = flags.exec_root;
  ctx.runtime_name = (*driver)->name();
  ctx.default_runtime = flags.default_runtime == "arca" ? "runc" : flags.default_runtime;
  ctx.vm = vm.get();
  if (!vm) ctx.vm_unavailable = no.vm_unavailable;
  ctx.runtime_path = flags.oci_runtime;
  ctx.daemon_id = readOrCreateId(flags.data_root + "/engine-id", ids);
  char hn[256] = {0};
  gethostname(hn, sizeof hn - 1);
  ctx.hostname = hn;
  ctx.log_level = flags.log_level;
  ctx.started_ns = clock.nowNs();
  ctx.registry.insecure_registries = flags.insecure_registries;
  ctx.registry.mirrors = flags.registry_mirrors;
  ctx.registry.stall_timeout_s = flags.registry_stall_timeout_s;
  ctx.registry.user_agent = std::string("arca/") + api::kArcaVersion;
  ctx.max_concurrent_downloads = flags.max_concurrent_downloads;
  ctx.max_concurrent_uploads = flags.max_concurrent_uploads;
  // Layers and blobs of a pull or load cut short by a crash belong to no image.
  api::requestImageGc(ctx);
  api::HealthMonitor health(&ctx);
  ctx.health = &health;
  health.start();

  api::Router router;
  api::registerSystemRoutes(router, ctx);
  api::registerContainerRoutes(router, ctx);
  api::registerNetworkRoutes(router, ctx);
  api::registerVolumeRoutes(router, ctx);
  api::registerBuildRoutes(router, ctx);
  api::registerAttachExecRoutes(router, ctx);
  api::registerContainerUpdateRoutes(router, ctx);
  api::registerImageRoutes(router, ctx);
  api::registerRegistryRoutes(router, ctx);
  api::registerFileRoutes(router, ctx);
  api::registerContainerOpsRoutes(router, ctx);  // issue #4: stats, top, pause
  api::registerNotImplementedRoutes(router);

  std::vector<std::unique_ptr<api::HttpServer>> servers;
  for (const auto& h : flags.hosts) {
    api::ServerOptions so;
    if (h.rfind("unix://", 0) == 0) {
      so.unix_path = h.substr(7);
      fs::create_directories(fs::path(so.unix_path).parent_path(), ec);
    } else if (h.rfind("tcp://", 0) == 0) {
      so.tcp_address = h.substr(6);
      spdlog::warn("listening on tcp://{} without TLS: anyone who reaches it is root", so.tcp_address);
    } else {
      spdlog::error("unsupported host {}: use unix:///path or tcp://host:port", h);
      return 1;
    }
    so.default_headers = api::defaultHeaders;
    auto srv = api::HttpServer::create(so, [&router](api::Request& r) { return router.dispatch(r); });
    if (!srv.ok()) {
      spdlog::error("listen {}: {}", h, srv.status().message());
      return 1;
    }
    Status st = (*srv)->start();
    if (!st.ok()) {
      spdlog::error("serve {}: {}", h, st.message());
      return 1;
    }
    spdlog::info("API listening on {}", h);
    servers.push_back(std::move(*srv));
  }
  spdlog::info("arcad {} ready (data root {}, exec root {})", api::kArcaVersion, flags.data_root,
               flags.exec_root);

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("received signal {}, shutting down (containers keep running)", sig);
  for (auto& s : servers) s->stop();
  health.stop();
  executor.stop();
  Status st = engine.snapshot();
  if (!st.ok()) spdlog::warn("final snapshot: {}", st.toString());
  (*log)->close();
  for (const auto& h : flags.hosts) {
    if (h.rfind("unix://", 0) == 0) unlink(h.substr(7).c_str());
  }
  spdlog::info("stopped");
  spdlog::shutdown();
  // Exit watchers are detached threads blocked on agents that keep running;
  // skip destructors rather than tear objects down under them.
  _exit(0);
}
