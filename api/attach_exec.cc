// Interactive I/O: POST /containers/{id}/attach and /resize, and docker exec
// (POST /containers/{id}/exec, /exec/{id}/start, /exec/{id}/resize,
// GET /exec/{id}/json).
//
// A hijacked connection is bridged to an IoStream of the sandbox driver (the
// agent's Attach stream): this handler thread reads the process's output and
// writes it raw (TTY) or multiplexed; a second thread reads the client's
// stdin, watches for the detach keys and forwards the rest. Exec state (create,
// start, exit) is recorded as events so that /exec/{id}/json and /events
// read it from State.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/container_util.h"
#include "api/json.h"
#include "api/logs.h"
#include "engine/lookup.h"
#include "runtime/namespace/oci_config.h"
#include "runtime/sandbox_driver.h"

namespace arca::api {
namespace {

using runtime::IoEvent;
using runtime::IoStream;

// moby's term.ToBytes: "ctrl-p,ctrl-q" -> "\x10\x11"; single characters as is.
StatusOr<std::string> parseDetachKeys(const std::string& spec) {
  if (spec.empty()) return std::string("\x10\x11", 2);
  std::string out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    std::string key = spec.substr(start, end - start);
    start = end + 1;
    for (auto& ch : key) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    if (key.size() == 1) {
      out += key;
    } else if (key.size() == 6 && key.compare(0, 5, "ctrl-") == 0) {
      char c = key[5];
      if (c >= 'a' && c <= 'z') {
        out += static_cast<char>(c - 'a' + 1);
      } else if (c == '@') {
        out += '\0';
      } else if (c >= '[' && c <= '_') {
        out += static_cast<char>(c - '[' + 27);
      } else {
        return InvalidArgument("Invalid detach keys (" + spec + ") provided");
      }
    } else {
      return InvalidArgument("Invalid detach keys (" + spec + ") provided");
    }
  }
  return out;
}

// Passes stdin through, holding back a possible start of the detach
// sequence; reports when the whole sequence was typed.
class DetachScanner {
 public:
  explicit DetachScanner(std::string keys) : keys_(std::move(keys)) {}
  // Appends the bytes to forward to *out; true when the keys were typed
  // (the bytes after them are dropped, as Docker does).
  bool feed(const char* data, size_t n, std::string* out) {
    for (size_t i = 0; i < n; ++i) {
      char c = data[i];
      if (keys_.empty()) {
        out->push_back(c);
        continue;
      }
      if (c == keys_[held_]) {
        if (++held_ == keys_.size()) return true;
        continue;
      }
      out->append(keys_, 0, held_);
      held_ = 0;
      if (c == keys_[0]) {
        held_ = 1;
        if (keys_.size() == 1) return true;
      } else {
        out->push_back(c);
      }
    }
    return false;
  }

 private:
  std::string keys_;
  size_t held_ = 0;
};

struct BridgeResult {
  bool exited = false;  // the process ended (exit_code valid)
  int32_t exit_code = 0;
  int32_t pid = 0;      // an exec's pid, when the agent reported it
  bool client_gone = false;
  Status status;        // why the stream ended without an exit
};

struct BridgeOptions {
  bool tty = false;
  bool stdin = false;
  // Client's stdin EOF closes the process's stdin (StdinOnce without a TTY,
  // and every exec without one); otherwise it detaches the client.
  bool close_stdin_on_eof = false;
  std::string detach_keys;
  std::function<void(int32_t pid)> on_pid;
  // Runs after the stream ended, before the connection closes: exit codes
  // recorded there are visible to the client's next request.
  std::function<void(const BridgeResult&)> on_end;
};

void bridge(IoStream& io, ResponseWriter& w, const BridgeOptions& o) {
  std::atomic<bool> ending{false};
  std::thread in;
  if (o.stdin) {
    in = std::thread([&] {
      // Detach keys apply to a terminal only: piped data passes untouched.
      DetachScanner scan(o.tty ? o.detach_keys : std::string());
      std::vector<char> buf(32 * 1024);
      for (;;) {
        long n = w.readRaw(buf.data(), buf.size());
        if (ending) return;
        if (n <= 0) {
          if (n == 0 && o.close_stdin_on_eof) {
            io.closeStdin();  // output goes on until the process ends
          } else {
            io.detach();
          }
          return;
        }
        std::string out;
        bool detach = scan.feed(buf.data(), static_cast<size_t>(n), &out);
        if (!out.empty() && !io.writeStdin(out)) return;
        if (detach) {
          io.detach();
          return;
        }
      }
    });
  }
  BridgeResult r;
  IoEvent ev;
  while (io.read(&ev)) {
    if (ev.kind == IoEvent::Kind::kOutput) {
      if (!w.write(o.tty ? ev.data : muxFrame(ev.stream, ev.data))) {
        r.client_gone = true;
        io.cancel();
        break;
      }
    } else if (ev.kind == IoEvent::Kind::kExit) {
      r.exited = true;
      r.exit_code = ev.exit_code;
    } else if (ev.pid > 0) {
      r.pid = ev.pid;
      if (o.on_pid) o.on_pid(ev.pid);
    }
  }
  ending = true;
  r.status = io.finish();
  if (o.on_end) o.on_end(r);
  w.close();  // unblocks the stdin thread's readRaw
  if (in.joinable()) in.join();
}

// --- attach ---------------------------------------------------------------

// An attach waiting for the container's next start.
struct PendingAttach {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  StatusOr<std::unique_ptr<IoStream>> io = Unavailable("not attached");
};

void attachContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string id;
  if (!resolveContainerId(ctx, req, w, &id)) return;
  bool tty = false, open_stdin = false, stdin_once = false, running = false;
  std::string status;
  ctx.engine->read([&](const v1::State& s) {
    const auto& c = s.containers().at(id);
    tty = c.config().tty();
    open_stdin = c.config().open_stdin();
    stdin_once = c.config().stdin_once();
    status = c.status();
    running = status == "running" || status == "paused";
    return 0;
  });
  auto keys = parseDetachKeys(req.queryParam("detachKeys").value_or(""));
  if (!keys.ok()) return sendError(w, keys.status());
  bool use_stdin = req.queryBool("stdin") && open_stdin;
  runtime::AttachOptions opts;
  opts.stdin = use_stdin;
  opts.stdout = req.queryBool("stdout");
  opts.stderr = req.queryBool("stderr");
  bool stream = req.queryBool("stream"), logs = req.queryBool("logs");

  w.hijack(tty ? "application/vnd.docker.raw-stream" : attachContentType(req));
  if (logs) {
    int fd = openContainerLog(ctx, id);
    if (fd >= 0) {
      LogReader reader(ctx.executor->logPath(id), fd);  // owns fd
      LogBatcher batch(w, false, tty);
      std::vector<LogEntry> entries;
      bool ok = true;
      while (ok && reader.poll(&entries) && !entries.empty()) {
        for (const auto& e : entries) {
          if ((e.stream == 1 && !opts.stdout) || (e.stream == 2 && !opts.stderr)) continue;
          if (!(ok = batch.add(e))) break;
        }
        entries.clear();
      }
      if (ok) batch.flush();
    }
  }
  if (!stream || w.clientGone()) return w.close();

  runtime::SandboxDriver* driver = ctx.driver;
  std::unique_ptr<IoStream> io;
  if (running) {
    auto r = driver->attach(id, opts);
    if (r.ok()) io = std::move(*r);
  }
  if (!io) {
    // Not running (yet): attach at its next start, before its process runs
    // (docker run -it, docker start -a). Ends when the client goes away or
    // the container is removed.
    auto pending = std::make_shared<PendingAttach>();
    uint64_t token = ctx.executor->onNextStart(id, [pending, driver, id, opts] {
      auto r = driver->attach(id, opts);
      std::lock_guard<std::mutex> lk(pending->mu);
      pending->io = std::move(r);
      pending->done = true;
      pending->cv.notify_all();
    });
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(pending->mu);
        if (pending->cv.wait_for(lk, std::chrono::milliseconds(200), [&] { return pending->done; })) {
          break;
        }
      }
      bool gone = ctx.engine->read([&](const v1::State& s) { return !s.containers().count(id); });
      if (gone || w.clientGone()) {
        ctx.executor->cancelOnNextStart(id, token);
        break;
      }
    }
    std::lock_guard<std::mutex> lk(pending->mu);
    if (pending->done && pending->io.ok()) io = std::move(*pending->io);
  }
  if (!io) return w.close();
  BridgeOptions b;
  b.tty = tty;
  b.stdin = use_stdin;
  b.close_stdin_on_eof = stdin_once && !tty;
  b.detach_keys = *keys;
  bridge(*io, w, b);
}

Status parseSize(Request& req, uint32_t* h, uint32_t* wd) {
  auto parse = [](const std::optional<std::string>& v, uint32_t* out) {
    if (!v || v->empty()) {
      *out = 0;
      return true;
    }
    char* end = nullptr;
    unsigned long x = strtoul(v->c_str(), &end, 10);
    if (*end != '\0' || (*v)[0] == '-' || x > 65535) return false;
    *out = static_cast<uint32_t>(x);
    return true;
  };
  if (!parse(req.queryParam("h"), h) || !parse(req.queryParam("w"), wd)) {
    return InvalidArgument("invalid resize parameters: h and w must be integers");
  }
  return Status::Ok();
}

void resizeContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string id;
  if (!resolveContainerId(ctx, req, w, &id)) return;
  uint32_t h = 0, wd = 0;
  if (Status st = parseSize(req, &h, &wd); !st.ok()) return sendError(w, st);
  bool running = ctx.engine->read([&](const v1::State& s) {
    const auto& st = s.containers().at(id).status();
    return st == "running" || st == "paused";
  });
  if (!running) return sendError(w, Conflict("Container " + id + " is not running"));
  Status st = ctx.driver->resize(id, "", wd, h);
  // dockerd answers 200 for a container without a terminal (nothing to size).
  if (!st.ok() && st.code() != Code::kFailedPrecondition) return sendError(w, st);
  w.send(200, "", "");
}

// --- exec -----------------------------------------------------------------

// Docker's ReplaceOrAppendEnvValues: `over` replaces keys of `base` or is appended.
std::vector<std::string> replaceOrAppend(std::vector<std::string> base,
                                         const std::vector<std::string>& over) {
  for (const auto& e : over) {
    std::string k = e.substr(0, e.find('='));
    bool replaced = false;
    for (auto& b : base) {
      if (b.substr(0, b.find('=')) == k) {
        b = e;
        replaced = true;
      }
    }
    if (!replaced) base.push_back(e);
  }
  return base;
}

void createExec(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string id;
  if (!resolveContainerId(ctx, req, w, &id)) return;
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  rapidjson::Document d;
  d.Parse(body->c_str(), body->size());
  if (d.HasParseError() || !d.IsObject()) return sendError(w, InvalidArgument("invalid JSON body for exec create"));
  v1::ExecCreated ev;
  bool te = false;
  ev.set_container_id(id);
  if (auto v = getBool(d, "AttachStdin", &te)) ev.set_attach_stdin(*v);
  if (auto v = getBool(d, "AttachStdout", &te)) ev.set_attach_stdout(*v);
  if (auto v = getBool(d, "AttachStderr", &te)) ev.set_attach_stderr(*v);
  if (auto v = getBool(d, "Tty", &te)) ev.set_tty(*v);
  if (auto v = getBool(d, "Privileged", &te)) ev.set_privileged(*v);
  if (auto v = getString(d, "User", &te)) ev.set_user(*v);
  if (auto v = getString(d, "WorkingDir", &te)) ev.set_working_dir(*v);
  if (auto v = getString(d, "DetachKeys", &te)) ev.set_detach_keys(*v);
  if (auto v = getStrings(d, "Env", &te)) {
    for (auto& e : *v) ev.add_env(e);
  }
  if (auto v = getStrings(d, "Cmd", &te)) {
    for (auto& e : *v) ev.add_cmd(e);
  }
  auto cs = d.FindMember("ConsoleSize");
  if (cs != d.MemberEnd() && cs->value.IsArray() && cs->value.Size() == 2) {
    for (const auto& x : cs->value.GetArray()) {
      if (!x.IsUint()) return sendError(w, InvalidArgument("invalid ConsoleSize"));
      ev.add_console_size(x.GetUint());
    }
  }
  if (te) return sendError(w, InvalidArgument("invalid type in exec config"));
  if (ev.cmd_size() == 0) return sendError(w, InvalidArgument("No exec command specified"));
  if (!ev.working_dir().empty() && ev.working_dir()[0] != '/') {
    return sendError(w, InvalidArgument("the working directory '" + ev.working_dir() +
                                        "' is invalid, it needs to be an absolute path"));
  }
  if (auto k = parseDetachKeys(ev.detach_keys()); !k.ok()) return sendError(w, k.status());
  std::string exec_id = ctx.engine->ids()->newId();
  ev.set_exec_id(exec_id);
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) -> Status {
    auto it = s.containers().find(id);
    if (it == s.containers().end()) return NotFound("No such container: " + id);
    const auto& st = it->second.status();
    if (st == "paused") {
      return Conflict("Container " + id + " is paused, unpause the container before exec");
    }
    if (st == "restarting") {
      return Conflict("Container " + id + " is restarting, wait until the container is running");
    }
    if (st != "running") return Conflict("Container " + id + " is not running");
    v1::Event e;
    *e.mutable_exec_created() = ev;
    out->push_back(std::move(e));
    return Status::Ok();
  });
  if (!r.ok()) return sendError(w, r.status());
  sendJson(w, 201, "{\"Id\":\"" + exec_id + "\"}\n");
}

struct ExecPlan {
  v1::ExecCreated config;
  runtime::ExecProcess process;
};

void recordExecExit(ApiContext& ctx, const std::string& exec_id, const std::string& cid,
                    int32_t code, const std::string& error) {
  v1::Event e;
  auto* x = e.mutable_exec_exited();
  x->set_exec_id(exec_id);
  x->set_container_id(cid);
  x->set_exit_code(code);
  x->set_error(error);
  ctx.engine->record({e});
}

void recordExecStart(ApiContext& ctx, const std::string& exec_id, const std::string& cid,
                     int32_t pid) {
  v1::Event e;
  auto* x = e.mutable_exec_started();
  x->set_exec_id(exec_id);
  x->set_container_id(cid);
  x->set_pid(pid);
  ctx.engine->record({e});
}

// Waits for a detached (or abandoned) exec and records its exit.
void watchExec(ApiContext& ctx, const std::string& exec_id, const std::string& cid) {
  std::thread([&ctx, exec_id, cid] {
    auto r = ctx.driver->execWait(cid, exec_id);
    bool still = ctx.engine->read([&](const v1::State& s) {
      auto it = s.execs().find(exec_id);
      return it != s.execs().end() && !it->second.has_exit_code();
    });
    if (!still) return;
    if (r.ok()) {
      recordExecExit(ctx, exec_id, cid, *r, "");
    } else {
      spdlog::info("exec {}: wait failed: {}", exec_id.substr(0, 12), r.status().message());
    }
  }).detach();
}

void startExec(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string exec_id = req.params["id"];
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  bool detach = false, tty_override = false, has_tty = false;
  std::vector<uint32_t> console;
  if (!body->empty()) {
    rapidjson::Document d;
    d.Parse(body->c_str(), body->size());
    if (d.HasParseError() || !d.IsObject()) return sendError(w, InvalidArgument("invalid JSON body for exec start"));
    bool te = false;
    detach = getBool(d, "Detach", &te).value_or(false);
    if (auto v = getBool(d, "Tty", &te)) {
      has_tty = true;
      tty_override = *v;
    }
    auto cs = d.FindMember("ConsoleSize");
    if (cs != d.MemberEnd() && cs->value.IsArray() && cs->value.Size() == 2) {
      for (const auto& x : cs->value.GetArray()) {
        if (x.IsUint()) console.push_back(x.GetUint());
      }
    }
    if (te) return sendError(w, InvalidArgument("invalid type in exec start config"));
  }
  ExecPlan plan;
  std::string cid;
  // Accept the start (an exec runs once) and build its process from State.
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) -> Status {
    auto it = s.execs().find(exec_id);
    if (it == s.execs().end()) return NotFound("No such exec instance: " + exec_id);
    const auto& x = it->second;
    if (x.has_exit_code()) return Conflict("Error: Exec command " + exec_id + " has already run");
    if (x.started()) return Conflict("Error: Exec command " + exec_id + " is already running");
    cid = x.config().container_id();
    auto c = s.containers().find(cid);
    if (c == s.containers().end() || c->second.status() != "running") {
      return Conflict("Container " + cid + " is not running");
    }
    plan.config = x.config();
    const auto& cc = c->second.config();
    auto& p = plan.process;
    p.args.assign(x.config().cmd().begin(), x.config().cmd().end());
    p.tty = has_tty ? tty_override : x.config().tty();
    std::string hostname = cc.hostname().empty() ? cid.substr(0, 12) : cc.hostname();
    p.env = runtime::dockerEnvironment(
        replaceOrAppend({cc.env().begin(), cc.env().end()},
                        {x.config().env().begin(), x.config().env().end()}),
        hostname, p.tty);
    p.cwd = x.config().working_dir().empty() ? cc.working_dir() : x.config().working_dir();
    p.user = x.config().user().empty() ? cc.user() : x.config().user();
    p.open_stdin = x.config().attach_stdin();
    p.privileged = x.config().privileged();
    const auto& size = console.size() == 2 ? console
                                            : std::vector<uint32_t>(x.config().console_size().begin(),
                                                                    x.config().console_size().end());
    if (size.size() == 2) {
      p.height = size[0];
      p.width = size[1];
    }
    // Marks it started; the pid follows once the process runs.
    v1::Event e;
    auto* st = e.mutable_exec_started();
    st->set_exec_id(exec_id);
    st->set_container_id(cid);
    out->push_back(std::move(e));
    return Status::Ok();
  });
  if (!r.ok()) return sendError(w, r.status());
  runtime::SandboxDriver* driver = ctx.driver;

  auto failText = [](const Status& st) {
    std::string m = st.message();
    if (m.find("OCI runtime exec failed") != std::string::npos) m += ": unknown";
    return m;
  };
  if (detach) {
    auto pid = driver->exec(cid, exec_id, plan.process);
    if (!pid.ok()) {
      recordExecExit(ctx, exec_id, cid, runtime::startFailureExitCode(pid.status().message()),
                     pid.status().message());
      return sendError(w, Internal(failText(pid.status())));
    }
    recordExecStart(ctx, exec_id, cid, *pid);
    watchExec(ctx, exec_id, cid);
    w.send(200, "", "");
    return;
  }
  runtime::AttachOptions o;
  o.exec_id = exec_id;
  o.stdin = plan.config.attach_stdin();
  o.stdout = plan.config.attach_stdout();
  o.stderr = plan.config.attach_stderr();
  o.start_exec = true;
  o.exec = plan.process;
  auto io = driver->attach(cid, o);
  if (!io.ok()) {
    recordExecExit(ctx, exec_id, cid, runtime::startFailureExitCode(io.status().message()),
                   io.status().message());
    return sendError(w, io.status());
  }
  bool tty = plan.process.tty;
  w.hijack(tty ? "application/vnd.docker.raw-stream" : attachContentType(req));
  BridgeOptions b;
  b.tty = tty;
  b.stdin = o.stdin;
  b.close_stdin_on_eof = !tty;
  b.detach_keys = *parseDetachKeys(plan.config.detach_keys());
  b.on_pid = [&](int32_t pid) { recordExecStart(ctx, exec_id, cid, pid); };
  b.on_end = [&](const BridgeResult& res) {
    if (res.exited) {
      recordExecExit(ctx, exec_id, cid, res.exit_code, "");
    } else if (!res.client_gone && !res.status.ok() && res.status.code() != Code::kCanceled) {
      // The exec never ran: Docker writes the error into the stream.
      std::string text = failText(res.status) + "\r\n";
      w.write(tty ? text : muxFrame(1, text));
      recordExecExit(ctx, exec_id, cid, runtime::startFailureExitCode(res.status.message()),
                     res.status.message());
    } else {
      watchExec(ctx, exec_id, cid);  // the client left; the exec goes on
    }
  };
  bridge(**io, w, b);
}

void resizeExec(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string exec_id = req.params["id"];
  uint32_t h = 0, wd = 0;
  if (Status st = parseSize(req, &h, &wd); !st.ok()) return sendError(w, st);
  std::string cid;
  bool running = false;
  bool found = ctx.engine->read([&](const v1::State& s) {
    auto it = s.execs().find(exec_id);
    if (it == s.execs().end()) return false;
    cid = it->second.config().container_id();
    running = it->second.running();
    return true;
  });
  if (!found) return sendError(w, NotFound("No such exec instance: " + exec_id));
  if (!running) return sendError(w, Conflict("Exec " + exec_id + " is not running"));
  Status st = ctx.driver->resize(cid, exec_id, wd, h);
  if (st.code() == Code::kFailedPrecondition) {
    st = InvalidArgument("cannot resize: exec " + exec_id + " has no terminal (started without -t)");
  }
  if (!st.ok()) return sendError(w, st);
  w.send(200, "", "");
}

void inspectExec(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string exec_id = req.params["id"];
  std::string json;
  bool found = ctx.engine->read([&](const v1::State& s) {
    auto it = s.execs().find(exec_id);
    if (it == s.execs().end()) return false;
    const auto& x = it->second;
    const auto& c = x.config();
    rapidjson::StringBuffer sb;
    JsonWriter j(sb);
    j.StartObject();
    jstr(j, "ID", exec_id);
    j.Key("Running");
    j.Bool(x.running());
    j.Key("ExitCode");
    if (x.has_exit_code()) {
      j.Int(x.exit_code());
    } else {
      j.Null();
    }
    j.Key("ProcessConfig");
    j.StartObject();
    j.Key("tty");
    j.Bool(c.tty());
    jstr(j, "entrypoint", c.cmd_size() > 0 ? c.cmd(0) : "");
    j.Key("arguments");
    j.StartArray();
    for (int i = 1; i < c.cmd_size(); ++i) j.String(c.cmd(i).c_str());
    j.EndArray();
    j.Key("privileged");
    j.Bool(c.privileged());
    if (!c.user().empty()) jstr(j, "user", c.user());
    j.EndObject();
    j.Key("OpenStdin");
    j.Bool(c.attach_stdin());
    j.Key("OpenStderr");
    j.Bool(c.attach_stderr());
    j.Key("OpenStdout");
    j.Bool(c.attach_stdout());
    j.Key("CanRemove");
    j.Bool(false);
    jstr(j, "ContainerID", c.container_id());
    jstr(j, "DetachKeys", c.detach_keys());
    j.Key("Pid");
    j.Int(x.pid());
    j.EndObject();
    json.assign(sb.GetString(), sb.GetSize());
    return true;
  });
  if (!found) return sendError(w, NotFound("No such exec instance: " + exec_id));
  sendJson(w, 200, json + "\n");
}

}  // namespace

void registerAttachExecRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& q, ResponseWriter& w) { fn(ctx, q, w); };
  };
  r.add("POST", "/containers/{id}/attach", bind(attachContainer));
  r.add("POST", "/containers/{id}/resize", bind(resizeContainer));
  r.add("POST", "/containers/{id}/exec", bind(createExec));
  r.add("POST", "/exec/{id}/start", bind(startExec));
  r.add("POST", "/exec/{id}/resize", bind(resizeExec));
  r.add("GET", "/exec/{id}/json", bind(inspectExec));
}

}  // namespace arca::api
