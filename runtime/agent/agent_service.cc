#include "runtime/agent/agent_service.h"

#include "runtime/agent/cgroup_ops.h"
#include "runtime/agent/guest_init.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>

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
    case Code::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
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

grpc::Status AgentService::Start(grpc::ServerContext*, const v1::StartRequest* req,
                                 v1::StartResponse* resp) {
  auto pid = supervisor_->start(req->open_stdin(), req->width(), req->height());
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

namespace {

ExecOptions execOptions(const v1::ExecSpec& s) {
  ExecOptions o;
  o.args.assign(s.args().begin(), s.args().end());
  o.env.assign(s.env().begin(), s.env().end());
  o.cwd = s.cwd();
  o.user = s.user();
  o.tty = s.tty();
  o.open_stdin = s.open_stdin();
  o.privileged = s.privileged();
  o.width = s.width();
  o.height = s.height();
  return o;
}

// One Attach stream. The supervisor's loop pushes output through the
// OutputSink face (AttachSink, shared so that it may outlive the reactor);
// gRPC drives reads and writes one at a time. Finish() runs exactly once.
class AttachReactor;

class AttachSink final : public OutputSink {
 public:
  AttachSink(Supervisor* sup, AttachReactor* r) : sup_(sup), reactor_(r) {}
  void output(int stream, std::string_view data) override;
  void exited(int exit_code) override;
  size_t backlog() const override {
    std::lock_guard<std::recursive_mutex> lk(mu_);
    return queued_bytes_;
  }

  // Reactor side.
  void push(v1::AttachResponse resp, bool last);
  void onWriteDone(bool ok);
  void finish(const grpc::Status& st);  // ends the stream after what is queued
  void resumeRead();
  void reactorGone() {
    std::lock_guard<std::recursive_mutex> lk(mu_);
    reactor_ = nullptr;
  }

 private:
  void startNextLocked();

  Supervisor* sup_;
  mutable std::recursive_mutex mu_;
  AttachReactor* reactor_;
  std::deque<v1::AttachResponse> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status final_;
};

class AttachReactor final : public grpc::ServerBidiReactor<v1::AttachRequest, v1::AttachResponse> {
 public:
  explicit AttachReactor(Supervisor* sup) : sup_(sup) {
    sink_ = std::make_shared<AttachSink>(sup, this);
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed or went away: detach, end after what is queued.
      if (opened_) sup_->detach(exec_id_, sink_.get());
      sink_->finish(opened_ ? grpc::Status::OK
                            : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no open message"));
      return;
    }
    if (!opened_) {
      if (!req_.has_open()) {
        sink_->finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "the first message must be open"));
        return;
      }
      const auto& o = req_.open();
      exec_id_ = o.exec_id();
      opened_ = true;
      // Queued before the sink can receive output: "opened" comes first.
      v1::AttachResponse first;
      first.set_opened_pid(0);
      sink_->push(first, false);
      if (o.has_start_exec()) {
        auto pid = sup_->exec(exec_id_, execOptions(o.start_exec()), sink_, o.stdout(), o.stderr());
        if (!pid.ok()) {
          sink_->finish(toGrpc(pid.status()));
          return;
        }
        // The pid follows (the exec may have printed already).
        v1::AttachResponse pid_msg;
        pid_msg.set_opened_pid(*pid);
        sink_->push(pid_msg, false);
      } else {
        auto st = sup_->attach(exec_id_, sink_, o.stdout(), o.stderr());
        if (!st.ok()) {
          sink_->finish(toGrpc(st));
          return;
        }
      }
      StartRead(&req_);
      return;
    }
    if (req_.has_stdin()) {
      size_t queued = sup_->writeStdin(exec_id_, req_.stdin());
      if (queued >= kStdinHighWater) {
        std::weak_ptr<AttachSink> weak = sink_;
        sup_->addStdinWaiter(exec_id_, [weak] {
          if (auto s = weak.lock()) s->resumeRead();
        });
        return;
      }
    } else if (req_.close_stdin()) {
      sup_->closeStdin(exec_id_);
    }
    StartRead(&req_);
  }

  void OnWriteDone(bool ok) override { sink_->onWriteDone(ok); }
  void readNext() { StartRead(&req_); }

  void OnCancel() override {
    if (opened_) sup_->detach(exec_id_, sink_.get());
    sink_->finish(grpc::Status(grpc::StatusCode::CANCELLED, "attach cancelled"));
  }

  void OnDone() override {
    sink_->reactorGone();
    if (opened_) sup_->detach(exec_id_, sink_.get());
    delete this;
  }

 private:
  Supervisor* sup_;
  std::shared_ptr<AttachSink> sink_;
  v1::AttachRequest req_;
  bool opened_ = false;
  std::string exec_id_;
};

void AttachSink::resumeRead() {
  std::lock_guard<std::recursive_mutex> lk(mu_);
  if (reactor_ != nullptr && !finished_) reactor_->readNext();
}

void AttachSink::output(int stream, std::string_view data) {
  v1::AttachResponse r;
  r.mutable_output()->set_stream(stream);
  r.mutable_output()->set_data(data.data(), data.size());
  push(std::move(r), false);
}

void AttachSink::exited(int exit_code) {
  v1::AttachResponse r;
  r.mutable_exit()->set_exit_code(exit_code);
  push(std::move(r), true);
}

void AttachSink::push(v1::AttachResponse resp, bool last) {
  std::lock_guard<std::recursive_mutex> lk(mu_);
  if (finishing_ || reactor_ == nullptr) return;
  queued_bytes_ += resp.output().data().size();
  queue_.push_back(std::move(resp));
  if (last) {
    finishing_ = true;
    final_ = grpc::Status::OK;
  }
  startNextLocked();
}

void AttachSink::startNextLocked() {
  if (writing_ || reactor_ == nullptr || finished_) return;
  if (queue_.empty()) {
    if (finishing_) {
      finished_ = true;
      reactor_->Finish(final_);
    }
    return;
  }
  writing_ = true;
  reactor_->StartWrite(&queue_.front());
}

void AttachSink::onWriteDone(bool ok) {
  bool drained;
  {
    std::lock_guard<std::recursive_mutex> lk(mu_);
    writing_ = false;
    if (!queue_.empty()) {
      queued_bytes_ -= queue_.front().output().data().size();
      queue_.pop_front();
    }
    if (!ok) {
      // The client is gone: drop the rest.
      queue_.clear();
      queued_bytes_ = 0;
      finishing_ = true;
      final_ = grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
    }
    drained = queued_bytes_ < kSinkHighWater / 2;
    startNextLocked();
  }
  if (drained) sup_->wake();
}

void AttachSink::finish(const grpc::Status& st) {
  std::lock_guard<std::recursive_mutex> lk(mu_);
  if (finishing_) return;
  finishing_ = true;
  final_ = st;
  startNextLocked();
}

// One pending ExecWait.
class ExecWaitReactor final : public grpc::ServerUnaryReactor {
 public:
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status AgentService::Exec(grpc::ServerContext*, const v1::ExecRequest* req,
                                v1::ExecResponse* resp) {
  auto pid = supervisor_->exec(req->exec_id(), execOptions(req->spec()), nullptr, false, false);
  if (!pid.ok()) return toGrpc(pid.status());
  resp->set_pid(*pid);
  return grpc::Status::OK;
}

grpc::ServerBidiReactor<v1::AttachRequest, v1::AttachResponse>* AgentService::Attach(
    grpc::CallbackServerContext*) {
  return new AttachReactor(supervisor_);
}

grpc::Status AgentService::Resize(grpc::ServerContext*, const v1::ResizeRequest* req,
                                  v1::ResizeResponse*) {
  return toGrpc(supervisor_->resize(req->exec_id(), req->width(), req->height()));
}

grpc::ServerUnaryReactor* AgentService::ExecWait(grpc::CallbackServerContext*,
                                                 const v1::ExecWaitRequest* req,
                                                 v1::ExecWaitResponse* resp) {
  auto* reactor = new ExecWaitReactor();
  auto st = supervisor_->addExecWaiter(req->exec_id(), [reactor, resp](int code) {
    resp->set_exit_code(code);
    reactor->Finish(grpc::Status::OK);
  });
  if (!st.ok()) reactor->Finish(toGrpc(st));
  return reactor;
}

grpc::Status AgentService::Update(grpc::ServerContext*, const v1::UpdateRequest* req,
                                  v1::UpdateResponse*) {
  if (req->resources_json().empty() || req->resources_json().size() > (1 << 20)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid resources");
  }
  return toGrpc(supervisor_->update(req->resources_json()));
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

grpc::Status AgentService::ConfigureInterface(grpc::ServerContext*,
                                              const v1::ConfigureInterfaceRequest* req,
                                              v1::ConfigureInterfaceResponse*) {
  if (getpid() != 1) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "only a VM guest's agent configures NICs");
  }
  return toGrpc(configureGuestInterface(req->mac(), req->new_mac(), req->ipv4_cidr(), req->gateway(),
                                        req->default_route()));
}

grpc::Status AgentService::SetTime(grpc::ServerContext*, const v1::SetTimeRequest* req,
                                   v1::SetTimeResponse*) {
  if (getpid() != 1) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "only a VM guest's agent sets its clock");
  }
  timespec t{static_cast<time_t>(req->unix_ns() / 1000000000), static_cast<long>(req->unix_ns() % 1000000000)};
  if (clock_settime(CLOCK_REALTIME, &t) != 0) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string("clock_settime: ") + strerror(errno));
  }
  return grpc::Status::OK;
}

}  // namespace arca::agent
