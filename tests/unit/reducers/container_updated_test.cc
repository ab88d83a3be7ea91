#include <gtest/gtest.h>

#include "reducers/reduce.h"

namespace arca {
namespace {

v1::Envelope env(uint64_t seq, v1::Event e) {
  v1::Envelope x;
  x.set_seq(seq);
  x.set_time_ns(1000);
  *x.mutable_event() = std::move(e);
  return x;
}

TEST(Reduce, ContainerUpdatedCopiesOnlyUpdatableFields) {
  v1::State s;
  v1::Event created;
  auto* c = created.mutable_container_created();
  c->set_id("abc");
  c->set_name("lim");
  c->mutable_host_config()->set_memory(64 << 20);
  c->mutable_host_config()->set_memory_swap(128 << 20);
  c->mutable_host_config()->set_pids_limit(20);
  c->mutable_host_config()->set_auto_remove(false);
  c->mutable_host_config()->add_cap_add("CAP_NET_ADMIN");
  reducers::reduce(s, env(1, created));

  v1::Event up;
  auto* u = up.mutable_container_updated();
  u->set_id("abc");
  auto* h = u->mutable_host_config();
  h->set_memory(128 << 20);
  h->set_memory_swap(256 << 20);
  h->set_nano_cpus(500000000);
  h->mutable_restart_policy()->set_name("always");
  h->set_auto_remove(true);  // not updatable: ignored
  reducers::reduce(s, env(2, up));

  const auto& hc = s.containers().at("abc").host_config();
  EXPECT_EQ(hc.memory(), 128 << 20);
  EXPECT_EQ(hc.memory_swap(), 256 << 20);
  EXPECT_EQ(hc.nano_cpus(), 500000000);
  EXPECT_FALSE(hc.has_pids_limit());  // the event carries the complete new value
  EXPECT_EQ(hc.restart_policy().name(), "always");
  EXPECT_FALSE(hc.auto_remove());
  ASSERT_EQ(hc.cap_add_size(), 1);

  v1::Event unknown;
  unknown.mutable_container_updated()->set_id("nope");
  reducers::reduce(s, env(3, unknown));
  EXPECT_EQ(s.containers().size(), 1u);
}

}  // namespace
}  // namespace arca
