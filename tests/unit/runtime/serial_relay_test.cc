// The VM guest's serial relay (issue #8): gRPC served over a byte stream
// that is not a socket the server owns. A socketpair stands in for the
// virtio-serial port: one end is the relay's "port", the other the host.
#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "runtime/agent.grpc.pb.h"
#include "runtime/agent/guest_init.h"

namespace arca::agent {
namespace {

namespace v1 = arca::agent::v1;

class FakeAgent : public v1::Agent::Service {
  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse* r) override {
    r->set_pid(4242);
    return grpc::Status::OK;
  }
};

struct Relay {
  FakeAgent service;
  std::unique_ptr<grpc::Server> server;
  int port[2] = {-1, -1};  // [0]: the relay's port, [1]: the host side
  std::unique_ptr<SerialRelay> relay;
  std::thread thread;

  Relay() {
    grpc::ServerBuilder b;
    b.RegisterService(&service);
    server = b.BuildAndStart();
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, port), 0);
    fcntl(port[0], F_SETFL, O_NONBLOCK);
    relay = std::make_unique<SerialRelay>(port[0], server.get());
    thread = std::thread([this] { relay->run(); });
  }
  ~Relay() {
    relay->stop();
    thread.join();
    server->Shutdown(std::chrono::system_clock::now());
    close(port[0]);
    if (port[1] >= 0) close(port[1]);
  }
};

int32_t statusPid(std::shared_ptr<grpc::Channel> ch) {
  auto stub = v1::Agent::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::StatusResponse r;
  grpc::Status st = stub->Status(&ctx, v1::StatusRequest(), &r);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return r.pid();
}

TEST(SerialRelayTest, ServesCallsOverThePort) {
  Relay r;
  auto ch = grpc::CreateCustomInsecureChannelFromFd("host", r.port[1], grpc::ChannelArguments());
  r.port[1] = -1;  // the channel owns it
  EXPECT_EQ(statusPid(ch), 4242);
  EXPECT_EQ(statusPid(ch), 4242);  // the same connection, again
}

TEST(SerialRelayTest, DropsBytesBeforeAHostsPreface) {
  // What a departed host left in the port (the tail of its last frames)
  // must not reach the next host's transport.
  Relay r;
  const char junk[] = "\x00\x00\x04\x08\x00\x00\x00\x00\x00stale-bytes";
  ASSERT_EQ(write(r.port[1], junk, sizeof junk - 1), static_cast<ssize_t>(sizeof junk - 1));
  usleep(50000);
  auto ch = grpc::CreateCustomInsecureChannelFromFd("host", r.port[1], grpc::ChannelArguments());
  r.port[1] = -1;
  EXPECT_EQ(statusPid(ch), 4242);
}

}  // namespace
}  // namespace arca::agent
