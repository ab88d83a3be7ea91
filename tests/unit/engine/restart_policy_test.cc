// Restart policies: Docker's validation, back-off schedule, the decisions and
// how the reducers fold them (lifecycle).
#include "engine/restart_policy.h"

#include <gtest/gtest.h>

#include <csignal>

#include "engine/commands.h"
#include "engine/log_options.h"
#include "reducers/reduce.h"

namespace arca {
namespace {

constexpr int64_t kSec = 1000000000;

v1::HostConfig policy(const std::string& name, int max = 0, bool auto_remove = false) {
  v1::HostConfig h;
  h.mutable_restart_policy()->set_name(name);
  h.mutable_restart_policy()->set_maximum_retry_count(max);
  h.set_auto_remove(auto_remove);
  return h;
}

TEST(RestartPolicy, ValidationUsesDockersTexts) {
  EXPECT_TRUE(engine::validateRestartPolicy(policy("")).ok());
  EXPECT_TRUE(engine::validateRestartPolicy(policy("", 5)).ok());  // old clients
  EXPECT_TRUE(engine::validateRestartPolicy(policy("no")).ok());
  EXPECT_TRUE(engine::validateRestartPolicy(policy("always")).ok());
  EXPECT_TRUE(engine::validateRestartPolicy(policy("on-failure", 3)).ok());
  EXPECT_EQ(engine::validateRestartPolicy(policy("on-failure", -1)).message(),
            "invalid restart policy: maximum retry count cannot be negative");
  EXPECT_EQ(engine::validateRestartPolicy(policy("always", 3)).message(),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'");
  EXPECT_EQ(engine::validateRestartPolicy(policy("unless-stopped", -2)).message(),
            "invalid restart policy: maximum retry count can only be used with 'on-failure' and "
            "cannot be negative");
  EXPECT_EQ(engine::validateRestartPolicy(policy("bogus")).message(),
            "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'");
  Status ar = engine::validateRestartPolicy(policy("always", 0, true));
  EXPECT_EQ(ar.code(), Code::kInvalidArgument);
  EXPECT_EQ(ar.message(), "can't create 'AutoRemove' container with restart policy");
  EXPECT_TRUE(engine::validateRestartPolicy(policy("no", 0, true)).ok());
}

TEST(RestartPolicy, BackOffDoublesFrom100msUpToAMinuteAndResetsAfter10s) {
  uint64_t d = 0;
  std::vector<uint64_t> seen;
  for (int i = 0; i < 12; ++i) {
    d = engine::nextRestartDelayMs(d, kSec);
    seen.push_back(d);
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600,
                                         51200, 60000, 60000}));
  EXPECT_EQ(engine::nextRestartDelayMs(60000, 10 * kSec), 100u);
  EXPECT_EQ(engine::nextRestartDelayMs(800, 10 * kSec - 1), 1600u);
}

TEST(RestartPolicy, WhoRestarts) {
  auto p = [](const std::string& n, int max = 0) { return policy(n, max).restart_policy(); };
  EXPECT_FALSE(engine::policyRestarts(p("no"), 1, false, 0));
  EXPECT_FALSE(engine::policyRestarts(p(""), 1, false, 0));
  EXPECT_TRUE(engine::policyRestarts(p("always"), 0, true, 50));
  EXPECT_TRUE(engine::policyRestarts(p("unless-stopped"), 0, false, 0));
  EXPECT_FALSE(engine::policyRestarts(p("unless-stopped"), 1, true, 0));
  EXPECT_FALSE(engine::policyRestarts(p("on-failure"), 0, false, 0));
  EXPECT_TRUE(engine::policyRestarts(p("on-failure"), 1, true, 1000));
  EXPECT_TRUE(engine::policyRestarts(p("on-failure", 3), 1, false, 2));
  EXPECT_FALSE(engine::policyRestarts(p("on-failure", 3), 1, false, 3));
}

class RestartFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::Event e;
    auto* c = e.mutable_container_created();
    c->set_id("c1");
    c->set_name("web");
    *c->mutable_host_config() = policy("on-failure", 2);
    fold({e});
  }
  void fold(std::vector<v1::Event>&& evs) { fold(evs); }
  void fold(std::vector<v1::Event>& evs) {  // folds and clears
    for (auto& e : evs) {
      v1::Envelope env;
      env.set_seq(s.seq() + 1);
      env.set_time_ns(now);
      *env.mutable_event() = std::move(e);
      reducers::reduce(s, env);
    }
    evs.clear();
  }
  void startRunning() {
    v1::Event req, ok;
    req.mutable_container_start_requested()->set_id("c1");
    ok.mutable_container_started()->set_id("c1");
    fold({req});
    fold({ok});
  }
  // The exit decision, folded; returns the delay (0: no restart).
  uint64_t exitWith(int code) {
    std::vector<v1::Event> out;
    bool restart = false;
    uint64_t delay = 0;
    EXPECT_TRUE(engine::decideExit(s, {"c1", code, false, ""}, now, &out, &restart, &delay).ok());
    EXPECT_EQ(out.size(), restart ? 2u : 1u);
    fold(out);
    return restart ? delay : 0;
  }
  void policyStart() {
    std::vector<v1::Event> out;
    ASSERT_TRUE(engine::decidePolicyStart(s, "c1", c().restart_count(), &out).ok());
    fold(out);
    v1::Event ok;
    ok.mutable_container_started()->set_id("c1");
    fold({ok});
  }
  const v1::Container& c() { return s.containers().at("c1"); }

  v1::State s;
  int64_t now = 1000 * kSec;
};

TEST_F(RestartFlow, OnFailureRestartsNTimesWithBackOffThenStops) {
  startRunning();
  EXPECT_EQ(exitWith(1), 100u);
  EXPECT_EQ(c().status(), "restarting");
  EXPECT_EQ(c().restart_count(), 1u);
  EXPECT_EQ(c().exit_code(), 1);
  EXPECT_EQ(c().restart_due_ns(), now + 100 * 1000000);
  policyStart();
  EXPECT_EQ(c().status(), "running");
  EXPECT_EQ(c().restart_count(), 1u);  // the policy's start keeps the count
  EXPECT_EQ(exitWith(1), 200u);
  policyStart();
  EXPECT_EQ(exitWith(1), 0u);  // 2 retries done
  EXPECT_EQ(c().status(), "exited");
  EXPECT_EQ(c().restart_count(), 2u);
  EXPECT_TRUE(engine::restartsAtDaemonStart(c()) == false);
  // A user's start resets the count and the back-off, as dockerd's does.
  startRunning();
  EXPECT_EQ(c().restart_count(), 0u);
  EXPECT_EQ(exitWith(1), 100u);
}

TEST_F(RestartFlow, ExitZeroAndStopDoNotRestartOnFailure) {
  startRunning();
  EXPECT_EQ(exitWith(0), 0u);
  startRunning();
  v1::Event stop;
  stop.mutable_container_stop_requested()->set_id("c1");
  fold({stop});
  std::vector<v1::Event> out;
  bool restart = true;
  uint64_t delay = 0;
  ASSERT_TRUE(engine::decideExit(s, {"c1", 143, false, ""}, now, &out, &restart, &delay).ok());
  EXPECT_FALSE(restart);
  EXPECT_TRUE(out[0].container_exited().stopped_by_request());
  fold(out);
  EXPECT_TRUE(c().manually_stopped());
  // dockerd's daemon start restarts on-failure containers with a failing exit code.
  EXPECT_TRUE(engine::restartsAtDaemonStart(c()));
}

TEST_F(RestartFlow, KillCancelsThePolicyAndMarksAManualStop) {
  (*s.mutable_containers())["c1"].mutable_host_config()->mutable_restart_policy()->set_name("always");
  (*s.mutable_containers())["c1"].mutable_host_config()->mutable_restart_policy()->set_maximum_retry_count(0);
  startRunning();
  std::vector<v1::Event> out;
  std::string id;
  ASSERT_TRUE(engine::decideKill(s, "web", "", &out, &id).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].container_stop_marked().cancel_restart());
  fold(out);
  EXPECT_EQ(exitWith(137), 0u);
  EXPECT_EQ(c().status(), "exited");
  EXPECT_TRUE(engine::restartsAtDaemonStart(c()));  // always: yes, at daemon start

  // A signal other than the configured stop signal only marks the manual stop.
  startRunning();
  (*s.mutable_containers())["c1"].mutable_config()->set_stop_signal("SIGQUIT");
  ASSERT_TRUE(engine::decideKill(s, "web", "USR1", &out, &id).ok());
  EXPECT_FALSE(out[0].container_stop_marked().cancel_restart());
  fold(out);
  EXPECT_EQ(exitWith(0), 100u);
  EXPECT_EQ(c().status(), "restarting");
  // Killing a restarting container abandons the pending restart; no signal is sent.
  ASSERT_TRUE(engine::decideKill(s, "web", "", &out, &id).ok());
  ASSERT_EQ(out.size(), 1u);
  fold(out);
  EXPECT_EQ(c().status(), "exited");
  EXPECT_FALSE(engine::decidePolicyStart(s, "c1", c().restart_count(), &out).ok());
}

TEST_F(RestartFlow, StopAbandonsAPendingRestartAndUnlessStoppedStaysDown) {
  (*s.mutable_containers())["c1"].mutable_host_config()->mutable_restart_policy()->set_name("unless-stopped");
  (*s.mutable_containers())["c1"].mutable_host_config()->mutable_restart_policy()->set_maximum_retry_count(0);
  startRunning();
  EXPECT_EQ(exitWith(3), 100u);
  std::string id;
  bool running = true;
  EXPECT_EQ(engine::checkRemove(s, "web", false, &id, &running).code(), Code::kConflict);
  std::vector<v1::Event> out;
  EXPECT_EQ(engine::decideStart(s, "web", false, &out, &id).code(), Code::kNotModified);
  ASSERT_TRUE(engine::decideStop(s, "web", "", -2, false, &out, &id).ok());
  fold(out);
  EXPECT_EQ(c().status(), "exited");
  EXPECT_FALSE(engine::restartsAtDaemonStart(c()));
  EXPECT_FALSE(engine::decidePolicyStart(s, "c1", c().restart_count(), &out).ok());
}

TEST_F(RestartFlow, TenSecondRunResetsTheBackOff) {
  (*s.mutable_containers())["c1"].mutable_host_config()->mutable_restart_policy()->set_maximum_retry_count(0);
  startRunning();
  EXPECT_EQ(exitWith(1), 100u);
  policyStart();
  EXPECT_EQ(exitWith(1), 200u);
  policyStart();
  now += 11 * kSec;
  EXPECT_EQ(exitWith(1), 100u);
}

TEST(KillSignals, ParsedAsDockerDoes) {
  int sig = 0;
  EXPECT_TRUE(engine::parseKillSignal("USR1", &sig).ok());
  EXPECT_EQ(sig, SIGUSR1);
  EXPECT_TRUE(engine::parseKillSignal("sigusr2", &sig).ok());
  EXPECT_EQ(sig, SIGUSR2);
  EXPECT_TRUE(engine::parseKillSignal("15", &sig).ok());
  EXPECT_EQ(sig, 15);
  EXPECT_TRUE(engine::parseKillSignal("RTMIN", &sig).ok());
  EXPECT_EQ(sig, 34);
  EXPECT_TRUE(engine::parseKillSignal("SIGRTMIN+3", &sig).ok());
  EXPECT_EQ(sig, 37);
  EXPECT_TRUE(engine::parseKillSignal("RTMAX-1", &sig).ok());
  EXPECT_EQ(sig, 63);
  EXPECT_TRUE(engine::parseKillSignal("64", &sig).ok());
  EXPECT_EQ(engine::parseKillSignal("FOO", &sig).message(), "invalid signal: FOO");
  EXPECT_EQ(engine::parseKillSignal("0", &sig).message(), "invalid signal: 0");
  EXPECT_EQ(engine::parseKillSignal("RTMIN+16", &sig).message(), "invalid signal: RTMIN+16");
  EXPECT_EQ(engine::parseKillSignal("99", &sig).message(),
            "the linux daemon does not support signal 99");
  EXPECT_EQ(engine::parseKillSignal("32", &sig).message(),
            "the linux daemon does not support signal 32");
  EXPECT_EQ(engine::parseKillSignal("-3", &sig).message(),
            "the linux daemon does not support signal -3");
}

TEST(LogOptions, KeysAtCreateValuesAtStart) {
  EXPECT_TRUE(engine::validateLogOptions({{"max-size", "10k"}, {"max-file", "3"}}).ok());
  EXPECT_TRUE(engine::validateLogOptions({{"compress", "false"}}).ok());
  EXPECT_EQ(engine::validateLogOptions({{"foo", "bar"}}).message(),
            "unknown log opt 'foo' for json-file log driver");
  EXPECT_EQ(engine::validateLogOptions({{"compress", "true"}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(engine::validateLogOptions({{"tag", "x"}}).code(), Code::kInvalidArgument);

  auto o = engine::parseJsonFileOptions({{"max-size", "10k"}, {"max-file", "3"}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->max_size, 10000);
  EXPECT_EQ(o->max_files, 3);
  auto d = engine::parseJsonFileOptions({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->max_size, -1);
  EXPECT_EQ(d->max_files, 1);
  EXPECT_EQ(engine::parseJsonFileOptions({{"max-size", "0"}}).status().message(),
            "max-size must be a positive number");
  EXPECT_EQ(engine::parseJsonFileOptions({{"max-size", "abc"}}).status().message(),
            "invalid size: 'abc'");
  EXPECT_EQ(engine::parseJsonFileOptions({{"max-size", "-5"}}).status().message(),
            "invalid size: '-5'");
  EXPECT_EQ(engine::parseJsonFileOptions({{"max-file", "0"}}).status().message(),
            "max-file cannot be less than 1");
  EXPECT_EQ(engine::parseJsonFileOptions({{"max-file", "x"}}).status().message(),
            "strconv.Atoi: parsing \"x\": invalid syntax");
  EXPECT_EQ(engine::parseJsonFileOptions({{"compress", "maybe"}}).status().message(),
            "strconv.ParseBool: parsing \"maybe\": invalid syntax");
  EXPECT_EQ(engine::parseJsonFileOptions({{"compress", "true"}}).status().message(),
            "compress cannot be true when max-file is less than 2 or max-size is not set");
}

TEST(LogOptions, HumanSizesAreDecimal) {
  EXPECT_EQ(*engine::parseHumanSize("10"), 10);
  EXPECT_EQ(*engine::parseHumanSize("10k"), 10000);
  EXPECT_EQ(*engine::parseHumanSize("1.5k"), 1500);
  EXPECT_EQ(*engine::parseHumanSize("2m"), 2000000);
  EXPECT_EQ(*engine::parseHumanSize("2MB"), 2000000);
  EXPECT_EQ(*engine::parseHumanSize("1GiB"), 1000000000);
  EXPECT_EQ(*engine::parseHumanSize("3 k"), 3000);
  EXPECT_EQ(*engine::parseHumanSize("7b"), 7);
  EXPECT_EQ(engine::parseHumanSize("10x").status().message(), "invalid suffix: 'x'");
  EXPECT_EQ(engine::parseHumanSize("10kbb").status().message(), "invalid suffix: 'kbb'");
}

}  // namespace
}  // namespace arca
