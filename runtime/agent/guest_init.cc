#include "runtime/agent/guest_init.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "runtime/sys_text.h"

namespace arca::agent {
namespace {

using runtime::errnoText;
using runtime::slurp;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

Status mountOne(const char* source, const char* target, const char* type, unsigned long flags,
                const char* data) {
  mkdir(target, 0755);
  if (mount(source, target, type, flags, data) != 0 && errno != EBUSY) {
    return Internal(errnoText(std::string("mount ") + type + " on " + target));
  }
  return Status::Ok();
}

// The kernel command line's `arca.KEY=VALUE` words.
std::string cmdlineValue(const std::string& cmdline, const std::string& key) {
  std::istringstream words(cmdline);
  std::string w;
  const std::string prefix = "arca." + key + "=";
  while (words >> w) {
    if (w.rfind(prefix, 0) == 0) return w.substr(prefix.size());
  }
  return "";
}

// The guest has no RTC driver: the host passes its clock at boot.
void setClock(const std::string& unix_ns) {
  if (unix_ns.empty()) return;
  long long ns = atoll(unix_ns.c_str());
  timespec up{};
  clock_gettime(CLOCK_BOOTTIME, &up);
  ns += static_cast<long long>(up.tv_sec) * 1000000000LL + up.tv_nsec;
  timespec now{static_cast<time_t>(ns / 1000000000LL), static_cast<long>(ns % 1000000000LL)};
  clock_settime(CLOCK_REALTIME, &now);
}

void enableControllers(const std::string& dir) {
  std::istringstream avail(slurp(dir + "/cgroup.controllers"));
  std::string c, line;
  while (avail >> c) line += (line.empty() ? "+" : " +") + c;
  if (line.empty()) return;
  int fd = open((dir + "/cgroup.subtree_control").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = write(fd, line.data(), line.size());
  (void)n;
  close(fd);
}

Status ifaceIoctl(int sock, unsigned long req, ifreq* ifr, const std::string& what) {
  if (ioctl(sock, req, ifr) != 0) return Internal(errnoText(what + " " + ifr->ifr_name));
  return Status::Ok();
}

Status linkUp(int sock, const std::string& name) {
  ifreq ifr{};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
  ARCA_RETURN_IF_ERROR(ifaceIoctl(sock, SIOCGIFFLAGS, &ifr, "get flags of"));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ifaceIoctl(sock, SIOCSIFFLAGS, &ifr, "bring up");
}

// One line of <bundle>/nics: "MAC IPV4/PREFIX GATEWAY DEFAULT(0|1)".
Status configureNic(int sock, const std::string& line) {
  std::istringstream f(line);
  std::string mac, cidr, gw;
  int is_default = 0;
  f >> mac >> cidr >> gw >> is_default;
  if (mac.empty() || cidr.find('/') == std::string::npos) return Status::Ok();
  std::string name;
  if (DIR* d = opendir("/sys/class/net")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (trim(slurp(std::string("/sys/class/net/") + e->d_name + "/address")) == mac) {
        name = e->d_name;
      }
    }
    closedir(d);
  }
  if (name.empty()) return NotFound("no NIC with MAC " + mac);
  const std::string ip = cidr.substr(0, cidr.find('/'));
  const int prefix = atoi(cidr.c_str() + cidr.find('/') + 1);
  ifreq ifr{};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  if (inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) != 1) return InvalidArgument("bad address " + ip);
  ARCA_RETURN_IF_ERROR(ifaceIoctl(sock, SIOCSIFADDR, &ifr, "set address of"));
  sin->sin_addr.s_addr = prefix <= 0 ? 0 : htonl(~uint32_t{0} << (32 - prefix));
  ARCA_RETURN_IF_ERROR(ifaceIoctl(sock, SIOCSIFNETMASK, &ifr, "set netmask of"));
  ARCA_RETURN_IF_ERROR(linkUp(sock, name));
  if (is_default && !gw.empty() && gw != "-") {
    rtentry rt{};
    auto* dst = reinterpret_cast<sockaddr_in*>(&rt.rt_dst);
    auto* gwa = reinterpret_cast<sockaddr_in*>(&rt.rt_gateway);
    auto* mask = reinterpret_cast<sockaddr_in*>(&rt.rt_genmask);
    dst->sin_family = gwa->sin_family = mask->sin_family = AF_INET;
    if (inet_pton(AF_INET, gw.c_str(), &gwa->sin_addr) != 1) return InvalidArgument("bad gateway " + gw);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = nullptr;
    if (ioctl(sock, SIOCADDRT, &rt) != 0 && errno != EEXIST) {
      return Internal(errnoText("default route via " + gw));
    }
  }
  return Status::Ok();
}

Status configureNetwork(const std::string& nics) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Internal(errnoText("socket"));
  Status st = linkUp(sock, "lo");
  std::istringstream lines(nics);
  std::string line;
  while (st.ok() && std::getline(lines, line)) st = configureNic(sock, line);
  close(sock);
  return st;
}

}  // namespace

Status configureGuestInterface(const std::string& mac, const std::string& new_mac,
                               const std::string& ipv4_cidr, const std::string& gateway,
                               bool default_route) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Internal(errnoText("socket"));
  runtime::FdCloser closer{sock};
  if (!new_mac.empty() && new_mac != mac) {
    std::string name;
    if (DIR* d = opendir("/sys/class/net")) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.' &&
            trim(slurp(std::string("/sys/class/net/") + e->d_name + "/address")) == mac) {
          name = e->d_name;
        }
      }
      closedir(d);
    }
    if (name.empty()) return NotFound("no NIC with MAC " + mac);
    ifreq ifr{};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
    ARCA_RETURN_IF_ERROR(ifaceIoctl(sock, SIOCGIFFLAGS, &ifr, "get flags of"));
    ifr.ifr_flags &= ~IFF_UP;
    ARCA_RETURN_IF_ERROR(ifaceIoctl(sock, SIOCSIFFLAGS, &ifr, "bring down"));
    ifreq hw{};
    snprintf(hw.ifr_name, IFNAMSIZ, "%s", name.c_str());
    hw.ifr_hwaddr.sa_family = 1;  // ARPHRD_ETHER
    unsigned v[6];
    if (sscanf(new_mac.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
      return InvalidArgument("bad MAC " + new_mac);
    }
    for (int i = 0; i < 6; ++i) hw.ifr_hwaddr.sa_data[i] = static_cast<char>(v[i]);
    ARCA_RETURN_IF_ERROR(ifaceIoctl(sock, SIOCSIFHWADDR, &hw, "set MAC of"));
  }
  return configureNic(sock, (new_mac.empty() ? mac : new_mac) + " " + ipv4_cidr + " " +
                                (gateway.empty() ? "-" : gateway) + " " + (default_route ? "1" : "0"));
}

StatusOr<std::vector<std::string>> guestSetUp() {
  umask(022);
  ARCA_RETURN_IF_ERROR(mountOne("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  const std::string cmdline = slurp("/proc/cmdline");
  if (cmdlineValue(cmdline, "probe") == "1") {  // the host's accelerator probe
    printf("ARCA-PROBE-OK\n");
    fflush(stdout);
    guestPowerOff();
  }
  ARCA_RETURN_IF_ERROR(mountOne("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  ARCA_RETURN_IF_ERROR(mountOne("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
  ARCA_RETURN_IF_ERROR(mountOne("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                                "newinstance,ptmxmode=0666,mode=0620,gid=5"));
  ARCA_RETURN_IF_ERROR(mountOne("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  ARCA_RETURN_IF_ERROR(mountOne("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
  ARCA_RETURN_IF_ERROR(mountOne("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  ARCA_RETURN_IF_ERROR(mountOne("cgroup2", "/sys/fs/cgroup", "cgroup2",
                                MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  enableControllers("/sys/fs/cgroup");
  setClock(cmdlineValue(cmdline, "time"));
  mkdir(kGuestShare, 0700);
  ARCA_RETURN_IF_ERROR(mountOne(kShareTag, kGuestBundle, "9p", 0,
                                "trans=virtio,version=9p2000.L,msize=262144,cache=mmap,access=client"));
  std::string args = slurp(std::string(kGuestBundle) + "/agent.args");
  if (args.empty()) return FailedPrecondition("no agent.args in the shared bundle");
  ARCA_RETURN_IF_ERROR(configureNetwork(slurp(std::string(kGuestBundle) + "/nics")));
  std::vector<std::string> out;
  std::istringstream lines(args);
  std::string line;
  while (std::getline(lines, line)) out.push_back(line);
  return out;
}

void guestPowerOff() {
  sync();
  umount2(kGuestBundle, MNT_DETACH);
  for (;;) {
    reboot(RB_AUTOBOOT);  // reboot=t + QEMU's -no-reboot: the VM ends
    sleep(1);
  }
}

StatusOr<int> SerialRelay::openPort(const std::string& name) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (DIR* d = opendir("/sys/class/virtio-ports")) {
      std::string dev;
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        if (trim(slurp(std::string("/sys/class/virtio-ports/") + e->d_name + "/name")) == name) {
          dev = std::string("/dev/") + e->d_name;
        }
      }
      closedir(d);
      if (!dev.empty()) {
        int fd = open(dev.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) return fd;
      }
    }
    usleep(10000);
  }
  return NotFound("virtio-serial port " + name + " not found");
}

void SerialRelay::run() {
  constexpr size_t kCap = 256 * 1024;
  int sock = -1;
  std::string to_sock, to_port;  // pending bytes each way
  std::string pending;           // bytes before a host's preface
  static const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  char buf[64 * 1024];
  auto reset = [&] {
    if (sock >= 0) close(sock);
    sock = -1;
    to_sock.clear();
    to_port.clear();
  };
  while (!stop_) {
    if (sock < 0) {
      // Wait for a host's new connection: its first bytes are HTTP/2's
      // preface. Anything before it (the rest of a connection that ended, a
      // host that is away: POLLHUP) is dropped.
      size_t at = pending.find(kPreface);
      if (at == std::string::npos) {
        pollfd p{port_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        if (p.revents & POLLHUP) {
          while (read(port_, buf, sizeof buf) > 0) {
          }
          pending.clear();
          usleep(20000);
          continue;
        }
        ssize_t n = read(port_, buf, sizeof buf);
        if (n <= 0) continue;
        pending.append(buf, static_cast<size_t>(n));
        at = pending.find(kPreface);
      }
      if (at == std::string::npos) {
        // Keep a tail that may be the start of a preface split across reads.
        if (pending.size() > kPreface.size()) pending.erase(0, pending.size() - kPreface.size());
        continue;
      }
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        usleep(100000);
        continue;
      }
      // The server's end must be non-blocking, or gRPC never reads it.
      fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
      grpc::AddInsecureChannelFromFd(server_, sv[0]);  // the server owns sv[0]
      sock = sv[1];
      fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
      to_sock = pending.substr(at);
      pending.clear();
    }
    pollfd fds[2] = {
        {port_, static_cast<short>((to_sock.size() < kCap ? POLLIN : 0) | (to_port.empty() ? 0 : POLLOUT)), 0},
        {sock, static_cast<short>((to_port.size() < kCap ? POLLIN : 0) | (to_sock.empty() ? 0 : POLLOUT)), 0}};
    if (poll(fds, 2, 100) < 0) continue;
    if (fds[0].revents & POLLHUP) {  // the host went away: its calls end with the transport
      reset();
      continue;
    }
    if (fds[0].revents & POLLIN) {
      ssize_t n = read(port_, buf, sizeof buf);
      if (n > 0 && std::string_view(buf, static_cast<size_t>(n)).substr(0, kPreface.size()) == kPreface) {
        // A new host connection (the old one closed and QEMU accepted the
        // next before this relay saw POLLHUP): a new transport for it.
        reset();
        pending.assign(buf, static_cast<size_t>(n));
        continue;
      }
      if (n > 0) to_sock.append(buf, static_cast<size_t>(n));
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(sock, buf, sizeof buf);
      if (n > 0) {
        to_port.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        reset();  // the server closed the transport
        continue;
      }
    }
    if (!to_sock.empty()) {
      ssize_t n = write(sock, to_sock.data(), to_sock.size());
      if (n > 0) to_sock.erase(0, static_cast<size_t>(n));
    }
    if (!to_port.empty()) {
      ssize_t n = write(port_, to_port.data(), to_port.size());
      if (n > 0) to_port.erase(0, static_cast<size_t>(n));
    }
  }
  // The last replies (Shutdown's) still go out, for a moment.
  for (int i = 0; i < 20 && sock >= 0; ++i) {
    ssize_t n = read(sock, buf, sizeof buf);
    if (n > 0) to_port.append(buf, static_cast<size_t>(n));
    if (!to_port.empty()) {
      ssize_t w = write(port_, to_port.data(), to_port.size());
      if (w > 0) to_port.erase(0, static_cast<size_t>(w));
    }
    if (n <= 0 && to_port.empty()) break;
    usleep(10000);
  }
  reset();
}

}  // namespace arca::agent
