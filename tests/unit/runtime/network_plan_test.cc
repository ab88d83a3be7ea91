// The pure plan of a container's networking (issue #5).
#include <gtest/gtest.h>

#include "tests/unit/support/fixed_ids.h"
#include "tests/unit/support/fold.h"

#include "engine/commands.h"
#include "engine/network_commands.h"
#include "reducers/reduce.h"
#include "runtime/network_attacher.h"

namespace arca {
namespace {

using Ids = testing::FixedIds;

using testing::apply;

TEST(NetworkPlan, PrimaryFirstRoutesDnsHostsAndPorts) {
  v1::State s;
  Ids ids;
  std::vector<v1::Event> evs = engine::defaultNetworkEvents(s, ids);
  apply(s, evs);
  evs.resize(1);
  evs[0].mutable_image_loaded()->mutable_image()->set_id("sha256:" + std::string(64, 'b'));
  evs[0].mutable_image_loaded()->mutable_image()->add_repo_tags("docker.io/library/busybox:latest");
  apply(s, evs);
  std::string id;
  for (const char* name : {"zz", "aa"}) {
    engine::CreateNetwork n;
    n.name = name;
    if (std::string(name) == "aa") n.internal = true;
    ASSERT_TRUE(engine::decideCreateNetwork(s, n, ids, &evs, &id).ok());
    apply(s, evs);
  }
  engine::CreateContainer c;
  c.name = "web";
  c.config.set_image("busybox");
  c.config.add_cmd("true");
  c.config.set_hostname("h");
  c.config.add_exposed_ports("443/tcp");
  c.host_config.set_network_mode("zz");
  c.host_config.set_publish_all_ports(true);
  auto* b = c.host_config.add_port_bindings();
  b->set_container_port("80/tcp");
  b->set_host_ip("127.0.0.1");
  b->set_host_port("8000-8010");
  engine::EndpointRequest alias;
  alias.aliases = {"www"};
  c.networks.emplace_back("zz", alias);
  c.networks.emplace_back("aa", engine::EndpointRequest{});
  std::string cid;
  ASSERT_TRUE(engine::decideCreate(s, c, ids, &evs, &cid).ok());
  apply(s, evs);

  auto plan = runtime::planContainerNetwork(s, s.containers().at(cid));
  EXPECT_EQ(plan.mode, runtime::ContainerNetworkPlan::Mode::kBridge);
  ASSERT_EQ(plan.endpoints.size(), 2u);
  EXPECT_EQ(plan.endpoints[0].network_name, "zz");  // the primary network, though "aa" sorts first
  EXPECT_TRUE(plan.endpoints[0].default_route);
  EXPECT_FALSE(plan.endpoints[1].default_route);  // internal
  EXPECT_EQ(plan.endpoints[0].dns_names, (std::vector<std::string>{"web", "www", cid.substr(0, 12)}));
  EXPECT_EQ(plan.hosts_entries, (std::vector<std::string>{plan.endpoints[0].ipv4 + "\th"}));
  EXPECT_EQ(plan.nameservers, (std::vector<std::string>{plan.endpoints[0].gateway}));
  ASSERT_EQ(plan.ports.size(), 2u);
  EXPECT_EQ(plan.ports[0].host_port_lo, 8000);
  EXPECT_EQ(plan.ports[0].host_port_hi, 8010);
  EXPECT_EQ(plan.ports[1].container_port, "443/tcp");  // -P
  EXPECT_EQ(plan.ports[1].host_port_lo, 0);

  // none / host / container: modes
  c.name = "other";
  c.networks.clear();
  c.host_config.clear_port_bindings();
  for (const char* mode : {"none", "host", "container:web"}) {
    c.name = std::string("m") + mode[0] + mode[1];
    c.host_config.set_network_mode(mode);
    c.config.clear_hostname();
    ASSERT_TRUE(engine::decideCreate(s, c, ids, &evs, &id).ok()) << mode;
    apply(s, evs);
    auto p = runtime::planContainerNetwork(s, s.containers().at(id));
    EXPECT_TRUE(p.endpoints.empty());
    if (std::string(mode) == "container:web") {
      EXPECT_EQ(p.mode, runtime::ContainerNetworkPlan::Mode::kJoin);
      EXPECT_EQ(p.join_id, cid);
      EXPECT_EQ(p.join_pid, 0);  // web is not running
    }
  }
}

}  // namespace
}  // namespace arca
