#include "runtime/agent/agent_service.h"

#include "runtime/agent/cgroup_ops.h"

namespace arca::agent {
namespace {

grpc::Status toGrpc(const arca::Status& s) {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case Code::kOk:
      return grpc::Status::OK;
    case Code::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case Code::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case Code::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case Code::kCanceled:
      code = grpc::StatusCode::CANCELLED;
      break;
    case Code::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    // Runtime failures travel as UNKNOWN, like containerd: the text is what matters.
    default:
      code = grpc::StatusCode::UNKNOWN;
      break;
  }
  return grpc::Status(code, s.message());
}

}  // namespace

grpc::Status AgentService::Start(grpc::ServerContext*, const v1::StartRequest*,
                                 v1::StartResponse* resp) {
  auto pid = supervisor_->start();
  if (!pid.ok()) return toGrpc(pid.status());
  resp->set_pid(*pid);
  return grpc::Status::OK;
}

grpc::Status AgentService::Signal(grpc::ServerContext*, const v1::SignalRequest* req,
                                  v1::SignalResponse*) {
  if (req->signal() <= 0 || req->signal() >= 65) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid signal");
  }
  return toGrpc(supervisor_->signal(req->signal()));
}

// One pending Wait. Finished exactly once: by the supervisor's callback, or
// by OnCancel when it wins the race to unregister the waiter.
class WaitReactor final : public grpc::ServerUnaryReactor {
 public:
  WaitReactor(Supervisor* supervisor, v1::WaitResponse* resp)
      : supervisor_(supervisor), resp_(resp) {}

  void begin() {
    token_ = supervisor_->addWaiter(
        [this](const arca::Status& st, const Snapshot& s) { complete(st, s); });
  }

  void OnCancel() override {
    if (token_ != 0 && supervisor_->cancelWaiter(token_)) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "wait cancelled"));
    }
  }

  void OnDone() override { delete this; }

 private:
  void complete(const arca::Status& st, const Snapshot& s) {
    if (st.ok()) {
      resp_->set_exit_code(s.exit_code);
      resp_->set_oom_killed(s.oom_killed);
      resp_->set_finished_ns(s.finished_ns);
    }
    Finish(toGrpc(st));  // may run OnDone (delete this): nothing after it
  }

  Supervisor* supervisor_;
  v1::WaitResponse* resp_;
  uint64_t token_ = 0;
};

grpc::ServerUnaryReactor* AgentService::Wait(grpc::CallbackServerContext*, const v1::WaitRequest*,
                                             v1::WaitResponse* resp) {
  auto* reactor = new WaitReactor(supervisor_, resp);
  reactor->begin();
  return reactor;
}

grpc::Status AgentService::Status(grpc::ServerContext*, const v1::StatusRequest*,
                                  v1::StatusResponse* resp) {
  Snapshot s = supervisor_->snapshot();
  switch (s.phase) {
    case Phase::kCreated:
      resp->set_phase(v1::StatusResponse::CREATED);
      break;
    case Phase::kStarting:
    case Phase::kRunning:
      resp->set_phase(v1::StatusResponse::RUNNING);
      break;
    case Phase::kExited:
      resp->set_phase(v1::StatusResponse::EXITED);
      break;
    case Phase::kFailed:
      resp->set_phase(v1::StatusResponse::FAILED);
      break;
  }
  resp->set_pid(s.pid);
  resp->set_exit_code(s.exit_code);
  resp->set_error(s.error);
  resp->set_finished_ns(s.finished_ns);
  return grpc::Status::OK;
}

grpc::Status AgentService::Shutdown(grpc::ServerContext*, const v1::ShutdownRequest*,
                                    v1::ShutdownResponse*) {
  supervisor_->shutdown();
  return grpc::Status::OK;
}

// --- issue #4: stats, top, pause ---------------------------------------------

namespace {
constexpr const char* kCgroupRoot = "/sys/fs/cgroup";
}  // namespace

grpc::Status AgentService::Stats(grpc::ServerContext*, const v1::StatsRequest*,
                                 v1::StatsResponse* resp) {
  auto target = supervisor_->liveTarget();
  if (!target.ok()) return grpc::Status::OK;  // running = false: Docker's empty stats
  readStats(kCgroupRoot, target->cgroups_path, target->init_pid, resp);
  return grpc::Status::OK;
}

grpc::Status AgentService::Top(grpc::ServerContext*, const v1::TopRequest* req,
                               v1::TopResponse* resp) {
  auto target = supervisor_->liveTarget();
  if (!target.ok()) return toGrpc(target.status());
  std::vector<int> pids = cgroupPids(kCgroupRoot, target->cgroups_path);
  std::vector<std::string> argv = psArgv(req->ps_args(), pids);
  argv.insert(argv.begin(), "ps");
  std::string out, err;
  int code = 0;
  if (auto st = supervisor_->capture(argv, &out, &err, &code); !st.ok()) return toGrpc(st);
  if (code != 0) {
    // As dockerd: some ps options (f) do not combine with -q; retry without it.
    argv.pop_back();
    out.clear();
    err.clear();
    if (auto st = supervisor_->capture(argv, &out, &err, &code); !st.ok()) return toGrpc(st);
    if (code != 0) return grpc::Status(grpc::StatusCode::UNKNOWN, psError(err, code));
  }
  auto parsed = parsePsOutput(out, pids);
  if (!parsed.ok()) return grpc::Status(grpc::StatusCode::UNKNOWN, parsed.status().message());
  *resp = std::move(*parsed);
  return grpc::Status::OK;
}

grpc::Status AgentService::Pause(grpc::ServerContext*, const v1::PauseRequest*,
                                 v1::PauseResponse*) {
  return toGrpc(supervisor_->pause());
}

grpc::Status AgentService::Resume(grpc::ServerContext*, const v1::ResumeRequest*,
                                  v1::ResumeResponse*) {
  return toGrpc(supervisor_->resume());
}

}  // namespace arca::agent
