// gRPC face of the agent: maps arca.agent.v1.Agent onto the Supervisor.
// Handlers run on the sync server's threads (bounded by a ResourceQuota).
#pragma once

#include "runtime/agent.grpc.pb.h"
#include "runtime/agent/supervisor.h"

namespace arca::agent {

class AgentService final : public arca::agent::v1::Agent::Service {
 public:
  explicit AgentService(Supervisor* supervisor) : supervisor_(supervisor) {}

  grpc::Status Start(grpc::ServerContext* ctx, const v1::StartRequest* req,
                     v1::StartResponse* resp) override;
  grpc::Status Signal(grpc::ServerContext* ctx, const v1::SignalRequest* req,
                      v1::SignalResponse* resp) override;
  grpc::Status Wait(grpc::ServerContext* ctx, const v1::WaitRequest* req,
                    v1::WaitResponse* resp) override;
  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override;
  grpc::Status Shutdown(grpc::ServerContext* ctx, const v1::ShutdownRequest* req,
                        v1::ShutdownResponse* resp) override;

 private:
  Supervisor* supervisor_;  // not owned; outlives the server
};

}  // namespace arca::agent
