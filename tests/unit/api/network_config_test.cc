// Networking parts of container create and connect bodies (issue #5).
#include "api/network_config.h"

#include <gtest/gtest.h>

#include "api/container_config.h"

namespace arca::api {
namespace {

TEST(NetworkConfig, DefaultModeIsTheBridgeAndTheCliDefaultKeyMapsToIt) {
  auto c = parseCreateContainer(
      R"({"Image":"b","HostConfig":{"NetworkMode":"default"},
          "NetworkingConfig":{"EndpointsConfig":{"default":{"MacAddress":"02:42:ac:11:00:09"}}}})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->host_config.network_mode(), "bridge");
  ASSERT_EQ(c->networks.size(), 1u);
  EXPECT_EQ(c->networks[0].first, "bridge");
  EXPECT_EQ(c->networks[0].second.mac_address, "02:42:ac:11:00:09");
}

TEST(NetworkConfig, UserNetworkWithAliasesStaticIpAndExtraNetworks) {
  auto c = parseCreateContainer(
      R"({"Image":"b","HostConfig":{"NetworkMode":"app"},
          "NetworkingConfig":{"EndpointsConfig":{
             "other":{"Aliases":["o"]},
             "app":{"Aliases":["web","backend"],"IPAMConfig":{"IPv4Address":"10.0.0.9"}}}}})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->networks.size(), 2u);
  EXPECT_EQ(c->networks[0].first, "app");  // the primary network first
  EXPECT_EQ(c->networks[0].second.aliases, (std::vector<std::string>{"web", "backend"}));
  EXPECT_EQ(c->networks[0].second.ipv4_address, "10.0.0.9");
  EXPECT_EQ(c->networks[1].first, "other");
}

TEST(NetworkConfig, PortBindings) {
  auto c = parseCreateContainer(
      R"({"Image":"b","ExposedPorts":{"80/tcp":{},"53/udp":{}},"HostConfig":{
          "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}],
                          "53/udp":[{"HostIp":"","HostPort":""}],
                          "81/tcp":[{"HostIp":"","HostPort":"9000-9010"}]},
          "PublishAllPorts":true}})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->host_config.port_bindings_size(), 3);
  EXPECT_TRUE(c->host_config.publish_all_ports());
  bool found = false;
  for (const auto& b : c->host_config.port_bindings()) {
    if (b.container_port() == "80/tcp") {
      found = true;
      EXPECT_EQ(b.host_ip(), "127.0.0.1");
      EXPECT_EQ(b.host_port(), "18080");
    }
  }
  EXPECT_TRUE(found);
  for (const char* bad : {
           R"({"Image":"b","HostConfig":{"PortBindings":{"80/xyz":[]}}})",
           R"({"Image":"b","HostConfig":{"PortBindings":{"0/tcp":[]}}})",
           R"({"Image":"b","HostConfig":{"PortBindings":{"99999/tcp":[]}}})",
           R"({"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"9-1"}]}}})",
           R"({"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"x"}]}}})",
           R"({"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"1.2.3","HostPort":"1"}]}}})",
           R"({"Image":"b","HostConfig":{"PortBindings":{"80/tcp":"x"}}})",
       }) {
    auto r = parseCreateContainer(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(NetworkConfig, ModesAndTheirConflicts) {
  auto host = parseCreateContainer(
      R"({"Image":"b","HostConfig":{"NetworkMode":"host","PortBindings":{"80/tcp":[]}}})");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->host_config.port_bindings_size(), 0);  // discarded, as dockerd does
  EXPECT_TRUE(host->networks.empty());
  auto join = parseCreateContainer(
      R"({"Image":"b","HostConfig":{"NetworkMode":"container:web","PortBindings":{"80/tcp":[]}}})");
  EXPECT_NE(join.status().message().find("port publishing and the container type network mode"),
            std::string::npos);
  auto hn = parseCreateContainer(
      R"({"Image":"b","Hostname":"x","HostConfig":{"NetworkMode":"container:web"}})");
  EXPECT_EQ(hn.status().code(), Code::kInvalidArgument);
  auto none = parseCreateContainer(
      R"({"Image":"b","HostConfig":{"NetworkMode":"none"},
          "NetworkingConfig":{"EndpointsConfig":{"app":{}}}})");
  EXPECT_EQ(none.status().code(), Code::kInvalidArgument);
  auto links = parseCreateContainer(R"({"Image":"b","HostConfig":{"Links":["db:database","/x:/me/y"]}})");
  ASSERT_TRUE(links.ok());
  ASSERT_EQ(links->host_config.links_size(), 2);
  EXPECT_EQ(links->host_config.links(0), "db:database");
  EXPECT_EQ(links->host_config.links(1), "x:y");
}

TEST(NetworkConfig, EndpointConfig) {
  rapidjson::Document d;
  d.Parse(R"({"Aliases":["a"],"IPAMConfig":{"IPv4Address":"172.20.0.5"},"MacAddress":"zz"})");
  EXPECT_EQ(parseEndpointConfig(d).status().code(), Code::kInvalidArgument);
  d.Parse(R"({"IPAMConfig":{"IPv6Address":"fd00::1"}})");
  EXPECT_EQ(parseEndpointConfig(d).status().code(), Code::kInvalidArgument);
  d.Parse("null");
  EXPECT_TRUE(parseEndpointConfig(d).ok());
  d.Parse(R"({"Aliases":["a","b"],"Links":["x:y"]})");
  auto r = parseEndpointConfig(d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->aliases.size(), 2u);
  EXPECT_EQ(r->links, (std::vector<std::string>{"x:y"}));
}

}  // namespace
}  // namespace arca::api
