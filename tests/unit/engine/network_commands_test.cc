// Network deciders and the IPAM fold (issue #5).
#include "engine/network_commands.h"

#include <gtest/gtest.h>

#include "tests/unit/support/fixed_ids.h"
#include "tests/unit/support/fold.h"

#include "engine/commands.h"
#include "reducers/reduce.h"

namespace arca {
namespace {

using Ids = testing::FixedIds;

using testing::apply;

struct Fixture {
  v1::State s;
  Ids ids;
  std::vector<v1::Event> evs;
  Fixture() {
    evs = engine::defaultNetworkEvents(s, ids);
    apply(s, evs);
    evs.resize(1);
    auto* r = evs[0].mutable_image_loaded()->mutable_image();
    r->set_id("sha256:" + std::string(64, 'a'));
    r->add_repo_tags("docker.io/library/busybox:latest");
    apply(s, evs);
  }
  std::string network(const std::string& name, const std::string& subnet = "",
                      const std::string& range = "") {
    engine::CreateNetwork c;
    c.name = name;
    if (!subnet.empty()) c.ipam.push_back({subnet, range, "", {}});
    std::string id;
    Status st = engine::decideCreateNetwork(s, c, ids, &evs, &id);
    EXPECT_TRUE(st.ok()) << st.message();
    apply(s, evs);
    return id;
  }
  std::string container(const std::string& name, const std::string& net,
                        engine::EndpointRequest req = {}) {
    engine::CreateContainer c;
    c.name = name;
    c.config.set_image("busybox");
    c.config.add_cmd("true");
    c.host_config.set_network_mode(net);
    c.networks.emplace_back(net, std::move(req));
    std::string id;
    Status st = engine::decideCreate(s, c, ids, &evs, &id);
    EXPECT_TRUE(st.ok()) << st.message();
    apply(s, evs);
    return id;
  }
  std::string ip(const std::string& cid, const std::string& nid) {
    return s.containers().at(cid).endpoints().at(nid).ipv4_address();
  }
};

TEST(NetworkCommands, PredefinedNetworksOnce) {
  Fixture f;
  EXPECT_EQ(f.s.networks_size(), 3);
  EXPECT_TRUE(engine::defaultNetworkEvents(f.s, f.ids).empty());
  auto bridge = engine::findNetwork(f.s, "bridge");
  ASSERT_TRUE(bridge.ok());
  EXPECT_EQ((*bridge)->subnet(), "172.17.0.0/16");
  EXPECT_EQ((*bridge)->gateway(), "172.17.0.1");
  EXPECT_TRUE(engine::isDefaultBridge(**bridge));
  EXPECT_EQ((*engine::findNetwork(f.s, "host"))->driver(), "host");
  EXPECT_EQ((*engine::findNetwork(f.s, "none"))->driver(), "null");
}

TEST(NetworkCommands, CreateChoosesDockerPoolsAndRefusesOverlapsAndDuplicates) {
  Fixture f;
  std::string a = f.network("a");
  EXPECT_EQ(f.s.networks().at(a).subnet(), "172.18.0.0/16");
  EXPECT_EQ(f.s.networks().at(a).gateway(), "172.18.0.1");
  std::string b = f.network("b");
  EXPECT_EQ(f.s.networks().at(b).subnet(), "172.19.0.0/16");
  engine::CreateNetwork dup;
  dup.name = "a";
  std::string id;
  EXPECT_EQ(engine::decideCreateNetwork(f.s, dup, f.ids, &f.evs, &id).code(), Code::kConflict);
  engine::CreateNetwork ov;
  ov.name = "ov";
  ov.ipam.push_back({"172.18.5.0/24", "", "", {}});
  Status st = engine::decideCreateNetwork(f.s, ov, f.ids, &f.evs, &id);
  EXPECT_EQ(st.code(), Code::kPermissionDenied);
  EXPECT_EQ(st.message(), "Pool overlaps with other one on this address space");
  engine::CreateNetwork bad;
  bad.name = "bad";
  bad.ipam.push_back({"10.1.2.3/24", "", "", {}});
  EXPECT_EQ(engine::decideCreateNetwork(f.s, bad, f.ids, &f.evs, &id).code(), Code::kInvalidArgument);
  engine::CreateNetwork gw;
  gw.name = "gw";
  gw.ipam.push_back({"10.9.0.0/24", "", "10.8.0.1", {}});
  EXPECT_EQ(engine::decideCreateNetwork(f.s, gw, f.ids, &f.evs, &id).code(), Code::kPermissionDenied);
  engine::CreateNetwork drv;
  drv.name = "d";
  drv.driver = "overlay";
  EXPECT_EQ(engine::decideCreateNetwork(f.s, drv, f.ids, &f.evs, &id).code(), Code::kNotFound);
  engine::CreateNetwork pre;
  pre.name = "bridge";
  EXPECT_EQ(engine::decideCreateNetwork(f.s, pre, f.ids, &f.evs, &id).code(), Code::kPermissionDenied);
  // Bridge names: dockerd's "same bridge name" conflict; the helper's devices are reserved.
  engine::CreateNetwork bn;
  bn.name = "bn";
  bn.options["com.docker.network.bridge.name"] = "docker0";
  EXPECT_EQ(engine::decideCreateNetwork(f.s, bn, f.ids, &f.evs, &id).code(), Code::kConflict);
  bn.options["com.docker.network.bridge.name"] = "uplink";
  EXPECT_EQ(engine::decideCreateNetwork(f.s, bn, f.ids, &f.evs, &id).code(), Code::kInvalidArgument);
  bn.options["com.docker.network.bridge.name"] = "a b;";
  EXPECT_EQ(engine::decideCreateNetwork(f.s, bn, f.ids, &f.evs, &id).code(), Code::kInvalidArgument);
  bn.options["com.docker.network.bridge.name"] = "mybr0";
  ASSERT_TRUE(engine::decideCreateNetwork(f.s, bn, f.ids, &f.evs, &id).ok());
  apply(f.s, f.evs);
  bn.name = "bn2";
  EXPECT_EQ(engine::decideCreateNetwork(f.s, bn, f.ids, &f.evs, &id).code(), Code::kConflict);
  EXPECT_TRUE(f.evs.empty());
}

TEST(NetworkCommands, AddressesAreFirstFreeNeverTwiceAndReleased) {
  Fixture f;
  std::string n = f.network("app");
  std::string c1 = f.container("c1", "app");
  std::string c2 = f.container("c2", "app");
  EXPECT_EQ(f.ip(c1, n), "172.18.0.2");
  EXPECT_EQ(f.ip(c2, n), "172.18.0.3");
  EXPECT_EQ(f.s.containers().at(c1).endpoints().at(n).mac_address(), "02:42:ac:12:00:02");
  // Disconnect releases .2; the next container gets it.
  std::string cid, nid;
  ASSERT_TRUE(engine::decideDisconnect(f.s, "app", "c1", false, &f.evs, &cid, &nid).ok());
  apply(f.s, f.evs);
  EXPECT_EQ(f.s.containers().at(c1).endpoints_size(), 0);
  std::string c3 = f.container("c3", "app");
  EXPECT_EQ(f.ip(c3, n), "172.18.0.2");
  // Removal releases too.
  std::vector<v1::Event> rm(1);
  rm[0].mutable_container_removed()->set_id(c2);
  apply(f.s, rm);
  EXPECT_EQ(f.s.ipam().at(n).allocated().count("172.18.0.3"), 0u);
  // Disconnecting twice is refused, as dockerd does.
  EXPECT_EQ(engine::decideDisconnect(f.s, "app", "c1", false, &f.evs, &cid, &nid).code(),
            Code::kPermissionDenied);
}

TEST(NetworkCommands, StaticAddressesRangeAndExhaustion) {
  Fixture f;
  std::string n = f.network("small", "10.10.0.0/29", "10.10.0.4/30");
  engine::EndpointRequest fixed;
  fixed.ipv4_address = "10.10.0.2";
  std::string a = f.container("ca", "small", fixed);
  EXPECT_EQ(f.ip(a, n), "10.10.0.2");
  EXPECT_TRUE(f.s.containers().at(a).endpoints().at(n).static_ip());
  // Taken: refused.
  std::string cid, nid;
  engine::CreateContainer dup;
  dup.name = "dup";
  dup.config.set_image("busybox");
  dup.config.add_cmd("true");
  dup.host_config.set_network_mode("small");
  dup.networks.emplace_back("small", fixed);
  std::string id;
  EXPECT_EQ(engine::decideCreate(f.s, dup, f.ids, &f.evs, &id).code(), Code::kPermissionDenied);
  f.evs.clear();
  // The range 10.10.0.4/30 holds .4 .5 .6 .7 minus the broadcast of the subnet (.7).
  std::string b = f.container("cb", "small");
  std::string c = f.container("cc", "small");
  std::string d = f.container("cd", "small");
  EXPECT_EQ(f.ip(b, n), "10.10.0.4");
  EXPECT_EQ(f.ip(c, n), "10.10.0.5");
  EXPECT_EQ(f.ip(d, n), "10.10.0.6");
  engine::CreateContainer more = dup;
  more.name = "more";
  more.networks[0].second = {};
  Status st = engine::decideCreate(f.s, more, f.ids, &f.evs, &id);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no available"), std::string::npos) << st.message();
  // Static addresses are for user-configured subnets only, and aliases for user networks.
  engine::EndpointRequest alias;
  alias.aliases = {"x"};
  EXPECT_EQ(engine::decideConnect(f.s, "bridge", "ca", alias, f.ids, &f.evs, &cid, &nid).code(),
            Code::kInvalidArgument);
}

TEST(NetworkCommands, RemoveAndPrune) {
  Fixture f;
  std::string n = f.network("app");
  f.network("idle");
  std::string c = f.container("cc", "app");
  std::string id;
  Status st = engine::decideRemoveNetwork(f.s, "app", &f.evs, &id);
  EXPECT_EQ(st.code(), Code::kConflict);
  EXPECT_NE(st.message().find("has active endpoints"), std::string::npos);
  EXPECT_EQ(engine::decideRemoveNetwork(f.s, "bridge", &f.evs, &id).code(), Code::kPermissionDenied);
  EXPECT_EQ(engine::decideRemoveNetwork(f.s, "nope", &f.evs, &id).message(), "network nope not found");
  auto prune = engine::pruneableNetworks(f.s, nullptr);
  ASSERT_EQ(prune.size(), 1u);
  EXPECT_EQ(f.s.networks().at(prune[0]).name(), "idle");
  std::vector<v1::Event> rm(1);
  rm[0].mutable_container_removed()->set_id(c);
  apply(f.s, rm);
  ASSERT_TRUE(engine::decideRemoveNetwork(f.s, "app", &f.evs, &id).ok());
  apply(f.s, f.evs);
  EXPECT_EQ(f.s.networks().count(n), 0u);
  EXPECT_EQ(f.s.ipam().count(n), 0u);
}

TEST(NetworkCommands, ConnectRules) {
  Fixture f;
  std::string n = f.network("app");
  std::string c = f.container("cc", "bridge");
  std::string cid, nid;
  engine::EndpointRequest req;
  req.aliases = {"db"};
  ASSERT_TRUE(engine::decideConnect(f.s, "app", "cc", req, f.ids, &f.evs, &cid, &nid).ok());
  apply(f.s, f.evs);
  EXPECT_EQ(f.s.containers().at(c).endpoints_size(), 2);
  auto names = engine::dnsNames(f.s.containers().at(c), f.s.containers().at(c).endpoints().at(n));
  EXPECT_EQ(names, (std::vector<std::string>{"cc", "db", c.substr(0, 12)}));
  EXPECT_EQ(engine::decideConnect(f.s, "app", "cc", {}, f.ids, &f.evs, &cid, &nid).code(),
            Code::kPermissionDenied);
  EXPECT_EQ(engine::decideConnect(f.s, "host", "cc", {}, f.ids, &f.evs, &cid, &nid).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(engine::decideConnect(f.s, "app", "nope", {}, f.ids, &f.evs, &cid, &nid).code(),
            Code::kNotFound);
  // --network container:c with other networks, and a missing container.
  engine::CreateContainer j;
  j.name = "jj";
  j.config.set_image("busybox");
  j.config.add_cmd("true");
  j.host_config.set_network_mode("container:nope");
  std::string id;
  EXPECT_EQ(engine::decideCreate(f.s, j, f.ids, &f.evs, &id).code(), Code::kNotFound);
}

}  // namespace
}  // namespace arca
