#include "engine/commands.h"

#include <csignal>
#include <cstdlib>

#include "engine/lookup.h"

namespace arca::engine {
namespace {

struct SigName {
  const char* name;
  int num;
};
const SigName kSignals[] = {
    {"ABRT", SIGABRT},   {"ALRM", SIGALRM}, {"BUS", SIGBUS},     {"CHLD", SIGCHLD},
    {"CLD", SIGCHLD},    {"CONT", SIGCONT}, {"FPE", SIGFPE},     {"HUP", SIGHUP},
    {"ILL", SIGILL},     {"INT", SIGINT},   {"IO", SIGIO},       {"IOT", SIGIOT},
    {"KILL", SIGKILL},   {"PIPE", SIGPIPE}, {"POLL", SIGPOLL},   {"PROF", SIGPROF},
    {"PWR", SIGPWR},     {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV},   {"STKFLT", SIGSTKFLT},
    {"STOP", SIGSTOP},   {"SYS", SIGSYS},   {"TERM", SIGTERM},   {"TRAP", SIGTRAP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"USR1", SIGUSR1},   {"USR2", SIGUSR2}, {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH},
    {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
};

Status invalidName(const std::string& name) {
  return InvalidArgument("Invalid container name (" + name +
                         "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
}

Status nameInUse(const std::string& name, const std::string& owner) {
  return Conflict("Conflict. The container name \"/" + name +
                  "\" is already in use by container \"" + owner +
                  "\". You have to remove (or rename) that container to be able to reuse "
                  "that name.");
}

Status removeWhileRunning(const std::string& name) {
  return Conflict("cannot remove container \"/" + name +
                  "\": container is running: stop the container before removing or force "
                  "remove");
}

}  // namespace

int parseSignal(const std::string& in) {
  if (in.empty()) return 0;
  if (in.find_first_not_of("0123456789") == std::string::npos) {
    long n = std::strtol(in.c_str(), nullptr, 10);
    return (n > 0 && n <= 64) ? static_cast<int>(n) : 0;
  }
  std::string s;
  for (char c : in) s += static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  for (const auto& e : kSignals) {
    if (s == e.name) return e.num;
  }
  if (s.rfind("RTMIN", 0) == 0 || s.rfind("RTMAX", 0) == 0) {
    int base = s[2] == 'M' && s[3] == 'I' ? SIGRTMIN : SIGRTMAX;
    std::string rest = s.substr(5);
    if (rest.empty()) return base;
    long off = std::strtol(rest.c_str(), nullptr, 10);
    int sig = base + static_cast<int>(off);
    return sig > 0 && sig <= 64 ? sig : 0;
  }
  return 0;
}

std::string signalName(int sig) {
  for (const auto& e : kSignals) {
    if (e.num == sig && std::string(e.name) != "CLD" && std::string(e.name) != "IOT" &&
        std::string(e.name) != "POLL") {
      return std::string("SIG") + e.name;
    }
  }
  return std::to_string(sig);
}

bool validContainerName(const std::string& name) {
  if (name.size() < 2) return false;
  auto alnum = [](char c) { return isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(name[0])) return false;
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

Status decideCreate(const v1::State& s, const CreateContainer& cmd, IdSource& ids,
                    std::vector<v1::Event>* out, std::string* id_out) {
  auto img = findImage(s, cmd.config.image());
  if (!img.ok()) return img.status();
  const v1::Image& image = **img;

  std::string name = cmd.name;
  if (!name.empty() && name[0] == '/') name = name.substr(1);
  if (!name.empty()) {
    if (!validContainerName(name)) {
      return invalidName(name);
    }
    auto n = s.names().find(name);
    if (n != s.names().end()) {
      return nameInUse(name, n->second);
    }
  } else {
    name = ids.newName([&](const std::string& n) { return s.names().count(n) > 0; });
  }

  std::string id;
  do {
    id = ids.newId();
  } while (s.containers().count(id) > 0);

  // The caller merged the image's defaults into cmd.config (api/ parses the
  // image config JSON); make sure the name still points at that image.
  if (!cmd.expected_image_id.empty() && cmd.expected_image_id != image.record().id()) {
    return Conflict("image " + cmd.config.image() + " changed while the container was created");
  }
  const v1::ContainerConfig& cfg = cmd.config;
  v1::ContainerCreated ev;
  ev.set_id(id);
  ev.set_name(name);
  ev.set_image_id(image.record().id());
  ev.set_platform(cmd.platform);
  *ev.mutable_host_config() = cmd.host_config;
  *ev.mutable_config() = cfg;

  std::vector<std::string> argv;
  for (const auto& a : cfg.entrypoint()) argv.push_back(a);
  for (const auto& a : cfg.cmd()) argv.push_back(a);
  if (argv.empty()) return InvalidArgument("no command specified");
  ev.set_path(argv[0]);
  for (size_t i = 1; i < argv.size(); ++i) ev.add_args(argv[i]);

  v1::Event e;
  *e.mutable_container_created() = std::move(ev);
  out->push_back(std::move(e));
  *id_out = id;
  return Status::Ok();
}

Status decideStart(const v1::State& s, const std::string& ref, bool restart,
                   std::vector<v1::Event>* out, std::string* id) {
  auto c = findContainer(s, ref);
  if (!c.ok()) return c.status();
  *id = (*c)->id();
  // issue #4: dockerd refuses before its "already started" check.
  if ((*c)->paused()) return Conflict("cannot start a paused container, try unpause instead");
  if ((*c)->status() == "running") return NotModified("container already started");
  if ((*c)->start_pending()) return Conflict("container " + ref + " is already starting");
  if ((*c)->status() == "removing") {
    return Conflict("cannot start container " + ref + ": removal in progress");
  }
  v1::Event e;
  e.mutable_container_start_requested()->set_id(*id);
  e.mutable_container_start_requested()->set_restart(restart);
  out->push_back(std::move(e));
  return Status::Ok();
}

Status decideStop(const v1::State& s, const std::string& ref, const std::string& signal,
                  int timeout, bool restart, std::vector<v1::Event>* out, std::string* id) {
  auto c = findContainer(s, ref);
  if (!c.ok()) return c.status();
  *id = (*c)->id();
  std::string sig = signal;
  if (sig.empty()) sig = (*c)->config().stop_signal();
  if (sig.empty()) sig = "SIGTERM";
  int num = parseSignal(sig);
  if (num == 0) return InvalidArgument("Invalid signal: " + sig);
  if ((*c)->status() != "running") return NotModified("container already stopped");
  if (timeout < -1) {
    timeout = (*c)->config().has_stop_timeout() ? (*c)->config().stop_timeout() : 10;
  }
  v1::Event e;
  auto* ev = e.mutable_container_stop_requested();
  ev->set_id(*id);
  ev->set_signal(signalName(num));
  ev->set_timeout_s(timeout);
  ev->set_restart(restart);
  out->push_back(std::move(e));
  return Status::Ok();
}

Status decideKill(const v1::State& s, const std::string& ref, const std::string& signal,
                  std::vector<v1::Event>* out, std::string* id) {
  auto c = findContainer(s, ref);
  if (!c.ok()) return c.status();
  *id = (*c)->id();
  int num = signal.empty() ? SIGKILL : parseSignal(signal);
  if (num == 0) return InvalidArgument("Invalid signal: " + signal);
  if ((*c)->status() != "running") {
    return Conflict("Cannot kill container: " + ref + ": container " + *id + " is not running");
  }
  v1::Event e;
  e.mutable_container_kill_requested()->set_id(*id);
  e.mutable_container_kill_requested()->set_signal(num);
  out->push_back(std::move(e));
  return Status::Ok();
}

Status checkRemove(const v1::State& s, const std::string& ref, bool force, std::string* id,
                   bool* running) {
  auto c = findContainer(s, ref);
  if (!c.ok()) return c.status();
  *id = (*c)->id();
  *running = (*c)->status() == "running" || (*c)->start_pending();
  if (*running && !force) {
    if ((*c)->paused()) {  // issue #4: dockerd's wording for a paused container
      return Conflict("cannot remove container \"/" + (*c)->name() +
                      "\": container is paused and must be unpaused first");
    }
    return removeWhileRunning((*c)->name());
  }
  return Status::Ok();
}

Status decideRemove(const v1::State& s, const std::string& ref, std::vector<v1::Event>* out,
                    std::string* id) {
  auto c = findContainer(s, ref);
  if (!c.ok()) return c.status();
  *id = (*c)->id();
  if ((*c)->status() == "removing") {
    return Conflict("removal of container " + ref + " is already in progress");
  }
  if ((*c)->status() == "running" || (*c)->start_pending()) {
    return removeWhileRunning((*c)->name());
  }
  v1::Event e;
  e.mutable_container_removal_started()->set_id(*id);
  out->push_back(std::move(e));
  return Status::Ok();
}

Status decideRename(const v1::State& s, const std::string& ref, const std::string& new_name,
                    std::vector<v1::Event>* out) {
  auto c = findContainer(s, ref);
  if (!c.ok()) return c.status();
  std::string name = new_name[0] == '/' ? new_name.substr(1) : new_name;
  if (!validContainerName(name)) {
    return invalidName(name);
  }
  if ((*c)->name() == name) return InvalidArgument("Renaming a container with the same name as its current name");
  auto n = s.names().find(name);
  if (n != s.names().end()) {
    return nameInUse(name, n->second);
  }
  v1::Event e;
  auto* ev = e.mutable_container_renamed();
  ev->set_id((*c)->id());
  ev->set_old_name((*c)->name());
  ev->set_new_name(name);
  out->push_back(std::move(e));
  return Status::Ok();
}

}  // namespace arca::engine
