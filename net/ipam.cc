#include "net/ipam.h"

#include <cstdio>

namespace arca::net {

StatusOr<uint32_t> parseIpv4(std::string_view text) {
  uint32_t ip = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') break;
    uint32_t v = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 4) {
      v = v * 10 + static_cast<uint32_t>(text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && text[i - digits] == '0')) break;
    ip = (ip << 8) | v;
    ++parts;
    if (parts < 4) {
      if (i >= text.size() || text[i] != '.') break;
      ++i;
    }
  }
  if (parts != 4 || i != text.size()) {
    return InvalidArgument("invalid IPv4 address: " + std::string(text));
  }
  return ip;
}

std::string formatIpv4(uint32_t ip) {
  char buf[16];
  snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
  return buf;
}

uint32_t netmask(int prefix) {
  return prefix <= 0 ? 0 : prefix >= 32 ? 0xFFFFFFFFu : ~((1u << (32 - prefix)) - 1);
}

StatusOr<Ipv4Net> parseCidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return InvalidArgument("invalid CIDR address: " + std::string(text));
  }
  auto ip = parseIpv4(text.substr(0, slash));
  std::string_view p = text.substr(slash + 1);
  int prefix = -1;
  if (!p.empty() && p.size() <= 2 && (p.size() == 1 || p[0] != '0')) {
    prefix = 0;
    for (char c : p) prefix = (c >= '0' && c <= '9') ? prefix * 10 + (c - '0') : 99;
  }
  if (!ip.ok() || prefix < 0 || prefix > 32) {
    return InvalidArgument("invalid CIDR address: " + std::string(text));
  }
  Ipv4Net n{*ip & netmask(prefix), prefix};
  if (n.addr != *ip) {
    return InvalidArgument("invalid subnet " + std::string(text) + ": it should be " +
                           formatCidr(n));
  }
  return n;
}

std::string formatCidr(const Ipv4Net& n) { return formatIpv4(n.addr) + "/" + std::to_string(n.prefix); }

bool contains(const Ipv4Net& n, uint32_t ip) { return (ip & netmask(n.prefix)) == n.addr; }

bool overlaps(const Ipv4Net& a, const Ipv4Net& b) {
  int p = a.prefix < b.prefix ? a.prefix : b.prefix;
  return (a.addr & netmask(p)) == (b.addr & netmask(p));
}

std::vector<Ipv4Net> dockerDefaultSubnets() {
  std::vector<Ipv4Net> out;
  for (uint32_t second = 17; second <= 31; ++second) out.push_back({(172u << 24) | (second << 16), 16});
  for (uint32_t third = 0; third < 256; third += 16) {
    out.push_back({(192u << 24) | (168u << 16) | (third << 8), 20});
  }
  return out;
}

StatusOr<Ipv4Net> nextDefaultSubnet(const std::vector<Ipv4Net>& in_use) {
  for (const auto& candidate : dockerDefaultSubnets()) {
    bool free = true;
    for (const auto& u : in_use) free = free && !overlaps(candidate, u);
    if (free) return candidate;
  }
  return Unavailable(
      "could not find an available, non-overlapping IPv4 address pool among the defaults to "
      "assign to the network");
}

uint32_t defaultGateway(const Ipv4Net& n) { return n.prefix >= 31 ? n.addr : n.addr + 1; }

StatusOr<uint32_t> allocateAddress(const Ipv4Net& subnet, const std::optional<Ipv4Net>& range,
                                   const std::set<uint32_t>& taken) {
  if (range && !(range->prefix >= subnet.prefix && contains(subnet, range->addr))) {
    return InvalidArgument("ip range " + formatCidr(*range) + " is not within subnet " +
                           formatCidr(subnet));
  }
  const Ipv4Net& pool = range ? *range : subnet;
  uint64_t size = 1ULL << (32 - pool.prefix);
  uint32_t broadcast = subnet.addr | ~netmask(subnet.prefix);
  for (uint64_t i = 0; i < size; ++i) {
    uint32_t ip = pool.addr + static_cast<uint32_t>(i);
    if (subnet.prefix < 31 && (ip == subnet.addr || ip == broadcast)) continue;
    if (taken.count(ip)) continue;
    return ip;
  }
  return Unavailable("no available IPv4 addresses on this network's address pools: " +
                     formatCidr(subnet));
}

std::string macFromIpv4(uint32_t ip) {
  char buf[18];
  snprintf(buf, sizeof buf, "02:42:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 255,
           (ip >> 8) & 255, ip & 255);
  return buf;
}

}  // namespace arca::net
