// gRPC face of the agent: maps arca.agent.v1.Agent onto the Supervisor.
// Start, Signal, Status, Shutdown, Exec and Resize are short synchronous
// handlers on the sync server's threads (bounded by a ResourceQuota). Wait,
// ExecWait and Attach are callback methods: a pending wait or an attached
// stream holds no thread, so any number of them (a restarted arcad's among a
// dead one's) cannot starve the control calls.
#pragma once

#include "runtime/agent.grpc.pb.h"
#include "runtime/agent/supervisor.h"

namespace arca::agent {

class AgentService final
    : public v1::Agent::WithCallbackMethod_ExecWait<
          v1::Agent::WithCallbackMethod_Attach<v1::Agent::WithCallbackMethod_Wait<v1::Agent::Service>>> {
 public:
  explicit AgentService(Supervisor* supervisor) : supervisor_(supervisor) {}

  grpc::Status Start(grpc::ServerContext* ctx, const v1::StartRequest* req,
                     v1::StartResponse* resp) override;
  grpc::Status Signal(grpc::ServerContext* ctx, const v1::SignalRequest* req,
                      v1::SignalResponse* resp) override;
  grpc::ServerUnaryReactor* Wait(grpc::CallbackServerContext* ctx, const v1::WaitRequest* req,
                                 v1::WaitResponse* resp) override;
  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override;
  grpc::Status Shutdown(grpc::ServerContext* ctx, const v1::ShutdownRequest* req,
                        v1::ShutdownResponse* resp) override;
  grpc::Status Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req,
                    v1::ExecResponse* resp) override;
  grpc::ServerBidiReactor<v1::AttachRequest, v1::AttachResponse>* Attach(
      grpc::CallbackServerContext* ctx) override;
  grpc::Status Resize(grpc::ServerContext* ctx, const v1::ResizeRequest* req,
                      v1::ResizeResponse* resp) override;
  grpc::ServerUnaryReactor* ExecWait(grpc::CallbackServerContext* ctx,
                                     const v1::ExecWaitRequest* req,
                                     v1::ExecWaitResponse* resp) override;
  grpc::Status Update(grpc::ServerContext* ctx, const v1::UpdateRequest* req,
                      v1::UpdateResponse* resp) override;
  // issue #4: stats, top, pause (cgroup_ops.h)
  grpc::Status ConfigureInterface(grpc::ServerContext* ctx, const v1::ConfigureInterfaceRequest* req,
                                  v1::ConfigureInterfaceResponse* resp) override;
  grpc::Status SetTime(grpc::ServerContext* ctx, const v1::SetTimeRequest* req,
                       v1::SetTimeResponse* resp) override;
  grpc::Status Stats(grpc::ServerContext* ctx, const v1::StatsRequest* req,
                     v1::StatsResponse* resp) override;
  grpc::Status Top(grpc::ServerContext* ctx, const v1::TopRequest* req,
                   v1::TopResponse* resp) override;
  grpc::Status Pause(grpc::ServerContext* ctx, const v1::PauseRequest* req,
                     v1::PauseResponse* resp) override;
  grpc::Status Resume(grpc::ServerContext* ctx, const v1::ResumeRequest* req,
                      v1::ResumeResponse* resp) override;

 private:
  Supervisor* supervisor_;  // not owned; outlives the server
};

}  // namespace arca::agent
