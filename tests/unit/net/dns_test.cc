#include "net/dns.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "net/ipam.h"

namespace arca::net {
namespace {

using Bytes = std::vector<uint8_t>;

// A query as a stub resolver sends it: RD set, one question, optional OPT.
Bytes makeQuery(uint16_t id, std::string_view name, uint16_t qtype, bool edns = false) {
  Bytes q = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0,
             0, static_cast<uint8_t>(edns ? 1 : 0)};
  auto wire = encodeDnsName(name);
  EXPECT_TRUE(wire.has_value()) << name;
  q.insert(q.end(), wire->begin(), wire->end());
  q.insert(q.end(), {static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype), 0, 1});
  if (edns) q.insert(q.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});  // UDP size 1232
  return q;
}

DnsMessage parse(const Bytes& b) {
  auto m = parseDnsMessage(b);
  EXPECT_TRUE(m.ok()) << m.status().toString();
  return m.ok() ? *m : DnsMessage{};
}

std::vector<std::string> aAnswers(const DnsMessage& m) {
  std::vector<std::string> out;
  for (const auto& r : m.answers) {
    if (r.type != kDnsTypeA || r.rdata.size() != 4) continue;
    auto* p = reinterpret_cast<const uint8_t*>(r.rdata.data());
    out.push_back(formatIpv4((uint32_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3]));
  }
  return out;
}

uint32_t ip(const char* s) { return *parseIpv4(s); }

// ---------------------------------------------------------------------------
// Codec

TEST(DnsCodec, ParsesQuery) {
  auto m = parse(makeQuery(0xBEEF, "Web.", kDnsTypeAaaa, true));
  EXPECT_EQ(m.id, 0xBEEF);
  EXPECT_FALSE(m.qr);
  EXPECT_TRUE(m.rd);
  EXPECT_EQ(m.opcode, 0);
  ASSERT_TRUE(m.has_question);
  EXPECT_EQ(m.question.name, "Web");
  EXPECT_EQ(m.question.qtype, kDnsTypeAaaa);
  EXPECT_EQ(m.question.qclass, kDnsClassIn);
  EXPECT_TRUE(m.has_edns);
  EXPECT_EQ(m.edns_udp_size, 1232);
}

TEST(DnsCodec, AResponseRoundTrip) {
  auto q = parse(makeQuery(7, "BackEnd", kDnsTypeA));
  std::vector<uint32_t> ips = {ip("172.18.0.2"), ip("172.18.0.3"), ip("10.0.0.1")};
  auto r = parse(buildDnsAResponse(q, ips));
  EXPECT_EQ(r.id, 7);
  EXPECT_TRUE(r.qr);
  EXPECT_TRUE(r.ra);
  EXPECT_TRUE(r.rd);
  EXPECT_FALSE(r.aa);
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.question.name, "BackEnd");  // the question is echoed as sent
  EXPECT_EQ(r.question.qtype, kDnsTypeA);
  EXPECT_FALSE(r.has_edns);
  ASSERT_EQ(r.answers.size(), 3u);
  EXPECT_EQ(r.answers[0].name, "BackEnd");
  EXPECT_EQ(r.answers[0].ttl, 600u);
  EXPECT_EQ(r.answers[0].rclass, kDnsClassIn);
  EXPECT_EQ(aAnswers(r), (std::vector<std::string>{"172.18.0.2", "172.18.0.3", "10.0.0.1"}));
}

TEST(DnsCodec, PtrAndEmptyResponses) {
  auto q = parse(makeQuery(9, "2.0.18.172.in-addr.arpa", kDnsTypePtr, true));
  auto r = parse(buildDnsPtrResponse(q, "web.mynet.", 30));
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].type, kDnsTypePtr);
  EXPECT_EQ(r.answers[0].target, "web.mynet");
  EXPECT_EQ(r.answers[0].ttl, 30u);
  EXPECT_TRUE(r.has_edns);  // an OPT answers an OPT
  EXPECT_EQ(parse(buildDnsPtrResponse(q, "a..b")).rcode, 2);

  for (auto rc : {DnsRcode::kNoError, DnsRcode::kNxDomain, DnsRcode::kServFail, DnsRcode::kRefused,
                  DnsRcode::kFormErr}) {
    auto e = parse(buildDnsResponse(q, rc));
    EXPECT_EQ(e.rcode, static_cast<uint8_t>(rc));
    EXPECT_TRUE(e.answers.empty());
    EXPECT_EQ(e.question.name, "2.0.18.172.in-addr.arpa");
    EXPECT_EQ(e.id, 9);
  }
}

TEST(DnsCodec, HeaderOnlyErrors) {
  Bytes raw = {0x12, 0x34, 0x01, 0x00, 0, 5, 0, 0, 0, 0, 0, 0, 0xff};
  auto e = buildDnsHeaderError(raw, DnsRcode::kFormErr);
  auto m = parse(e);
  EXPECT_EQ(m.id, 0x1234);
  EXPECT_TRUE(m.qr);
  EXPECT_TRUE(m.rd);
  EXPECT_EQ(m.rcode, 1);
  EXPECT_FALSE(m.has_question);
  EXPECT_TRUE(buildDnsHeaderError(Bytes(11, 0), DnsRcode::kFormErr).empty());
  raw[2] |= 0x80;  // a response is never answered
  EXPECT_TRUE(buildDnsHeaderError(raw, DnsRcode::kFormErr).empty());
}

TEST(DnsCodec, AnswersStayWithinTheClientsSize) {
  std::vector<uint32_t> ips;
  for (uint32_t i = 0; i < 100; ++i) ips.push_back(ip("10.0.0.0") + i);
  auto plain = buildDnsAResponse(parse(makeQuery(1, "web", kDnsTypeA)), ips);
  EXPECT_LE(plain.size(), 512u);
  EXPECT_EQ(parse(plain).answers.size(), (512u - 12 - 9) / 16);
  ips.resize(70);  // 12 + 9 + 70 * 16 + 11 bytes fit the client's 1232
  auto big = buildDnsAResponse(parse(makeQuery(1, "web", kDnsTypeA, true)), ips);
  EXPECT_EQ(parse(big).answers.size(), 70u);
  EXPECT_LE(big.size(), 1232u);
}

TEST(DnsCodec, RejectsMalformedInput) {
  Bytes good = makeQuery(1, "web", kDnsTypeA);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(parseDnsMessage(Bytes(good.begin(), good.begin() + n)).ok()) << "truncated " << n;
  }
  auto withName = [](Bytes name) {
    Bytes q = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    name.insert(name.end(), {0, 1, 0, 1});
    name.insert(name.begin(), q.begin(), q.end());  // (appending to `q` trips GCC 12's -Warray-bounds)
    return name;
  };
  Bytes label64 = {64};
  label64.resize(65, 'a');
  label64.push_back(0);
  EXPECT_FALSE(parseDnsMessage(withName(label64)).ok()) << "label > 63";
  Bytes long_name;
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.resize(long_name.size() + 63, 'x');
  }
  long_name.push_back(0);
  EXPECT_FALSE(parseDnsMessage(withName(long_name)).ok()) << "name > 255";
  EXPECT_FALSE(parseDnsMessage(withName({0xC0, 12})).ok()) << "pointer to itself";
  EXPECT_FALSE(parseDnsMessage(withName({1, 'a', 0xC0, 12})).ok()) << "pointer loop";
  EXPECT_FALSE(parseDnsMessage(withName({0xC0, 20, 0})).ok()) << "forward pointer";
  EXPECT_FALSE(parseDnsMessage(withName({0xC0, 2})).ok()) << "pointer into the header";
  EXPECT_FALSE(parseDnsMessage(withName({0x80, 0})).ok()) << "reserved label type";

  Bytes q0 = good;
  q0[5] = 0;
  EXPECT_FALSE(parseDnsMessage(q0).ok()) << "qdcount 0";
  Bytes q2 = good;
  q2[5] = 2;
  EXPECT_FALSE(parseDnsMessage(q2).ok()) << "qdcount 2";
  for (int field : {4, 6, 8, 10}) {
    Bytes huge = good;
    huge[field] = 0xFF;
    huge[field + 1] = 0xFF;
    EXPECT_FALSE(parseDnsMessage(huge).ok()) << "huge count at " << field;
  }
  Bytes ar1 = good;  // one additional record announced, bytes cut short
  ar1[11] = 1;
  ar1.insert(ar1.end(), {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2});
  EXPECT_FALSE(parseDnsMessage(ar1).ok()) << "truncated rdata";
  Bytes two_opts = makeQuery(1, "web", kDnsTypeA, true);
  two_opts[11] = 2;
  two_opts.insert(two_opts.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(parseDnsMessage(two_opts).ok()) << "two OPT";
  Bytes trailing = good;  // bytes after the last record are ignored
  trailing.push_back(0xAB);
  EXPECT_TRUE(parseDnsMessage(trailing).ok());
}

TEST(DnsCodec, CompressedNamesAndEscapes) {
  // A response naming its answer by a pointer, then a pointer to a pointer's suffix.
  auto q = parse(makeQuery(3, "a.b", kDnsTypePtr));
  auto r = buildDnsPtrResponse(q, "x.y");
  auto m = parse(r);
  EXPECT_EQ(m.answers[0].name, "a.b");
  Bytes odd = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a', '.', 0x01, 0, 0, 1, 0, 1};
  EXPECT_EQ(parse(odd).question.name, "a\\.\\001");
}

TEST(DnsCodec, NameHelpers) {
  EXPECT_EQ(canonicalDnsName("Web.MyNet."), "web.mynet");
  EXPECT_EQ(*encodeDnsName("ab.c."), std::string("\2ab\1c\0", 6));
  EXPECT_EQ(*encodeDnsName("."), std::string(1, '\0'));
  EXPECT_FALSE(encodeDnsName("a..b").has_value());
  EXPECT_FALSE(encodeDnsName(std::string(64, 'a')).has_value());
  EXPECT_EQ(parsePtrName("4.3.2.1.IN-ADDR.ARPA."), ip("1.2.3.4"));
  for (const char* bad : {"3.2.1.in-addr.arpa", "5.4.3.2.1.in-addr.arpa", "x.3.2.1.in-addr.arpa",
                          "256.3.2.1.in-addr.arpa", "in-addr.arpa", "4.3.2.1.ip6.arpa"}) {
    EXPECT_FALSE(parsePtrName(bad).has_value()) << bad;
  }
}

// ---------------------------------------------------------------------------
// Server on 127.0.0.1

int boundUdp(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Sends `q` to 127.0.0.1:port and waits up to `wait` for the answer.
std::optional<Bytes> ask(uint16_t port, const Bytes& q,
                         std::chrono::milliseconds wait = std::chrono::milliseconds(1500)) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  std::optional<Bytes> out;
  if (send(fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size())) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) == 1) {
      Bytes buf(4096);
      ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n >= 0) {
        buf.resize(static_cast<size_t>(n));
        out = std::move(buf);
      }
    }
  }
  close(fd);
  return out;
}

DnsMessage askParsed(uint16_t port, const Bytes& q) {
  auto r = ask(port, q);
  EXPECT_TRUE(r.has_value()) << "no answer";
  return r ? parse(*r) : DnsMessage{};
}

// A fake upstream on 127.0.0.1 that answers every A query with 9.9.9.9.
class FakeUpstream {
 public:
  FakeUpstream() : fd_(boundUdp(&port_)) {
    thread_ = std::thread([this] {
      while (!done_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 20) != 1) continue;
        Bytes buf(4096);
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                             &len);
        if (n < 0) continue;
        buf.resize(static_cast<size_t>(n));
        auto q = parseDnsMessage(buf);
        if (!q.ok()) continue;
        last_id_ = q->id;
        ++queries_;
        std::vector<uint32_t> ips = {ip("9.9.9.9")};
        auto r = buildDnsAResponse(*q, ips, 42);
        sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~FakeUpstream() {
    done_ = true;
    thread_.join();
    close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_; }
  uint16_t lastId() const { return last_id_; }

 private:
  uint16_t port_ = 0;
  int fd_;
  std::atomic<bool> done_{false};
  std::atomic<int> queries_{0};
  std::atomic<uint16_t> last_id_{0};
  std::thread thread_;
};

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DnsServerOptions o;
    o.make_upstream_socket = [](int family) {
      return socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    };
    o.upstream_timeout = std::chrono::milliseconds(100);
    auto s = DnsServer::create(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().toString();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->start().ok());
    port_x_ = addSocket("netx");
    port_y_ = addSocket("nety");
  }
  uint16_t addSocket(const std::string& scope) {
    uint16_t port = 0;
    int fd = boundUdp(&port);
    EXPECT_TRUE(server_->addSocket(fd, scope).ok());
    return port;
  }

  std::unique_ptr<DnsServer> server_;
  uint16_t port_x_ = 0, port_y_ = 0;
};

TEST_F(DnsServerTest, AnswersLocalNamesPerScope) {
  ASSERT_TRUE(server_->setRecords("netx", "web", {"172.18.0.2"}).ok());
  ASSERT_TRUE(server_->setRecords("netx", "Backend.", {"172.18.0.3", "172.18.0.4"}).ok());
  ASSERT_TRUE(server_->setReverse("netx", "172.18.0.2", "web.netx").ok());
  EXPECT_FALSE(server_->setRecords("netx", "bad", {"1.2.3"}).ok());
  EXPECT_FALSE(server_->setRecords("netx", "a..b", {"1.2.3.4"}).ok());

  auto a = askParsed(port_x_, makeQuery(0x1111, "WEB.", kDnsTypeA));
  EXPECT_EQ(a.id, 0x1111);
  EXPECT_EQ(a.rcode, 0);
  EXPECT_EQ(aAnswers(a), std::vector<std::string>{"172.18.0.2"});
  EXPECT_EQ(a.answers[0].ttl, 600u);

  // Several addresses, rotated between answers.
  auto b1 = aAnswers(askParsed(port_x_, makeQuery(2, "backend", kDnsTypeA)));
  auto b2 = aAnswers(askParsed(port_x_, makeQuery(3, "backend", kDnsTypeA)));
  ASSERT_EQ(b1.size(), 2u);
  EXPECT_NE(b1, b2);
  std::sort(b2.begin(), b2.end());
  EXPECT_EQ(b2, (std::vector<std::string>{"172.18.0.3", "172.18.0.4"}));

  // busybox nslookup asks AAAA too: an empty NOERROR, not NXDOMAIN.
  auto aaaa = askParsed(port_x_, makeQuery(4, "web", kDnsTypeAaaa, true));
  EXPECT_EQ(aaaa.rcode, 0);
  EXPECT_TRUE(aaaa.answers.empty());
  EXPECT_TRUE(aaaa.has_edns);

  auto ptr = askParsed(port_x_, makeQuery(5, "2.0.18.172.in-addr.arpa", kDnsTypePtr));
  ASSERT_EQ(ptr.answers.size(), 1u);
  EXPECT_EQ(ptr.answers[0].target, "web.netx");

  // No upstreams: everything unknown is NXDOMAIN, also in the other scope.
  EXPECT_EQ(askParsed(port_x_, makeQuery(6, "web.other", kDnsTypeA)).rcode, 3);
  EXPECT_EQ(askParsed(port_y_, makeQuery(7, "web", kDnsTypeA)).rcode, 3);
  EXPECT_EQ(askParsed(port_y_, makeQuery(8, "2.0.18.172.in-addr.arpa", kDnsTypePtr)).rcode, 3);

  server_->removeRecords("netx", "WEB");
  EXPECT_EQ(askParsed(port_x_, makeQuery(9, "web", kDnsTypeA)).rcode, 3);
  server_->removeReverse("netx", "172.18.0.2");
  EXPECT_EQ(askParsed(port_x_, makeQuery(10, "2.0.18.172.in-addr.arpa", kDnsTypePtr)).rcode, 3);
}

TEST_F(DnsServerTest, MalformedQueriesGetFormErrAndServingGoesOn) {
  ASSERT_TRUE(server_->setRecords("netx", "web", {"172.18.0.2"}).ok());
  Bytes loop = {0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
  auto e = ask(port_x_, loop);
  ASSERT_TRUE(e.has_value());
  auto m = parse(*e);
  EXPECT_EQ(m.id, 0xABCD);
  EXPECT_EQ(m.rcode, 1);
  EXPECT_FALSE(ask(port_x_, Bytes{1, 2, 3}, std::chrono::milliseconds(50)).has_value());
  EXPECT_EQ(aAnswers(askParsed(port_x_, makeQuery(1, "web", kDnsTypeA))).size(), 1u);
}

TEST_F(DnsServerTest, ForwardsUnknownNames) {
  FakeUpstream up;
  uint16_t silent_port = 0;
  int silent = boundUdp(&silent_port);  // bound, never answers
  ASSERT_TRUE(server_->setUpstreams({"127.0.0.1:" + std::to_string(silent_port), up.address()}).ok());
  ASSERT_TRUE(server_->setRecords("netx", "web", {"172.18.0.2"}).ok());

  // The silent one times out, the next answers; the client gets its own id back.
  auto r = askParsed(port_x_, makeQuery(0x4242, "example.com", kDnsTypeA));
  EXPECT_EQ(r.id, 0x4242);
  EXPECT_EQ(aAnswers(r), std::vector<std::string>{"9.9.9.9"});
  EXPECT_EQ(up.queries(), 1);
  // Unknown PTRs are forwarded too; local names are not.
  EXPECT_EQ(askParsed(port_y_, makeQuery(2, "9.9.9.9.in-addr.arpa", kDnsTypePtr)).rcode, 0);
  EXPECT_EQ(up.queries(), 2);
  EXPECT_EQ(aAnswers(askParsed(port_x_, makeQuery(3, "web", kDnsTypeA))),
            std::vector<std::string>{"172.18.0.2"});
  EXPECT_EQ(up.queries(), 2);

  // Internal networks never forward.
  server_->setForwarding("nety", false);
  EXPECT_EQ(askParsed(port_y_, makeQuery(4, "example.com", kDnsTypeA)).rcode, 3);
  EXPECT_EQ(up.queries(), 2);

  // Only silent upstreams: NXDOMAIN after the timeout.
  ASSERT_TRUE(server_->setUpstreams({"127.0.0.1:" + std::to_string(silent_port)}).ok());
  auto t0 = std::chrono::steady_clock::now();
  auto nx = askParsed(port_x_, makeQuery(5, "example.org", kDnsTypeA));
  EXPECT_EQ(nx.id, 5);
  EXPECT_EQ(nx.rcode, 3);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(90));
  close(silent);

  // A closed port refuses (ICMP) at once: NXDOMAIN well before the timeout.
  ASSERT_TRUE(server_->setUpstreams({"127.0.0.1:" + std::to_string(silent_port)}).ok());
  EXPECT_EQ(askParsed(port_x_, makeQuery(6, "example.net", kDnsTypeA)).rcode, 3);
  EXPECT_FALSE(server_->setUpstreams({"not an address"}).ok());
}

TEST_F(DnsServerTest, SocketsComeAndGoWhileRunning) {
  ASSERT_TRUE(server_->setRecords("netz", "db", {"10.9.0.5"}).ok());
  uint16_t port_z = addSocket("netz");
  EXPECT_EQ(aAnswers(askParsed(port_z, makeQuery(1, "db", kDnsTypeA))),
            std::vector<std::string>{"10.9.0.5"});
  server_->removeScope("netz");
  // The records go at once; the socket is closed by the loop shortly after, so
  // a query may still get an answer, but never from the removed scope.
  auto late = ask(port_z, makeQuery(2, "db", kDnsTypeA), std::chrono::milliseconds(100));
  if (late) {
    auto parsed = parseDnsMessage(*late);
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed->answers.empty());
  }
  server_->stop();
  EXPECT_FALSE(ask(port_x_, makeQuery(3, "db", kDnsTypeA), std::chrono::milliseconds(50)));
  ASSERT_TRUE(server_->start().ok());
  EXPECT_EQ(askParsed(port_x_, makeQuery(4, "db", kDnsTypeA)).rcode, 3);
}

}  // namespace
}  // namespace arca::net
