#include "runtime/vm/vm_backend.h"

#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "runtime/agent.grpc.pb.h"
#include "runtime/agent/guest_init.h"
#include "runtime/image/digest.h"
#include "runtime/runtime_log.h"
#include "runtime/sys_text.h"

namespace arca::runtime {
namespace {

namespace fs = std::filesystem;
namespace v1 = arca::agent::v1;

constexpr auto kBootTimeout = std::chrono::seconds(60);  // TCG under load is slow
constexpr int kProbeTimeoutMs = 5000;

std::shared_ptr<spdlog::logger> logger() { return runtimeLogger(); }

std::string lastLines(const std::string& text, size_t n) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t start = t.size();
  for (size_t i = 0; i < n && start > 0; ++i) {
    size_t nl = t.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
  }
  std::string out = t.substr(start < t.size() && t[start] == '\n' ? start + 1 : start);
  out.erase(std::remove(out.begin(), out.end(), '\r'), out.end());
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

std::string findInPath(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = dir + "/" + name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs argv with stdout captured (stderr to /dev/null); false unless it exits 0.
bool capture(const std::vector<std::string>& argv, std::string* out) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return false;
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(p[1], 1);
    dup2(devnull, 2);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(p[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out->append(buf, static_cast<size_t>(n));
  }
  close(p[0]);
  int status = 0;
  if (pid < 0) return false;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The host's TSC frequency: TCG guests hang calibrating it otherwise.
long measureTscKhz() {
  timespec a{}, b{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &a);
  uint64_t t0 = __rdtsc();
  usleep(50000);
  uint64_t t1 = __rdtsc();
  clock_gettime(CLOCK_MONOTONIC_RAW, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  return ns > 0 ? static_cast<long>((t1 - t0) / ns * 1e6) : 0;
}

std::string fileKey(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return path + ":missing";
  return path + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// The shared libraries `binary` loads (ldd), as absolute paths.
std::vector<std::string> sharedLibraries(const std::string& binary) {
  std::string out;
  std::vector<std::string> libs;
  if (!capture({"/usr/bin/ldd", binary}, &out)) return libs;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string a, arrow, b;
    f >> a >> arrow >> b;
    if (arrow == "=>" && !b.empty() && b.front() == '/') {
      libs.push_back(b);
    } else if (!a.empty() && a.front() == '/') {
      libs.push_back(a);  // the dynamic loader
    }
  }
  return libs;
}

// A guest MAC for the veth end that gives its own to the guest.
std::string randomMac() {
  std::random_device rd;
  char buf[32];
  snprintf(buf, sizeof buf, "0a:58:%02x:%02x:%02x:%02x", rd() & 0xff, rd() & 0xff, rd() & 0xff,
           rd() & 0xff);
  return buf;
}

bool parseMac(const std::string& text, unsigned char out[6]) {
  unsigned v[6];
  if (sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    return false;
  }
  for (int i = 0; i < 6; ++i) out[i] = static_cast<unsigned char>(v[i]);
  return true;
}

Status setFlags(int sock, const std::string& name, bool up) {
  ifreq ifr{};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) return Internal(errnoText("flags of " + name));
  if (up) {
    ifr.ifr_flags |= IFF_UP;
  } else {
    ifr.ifr_flags &= ~IFF_UP;
  }
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) return Internal(errnoText("set flags of " + name));
  return Status::Ok();
}

// The namespace's interfaces by MAC (the calling thread's namespace).
std::map<std::string, std::string> interfacesByMac(int sock) {
  std::map<std::string, std::string> by_mac;
  if (struct if_nameindex* idx = if_nameindex()) {
    for (auto* i = idx; i->if_index != 0; ++i) {
      ifreq ifr{};
      snprintf(ifr.ifr_name, IFNAMSIZ, "%s", i->if_name);
      if (ioctl(sock, SIOCGIFHWADDR, &ifr) != 0) continue;
      auto* m = reinterpret_cast<unsigned char*>(ifr.ifr_hwaddr.sa_data);
      char buf[32];
      snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
      by_mac[buf] = i->if_name;
    }
    if_freenameindex(idx);
  }
  return by_mac;
}

// A tap of the calling thread's namespace (it lives while `*fd` is open).
Status makeTap(const std::string& name, int* fd) {
  int tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tfd < 0) return Internal(errnoText("open /dev/net/tun"));
  ifreq ifr{};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(tfd, TUNSETIFF, &ifr) != 0) {
    close(tfd);
    return Internal(errnoText("create tap " + name));
  }
  *fd = tfd;
  return Status::Ok();
}

// The endpoint whose veth end has `mac` goes to the guest behind `tap`: the
// veth end loses its address and MAC and joins a new bridge `br` with the tap.
Status bridgeEndpoint(int sock, const std::string& mac, const std::string& tap, const std::string& br) {
  std::string lower = mac;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  auto by_mac = interfacesByMac(sock);
  auto it = by_mac.find(lower);
  if (it == by_mac.end()) return NotFound("no interface with MAC " + lower + " in the namespace");
  const std::string eth = it->second;
  ARCA_RETURN_IF_ERROR(setFlags(sock, eth, false));
  ifreq addr{};
  snprintf(addr.ifr_name, IFNAMSIZ, "%s", eth.c_str());
  auto* sin = reinterpret_cast<sockaddr_in*>(&addr.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = INADDR_ANY;
  ioctl(sock, SIOCSIFADDR, &addr);  // 0.0.0.0 removes the address
  ifreq hw{};
  snprintf(hw.ifr_name, IFNAMSIZ, "%s", eth.c_str());
  hw.ifr_hwaddr.sa_family = 1;  // ARPHRD_ETHER
  parseMac(randomMac(), reinterpret_cast<unsigned char*>(hw.ifr_hwaddr.sa_data));
  if (ioctl(sock, SIOCSIFHWADDR, &hw) != 0) return Internal(errnoText("set MAC of " + eth));
  if (ioctl(sock, SIOCBRADDBR, br.c_str()) != 0 && errno != EEXIST) {
    return Internal(errnoText("create bridge " + br));
  }
  for (const std::string& port : {eth, tap}) {
    ifreq p{};
    snprintf(p.ifr_name, IFNAMSIZ, "%s", br.c_str());
    p.ifr_ifindex = static_cast<int>(if_nametoindex(port.c_str()));
    if (p.ifr_ifindex == 0 || (ioctl(sock, SIOCBRADDIF, &p) != 0 && errno != EBUSY)) {
      return Internal(errnoText("add " + port + " to " + br));
    }
  }
  for (const std::string& l : {eth, tap, br}) ARCA_RETURN_IF_ERROR(setFlags(sock, l, true));
  return Status::Ok();
}

// In the container's network namespace (the calling thread is in it): a tap
// per endpoint, bridged to it, then `spares` taps for later connects.
Status bridgeTaps(const std::vector<VmNic>& nics, int spares, std::vector<int>* tap_fds) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Internal(errnoText("socket"));
  FdCloser closer{sock};
  for (size_t k = 0; k < nics.size(); ++k) {
    const std::string tap = "arcatap" + std::to_string(k);
    int fd = -1;
    ARCA_RETURN_IF_ERROR(makeTap(tap, &fd));
    tap_fds->push_back(fd);
    ARCA_RETURN_IF_ERROR(bridgeEndpoint(sock, nics[k].mac, tap, "arcabr" + std::to_string(k)));
  }
  for (int k = 0; k < spares; ++k) {
    int fd = -1;
    ARCA_RETURN_IF_ERROR(makeTap("arcaspare" + std::to_string(k), &fd));
    tap_fds->push_back(fd);
  }
  return Status::Ok();
}

// Runs `fn` on a thread that joined `netns_path` (the rest of arcad stays
// where it is).
Status inNetns(const std::string& netns_path, const std::function<Status()>& fn) {
  Status result = Status::Ok();
  std::thread t([&] {
    int ns = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
      result = Internal(errnoText("open " + netns_path));
      return;
    }
    if (setns(ns, CLONE_NEWNET) != 0) {
      result = Internal(errnoText("join " + netns_path));
      close(ns);
      return;
    }
    close(ns);
    result = fn();
  });
  t.join();
  return result;
}

Status setUpTaps(const std::string& netns_path, const std::vector<VmNic>& nics, int spares,
                 std::vector<int>* tap_fds) {
  Status result = inNetns(netns_path, [&] { return bridgeTaps(nics, spares, tap_fds); });
  if (!result.ok()) {
    for (int fd : *tap_fds) close(fd);
    tap_fds->clear();
  }
  return result;
}

}  // namespace

std::vector<std::string> VmBackend::missing(const VmOptions& o) {
  std::vector<std::string> out;
  if (findInPath(o.qemu.empty() ? "qemu-system-x86_64" : o.qemu).empty()) {
    out.push_back("qemu-system-x86_64 not found (apt-get install qemu-system-x86)");
  }
  if (o.kernel.empty() || access(o.kernel.c_str(), R_OK) != 0) {
    out.push_back("guest kernel not found at " + (o.kernel.empty() ? "(none)" : o.kernel) +
                  " (build it: kernel/build.sh " + o.cache_dir + ")");
  }
  if (findInPath(o.crun_path.empty() ? "crun" : o.crun_path).empty()) {
    out.push_back("crun not found (apt-get install crun): the guest runs containers with it");
  }
  if (findInPath(o.busybox_path.empty() ? "busybox" : o.busybox_path).empty()) {
    out.push_back("busybox not found (apt-get install busybox-static)");
  }
  if (findInPath("mkfs.ext4").empty()) out.push_back("mkfs.ext4 not found (apt-get install e2fsprogs)");
  if (o.agent_path.empty() || access(o.agent_path.c_str(), X_OK) != 0) {
    out.push_back("arca-agent not found at " + o.agent_path);
  }
  if (access("/dev/net/tun", R_OK | W_OK) != 0) out.push_back("/dev/net/tun is not usable");
  return out;
}

StatusOr<std::unique_ptr<VmBackend>> VmBackend::create(const VmOptions& options) {
  auto gaps = missing(options);
  if (!gaps.empty()) {
    std::string text;
    for (const auto& g : gaps) text += (text.empty() ? "" : "; ") + g;
    return FailedPrecondition("the VM sandbox is unavailable: " + text);
  }
  VmOptions o = options;
  o.qemu = findInPath(o.qemu.empty() ? "qemu-system-x86_64" : o.qemu);
  o.crun_path = findInPath(o.crun_path.empty() ? "crun" : o.crun_path);
  o.busybox_path = findInPath(o.busybox_path.empty() ? "busybox" : o.busybox_path);
  std::unique_ptr<VmBackend> b(new VmBackend(std::move(o)));
  std::error_code ec;
  fs::create_directories(b->options_.state_dir, ec);
  if (ec) return Internal("mkdir " + b->options_.state_dir + ": " + ec.message());
  chmod(b->options_.state_dir.c_str(), 0700);
  ARCA_RETURN_IF_ERROR(b->makeSystemDisk());
  b->tsc_khz_ = measureTscKhz();
  b->chooseAccelerator();
  logger()->info("VM sandbox: kernel {}, system disk {}, accelerator {}{}", b->options_.kernel,
                 b->sys_image_, b->accel_, b->accel_note_.empty() ? "" : " (" + b->accel_note_ + ")");
  return b;
}

Status VmBackend::makeSystemDisk() {
  // What goes in: path in the guest -> file on the host.
  std::vector<std::pair<std::string, std::string>> files = {
      {"/sbin/arca-agent", options_.agent_path},
      {"/usr/bin/crun", options_.crun_path},
      {"/bin/busybox", options_.busybox_path}};
  for (const std::string& bin : {options_.agent_path, options_.crun_path, options_.busybox_path}) {
    for (const auto& lib : sharedLibraries(bin)) files.push_back({lib, lib});
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  std::string key_text = "arca-sys-v1\n";
  for (const auto& [guest, host] : files) key_text += guest + "=" + fileKey(host) + "\n";
  const std::string key = image::sha256Hex(key_text).substr(0, 16);
  const std::string dir = options_.cache_dir + "/sys/" + key;
  sys_image_ = dir + "/sys.img";
  if (access(sys_image_.c_str(), R_OK) == 0) return Status::Ok();

  std::error_code ec;
  fs::create_directories(options_.cache_dir + "/sys", ec);
  std::string stage_tmpl = options_.cache_dir + "/sys/.stage-XXXXXX";
  if (!mkdtemp(stage_tmpl.data())) return Internal(errnoText("mkdtemp " + stage_tmpl));
  const std::string stage = stage_tmpl;
  struct Cleanup {
    std::string p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{stage};
  uintmax_t total = 0;
  for (const auto& [guest, host] : files) {
    fs::path target = fs::path(stage) / guest.substr(1);
    fs::create_directories(target.parent_path(), ec);
    if (!fs::copy_file(host, target, fs::copy_options::overwrite_existing, ec)) {
      return Internal("copy " + host + " into the system disk: " + ec.message());
    }
    total += fs::file_size(target, ec);
  }
  for (const char* d : {"proc", "sys", "dev", "run", "tmp", "etc", "root"}) {
    fs::create_directories(fs::path(stage) / d, ec);
  }
  for (const char* applet : {"sh", "ps", "ip", "mount", "cat"}) {
    fs::create_symlink("busybox", fs::path(stage) / "bin" / applet, ec);
  }
  // /lib64/ld-linux-x86-64.so.2 is a symlink on the host: copied as a file.
  const uintmax_t mb = total / (1 << 20) + 16;
  const std::string tmp_img = stage + ".img";
  std::string out;
  if (!capture({findInPath("mkfs.ext4"), "-q", "-F", "-L", "arca-sys", "-O", "^has_journal", "-E",
                "root_owner=0:0", "-d", stage, tmp_img, std::to_string(mb) + "M"},
               &out)) {
    unlink(tmp_img.c_str());
    return Internal("mkfs.ext4 of the VM system disk failed");
  }
  fs::create_directories(dir, ec);
  if (rename(tmp_img.c_str(), sys_image_.c_str()) != 0) {
    unlink(tmp_img.c_str());
    return Internal(errnoText("rename " + sys_image_));
  }
  logger()->info("VM sandbox: made the system disk {} ({} MiB)", sys_image_, mb);
  return Status::Ok();
}

std::string VmBackend::dir(const std::string& id) const { return stateDirIn(options_.state_dir, id); }

std::vector<std::string> VmBackend::qemuArgv(const VmBootSpec& spec, const std::string& d,
                                             const std::string& cmdline, bool probe,
                                             const std::string& accel,
                                             const std::vector<std::string>& macs) const {
  std::vector<std::string> argv = {options_.qemu,
                                   "-name",
                                   "arca-" + spec.id.substr(0, 12),
                                   "-M",
                                   "microvm,acpi=off,isa-serial=on",
                                   "-m",
                                   std::to_string(spec.memory_mb) + "M",
                                   "-smp",
                                   std::to_string(spec.cpus),
                                   "-nodefaults",
                                   "-no-user-config",
                                   "-display",
                                   "none",
                                   "-no-reboot",
                                   "-kernel",
                                   options_.kernel,
                                   "-append",
                                   cmdline,
                                   "-drive",
                                   "if=none,id=sys,file=" + sys_image_ + ",format=raw,readonly=on",
                                   "-device",
                                   "virtio-blk-device,drive=sys"};
  if (accel == "kvm") {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", "tcg,tb-size=32", "-cpu", "max"});
  }
  if (probe) {
    argv.insert(argv.end(), {"-serial", "stdio"});
    return argv;
  }
  argv.insert(argv.end(),
              {"-daemonize", "-pidfile", d + "/qemu.pid", "-qmp",
               "unix:" + d + "/qmp.sock,server=on,wait=off", "-chardev",
               "file,id=con,path=" + d + "/console.log", "-serial", "chardev:con", "-device",
               "virtio-serial-device,max_ports=2", "-chardev",
               "socket,id=agent,path=" + spec.agent_socket + ",server=on,wait=off", "-device",
               std::string("virtserialport,chardev=agent,name=") + agent::kAgentPortName, "-fsdev",
               "local,id=share,path=" + spec.share_dir +
                   ",security_model=passthrough,multidevs=remap",
               "-device", std::string("virtio-9p-device,fsdev=share,mount_tag=") + agent::kShareTag});
  for (size_t k = 0; k < macs.size(); ++k) {
    argv.insert(argv.end(), {"-netdev",
                             "tap,id=n" + std::to_string(k) + ",fd=" + std::to_string(3 + k) +
                                 ",vhost=off",
                             "-device", "virtio-net-device,netdev=n" + std::to_string(k) + ",mac=" + macs[k]});
  }
  return argv;
}

namespace {

std::string baseCmdline() {
  return "console=ttyS0 quiet loglevel=3 8250.nr_uarts=1 reboot=t panic=-1 mitigations=off "
         "random.trust_cpu=on cryptomgr.notests root=/dev/vda ro rootfstype=ext4 "
         "init=/sbin/arca-agent";
}

// Forks and execs argv with stdio on /dev/null (stdout/err to `log` when
// given) and `fds` at 3, 4, ...; returns the child's pid.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::vector<int>& fds,
            int stdout_fd = -1) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  int logfd = log.empty() ? -1 : open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::vector<int> high;
  for (int fd : fds) high.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 64));
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setsid();
    dup2(devnull, 0);
    dup2(stdout_fd >= 0 ? stdout_fd : (logfd >= 0 ? logfd : devnull), 1);
    dup2(logfd >= 0 ? logfd : devnull, 2);
    for (size_t i = 0; i < high.size(); ++i) dup2(high[i], 3 + static_cast<int>(i));
    syscall(SYS_close_range, 3U + high.size(), ~0U, 0U);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  if (devnull >= 0) close(devnull);
  if (logfd >= 0) close(logfd);
  for (int fd : high) close(fd);
  return pid;
}

}  // namespace

void VmBackend::chooseAccelerator() {
  if (options_.accel == "tcg") {
    accel_ = "tcg";
    accel_note_ = "TCG emulation (chosen with --vm-accel tcg)";
    return;
  }
  if (options_.accel == "kvm") {
    accel_ = "kvm";
    return;
  }
  accel_ = "tcg";
  if (access("/dev/kvm", R_OK | W_OK) != 0) {
    accel_note_ = "TCG emulation: /dev/kvm is not available";
    return;
  }
  // Probe by a boot, never by the presence of /dev/kvm (a PVM-based nested
  // hypervisor creates VMs that hang a guest in early boot). Cached per
  // qemu, kernel and host kernel.
  utsname u{};
  uname(&u);
  const std::string key = image::sha256Hex(fileKey(options_.qemu) + fileKey(options_.kernel) +
                                           fileKey(sys_image_) + u.release + u.version)
                              .substr(0, 16);
  const std::string cache = options_.cache_dir + "/accel-" + key;
  std::string cached = slurp(cache);
  if (!cached.empty()) {
    accel_ = cached.substr(0, cached.find('\n'));
    accel_note_ = cached.find('\n') == std::string::npos ? "" : cached.substr(cached.find('\n') + 1);
    while (!accel_note_.empty() && accel_note_.back() == '\n') accel_note_.pop_back();
    return;
  }
  VmBootSpec probe;
  probe.id = std::string(16, '0');
  probe.memory_mb = 128;
  const auto t0 = std::chrono::steady_clock::now();
  std::string cmdline = baseCmdline() + " arca.probe=1";
  int p[2];
  bool ok = false;
  if (pipe2(p, O_CLOEXEC) == 0) {
    pid_t pid = spawn(qemuArgv(probe, "", cmdline, true, "kvm", {}), "", {}, p[1]);
    close(p[1]);
    std::string out;
    auto deadline = t0 + std::chrono::milliseconds(kProbeTimeoutMs);
    while (!ok) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) break;
      pollfd pf{p[0], POLLIN, 0};
      if (poll(&pf, 1, left) <= 0) continue;
      char buf[4096];
      ssize_t n = read(p[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      ok = out.find("ARCA-PROBE-OK") != std::string::npos;
    }
    close(p[0]);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  if (ok) {
    accel_ = "kvm";
    accel_note_ = "KVM (a probe boot took " + std::to_string(ms) + " ms)";
  } else {
    accel_note_ = "TCG emulation: /dev/kvm is present but a probe boot under KVM failed";
    if (access("/sys/module/kvm_pvm", F_OK) == 0) accel_note_ += " (kvm_pvm: a PVM nested hypervisor)";
  }
  std::ofstream(cache) << accel_ << "\n" << accel_note_ << "\n";
}

Status VmBackend::boot(const VmBootSpec& spec) {
  const std::string d = dir(spec.id);
  dropChannel(spec.id);  // a channel to an earlier VM of this container
  std::error_code ec;
  fs::remove_all(d, ec);
  if (mkdir(d.c_str(), 0700) != 0) return Internal(errnoText("mkdir " + d));
  unlink(spec.agent_socket.c_str());
  // Without ACPI, microvm has 8 virtio-mmio transports: the system disk, the
  // serial port and the share take 3, NICs the other 5. NICs beyond the
  // endpoints are spares for docker network connect (no hot-plug here).
  constexpr size_t kMaxNics = 5, kSpareNics = 2;
  if (spec.nics.size() > kMaxNics) {
    return InvalidArgument("a VM sandbox joins at most " + std::to_string(kMaxNics) +
                           " networks (this container has " + std::to_string(spec.nics.size()) + ")");
  }
  std::vector<int> taps;
  std::vector<std::string> macs;
  int spares = 0;
  if (!spec.netns_path.empty()) {
    spares = static_cast<int>(std::min(kSpareNics, kMaxNics - spec.nics.size()));
    ARCA_RETURN_IF_ERROR(setUpTaps(spec.netns_path, spec.nics, spares, &taps));
    for (const auto& n : spec.nics) macs.push_back(n.mac);
    std::string spare_lines;
    for (int k = 0; k < spares; ++k) {
      macs.push_back(randomMac());
      spare_lines += macs.back() + "\n";
    }
    std::ofstream(d + "/netns") << spec.netns_path << "\n";
    std::ofstream(d + "/spares") << spare_lines;
  }
  std::string cmdline = baseCmdline();
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  cmdline += " arca.time=" + std::to_string(now_ns);
  if (accel_ == "tcg" && tsc_khz_ > 0) {
    cmdline += " tsc_early_khz=" + std::to_string(tsc_khz_) + " tsc=reliable";
  }
  auto argv = qemuArgv(spec, d, cmdline, false, accel_, macs);
  pid_t pid = spawn(argv, d + "/qemu.log", taps);
  for (int fd : taps) close(fd);
  if (pid < 0) return Internal(errnoText("fork qemu"));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = lastLines(slurp(d + "/qemu.log"), 3);
    stop(spec.id, 0);
    return Internal("qemu failed to start the VM: " + (why.empty() ? "exit status " + std::to_string(status) : why));
  }
  // Boot-to-agent: the first call waits for the guest agent.
  auto stub = v1::Agent::NewStub(channel(spec.id, spec.agent_socket));
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + kBootTimeout);
  v1::StatusRequest req;
  v1::StatusResponse resp;
  const auto t0 = std::chrono::steady_clock::now();
  grpc::Status st = stub->Status(&ctx, req, &resp);
  if (!st.ok()) {
    std::string console = lastLines(slurp(d + "/console.log"), 4);
    stop(spec.id, 0);
    return Internal("the VM's agent did not answer (" + st.error_message() + ")" +
                    (console.empty() ? "" : ": " + console));
  }
  logger()->debug("VM {} answered after {} ms", spec.id.substr(0, 12),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count());
  return Status::Ok();
}

std::shared_ptr<grpc::Channel> VmBackend::channel(const std::string& id, const std::string& socket) {
  // (A from-fd channel has no connectivity state: callers drop it when a
  // call fails UNAVAILABLE.)
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = channels_.find(id);
    if (it != channels_.end()) return it->second;
  }
  // Connect outside the lock (never blocking: a full backlog fails now).
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    // Calls on it fail UNAVAILABLE, as for a host agent that is gone.
    return grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  }
  grpc::ChannelArguments args;
  auto ch = grpc::CreateCustomInsecureChannelFromFd("arca-vm-" + id.substr(0, 12), fd, args);
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = channels_.emplace(id, ch);
  return it->second;  // another caller's, if it connected first (ours closes)
}

Status VmBackend::attachNic(const std::string& id, const std::string& socket, const VmNic& nic) {
  std::lock_guard<std::mutex> lock(nic_mu_);
  const std::string d = dir(id);
  std::string netns = slurp(d + "/netns");
  while (!netns.empty() && netns.back() == '\n') netns.pop_back();
  if (netns.empty()) return FailedPrecondition("the VM of container " + id + " has no network");
  std::vector<std::string> spares, used;
  {
    std::istringstream in(slurp(d + "/spares"));
    for (std::string l; std::getline(in, l);) spares.push_back(l);
    std::istringstream u(slurp(d + "/spares.used"));
    for (std::string l; std::getline(u, l);) used.push_back(l);
  }
  size_t k = 0;
  while (k < spares.size() && std::find(used.begin(), used.end(), spares[k]) != used.end()) ++k;
  if (k == spares.size()) {
    return FailedPrecondition("the VM of container " + id.substr(0, 12) + " has no spare NIC left (" +
                              std::to_string(spares.size()) +
                              " per VM; QEMU's microvm has no hot-plug): restart it to join this network");
  }
  ARCA_RETURN_IF_ERROR(inNetns(netns, [&] {
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return Internal(errnoText("socket"));
    Status st = bridgeEndpoint(sock, nic.mac, "arcaspare" + std::to_string(k), "arcabrs" + std::to_string(k));
    close(sock);
    return st;
  }));
  std::string mac = nic.mac;
  std::transform(mac.begin(), mac.end(), mac.begin(), ::tolower);
  auto stub = v1::Agent::NewStub(channel(id, socket));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ConfigureInterfaceRequest req;
  req.set_mac(spares[k]);
  req.set_new_mac(mac);
  req.set_ipv4_cidr(nic.ipv4 + "/" + std::to_string(nic.prefix));
  req.set_gateway(nic.gateway);
  req.set_default_route(nic.default_route);
  v1::ConfigureInterfaceResponse resp;
  grpc::Status st = stub->ConfigureInterface(&ctx, req, &resp);
  if (!st.ok()) return Internal("configure the VM's NIC: " + st.error_message());
  std::ofstream(d + "/spares.used", std::ios::app) << spares[k] << "\n";
  return Status::Ok();
}

Status VmBackend::qmp(const std::string& id, const std::string& command) {
  const std::string path = dir(id) + "/qmp.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    return Unavailable(errnoText("QMP of the VM of " + id.substr(0, 12)));
  }
  FdCloser closer{fd};
  std::string in;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // One JSON object per line; events ({"event":...}) are skipped.
  auto nextReply = [&](std::string* line) -> Status {
    for (;;) {
      size_t nl;
      while ((nl = in.find('\n')) != std::string::npos) {
        *line = in.substr(0, nl);
        in.erase(0, nl + 1);
        if (line->find("\"event\"") == std::string::npos) return Status::Ok();
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) return Unavailable("QMP did not answer");
      char buf[4096];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return Unavailable("QMP closed");
      in.append(buf, static_cast<size_t>(n));
    }
  };
  std::string line;
  ARCA_RETURN_IF_ERROR(nextReply(&line));  // the greeting
  for (const std::string& cmd : {std::string("qmp_capabilities"), command}) {
    const std::string req = "{\"execute\":\"" + cmd + "\"}\n";
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      return Unavailable(errnoText("QMP write"));
    }
    ARCA_RETURN_IF_ERROR(nextReply(&line));
    if (line.find("\"return\"") == std::string::npos) return Internal("QMP " + cmd + ": " + line);
  }
  return Status::Ok();
}

Status VmBackend::pauseVcpus(const std::string& id) {
  ARCA_RETURN_IF_ERROR(qmp(id, "stop"));
  std::ofstream(dir(id) + "/paused") << "1\n";
  return Status::Ok();
}

Status VmBackend::resumeVcpus(const std::string& id, const std::string& socket) {
  if (!paused(id)) return Status::Ok();
  ARCA_RETURN_IF_ERROR(qmp(id, "cont"));
  unlink((dir(id) + "/paused").c_str());
  // The guest's clock stood still with its vCPUs: set it again.
  auto stub = v1::Agent::NewStub(channel(id, socket));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SetTimeRequest req;
  req.set_unix_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
  v1::SetTimeResponse resp;
  grpc::Status st = stub->SetTime(&ctx, req, &resp);
  if (!st.ok()) logger()->warn("set the clock of the VM of {}: {}", id.substr(0, 12), st.error_message());
  return Status::Ok();
}

bool VmBackend::paused(const std::string& id) const {
  return access((dir(id) + "/paused").c_str(), F_OK) == 0;
}

void VmBackend::dropChannel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.erase(id);
}

int VmBackend::qemuPid(const std::string& id) const {
  int pidfd = openQemu(dir(id));
  if (pidfd < 0) return 0;
  int pid = 0;
  std::string fdinfo = slurp("/proc/self/fdinfo/" + std::to_string(pidfd));
  size_t at = fdinfo.find("Pid:");
  if (at != std::string::npos) pid = atoi(fdinfo.c_str() + at + 4);
  close(pidfd);
  return pid > 0 ? pid : 0;
}

int VmBackend::openQemu(const std::string& d) {
  int pid = atoi(slurp(d + "/qemu.pid").c_str());
  if (pid <= 0) return -1;
  // The pidfd first, then the check: a pid reused after the check cannot be
  // the one signalled. The command line names this VM's pidfile.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return -1;
  std::string cmdline = slurp("/proc/" + std::to_string(pid) + "/cmdline");
  if (cmdline.find(d + "/qemu.pid") == std::string::npos) {
    close(pidfd);
    return -1;
  }
  return pidfd;
}

void VmBackend::stopAt(const std::string& d, int grace_ms) {
  int pidfd = openQemu(d);
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    if (grace_ms <= 0 || poll(&p, 1, grace_ms) == 0) {
      if (grace_ms > 0) logger()->warn("VM {} did not power off, killing its QEMU", d);
      syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      poll(&p, 1, 2000);
    }
    close(pidfd);
  }
  std::error_code ec;
  fs::remove_all(d, ec);
}

void VmBackend::stop(const std::string& id, int grace_ms) {
  dropChannel(id);
  stopAt(dir(id), grace_ms);
  dropChannel(id);  // one a concurrent call made while QEMU was going
}

}  // namespace arca::runtime
