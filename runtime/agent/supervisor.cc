#include "runtime/agent/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <optional>
#include <sstream>

#include "runtime/agent/json_log.h"
#include "runtime/namespace/container_fs.h"
#include "runtime/sandbox_driver.h"

namespace arca::agent {
namespace {

constexpr int64_t kPartialFlushMs = 100;     // quiet period before a partial line is flushed
constexpr int64_t kDrainAfterExitMs = 2000;  // bound on reading stdio after the init exited
constexpr size_t kMaxOrphans = 64;
constexpr size_t kReadChunk = 64 * 1024;

int64_t realtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string errnoText(const std::string& what) { return what + ": " + strerror(errno); }

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Absolute path of `name` in $PATH (or `name` itself when it has a '/').
std::string findInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return "";
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 128;
}

// crun 1.8 refuses a cgroup v1 host with a cgroup2 mount beside it ("hybrid");
// it works when run in a private mount namespace without that mount.
bool needsCrunHybridWorkaround(const std::string& runtime) {
  if (runtime.find("crun") == std::string::npos) return false;
  struct statfs root {};
  struct statfs unified {};
  constexpr long kCgroup2Magic = 0x63677270;
  constexpr long kTmpfsMagic = 0x01021994;
  return statfs("/sys/fs/cgroup", &root) == 0 && root.f_type == kTmpfsMagic &&
         statfs("/sys/fs/cgroup/unified", &unified) == 0 && unified.f_type == kCgroup2Magic;
}

}  // namespace

StatusOr<std::unique_ptr<Supervisor>> Supervisor::create(const AgentOptions& options) {
  std::unique_ptr<Supervisor> s(new Supervisor(options));
  ARCA_RETURN_IF_ERROR(s->init());
  return s;
}

Status Supervisor::init() {
  if (opts_.id.empty() || opts_.bundle.empty() || opts_.socket.empty() || opts_.log_path.empty() ||
      opts_.runtime_root.empty()) {
    return InvalidArgument("--id, --bundle, --socket, --log and --runtime-root are required");
  }
  runtime_path_ = opts_.runtime_path.empty() ? findInPath(opts_.runtime) : opts_.runtime_path;
  if (runtime_path_.empty() || access(runtime_path_.c_str(), X_OK) != 0) {
    return FailedPrecondition("OCI runtime " + opts_.runtime + " not found");
  }
  crun_hybrid_workaround_ = needsCrunHybridWorkaround(runtime_path_);
  runtime_log_path_ = opts_.bundle + "/runtime.log";
  pid_file_path_ = opts_.bundle + "/init.pid";
  exit_path_ = opts_.bundle + "/exit.json";

  auto config = readFile(opts_.bundle + "/config.json");
  if (!config) return FailedPrecondition("no config.json in bundle " + opts_.bundle);
  rapidjson::Document doc;
  doc.Parse(config->data(), config->size());
  if (doc.HasParseError() || !doc.IsObject()) return InvalidArgument("config.json is not JSON");
  auto proc = doc.FindMember("process");
  if (proc != doc.MemberEnd() && proc->value.IsObject()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    proc->value.Accept(w);
    process_json_.assign(sb.GetString(), sb.GetSize());
    auto term = proc->value.FindMember("terminal");
    terminal_ = term != proc->value.MemberEnd() && term->value.IsBool() && term->value.GetBool();
  }
  if (doc.HasMember("linux") && doc["linux"].IsObject() && doc["linux"].HasMember("cgroupsPath") &&
      doc["linux"]["cgroupsPath"].IsString()) {
    cgroups_path_ = doc["linux"]["cgroupsPath"].GetString();
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sig_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd_ < 0) return Internal(errnoText("signalfd"));
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return Internal(errnoText("eventfd"));
  devnull_fd_ = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull_fd_ < 0) return Internal(errnoText("open /dev/null"));
  auto log = LogWriter::open(opts_.log_path, opts_.log_max_size, opts_.log_max_files);
  if (!log.ok()) return log.status();
  log_ = std::move(*log);
  auto init = std::make_unique<Proc>();
  init->is_init = true;
  init->tty = terminal_;
  procs_[""] = std::move(init);
  return Status::Ok();
}

Supervisor::~Supervisor() {
  for (int fd : {sig_fd_, wake_fd_, devnull_fd_}) {
    if (fd >= 0) close(fd);
  }
  for (auto& [id, p] : procs_) {
    for (int fd : {p->out_fd, p->err_fd, p->in_fd, p->tty_fd}) {
      if (fd >= 0) close(fd);
    }
  }
}

void Supervisor::wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;  // EAGAIN only when the counter is saturated: the loop is awake anyway
}

std::vector<std::string> Supervisor::runtimeArgs(std::vector<std::string> args) const {
  std::vector<std::string> argv = {runtime_path_, "--root",          opts_.runtime_root,
                                   "--log",       runtime_log_path_, "--log-format",
                                   "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

pid_t Supervisor::spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd) {
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const bool workaround = crun_hybrid_workaround_;

  // mu_ is held across fork so the loop cannot reap the child before it is
  // registered in watched_.
  std::lock_guard<std::mutex> lk(mu_);
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    // Child of a multi-threaded process: async-signal-safe calls only.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, nullptr);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(127);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    if (workaround) {
      if (unshare(CLONE_NEWNS) != 0 ||
          mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0 ||
          umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0) {
        _exit(127);
      }
    }
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  watched_.insert(pid);
  return pid;
}

int Supervisor::waitChild(pid_t pid) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return child_status_.count(pid) != 0 || stop_loop_; });
  if (child_status_.count(pid) == 0) {
    // The loop has stopped (shutdown raced with this call): reap it ourselves.
    lk.unlock();
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    lk.lock();
    if (r == pid) {
      watched_.erase(pid);
      return status;
    }
    // ECHILD: the loop reaped it in its last round after all.
    if (child_status_.count(pid) == 0) return 0;
  }
  int status = child_status_[pid];
  child_status_.erase(pid);
  return status;
}

int Supervisor::runRuntime(const std::vector<std::string>& args) {
  static const bool trace = getenv("ARCA_AGENT_TRACE") != nullptr;
  timespec t0{}, t1{};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = spawn(runtimeArgs(args), devnull_fd_, devnull_fd_, STDERR_FILENO);
  if (pid < 0) return W_EXITCODE(127, 0);
  int status = waitChild(pid);
  if (trace) {
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "arca-agent: %s %s took %ld ms\n", opts_.runtime.c_str(), args.empty() ? "" : args[0].c_str(),
            (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
  }
  return status;
}

// The runtime's last error from its JSON log ({"level":"error","msg":...}).
std::string Supervisor::lastRuntimeError(int status, size_t from) const {
  std::string last;
  if (auto log = readFile(runtime_log_path_)) {
    std::istringstream lines(from < log->size() ? log->substr(from) : std::string());
    std::string line;
    while (std::getline(lines, line)) {
      rapidjson::Document doc;
      doc.Parse(line.c_str());
      if (doc.HasParseError() || !doc.IsObject()) continue;
      auto level = doc.FindMember("level");
      auto msg = doc.FindMember("msg");
      if (level == doc.MemberEnd() || msg == doc.MemberEnd() || !level->value.IsString() ||
          !msg->value.IsString()) {
        continue;
      }
      std::string lv = level->value.GetString();
      if (lv == "error" || lv == "fatal" || lv == "panic") last = msg->value.GetString();
    }
  }
  if (last.empty())
    last = opts_.runtime + " exited with status " + std::to_string(exitCodeOf(status));
  return last;
}

void Supervisor::failStartLocked(const std::string& message) {
  phase_ = Phase::kFailed;
  error_ = message;
  exit_code_ = runtime::startFailureExitCode(message);
  cv_.notify_all();
}

Status Supervisor::failStart(const std::string& message) {
  std::vector<Sink> sinks;
  int code;
  {
    std::lock_guard<std::mutex> lk(mu_);
    failStartLocked(message);
    Proc& init = *procs_[""];
    init.finished = true;
    init.exit_code = exit_code_;
    sinks.swap(init.sinks);
    code = exit_code_;
  }
  for (auto& s : sinks) s.sink->exited(code);
  notifyWaiters();
  return Internal(message);
}

namespace {

// A listening unix socket for the runtime's --console-socket.
int listenUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    close(fd);
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 1) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

void setWinsize(int fd, uint32_t width, uint32_t height) {
  if (fd < 0 || width == 0 || height == 0) return;
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(std::min<uint32_t>(width, 65535));
  ws.ws_row = static_cast<unsigned short>(std::min<uint32_t>(height, 65535));
  ioctl(fd, TIOCSWINSZ, &ws);
}

void closeFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Accepts the terminal master the runtime sends to a --console-socket.
int receiveConsole(int listen_fd) {
  // The runtime connected and sent the master before it exited: both are
  // queued on the listening socket by now.
  pollfd pfd{listen_fd, POLLIN, 0};
  if (poll(&pfd, 1, 5000) <= 0) return -1;
  int conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char data[256];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  int master = -1;
  ssize_t n;
  while ((n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n >= 0) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        memcpy(&master, CMSG_DATA(c), sizeof(int));
      }
    }
  }
  close(conn);
  return master;
}

// The stdio of a process the runtime starts: pipes (the runtime hands its
// own stdio to the process), or a terminal whose master the runtime sends to
// a console socket. Whatever is not handed over is closed on destruction.
struct Stdio {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
  int console_listen = -1;
  int master = -1;
  std::string console_path;

  ~Stdio() {
    for (int* fd : {&out[0], &out[1], &err[0], &err[1], &in[0], &in[1], &console_listen, &master}) {
      closeFd(fd);
    }
    if (!console_path.empty()) unlink(console_path.c_str());
  }
  // Pipes, or the console socket (its flags appended to *args).
  std::string open(bool tty, bool open_stdin, const std::string& socket_path,
                   std::vector<std::string>* args) {
    if (tty) {
      console_path = socket_path;
      console_listen = listenUnix(console_path);
      if (console_listen < 0) return errnoText("console socket " + console_path);
      args->insert(args->end(), {"--console-socket", console_path});
      return "";
    }
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
        (open_stdin && pipe2(in, O_CLOEXEC) != 0)) {
      return errnoText("pipe");
    }
    return "";
  }
  int childIn(int devnull) const { return in[0] >= 0 ? in[0] : devnull; }
  int childOut(int devnull) const { return out[1] >= 0 ? out[1] : devnull; }
  int childErr(int devnull) const { return err[1] >= 0 ? err[1] : devnull; }
  void closeChildEnds() {
    closeFd(&out[1]);
    closeFd(&err[1]);
    closeFd(&in[0]);
  }
  // After the runtime succeeded: the terminal's master, sized.
  bool takeTerminal(uint32_t width, uint32_t height) {
    if (console_listen < 0) return true;
    master = receiveConsole(console_listen);
    if (master < 0) return false;
    setWinsize(master, width, height);
    return true;
  }
  // Hands the parent ends to the loop's bookkeeping.
  void handTo(int* out_fd, int* err_fd, int* in_fd, int* tty_fd, bool open_stdin) {
    if (master >= 0) {
      fcntl(master, F_SETFL, O_NONBLOCK);
      *tty_fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
      if (open_stdin) *in_fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
      *out_fd = master;
      master = -1;
      return;
    }
    for (int fd : {out[0], err[0], in[1]}) {
      if (fd >= 0) fcntl(fd, F_SETFL, O_NONBLOCK);
    }
    *out_fd = out[0];
    *err_fd = err[0];
    *in_fd = in[1];
    out[0] = err[0] = in[1] = -1;
  }
};

}  // namespace

StatusOr<int32_t> Supervisor::start(bool open_stdin, uint32_t width, uint32_t height) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (shutting_down_) return FailedPrecondition("agent is shutting down");
    if (phase_ != Phase::kCreated) return FailedPrecondition("container already started");
    phase_ = Phase::kStarting;
  }
  // Only this attempt's messages in the runtime log.
  int t = open(runtime_log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (t >= 0) close(t);
  unlink(pid_file_path_.c_str());

  Stdio io;
  std::vector<std::string> args = {opts_.single_run ? "run" : "create", "--bundle", opts_.bundle,
                                   "--pid-file", pid_file_path_};
  if (opts_.single_run) args.push_back("--detach");
  std::string error = io.open(terminal_, open_stdin,
                              opts_.socket + ".c" + std::to_string(console_seq_++), &args);
  if (!error.empty()) return failStart(error);
  args.push_back(opts_.id);
  pid_t pid = spawn(runtimeArgs(args), io.childIn(devnull_fd_), io.childOut(devnull_fd_),
                    io.childErr(devnull_fd_));
  io.closeChildEnds();
  int status = pid < 0 ? W_EXITCODE(127, 0) : waitChild(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // Whatever is in the pipes is the runtime's own complaint, not container output.
    std::string msg = lastRuntimeError(status);
    std::string prefix = opts_.runtime + " create failed";
    if (msg.compare(0, prefix.size(), prefix) != 0) msg = prefix + ": " + msg;
    runRuntime({"delete", "-f", opts_.id});
    return failStart("OCI runtime create failed: " + msg);
  }
  pid_t init = 0;
  if (auto text = readFile(pid_file_path_)) init = static_cast<pid_t>(atoi(text->c_str()));
  if (!io.takeTerminal(width, height) || init <= 0) {
    runRuntime({"delete", "-f", opts_.id});
    return failStart("OCI runtime create failed: no " +
                     std::string(init <= 0 ? "pid file" : "terminal") + " from " + opts_.runtime);
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    init_pid_ = init;
    for (const auto& [p, st] : orphans_) {
      if (p == init) onChildExitLocked(p, st);  // died before we knew its pid
    }
    Proc& p = *procs_[""];
    p.pid = init;
    io.handTo(&p.out_fd, &p.err_fd, &p.in_fd, &p.tty_fd, open_stdin);
    if (p.in_fd < 0) {  // no stdin: what attached clients sent goes nowhere
      p.in_buf.clear();
      p.in_close = false;
    }
  }
  wake();

  status = opts_.single_run ? 0 : runRuntime({"start", opts_.id});
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string msg = "OCI runtime start failed: " + lastRuntimeError(status);
    runRuntime({"delete", "-f", opts_.id});
    return failStart(msg);
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (phase_ == Phase::kStarting) phase_ = Phase::kRunning;
  return static_cast<int32_t>(init);
}

Status Supervisor::signal(int sig) {
  std::lock_guard<std::mutex> lk(mu_);
  if (init_pid_ == 0) {
    if (phase_ == Phase::kFailed) return Status::Ok();
    return FailedPrecondition("container is not started");
  }
  // The init is reaped only under mu_, so init_pid_ cannot have been reused.
  if (init_reaped_) return Status::Ok();
  if (kill(init_pid_, sig) != 0 && errno != ESRCH) return Internal(errnoText("kill"));
  return Status::Ok();
}

Snapshot Supervisor::snapshotLocked() const {
  Snapshot s;
  s.phase = phase_;
  s.pid = init_pid_;
  s.exit_code = exit_code_;
  s.oom_killed = oom_killed_;
  s.finished_ns = finished_ns_;
  s.error = error_;
  return s;
}

Snapshot Supervisor::snapshot() {
  std::lock_guard<std::mutex> lk(mu_);
  return snapshotLocked();
}

uint64_t Supervisor::addWaiter(WaitCallback done) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!finishedLocked()) {
    uint64_t token = next_waiter_++;
    waiters_.emplace(token, std::move(done));
    return token;
  }
  Snapshot snap = snapshotLocked();
  lk.unlock();
  done(snap.phase == Phase::kFailed ? FailedPrecondition(snap.error) : Status::Ok(), snap);
  return 0;
}

bool Supervisor::cancelWaiter(uint64_t token) {
  std::lock_guard<std::mutex> lk(mu_);
  return waiters_.erase(token) != 0;
}

void Supervisor::notifyWaiters() {
  std::map<uint64_t, WaitCallback> ready;
  Snapshot snap;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (waiters_.empty() || !finishedLocked()) return;
    ready.swap(waiters_);
    snap = snapshotLocked();
  }
  Status st = snap.phase == Phase::kFailed ? FailedPrecondition(snap.error) : Status::Ok();
  for (auto& [token, done] : ready) done(st, snap);
}

void Supervisor::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    shutting_down_ = true;
  }
  runRuntime({"delete", "-f", opts_.id});
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, std::chrono::seconds(5),
                 [&] { return init_pid_ == 0 || exit_recorded_ || phase_ == Phase::kFailed; });
    stop_loop_ = true;
    cv_.notify_all();
  }
  wake();
}

Status Supervisor::update(const std::string& resources_json) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (shutting_down_ || phase_ != Phase::kRunning || init_reaped_) {
      return FailedPrecondition("container " + opts_.id + " is not running");
    }
  }
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Internal(errnoText("pipe"));
  // LinuxResources JSON is far below a pipe's capacity: write it all first.
  ssize_t n = write(in[1], resources_json.data(), resources_json.size());
  close(in[1]);
  if (n != static_cast<ssize_t>(resources_json.size())) {
    close(in[0]);
    return Internal("writing resources to the runtime failed");
  }
  struct stat st {};
  size_t log_from = stat(runtime_log_path_.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  pid_t pid = spawn(runtimeArgs({"update", "--resources", "-", opts_.id}), in[0], devnull_fd_,
                    devnull_fd_);
  close(in[0]);
  int status = pid < 0 ? W_EXITCODE(127, 0) : waitChild(pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Internal(lastRuntimeError(status, log_from));
}

void Supervisor::reapChildren() {
  for (;;) {
    siginfo_t si{};
    // Peek first, reap under mu_: signal() never sees a recycled pid.
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) return;
    std::lock_guard<std::mutex> lk(mu_);
    int status = 0;
    if (waitpid(si.si_pid, &status, WNOHANG) <= 0) continue;
    onChildExitLocked(si.si_pid, status);
  }
}

void Supervisor::onChildExitLocked(pid_t pid, int status) {
  if (init_pid_ != 0 && pid == init_pid_) {
    if (!init_reaped_) {
      init_reaped_ = true;
      init_status_ = status;
      finished_ns_ = realtimeNs();
      maybeRecordExitLocked();
    }
    return;
  }
  if (watched_.erase(pid) != 0) {
    child_status_[pid] = status;
    cv_.notify_all();
    return;
  }
  auto ex = exec_pids_.find(pid);
  if (ex != exec_pids_.end()) {
    Proc* p = procLocked(ex->second);
    if (p != nullptr) {
      p->reaped = true;
      p->status = status;
    }
    exec_pids_.erase(ex);
    wake();
    return;
  }
  orphans_.emplace_back(pid, status);
  if (orphans_.size() > kMaxOrphans) orphans_.pop_front();
}

bool Supervisor::readOomKilled() const {
  if (cgroups_path_.empty()) return false;
  // cgroup v1 memory controller, then cgroup v2.
  for (const auto& [file, key] :
       {std::pair<std::string, std::string>{
            "/sys/fs/cgroup/memory" + cgroups_path_ + "/memory.oom_control", "oom_kill "},
        {"/sys/fs/cgroup" + cgroups_path_ + "/memory.events", "oom_kill "}}) {
    auto text = readFile(file);
    if (!text) continue;
    size_t at = text->find("\n" + key);
    if (at != std::string::npos) {
      at += 1;
    } else if (text->compare(0, key.size(), key) == 0) {
      at = 0;
    } else {
      continue;
    }
    return atol(text->c_str() + at + key.size()) > 0;
  }
  return false;
}

void Supervisor::writeExitFile() const {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("exit_code");
  w.Int(exit_code_);
  w.Key("finished_ns");
  w.Int64(finished_ns_);
  w.Key("oom_killed");
  w.Bool(oom_killed_);
  w.EndObject();
  std::string tmp = exit_path_ + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "arca-agent: %s\n", errnoText("open " + tmp).c_str());
    return;
  }
  std::string data = std::string(sb.GetString(), sb.GetSize()) + "\n";
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ok = fsync(fd) == 0 && ok;
  close(fd);
  if (!ok || rename(tmp.c_str(), exit_path_.c_str()) != 0) {
    fprintf(stderr, "arca-agent: %s\n", errnoText("write " + exit_path_).c_str());
  }
}

void Supervisor::maybeRecordExitLocked() {
  if (exit_recorded_ || !init_reaped_ || !procs_[""]->relay_done) return;
  exit_code_ = exitCodeOf(init_status_);
  oom_killed_ = readOomKilled();
  writeExitFile();
  exit_recorded_ = true;
  if (phase_ != Phase::kFailed) phase_ = Phase::kExited;
  cv_.notify_all();
}

void Supervisor::writeLog(const std::string& data) {
  Status st = log_->write(data);
  if (!st.ok() && !log_error_reported_) {
    // Disk full or similar: the batch is dropped, relaying goes on (the
    // container must not block on a full pipe); say so once.
    fprintf(stderr, "arca-agent: %s\n", st.message().c_str());
    log_error_reported_ = true;
  }
}

Supervisor::Proc* Supervisor::procLocked(const std::string& exec_id) {
  auto it = procs_.find(exec_id);
  return it == procs_.end() ? nullptr : it->second.get();
}

void Supervisor::run() {
  // Per process, per stream: the json-file splitter (the init only) and the
  // partial-line flush timer. Loop thread only.
  struct Relay {
    LineSplitter out{"stdout"};
    LineSplitter err{"stderr"};
    int64_t flush_at_ms = 0;
    int64_t drain_deadline_ms = 0;
  };
  std::map<std::string, Relay> relays;
  std::string log_out;
  std::vector<char> buf(kReadChunk);

  struct PollRef {
    std::string id;
    int which;  // 1 out, 2 err, 0 stdin
  };
  struct Delivery {
    std::shared_ptr<OutputSink> sink;
    int stream;
    std::string data;
  };

  for (;;) {
    std::vector<pollfd> fds = {{sig_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    std::vector<PollRef> refs = {{"", -1}, {"", -1}};
    int64_t now = monotonicMs();
    int64_t next = 0;
    auto deadline = [&](int64_t t) {
      if (t != 0 && (next == 0 || t < next)) next = t;
    };
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_loop_) break;
      for (auto& [id, pp] : procs_) {
        Proc& p = *pp;
        if (p.finished) continue;
        Relay& r = relays[id];
        bool paused = false;
        for (const auto& s : p.sinks) paused = paused || s.sink->backlog() > kSinkHighWater;
        if (!paused) {
          if (p.out_fd >= 0) {
            fds.push_back({p.out_fd, POLLIN, 0});
            refs.push_back({id, 1});
          }
          if (p.err_fd >= 0) {
            fds.push_back({p.err_fd, POLLIN, 0});
            refs.push_back({id, 2});
          }
        }
        if (p.in_fd >= 0 && (!p.in_buf.empty() || p.in_close)) {
          fds.push_back({p.in_fd, POLLOUT, 0});
          refs.push_back({id, 0});
        }
        deadline(r.flush_at_ms);
        deadline(r.drain_deadline_ms);
      }
    }
    int timeout = next == 0 ? -1 : static_cast<int>(std::max<int64_t>(0, next - now));
    int rc = poll(fds.data(), static_cast<nfds_t>(fds.size()), timeout);
    if (rc < 0 && errno != EINTR) {
      fprintf(stderr, "arca-agent: %s\n", errnoText("poll").c_str());
      break;
    }
    if (rc > 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo info;
      while (read(sig_fd_, &info, sizeof info) == sizeof info) {
      }
      reapChildren();
    }
    if (rc > 0 && (fds[1].revents & POLLIN)) {
      uint64_t v;
      ssize_t n = read(wake_fd_, &v, sizeof v);
      (void)n;
    }
    int64_t now_ns = realtimeNs();
    std::vector<Delivery> deliveries;
    std::vector<std::function<void()>> after;
    {
      std::lock_guard<std::mutex> lk(mu_);
      now = monotonicMs();
      for (size_t i = 2; rc > 0 && i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Proc* p = procLocked(refs[i].id);
        if (p == nullptr) continue;
        Relay& r = relays[refs[i].id];
        if (refs[i].which == 0) {
          // Stdin: write what is queued; close once drained when asked to.
          while (!p->in_buf.empty()) {
            ssize_t n = write(p->in_fd, p->in_buf.data(), p->in_buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0) {  // the reader is gone
              p->in_buf.clear();
              p->in_close = true;
              break;
            }
            p->in_buf.erase(0, static_cast<size_t>(n));
          }
          if (p->in_buf.size() < kStdinHighWater && !p->in_waiters.empty()) {
            for (auto& w : p->in_waiters) after.push_back(std::move(w));
            p->in_waiters.clear();
          }
          if (p->in_buf.empty() && p->in_close && !p->tty) closeFd(&p->in_fd);
          continue;
        }
        int* fd = refs[i].which == 1 ? &p->out_fd : &p->err_fd;
        if (*fd < 0) continue;
        LineSplitter& split = refs[i].which == 1 ? r.out : r.err;
        ssize_t n = read(*fd, buf.data(), buf.size());
        if (n > 0) {
          std::string_view data(buf.data(), static_cast<size_t>(n));
          if (p->is_init) {
            split.feed(data, now_ns, &log_out);
            if (split.hasPending() && r.flush_at_ms == 0) r.flush_at_ms = now + kPartialFlushMs;
          }
          for (const auto& s : p->sinks) {
            if ((refs[i].which == 1 && s.out) || (refs[i].which == 2 && s.err)) {
              deliveries.push_back({s.sink, refs[i].which, std::string(data)});
            }
          }
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          // EOF (a terminal's master reads EIO once the last slave closed).
          if (p->is_init) split.flushPartial(now_ns, &log_out);
          closeFd(fd);
        }
      }
      // Partial lines after their quiet period; the drain bound after an exit.
      for (auto& [id, pp] : procs_) {
        Proc& p = *pp;
        if (p.finished) continue;
        Relay& r = relays[id];
        if (r.flush_at_ms != 0 && now >= r.flush_at_ms) {
          r.out.flushPartial(now_ns, &log_out);
          r.err.flushPartial(now_ns, &log_out);
          r.flush_at_ms = 0;
        }
        bool reaped = p.is_init ? init_reaped_ : p.reaped;
        if (!reaped || p.pid == 0) continue;
        if (r.drain_deadline_ms == 0) r.drain_deadline_ms = now + kDrainAfterExitMs;
        if (now >= r.drain_deadline_ms) {
          // Something outside the container still holds a write end: stop waiting.
          if (p.is_init) {
            r.out.flushPartial(now_ns, &log_out);
            r.err.flushPartial(now_ns, &log_out);
          }
          closeFd(&p.out_fd);
          closeFd(&p.err_fd);
        }
        if (p.out_fd >= 0 || p.err_fd >= 0) continue;
        p.relay_done = true;
        closeFd(&p.in_fd);
        closeFd(&p.tty_fd);
        if (p.is_init) {
          maybeRecordExitLocked();
          p.exit_code = exit_code_;
        } else {
          p.exit_code = exitCodeOf(p.status);
        }
        p.finished = true;
        p.finished_at_ms = now;
        relays.erase(id);
        int code = p.exit_code;
        for (auto& s : p.sinks) {
          auto sink = s.sink;
          deliveries.push_back({sink, 0, std::to_string(code)});
        }
        p.sinks.clear();
        for (auto& w : p.exit_waiters) {
          after.push_back([w = std::move(w), code] { w(code); });
        }
        p.exit_waiters.clear();
        for (auto& w : p.in_waiters) after.push_back(std::move(w));
        p.in_waiters.clear();
      }
      // Ended execs are kept for ExecWait a while, bounded.
      for (auto it = procs_.begin(); it != procs_.end();) {
        bool old = it->second->finished && !it->second->is_init &&
                   now - it->second->finished_at_ms > 10 * 60 * 1000;
        it = old ? procs_.erase(it) : std::next(it);
      }
    }
    if (!log_out.empty()) {
      writeLog(log_out);
      log_out.clear();
    }
    for (auto& d : deliveries) {
      if (d.stream == 0) {
        d.sink->exited(atoi(d.data.c_str()));
      } else {
        d.sink->output(d.stream, d.data);
      }
    }
    for (auto& fn : after) fn();
    notifyWaiters();
  }
}

Status Supervisor::attach(const std::string& exec_id, std::shared_ptr<OutputSink> sink,
                          bool want_stdout, bool want_stderr) {
  std::unique_lock<std::mutex> lk(mu_);
  Proc* p = procLocked(exec_id);
  if (p == nullptr) return NotFound("no such exec: " + exec_id);
  if (p->finished || (p->is_init && phase_ == Phase::kFailed)) {
    int code = p->is_init ? exit_code_ : p->exit_code;
    lk.unlock();
    sink->exited(code);
    return Status::Ok();
  }
  p->sinks.push_back({std::move(sink), want_stdout, want_stderr});
  return Status::Ok();
}

void Supervisor::detach(const std::string& exec_id, const OutputSink* sink) {
  std::lock_guard<std::mutex> lk(mu_);
  Proc* p = procLocked(exec_id);
  if (p == nullptr) return;
  auto& v = p->sinks;
  v.erase(std::remove_if(v.begin(), v.end(), [&](const Sink& s) { return s.sink.get() == sink; }),
          v.end());
  wake();  // a paused relay may continue without it
}

size_t Supervisor::writeStdin(const std::string& exec_id, std::string_view data) {
  std::lock_guard<std::mutex> lk(mu_);
  Proc* p = procLocked(exec_id);
  if (p == nullptr || p->in_close || p->finished) return 0;
  // The init's stdin is set up by start(): bytes that come first wait for it.
  if (p->in_fd < 0 && !(p->is_init && p->pid == 0)) return 0;
  p->in_buf.append(data);
  wake();
  return p->in_buf.size();
}

void Supervisor::addStdinWaiter(const std::string& exec_id, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    Proc* p = procLocked(exec_id);
    if (p != nullptr && !p->finished && p->in_buf.size() >= kStdinHighWater) {
      p->in_waiters.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void Supervisor::closeStdin(const std::string& exec_id) {
  std::lock_guard<std::mutex> lk(mu_);
  Proc* p = procLocked(exec_id);
  if (p == nullptr || (p->in_fd < 0 && !(p->is_init && p->pid == 0))) return;
  p->in_close = true;
  wake();
}

Status Supervisor::resize(const std::string& exec_id, uint32_t width, uint32_t height) {
  std::lock_guard<std::mutex> lk(mu_);
  Proc* p = procLocked(exec_id);
  if (p == nullptr) return NotFound("no such exec: " + exec_id);
  if (!p->tty) return FailedPrecondition("the process has no terminal");
  if (p->tty_fd < 0) return FailedPrecondition("the process is not running");
  if (width == 0 || height == 0) return InvalidArgument("invalid terminal size");
  setWinsize(p->tty_fd, width, height);
  return Status::Ok();
}

Status Supervisor::addExecWaiter(const std::string& exec_id, std::function<void(int)> done) {
  std::unique_lock<std::mutex> lk(mu_);
  Proc* p = procLocked(exec_id);
  if (p == nullptr || p->is_init) return NotFound("no such exec: " + exec_id);
  if (p->finished) {
    int code = p->exit_code;
    lk.unlock();
    done(code);
    return Status::Ok();
  }
  p->exit_waiters.push_back(std::move(done));
  return Status::Ok();
}

namespace {

const char* const kAllCaps[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE"};

// Every capability this agent may hand out: those of its own bounding set
// (a host may withhold some, e.g. CAP_SYS_RESOURCE in a nested sandbox).
std::vector<std::string> grantableCaps() {
  uint64_t bounding = ~0ULL;
  if (auto status = readFile("/proc/self/status")) {
    size_t at = status->find("CapBnd:");
    if (at != std::string::npos) bounding = strtoull(status->c_str() + at + 7, nullptr, 16);
  }
  std::vector<std::string> caps;
  for (size_t i = 0; i < sizeof kAllCaps / sizeof kAllCaps[0] && i < 64; ++i) {
    if (bounding & (1ULL << i)) caps.push_back(kAllCaps[i]);
  }
  return caps;
}

}  // namespace

std::string Supervisor::execProcessJson(const ExecOptions& o, std::string* error) {
  rapidjson::Document doc;
  doc.Parse(process_json_.c_str(), process_json_.size());
  if (doc.HasParseError() || !doc.IsObject()) doc.SetObject();
  auto& a = doc.GetAllocator();
  auto set = [&](const char* key, rapidjson::Value v) {
    doc.RemoveMember(key);
    doc.AddMember(rapidjson::Value(key, a), v, a);
  };
  auto strings = [&](const std::vector<std::string>& v) {
    rapidjson::Value arr(rapidjson::kArrayType);
    for (const auto& x : v) arr.PushBack(rapidjson::Value(x.c_str(), a), a);
    return arr;
  };
  set("args", strings(o.args));
  set("env", strings(o.env));
  if (!o.cwd.empty()) set("cwd", rapidjson::Value(o.cwd.c_str(), a));
  set("terminal", rapidjson::Value(o.tty));
  doc.RemoveMember("consoleSize");
  if (o.tty && o.width > 0 && o.height > 0) {
    rapidjson::Value cs(rapidjson::kObjectType);
    cs.AddMember("height", o.height, a);
    cs.AddMember("width", o.width, a);
    set("consoleSize", std::move(cs));
  }
  // The user, resolved in the container's own /etc/passwd and /etc/group.
  auto root = runtime::RootDir::open("/proc/" + std::to_string(init_pid_) + "/root");
  if (!root.ok()) {
    *error = root.status().message();
    return "";
  }
  auto user = runtime::resolveUser(o.user, root->readFile("/etc/passwd"),
                                   root->readFile("/etc/group"));
  if (!user.ok()) {
    *error = user.status().message();
    return "";
  }
  rapidjson::Value u(rapidjson::kObjectType);
  u.AddMember("uid", user->uid, a);
  u.AddMember("gid", user->gid, a);
  if (!user->additional_gids.empty()) {
    rapidjson::Value g(rapidjson::kArrayType);
    for (uint32_t x : user->additional_gids) g.PushBack(x, a);
    u.AddMember("additionalGids", g, a);
  }
  set("user", std::move(u));
  if (o.privileged) {
    std::vector<std::string> caps = grantableCaps();
    rapidjson::Value c(rapidjson::kObjectType);
    for (const char* set_name : {"bounding", "effective", "permitted"}) {
      c.AddMember(rapidjson::Value(set_name, a), strings(caps), a);
    }
    set("capabilities", std::move(c));
  }
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  doc.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

StatusOr<int32_t> Supervisor::exec(const std::string& exec_id, const ExecOptions& o,
                                   std::shared_ptr<OutputSink> sink, bool want_stdout,
                                   bool want_stderr) {
  if (exec_id.empty() || exec_id.find('/') != std::string::npos || exec_id.size() > 128) {
    return InvalidArgument("invalid exec id");
  }
  if (o.args.empty()) return InvalidArgument("no exec command specified");
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (shutting_down_ || phase_ != Phase::kRunning || init_reaped_) {
      return FailedPrecondition("container is not running");
    }
    if (procs_.count(exec_id)) return AlreadyExists("exec " + exec_id + " already exists");
    auto p = std::make_unique<Proc>();
    p->tty = o.tty;
    if (sink) p->sinks.push_back({std::move(sink), want_stdout, want_stderr});
    procs_[exec_id] = std::move(p);
  }
  auto fail = [&](const std::string& message) -> Status {
    std::vector<Sink> sinks;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = procs_.find(exec_id);
      if (it != procs_.end()) {
        sinks = std::move(it->second->sinks);
        procs_.erase(it);
      }
    }
    (void)sinks;  // dropped: the caller reports the error instead
    return Internal(message);
  };
  std::string error;
  std::string process = execProcessJson(o, &error);
  if (process.empty()) return fail(error);
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mu_);
    seq = console_seq_++;
  }
  std::string process_path = opts_.bundle + "/exec-" + std::to_string(seq) + ".json";
  std::string exec_pid_path = opts_.bundle + "/exec-" + std::to_string(seq) + ".pid";
  {
    int fd = open(process_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail(errnoText("write " + process_path));
    bool ok = write(fd, process.data(), process.size()) == static_cast<ssize_t>(process.size());
    close(fd);
    if (!ok) return fail(errnoText("write " + process_path));
  }
  auto cleanup = [&] {
    unlink(process_path.c_str());
    unlink(exec_pid_path.c_str());
  };
  Stdio io;
  std::vector<std::string> args = {"exec", "--detach", "--pid-file", exec_pid_path, "--process",
                                   process_path};
  if (o.tty) args.push_back("--tty");
  std::string err = io.open(o.tty, o.open_stdin, opts_.socket + ".c" + std::to_string(seq), &args);
  if (!err.empty()) {
    cleanup();
    return fail(err);
  }
  args.push_back(opts_.id);
  pid_t pid = spawn(runtimeArgs(args), io.childIn(devnull_fd_), io.childOut(devnull_fd_),
                    io.childErr(devnull_fd_));
  io.closeChildEnds();
  int status = pid < 0 ? W_EXITCODE(127, 0) : waitChild(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string msg = lastRuntimeError(status);
    cleanup();
    return fail("OCI runtime exec failed: " + msg);
  }
  pid_t xpid = 0;
  if (auto text = readFile(exec_pid_path)) xpid = static_cast<pid_t>(atoi(text->c_str()));
  cleanup();
  if (!io.takeTerminal(o.width, o.height) || xpid <= 0) {
    return fail("OCI runtime exec failed: no " + std::string(xpid <= 0 ? "pid file" : "terminal") +
                " from " + opts_.runtime);
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    Proc* p = procLocked(exec_id);
    if (p != nullptr) {
      p->pid = xpid;
      io.handTo(&p->out_fd, &p->err_fd, &p->in_fd, &p->tty_fd, o.open_stdin);
      bool early = false;
      for (const auto& [op, st] : orphans_) {
        if (op == xpid) {  // exited before we knew its pid
          p->reaped = true;
          p->status = st;
          early = true;
        }
      }
      if (!early) exec_pids_[xpid] = exec_id;
    }
  }
  wake();
  return static_cast<int32_t>(xpid);
}

// --- issue #4: stats, top, pause ---------------------------------------------

StatusOr<Supervisor::LiveTarget> Supervisor::liveTarget() {
  std::lock_guard<std::mutex> lk(mu_);
  if (phase_ != Phase::kRunning || init_pid_ == 0 || init_reaped_) {
    return FailedPrecondition("container " + opts_.id + " is not running");
  }
  return LiveTarget{cgroups_path_, init_pid_};
}

Status Supervisor::capture(std::vector<std::string> argv, std::string* out, std::string* err,
                           int* exit_code) {
  constexpr size_t kMaxCapture = 16 << 20;
  if (argv.empty()) return InvalidArgument("empty command");
  std::string path = findInPath(argv[0]);
  if (path.empty()) return FailedPrecondition("exec: \"" + argv[0] + "\": executable file not found in $PATH");
  argv[0] = path;
  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) != 0) return Internal(errnoText("pipe"));
  if (pipe2(pe, O_CLOEXEC) != 0) {
    close(po[0]);
    close(po[1]);
    return Internal(errnoText("pipe"));
  }
  pid_t pid = spawn(argv, devnull_fd_, po[1], pe[1]);
  close(po[1]);
  close(pe[1]);
  if (pid < 0) {
    close(po[0]);
    close(pe[0]);
    return Internal("fork: " + std::string(strerror(-pid)));
  }
  pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  std::string* sinks[2] = {out, err};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (sinks[i]->size() < kMaxCapture) sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  *exit_code = exitCodeOf(waitChild(pid));
  return Status::Ok();
}

Status Supervisor::pause() {
  ARCA_RETURN_IF_ERROR(liveTarget().status());
  int status = runRuntime({"pause", opts_.id});
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Internal(lastRuntimeError(status));
}

Status Supervisor::resume() {
  ARCA_RETURN_IF_ERROR(liveTarget().status());
  int status = runRuntime({"resume", opts_.id});
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Internal(lastRuntimeError(status));
}

}  // namespace arca::agent
