#include <gtest/gtest.h>

#include "reducers/reduce.h"

namespace arca {
namespace {

v1::Envelope env(uint64_t seq, v1::Event e, int64_t t = 1000) {
  v1::Envelope x;
  x.set_seq(seq);
  x.set_time_ns(t);
  *x.mutable_event() = std::move(e);
  return x;
}

TEST(Reduce, ContainerLifecycle) {
  v1::State s;
  v1::Event e;
  auto* c = e.mutable_container_created();
  c->set_id("abc");
  c->set_name("tk");
  reducers::reduce(s, env(1, e, 10));
  ASSERT_EQ(s.containers().at("abc").status(), "created");
  EXPECT_EQ(s.names().at("tk"), "abc");
  EXPECT_EQ(s.containers().at("abc").created_ns(), 10);

  v1::Event start;
  start.mutable_container_start_requested()->set_id("abc");
  reducers::reduce(s, env(2, start));
  EXPECT_TRUE(s.containers().at("abc").start_pending());

  v1::Event started;
  started.mutable_container_started()->set_id("abc");
  started.mutable_container_started()->set_pid(42);
  started.mutable_container_started()->set_request_seq(2);
  reducers::reduce(s, env(3, started, 20));
  EXPECT_EQ(s.containers().at("abc").status(), "running");
  EXPECT_EQ(s.containers().at("abc").pid(), 42);
  EXPECT_EQ(s.containers().at("abc").start_outcome_seq(), 2u);
  EXPECT_FALSE(s.containers().at("abc").start_pending());

  v1::Event exited;
  exited.mutable_container_exited()->set_id("abc");
  exited.mutable_container_exited()->set_exit_code(3);
  reducers::reduce(s, env(4, exited, 30));
  EXPECT_EQ(s.containers().at("abc").status(), "exited");
  EXPECT_EQ(s.containers().at("abc").exit_code(), 3);
  EXPECT_EQ(s.containers().at("abc").finished_ns(), 30);
  EXPECT_EQ(s.containers().at("abc").exit_count(), 1u);

  v1::Event rm;
  rm.mutable_container_removed()->set_id("abc");
  reducers::reduce(s, env(5, rm));
  EXPECT_TRUE(s.containers().empty());
  EXPECT_TRUE(s.names().empty());
  EXPECT_EQ(s.seq(), 5u);
}

TEST(Reduce, FailedStartLeavesCreatedWithError) {
  v1::State s;
  v1::Event e;
  e.mutable_container_created()->set_id("a");
  e.mutable_container_created()->set_name("n");
  reducers::reduce(s, env(1, e));
  v1::Event f;
  f.mutable_container_start_failed()->set_id("a");
  f.mutable_container_start_failed()->set_message("exec: \"nope\": executable file not found in $PATH");
  f.mutable_container_start_failed()->set_exit_code(127);
  reducers::reduce(s, env(2, f));
  EXPECT_EQ(s.containers().at("a").status(), "created");
  EXPECT_EQ(s.containers().at("a").exit_code(), 127);
  EXPECT_EQ(s.containers().at("a").exit_count(), 1u);
}

TEST(Reduce, TagMovesBetweenImages) {
  v1::State s;
  v1::Event a;
  a.mutable_image_loaded()->mutable_image()->set_id("sha256:a");
  a.mutable_image_loaded()->mutable_image()->add_repo_tags("docker.io/library/x:latest");
  reducers::reduce(s, env(1, a));
  v1::Event b;
  b.mutable_image_loaded()->mutable_image()->set_id("sha256:b");
  b.mutable_image_loaded()->mutable_image()->add_repo_tags("docker.io/library/x:latest");
  reducers::reduce(s, env(2, b));
  EXPECT_EQ(s.tags().at("docker.io/library/x:latest"), "sha256:b");
  EXPECT_EQ(s.images().at("sha256:a").record().repo_tags_size(), 0);  // now dangling
  EXPECT_EQ(s.images().at("sha256:b").record().repo_tags_size(), 1);

  v1::Event un;
  un.mutable_image_untagged()->set_id("sha256:b");
  un.mutable_image_untagged()->set_ref("docker.io/library/x:latest");
  reducers::reduce(s, env(3, un));
  EXPECT_TRUE(s.tags().empty());

  v1::Event del;
  del.mutable_image_deleted()->set_id("sha256:a");
  reducers::reduce(s, env(4, del));
  EXPECT_EQ(s.images_size(), 1);
}

TEST(Reduce, CommitRecordsATaggedImage) {
  v1::State s;
  v1::Event c;
  c.mutable_container_committed()->set_id("abc");
  c.mutable_container_committed()->mutable_image()->set_id("sha256:c");
  c.mutable_container_committed()->mutable_image()->add_repo_tags("docker.io/library/snap:1");
  c.mutable_container_committed()->set_ref("docker.io/library/snap:1");
  reducers::reduce(s, env(1, c));
  EXPECT_EQ(s.tags().at("docker.io/library/snap:1"), "sha256:c");
  EXPECT_EQ(s.images().at("sha256:c").loaded_ns(), env(1, c).time_ns());
  EXPECT_EQ(s.images().at("sha256:c").record().repo_tags_size(), 1);
}

TEST(Reduce, BuiltImagesKeepParentAndCacheKeyUntilCleared) {
  // issue #7: docker build's steps, then POST /build/prune's key clearing.
  v1::State s;
  v1::Event b;
  auto* img = b.mutable_image_built()->mutable_image();
  img->set_id("sha256:step");
  img->set_parent("sha256:base");
  img->set_build_cache_key("sha256:key");
  reducers::reduce(s, env(1, b));
  const auto& r = s.images().at("sha256:step").record();
  EXPECT_EQ(r.parent(), "sha256:base");
  EXPECT_EQ(r.build_cache_key(), "sha256:key");
  EXPECT_EQ(r.repo_tags_size(), 0);
  v1::Event c;
  c.mutable_image_cache_cleared()->set_id("sha256:step");
  reducers::reduce(s, env(2, c));
  EXPECT_EQ(s.images().at("sha256:step").record().build_cache_key(), "");
  EXPECT_EQ(s.images().at("sha256:step").record().parent(), "sha256:base");
  v1::Event gone;
  gone.mutable_image_cache_cleared()->set_id("sha256:nope");
  reducers::reduce(s, env(3, gone));  // an image already gone: nothing
  EXPECT_EQ(s.images_size(), 1);
}

}  // namespace
}  // namespace arca
