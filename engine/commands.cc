#include "engine/commands.h"
#include "engine/volume_commands.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "engine/lookup.h"
#include "engine/restart_policy.h"

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

namespace {

// Docker's (moby/sys/signal) Linux real-time names: RTMIN (34), RTMIN+1..+15,
// RTMAX-14..-1, RTMAX (64). 0 when `s` is none of them.
int realtimeSignal(const std::string& s) {
  constexpr int kRtMin = 34, kRtMax = 64;
  if (s == "RTMIN") return kRtMin;
  if (s == "RTMAX") return kRtMax;
  for (int i = 1; i <= 15; ++i) {
    if (s == "RTMIN+" + std::to_string(i)) return kRtMin + i;
  }
  for (int i = 1; i <= 14; ++i) {
    if (s == "RTMAX-" + std::to_string(i)) return kRtMax - i;
  }
  return 0;
}

// Go's strconv.Atoi syntax: an optional sign and decimal digits.
bool atoiSyntax(const std::string& s, long long* v) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i == s.size() || s.size() - i > 18) return false;
  if (s.find_first_not_of("0123456789", i) != std::string::npos) return false;
  *v = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

}  // namespace

Status parseKillSignal(const std::string& in, int* out) {
  long long n = 0;
  if (atoiSyntax(in, &n)) {
    if (n == 0) return InvalidArgument("invalid signal: " + in);
    // Linux knows 1-31 and the real-time signals 34-64 (32 and 33 belong to libc).
    if (n < 1 || n > 64 || n == 32 || n == 33) {
      return InvalidArgument("the linux daemon does not support signal " + std::to_string(n));
    }
    *out = static_cast<int>(n);
    return Status::Ok();
  }
  std::string s;
  for (char c : in) s += static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  for (const auto& e : kSignals) {
    if (s == e.name) {
      *out = e.num;
      return Status::Ok();
    }
  }
  if (int rt = realtimeSignal(s)) {
    *out = rt;
    return Status::Ok();
  }
  return InvalidArgument("invalid signal: " + in);
}

int parseSignal(const std::string& in) {
  int sig = 0;
  return parseKillSignal(in, &sig).ok() ? sig : 0;
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
  // issue #6: mounts resolved now; the volumes they need are created first.
  ev.mutable_host_config()->clear_mounts();
  ARCA_RETURN_IF_ERROR(planContainerMounts(s, cmd.host_config.mounts(),
                                           cmd.host_config.volumes_from(), cfg.volumes(), ids, out,
                                           ev.mutable_host_config()->mutable_mounts()));

  std::vector<std::string> argv;
  for (const auto& a : cfg.entrypoint()) argv.push_back(a);
  for (const auto& a : cfg.cmd()) argv.push_back(a);
  if (argv.empty()) return InvalidArgument("no command specified");
  ev.set_path(argv[0]);
  for (size_t i = 1; i < argv.size(); ++i) ev.add_args(argv[i]);

  v1::Event e;
  *e.mutable_container_created() = std::move(ev);
  out->push_back(std::move(e));

  // issue #5: the container joins its networks now; the addresses are decided
  // here and recorded with the connects.
  const std::string& mode = cmd.host_config.network_mode();
  if (mode.rfind("container:", 0) == 0) {
    auto other = findContainer(s, mode.substr(10));
    if (!other.ok()) return other.status();
    // Stored by id, as dockerd does: a rename of the other container is fine.
    out->back().mutable_container_created()->mutable_host_config()->set_network_mode(
        "container:" + (*other)->id());
  }
  std::vector<std::string> seen;
  for (const auto& [ref, req] : cmd.networks) {
    auto n = findNetwork(s, ref);
    if (!n.ok()) continue;  // dockerd accepts it here and fails the start (404)
    if (std::find(seen.begin(), seen.end(), (*n)->id()) != seen.end()) continue;
    seen.push_back((*n)->id());
    auto ep = planEndpoint(s, **n, req, ids);
    if (!ep.ok()) return ep.status();
    v1::Event c;
    c.mutable_network_connected()->set_container_id(id);
    *c.mutable_network_connected()->mutable_endpoint() = std::move(*ep);
    out->push_back(std::move(c));
  }
  *id_out = id;
  return Status::Ok();
}

Status decideStart(const v1::State& s, const std::string& ref, bool restart,
                   std::vector<v1::Event>* out, std::string* id, IdSource* ids) {
  auto c = findContainer(s, ref);
  if (!c.ok()) return c.status();
  *id = (*c)->id();
  // dockerd refuses before its "already started" check.
  if ((*c)->paused()) return Conflict("cannot start a paused container, try unpause instead");
  if ((*c)->status() == "running" || (*c)->status() == "restarting") {
    return NotModified("container already started");
  }
  if ((*c)->start_pending()) return Conflict("container " + ref + " is already starting");
  if ((*c)->status() == "removing") {
    return Conflict("cannot start container " + ref + ": removal in progress");
  }
  // issue #5: the primary network must exist now (dockerd checks at start); a
  // container created before its network joins it here.
  std::string primary = primaryNetworkName((*c)->host_config());
  if (!primary.empty()) {
    auto n = findNetwork(s, primary);
    if (!n.ok()) return n.status();
    if ((*c)->endpoints().count((*n)->id()) == 0) {
      class Derived : public IdSource {  // restarts have no id source: derive one
       public:
        explicit Derived(std::string id) : id_(std::move(id)) {}
        std::string newId() override { return id_; }
        std::string newName(const std::function<bool(const std::string&)>&) override { return id_; }
        std::string id_;
      } derived((*c)->id());
      auto ep = planEndpoint(s, **n, {}, ids ? *ids : derived);
      if (!ep.ok()) return ep.status();
      v1::Event j;
      j.mutable_network_connected()->set_container_id(*id);
      *j.mutable_network_connected()->mutable_endpoint() = std::move(*ep);
      out->push_back(std::move(j));
    }
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
  // A restarting container's pending restart is abandoned (the reducer makes it "exited").
  bool restarting = (*c)->status() == "restarting";
  if ((*c)->status() != "running" && !restarting) return NotModified("container already stopped");
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
  int num = SIGKILL;
  if (!signal.empty()) {
    Status st = parseKillSignal(signal, &num);
    if (!st.ok()) return InvalidArgument("cannot kill container: " + ref + ": " + st.message());
  }
  // Docker counts a kill as a manual stop; SIGKILL or the stop signal also
  // cancels the restart policy (a restarting container then stays exited).
  v1::Event mark;
  mark.mutable_container_stop_marked()->set_id(*id);
  mark.mutable_container_stop_marked()->set_cancel_restart(killCancelsRestart(**c, num));
  if ((*c)->status() == "restarting") {
    out->push_back(std::move(mark));
    return Status::Ok();  // nothing runs: no kill request
  }
  if ((*c)->status() != "running") {
    return Conflict("cannot kill container: " + ref + ": container " + *id + " is not running");
  }
  out->push_back(std::move(mark));
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
  if ((*c)->status() == "restarting" && !force) {
    return Conflict("cannot remove container \"/" + (*c)->name() +
                    "\": container is restarting: stop the container before removing or force "
                    "remove");
  }
  return Status::Ok();
}

Status decideRemove(const v1::State& s, const std::string& ref, std::vector<v1::Event>* out,
                    std::string* id, bool remove_volumes) {
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
  e.mutable_container_removal_started()->set_remove_volumes(remove_volumes);
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
