#include "net/ipam.h"

#include <gtest/gtest.h>

namespace arca::net {
namespace {

uint32_t ip(const char* s) { return *parseIpv4(s); }
Ipv4Net cidr(const char* s) { return *parseCidr(s); }

TEST(Ipam, ParsesAndFormats) {
  EXPECT_EQ(formatIpv4(ip("172.17.0.2")), "172.17.0.2");
  EXPECT_EQ(formatCidr(cidr("10.1.0.0/16")), "10.1.0.0/16");
  EXPECT_EQ(formatCidr(cidr("0.0.0.0/0")), "0.0.0.0/0");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d",
                          "1..2.3"}) {
    EXPECT_FALSE(parseIpv4(bad).ok()) << bad;
  }
  for (const char* bad : {"10.1.0.0", "10.1.0.0/", "10.1.0.0/33", "10.1.0.0/016", "x/16"}) {
    EXPECT_FALSE(parseCidr(bad).ok()) << bad;
  }
  auto host_bits = parseCidr("10.1.0.1/16");
  EXPECT_EQ(host_bits.status().message(), "invalid subnet 10.1.0.1/16: it should be 10.1.0.0/16");
}

TEST(Ipam, Overlaps) {
  EXPECT_TRUE(overlaps(cidr("10.0.0.0/8"), cidr("10.1.0.0/16")));
  EXPECT_TRUE(overlaps(cidr("10.1.0.0/16"), cidr("10.0.0.0/8")));
  EXPECT_FALSE(overlaps(cidr("10.1.0.0/16"), cidr("10.2.0.0/16")));
  EXPECT_TRUE(contains(cidr("192.168.16.0/20"), ip("192.168.31.255")));
  EXPECT_FALSE(contains(cidr("192.168.16.0/20"), ip("192.168.32.0")));
}

TEST(Ipam, DockerDefaultPoolsInOrder) {
  auto pools = dockerDefaultSubnets();
  ASSERT_EQ(pools.size(), 15u + 16u);
  EXPECT_EQ(formatCidr(pools.front()), "172.17.0.0/16");
  EXPECT_EQ(formatCidr(pools[14]), "172.31.0.0/16");
  EXPECT_EQ(formatCidr(pools[15]), "192.168.0.0/20");
  EXPECT_EQ(formatCidr(pools.back()), "192.168.240.0/20");
  // The default bridge holds 172.17: the first user network gets 172.18.
  EXPECT_EQ(formatCidr(*nextDefaultSubnet({cidr("172.17.0.0/16")})), "172.18.0.0/16");
  // A user subnet overlapping a pool makes Docker skip that pool.
  EXPECT_EQ(formatCidr(*nextDefaultSubnet({cidr("172.16.0.0/12")})), "192.168.0.0/20");
  EXPECT_FALSE(nextDefaultSubnet({cidr("0.0.0.0/0")}).ok());
}

TEST(Ipam, AllocatesFirstFreeHostAddress) {
  Ipv4Net n = cidr("172.18.0.0/16");
  EXPECT_EQ(formatIpv4(defaultGateway(n)), "172.18.0.1");
  std::set<uint32_t> taken = {defaultGateway(n)};
  uint32_t a = *allocateAddress(n, std::nullopt, taken);
  EXPECT_EQ(formatIpv4(a), "172.18.0.2");
  taken.insert(a);
  EXPECT_EQ(formatIpv4(*allocateAddress(n, std::nullopt, taken)), "172.18.0.3");
  // Inside an ip-range only.
  EXPECT_EQ(formatIpv4(*allocateAddress(n, cidr("172.18.5.0/24"), taken)), "172.18.5.0");
  EXPECT_FALSE(allocateAddress(n, cidr("10.0.0.0/24"), taken).ok());
  // Exhaustion: a /30 has two hosts.
  Ipv4Net tiny = cidr("10.9.9.0/30");
  std::set<uint32_t> t2 = {defaultGateway(tiny)};
  t2.insert(*allocateAddress(tiny, std::nullopt, t2));
  auto none = allocateAddress(tiny, std::nullopt, t2);
  EXPECT_EQ(none.status().message(),
            "no available IPv4 addresses on this network's address pools: 10.9.9.0/30");
}

TEST(Ipam, MacFromAddress) {
  EXPECT_EQ(macFromIpv4(ip("172.17.0.2")), "02:42:ac:11:00:02");
  EXPECT_EQ(macFromIpv4(ip("192.168.16.255")), "02:42:c0:a8:10:ff");
}

}  // namespace
}  // namespace arca::net
