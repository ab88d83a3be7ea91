#include "runtime/agent/agent_service.h"

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

grpc::Status AgentService::Update(grpc::ServerContext*, const v1::UpdateRequest* req,
                                  v1::UpdateResponse*) {
  if (req->resources_json().empty() || req->resources_json().size() > (1 << 20)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid resources");
  }
  return toGrpc(supervisor_->update(req->resources_json()));
}

}  // namespace arca::agent
