// The embedded DNS server of user-defined networks (issue #5), as Docker's
// 127.0.0.11 resolver behaves: container names and aliases of a network answer
// from a table, everything else is forwarded to the host's resolvers.
//
// Two layers:
//  - a wire codec (RFC 1035), pure functions without I/O. The parser reads
//    untrusted bytes from containers: it never reads out of bounds, follows
//    compression pointers only backwards (no loops) and rejects truncation.
//  - DnsServer: one epoll thread serving UDP sockets handed to it by the
//    network helper, each tagged with a scope (the network id).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace arca::net {

// ---------------------------------------------------------------------------
// Wire codec

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeNs = 2;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypePtr = 12;
inline constexpr uint16_t kDnsTypeAaaa = 28;
inline constexpr uint16_t kDnsTypeOpt = 41;
inline constexpr uint16_t kDnsClassIn = 1;
// Docker's embedded DNS answers with a TTL of 600 s.
inline constexpr uint32_t kDnsDefaultTtl = 600;

enum class DnsRcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

struct DnsQuestion {
  // Presentation form as sent (case kept), without the trailing dot; the root
  // is "". Bytes that are not printable, '.' and '\' inside a label are
  // escaped as "\DDD" / "\." / "\\".
  std::string name;
  std::string wire;  // the name in wire form, uncompressed, ending in the root label
  uint16_t qtype = 0;
  uint16_t qclass = 0;
};

struct DnsRecord {  // a resource record of the answer section
  std::string name;  // presentation form, as DnsQuestion::name
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  std::string rdata;   // raw bytes (names inside stay compressed)
  std::string target;  // PTR/CNAME/NS: the decoded target name; empty otherwise
};

struct DnsMessage {
  uint16_t id = 0;
  bool qr = false;  // a response
  uint8_t opcode = 0;
  bool aa = false, tc = false, rd = false, ra = false, cd = false;
  uint8_t rcode = 0;
  // Exactly one question in a query; a response may carry none (header-only
  // errors), then has_question is false.
  bool has_question = false;
  DnsQuestion question;
  std::vector<DnsRecord> answers;
  bool has_edns = false;  // an OPT record in the additional section
  uint16_t edns_udp_size = 0;
};

// Parses a whole message: header, question, answer/authority/additional
// records (only the answers are kept; one OPT is noticed). InvalidArgument on
// anything malformed or truncated, a query without exactly one question, more
// than one OPT. Bytes after the last counted record are ignored.
StatusOr<DnsMessage> parseDnsMessage(std::span<const uint8_t> msg);

// Responses to a parsed query: id, opcode, RD, CD and the question are
// copied; QR and RA are set; AA is not (as Docker). An OPT record (UDP size
// 4096) is added when the query had one. The answer is kept within the
// client's UDP size (512, or its EDNS size up to 4096): A records that do not
// fit are left out (the caller rotates the list), without TC since the server
// has no TCP.
std::vector<uint8_t> buildDnsResponse(const DnsMessage& query, DnsRcode rcode);
std::vector<uint8_t> buildDnsAResponse(const DnsMessage& query, std::span<const uint32_t> ipv4s,
                                       uint32_t ttl = kDnsDefaultTtl);  // host-order addresses
// `target` is a plain dotted name ("web.mynet", trailing dot optional);
// SERVFAIL when it is not a valid name.
std::vector<uint8_t> buildDnsPtrResponse(const DnsMessage& query, std::string_view target,
                                         uint32_t ttl = kDnsDefaultTtl);
// A header-only error (FORMERR/NOTIMP...) for bytes that did not parse: id,
// opcode and RD copied from the raw header. Empty when there is nothing to
// answer (shorter than a header, or already a response).
std::vector<uint8_t> buildDnsHeaderError(std::span<const uint8_t> raw, DnsRcode rcode);

// "web.mynet." -> wire form; nullopt on an empty label, a label over 63 bytes
// or a name over 255 bytes. "" and "." are the root.
std::optional<std::string> encodeDnsName(std::string_view dotted);
// Lower-case ASCII, one trailing dot removed: the key names are looked up by.
std::string canonicalDnsName(std::string_view name);
// "4.3.2.1.in-addr.arpa" (any case, trailing dot optional) -> 1.2.3.4 in host
// order; nullopt for anything else.
std::optional<uint32_t> parsePtrName(std::string_view name);

// ---------------------------------------------------------------------------
// Server

struct DnsServerOptions {
  // Upstream resolvers: "1.1.1.1", "1.1.1.1:5353", "2001:db8::1",
  // "[2001:db8::1]:53", "fe80::1%eth0" (port 53 by default).
  std::vector<std::string> upstreams;
  // Returns a fresh UDP socket of the address family given (AF_INET or
  // AF_INET6) for one forwarded query, or -1; the server owns and closes it.
  // The helper makes it in the host network namespace. Called on the server
  // thread.
  std::function<int(int family)> make_upstream_socket;
  // How long one upstream has to answer before the next is tried.
  std::chrono::milliseconds upstream_timeout{1000};
  uint32_t ttl = kDnsDefaultTtl;
  // Forwarded queries in flight at once; more are answered SERVFAIL.
  size_t max_pending = 256;
};

// Lookup rule, per query arriving on a socket of scope S:
//  - class IN, a name in S's table (exact, case-insensitive, trailing dot
//    ignored; "web.other" does not match "web"): A answers the addresses
//    (rotated on each answer), any other type answers NOERROR with no record.
//  - PTR for an in-addr.arpa name whose address S maps: the name.
//  - anything else is forwarded to the upstreams in order (raw query, fresh
//    id, fresh socket; next upstream on timeout, error, SERVFAIL or REFUSED)
//    and the answer relayed with the client's id; NXDOMAIN when none answers,
//    when there are no upstreams, or at once when S has forwarding off
//    (internal networks).
// Every method may be called from any thread, also while the server runs.
class DnsServer {
 public:
  static StatusOr<std::unique_ptr<DnsServer>> create(DnsServerOptions options);
  ~DnsServer();  // stops, closes every socket it owns
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Spawns the server thread / stops and joins it. Sockets and records stay;
  // start() may be called again. Forwarded queries in flight are dropped.
  Status start();
  void stop();

  // Serves a bound UDP socket (IPv4 or IPv6) for `scope`; takes ownership
  // (sets O_NONBLOCK, closes it on removal or destruction). Picked up at once
  // when running.
  Status addSocket(int fd, std::string scope);
  void removeSocket(int fd);

  // Sets (replaces) the IPv4 addresses `name` answers in `scope`; an empty
  // list removes the name. InvalidArgument on a bad name or address.
  Status setRecords(std::string_view scope, std::string_view name,
                    const std::vector<std::string>& ipv4s);
  void removeRecords(std::string_view scope, std::string_view name);
  // The name a PTR query for `ipv4` answers in `scope`.
  Status setReverse(std::string_view scope, std::string_view ipv4, std::string_view name);
  void removeReverse(std::string_view scope, std::string_view ipv4);
  // Forwarding of unknown names for `scope` (on by default; off for internal networks).
  void setForwarding(std::string_view scope, bool enabled);
  // Queries from `ipv4` (a container's address on some network) also search
  // these scopes after the socket's own: a container on several networks
  // resolves the names of all of them. An empty list forgets the client.
  void setClientScopes(std::string_view ipv4, const std::vector<std::string>& scopes);
  // Drops the scope's records, reverse map and setting, and closes its sockets.
  void removeScope(std::string_view scope);
  // Replaces the upstream list (same forms as DnsServerOptions::upstreams).
  Status setUpstreams(const std::vector<std::string>& upstreams);

 private:
  struct Impl;
  explicit DnsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arca::net
