// The namespace sandbox end to end: NamespaceDriver + arca-agent + runc on a
// busybox root filesystem the test builds itself. Needs root and runc; skips
// with a printed reason otherwise. Every test removes its containers, mounts
// and files.
#include "runtime/namespace/namespace_driver.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "runtime/agent.grpc.pb.h"

namespace arca::runtime {
namespace {

namespace fs = std::filesystem;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string randomId() {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 64; ++i) id += hex[rng() % 16];
  return id;
}

bool onPath(const std::string& name) {
  std::stringstream dirs(getenv("PATH") ? getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    if (!d.empty() && access((d + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string agentPath() {
  if (const char* env = getenv("ARCA_AGENT")) return env;
  return (fs::read_symlink("/proc/self/exe").parent_path() / "arca-agent").string();
}

// Alive and not a zombie (dead processes re-parented to init linger until it reaps them).
bool processAlive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// Mount points under `prefix` in this (the host's) mount namespace, but the
// driver's own private-roots directory (<exec-root>/m, a mount for its life).
std::vector<std::string> mountsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(readFile("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string a, b, c, d, mnt;
    f >> a >> b >> c >> d >> mnt;
    bool private_roots = mnt.size() >= 6 && mnt.compare(mnt.size() - 6, 6, "/run/m") == 0;
    if (mnt.rfind(prefix, 0) == 0 && !private_roots) out.push_back(mnt);
  }
  return out;
}

struct LogEntry {
  std::string log, stream, time;
};

std::vector<LogEntry> readLog(const std::string& path) {
  std::vector<LogEntry> out;
  std::istringstream in(readFile(path));
  std::string line;
  while (std::getline(in, line)) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    EXPECT_FALSE(doc.HasParseError()) << line;
    if (doc.HasParseError() || !doc.IsObject()) continue;
    EXPECT_EQ(doc.MemberCount(), 3u) << line;
    LogEntry e;
    e.log = doc["log"].GetString();
    e.stream = doc["stream"].GetString();
    e.time = doc["time"].GetString();
    out.push_back(e);
  }
  return out;
}

std::string stdoutOf(const std::vector<LogEntry>& entries) {
  std::string s;
  for (const auto& e : entries) {
    if (e.stream == "stdout") s += e.log;
  }
  return s;
}

class NamespaceDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_reason_ = "needs root (mounts overlayfs, runs runc)";
    } else if (!onPath("runc")) {
      skip_reason_ = "runc is not installed";
    } else if (access("/bin/busybox", X_OK) != 0) {
      skip_reason_ = "busybox-static (/bin/busybox) is not installed";
    } else if (access(agentPath().c_str(), X_OK) != 0) {
      skip_reason_ = "arca-agent not built at " + agentPath() + " (build target arca-agent)";
    }
    if (!skip_reason_.empty()) return;
    char tmpl[] = "/tmp/arca-nsroot-XXXXXX";
    rootfs_ = mkdtemp(tmpl);
    for (const char* d : {"bin", "etc", "tmp", "proc", "sys", "dev", "root", "home"}) {
      fs::create_directories(rootfs_ + "/" + d);
    }
    fs::copy_file("/bin/busybox", rootfs_ + "/bin/busybox");
    for (const char* a : {"sh", "echo", "sleep", "cat", "id", "hostname", "ls", "printf", "head",
                          "tr", "touch", "true", "env", "pwd", "wc"}) {
      fs::create_symlink("busybox", rootfs_ + "/bin/" + a);
    }
    std::ofstream(rootfs_ + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                              "nobody:x:65534:65534:nobody:/home:/bin/false\n";
    std::ofstream(rootfs_ + "/etc/group") << "root:x:0:\nstaff:x:50:nobody\nnogroup:x:65534:\n";
    // Not executable: PATH lookup must skip it.
    std::ofstream(rootfs_ + "/bin/notexec") << "#!/bin/sh\n";
  }

  static void TearDownTestSuite() {
    if (!rootfs_.empty()) fs::remove_all(rootfs_);
  }

  void SetUp() override {
    if (!skip_reason_.empty()) {
      std::cout << "[  SKIPPED ] " << skip_reason_ << "\n";
      GTEST_SKIP() << skip_reason_;
    }
    char tmpl[] = "/tmp/arca-ns-XXXXXX";
    tmp_ = mkdtemp(tmpl);
    fs::create_directories(tmp_ + "/logs");
    options_.exec_root = tmp_ + "/run";
    options_.containers_dir = tmp_ + "/containers";
    options_.agent_path = agentPath();
    // ARCA_TEST_OCI_RUNTIME=crun runs the suite against crun.
    if (const char* rt = getenv("ARCA_TEST_OCI_RUNTIME")) options_.oci_runtime = rt;
    auto d = NamespaceDriver::create(options_);
    ASSERT_TRUE(d.ok()) << d.status().toString();
    driver_ = std::move(d).value();
  }

  void TearDown() override {
    if (tmp_.empty()) return;
    if (!driver_) {
      auto d = NamespaceDriver::create(options_);
      if (d.ok()) driver_ = std::move(d).value();
    }
    for (const auto& id : ids_) {
      Status s = driver_->remove(id);
      EXPECT_TRUE(s.ok()) << s.toString();
    }
    driver_.reset();  // unmounts its private-roots directory
    auto left = mountsUnder(tmp_);
    EXPECT_TRUE(left.empty()) << "mounts left: " << left.front();
    if (left.empty()) fs::remove_all(tmp_);
  }

  SandboxSpec spec(std::vector<std::string> args) {
    SandboxSpec s;
    s.id = randomId();
    s.args = std::move(args);
    s.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    s.lower_dirs = {rootfs_};
    s.log_path = tmp_ + "/logs/" + s.id + "-json.log";
    s.hostname = "arcatest";
    ids_.push_back(s.id);
    return s;
  }

  // Starts, waits, returns the exit code; the log is at spec.log_path.
  int run(const SandboxSpec& s) {
    auto started = driver_->start(s);
    EXPECT_TRUE(started.ok()) << started.status().toString();
    if (!started.ok()) return -1;
    auto exited = driver_->wait(s.id);
    EXPECT_TRUE(exited.ok()) << exited.status().toString();
    return exited.ok() ? exited->exit_code : -1;
  }

  pid_t agentPidOf(const std::string& id) {
    return static_cast<pid_t>(atoi(readFile(driver_->bundleDir(id) + "/agent.pid").c_str()));
  }

  void killAgent(const std::string& id) {
    pid_t agent = agentPidOf(id);
    ASSERT_GT(agent, 0);
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, agent, 0));
    ASSERT_GE(pidfd, 0);
    ASSERT_EQ(kill(agent, SIGKILL), 0);
    // The agent is init's child now; wait until it is really gone.
    for (int i = 0; i < 500 && processAlive(agent); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    close(pidfd);
  }

  static std::string skip_reason_;
  static std::string rootfs_;
  std::string tmp_;
  NamespaceDriverOptions options_;
  std::unique_ptr<NamespaceDriver> driver_;
  std::vector<std::string> ids_;
};

std::string NamespaceDriverTest::skip_reason_;
std::string NamespaceDriverTest::rootfs_;

TEST_F(NamespaceDriverTest, ExitCodeAndJsonFileLog) {
  auto s = spec({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(run(s), 3);
  auto entries = readLog(s.log_path);
  ASSERT_EQ(entries.size(), 2u) << readFile(s.log_path);
  std::map<std::string, std::string> by_stream;
  for (const auto& e : entries) by_stream[e.stream] = e.log;
  EXPECT_EQ(by_stream["stdout"], "out\n");
  EXPECT_EQ(by_stream["stderr"], "err\n");
  std::regex rfc3339nano(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$)");
  for (const auto& e : entries) EXPECT_TRUE(std::regex_match(e.time, rfc3339nano)) << e.time;

  ProbeResult p = driver_->probe(s.id);
  EXPECT_EQ(p.phase, ProbeResult::Phase::kExited);
  EXPECT_EQ(p.exit.exit_code, 3);
  EXPECT_GT(p.exit.finished_ns, 0);
  // Wait again: still answers.
  auto again = driver_->wait(s.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 3);
}

TEST_F(NamespaceDriverTest, MissingExecutableFailsLikeDocker) {
  auto s = spec({"nope"});
  auto r = driver_->start(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "exec: \"nope\": executable file not found in $PATH");
  EXPECT_EQ(startFailureExitCode(r.status().message()), 127);
  // A file without an execute bit does not count (Go's exec.LookPath).
  auto s2 = spec({"notexec"});
  auto r2 = driver_->start(s2);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("executable file not found in $PATH"), std::string::npos);
  // Nothing left behind.
  EXPECT_TRUE(mountsUnder(tmp_).empty());
  EXPECT_FALSE(fs::exists(driver_->bundleDir(s.id)));
  EXPECT_FALSE(fs::exists(driver_->socketPath(s.id)));
}

TEST_F(NamespaceDriverTest, RuntimeFailureIsReportedWithExitCode) {
  // A path with '/' is left to runc: the agent reports runc's own error.
  auto s = spec({"/no/such/binary"});
  auto r = driver_->start(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("OCI runtime create failed"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("/no/such/binary"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(startFailureExitCode(r.status().message()), 127);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(mountsUnder(tmp_).empty());
  EXPECT_EQ(readFile(s.log_path), "");  // runc's complaint is not container output
}

TEST_F(NamespaceDriverTest, SignalKillGives128PlusSignal) {
  auto s = spec({"sleep", "100"});
  auto started = driver_->start(s);
  ASSERT_TRUE(started.ok()) << started.status().toString();
  EXPECT_GT(started->pid, 0);
  EXPECT_EQ(driver_->probe(s.id).phase, ProbeResult::Phase::kRunning);
  ASSERT_TRUE(driver_->signal(s.id, SIGKILL).ok());
  auto exited = driver_->wait(s.id);
  ASSERT_TRUE(exited.ok()) << exited.status().toString();
  EXPECT_EQ(exited->exit_code, 137);
  EXPECT_FALSE(processAlive(started->pid));
  // Signalling an exited container is a no-op.
  EXPECT_TRUE(driver_->signal(s.id, SIGTERM).ok());
}

TEST_F(NamespaceDriverTest, SignalTermReachesTheProcess) {
  // The container's process is PID 1 of its namespace: the kernel drops
  // signals it has no handler for (as in Docker, SIGTERM does not stop a bare
  // `sleep`). A shell that traps TERM sees it.
  auto s = spec({"sh", "-c", "trap 'echo got TERM; exit 143' TERM; echo ready; sleep 100 & wait"});
  auto started = driver_->start(s);
  ASSERT_TRUE(started.ok()) << started.status().toString();
  for (int i = 0; i < 200 && readFile(s.log_path).find("ready") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(driver_->signal(s.id, SIGTERM).ok());
  auto exited = driver_->wait(s.id);
  ASSERT_TRUE(exited.ok());
  EXPECT_EQ(exited->exit_code, 143);
  EXPECT_EQ(stdoutOf(readLog(s.log_path)), "ready\ngot TERM\n");
}

TEST_F(NamespaceDriverTest, AgentSurvivesDriverRestart) {
  auto s = spec({"sh", "-c", "echo before; sleep 100"});
  auto started = driver_->start(s);
  ASSERT_TRUE(started.ok()) << started.status().toString();
  pid_t agent = agentPidOf(s.id);
  driver_.reset();  // arcad goes away
  EXPECT_TRUE(processAlive(agent));
  auto d = NamespaceDriver::create(options_);
  ASSERT_TRUE(d.ok());
  driver_ = std::move(d).value();
  ProbeResult p = driver_->probe(s.id);
  EXPECT_EQ(p.phase, ProbeResult::Phase::kRunning);
  EXPECT_EQ(p.pid, started->pid);
  ASSERT_TRUE(driver_->signal(s.id, SIGKILL).ok());
  auto exited = driver_->wait(s.id);
  ASSERT_TRUE(exited.ok()) << exited.status().toString();
  EXPECT_EQ(exited->exit_code, 137);
  EXPECT_EQ(stdoutOf(readLog(s.log_path)), "before\n");
}

TEST_F(NamespaceDriverTest, ProbeAfterAgentKilledUsesExitRecord) {
  auto s = spec({"sh", "-c", "exit 5"});
  EXPECT_EQ(run(s), 5);
  killAgent(s.id);
  ProbeResult p = driver_->probe(s.id);
  EXPECT_EQ(p.phase, ProbeResult::Phase::kExited);
  EXPECT_EQ(p.exit.exit_code, 5);
  auto w = driver_->wait(s.id);
  ASSERT_TRUE(w.ok()) << w.status().toString();
  EXPECT_EQ(w->exit_code, 5);
}

TEST_F(NamespaceDriverTest, ProbeMissingWhenAgentDiedWithoutRecord) {
  auto s = spec({"sleep", "100"});
  auto started = driver_->start(s);
  ASSERT_TRUE(started.ok()) << started.status().toString();
  killAgent(s.id);
  EXPECT_EQ(driver_->probe(s.id).phase, ProbeResult::Phase::kMissing);
  EXPECT_FALSE(driver_->wait(s.id).ok());
  // cleanup still tears the orphaned container down (runc delete -f).
  ASSERT_TRUE(driver_->cleanup(s.id).ok());
  for (int i = 0; i < 200 && processAlive(started->pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(processAlive(started->pid));
}

TEST_F(NamespaceDriverTest, UserResolution) {
  auto s = spec({"sh", "-c", "id -u; id -g; id -G"});
  s.user = "nobody";
  EXPECT_EQ(run(s), 0);
  EXPECT_EQ(stdoutOf(readLog(s.log_path)), "65534\n65534\n65534 50\n");

  auto n = spec({"sh", "-c", "id -u; id -g"});
  n.user = "1234:4321";
  EXPECT_EQ(run(n), 0);
  EXPECT_EQ(stdoutOf(readLog(n.log_path)), "1234\n4321\n");

  auto bad = spec({"true"});
  bad.user = "nope";
  auto r = driver_->start(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unable to find user nope: no matching entries in passwd file");
  EXPECT_TRUE(mountsUnder(driver_->bundleDir(bad.id)).empty());
  EXPECT_FALSE(fs::exists(driver_->bundleDir(bad.id)));
}

TEST_F(NamespaceDriverTest, CleanupUnmountsAndKeepsWritableLayer) {
  auto s = spec({"sh", "-c", "echo kept > /persist"});
  EXPECT_EQ(run(s), 0);
  EXPECT_FALSE(mountsUnder(driver_->bundleDir(s.id)).empty());
  ASSERT_TRUE(driver_->cleanup(s.id).ok());
  EXPECT_TRUE(mountsUnder(tmp_).empty());
  EXPECT_FALSE(fs::exists(driver_->bundleDir(s.id)));
  EXPECT_TRUE(fs::exists(driver_->layerDir(s.id) + "/upper/persist"));
  EXPECT_FALSE(fs::exists(rootfs_ + "/persist"));  // the image layer is untouched
  ASSERT_TRUE(driver_->cleanup(s.id).ok());        // idempotent

  // docker start again: same writable layer.
  SandboxSpec again = s;
  again.args = {"cat", "/persist"};
  again.log_path = tmp_ + "/logs/again.log";
  EXPECT_EQ(run(again), 0);
  EXPECT_EQ(stdoutOf(readLog(again.log_path)), "kept\n");

  ASSERT_TRUE(driver_->remove(s.id).ok());
  EXPECT_FALSE(fs::exists(driver_->layerDir(s.id)));
  EXPECT_TRUE(mountsUnder(tmp_).empty());
}

TEST_F(NamespaceDriverTest, HostnameAndEtcFiles) {
  auto s = spec({"sh", "-c", "hostname; cat /etc/hostname; cat /etc/hosts; echo $HOSTNAME"});
  EXPECT_EQ(run(s), 0);
  std::string out = stdoutOf(readLog(s.log_path));
  EXPECT_EQ(out.substr(0, out.find('\n')), "arcatest");
  EXPECT_NE(out.find("arcatest\narcatest\n127.0.0.1\tlocalhost\n"), std::string::npos) << out;
  EXPECT_NE(out.find("127.0.0.1\tarcatest\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.rfind('\n', out.size() - 2) + 1), "arcatest\n");
}

TEST_F(NamespaceDriverTest, NetworkNoneHasOnlyLoopback) {
  auto s = spec({"sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/operstate"});
  EXPECT_EQ(run(s), 0);
  std::string out = stdoutOf(readLog(s.log_path));
  EXPECT_EQ(out.substr(0, out.find('\n')), "lo");
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
}

TEST_F(NamespaceDriverTest, ReadonlyRootfsAndDefaults) {
  auto s = spec({"sh", "-c", "touch /x || echo ro; touch /tmp/y 2>/dev/null || echo rotmp; pwd"});
  s.readonly_rootfs = true;
  s.cwd = "/tmp";
  EXPECT_EQ(run(s), 0);
  EXPECT_EQ(stdoutOf(readLog(s.log_path)), "ro\nrotmp\n/tmp\n");
}

TEST_F(NamespaceDriverTest, PartialAndLongLines) {
  auto s = spec({"sh", "-c", "head -c 20000 /dev/zero | tr '\\0' a; echo; printf 'no newline'"});
  EXPECT_EQ(run(s), 0);
  auto entries = readLog(s.log_path);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].log, std::string(16384, 'a'));
  EXPECT_EQ(entries[1].log, std::string(20000 - 16384, 'a') + "\n");
  EXPECT_EQ(entries[0].time, entries[1].time);  // pieces of one line share its time
  EXPECT_EQ(entries[2].log, "no newline");
}

TEST_F(NamespaceDriverTest, ConflictWhileRunning) {
  auto s = spec({"sleep", "100"});
  ASSERT_TRUE(driver_->start(s).ok());
  auto again = driver_->start(s);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kConflict);
  EXPECT_TRUE(driver_->signal(s.id, SIGKILL).ok());
  EXPECT_TRUE(driver_->wait(s.id).ok());
}

TEST_F(NamespaceDriverTest, ManyWaitersDoNotStarveControlCalls) {
  auto s = spec({"sleep", "100"});
  ASSERT_TRUE(driver_->start(s).ok());
  std::vector<std::thread> waiters;
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) {
    waiters.emplace_back([&] {
      auto r = driver_->wait(s.id);
      if (r.ok() && r->exit_code == 137) ++done;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(driver_->probe(s.id).phase, ProbeResult::Phase::kRunning);
  EXPECT_TRUE(driver_->signal(s.id, SIGKILL).ok());
  for (auto& t : waiters) t.join();
  EXPECT_EQ(done.load(), 6);
}

TEST_F(NamespaceDriverTest, AbandonedWaitsAreDropped) {
  auto s = spec({"sleep", "100"});
  ASSERT_TRUE(driver_->start(s).ok());
  // Clients that give up (or die) while waiting: the agent unregisters them.
  for (int i = 0; i < 20; ++i) {
    auto stub = agent::v1::Agent::NewStub(grpc::CreateChannel("unix:" + driver_->socketPath(s.id),
                                                              grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
    agent::v1::WaitRequest req;
    agent::v1::WaitResponse resp;
    EXPECT_EQ(stub->Wait(&ctx, req, &resp).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  EXPECT_EQ(driver_->probe(s.id).phase, ProbeResult::Phase::kRunning);
  EXPECT_TRUE(driver_->signal(s.id, SIGKILL).ok());
  auto w = driver_->wait(s.id);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->exit_code, 137);
}

TEST_F(NamespaceDriverTest, UnknownSandbox) {
  std::string id = randomId();
  EXPECT_EQ(driver_->probe(id).phase, ProbeResult::Phase::kMissing);
  EXPECT_EQ(driver_->signal(id, SIGTERM).code(), Code::kNotFound);
  EXPECT_EQ(driver_->wait(id).status().code(), Code::kNotFound);
  EXPECT_TRUE(driver_->cleanup(id).ok());
  EXPECT_TRUE(driver_->remove(id).ok());
}

TEST(NamespaceDriverCreate, RejectsTooLongExecRoot) {
  NamespaceDriverOptions o;
  o.exec_root = "/tmp/" + std::string(100, 'x');
  o.containers_dir = "/tmp/arca-unused-containers";
  o.agent_path = "/bin/true";
  auto d = NamespaceDriver::create(o);
  if (!onPath("runc")) GTEST_SKIP() << "runc is not installed";
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("too long"), std::string::npos) << d.status().message();
  fs::remove_all(o.exec_root);
  fs::remove_all(o.containers_dir);
}

}  // namespace
}  // namespace arca::runtime
