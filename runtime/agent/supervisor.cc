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
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "runtime/agent/json_log.h"
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
  log_fd_ = open(opts_.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log_fd_ < 0) return Internal(errnoText("open log " + opts_.log_path));
  return Status::Ok();
}

Supervisor::~Supervisor() {
  for (int fd : {sig_fd_, wake_fd_, log_fd_, devnull_fd_, pending_fds_[0], pending_fds_[1]}) {
    if (fd >= 0) close(fd);
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
  pid_t pid = spawn(runtimeArgs(args), devnull_fd_, devnull_fd_, STDERR_FILENO);
  if (pid < 0) return W_EXITCODE(127, 0);
  return waitChild(pid);
}

// The runtime's last error from its JSON log ({"level":"error","msg":...}).
std::string Supervisor::lastRuntimeError(int status) const {
  std::string last;
  if (auto log = readFile(runtime_log_path_)) {
    std::istringstream lines(*log);
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
  {
    std::lock_guard<std::mutex> lk(mu_);
    failStartLocked(message);
  }
  notifyWaiters();
  return Internal(message);
}

StatusOr<int32_t> Supervisor::start() {
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

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return failStart(errnoText("pipe"));
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return failStart(errnoText("pipe"));
  }
  // For a container without a terminal the runtime hands its own stdio to the
  // container's process: the pipes become the container's stdout/stderr.
  pid_t pid = spawn(
      runtimeArgs({"create", "--bundle", opts_.bundle, "--pid-file", pid_file_path_, opts_.id}),
      devnull_fd_, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  int status = pid < 0 ? W_EXITCODE(127, 0) : waitChild(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // Whatever is in the pipes is the runtime's own complaint, not container output.
    close(out[0]);
    close(err[0]);
    std::string msg = lastRuntimeError(status);
    std::string prefix = opts_.runtime + " create failed";
    if (msg.compare(0, prefix.size(), prefix) != 0) msg = prefix + ": " + msg;
    runRuntime({"delete", "-f", opts_.id});
    return failStart("OCI runtime create failed: " + msg);
  }

  pid_t init = 0;
  if (auto text = readFile(pid_file_path_)) init = static_cast<pid_t>(atoi(text->c_str()));
  if (init <= 0) {
    close(out[0]);
    close(err[0]);
    runRuntime({"delete", "-f", opts_.id});
    return failStart("OCI runtime create failed: no pid file from " + opts_.runtime);
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  {
    std::lock_guard<std::mutex> lk(mu_);
    init_pid_ = init;
    for (const auto& [p, st] : orphans_) {
      if (p == init) onChildExitLocked(p, st);  // died before we knew its pid
    }
    pending_fds_[0] = out[0];
    pending_fds_[1] = err[0];
  }
  wake();

  status = runRuntime({"start", opts_.id});
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
  if (exit_recorded_ || !init_reaped_ || !relay_done_) return;
  exit_code_ = exitCodeOf(init_status_);
  oom_killed_ = readOomKilled();
  writeExitFile();
  exit_recorded_ = true;
  if (phase_ != Phase::kFailed) phase_ = Phase::kExited;
  cv_.notify_all();
}

void Supervisor::writeLog(const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(log_fd_, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Disk full or similar: drop this batch, keep relaying (the container
      // must not block on a full pipe), say so once.
      if (!log_error_reported_) {
        fprintf(stderr, "arca-agent: %s\n", errnoText("write " + opts_.log_path).c_str());
        log_error_reported_ = true;
      }
      return;
    }
    off += static_cast<size_t>(n);
  }
}

void Supervisor::run() {
  struct Stream {
    int fd = -1;
    LineSplitter splitter;
    int64_t flush_at_ms = 0;  // when a pending partial line is flushed; 0: none
  };
  Stream streams[2] = {{-1, LineSplitter("stdout"), 0}, {-1, LineSplitter("stderr"), 0}};
  bool relaying = false;
  int64_t drain_deadline_ms = 0;
  std::string out;
  std::vector<char> buf(kReadChunk);

  for (;;) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_loop_) break;
      if (pending_fds_[0] >= 0) {
        for (int i = 0; i < 2; ++i) {
          streams[i].fd = pending_fds_[i];
          pending_fds_[i] = -1;
        }
        relaying = true;
      }
    }
    pollfd fds[4];
    int nfds = 0;
    fds[nfds++] = {sig_fd_, POLLIN, 0};
    fds[nfds++] = {wake_fd_, POLLIN, 0};
    int stream_slot[2] = {-1, -1};
    for (int i = 0; i < 2; ++i) {
      if (streams[i].fd >= 0) {
        stream_slot[i] = nfds;
        fds[nfds++] = {streams[i].fd, POLLIN, 0};
      }
    }
    int64_t now = monotonicMs();
    int64_t next = 0;
    for (const auto& s : streams) {
      if (s.fd >= 0 && s.flush_at_ms != 0 && (next == 0 || s.flush_at_ms < next)) {
        next = s.flush_at_ms;
      }
    }
    if (drain_deadline_ms != 0 && (next == 0 || drain_deadline_ms < next)) {
      next = drain_deadline_ms;
    }
    int timeout = next == 0 ? -1 : static_cast<int>(std::max<int64_t>(0, next - now));
    int rc = poll(fds, static_cast<nfds_t>(nfds), timeout);
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
    for (int i = 0; i < 2; ++i) {
      Stream& s = streams[i];
      if (rc <= 0 || stream_slot[i] < 0 || fds[stream_slot[i]].revents == 0) continue;
      ssize_t n = read(s.fd, buf.data(), buf.size());
      if (n > 0) {
        s.splitter.feed(std::string_view(buf.data(), static_cast<size_t>(n)), now_ns, &out);
        if (!s.splitter.hasPending()) {
          s.flush_at_ms = 0;
        } else if (s.flush_at_ms == 0) {
          s.flush_at_ms = monotonicMs() + kPartialFlushMs;
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        s.splitter.flushPartial(now_ns, &out);
        close(s.fd);
        s.fd = -1;
        s.flush_at_ms = 0;
      }
    }
    now = monotonicMs();
    for (auto& s : streams) {
      if (s.fd >= 0 && s.flush_at_ms != 0 && now >= s.flush_at_ms) {
        s.splitter.flushPartial(now_ns, &out);
        s.flush_at_ms = 0;
      }
    }
    if (relaying) {
      bool reaped;
      {
        std::lock_guard<std::mutex> lk(mu_);
        reaped = init_reaped_;
      }
      if (reaped && drain_deadline_ms == 0) drain_deadline_ms = now + kDrainAfterExitMs;
      if (drain_deadline_ms != 0 && now >= drain_deadline_ms) {
        // Something outside the container still holds a write end: stop waiting.
        for (auto& s : streams) {
          if (s.fd < 0) continue;
          s.splitter.flushPartial(now_ns, &out);
          close(s.fd);
          s.fd = -1;
        }
      }
    }
    if (!out.empty()) {
      writeLog(out);
      out.clear();
    }
    if (relaying && streams[0].fd < 0 && streams[1].fd < 0) {
      relaying = false;
      drain_deadline_ms = 0;
      std::lock_guard<std::mutex> lk(mu_);
      relay_done_ = true;
      maybeRecordExitLocked();
    }
    notifyWaiters();
  }
  for (auto& s : streams) {
    if (s.fd >= 0) close(s.fd);
  }
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
