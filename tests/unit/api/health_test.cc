#include "api/health.h"

#include <gtest/gtest.h>

namespace arca::api {
namespace {

TEST(Health, DockerDefaults) {
  v1::Healthcheck hc;
  HealthTiming t = healthTiming(hc);
  EXPECT_EQ(t.interval_ns, 30000000000);
  EXPECT_EQ(t.timeout_ns, 30000000000);
  EXPECT_EQ(t.start_period_ns, 0);
  EXPECT_EQ(t.start_interval_ns, 5000000000);
  EXPECT_EQ(t.retries, 3);
  hc.set_interval_ns(1000000000);
  hc.set_retries(1);
  t = healthTiming(hc);
  EXPECT_EQ(t.interval_ns, 1000000000);
  EXPECT_EQ(t.retries, 1);
}

TEST(Health, Transitions) {
  int streak = 0;
  // Failures in the start period do not count.
  EXPECT_EQ(nextHealthStatus("starting", false, true, 2, &streak), "starting");
  EXPECT_EQ(streak, 0);
  // After it, `retries` consecutive failures make it unhealthy.
  EXPECT_EQ(nextHealthStatus("starting", false, false, 2, &streak), "starting");
  EXPECT_EQ(streak, 1);
  EXPECT_EQ(nextHealthStatus("starting", false, false, 2, &streak), "unhealthy");
  EXPECT_EQ(streak, 2);
  // One success is enough.
  EXPECT_EQ(nextHealthStatus("unhealthy", true, false, 2, &streak), "healthy");
  EXPECT_EQ(streak, 0);
  EXPECT_EQ(nextHealthStatus("healthy", false, true, 2, &streak), "healthy");
  EXPECT_EQ(streak, 1);  // the start period only shields "starting"
}

}  // namespace
}  // namespace arca::api
