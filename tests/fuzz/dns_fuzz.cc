// libFuzzer target: the embedded DNS server's wire codec (net/dns.cc) on
// arbitrary datagrams, as a container may send them. Checks that parsing
// never crashes and that every response built for an accepted query parses
// back with the query's id and question, within the client's UDP size.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "net/dns.h"

using namespace arca::net;

namespace {

void checkResponse(const DnsMessage& q, const std::vector<uint8_t>& out) {
  auto r = parseDnsMessage(out);
  if (!r.ok() || !r->qr || r->id != q.id || r->rd != q.rd || !r->has_question) __builtin_trap();
  if (r->question.name != q.question.name || r->question.qtype != q.question.qtype) __builtin_trap();
  size_t limit = q.has_edns ? (q.edns_udp_size < 512 ? 512 : q.edns_udp_size) : 512;
  if (out.size() > limit && out.size() > 4096) __builtin_trap();
  if (r->has_edns != q.has_edns) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto err = buildDnsHeaderError(in, DnsRcode::kFormErr);
  if (!err.empty() && !parseDnsMessage(err).ok()) __builtin_trap();

  auto q = parseDnsMessage(in);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parsePtrName(text);
  (void)encodeDnsName(text);
  if (!q.ok() || q->qr || !q->has_question) return 0;

  (void)parsePtrName(q->question.name);
  (void)canonicalDnsName(q->question.name);
  std::vector<uint32_t> ips;
  for (size_t i = 0; i + 4 <= size && ips.size() < 300; i += 4) {
    ips.push_back((uint32_t{data[i]} << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]);
  }
  auto a = buildDnsAResponse(*q, ips);
  checkResponse(*q, a);
  if (parseDnsMessage(a)->answers.size() > ips.size()) __builtin_trap();
  checkResponse(*q, buildDnsPtrResponse(*q, q->question.name));
  checkResponse(*q, buildDnsPtrResponse(*q, "web.mynet"));
  for (auto rc : {DnsRcode::kNoError, DnsRcode::kNxDomain, DnsRcode::kServFail}) {
    checkResponse(*q, buildDnsResponse(*q, rc));
  }
  return 0;
}
