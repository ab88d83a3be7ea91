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
#include <cstring>
#include <string>

#include "runtime/agent/agent_service.h"
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

}  // namespace

int main(int argc, char** argv) {
  arca::agent::AgentOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return fail(-1, "missing value for " + a);
    std::string v = argv[++i];
    if (a == "--id") {
      opts.id = v;
    } else if (a == "--bundle") {
      opts.bundle = v;
    } else if (a == "--socket") {
      opts.socket = v;
    } else if (a == "--log") {
      opts.log_path = v;
    } else if (a == "--runtime") {
      opts.runtime = v;
    } else if (a == "--runtime-path") {
      opts.runtime_path = v;
    } else if (a == "--runtime-root") {
      opts.runtime_root = v;
    } else if (a == "--log-max-size") {
      opts.log_max_size = atoll(v.c_str());
    } else if (a == "--log-max-files") {
      opts.log_max_files = atoi(v.c_str());
    } else if (a == "--ready-fd") {
      opts.ready_fd = atoi(v.c_str());
    } else {
      return fail(-1, "unknown flag " + a);
    }
  }

  // Before any thread exists: SIGCHLD is consumed through a signalfd only.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  // The container's init is orphaned when `runc create` exits: adopt it.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return fail(opts.ready_fd, "PR_SET_CHILD_SUBREAPER");
  umask(022);

  auto supervisor = arca::agent::Supervisor::create(opts);
  if (!supervisor.ok()) return fail(opts.ready_fd, supervisor.status().message());

  unlink(opts.socket.c_str());  // a stale socket of a dead agent
  arca::agent::AgentService service(supervisor->get());
  grpc::ServerBuilder builder;
  grpc::ResourceQuota quota("arca-agent");
  quota.SetMaxThreads(4);
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 1);
  builder.AddListeningPort("unix:" + opts.socket, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
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
