// arca-agent: the per-container shim of the namespace sandbox.
//
//   arca-agent --id ID --bundle DIR --socket PATH --log FILE
//              --runtime-root DIR [--runtime runc|crun] [--runtime-path BIN] [--ready-fd N]
//              [--log-max-size BYTES --log-max-files N]   (json-file rotation)
//
// Started detached by arcad's NamespaceDriver (new session, stdio on /dev/null
// or the bundle's agent.log); serves arca.agent.v1.Agent on a unix socket,
// owns the container's init as a child subreaper and outlives arcad.
// Writes "ok\n" to --ready-fd once serving (or an error line, then exits).
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/agent/agent_service.h"
#include "runtime/agent/guest_init.h"
#include "runtime/agent/supervisor.h"

namespace {

void reportReady(int fd, const std::string& line) {
  if (fd < 0) return;
  std::string l = line + "\n";
  ssize_t n = write(fd, l.data(), l.size());
  (void)n;
  close(fd);
}

int fail(int ready_fd, const std::string& message) {
  fprintf(stderr, "arca-agent: %s\n", message.c_str());
  reportReady(ready_fd, "error: " + message);
  return 1;
}

// Parses the agent's flags (argv[1..] or the guest's agent.args lines).
bool parseFlags(const std::vector<std::string>& args, arca::agent::AgentOptions* opts,
                std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) {
      *error = "missing value for " + a;
      return false;
    }
    const std::string& v = args[++i];
    if (a == "--id") {
      opts->id = v;
    } else if (a == "--bundle") {
      opts->bundle = v;
    } else if (a == "--socket") {
      opts->socket = v;
    } else if (a == "--log") {
      opts->log_path = v;
    } else if (a == "--runtime") {
      opts->runtime = v;
    } else if (a == "--runtime-path") {
      opts->runtime_path = v;
    } else if (a == "--runtime-root") {
      opts->runtime_root = v;
    } else if (a == "--log-max-size") {
      opts->log_max_size = atoll(v.c_str());
    } else if (a == "--log-max-files") {
      opts->log_max_files = atoi(v.c_str());
    } else if (a == "--single-run") {
      opts->single_run = v == "1";
    } else if (a == "--ready-fd") {
      opts->ready_fd = atoi(v.c_str());
    } else {
      *error = "unknown flag " + a;
      return false;
    }
  }
  return true;
}

std::unique_ptr<grpc::Server> buildServer(arca::agent::AgentService* service,
                                          const std::string& socket) {
  grpc::ServerBuilder builder;
  grpc::ResourceQuota quota("arca-agent");
  quota.SetMaxThreads(4);
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 1);
  // In a VM the transport comes from the serial relay: no listening port.
  if (!socket.empty()) builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

void blockSignals() {
  // Before any thread exists: SIGCHLD is consumed through a signalfd only.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
}

// The guest's uptime at a step of PID 1's start (the console log shows where
// boot time goes).
void bootMark(const char* step) {
  timespec t{};
  clock_gettime(CLOCK_BOOTTIME, &t);
  fprintf(stderr, "arca-agent: %s at %ld.%03lds\n", step, static_cast<long>(t.tv_sec), t.tv_nsec / 1000000);
}

// PID 1 of a VM sandbox (issue #8): set the guest up, serve over the
// virtio-serial port, power off when the agent is done.
[[noreturn]] void guestMain() {
  setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);  // the kernel gives init none
  setenv("ARCA_AGENT_TRACE", "1", 1);  // the runtime's timings in the console log
  bootMark("main");
  blockSignals();
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  auto fatal = [](const std::string& message) {
    fprintf(stderr, "arca-agent (guest): %s\n", message.c_str());
    arca::agent::guestPowerOff();
  };
  auto args = arca::agent::guestSetUp();
  bootMark("set up");
  if (!args.ok()) fatal(args.status().message());
  arca::agent::AgentOptions opts;
  std::string error;
  if (!parseFlags(*args, &opts, &error)) fatal(error);
  opts.socket = "/run/arca-agent";  // no socket is served: the prefix of terminal console sockets
  opts.ready_fd = -1;
  auto port = arca::agent::SerialRelay::openPort(arca::agent::kAgentPortName);
  if (!port.ok()) fatal(port.status().message());
  auto supervisor = arca::agent::Supervisor::create(opts);
  if (!supervisor.ok()) fatal(supervisor.status().message());
  arca::agent::AgentService service(supervisor->get());
  std::unique_ptr<grpc::Server> server = buildServer(&service, "");
  if (!server) fatal("cannot build the gRPC server");
  bootMark("serving");
  arca::agent::SerialRelay relay(*port, server.get());
  std::thread relay_thread([&relay] { relay.run(); });
  (*supervisor)->run();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  relay.stop();
  relay_thread.join();
  arca::agent::guestPowerOff();
}

}  // namespace

int main(int argc, char** argv) {
  if (getpid() == 1) guestMain();
  arca::agent::AgentOptions opts;
  std::string error;
  if (!parseFlags(std::vector<std::string>(argv + 1, argv + argc), &opts, &error)) {
    return fail(-1, error);
  }

  blockSignals();
  // The container's init is orphaned when `runc create` exits: adopt it.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return fail(opts.ready_fd, "PR_SET_CHILD_SUBREAPER");
  umask(022);

  auto supervisor = arca::agent::Supervisor::create(opts);
  if (!supervisor.ok()) return fail(opts.ready_fd, supervisor.status().message());

  unlink(opts.socket.c_str());  // a stale socket of a dead agent
  arca::agent::AgentService service(supervisor->get());
  std::unique_ptr<grpc::Server> server = buildServer(&service, opts.socket);
  if (!server) return fail(opts.ready_fd, "cannot serve on " + opts.socket);
  chmod(opts.socket.c_str(), 0600);

  FILE* pidf = fopen((opts.bundle + "/agent.pid").c_str(), "we");
  if (pidf) {
    fprintf(pidf, "%d\n", getpid());
    fclose(pidf);
  }
  reportReady(opts.ready_fd, "ok");

  (*supervisor)->run();

  // In-flight handlers (the Shutdown reply among them) finish; waits are cancelled.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server.reset();
  unlink(opts.socket.c_str());
  unlink((opts.bundle + "/agent.pid").c_str());
  return 0;
}
