#include "runtime/namespace/namespace_driver.h"

#include <dirent.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <functional>
#include <iterator>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <sstream>

#include "runtime/agent.grpc.pb.h"
#include "runtime/agent/guest_init.h"
#include "runtime/container_archive.h"
#include "runtime/namespace/container_fs.h"
#include "runtime/namespace/etc_files.h"
#include "runtime/namespace/oci_config.h"
#include "runtime/namespace/sandbox_security.h"
#include "runtime/runtime_log.h"
#include "runtime/sys_text.h"

namespace arca::runtime {
namespace {

namespace v1 = arca::agent::v1;

constexpr auto kAgentReadyTimeout = std::chrono::seconds(5);
constexpr auto kStartRpcTimeout = std::chrono::seconds(120);
constexpr auto kProbeTimeout = std::chrono::seconds(2);
constexpr auto kSignalTimeout = std::chrono::seconds(10);
constexpr auto kShutdownTimeout = std::chrono::seconds(20);
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;  // 107

// The "runtime" component logger when arcad has set one up, else spdlog's default.
std::shared_ptr<spdlog::logger> logger() { return runtimeLogger(); }

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

Status mkdirAll(const std::string& path, mode_t mode) {
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    if (!cur.empty() && mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return Internal(errnoText("mkdir " + cur));
    }
    pos = next + 1;
  }
  return Status::Ok();
}

Status writeFile(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Internal(errnoText("open " + tmp));
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return Internal(errnoText("write " + path));
  }
  return Status::Ok();
}

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string findInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : kDefaultPathEnv);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Mount points at or below `prefix`, deepest first (from /proc/self/mountinfo).
std::vector<std::string> mountsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mnt;
    fields >> id >> parent >> devno >> root >> mnt;
    std::string decoded;  // octal escapes: \040 for space etc.
    for (size_t i = 0; i < mnt.size(); ++i) {
      if (mnt[i] == '\\' && i + 3 < mnt.size()) {
        decoded += static_cast<char>(strtol(mnt.substr(i + 1, 3).c_str(), nullptr, 8));
        i += 3;
      } else {
        decoded += mnt[i];
      }
    }
    if (decoded == prefix || decoded.compare(0, prefix.size() + 1, prefix + "/") == 0) {
      out.push_back(decoded);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

Status unmountAll(const std::string& prefix) {
  for (int round = 0; round < 16; ++round) {
    auto mounts = mountsUnder(prefix);
    if (mounts.empty()) return Status::Ok();
    for (const auto& m : mounts) {
      if (umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        return Internal(errnoText("umount " + m));
      }
    }
  }
  return Internal("mounts left under " + prefix);
}

bool validId(const std::string& id) {
  if (id.size() < 16 || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Runs argv to completion with stdio on /dev/null; returns the wait status.
// `private_mounts`: in a private mount namespace without the cgroup2 mount
// (what crun needs on a hybrid cgroup host).
int runAndWait(const std::vector<std::string>& argv, bool private_mounts) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return W_EXITCODE(127, 0);
  pid_t pid = _Fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    if (private_mounts && (unshare(CLONE_NEWNS) != 0 ||
                           mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0 ||
                           umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0)) {
      _exit(127);
    }
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(devnull);
  if (pid < 0) return W_EXITCODE(127, 0);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 0;  // ECHILD: someone else reaped it (SIGCHLD ignored)
  }
  return status;
}

std::shared_ptr<grpc::Channel> agentChannel(const std::string& socket) {
  grpc::ChannelArguments args;
  // A fresh subchannel per call: a global one may sit in reconnect back-off
  // after the agent was down, while a new agent already listens.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
}

std::optional<ExitResult> readExitFile(const std::string& path) {
  // The agent writes it; a VM guest writes it over its share (issue #8), so:
  // no symlink, no FIFO, a regular file, and a bounded read.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::optional<std::string> text;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= 4096) {
    std::string buf(static_cast<size_t>(st.st_size), '\0');
    ssize_t n = pread(fd, buf.data(), buf.size(), 0);
    if (n >= 0) text = buf.substr(0, static_cast<size_t>(n));
  }
  close(fd);
  if (!text) return std::nullopt;
  rapidjson::Document doc;
  doc.Parse(text->c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("exit_code") ||
      !doc["exit_code"].IsInt()) {
    return std::nullopt;
  }
  ExitResult r;
  r.exit_code = doc["exit_code"].GetInt();
  if (doc.HasMember("finished_ns") && doc["finished_ns"].IsInt64()) {
    r.finished_ns = doc["finished_ns"].GetInt64();
  }
  if (doc.HasMember("oom_killed") && doc["oom_killed"].IsBool()) {
    r.oom_killed = doc["oom_killed"].GetBool();
  }
  return r;
}

// The host's resolv.conf as Docker hands it to containers: loopback
// nameservers cannot work from another network namespace, so they go; with
// none left, Docker's defaults (Google's public DNS) are used.
std::string containerResolvConf() {
  std::string path = "/etc/resolv.conf";
  auto text = readFile(path);
  if (text && text->find("nameserver 127.0.0.53") != std::string::npos &&
      exists("/run/systemd/resolve/resolv.conf")) {
    text = readFile("/run/systemd/resolve/resolv.conf");  // behind systemd-resolved
  }
  std::string out;
  bool have_ns = false;
  std::istringstream lines(text.value_or(""));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string k, v;
    f >> k >> v;
    if (k == "nameserver") {
      if (v.rfind("127.", 0) == 0 || v == "::1") continue;
      have_ns = true;
    }
    out += line + "\n";
  }
  if (!have_ns) out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
  return out;
}

std::string hostsFile(const std::string& hostname) {
  return "127.0.0.1\tlocalhost\n"
         "::1\tlocalhost ip6-localhost ip6-loopback\n"
         "fe00::0\tip6-localnet\n"
         "ff00::0\tip6-mcastprefix\n"
         "ff02::1\tip6-allnodes\n"
         "ff02::2\tip6-allrouters\n"
         "127.0.0.1\t" +
         hostname + "\n";
}

// Mounts overlayfs. Long option strings (many layers) exceed the page the
// kernel accepts; then, like Docker, the lower dirs are given relative to
// their common parent from a child that chdir()s there.
Status mountOverlay(const std::vector<std::string>& lowers, const std::string& upper,
                    const std::string& work, const std::string& target) {
  for (const auto& p : lowers) {
    if (p.empty() || p.find_first_of(":,\n") != std::string::npos || p.front() != '/') {
      return InvalidArgument("unusable layer path " + p);
    }
  }
  std::string extra = exists("/sys/module/overlay/parameters/index") ? ",index=off" : "";
  auto data = [&](const std::vector<std::string>& ls) {
    std::string d = "lowerdir=";
    for (size_t i = 0; i < ls.size(); ++i) d += (i ? ":" : "") + ls[i];
    return d + ",upperdir=" + upper + ",workdir=" + work + extra;
  };
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::string full = data(lowers);
  if (full.size() < page) {
    if (mount("overlay", target.c_str(), "overlay", 0, full.c_str()) != 0) {
      return Internal(errnoText("mount overlay on " + target));
    }
    return Status::Ok();
  }
  std::string common = lowers[0].substr(0, lowers[0].rfind('/'));
  for (const auto& p : lowers) {
    while (!common.empty() && p.compare(0, common.size() + 1, common + "/") != 0) {
      common = common.substr(0, common.rfind('/'));
    }
  }
  if (common.empty()) return InvalidArgument("too many layers for one overlay mount");
  std::vector<std::string> rel;
  for (const auto& p : lowers) rel.push_back(p.substr(common.size() + 1));
  std::string short_data = data(rel);
  if (short_data.size() >= page) return InvalidArgument("too many layers for one overlay mount");
  pid_t pid = _Fork();
  if (pid == 0) {
    if (chdir(common.c_str()) != 0) _exit(errno);
    _exit(mount("overlay", target.c_str(), "overlay", 0, short_data.c_str()) == 0 ? 0 : errno);
  }
  if (pid < 0) return Internal(errnoText("fork"));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Internal("mount overlay on " + target + ": " + strerror(WEXITSTATUS(status)));
  }
  return Status::Ok();
}

// containerd gives containers RLIMIT_NOFILE 1048576. Raising a hard limit
// needs CAP_SYS_RESOURCE; without it (some CI sandboxes) the runtime would
// fail with EPERM, so the limit is capped at what this process may grant.
uint64_t containerNofileLimit() {
  constexpr uint64_t kDefault = 1048576;
  constexpr int kCapSysResource = 24;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    uint64_t caps = strtoull(line.c_str() + 7, nullptr, 16);
    if (caps & (uint64_t{1} << kCapSysResource)) return kDefault;
    break;
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max == RLIM_INFINITY) return kDefault;
  return std::min<uint64_t>(kDefault, rl.rlim_max);
}

bool crunHybridHost(const std::string& runtime) {
  if (runtime.find("crun") == std::string::npos) return false;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" /sys/fs/cgroup/unified ") != std::string::npos &&
        line.find(" - cgroup2 ") != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<NamespaceDriver>> NamespaceDriver::create(
    const NamespaceDriverOptions& options) {
  if (options.exec_root.empty() || options.containers_dir.empty() ||
      options.exec_root.front() != '/' || options.containers_dir.front() != '/') {
    return InvalidArgument("namespace driver: exec_root and containers_dir must be absolute");
  }
  if (options.oci_runtime != "runc" && options.oci_runtime != "crun") {
    return InvalidArgument("unknown OCI runtime " + options.oci_runtime);
  }
  NamespaceDriverOptions o = options;
  if (o.oci_runtime_path.empty()) o.oci_runtime_path = findInPath(o.oci_runtime);
  if (o.oci_runtime_path.empty() || access(o.oci_runtime_path.c_str(), X_OK) != 0) {
    return FailedPrecondition("OCI runtime " + o.oci_runtime + " not found");
  }
  if (o.agent_path.empty() || access(o.agent_path.c_str(), X_OK) != 0) {
    return FailedPrecondition("arca-agent not found at " + o.agent_path);
  }
  std::unique_ptr<NamespaceDriver> d(new NamespaceDriver(std::move(o)));
  d->runtime_root_ = d->options_.exec_root + "/" + d->options_.oci_runtime;
  // Every socket this exec root produces has this length.
  std::string probe_socket = d->socketPath(std::string(64, '0'));
  if (probe_socket.size() > kMaxSocketPath) {
    return InvalidArgument("exec root " + d->options_.exec_root + " is too long: agent socket " +
                           probe_socket + " exceeds " + std::to_string(kMaxSocketPath) + " bytes");
  }
  for (const std::string& dir :
       {d->options_.exec_root + "/c", d->options_.exec_root + "/s", d->runtime_root_}) {
    ARCA_RETURN_IF_ERROR(mkdirAll(dir, 0711));
  }
  ARCA_RETURN_IF_ERROR(mkdirAll(d->options_.containers_dir, 0710));
  // Private roots of docker cp/export (0700); any left by a crashed arcad go.
  const std::string private_roots = d->options_.exec_root + "/m";
  ARCA_RETURN_IF_ERROR(unmountAll(private_roots));
  ARCA_RETURN_IF_ERROR(removeTree(private_roots));
  if (mkdir(private_roots.c_str(), 0700) != 0) return Internal(errnoText("mkdir " + private_roots));
  // Its own private mount: what docker cp mounts there never propagates to
  // other mount namespaces (a shared "/" would send it to their peers).
  if (mount(private_roots.c_str(), private_roots.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
      mount(nullptr, private_roots.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
    return Internal(errnoText("make " + private_roots + " a private mount"));
  }
  return d;
}

NamespaceDriver::~NamespaceDriver() {
  const std::string private_roots = options_.exec_root + "/m";
  Status st = unmountAll(private_roots);
  if (!st.ok()) logger()->warn("{}", st.toString());
}

std::string NamespaceDriver::bundleDir(const std::string& id) const {
  return options_.exec_root + "/c/" + id;
}

std::string NamespaceDriver::socketPath(const std::string& id) const {
  return options_.exec_root + "/s/" + id.substr(0, 16) + ".sock";
}

std::string NamespaceDriver::layerDir(const std::string& id) const {
  return options_.containers_dir + "/" + id;
}

Status NamespaceDriver::mountRootfs(const SandboxSpec& spec) {
  const std::string bundle = bundleDir(spec.id);
  const std::string layer = layerDir(spec.id);
  ARCA_RETURN_IF_ERROR(mkdirAll(layer + "/upper", 0755));
  ARCA_RETURN_IF_ERROR(mkdirAll(layer + "/work", 0700));
  ARCA_RETURN_IF_ERROR(mkdirAll(bundle + "/rootfs", 0755));
  // The init layer is always there: overlay never lacks a lower dir.
  ARCA_ASSIGN_OR_RETURN(std::vector<std::string> lowers, layerStack(spec.id, spec.lower_dirs));
  return mountOverlay(lowers, layer + "/upper", layer + "/work", bundle + "/rootfs");
}

Status NamespaceDriver::prepareBundle(const SandboxSpec& spec, const std::string& hostname) {
  const std::string bundle = bundleDir(spec.id);
  ARCA_ASSIGN_OR_RETURN(RootDir root, RootDir::open(bundle + "/rootfs"));

  if (spec.args.empty() || spec.args[0].empty()) {
    return InvalidArgument("no command specified");
  }
  OciConfigInput in;
  in.args = spec.args;
  in.env = dockerEnvironment(spec.env, hostname, spec.tty);
  in.terminal = spec.tty;
  in.cwd = spec.cwd.empty() ? "/" : spec.cwd;
  if (in.cwd.front() != '/') {
    return InvalidArgument("the working directory '" + in.cwd +
                           "' is invalid, it needs to be an absolute path");
  }
  in.hostname = hostname;
  in.readonly_rootfs = spec.readonly_rootfs;
  in.netns_path = spec.netns_path;
  in.host_network = spec.host_network;
  in.cgroups_path = "/arca/" + spec.id;
  in.nofile_limit = containerNofileLimit();

  ARCA_ASSIGN_OR_RETURN(ResolvedUser user, resolveUser(spec.user, root.readFile("/etc/passwd"),
                                                       root.readFile("/etc/group")));
  in.uid = user.uid;
  in.gid = user.gid;
  in.additional_gids = user.additional_gids;

  // Fail early, with Docker's words, rather than late inside the runtime.
  if (spec.args[0].find('/') == std::string::npos) {
    std::string path = envValue(in.env, "PATH");
    auto found = lookPath(root, spec.args[0], path, in.cwd);
    if (!found.ok()) return found.status();
  }

  ARCA_RETURN_IF_ERROR(applySandboxSecurity(spec, root, &in));  // sandbox_security.h
  const SandboxSecurity& sec = spec.security;
  ARCA_RETURN_IF_ERROR(writeFile(bundle + "/hostname", hostname + "\n", 0644));
  std::string hosts = hostsFile(hostname);
  if (!spec.hosts_entries.empty()) {  // issue #5: the container's addresses, links
    hosts.resize(hosts.rfind("127.0.0.1\t"));
    for (const auto& l : spec.hosts_entries) hosts += l + "\n";
  }
  ARCA_RETURN_IF_ERROR(writeFile(bundle + "/hosts", hostsWithExtra(hosts, sec.extra_hosts), 0644));
  std::string resolv = containerResolvConf();
  std::vector<std::string> dns = sec.dns;
  if (!spec.nameservers.empty()) {
    // The embedded DNS answers first; --dns servers follow it.
    std::string kept;
    std::istringstream lines(resolv);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("nameserver", 0) != 0) kept += line + "\n";
    }
    std::string ns;
    for (const auto& n : spec.nameservers) ns += "nameserver " + n + "\n";
    resolv = ns + kept;
    if (!dns.empty()) {
      dns.insert(dns.begin(), spec.nameservers.begin(), spec.nameservers.end());
    }
  }
  ARCA_RETURN_IF_ERROR(writeFile(
      bundle + "/resolv.conf",
      resolvConfWithOptions(resolv, dns, sec.dns_search, sec.dns_options), 0644));
  for (const char* f : {"resolv.conf", "hostname", "hosts"}) {
    std::string dest = std::string("/etc/") + f;
    bool user_mount = false;  // dockerd leaves a user's mount of the file alone
    for (const auto& m : spec.mounts) user_mount = user_mount || m.destination == dest;
    if (!user_mount) in.binds.push_back({bundle + "/" + f, dest, spec.readonly_rootfs});
  }
  // issue #6: volumes, binds and tmpfs mounts.
  for (const auto& m : spec.mounts) {
    OciBindMount b;
    b.destination = m.destination;
    b.readonly = m.readonly;
    if (m.kind == SandboxMount::Kind::kTmpfs) {
      b.type = "tmpfs";
      b.options = {"noexec", "nosuid", "nodev", "rprivate"};  // dockerd's defaults, then the user's
      b.options.insert(b.options.end(), m.tmpfs_options.begin(), m.tmpfs_options.end());
      if (m.readonly) b.options.push_back("ro");
    } else {
      b.source = m.source;
      b.options = {m.recursive ? "rbind" : "bind", m.propagation.empty() ? "rprivate" : m.propagation,
                   m.readonly ? "ro" : "rw"};
      // dockerd 25+: a read-only recursive bind is read-only all the way down.
      if (m.readonly && m.recursive && m.readonly_recursive) b.options.push_back("rro");
    }
    in.binds.push_back(std::move(b));
  }
  // Parents before children (dockerd sorts by depth): a volume on /etc keeps
  // /etc/hosts visible, a bind into a volume lands inside it.
  auto depth = [](const std::string& p) { return std::count(p.begin(), p.end(), '/'); };
  std::stable_sort(in.binds.begin(), in.binds.end(), [&](const OciBindMount& a, const OciBindMount& b) {
    return depth(a.destination) < depth(b.destination);
  });
  if (spec.runtime == kVmRuntime) {  // issue #8: the guest reads the bundle over 9p
    if (!sec.devices.empty()) {
      return InvalidArgument("the " + std::string(kVmRuntime) +
                             " runtime cannot pass host devices (--device) into a VM");
    }
    ARCA_RETURN_IF_ERROR(shareWithGuest(bundle, &in));
  }
  return writeFile(bundle + "/config.json", buildOciConfig(in), 0600);
}

using agent::kGuestBundle;  // where the guest mounts the shared bundle

std::string NamespaceDriver::vmStateDir(const std::string& id) const {
  return VmBackend::stateDirIn(options_.exec_root + "/vm", id);  // VmOptions::state_dir
}

bool NamespaceDriver::isVm(const std::string& id) const { return exists(vmStateDir(id)); }

Status NamespaceDriver::connectNic(const std::string& id, const SandboxNic& nic) {
  if (!isVm(id)) return Status::Ok();  // the namespace is the sandbox's own
  if (!options_.vm) return FailedPrecondition("the " + std::string(kVmRuntime) + " runtime is not available");
  return options_.vm->attachNic(id, socketPath(id), nic);
}

grpc::Status NamespaceDriver::noted(const std::string& id, grpc::Status st) const {
  noteRpc(id, st);
  return st;
}

void NamespaceDriver::noteRpc(const std::string& id, const grpc::Status& st) const {
  // A VM's channel is one connection: once it broke, the next call reconnects.
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE && options_.vm) options_.vm->dropChannel(id);
}

std::shared_ptr<grpc::Channel> NamespaceDriver::channelFor(const std::string& id) const {
  // (Without the backend, a plain channel still reaches the VM's agent.)
  if (options_.vm && isVm(id)) return options_.vm->channel(id, socketPath(id));
  return agentChannel(socketPath(id));
}

Status NamespaceDriver::shareWithGuest(const std::string& bundle, OciConfigInput* in) {
  // The guest is the container's network namespace (its NICs are the endpoints).
  in->host_network = true;
  in->netns_path.clear();
  int n = 0;
  for (auto& b : in->binds) {
    if (b.type == "tmpfs") continue;
    if (b.source.compare(0, bundle.size() + 1, bundle + "/") == 0) {
      b.source = kGuestBundle + b.source.substr(bundle.size());
      continue;
    }
    struct stat st {};
    if (stat(b.source.c_str(), &st) != 0) return InvalidArgument(errnoText("bind source " + b.source));
    ARCA_RETURN_IF_ERROR(mkdirAll(bundle + "/m", 0700));
    const std::string rel = "/m/" + std::to_string(n++);
    const std::string target = bundle + rel;
    if (S_ISDIR(st.st_mode)) {
      if (mkdir(target.c_str(), 0755) != 0) return Internal(errnoText("mkdir " + target));
    } else {
      int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) return Internal(errnoText("create " + target));
      close(fd);
    }
    const bool recursive =
        std::find(b.options.begin(), b.options.end(), "bind") == b.options.end();  // "rbind"
    if (mount(b.source.c_str(), target.c_str(), nullptr, MS_BIND | (recursive ? MS_REC : 0),
              nullptr) != 0) {
      return Internal(errnoText("bind " + b.source + " for the VM"));
    }
    // On the host side of the share: never setuid or device files for the
    // guest, and a read-only mount read-only all the way down (the guest's
    // kernel, not only its crun, cannot write through it).
    struct {
      uint64_t set, clr, propagation, userns;
    } attr{static_cast<uint64_t>(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (b.readonly ? MOUNT_ATTR_RDONLY : 0)),
           0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, target.c_str(), recursive ? AT_RECURSIVE : 0, &attr,
                sizeof attr) != 0) {
      return Internal(errnoText("restrict " + target + " for the VM"));
    }
    b.source = kGuestBundle + rel;
  }
  return Status::Ok();
}

Status NamespaceDriver::spawnVm(const SandboxSpec& spec) {
  if (!options_.vm) {
    return FailedPrecondition("the " + std::string(kVmRuntime) + " runtime is not available" +
                              (options_.vm_unavailable.empty() ? "" : ": " + options_.vm_unavailable));
  }
  const std::string bundle = bundleDir(spec.id);
  // The json-file log's directory, shared: the guest agent appends to it.
  const size_t slash = spec.log_path.rfind('/');
  const std::string log_dir = spec.log_path.substr(0, slash);
  ARCA_RETURN_IF_ERROR(mkdirAll(bundle + "/log", 0700));
  // Private: what is mounted on it below must not propagate to the source.
  if (mount(log_dir.c_str(), (bundle + "/log").c_str(), nullptr, MS_BIND, nullptr) != 0 ||
      mount(nullptr, (bundle + "/log").c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
    return Internal(errnoText("bind " + log_dir + " for the VM"));
  }
  // The log's directory may hold the container's layer directories too (the
  // live overlay's upper and work dirs): the guest sees an empty read-only
  // directory in their place.
  for (const char* hidden : {"upper", "work", "init"}) {
    const std::string over = bundle + "/log/" + hidden;
    if (!exists(over)) continue;
    ARCA_RETURN_IF_ERROR(mkdirAll(bundle + "/empty", 0500));
    if (mount((bundle + "/empty").c_str(), over.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        mount(nullptr, over.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      return Internal(errnoText("hide " + over + " from the VM"));
    }
  }
  std::vector<std::string> args = {"--id", spec.id, "--bundle", kGuestBundle, "--log",
                                   std::string(kGuestBundle) + "/log" + spec.log_path.substr(slash),
                                   "--runtime", "crun", "--runtime-path", "/usr/bin/crun",
                                   "--runtime-root", "/run/crun", "--single-run", "1"};
  if (spec.log_max_size > 0) {
    args.insert(args.end(), {"--log-max-size", std::to_string(spec.log_max_size),
                             "--log-max-files", std::to_string(spec.log_max_files)});
  }
  std::string text;
  for (const auto& a : args) text += a + "\n";
  ARCA_RETURN_IF_ERROR(writeFile(bundle + "/agent.args", text, 0600));
  std::vector<SandboxNic> lower_nics = spec.nics;  // sysfs spells MACs in lower case
  for (auto& nic : lower_nics) {
    std::transform(nic.mac.begin(), nic.mac.end(), nic.mac.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  std::string nics;
  for (const auto& nic : lower_nics) {
    nics += nic.mac + " " + nic.ipv4 + "/" + std::to_string(nic.prefix) + " " +
            (nic.gateway.empty() ? "-" : nic.gateway) + " " + (nic.default_route ? "1" : "0") + "\n";
  }
  ARCA_RETURN_IF_ERROR(writeFile(bundle + "/nics", nics, 0600));
  VmBootSpec b;
  b.id = spec.id;
  b.share_dir = bundle;
  b.agent_socket = socketPath(spec.id);
  b.netns_path = spec.netns_path;
  b.nics = lower_nics;
  // Guest RAM: the limit plus room for the guest kernel and agent (128 MiB at least).
  constexpr int64_t kMiB = 1 << 20;
  if (spec.resources.memory > 0) {
    b.memory_mb = static_cast<int>(std::max<int64_t>(128, (spec.resources.memory + kMiB - 1) / kMiB + 64));
  }
  if (spec.resources.nano_cpus > 0) {
    long host = sysconf(_SC_NPROCESSORS_ONLN);
    b.cpus = static_cast<int>(std::min<int64_t>(std::max<long>(1, host),
                                                (spec.resources.nano_cpus + 999999999) / 1000000000));
  }
  return options_.vm->boot(b);
}

Status NamespaceDriver::spawnAgent(const SandboxSpec& spec) {
  const std::string bundle = bundleDir(spec.id);
  std::vector<std::string> argv = {options_.agent_path,
                                   "--id",
                                   spec.id,
                                   "--bundle",
                                   bundle,
                                   "--socket",
                                   socketPath(spec.id),
                                   "--log",
                                   spec.log_path,
                                   "--runtime",
                                   options_.oci_runtime,
                                   "--runtime-path",
                                   options_.oci_runtime_path,
                                   "--runtime-root",
                                   runtime_root_,
                                   "--ready-fd",
                                   "3"};
  if (spec.log_max_size > 0) {  // json-file rotation (lifecycle)
    argv.insert(argv.end(), {"--log-max-size", std::to_string(spec.log_max_size),
                             "--log-max-files", std::to_string(spec.log_max_files)});
  }
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return Internal(errnoText("pipe"));
  int fds[3] = {
      open("/dev/null", O_RDWR | O_CLOEXEC),
      open((bundle + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600),
      ready[1]};
  // Move the child's fds above 3 so the dup2()s below cannot clobber each other.
  int high[3] = {-1, -1, -1};
  bool ok = fds[0] >= 0 && fds[1] >= 0;
  for (int i = 0; i < 3 && ok; ++i) {
    high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
    ok = high[i] >= 0;
  }
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  if (!ok) {
    for (int fd : high) {
      if (fd >= 0) close(fd);
    }
    close(ready[0]);
    return Internal(errnoText("agent stdio"));
  }

  // Double fork + setsid: the agent is adopted by init (not arcad's child,
  // not in its session), so it outlives arcad and never becomes our zombie.
  // Between fork and exec only async-signal-safe calls.
  pid_t mid = _Fork();
  if (mid == 0) {
    setsid();
    pid_t agent = _Fork();
    if (agent != 0) {
      if (agent > 0) {  // tell the parent the agent's pid: "pid N\n"
        char buf[32];
        int n = 0;
        char digits[16];
        int nd = 0;
        for (pid_t v = agent; v > 0 && nd < 16; v /= 10)
          digits[nd++] = static_cast<char>('0' + v % 10);
        for (const char* p = "pid "; *p; ++p) buf[n++] = *p;
        while (nd > 0) buf[n++] = digits[--nd];
        buf[n++] = '\n';
        ssize_t w = write(high[2], buf, static_cast<size_t>(n));
        (void)w;
      }
      _exit(agent > 0 ? 0 : 1);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) {
      if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
    }
    if (chdir("/") != 0 || dup2(high[0], 0) < 0 || dup2(high[1], 1) < 0 || dup2(high[1], 2) < 0 ||
        dup2(high[2], 3) < 0) {
      _exit(127);
    }
    syscall(SYS_close_range, 4U, ~0U, 0U);
    execv(cargv[0], cargv.data());
    const char msg[] = "error: cannot execute arca-agent\n";
    ssize_t w = write(3, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
  }
  for (int fd : high) close(fd);
  if (mid < 0) {
    close(ready[0]);
    return Internal(errnoText("fork"));
  }
  int status = 0;
  while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }

  // Wait for "ok" (or an error line, or EOF when the agent died).
  std::string got;
  pid_t agent_pid = 0;
  bool ready_ok = false;
  std::string error;
  auto deadline = std::chrono::steady_clock::now() + kAgentReadyTimeout;
  for (;;) {
    size_t nl;
    while ((nl = got.find('\n')) != std::string::npos) {
      std::string line = got.substr(0, nl);
      got.erase(0, nl + 1);
      if (line.rfind("pid ", 0) == 0) {
        agent_pid = static_cast<pid_t>(atoi(line.c_str() + 4));
      } else if (line == "ok") {
        ready_ok = true;
      } else {
        error = line.rfind("error: ", 0) == 0 ? line.substr(7) : line;
      }
    }
    if (ready_ok || !error.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      error = "arca-agent did not become ready within " +
              std::to_string(kAgentReadyTimeout.count()) + "s";
      break;
    }
    pollfd p{ready[0], POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buf[512];
    ssize_t n = read(ready[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "arca-agent exited during start-up";
      if (auto tail = readFile(bundle + "/agent.log"); tail && !tail->empty()) {
        std::string t = *tail;
        while (!t.empty() && t.back() == '\n') t.pop_back();
        error += ": " + t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
      }
      break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  close(ready[0]);
  if (!ready_ok) {
    if (agent_pid > 0) kill(agent_pid, SIGKILL);
    return Internal(error);
  }
  return Status::Ok();
}

int NamespaceDriver::agentPid(const std::string& id) const {
  auto text = readFile(bundleDir(id) + "/agent.pid");
  if (!text) return 0;
  int pid = atoi(text->c_str());
  if (pid <= 0) return 0;
  // Guard against a recycled pid: it must be the agent of this very container.
  auto cmdline = readFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline) return 0;
  std::string needle = std::string("--id") + '\0' + id + '\0';
  return cmdline->find(needle) != std::string::npos ? pid : 0;
}

void NamespaceDriver::runtimeDelete(const std::string& id) {
  if (!exists(runtime_root_ + "/" + id)) return;
  int status = runAndWait({options_.oci_runtime_path, "--root", runtime_root_, "delete", "-f", id},
                          crunHybridHost(options_.oci_runtime_path));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    logger()->warn("{} delete -f {} failed (status {})", options_.oci_runtime, id, status);
  }
}

Status NamespaceDriver::startFailed(const std::string& id, Status error) {
  Status c = cleanup(id);
  if (!c.ok()) logger()->warn("cleanup after failed start of {}: {}", id, c.toString());
  return error;
}

StatusOr<StartResult> NamespaceDriver::start(const SandboxSpec& spec,
                                             const std::function<void()>& before_start) {
  if (!validId(spec.id)) return InvalidArgument("invalid container id " + spec.id);
  if (spec.log_path.empty() || spec.log_path.front() != '/') {
    return InvalidArgument("log path must be absolute");
  }
  const std::string bundle = bundleDir(spec.id);
  const std::string sock = socketPath(spec.id);
  if (sock.size() > kMaxSocketPath) {
    return InvalidArgument("agent socket path too long (" + std::to_string(sock.size()) + " > " +
                           std::to_string(kMaxSocketPath) + " bytes): " + sock);
  }
  // Leftovers of an earlier run of this container (docker start after exit,
  // or an arcad that died before cleanup).
  if (exists(bundle) || exists(sock)) {
    ProbeResult p = probe(spec.id);
    if (p.phase == ProbeResult::Phase::kRunning || p.phase == ProbeResult::Phase::kCreated) {
      return Conflict("container " + spec.id + " is already running");
    }
    ARCA_RETURN_IF_ERROR(cleanup(spec.id));
  }
  {
    // Never while a docker cp/export has the stopped container's root mounted.
    auto lock = rootfsLock(spec.id);
    std::unique_lock<std::shared_mutex> mounting(*lock);
    Status s = mkdirAll(bundle, 0711);
    // issue #8: a VM's bundle is its own private mount first, so that the
    // binds made in it for the guest never propagate anywhere else.
    if (s.ok() && spec.runtime == kVmRuntime &&
        (mount(bundle.c_str(), bundle.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
         mount(nullptr, bundle.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)) {
      s = Internal(errnoText("make " + bundle + " a private mount"));
    }
    if (s.ok()) s = mountRootfs(spec);
    if (!s.ok()) {
      mounting.unlock();
      return startFailed(spec.id, s);
    }
  }
  std::string hostname = spec.hostname.empty() ? spec.id.substr(0, 12) : spec.hostname;
  if (Status s = prepareBundle(spec, hostname); !s.ok()) return startFailed(spec.id, s);
  if (Status s = spec.runtime == kVmRuntime ? spawnVm(spec) : spawnAgent(spec); !s.ok()) {
    return startFailed(spec.id, s);
  }
  before_start();

  v1::StartResponse resp;
  grpc::Status st;
  {
    // The channel must be gone before cleanup: an agent's server shutdown
    // waits for connected clients to leave.
    auto stub = v1::Agent::NewStub(channelFor(spec.id));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kStartRpcTimeout);
    v1::StartRequest req;
    req.set_open_stdin(spec.open_stdin);
    req.set_width(spec.console_width);
    req.set_height(spec.console_height);
    st = stub->Start(&ctx, req, &resp);
  }
  if (!st.ok()) {
    std::string msg = st.error_message();
    int32_t code = startFailureExitCode(msg);
    Status err = (code == 126 || code == 127) ? InvalidArgument(msg) : Internal(msg);
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
        st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      err = Internal("arca-agent: " + msg);
    }
    return startFailed(spec.id, err);
  }
  StartResult r;
  r.pid = resp.pid();
  return r;
}

Status NamespaceDriver::signal(const std::string& id, int signal) {
  resumeVm(id);  // a VM with stopped vCPUs cannot take a signal
  const std::string sock = socketPath(id);
  const std::string exit_file = bundleDir(id) + "/exit.json";
  if (exists(sock)) {
    auto stub = v1::Agent::NewStub(channelFor(id));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kSignalTimeout);
    v1::SignalRequest req;
    req.set_signal(signal);
    v1::SignalResponse resp;
    grpc::Status st = stub->Signal(&ctx, req, &resp);
    noteRpc(id, st);
    if (st.ok()) return Status::Ok();
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      return FailedPrecondition(st.error_message());
    }
    if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return InvalidArgument(st.error_message());
    }
    if (st.error_code() != grpc::StatusCode::UNAVAILABLE) {
      return Unavailable("arca-agent: " + st.error_message());
    }
  }
  if (exists(exit_file)) return Status::Ok();  // exited: nothing to signal
  return NotFound("no sandbox for container " + id);
}

StatusOr<ExitResult> NamespaceDriver::wait(const std::string& id) {
  const std::string sock = socketPath(id);
  const std::string exit_file = bundleDir(id) + "/exit.json";
  if (exists(sock)) {
    auto stub = v1::Agent::NewStub(channelFor(id));
    grpc::ClientContext ctx;  // no deadline: containers run for as long as they like
    v1::WaitRequest req;
    v1::WaitResponse resp;
    grpc::Status st = stub->Wait(&ctx, req, &resp);
    noteRpc(id, st);
    if (st.ok()) {
      ExitResult r;
      r.exit_code = resp.exit_code();
      r.oom_killed = resp.oom_killed();
      r.finished_ns = resp.finished_ns();
      return r;
    }
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      return FailedPrecondition(st.error_message());
    }
    logger()->info("wait {}: agent unreachable ({}), falling back to exit.json", id,
                   st.error_message());
  }
  if (auto r = readExitFile(exit_file)) return *r;
  if (!exists(bundleDir(id))) return NotFound("no sandbox for container " + id);
  return Unavailable("the agent of container " + id + " is gone and recorded no exit");
}

ProbeResult NamespaceDriver::probe(const std::string& id) {
  ProbeResult out;
  if (vmPaused(id) && options_.vm->qemuPid(id) > 0) {  // stopped vCPUs answer nothing
    out.phase = ProbeResult::Phase::kRunning;
    return out;
  }
  const std::string sock = socketPath(id);
  const std::string exit_file = bundleDir(id) + "/exit.json";
  if (exists(sock)) {
    auto stub = v1::Agent::NewStub(channelFor(id));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kProbeTimeout);
    v1::StatusRequest req;
    v1::StatusResponse resp;
    grpc::Status st = stub->Status(&ctx, req, &resp);
    noteRpc(id, st);
    if (st.ok()) {
      out.pid = resp.pid();
      out.error = resp.error();
      switch (resp.phase()) {
        case v1::StatusResponse::CREATED:
          out.phase = ProbeResult::Phase::kCreated;
          break;
        case v1::StatusResponse::RUNNING:
          out.phase = ProbeResult::Phase::kRunning;
          break;
        case v1::StatusResponse::EXITED:
          out.phase = ProbeResult::Phase::kExited;
          out.exit.exit_code = resp.exit_code();
          out.exit.finished_ns = resp.finished_ns();
          if (auto r = readExitFile(exit_file)) out.exit = *r;  // carries oom_killed too
          break;
        case v1::StatusResponse::FAILED:
          out.phase = ProbeResult::Phase::kFailed;
          out.exit.exit_code = resp.exit_code();
          break;
        default:
          out.phase = ProbeResult::Phase::kMissing;
      }
      return out;
    }
    if (st.error_code() != grpc::StatusCode::UNAVAILABLE) {
      // Something answers on the socket but not in time: never declare a
      // possibly live container dead.
      out.phase = ProbeResult::Phase::kRunning;
      out.error = "arca-agent not answering: " + st.error_message();
      return out;
    }
  }
  if (auto r = readExitFile(exit_file)) {
    out.phase = ProbeResult::Phase::kExited;
    out.exit = *r;
    return out;
  }
  out.phase = ProbeResult::Phase::kMissing;
  return out;
}

Status NamespaceDriver::cleanup(const std::string& id) {
  if (!validId(id)) return InvalidArgument("invalid container id " + id);
  const std::string bundle = bundleDir(id);
  const std::string sock = socketPath(id);
  const bool vm = isVm(id);
  pid_t agent = vm ? 0 : agentPid(id);
  resumeVm(id);
  if (exists(sock)) {
    auto stub = v1::Agent::NewStub(channelFor(id));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kShutdownTimeout);
    v1::ShutdownRequest req;
    v1::ShutdownResponse resp;
    grpc::Status st = stub->Shutdown(&ctx, req, &resp);
    noteRpc(id, st);
    if (!st.ok() && st.error_code() != grpc::StatusCode::UNAVAILABLE) {
      logger()->warn("shutdown of agent {}: {}", id, st.error_message());
    }
  }
  if (agent > 0) {
    // Let it finish (it removes its socket), then make sure it is gone.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, agent, 0));
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      if (poll(&p, 1, 5000) == 0) {
        logger()->warn("agent of {} (pid {}) did not exit, killing it", id, agent);
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
        poll(&p, 1, 2000);
      }
      close(pidfd);
    }
  }
  if (vm) {  // the guest powers off after Shutdown
    if (options_.vm) {
      options_.vm->stop(id, 5000);
    } else {
      VmBackend::stopAt(vmStateDir(id), 5000);
    }
  }
  runtimeDelete(id);  // when the agent could not do it
  unlink(sock.c_str());
  auto lock = rootfsLock(id);
  std::unique_lock<std::shared_mutex> unmounting(*lock);  // waits for a docker cp in flight
  ARCA_RETURN_IF_ERROR(unmountAll(bundle));
  return removeTree(bundle);
}

Status NamespaceDriver::update(const std::string& id, const std::string& resources_json) {
  const std::string sock = socketPath(id);
  if (!exists(sock)) return FailedPrecondition("container " + id + " is not running");
  auto stub = v1::Agent::NewStub(channelFor(id));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kSignalTimeout);
  v1::UpdateRequest req;
  req.set_resources_json(resources_json);
  v1::UpdateResponse resp;
  grpc::Status st = stub->Update(&ctx, req, &resp);
  noteRpc(id, st);
  if (st.ok()) return Status::Ok();
  if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return FailedPrecondition(st.error_message());
  }
  return Internal(st.error_message());
}

Status NamespaceDriver::remove(const std::string& id) {
  ARCA_RETURN_IF_ERROR(cleanup(id));
  auto lock = rootfsLock(id);
  std::unique_lock<std::shared_mutex> removing(*lock);
  return removeTree(layerDir(id));
}

// ---------------------------------------------------------------------------
// The container's files: init layer, private mounts of a stopped container.

namespace {

// Docker's init layer content (initlayer.Setup): mount points the runtime
// binds or mounts over, so that none is ever created in the writable layer.
// As in Docker, directories the image already has are left to the image;
// the files are always the init layer's; a parent the image has keeps its
// owner and mode.
Status makeInitLayer(const std::string& dir, const std::vector<std::string>& image_lowers) {
  auto mkdirLike = [&](const std::string& rel) -> Status {
    std::string p = dir + "/" + rel;
    if (exists(p)) return Status::Ok();
    struct stat img {};
    bool in_image = lstatInLayers(image_lowers, rel, &img) && S_ISDIR(img.st_mode);
    mode_t mode = in_image ? (img.st_mode & 07777) : 0755;
    if (mkdir(p.c_str(), mode) != 0 || chmod(p.c_str(), mode) != 0 ||
        (in_image && lchown(p.c_str(), img.st_uid, img.st_gid) != 0)) {
      return Internal(errnoText("mkdir " + p));
    }
    return Status::Ok();
  };
  for (const char* d : {"dev/pts", "dev/shm", "proc", "sys"}) {
    struct stat img {};
    if (lstatInLayers(image_lowers, d, &img)) continue;
    std::string rel = d;
    if (rel.find('/') != std::string::npos) ARCA_RETURN_IF_ERROR(mkdirLike(rel.substr(0, rel.find('/'))));
    ARCA_RETURN_IF_ERROR(mkdirLike(rel));
  }
  for (const char* f : {".dockerenv", "etc/resolv.conf", "etc/hosts", "etc/hostname", "dev/console"}) {
    std::string rel = f;
    if (rel.find('/') != std::string::npos) ARCA_RETURN_IF_ERROR(mkdirLike(rel.substr(0, rel.find('/'))));
    std::string p = dir + "/" + rel;
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    if (fd < 0) return Internal(errnoText("create " + p));
    close(fd);
    if (chmod(p.c_str(), 0755) != 0) return Internal(errnoText("chmod " + p));
  }
  if (symlink("/proc/mounts", (dir + "/etc/mtab").c_str()) != 0) {
    return Internal(errnoText("symlink " + dir + "/etc/mtab"));
  }
  return Status::Ok();
}

// issue #6 (docker cp): the volumes and binds among `mounts` bound at their
// destinations in the root at `root`, parents first. Every destination is
// resolved inside the root (a symlink in the image never leads out); a
// missing one is created as the runtime would (a directory, or an empty file
// for a file's bind).
Status mountInRoot(const std::string& root, const std::vector<SandboxMount>& mounts) {
  std::vector<const SandboxMount*> binds;
  for (const auto& m : mounts) {
    if (m.kind == SandboxMount::Kind::kBind) binds.push_back(&m);
  }
  auto depth = [](const std::string& p) { return std::count(p.begin(), p.end(), '/'); };
  std::stable_sort(binds.begin(), binds.end(), [&](const SandboxMount* a, const SandboxMount* b) {
    return depth(a->destination) < depth(b->destination);
  });
  for (const SandboxMount* m : binds) {
    ARCA_ASSIGN_OR_RETURN(RootDir dir, RootDir::open(root));
    struct stat src {};
    if (stat(m->source.c_str(), &src) != 0) return Internal(errnoText("stat " + m->source));
    // Create the missing components, each resolved in the root.
    std::string prefix;
    std::vector<std::string> parts;
    for (size_t i = 1; i <= m->destination.size();) {
      size_t slash = m->destination.find('/', i);
      if (slash == std::string::npos) slash = m->destination.size();
      if (slash > i) parts.push_back(m->destination.substr(i, slash - i));
      i = slash + 1;
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string parent = prefix.empty() ? "/" : prefix;
      prefix += "/" + parts[i];
      int fd = dir.openAt(prefix, O_PATH | O_CLOEXEC);
      if (fd >= 0) {
        close(fd);
        continue;
      }
      if (errno != ENOENT) return Internal(errnoText("open " + prefix + " in the container"));
      int pfd = dir.openAt(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (pfd < 0) return Internal(errnoText("open " + parent + " in the container"));
      bool file = i + 1 == parts.size() && !S_ISDIR(src.st_mode);
      int rc = 0;
      if (file) {
        int f = openat(pfd, parts[i].c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        rc = f < 0 ? -1 : close(f);
      } else {
        rc = mkdirat(pfd, parts[i].c_str(), 0755);
      }
      int err = errno;
      close(pfd);
      if (rc != 0 && err != EEXIST) {
        errno = err;
        return Internal(errnoText("create " + prefix + " in the container"));
      }
    }
    int target = dir.openAt(m->destination, O_PATH | O_CLOEXEC);
    if (target < 0) return Internal(errnoText("open " + m->destination + " in the container"));
    std::string at = "/proc/self/fd/" + std::to_string(target);
    unsigned long flags = MS_BIND | (m->recursive ? MS_REC : 0);
    int rc = ::mount(m->source.c_str(), at.c_str(), nullptr, flags, nullptr);
    int err = errno;
    close(target);
    if (rc == 0 && m->readonly) {
      // The new mount, reached the same way (resolved in the root again: a
      // path on the host could be a symlink the container made meanwhile).
      int top = dir.openAt(m->destination, O_PATH | O_CLOEXEC);
      std::string again = "/proc/self/fd/" + std::to_string(top);
      rc = top < 0 ? -1
                   : ::mount(nullptr, again.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr);
      err = errno;
      if (top >= 0) close(top);
    }
    if (rc != 0) {
      errno = err;
      return Internal(errnoText("mount " + m->source + " on " + m->destination));
    }
  }
  return Status::Ok();
}

}  // namespace

std::shared_ptr<std::shared_mutex> NamespaceDriver::rootfsLock(const std::string& id) {
  std::lock_guard<std::mutex> l(locks_mu_);
  if (rootfs_locks_.size() > 256) {
    for (auto it = rootfs_locks_.begin(); it != rootfs_locks_.end();) {
      it = it->second.expired() ? rootfs_locks_.erase(it) : std::next(it);
    }
  }
  auto& slot = rootfs_locks_[id];
  auto lock = slot.lock();
  if (!lock) {
    lock = std::make_shared<std::shared_mutex>();
    slot = lock;
  }
  return lock;
}

StatusOr<std::vector<std::string>> NamespaceDriver::layerStack(
    const std::string& id, const std::vector<std::string>& image_lowers) {
  const std::string layer = layerDir(id);
  const std::string init = layer + "/init";
  if (!exists(init)) {
    ARCA_RETURN_IF_ERROR(mkdirAll(layer, 0755));
    // Built aside and renamed: a concurrent caller sees all of it or none.
    const std::string tmp = layer + "/init.tmp" + std::to_string(getpid()) + "." +
                            std::to_string(++private_mounts_);
    ARCA_RETURN_IF_ERROR(removeTree(tmp));
    if (mkdir(tmp.c_str(), 0755) != 0 || chmod(tmp.c_str(), 0755) != 0) {
      return Internal(errnoText("mkdir " + tmp));
    }
    Status st = makeInitLayer(tmp, image_lowers);
    if (st.ok() && rename(tmp.c_str(), init.c_str()) != 0 && errno != EEXIST &&
        errno != ENOTEMPTY) {
      st = Internal(errnoText("rename " + tmp));
    }
    Status rm = removeTree(tmp);  // left only when another caller won the rename
    ARCA_RETURN_IF_ERROR(st);
    ARCA_RETURN_IF_ERROR(rm);
  }
  std::vector<std::string> lowers;
  lowers.reserve(image_lowers.size() + 1);
  lowers.push_back(init);
  lowers.insert(lowers.end(), image_lowers.begin(), image_lowers.end());
  return lowers;
}

Status NamespaceDriver::withRootfs(const std::string& id, const std::vector<std::string>& lower_dirs,
                                   const std::vector<SandboxMount>& mounts,
                                   const std::function<Status(const std::string& rootfs)>& fn) {
  if (!validId(id)) return InvalidArgument("invalid container id " + id);
  auto lock = rootfsLock(id);
  const std::string live = bundleDir(id) + "/rootfs";
  bool with_mounts = false;
  for (const auto& m : mounts) with_mounts = with_mounts || m.kind == SandboxMount::Kind::kBind;
  if (!with_mounts) {
    std::shared_lock<std::shared_mutex> reading(*lock);
    if (isMountRoot(live)) return fn(live);
  }
  std::unique_lock<std::shared_mutex> mounting(*lock);
  if (!with_mounts && isMountRoot(live)) return fn(live);  // started meanwhile
  const std::string target =
      options_.exec_root + "/m/" + id + "." + std::to_string(++private_mounts_);
  if (mkdir(target.c_str(), 0700) != 0) return Internal(errnoText("mkdir " + target));
  Status st;
  if (isMountRoot(live)) {
    // A running container with volumes: a private view of its live root
    // (the same overlay) with the volumes and binds mounted on it.
    if (::mount(live.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        ::mount(nullptr, target.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
      st = Internal(errnoText("bind " + live));
    }
  } else {
    auto lowers = layerStack(id, lower_dirs);
    const std::string layer = layerDir(id);
    st = lowers.ok() ? mkdirAll(layer + "/upper", 0755) : lowers.status();
    if (st.ok()) st = mkdirAll(layer + "/work", 0700);
    if (st.ok()) st = mountOverlay(*lowers, layer + "/upper", layer + "/work", target);
  }
  if (st.ok()) st = mountInRoot(target, mounts);
  if (st.ok()) st = fn(target);
  // Whatever got mounted, also on a failure half-way.
  if (Status u = unmountAll(target); !u.ok()) {
    logger()->warn("unmounting the private root of {}: {}", id, u.toString());
  }
  rmdir(target.c_str());
  return st;
}

Status NamespaceDriver::withLayers(const std::string& id, const std::vector<std::string>& lower_dirs,
                                   const LayersFn& fn) {
  if (!validId(id)) return InvalidArgument("invalid container id " + id);
  auto lock = rootfsLock(id);
  std::shared_lock<std::shared_mutex> reading(*lock);
  ARCA_ASSIGN_OR_RETURN(std::vector<std::string> lowers, layerStack(id, lower_dirs));
  return fn(layerDir(id) + "/upper", lowers);
}

}  // namespace arca::runtime

namespace arca::runtime {
namespace {

Status fromGrpc(const grpc::Status& st, const std::string& what) {
  switch (st.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::NOT_FOUND:
      return NotFound(st.error_message());
    case grpc::StatusCode::FAILED_PRECONDITION:
      return FailedPrecondition(st.error_message());
    case grpc::StatusCode::INVALID_ARGUMENT:
      return InvalidArgument(st.error_message());
    case grpc::StatusCode::ALREADY_EXISTS:
      return AlreadyExists(st.error_message());
    case grpc::StatusCode::CANCELLED:
      return Canceled(st.error_message());
    case grpc::StatusCode::UNAVAILABLE:
      return Unavailable(what + ": arca-agent unreachable: " + st.error_message());
    default:
      return Internal(st.error_message());
  }
}

void toProto(const ExecProcess& p, v1::ExecSpec* out) {
  for (const auto& a : p.args) out->add_args(a);
  for (const auto& e : p.env) out->add_env(e);
  out->set_cwd(p.cwd);
  out->set_user(p.user);
  out->set_tty(p.tty);
  out->set_open_stdin(p.open_stdin);
  out->set_privileged(p.privileged);
  out->set_width(p.width);
  out->set_height(p.height);
}

class AgentIoStream final : public IoStream {
 public:
  explicit AgentIoStream(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::Agent::NewStub(std::move(channel))) {
    rw_ = stub_->Attach(&ctx_);
  }
  ~AgentIoStream() override {
    if (!finished_) {
      ctx_.TryCancel();
      v1::AttachResponse r;
      while (rw_->Read(&r)) {
      }
      rw_->Finish();
    }
  }

  bool open(const AttachOptions& o) {
    v1::AttachRequest req;
    auto* op = req.mutable_open();
    op->set_exec_id(o.exec_id);
    op->set_stdin(o.stdin);
    op->set_stdout(o.stdout);
    op->set_stderr(o.stderr);
    if (o.start_exec) toProto(o.exec, op->mutable_start_exec());
    return rw_->Write(req);
  }

  bool read(IoEvent* ev) override {
    v1::AttachResponse r;
    if (!rw_->Read(&r)) return false;
    if (r.has_output()) {
      ev->kind = IoEvent::Kind::kOutput;
      ev->stream = r.output().stream();
      ev->data = std::move(*r.mutable_output()->mutable_data());
    } else if (r.has_exit()) {
      ev->kind = IoEvent::Kind::kExit;
      ev->exit_code = r.exit().exit_code();
    } else {
      ev->kind = IoEvent::Kind::kOpened;
      ev->pid = r.opened_pid();
    }
    return true;
  }
  bool writeStdin(std::string_view data) override {
    std::lock_guard<std::mutex> lk(write_mu_);
    if (writes_done_) return false;
    v1::AttachRequest req;
    req.set_stdin(std::string(data));
    return rw_->Write(req);
  }
  bool closeStdin() override {
    std::lock_guard<std::mutex> lk(write_mu_);
    if (writes_done_) return false;
    v1::AttachRequest req;
    req.set_close_stdin(true);
    return rw_->Write(req);
  }
  void detach() override {
    std::lock_guard<std::mutex> lk(write_mu_);
    if (writes_done_) return;
    writes_done_ = true;
    rw_->WritesDone();
  }
  void cancel() override { ctx_.TryCancel(); }
  Status finish() override {
    std::lock_guard<std::mutex> lk(write_mu_);  // no Write() runs beside Finish()
    writes_done_ = true;
    finished_ = true;
    return fromGrpc(rw_->Finish(), "attach");
  }

 private:
  std::unique_ptr<v1::Agent::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AttachRequest, v1::AttachResponse>> rw_;
  std::mutex write_mu_;
  bool writes_done_ = false;
  bool finished_ = false;
};

}  // namespace

StatusOr<std::unique_ptr<IoStream>> NamespaceDriver::attach(const std::string& id,
                                                            const AttachOptions& options) {
  const std::string sock = socketPath(id);
  if (!exists(sock)) return NotFound("no sandbox for container " + id);
  auto stream = std::make_unique<AgentIoStream>(channelFor(id));
  if (!stream->open(options)) {
    Status st = stream->finish();
    return st.ok() ? Unavailable("attach: arca-agent closed the stream") : st;
  }
  // The first message says the stream is registered (or the call failed).
  IoEvent ev;
  if (!stream->read(&ev)) {
    Status st = stream->finish();
    return st.ok() ? Unavailable("attach: arca-agent closed the stream") : st;
  }
  if (ev.kind != IoEvent::Kind::kOpened) return Internal("attach: unexpected first message");
  return std::unique_ptr<IoStream>(std::move(stream));
}

StatusOr<int32_t> NamespaceDriver::exec(const std::string& id, const std::string& exec_id,
                                        const ExecProcess& process) {
  const std::string sock = socketPath(id);
  if (!exists(sock)) return NotFound("no sandbox for container " + id);
  auto stub = v1::Agent::NewStub(channelFor(id));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kStartRpcTimeout);
  v1::ExecRequest req;
  req.set_exec_id(exec_id);
  toProto(process, req.mutable_spec());
  v1::ExecResponse resp;
  ARCA_RETURN_IF_ERROR(fromGrpc(noted(id, stub->Exec(&ctx, req, &resp)), "exec"));
  return resp.pid();
}

StatusOr<int32_t> NamespaceDriver::execWait(const std::string& id, const std::string& exec_id) {
  const std::string sock = socketPath(id);
  if (!exists(sock)) return NotFound("no sandbox for container " + id);
  auto stub = v1::Agent::NewStub(channelFor(id));
  grpc::ClientContext ctx;
  v1::ExecWaitRequest req;
  req.set_exec_id(exec_id);
  v1::ExecWaitResponse resp;
  ARCA_RETURN_IF_ERROR(fromGrpc(noted(id, stub->ExecWait(&ctx, req, &resp)), "exec wait"));
  return resp.exit_code();
}

Status NamespaceDriver::resize(const std::string& id, const std::string& exec_id, uint32_t width,
                               uint32_t height) {
  const std::string sock = socketPath(id);
  if (!exists(sock)) return NotFound("no sandbox for container " + id);
  auto stub = v1::Agent::NewStub(channelFor(id));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kSignalTimeout);
  v1::ResizeRequest req;
  req.set_exec_id(exec_id);
  req.set_width(width);
  req.set_height(height);
  v1::ResizeResponse resp;
  return fromGrpc(noted(id, stub->Resize(&ctx, req, &resp)), "resize");
}

}  // namespace arca::runtime

namespace arca::runtime {

// --- issue #4: stats, top, pause (agent RPCs) --------------------------------

namespace {

constexpr auto kOpsTimeout = std::chrono::seconds(10);

// One unary call to the agent of `id`; NotFound without a live agent,
// FailedPrecondition as the agent says, Internal with its text otherwise.
template <typename Req, typename Resp, typename Call>
Status callAgent(const std::string& sock, const std::function<std::shared_ptr<grpc::Channel>()>& channel,
                 const std::function<void()>& unavailable, const std::string& id, const Req& req,
                 Resp* resp, Call call) {
  if (!exists(sock)) return NotFound("no sandbox for container " + id);
  auto stub = v1::Agent::NewStub(channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kOpsTimeout);
  grpc::Status st = call(*stub, &ctx, req, resp);
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE) unavailable();
  if (st.ok()) return Status::Ok();
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return NotFound("no sandbox for container " + id);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return FailedPrecondition(st.error_message());
    default:
      return Internal(st.error_message());
  }
}

BlkioEntry fromProto(const v1::BlkioEntry& e) { return {e.major(), e.minor(), e.op(), e.value()}; }

}  // namespace

StatusOr<SandboxStats> NamespaceDriver::stats(const std::string& id) {
  if (vmPaused(id)) {  // its vCPUs are stopped: the sample taken at pause
    std::lock_guard<std::mutex> lock(locks_mu_);
    auto it = paused_stats_.find(id);
    SandboxStats frozen = it != paused_stats_.end() ? it->second : SandboxStats{};
    frozen.running = true;
    return frozen;
  }
  v1::StatsResponse r;
  Status st = callAgent(socketPath(id), [&] { return channelFor(id); }, [&] { noteRpc(id, grpc::Status(grpc::StatusCode::UNAVAILABLE, "")); }, id, v1::StatsRequest{}, &r,
                        [](v1::Agent::Stub& s, grpc::ClientContext* c, const v1::StatsRequest& q,
                           v1::StatsResponse* a) { return s.Stats(c, q, a); });
  if (!st.ok()) {
    // An agent that is gone (or never came) means no process: empty stats.
    if (st.code() == Code::kNotFound) return SandboxStats{};
    return st;
  }
  SandboxStats out;
  out.running = r.running();
  out.read_ns = r.read_ns();
  out.cgroup_version = static_cast<int>(r.cgroup_version());
  out.cpu_total_ns = r.cpu_total_ns();
  out.cpu_percpu_ns.assign(r.cpu_percpu_ns().begin(), r.cpu_percpu_ns().end());
  out.cpu_user_ns = r.cpu_user_ns();
  out.cpu_system_ns = r.cpu_system_ns();
  out.throttling_periods = r.throttling_periods();
  out.throttled_periods = r.throttled_periods();
  out.throttled_time_ns = r.throttled_time_ns();
  out.system_cpu_ns = r.system_cpu_ns();
  out.online_cpus = r.online_cpus();
  out.memory_usage = r.memory_usage();
  out.memory_max_usage = r.memory_max_usage();
  out.memory_limit = r.memory_limit();
  out.memory_failcnt = r.memory_failcnt();
  out.memory_stat.insert(r.memory_stat().begin(), r.memory_stat().end());
  out.machine_memory = r.machine_memory();
  out.pids_current = r.pids_current();
  out.pids_limit = r.pids_limit();
  for (const auto& e : r.io_service_bytes()) out.io_service_bytes.push_back(fromProto(e));
  for (const auto& e : r.io_serviced()) out.io_serviced.push_back(fromProto(e));
  for (const auto& n : r.networks()) {
    out.networks.push_back({n.name(), n.rx_bytes(), n.rx_packets(), n.rx_errors(), n.rx_dropped(),
                            n.tx_bytes(), n.tx_packets(), n.tx_errors(), n.tx_dropped()});
  }
  return out;
}

StatusOr<ProcessList> NamespaceDriver::top(const std::string& id, const std::string& ps_args) {
  if (vmPaused(id)) {
    return FailedPrecondition("container " + id + " is paused: its VM's vCPUs are stopped");
  }
  v1::TopRequest req;
  req.set_ps_args(ps_args);
  v1::TopResponse r;
  ARCA_RETURN_IF_ERROR(callAgent(socketPath(id), [&] { return channelFor(id); }, [&] { noteRpc(id, grpc::Status(grpc::StatusCode::UNAVAILABLE, "")); }, id, req, &r,
                                 [](v1::Agent::Stub& s, grpc::ClientContext* c,
                                    const v1::TopRequest& q,
                                    v1::TopResponse* a) { return s.Top(c, q, a); }));
  ProcessList out;
  out.titles.assign(r.titles().begin(), r.titles().end());
  for (const auto& row : r.processes()) out.processes.emplace_back(row.fields().begin(), row.fields().end());
  return out;
}

Status NamespaceDriver::pause(const std::string& id) {
  v1::PauseResponse r;
  ARCA_RETURN_IF_ERROR(callAgent(socketPath(id), [&] { return channelFor(id); }, [&] { noteRpc(id, grpc::Status(grpc::StatusCode::UNAVAILABLE, "")); }, id, v1::PauseRequest{}, &r,
                   [](v1::Agent::Stub& s, grpc::ClientContext* c, const v1::PauseRequest& q,
                      v1::PauseResponse* a) { return s.Pause(c, q, a); }));
  if (options_.vm && isVm(id)) {
    // issue #8: the processes are frozen (above); the VM's vCPUs stop too.
    // Its last counters answer docker stats while it cannot.
    auto sample = stats(id);
    if (sample.ok()) {
      std::lock_guard<std::mutex> lock(locks_mu_);
      paused_stats_[id] = *sample;
    }
    Status st = options_.vm->pauseVcpus(id);
    if (!st.ok()) logger()->warn("pause of the VM of {}: {} (its processes are frozen)", id, st.toString());
  }
  return Status::Ok();
}

Status NamespaceDriver::resume(const std::string& id) {
  resumeVm(id);
  v1::ResumeResponse r;
  return callAgent(socketPath(id), [&] { return channelFor(id); }, [&] { noteRpc(id, grpc::Status(grpc::StatusCode::UNAVAILABLE, "")); }, id, v1::ResumeRequest{}, &r,
                   [](v1::Agent::Stub& s, grpc::ClientContext* c, const v1::ResumeRequest& q,
                      v1::ResumeResponse* a) { return s.Resume(c, q, a); });
}

bool NamespaceDriver::vmPaused(const std::string& id) const {
  return options_.vm && isVm(id) && options_.vm->paused(id);
}

void NamespaceDriver::resumeVm(const std::string& id) {
  if (!vmPaused(id)) return;
  Status st = options_.vm->resumeVcpus(id, socketPath(id));
  if (!st.ok()) logger()->warn("resume of the VM of {}: {}", id, st.toString());
  std::lock_guard<std::mutex> lock(locks_mu_);
  paused_stats_.erase(id);
}

}  // namespace arca::runtime
