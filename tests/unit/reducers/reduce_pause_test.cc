// ContainerPaused / ContainerUnpaused (issue #4).
#include <gtest/gtest.h>

#include "reducers/reduce.h"

namespace arca {
namespace {

void fold(v1::State& s, uint64_t seq, const v1::Event& e) {
  v1::Envelope x;
  x.set_seq(seq);
  x.set_time_ns(static_cast<int64_t>(seq) * 10);
  *x.mutable_event() = e;
  reducers::reduce(s, x);
}

v1::Event paused(const std::string& id, bool on) {
  v1::Event e;
  if (on) {
    e.mutable_container_paused()->set_id(id);
  } else {
    e.mutable_container_unpaused()->set_id(id);
  }
  return e;
}

TEST(ReducePause, PausedIsAFlagOnARunningContainer) {
  v1::State s;
  v1::Event e;
  e.mutable_container_created()->set_id("a");
  e.mutable_container_created()->set_name("n");
  fold(s, 1, e);
  fold(s, 2, paused("a", true));  // not running: ignored
  EXPECT_FALSE(s.containers().at("a").paused());

  v1::Event started;
  started.mutable_container_started()->set_id("a");
  started.mutable_container_started()->set_pid(7);
  fold(s, 3, started);
  fold(s, 4, paused("a", true));
  EXPECT_TRUE(s.containers().at("a").paused());
  EXPECT_EQ(s.containers().at("a").status(), "running");
  fold(s, 5, paused("a", false));
  EXPECT_FALSE(s.containers().at("a").paused());

  // An exit (kill of a paused container) clears it.
  fold(s, 6, paused("a", true));
  v1::Event exited;
  exited.mutable_container_exited()->set_id("a");
  exited.mutable_container_exited()->set_exit_code(137);
  fold(s, 7, exited);
  EXPECT_FALSE(s.containers().at("a").paused());
  EXPECT_EQ(s.containers().at("a").status(), "exited");
  fold(s, 8, paused("missing", true));  // unknown ids are ignored
  EXPECT_EQ(s.containers().size(), 1u);
}

}  // namespace
}  // namespace arca
