// IPv4 address management with Docker's rules (pure: no I/O, no State).
// The engine's deciders use it to choose subnets, gateways and addresses,
// which they then record as events (issue #5); nothing here remembers.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace arca::net {

// An IPv4 network: `addr` is the network address (host bits zero), host order.
struct Ipv4Net {
  uint32_t addr = 0;
  int prefix = 0;  // 0..32
  bool operator==(const Ipv4Net& o) const { return addr == o.addr && prefix == o.prefix; }
};

StatusOr<uint32_t> parseIpv4(std::string_view text);
std::string formatIpv4(uint32_t ip);
// "172.18.0.0/16". Host bits must be zero (Docker refuses the same subnet
// written with an address inside it).
StatusOr<Ipv4Net> parseCidr(std::string_view text);
std::string formatCidr(const Ipv4Net& n);

uint32_t netmask(int prefix);
bool contains(const Ipv4Net& n, uint32_t ip);
// True when the two networks share any address.
bool overlaps(const Ipv4Net& a, const Ipv4Net& b);

// Docker's default local address pools, in the order it hands them out:
// 172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/20, 192.168.16.0/20 ...
std::vector<Ipv4Net> dockerDefaultSubnets();
// The first default subnet overlapping none of `in_use`.
StatusOr<Ipv4Net> nextDefaultSubnet(const std::vector<Ipv4Net>& in_use);

// The gateway Docker picks for a subnet: its first host address.
uint32_t defaultGateway(const Ipv4Net& n);

// The first free host address of `subnet` (inside `range` when given),
// skipping the network and broadcast addresses and everything in `taken`
// (the gateway among them). Docker's exhaustion message when none is left.
StatusOr<uint32_t> allocateAddress(const Ipv4Net& subnet, const std::optional<Ipv4Net>& range,
                                   const std::set<uint32_t>& taken);

// The MAC address Docker derives from a container's IPv4 address:
// 02:42 followed by the four bytes of the address.
std::string macFromIpv4(uint32_t ip);

}  // namespace arca::net
