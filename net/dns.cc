#include "net/dns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "net/ipam.h"

namespace arca::net {

// ---------------------------------------------------------------------------
// Wire codec

namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameWire = 255;
constexpr size_t kOptSize = 11;  // root name, type, class, ttl, rdlength 0
constexpr uint16_t kOurEdnsSize = 4096;

uint16_t get16(std::span<const uint8_t> m, size_t p) {
  return static_cast<uint16_t>((m[p] << 8) | m[p + 1]);
}
uint32_t get32(std::span<const uint8_t> m, size_t p) {
  return (uint32_t{get16(m, p)} << 16) | get16(m, p + 2);
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

void appendEscapedLabel(std::string& text, std::span<const uint8_t> label) {
  for (uint8_t c : label) {
    if (c == '.' || c == '\\') {
      text += '\\';
      text += static_cast<char>(c);
    } else if (c < 0x21 || c > 0x7e) {
      char buf[5];
      snprintf(buf, sizeof buf, "\\%03u", c);
      text += buf;
    } else {
      text += static_cast<char>(c);
    }
  }
}

// Reads a possibly compressed name at *pos and moves *pos past it. A pointer
// must point before the previous jump target (before the name's start for the
// first one), so jumps strictly go backwards and always end.
bool readName(std::span<const uint8_t> m, size_t* pos, std::string* wire, std::string* text) {
  size_t p = *pos;
  size_t limit = p;
  size_t resume = 0;
  bool jumped = false;
  wire->clear();
  text->clear();
  while (true) {
    if (p >= m.size()) return false;
    uint8_t len = m[p];
    if ((len & 0xC0) == 0xC0) {
      if (p + 1 >= m.size()) return false;
      size_t target = (size_t{len & 0x3Fu} << 8) | m[p + 1];
      if (target >= limit || target < kHeaderSize) return false;
      if (!jumped) resume = p + 2;
      jumped = true;
      limit = target;
      p = target;
      continue;
    }
    if (len & 0xC0) return false;  // 0x40 and 0x80 label types are not in use
    if (len == 0) {
      wire->push_back('\0');
      ++p;
      break;
    }
    if (p + 1 + len > m.size() || wire->size() + 1 + len + 1 > kMaxNameWire) return false;
    if (!wire->empty()) text->push_back('.');
    wire->append(reinterpret_cast<const char*>(&m[p]), 1 + len);
    appendEscapedLabel(*text, m.subspan(p + 1, len));
    p += 1 + len;
  }
  *pos = jumped ? resume : p;
  return true;
}

char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

Status malformed(const char* what) { return InvalidArgument(std::string("malformed DNS message: ") + what); }

size_t maxResponseSize(const DnsMessage& q) {
  if (!q.has_edns) return 512;
  return std::clamp<size_t>(q.edns_udp_size, 512, kOurEdnsSize);
}

void putHeader(std::vector<uint8_t>& out, uint16_t id, uint8_t opcode, bool rd, bool cd,
               DnsRcode rcode) {
  put16(out, id);
  uint16_t flags = 0x8000 | static_cast<uint16_t>((opcode & 0xF) << 11) | 0x0080 |
                   static_cast<uint16_t>(static_cast<uint8_t>(rcode) & 0xF);
  if (rd) flags |= 0x0100;
  if (cd) flags |= 0x0010;
  put16(out, flags);
  for (int i = 0; i < 4; ++i) put16(out, 0);  // counts, filled in by setCount
}

void setCount(std::vector<uint8_t>& out, int index, uint16_t n) {  // 0 qd, 1 an, 2 ns, 3 ar
  out[4 + 2 * index] = static_cast<uint8_t>(n >> 8);
  out[5 + 2 * index] = static_cast<uint8_t>(n);
}

// One builder behind the public ones: the answers are `ipv4s` (A) or
// `ptr_wire` (PTR), each naming the question by a pointer to offset 12.
std::vector<uint8_t> buildResponse(const DnsMessage& q, DnsRcode rcode,
                                   std::span<const uint32_t> ipv4s, const std::string* ptr_wire,
                                   uint32_t ttl) {
  std::vector<uint8_t> out;
  const size_t limit = maxResponseSize(q) - (q.has_edns ? kOptSize : 0);
  out.reserve(std::min<size_t>(limit + kOptSize, 1024));
  putHeader(out, q.id, q.opcode, q.rd, q.cd, rcode);
  if (q.has_question) {
    out.insert(out.end(), q.question.wire.begin(), q.question.wire.end());
    put16(out, q.question.qtype);
    put16(out, q.question.qclass);
    setCount(out, 0, 1);
  }
  uint16_t answers = 0;
  auto putAnswerHead = [&](uint16_t type, uint16_t rdlength) {
    put16(out, 0xC000 | kHeaderSize);
    put16(out, type);
    put16(out, kDnsClassIn);
    put32(out, ttl);
    put16(out, rdlength);
  };
  if (q.has_question) {
    for (uint32_t ip : ipv4s) {
      if (out.size() + 16 > limit || answers == 0xFFFF) break;
      putAnswerHead(kDnsTypeA, 4);
      put32(out, ip);
      ++answers;
    }
    if (ptr_wire && out.size() + 12 + ptr_wire->size() <= limit) {
      putAnswerHead(kDnsTypePtr, static_cast<uint16_t>(ptr_wire->size()));
      out.insert(out.end(), ptr_wire->begin(), ptr_wire->end());
      ++answers;
    }
  }
  setCount(out, 1, answers);
  if (q.has_edns) {
    out.push_back(0);  // root
    put16(out, kDnsTypeOpt);
    put16(out, kOurEdnsSize);
    put32(out, 0);  // extended rcode 0, version 0, no DO
    put16(out, 0);
    setCount(out, 3, 1);
  }
  return out;
}

}  // namespace

StatusOr<DnsMessage> parseDnsMessage(std::span<const uint8_t> m) {
  if (m.size() < kHeaderSize) return malformed("shorter than a header");
  DnsMessage msg;
  msg.id = get16(m, 0);
  uint16_t flags = get16(m, 2);
  msg.qr = flags & 0x8000;
  msg.opcode = (flags >> 11) & 0xF;
  msg.aa = flags & 0x0400;
  msg.tc = flags & 0x0200;
  msg.rd = flags & 0x0100;
  msg.ra = flags & 0x0080;
  msg.cd = flags & 0x0010;
  msg.rcode = flags & 0xF;
  uint16_t qd = get16(m, 4), an = get16(m, 6), ns = get16(m, 8), ar = get16(m, 10);
  if (qd > 1 || (qd == 0 && !msg.qr)) return malformed("not exactly one question");
  // Every record takes at least 11 bytes: counts that cannot fit are refused
  // before looking at them.
  if (size_t{qd} * 5 + (size_t{an} + ns + ar) * 11 > m.size() - kHeaderSize) {
    return malformed("counts exceed the message");
  }
  size_t pos = kHeaderSize;
  if (qd == 1) {
    if (!readName(m, &pos, &msg.question.wire, &msg.question.name) || pos + 4 > m.size()) {
      return malformed("bad question");
    }
    msg.question.qtype = get16(m, pos);
    msg.question.qclass = get16(m, pos + 2);
    pos += 4;
    msg.has_question = true;
  }
  std::string wire, text;
  for (size_t i = 0, total = size_t{an} + ns + ar; i < total; ++i) {
    if (!readName(m, &pos, &wire, &text) || pos + 10 > m.size()) return malformed("bad record");
    uint16_t type = get16(m, pos), rclass = get16(m, pos + 2);
    uint32_t ttl = get32(m, pos + 4);
    size_t rdlength = get16(m, pos + 8);
    size_t rdata = pos + 10;
    if (rdata + rdlength > m.size()) return malformed("truncated record data");
    pos = rdata + rdlength;
    if (i < an) {
      DnsRecord r{text, type, rclass, ttl,
                  std::string(reinterpret_cast<const char*>(m.data() + rdata), rdlength), {}};
      if (type == kDnsTypePtr || type == kDnsTypeCname || type == kDnsTypeNs) {
        size_t p = rdata;
        std::string target_wire;
        if (!readName(m, &p, &target_wire, &r.target) || p != pos) {
          return malformed("bad name in record data");
        }
      }
      msg.answers.push_back(std::move(r));
    } else if (type == kDnsTypeOpt) {
      if (i < size_t{an} + ns || msg.has_edns || wire.size() != 1) return malformed("bad OPT");
      msg.has_edns = true;
      msg.edns_udp_size = rclass;
    }
  }
  return msg;
}

std::vector<uint8_t> buildDnsResponse(const DnsMessage& query, DnsRcode rcode) {
  return buildResponse(query, rcode, {}, nullptr, 0);
}

std::vector<uint8_t> buildDnsAResponse(const DnsMessage& query, std::span<const uint32_t> ipv4s,
                                       uint32_t ttl) {
  return buildResponse(query, DnsRcode::kNoError, ipv4s, nullptr, ttl);
}

std::vector<uint8_t> buildDnsPtrResponse(const DnsMessage& query, std::string_view target,
                                         uint32_t ttl) {
  auto wire = encodeDnsName(target);
  if (!wire) return buildDnsResponse(query, DnsRcode::kServFail);
  return buildResponse(query, DnsRcode::kNoError, {}, &*wire, ttl);
}

std::vector<uint8_t> buildDnsHeaderError(std::span<const uint8_t> raw, DnsRcode rcode) {
  if (raw.size() < kHeaderSize || (raw[2] & 0x80)) return {};
  std::vector<uint8_t> out;
  putHeader(out, get16(raw, 0), (raw[2] >> 3) & 0xF, raw[2] & 0x01, raw[3] & 0x10, rcode);
  return out;
}

std::optional<std::string> encodeDnsName(std::string_view dotted) {
  if (!dotted.empty() && dotted.back() == '.') dotted.remove_suffix(1);
  std::string wire;
  while (!dotted.empty()) {
    size_t dot = dotted.find('.');
    std::string_view label = dotted.substr(0, dot);
    if (label.empty() || label.size() > 63) return std::nullopt;
    wire.push_back(static_cast<char>(label.size()));
    wire.append(label);
    if (dot == std::string_view::npos) break;
    dotted.remove_prefix(dot + 1);
    if (dotted.empty()) return std::nullopt;  // "a..": an empty last label
  }
  wire.push_back('\0');
  if (wire.size() > kMaxNameWire) return std::nullopt;
  return wire;
}

std::string canonicalDnsName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) c = lowerAscii(c);
  return out;
}

std::optional<uint32_t> parsePtrName(std::string_view name) {
  std::string n = canonicalDnsName(name);
  constexpr std::string_view kSuffix = ".in-addr.arpa";
  if (n.size() <= kSuffix.size() || !n.ends_with(kSuffix)) return std::nullopt;
  std::string_view octets = std::string_view(n).substr(0, n.size() - kSuffix.size());
  std::string forward;  // the four labels reversed
  for (int i = 0; i < 4; ++i) {
    size_t dot = octets.rfind('.');
    std::string_view part = dot == std::string_view::npos ? octets : octets.substr(dot + 1);
    if (!forward.empty()) forward += '.';
    forward += part;
    if (dot == std::string_view::npos) {
      if (i != 3) return std::nullopt;
      octets = {};
    } else {
      octets = octets.substr(0, dot);
    }
  }
  if (!octets.empty()) return std::nullopt;
  auto ip = parseIpv4(forward);
  if (!ip.ok()) return std::nullopt;
  return *ip;
}

// ---------------------------------------------------------------------------
// Server

namespace {

struct Upstream {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

StatusOr<Upstream> parseUpstream(std::string_view text) {
  std::string host(text), port = "53";
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    size_t close = host.find(']');
    if (close == std::string::npos) return InvalidArgument("invalid DNS upstream: " + host);
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return InvalidArgument("invalid DNS upstream: " + host);
      port = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {  // v4:port
    port = host.substr(host.find(':') + 1);
    host.resize(host.find(':'));
  }
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (port.empty() || getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
    return InvalidArgument("invalid DNS upstream: " + std::string(text));
  }
  Upstream u;
  memcpy(&u.addr, res->ai_addr, res->ai_addrlen);
  u.len = res->ai_addrlen;
  freeaddrinfo(res);
  return u;
}

StatusOr<std::vector<Upstream>> parseUpstreams(const std::vector<std::string>& list) {
  std::vector<Upstream> out;
  for (const auto& s : list) {
    auto u = parseUpstream(s);
    if (!u.ok()) return u.status();
    out.push_back(*u);
  }
  return out;
}

bool setNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

bool sameQuestion(const DnsQuestion& a, const DnsQuestion& b) {
  return a.qtype == b.qtype && a.qclass == b.qclass && a.wire.size() == b.wire.size() &&
         std::equal(a.wire.begin(), a.wire.end(), b.wire.begin(),
                    [](char x, char y) { return lowerAscii(x) == lowerAscii(y); });
}

using Clock = std::chrono::steady_clock;

}  // namespace

struct DnsServer::Impl {
  struct Name {
    std::vector<uint32_t> ipv4s;
    size_t rotation = 0;
  };
  struct Scope {
    std::unordered_map<std::string, Name> names;       // canonical name -> addresses
    std::unordered_map<uint32_t, std::string> reverse;  // address -> PTR target
    bool forwarding = true;
  };
  struct Command {
    enum Kind { kAdd, kRemoveFd, kRemoveScope } kind;
    int fd = -1;
    std::string scope;
  };
  struct ServingSocket {
    std::string scope;
    uint64_t generation = 0;
  };
  // A forwarded query, keyed by the upstream socket it waits on.
  struct Pending {
    int serve_fd = -1;
    uint64_t serve_generation = 0;
    sockaddr_storage client{};
    socklen_t client_len = 0;
    std::vector<uint8_t> query;  // raw, as the client sent it
    DnsMessage parsed;
    uint16_t upstream_id = 0;
    std::vector<Upstream> upstreams;
    size_t next = 0;  // the next upstream to try
    Clock::time_point deadline;
  };

  DnsServerOptions options;
  int epfd = -1;
  int wakefd = -1;

  std::mutex mu;  // guards everything up to `running`
  std::unordered_map<std::string, Scope> scopes;
  // A client on several networks resolves the names of all of them, whichever
  // gateway it asks (dockerd's resolver answers per container, too).
  std::unordered_map<uint32_t, std::vector<std::string>> client_scopes;
  std::vector<Upstream> upstreams;
  std::vector<Command> commands;
  bool stopping = false;
  bool running = false;
  std::thread thread;

  // Server thread only (or any thread while it is not running).
  std::unordered_map<int, ServingSocket> serving;
  std::unordered_map<int, Pending> pending;
  uint64_t next_generation = 1;
  std::mt19937 rng{std::random_device{}()};

  ~Impl() {
    for (auto& c : commands) {
      if (c.kind == Command::kAdd) close(c.fd);
    }
    for (auto& [fd, s] : serving) close(fd);
    for (auto& [fd, p] : pending) close(fd);
    if (epfd >= 0) close(epfd);
    if (wakefd >= 0) close(wakefd);
  }

  void post(Command c) {
    {
      std::lock_guard lock(mu);
      commands.push_back(std::move(c));
    }
    wake();
  }
  void wake() {
    uint64_t one = 1;
    ssize_t n = write(wakefd, &one, sizeof one);
    (void)n;  // the counter only saturates; a pending wakeup is enough
  }

  void closeServing(int fd) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    serving.erase(fd);
  }

  // Applies the queued socket changes; false when asked to stop.
  bool applyCommands() {
    std::vector<Command> cmds;
    bool stop;
    {
      std::lock_guard lock(mu);
      cmds.swap(commands);
      stop = stopping;
    }
    for (auto& c : cmds) {
      switch (c.kind) {
        case Command::kAdd: {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = c.fd;
          if (epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
            close(c.fd);
            break;
          }
          serving[c.fd] = ServingSocket{std::move(c.scope), next_generation++};
          break;
        }
        case Command::kRemoveFd:
          if (serving.count(c.fd)) closeServing(c.fd);
          break;
        case Command::kRemoveScope: {
          std::vector<int> fds;
          for (auto& [fd, s] : serving) {
            if (s.scope == c.scope) fds.push_back(fd);
          }
          for (int fd : fds) closeServing(fd);
          break;
        }
      }
    }
    return !stop;
  }

  void run() {
    epoll_event evs[64];
    bool go = applyCommands();
    while (go) {
      int timeout = -1;
      if (!pending.empty()) {
        auto first = Clock::time_point::max();
        for (auto& [fd, p] : pending) first = std::min(first, p.deadline);
        auto ms = std::chrono::ceil<std::chrono::milliseconds>(first - Clock::now()).count();
        timeout = static_cast<int>(std::clamp<int64_t>(ms, 0, 60000));
      }
      int n = epoll_wait(epfd, evs, 64, timeout);
      for (int i = 0; i < n && go; ++i) {
        int fd = evs[i].data.fd;
        if (fd == wakefd) {
          uint64_t v;
          ssize_t r = read(wakefd, &v, sizeof v);
          (void)r;
          go = applyCommands();
        } else if (auto it = serving.find(fd); it != serving.end()) {
          serveSocket(fd);
        } else if (pending.count(fd)) {
          onUpstreamReadable(fd);
        }
      }
      expire();
    }
    for (auto& [fd, p] : pending) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
      close(fd);
    }
    pending.clear();
  }

  void serveSocket(int fd) {
    uint8_t buf[4096];
    for (int i = 0; i < 64; ++i) {  // bounded, so one busy socket cannot starve the others
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from),
                           &from_len);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (static_cast<size_t>(n) > sizeof buf) continue;  // no query is that large
      handleQuery(fd, std::span<const uint8_t>(buf, static_cast<size_t>(n)), from, from_len);
      auto it = serving.find(fd);
      if (it == serving.end()) return;
    }
  }

  static void reply(int fd, const std::vector<uint8_t>& msg, const sockaddr_storage& to,
                    socklen_t to_len) {
    if (msg.empty()) return;
    ssize_t n = sendto(fd, msg.data(), msg.size(), MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&to), to_len);
    (void)n;  // UDP: a lost answer is retried by the client
  }

  void handleQuery(int fd, std::span<const uint8_t> raw, const sockaddr_storage& from,
                   socklen_t from_len) {
    auto q = parseDnsMessage(raw);
    if (!q.ok()) {
      reply(fd, buildDnsHeaderError(raw, DnsRcode::kFormErr), from, from_len);
      return;
    }
    if (q->qr) return;  // never answer a response
    if (q->opcode != 0) {
      reply(fd, buildDnsResponse(*q, DnsRcode::kNotImp), from, from_len);
      return;
    }
    const ServingSocket& sock = serving.at(fd);
    std::vector<uint8_t> answer;
    bool forward = false;
    std::vector<Upstream> ups;
    {
      std::lock_guard lock(mu);
      auto sit = scopes.find(sock.scope);
      Scope* scope = sit == scopes.end() ? nullptr : &sit->second;
      const DnsQuestion& question = q->question;
      // The socket's scope first, then the client's other networks.
      std::vector<Scope*> search;
      if (scope) search.push_back(scope);
      if (from.ss_family == AF_INET) {
        uint32_t cip = ntohl(reinterpret_cast<const sockaddr_in&>(from).sin_addr.s_addr);
        if (auto cit = client_scopes.find(cip); cit != client_scopes.end()) {
          for (const auto& extra : cit->second) {
            auto x = scopes.find(extra);
            if (x != scopes.end() && &x->second != scope) search.push_back(&x->second);
          }
        }
      }
      for (Scope* candidate : search) {
        if (!answer.empty()) break;
        scope = candidate;
        if (question.qclass != kDnsClassIn) break;
        if (auto nit = scope->names.find(canonicalDnsName(question.name));
            nit != scope->names.end()) {
          Name& name = nit->second;
          if (question.qtype == kDnsTypeA) {
            std::vector<uint32_t> ips(name.ipv4s);
            std::rotate(ips.begin(), ips.begin() + name.rotation % ips.size(), ips.end());
            name.rotation = (name.rotation + 1) % ips.size();
            answer = buildDnsAResponse(*q, ips, options.ttl);
          } else {
            answer = buildDnsResponse(*q, DnsRcode::kNoError);
          }
        } else if (question.qtype == kDnsTypePtr) {
          if (auto ip = parsePtrName(question.name)) {
            if (auto rit = scope->reverse.find(*ip); rit != scope->reverse.end()) {
              answer = buildDnsPtrResponse(*q, rit->second, options.ttl);
            }
          }
        }
      }
      scope = sit == scopes.end() ? nullptr : &sit->second;  // forwarding: the socket's network
      if (answer.empty()) {
        forward = (!scope || scope->forwarding) && !upstreams.empty();
        if (forward) ups = upstreams;
      }
    }
    if (!answer.empty()) {
      reply(fd, answer, from, from_len);
    } else if (!forward) {
      reply(fd, buildDnsResponse(*q, DnsRcode::kNxDomain), from, from_len);
    } else if (pending.size() >= options.max_pending) {
      reply(fd, buildDnsResponse(*q, DnsRcode::kServFail), from, from_len);
    } else {
      Pending p;
      p.serve_fd = fd;
      p.serve_generation = sock.generation;
      p.client = from;
      p.client_len = from_len;
      p.query.assign(raw.begin(), raw.end());
      p.parsed = std::move(*q);
      p.upstreams = std::move(ups);
      tryNext(std::move(p));
    }
  }

  // Sends the query to the next upstream that takes it; NXDOMAIN to the
  // client when none is left.
  void tryNext(Pending p) {
    while (p.next < p.upstreams.size()) {
      const Upstream& u = p.upstreams[p.next++];
      int ufd = options.make_upstream_socket ? options.make_upstream_socket(u.addr.ss_family) : -1;
      if (ufd < 0) continue;
      p.upstream_id = static_cast<uint16_t>(rng());
      p.query[0] = static_cast<uint8_t>(p.upstream_id >> 8);
      p.query[1] = static_cast<uint8_t>(p.upstream_id);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = ufd;
      // A connected socket only receives from the upstream (and sees its ICMP errors).
      if (!setNonBlocking(ufd) ||
          connect(ufd, reinterpret_cast<const sockaddr*>(&u.addr), u.len) != 0 ||
          send(ufd, p.query.data(), p.query.size(), 0) != static_cast<ssize_t>(p.query.size()) ||
          epoll_ctl(epfd, EPOLL_CTL_ADD, ufd, &ev) != 0) {
        close(ufd);
        continue;
      }
      p.deadline = Clock::now() + options.upstream_timeout;
      pending.emplace(ufd, std::move(p));
      return;
    }
    replyToClient(p, buildDnsResponse(p.parsed, DnsRcode::kNxDomain));
  }

  void replyToClient(const Pending& p, const std::vector<uint8_t>& msg) {
    auto it = serving.find(p.serve_fd);
    if (it == serving.end() || it->second.generation != p.serve_generation) return;  // socket gone
    reply(p.serve_fd, msg, p.client, p.client_len);
  }

  Pending take(int ufd) {
    auto it = pending.find(ufd);
    Pending p = std::move(it->second);
    pending.erase(it);
    epoll_ctl(epfd, EPOLL_CTL_DEL, ufd, nullptr);
    close(ufd);
    return p;
  }

  void onUpstreamReadable(int ufd) {
    std::vector<uint8_t> buf(65535);
    while (true) {
      ssize_t n = recv(ufd, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        tryNext(take(ufd));  // ECONNREFUSED and the like: this upstream is out
        return;
      }
      buf.resize(static_cast<size_t>(n));
      Pending& p = pending.at(ufd);
      auto r = parseDnsMessage(buf);
      // Anything but the answer to this question is ignored (spoofing, strays).
      if (!r.ok() || !r->qr || r->id != p.upstream_id ||
          (r->has_question && !sameQuestion(r->question, p.parsed.question))) {
        buf.resize(65535);
        continue;
      }
      if (r->rcode == static_cast<uint8_t>(DnsRcode::kServFail) ||
          r->rcode == static_cast<uint8_t>(DnsRcode::kRefused)) {
        tryNext(take(ufd));
        return;
      }
      Pending done = take(ufd);
      buf[0] = static_cast<uint8_t>(done.parsed.id >> 8);
      buf[1] = static_cast<uint8_t>(done.parsed.id);
      replyToClient(done, buf);
      return;
    }
  }

  void expire() {
    auto now = Clock::now();
    std::vector<int> late;
    for (auto& [fd, p] : pending) {
      if (p.deadline <= now) late.push_back(fd);
    }
    for (int fd : late) tryNext(take(fd));
  }
};

DnsServer::DnsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DnsServer::~DnsServer() { stop(); }

StatusOr<std::unique_ptr<DnsServer>> DnsServer::create(DnsServerOptions options) {
  auto ups = parseUpstreams(options.upstreams);
  if (!ups.ok()) return ups.status();
  auto impl = std::make_unique<Impl>();
  impl->upstreams = std::move(*ups);
  impl->options = std::move(options);
  impl->epfd = epoll_create1(EPOLL_CLOEXEC);
  impl->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->epfd < 0 || impl->wakefd < 0) {
    return Internal(std::string("dns server: epoll/eventfd: ") + strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = impl->wakefd;
  if (epoll_ctl(impl->epfd, EPOLL_CTL_ADD, impl->wakefd, &ev) != 0) {
    return Internal(std::string("dns server: epoll_ctl: ") + strerror(errno));
  }
  return std::unique_ptr<DnsServer>(new DnsServer(std::move(impl)));
}

Status DnsServer::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->running) return FailedPrecondition("dns server already running");
  impl_->stopping = false;
  impl_->running = true;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  return Status::Ok();
}

void DnsServer::stop() {
  std::thread t;
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->running) return;
    impl_->stopping = true;
    impl_->running = false;
    t = std::move(impl_->thread);
  }
  impl_->wake();
  t.join();
}

Status DnsServer::addSocket(int fd, std::string scope) {
  if (fd < 0 || !setNonBlocking(fd)) {
    return InvalidArgument("dns server: not a usable socket: " + std::to_string(fd));
  }
  impl_->post({Impl::Command::kAdd, fd, std::move(scope)});
  return Status::Ok();
}

void DnsServer::removeSocket(int fd) { impl_->post({Impl::Command::kRemoveFd, fd, {}}); }

Status DnsServer::setRecords(std::string_view scope, std::string_view name,
                             const std::vector<std::string>& ipv4s) {
  std::string key = canonicalDnsName(name);
  if (key.empty() || !encodeDnsName(key)) return InvalidArgument("invalid DNS name: " + key);
  std::vector<uint32_t> ips;
  for (const auto& s : ipv4s) {
    auto ip = parseIpv4(s);
    if (!ip.ok()) return ip.status();
    ips.push_back(*ip);
  }
  std::lock_guard lock(impl_->mu);
  auto& names = impl_->scopes[std::string(scope)].names;
  if (ips.empty()) {
    names.erase(key);
  } else {
    names[key] = Impl::Name{std::move(ips), 0};
  }
  return Status::Ok();
}

void DnsServer::removeRecords(std::string_view scope, std::string_view name) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->scopes.find(std::string(scope));
  if (it != impl_->scopes.end()) it->second.names.erase(canonicalDnsName(name));
}

Status DnsServer::setReverse(std::string_view scope, std::string_view ipv4,
                             std::string_view name) {
  auto ip = parseIpv4(ipv4);
  if (!ip.ok()) return ip.status();
  if (name.empty() || !encodeDnsName(name)) {
    return InvalidArgument("invalid DNS name: " + std::string(name));
  }
  std::lock_guard lock(impl_->mu);
  impl_->scopes[std::string(scope)].reverse[*ip] = std::string(name);
  return Status::Ok();
}

void DnsServer::removeReverse(std::string_view scope, std::string_view ipv4) {
  auto ip = parseIpv4(ipv4);
  if (!ip.ok()) return;
  std::lock_guard lock(impl_->mu);
  auto it = impl_->scopes.find(std::string(scope));
  if (it != impl_->scopes.end()) it->second.reverse.erase(*ip);
}

void DnsServer::setClientScopes(std::string_view ipv4, const std::vector<std::string>& scopes) {
  auto ip = parseIpv4(ipv4);
  if (!ip.ok()) return;
  std::lock_guard lock(impl_->mu);
  if (scopes.empty()) {
    impl_->client_scopes.erase(*ip);
  } else {
    impl_->client_scopes[*ip] = scopes;
  }
}

void DnsServer::setForwarding(std::string_view scope, bool enabled) {
  std::lock_guard lock(impl_->mu);
  impl_->scopes[std::string(scope)].forwarding = enabled;
}

void DnsServer::removeScope(std::string_view scope) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->scopes.erase(std::string(scope));
  }
  impl_->post({Impl::Command::kRemoveScope, -1, std::string(scope)});
}

Status DnsServer::setUpstreams(const std::vector<std::string>& upstreams) {
  auto ups = parseUpstreams(upstreams);
  if (!ups.ok()) return ups.status();
  std::lock_guard lock(impl_->mu);
  impl_->upstreams = std::move(*ups);
  return Status::Ok();
}

}  // namespace arca::net
