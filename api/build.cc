// POST /build (issue #7): the classic Dockerfile builder, and POST /build/prune.
//
// One build per request, on the handler's thread:
//  1. the query is parsed (api/build_request.h), the body (the context, a tar:
//     plain, gzip, bzip2 or xz) is unpacked into <data-root>/tmp/build-*;
//  2. the Dockerfile is read from it and parsed (builder/dockerfile.h); the
//     .dockerignore's patterns remove what dockerd removes;
//  3. every instruction of the target's stages runs in order, as dockerd's
//     classic builder does: metadata instructions (ENV, LABEL, CMD, ...) make
//     a child image without a layer; RUN runs in a container of the stage's
//     current image (created, started and watched through the engine and the
//     executor like `docker run`, its output streamed) and COPY/ADD/WORKDIR
//     write into the writable layer of a container that never starts; each
//     container's layer is committed (api/image_commit.h) and the container
//     removed (rm / forcerm);
//  4. every step's image is recorded with ImageBuilt, naming its parent and
//     the cache key (sha256 of the parent id and the step's container config,
//     which names the instruction, the config it ran with and, for COPY/ADD,
//     the hash of the files): a later step with the same key on the same
//     parent reuses the image ("Using cache");
//  5. the last stage's image gets the tags (ImageTagged).
// Output is dockerd's JSON message stream (BuildOutput).
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/build_request.h"
#include "api/container_config.h"
#include "api/container_util.h"
#include "api/image_commit.h"
#include "api/image_tools.h"
#include "api/json.h"
#include "api/time_util.h"
#include "builder/copy_plan.h"
#include "builder/dockerfile.h"
#include "builder/dockerignore.h"
#include "builder/shell_lex.h"
#include "engine/commands.h"
#include "engine/lookup.h"
#include "runtime/container_archive.h"
#include "runtime/distribution/progress.h"
#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"

namespace arca::api {

// api/registry_handlers.cc
StatusOr<bool> pullForBuild(ApiContext& ctx, const image::Reference& ref,
                            const registry::AuthConfig& auth, distribution::Progress& progress);

namespace {

using builder::Instruction;
using builder::InstructionKind;
using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

const std::vector<std::string> kDefaultShell = {"/bin/sh", "-c"};
const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// dockerd's builtinAllowedBuildArgs: usable without an ARG, never reported
// unused, left out of RUN's history unless declared.
const std::set<std::string> kBuiltinArgs = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                            "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                            "ALL_PROXY",  "all_proxy"};

Value str(const std::string& s, Alloc& a) {
  return Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

std::string toJson(const Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

std::vector<std::string> getStrings(const Value& o, const char* key) {
  std::vector<std::string> out;
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || !it->value.IsArray()) return out;
  for (const auto& e : it->value.GetArray()) {
    if (e.IsString()) out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return out;
}

std::string getString(const Value& o, const char* key) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

void setValue(Value& o, const char* key, Value v, Alloc& a) {
  auto it = o.FindMember(key);
  if (it != o.MemberEnd()) {
    it->value = v;
  } else {
    o.AddMember(Value(key, a), v, a);
  }
}

Value stringArray(const std::vector<std::string>& v, Alloc& a) {
  Value arr(rapidjson::kArrayType);
  for (const auto& s : v) arr.PushBack(str(s, a), a);
  return arr;
}

void setStrings(Value& o, const char* key, const std::vector<std::string>& v, Alloc& a) {
  setValue(o, key, stringArray(v, a), a);
}

void setNull(Value& o, const char* key, Alloc& a) { setValue(o, key, Value(rapidjson::kNullType), a); }

Value& objectMember(Value& o, const char* key, Alloc& a) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || !it->value.IsObject()) {
    setValue(o, key, Value(rapidjson::kObjectType), a);
    it = o.FindMember(key);
  }
  return it->value;
}

std::string joined(const std::vector<std::string>& v, const char* sep = " ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// Go's %q of a []string: ["a" "b"].
std::string goQuoteList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + builder::goQuote(v[i]);
  return out + "]";
}

// Go's %v of a []string: [a b].
std::string goList(const std::vector<std::string>& v) { return "[" + joined(v) + "]"; }

// Go's time.Duration.String().
std::string goDuration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? static_cast<uint64_t>(-ns) : static_cast<uint64_t>(ns);
  auto frac = [](uint64_t v, uint64_t unit) {  // v/unit with trailing zeros cut
    std::string s = std::to_string(v / unit);
    uint64_t rem = v % unit;
    if (rem) {
      std::string f = std::to_string(rem);
      f = std::string(std::to_string(unit).size() - 1 - f.size(), '0') + f;
      while (!f.empty() && f.back() == '0') f.pop_back();
      s += "." + f;
    }
    return s;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + frac(u, 1000) + "µs";
  if (u < 1000000000) return sign + frac(u, 1000000) + "ms";
  std::string out;
  uint64_t h = u / 3600000000000ULL;
  u %= 3600000000000ULL;
  uint64_t m = u / 60000000000ULL;
  u %= 60000000000ULL;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  out += frac(u, 1000000000) + "s";
  return sign + out;
}

// Go's %q of an int: a quoted rune literal.
std::string goRune(int r) {
  switch (r) {
    case 7: return "'\\a'";
    case 8: return "'\\b'";
    case 9: return "'\\t'";
    case 10: return "'\\n'";
    case 11: return "'\\v'";
    case 12: return "'\\f'";
    case 13: return "'\\r'";
    case '\'': return "'\\''";
    case '\\': return "'\\\\'";
    default: break;
  }
  if (r >= 0x20 && r < 0x7f) return std::string("'") + static_cast<char>(r) + "'";
  char buf[16];
  if (r < 0x100) {
    snprintf(buf, sizeof buf, "'\\x%02x'", r);
  } else {
    snprintf(buf, sizeof buf, "'\\u%04x'", r);
  }
  return buf;
}

// ---------------------------------------------------------------------------
// Build args (dockerd's BuildArgs)

struct BuildArgs {
  std::map<std::string, std::optional<std::string>> options;  // --build-arg
  std::map<std::string, std::optional<std::string>> meta;     // ARGs before the first FROM
  std::map<std::string, std::optional<std::string>> allowed;  // ARGs of the current stage
  std::set<std::string> referenced;

  std::optional<std::string> value(const std::string& key,
                                   const std::map<std::string, std::optional<std::string>>& from) const {
    auto def = from.find(key);
    if (auto o = options.find(key); o != options.end() && o->second) return *o->second;
    if (def == from.end()) return std::nullopt;
    if (!def->second) {
      if (auto m = meta.find(key); m != meta.end() && m->second) return *m->second;
      return std::nullopt;
    }
    return *def->second;
  }
  std::map<std::string, std::string> all(const std::map<std::string, std::optional<std::string>>& from) const {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : from) {
      if (auto x = value(k, from)) out[k] = *x;
    }
    return out;
  }
  // GetAllAllowed: the stage's ARGs plus the builtin ones given as options.
  std::map<std::string, std::string> allAllowed() const {
    auto out = all(allowed);
    for (const auto& [k, v] : options) {
      if (kBuiltinArgs.count(k) && v && !out.count(k)) out[k] = *v;
    }
    return out;
  }
  bool referencedOrNotBuiltin(const std::string& key) const {
    return allowed.count(key) || !kBuiltinArgs.count(key);
  }
  void add(const std::string& key, std::optional<std::string> v) {
    allowed[key] = std::move(v);
    referenced.insert(key);
  }
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : options) {
      if (!kBuiltinArgs.count(k) && !referenced.count(k)) out.push_back(k);
    }
    return out;
  }
};

std::string envKey(const std::string& kv) { return kv.substr(0, kv.find('=')); }

// ---------------------------------------------------------------------------

struct Stage {
  std::string name;
  bool has_image = false;      // FROM done
  v1::ImageRecord image;       // the current image (id "" for scratch)
  rapidjson::Document config;  // its runConfig
  bool cmd_set = false;
  std::string maintainer;
  BuildArgs args;
  Stage() { config.SetObject(); }
};

class BuildCancelled : public std::exception {};

// The images builds in flight stand on (each stage's current image): POST
// /build/prune leaves them alone.
class InFlight {
 public:
  void set(const void* build, size_t stage, const std::string& image) {
    std::lock_guard<std::mutex> lk(mu_);
    images_[{build, stage}] = image;
  }
  void clear(const void* build) {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = images_.begin(); it != images_.end();) {
      it = it->first.first == build ? images_.erase(it) : std::next(it);
    }
  }
  std::set<std::string> images() const {
    std::lock_guard<std::mutex> lk(mu_);
    std::set<std::string> out;
    for (const auto& [k, v] : images_) out.insert(v);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<const void*, size_t>, std::string> images_;
};

InFlight& buildsInFlight() {
  static InFlight* in_flight = new InFlight;
  return *in_flight;
}

class Build {
 public:
  Build(ApiContext& ctx, const BuildRequest& req, BuildOutput& out, ResponseWriter& w,
        const std::string& context)
      : ctx_(ctx), req_(req), out_(out), w_(w), context_(context) {}
  ~Build() { buildsInFlight().clear(this); }

  // Runs every step; the final image id through *image_id.
  Status run(const builder::Dockerfile& df, std::string* image_id);
  // Containers left behind by a failure (removed when forcerm).
  void cleanup(bool failed);

 private:
  Status dispatch(Stage& st, const Instruction& ins);
  Status from(Stage& st, const Instruction& ins);
  Status metadata(Stage& st, const Instruction& ins);
  Status runStep(Stage& st, const Instruction& ins);
  Status copyStep(Stage& st, const Instruction& ins);
  Status workdir(Stage& st, const Instruction& ins);
  // COPY/ADD/WORKDIR: `write` changes the root of a container of the
  // stage's image that never starts; its layer becomes the step's image.
  Status layerStep(Stage& st, const Value& probe, const std::string& key,
                   const std::vector<std::string>& cmd,
                   const std::function<Status(const std::string& rootfs)>& write);
  Status triggers(Stage& st);

  builder::ShellEnv stepEnv(const Stage& st) const;
  StatusOr<std::string> expand(const Stage& st, const Instruction& ins, const std::string& word) const;
  std::vector<std::string> shellOf(const Stage& st) const;
  // The container config a step is cached under: the stage's config with
  // `cmd` (and no Entrypoint when `no_entrypoint`).
  rapidjson::Document probeConfig(const Stage& st, const std::vector<std::string>& cmd,
                                  bool no_entrypoint) const;
  std::string cacheKey(const Stage& st, const Value& probe) const;
  // A cached image for the step, or nullopt.
  std::optional<v1::ImageRecord> probeCache(const Stage& st, const std::string& key);
  // The step's cache key into *key; on a hit the stage moves to the cached
  // image (" ---> Using cache") and true is returned.
  bool useCache(Stage& st, const Value& probe, std::string* key);
  // A metadata step: the child image without a layer (or the cached one).
  Status commitMetadata(Stage& st, const std::string& comment, bool single_comment = false);
  // Records the step's image and makes it the stage's.
  Status commitImage(Stage& st, const Value& probe, const std::string& key,
                     const image::ImageStore::Layer& layer, const std::string& container_id,
                     const std::string& created_by);
  StatusOr<std::string> createContainer(Stage& st, const std::vector<std::string>& cmd,
                                        const std::vector<std::string>& extra_env);
  StatusOr<int> runContainer(const std::string& id);
  Status removeContainer(const std::string& id);
  // SIGKILL through the engine (a cancelled build's RUN container).
  void killContainer(const std::string& id);
  StatusOr<std::vector<std::string>> lowersOf(const v1::ImageRecord& image);
  StatusOr<const Stage*> stageRef(const std::string& name, size_t before) const;
  StatusOr<v1::ImageRecord> resolveImage(const std::string& ref, bool pull_always);
  void checkCancelled() const {
    if (w_.clientGone()) throw BuildCancelled();
  }

  ApiContext& ctx_;
  const BuildRequest& req_;
  BuildOutput& out_;
  ResponseWriter& w_;
  std::string context_;  // the extracted context
  char escape_ = '\\';
  std::vector<std::unique_ptr<Stage>> stages_;
  BuildArgs base_args_;
  std::vector<std::string> failed_containers_;
  int step_ = 0, total_ = 0;
};

builder::ShellEnv Build::stepEnv(const Stage& st) const {
  builder::ShellEnv env;
  env.env = getStrings(st.config, "Env");
  auto allowed = st.args.allAllowed();
  env.build_arg = [allowed](std::string_view name) -> std::optional<std::string> {
    auto it = allowed.find(std::string(name));
    if (it == allowed.end()) return std::nullopt;
    return it->second;
  };
  return env;
}

StatusOr<std::string> Build::expand(const Stage& st, const Instruction& ins, const std::string& word) const {
  if (ins.no_expand) return word;
  return builder::ShellLex(escape_).processWord(word, stepEnv(st));
}

std::vector<std::string> Build::shellOf(const Stage& st) const {
  auto sh = getStrings(st.config, "Shell");
  return sh.empty() ? kDefaultShell : sh;
}

rapidjson::Document Build::probeConfig(const Stage& st, const std::vector<std::string>& cmd,
                                       bool no_entrypoint) const {
  rapidjson::Document d;
  d.CopyFrom(st.config, d.GetAllocator());
  auto& a = d.GetAllocator();
  setStrings(d, "Cmd", cmd, a);
  if (no_entrypoint && !cmd.empty()) setNull(d, "Entrypoint", a);
  return d;
}

std::string Build::cacheKey(const Stage& st, const Value& probe) const {
  return "sha256:" + image::sha256Hex(st.image.id() + "\n" + st.maintainer + "\n" + toJson(probe));
}

std::optional<v1::ImageRecord> Build::probeCache(const Stage& st, const std::string& key) {
  if (req_.no_cache || !st.has_image) return std::nullopt;
  return ctx_.engine->read([&](const v1::State& s) -> std::optional<v1::ImageRecord> {
    const v1::ImageRecord* best = nullptr;
    for (const auto& [id, img] : s.images()) {
      const auto& r = img.record();
      if (r.build_cache_key() != key || r.parent() != st.image.id()) continue;
      if (!best || r.created() > best->created()) best = &r;
    }
    if (!best) return std::nullopt;
    return *best;
  });
}

bool Build::useCache(Stage& st, const Value& probe, std::string* key) {
  *key = cacheKey(st, probe);
  auto hit = probeCache(st, *key);
  if (!hit) return false;
  out_.usingCache();
  st.image = *hit;
  return true;
}

Status Build::commitImage(Stage& st, const Value& probe, const std::string& key,
                          const image::ImageStore::Layer& layer, const std::string& container_id,
                          const std::string& created_by) {
  rapidjson::Document config;
  config.CopyFrom(st.config, config.GetAllocator());
  setValue(config, "Image", str(st.image.id(), config.GetAllocator()), config.GetAllocator());
  rapidjson::Document cc;
  cc.CopyFrom(probe, cc.GetAllocator());
  setValue(cc, "Image", str(st.image.id(), cc.GetAllocator()), cc.GetAllocator());
  ChildImage child;
  child.diff_id = layer.diff_id;
  child.container_id = container_id;
  child.author = st.maintainer;
  child.created_by = created_by;
  child.created = rfc3339(ctx_.engine->clock()->nowNs());
  child.container_config = &cc;
  ARCA_ASSIGN_OR_RETURN(std::string config_json, childImageConfig(st.image, config, child));
  ARCA_ASSIGN_OR_RETURN(v1::ImageRecord rec, storeImage(ctx_, config_json, layer));
  rec.set_parent(st.image.id());
  rec.set_build_cache_key(key);
  v1::Event e;
  *e.mutable_image_built()->mutable_image() = rec;
  ctx_.engine->record({std::move(e)});
  st.image = rec;
  return Status::Ok();
}

Status Build::commitMetadata(Stage& st, const std::string& comment, bool single_comment) {
  std::vector<std::string> cmd = shellOf(st);
  if (single_comment) {
    cmd.push_back("#(nop) " + comment);
  } else {
    cmd.push_back("#(nop) ");
    cmd.push_back(comment);
  }
  rapidjson::Document probe = probeConfig(st, cmd, false);
  std::string key;
  if (useCache(st, probe, &key)) return Status::Ok();
  return commitImage(st, probe, key, {}, "", joined(cmd));
}

StatusOr<std::vector<std::string>> Build::lowersOf(const v1::ImageRecord& image) {
  if (image.id().empty()) return std::vector<std::string>{};
  return ctx_.images->layerDirs(image);
}

// A container of the stage's image running `cmd` with `extra_env` (build
// args), created through the engine like `docker create`.
StatusOr<std::string> Build::createContainer(Stage& st, const std::vector<std::string>& cmd,
                                             const std::vector<std::string>& extra_env) {
  if (st.image.id().empty()) {
    // FROM scratch: dockerd's "No image was generated" comes later; a RUN
    // here has no root file system to run in.
    return InvalidArgument("Please provide a source image with `from` prior to commit");
  }
  rapidjson::Document body;
  body.CopyFrom(st.config, body.GetAllocator());
  auto& a = body.GetAllocator();
  setValue(body, "Image", str(st.image.id(), a), a);
  setStrings(body, "Cmd", cmd, a);
  setStrings(body, "Entrypoint", {""}, a);
  std::vector<std::string> env = getStrings(st.config, "Env");
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  setStrings(body, "Env", env, a);
  for (const char* k : {"AttachStdin", "OpenStdin", "StdinOnce", "Tty"}) setValue(body, k, Value(false), a);
  // A build container is never health-checked (dockerd's withoutHealthcheck).
  Value none(rapidjson::kObjectType);
  none.AddMember("Test", stringArray({"NONE"}, a), a);
  setValue(body, "Healthcheck", std::move(none), a);
  Value hc(rapidjson::kObjectType);
  hc.AddMember("NetworkMode", str(req_.network_mode.empty() ? "default" : req_.network_mode, a), a);
  if (req_.shm_size > 0) hc.AddMember("ShmSize", req_.shm_size, a);
  if (!req_.extra_hosts.empty()) hc.AddMember("ExtraHosts", stringArray(req_.extra_hosts, a), a);
  if (req_.memory > 0) hc.AddMember("Memory", req_.memory, a);
  if (req_.memory_swap != 0) hc.AddMember("MemorySwap", req_.memory_swap, a);
  if (req_.cpu_shares > 0) hc.AddMember("CpuShares", req_.cpu_shares, a);
  if (req_.cpu_period > 0) hc.AddMember("CpuPeriod", req_.cpu_period, a);
  if (req_.cpu_quota > 0) hc.AddMember("CpuQuota", req_.cpu_quota, a);
  if (!req_.cpuset_cpus.empty()) hc.AddMember("CpusetCpus", str(req_.cpuset_cpus, a), a);
  if (!req_.cpuset_mems.empty()) hc.AddMember("CpusetMems", str(req_.cpuset_mems, a), a);
  body.AddMember("HostConfig", hc, a);
  ARCA_ASSIGN_OR_RETURN(engine::CreateContainer create, parseCreateContainer(toJson(body)));
  // No entrypoint at all (Entrypoint [""]), whatever the image says.
  create.config.clear_entrypoint();
  create.config.set_entrypoint_set(true);
  create.config.set_cmd_set(true);
  return createFromCommand(ctx_, std::move(create));
}

Status Build::removeContainer(const std::string& id) {
  return ctx_.executor->removeContainer(id, true);
}

void Build::killContainer(const std::string& id) {
  auto k = ctx_.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    std::string cid;
    return engine::decideKill(s, id, "KILL", out, &cid);
  });
  (void)k;  // Conflict when it already exited
}

// Starts container `id` with its output streamed into the build's output;
// returns its exit code.
StatusOr<int> Build::runContainer(const std::string& id) {
  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    StatusOr<std::unique_ptr<runtime::IoStream>> io = Unavailable("not attached");
  };
  auto pending = std::make_shared<Pending>();
  runtime::SandboxDriver* driver = ctx_.driver;
  runtime::AttachOptions opts;
  opts.stdout = true;
  opts.stderr = true;
  uint64_t token = ctx_.executor->onNextStart(id, [pending, driver, id, opts] {
    auto r = driver->attach(id, opts);
    std::lock_guard<std::mutex> lk(pending->mu);
    pending->io = std::move(r);
    pending->done = true;
    pending->cv.notify_all();
  });
  uint64_t exits = ctx_.engine->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    return it == s.containers().end() ? uint64_t{0} : it->second.exit_count();
  });
  auto seq = ctx_.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    std::string cid;
    return engine::decideStart(s, id, false, out, &cid, ctx_.engine->ids());
  });
  if (!seq.ok()) {
    ctx_.executor->cancelOnNextStart(id, token);
    return seq.status();
  }
  // The outcome of the start.
  std::string error;
  bool started = false;
  bool settled = ctx_.engine->waitUntil(
      [&](const v1::State& s) {
        auto it = s.containers().find(id);
        if (it == s.containers().end()) return true;
        const auto& c = it->second;
        if (c.start_outcome_seq() < *seq) return false;
        error = c.error();
        started = c.status() == "running" || (c.start_count() > 0 && c.error().empty());
        return true;
      },
      nullptr, 120000);
  if (!settled) error = "the build container did not start in time";
  if (!started) {
    ctx_.executor->cancelOnNextStart(id, token);
    return Internal(error.empty() ? "the build container did not start" : error);
  }
  std::unique_ptr<runtime::IoStream> io;
  {
    std::unique_lock<std::mutex> lk(pending->mu);
    pending->cv.wait_for(lk, std::chrono::seconds(30), [&] { return pending->done; });
    if (pending->done && pending->io.ok()) io = std::move(*pending->io);
  }
  std::atomic<bool> finished{false};
  std::thread watchdog;
  if (io) {
    // The client going away cancels the build: the container is killed.
    runtime::IoStream* raw = io.get();
    watchdog = std::thread([this, raw, &finished, id] {
      while (!finished.load()) {
        auto t0 = std::chrono::steady_clock::now();
        bool gone = w_.waitClientGone(200);
        if (!gone && std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a writer that cannot wait
        }
        if (gone) {
          if (finished.load()) return;
          killContainer(id);
          raw->cancel();
          return;
        }
      }
    });
    runtime::IoEvent ev;
    while (io->read(&ev)) {
      if (ev.kind != runtime::IoEvent::Kind::kOutput) continue;
      if (ev.stream == 2) {
        out_.stderrChunk(ev.data);
      } else {
        out_.stdoutChunk(ev.data);
      }
    }
    (void)io->finish();
    finished = true;
    watchdog.join();
    // Closed now: the agent's shutdown after the exit waits for its open calls.
    io.reset();
  }
  int code = 0;
  auto exited = [&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it == s.containers().end()) return true;
    if (it->second.exit_count() <= exits) return false;
    code = it->second.exit_code();
    return true;
  };
  // Until the exit, or the client going away (also when the process closed
  // its output and runs on, or no attach came).
  ctx_.engine->waitUntil(exited, [this] { return w_.clientGone(); }, -1);
  if (w_.clientGone()) {
    // Cancelled (the client went away): the container is killed and goes.
    killContainer(id);
    ctx_.engine->waitUntil(exited, nullptr, 30000);
    Status rm = removeContainer(id);
    if (!rm.ok()) spdlog::warn("build: removing {}: {}", id.substr(0, 12), rm.toString());
    throw BuildCancelled();
  }
  return code;
}

StatusOr<const Stage*> Build::stageRef(const std::string& name, size_t before) const {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (size_t i = 0; i < before && i < stages_.size(); ++i) {
    if (!stages_[i]->name.empty() && stages_[i]->name == lower) return stages_[i].get();
  }
  bool digits = !name.empty() && std::all_of(name.begin(), name.end(), ::isdigit);
  if (digits) {
    size_t n = std::strtoul(name.c_str(), nullptr, 10);
    if (n < before) return stages_[n].get();
    return InvalidArgument("invalid from flag value " + name +
                           ": refers to current build stage");  // dockerd's text
  }
  return static_cast<const Stage*>(nullptr);
}

StatusOr<v1::ImageRecord> Build::resolveImage(const std::string& ref_text, bool pull_always) {
  auto ref = image::parseNormalizedNamed(ref_text);
  if (!ref.ok()) return InvalidArgument(ref.status().message());
  image::Reference r = *ref;
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  auto find = [&]() -> StatusOr<v1::ImageRecord> {
    return ctx_.engine->read([&](const v1::State& s) -> StatusOr<v1::ImageRecord> {
      auto img = engine::findImage(s, ref_text);
      if (!img.ok()) return img.status();
      return (*img)->record();
    });
  };
  if (!pull_always) {
    auto have = find();
    if (have.ok() || have.status().code() != Code::kNotFound) return have;
  }
  registry::AuthConfig auth;
  if (auto a = req_.auth_configs.find(r.domain); a != req_.auth_configs.end()) auth = a->second;
  distribution::Progress progress([this](const std::string& msg) { out_.progress(msg); });
  auto pulled = pullForBuild(ctx_, r, auth, progress);
  if (!pulled.ok()) return pulled.status();
  return find();
}

Status Build::triggers(Stage& st) {
  auto onbuild = getStrings(st.config, "OnBuild");
  if (onbuild.empty()) return Status::Ok();
  setNull(st.config, "OnBuild", st.config.GetAllocator());
  out_.executingTriggers(static_cast<int>(onbuild.size()));
  for (const auto& expr : onbuild) {
    auto t = builder::parseTrigger(expr);
    if (!t.ok()) return t.status();
    ARCA_RETURN_IF_ERROR(dispatch(st, *t));
  }
  return Status::Ok();
}

Status Build::from(Stage& st, const Instruction& ins) {
  // FROM's image and --platform expand with the meta args only.
  builder::ShellEnv env;
  for (const auto& [k, v] : base_args_.all(base_args_.meta)) env.env.push_back(k + "=" + v);
  builder::ShellLex lex(escape_);
  ARCA_ASSIGN_OR_RETURN(std::string name, lex.processWord(ins.base_name, env));
  if (name.empty()) return InvalidArgument("base name (" + ins.base_name + ") should not be blank");
  if (!ins.platform.empty()) {
    ARCA_ASSIGN_OR_RETURN(std::string platform, lex.processWord(ins.platform, env));
    if (platform != "linux" && platform != "linux/amd64" && platform != "linux/x86_64" &&
        platform != "amd64") {
      return InvalidArgument("\"" + platform + "\": unknown operating system or architecture: "
                             "invalid argument");
    }
  }
  st.args = base_args_;
  st.args.allowed.clear();
  st.has_image = true;
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  ARCA_ASSIGN_OR_RETURN(const Stage* prev, stageRef(name, stages_.size() - 1));
  if (prev && !std::all_of(name.begin(), name.end(), ::isdigit)) {
    st.image = prev->image;
    st.config.CopyFrom(prev->config, st.config.GetAllocator());
  } else if (lower == "scratch") {
    st.image.Clear();
    st.config.SetObject();
  } else {
    ARCA_ASSIGN_OR_RETURN(st.image, resolveImage(name, req_.pull));
    rapidjson::Document d;
    d.Parse(st.image.config_json().c_str(), st.image.config_json().size());
    st.config.SetObject();
    if (!d.HasParseError() && d.IsObject()) {
      auto c = d.FindMember("config");
      if (c != d.MemberEnd() && c->value.IsObject()) st.config.CopyFrom(c->value, st.config.GetAllocator());
    }
  }
  // dockerd's setDefaultPath.
  auto env_list = getStrings(st.config, "Env");
  bool has_path = std::any_of(env_list.begin(), env_list.end(),
                              [](const std::string& e) { return envKey(e) == "PATH"; });
  if (!has_path) {
    env_list.push_back(std::string("PATH=") + kDefaultPath);
    setStrings(st.config, "Env", env_list, st.config.GetAllocator());
  }
  return triggers(st);
}

Status Build::metadata(Stage& st, const Instruction& ins) {
  auto& a = st.config.GetAllocator();
  switch (ins.kind) {
    case InstructionKind::kEnv: {
      auto env = getStrings(st.config, "Env");
      std::string msg = "ENV";
      // Every pair expands against the environment before the instruction
      // (dockerd: `ENV a=1 b=$a` gives b the previous a).
      std::vector<std::pair<std::string, std::string>> pairs;
      for (const auto& kv : ins.pairs) {
        ARCA_ASSIGN_OR_RETURN(std::string k, expand(st, ins, kv.key));
        ARCA_ASSIGN_OR_RETURN(std::string v, expand(st, ins, kv.value));
        pairs.emplace_back(std::move(k), std::move(v));
      }
      for (const auto& [k, v] : pairs) {
        std::string entry = k + "=" + v;
        msg += " " + entry;
        bool replaced = false;
        for (auto& e : env) {
          if (envKey(e) == k) {
            e = entry;
            replaced = true;
          }
        }
        if (!replaced) env.push_back(entry);
      }
      setStrings(st.config, "Env", env, a);
      return commitMetadata(st, msg);
    }
    case InstructionKind::kLabel: {
      Value& labels = objectMember(st.config, "Labels", a);
      std::string msg = "LABEL";
      for (const auto& kv : ins.pairs) {
        ARCA_ASSIGN_OR_RETURN(std::string k, expand(st, ins, kv.key));
        ARCA_ASSIGN_OR_RETURN(std::string v, expand(st, ins, kv.value));
        msg += " " + k + "=" + v;
        setValue(labels, k.c_str(), str(v, a), a);
      }
      return commitMetadata(st, msg);
    }
    case InstructionKind::kMaintainer:
      st.maintainer = ins.value;
      return commitMetadata(st, "MAINTAINER " + ins.value);
    case InstructionKind::kExpose: {
      std::vector<std::string> ports;
      builder::ShellLex lex(escape_);
      for (const auto& p : ins.list) {
        ARCA_ASSIGN_OR_RETURN(auto words, lex.processWords(p, stepEnv(st)));
        ports.insert(ports.end(), words.begin(), words.end());
      }
      Value& exposed = objectMember(st.config, "ExposedPorts", a);
      for (const auto& p : ports) {
        std::string port = p, proto = "tcp";
        if (auto slash = p.find('/'); slash != std::string::npos) {
          port = p.substr(0, slash);
          proto = p.substr(slash + 1);
          std::transform(proto.begin(), proto.end(), proto.begin(), ::tolower);
        }
        if (auto colon = port.rfind(':'); colon != std::string::npos) port = port.substr(colon + 1);
        unsigned long lo = 0, hi = 0;
        char* end = nullptr;
        lo = std::strtoul(port.c_str(), &end, 10);
        hi = lo;
        if (*end == '-') hi = std::strtoul(end + 1, &end, 10);
        if (port.empty() || *end != '\0' || lo == 0 || hi < lo || hi > 65535) {
          return InvalidArgument("Invalid containerPort: " + p);
        }
        for (unsigned long n = lo; n <= hi; ++n) {
          std::string k = std::to_string(n) + "/" + proto;
          if (!exposed.HasMember(k.c_str())) exposed.AddMember(str(k, a), Value(rapidjson::kObjectType), a);
        }
      }
      return commitMetadata(st, "EXPOSE " + joined(ports));
    }
    case InstructionKind::kUser: {
      ARCA_ASSIGN_OR_RETURN(std::string user, expand(st, ins, ins.value));
      setValue(st.config, "User", str(user, a), a);
      return commitMetadata(st, "USER " + user);
    }
    case InstructionKind::kVolume: {
      std::vector<std::string> vols;
      Value& volumes = objectMember(st.config, "Volumes", a);
      for (const auto& v : ins.list) {
        ARCA_ASSIGN_OR_RETURN(std::string p, expand(st, ins, v));
        if (p.empty()) return InvalidArgument("VOLUME specified can not be an empty string");
        vols.push_back(p);
        if (!volumes.HasMember(p.c_str())) volumes.AddMember(str(p, a), Value(rapidjson::kObjectType), a);
      }
      return commitMetadata(st, "VOLUME " + goList(vols));
    }
    case InstructionKind::kStopsignal: {
      ARCA_ASSIGN_OR_RETURN(std::string sig, expand(st, ins, ins.value));
      std::string up = sig;
      std::transform(up.begin(), up.end(), up.begin(), ::toupper);
      if (up.rfind("SIG", 0) == 0) up = up.substr(3);
      bool ok = !up.empty() && std::all_of(up.begin(), up.end(), ::isdigit)
                    ? std::atoi(up.c_str()) > 0
                    : false;
      static const std::set<std::string> names = {
          "ABRT", "ALRM", "BUS",  "CHLD", "CLD",  "CONT", "FPE",  "HUP",    "ILL",  "INT",  "IO",
          "IOT",  "KILL", "PIPE", "POLL", "PROF", "PWR",  "QUIT", "SEGV",   "STKFLT", "STOP", "SYS",
          "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG",  "USR1", "USR2",   "VTALRM", "WINCH", "XCPU",
          "XFSZ", "UNUSED"};
      ok = ok || names.count(up) || up.rfind("RTMIN", 0) == 0 || up.rfind("RTMAX", 0) == 0;
      if (!ok) return InvalidArgument("Invalid signal: " + sig);
      setValue(st.config, "StopSignal", str(sig, a), a);
      return commitMetadata(st, "STOPSIGNAL " + sig);
    }
    case InstructionKind::kArg: {
      std::string msg = "ARG";
      std::vector<std::pair<std::string, std::optional<std::string>>> args;  // expanded first, as ENV
      for (const auto& kv : ins.pairs) {
        ARCA_ASSIGN_OR_RETURN(std::string k, expand(st, ins, kv.key));
        std::optional<std::string> v;
        if (kv.has_value) {
          ARCA_ASSIGN_OR_RETURN(std::string x, expand(st, ins, kv.value));
          v = x;
        }
        args.emplace_back(std::move(k), std::move(v));
      }
      for (const auto& [k, v] : args) {
        msg += " " + k + (v ? "=" + *v : "");
        st.args.add(k, v);
      }
      return commitMetadata(st, msg);
    }
    case InstructionKind::kCmd: {
      std::vector<std::string> cmd = ins.cmdline;
      if (!ins.json) {
        auto sh = shellOf(st);
        sh.insert(sh.end(), cmd.begin(), cmd.end());
        cmd = sh;
      }
      setStrings(st.config, "Cmd", cmd, a);
      st.cmd_set = true;
      return commitMetadata(st, "CMD " + goQuoteList(cmd));
    }
    case InstructionKind::kEntrypoint: {
      std::vector<std::string> ep = ins.cmdline;
      if (!ins.json && !ep.empty()) {
        auto sh = shellOf(st);
        sh.insert(sh.end(), ep.begin(), ep.end());
        ep = sh;
      }
      if (ep.empty() && !ins.json) {
        setNull(st.config, "Entrypoint", a);
      } else {
        setStrings(st.config, "Entrypoint", ep, a);
      }
      if (!st.cmd_set) setNull(st.config, "Cmd", a);
      return commitMetadata(st, "ENTRYPOINT " + goQuoteList(getStrings(st.config, "Entrypoint")));
    }
    case InstructionKind::kHealthcheck: {
      const auto& h = *ins.healthcheck;
      auto old = st.config.FindMember("Healthcheck");
      if (old != st.config.MemberEnd() && old->value.IsObject()) {
        auto t = getStrings(old->value, "Test");
        if (!t.empty() && t[0] != "NONE") out_.stdoutChunk("Note: overriding previous HEALTHCHECK: " + goList(t) + "\n");
      }
      Value hc(rapidjson::kObjectType);
      hc.AddMember("Test", stringArray(h.test, a), a);
      if (h.interval_ns) hc.AddMember("Interval", h.interval_ns, a);
      if (h.timeout_ns) hc.AddMember("Timeout", h.timeout_ns, a);
      if (h.start_period_ns) hc.AddMember("StartPeriod", h.start_period_ns, a);
      if (h.retries) hc.AddMember("Retries", h.retries, a);
      setValue(st.config, "Healthcheck", std::move(hc), a);
      return commitMetadata(st, "HEALTHCHECK &{" + goQuoteList(h.test) + " " +
                                    builder::goQuote(goDuration(h.interval_ns)) + " " +
                                    builder::goQuote(goDuration(h.timeout_ns)) + " " +
                                    builder::goQuote(goDuration(h.start_period_ns)) + " " +
                                    goRune(h.retries) + "}");
    }
    case InstructionKind::kShell:
      setStrings(st.config, "Shell", ins.list, a);
      return commitMetadata(st, "SHELL " + goList(ins.list));
    case InstructionKind::kOnbuild: {
      auto ob = getStrings(st.config, "OnBuild");
      ob.push_back(ins.onbuild_expression);
      setStrings(st.config, "OnBuild", ob, a);
      return commitMetadata(st, "ONBUILD " + ins.onbuild_expression);
    }
    default:
      return Internal("not a metadata instruction: " + ins.name);
  }
}

Status Build::runStep(Stage& st, const Instruction& ins) {
  if (!ins.mounts.empty()) {
    return InvalidArgument("the --mount option requires BuildKit. Refer to "
                           "https://docs.docker.com/go/buildkit/ to learn how to build images "
                           "with BuildKit enabled");
  }
  if (!ins.network.empty() && ins.network != "default") {
    return InvalidArgument("the --network option requires BuildKit. Refer to "
                           "https://docs.docker.com/go/buildkit/ to learn how to build images "
                           "with BuildKit enabled");
  }
  std::vector<std::string> cmd = ins.cmdline;
  if (!ins.json) {
    auto sh = shellOf(st);
    sh.insert(sh.end(), cmd.begin(), cmd.end());
    cmd = sh;
  }
  // The build args RUN sees (those Env does not set), and the history's
  // "|N K=V ..." prefix of the ones that count.
  auto env_keys = getStrings(st.config, "Env");
  std::set<std::string> keys;
  for (const auto& e : env_keys) keys.insert(envKey(e));
  std::vector<std::string> args_env;
  for (const auto& [k, v] : st.args.allAllowed()) {
    if (!keys.count(k)) args_env.push_back(k + "=" + v);
  }
  std::vector<std::string> save = cmd;
  if (!args_env.empty()) {
    std::vector<std::string> shown;
    for (const auto& e : args_env) {
      if (st.args.referencedOrNotBuiltin(envKey(e))) shown.push_back(e);
    }
    std::sort(shown.begin(), shown.end());
    save = {"|" + std::to_string(shown.size())};
    save.insert(save.end(), shown.begin(), shown.end());
    save.insert(save.end(), cmd.begin(), cmd.end());
  }
  rapidjson::Document probe = probeConfig(st, save, true);
  std::string key;
  if (useCache(st, probe, &key)) return Status::Ok();
  ARCA_ASSIGN_OR_RETURN(std::string cid, createContainer(st, cmd, args_env));
  out_.runningIn(cid);
  auto code = runContainer(cid);
  if (!code.ok() || *code != 0) {
    failed_containers_.push_back(cid);
    if (!code.ok()) return code.status();
    return Status(Code::kInternal, "The command '" + joined(cmd) + "' returned a non-zero code: " +
                                      std::to_string(*code));
  }
  auto lowers = lowersOf(st.image);
  if (!lowers.ok()) {
    failed_containers_.push_back(cid);
    return lowers.status();
  }
  auto layer = commitLayer(ctx_, cid, cid.substr(0, 12), *lowers, st.image);
  if (!layer.ok()) {
    failed_containers_.push_back(cid);
    return layer.status();
  }
  Status c = commitImage(st, probe, key, *layer, cid, joined(save));
  if (req_.remove || req_.force_remove) {
    Status rm = removeContainer(cid);
    if (rm.ok()) {
      out_.removedIntermediate(cid);
    } else {
      out_.removeIntermediateFailed(cid, rm.message());
    }
  }
  return c;
}

// dockerd's chown parsing: "user[:group]", names looked up in the
// container's /etc/passwd and /etc/group.
StatusOr<builder::CopyOwner> resolveChown(const std::string& rootfs, const std::string& chown) {
  ARCA_ASSIGN_OR_RETURN(runtime::RootDir root, runtime::RootDir::open(rootfs));
  auto passwd = root.readFile("/etc/passwd");
  auto group = root.readFile("/etc/group");
  // "user" alone names the group too (dockerd's parseChownFlag).
  std::string user = chown, grp = chown;
  if (auto c = chown.find(':'); c != std::string::npos) {
    user = chown.substr(0, c);
    grp = chown.substr(c + 1);
  }
  auto isNum = [](const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit); };
  builder::CopyOwner o;
  if (isNum(user)) {
    o.uid = static_cast<uint32_t>(std::strtoul(user.c_str(), nullptr, 10));
    o.gid = o.uid;
  } else {
    auto r = runtime::resolveUser(user, passwd, group);
    if (!r.ok()) {
      return InvalidArgument("unable to convert uid/gid chown string to host mapping: can't find uid "
                             "for user " + user + ": no such user: " + user);
    }
    o.uid = r->uid;
    o.gid = r->gid;
  }
  if (!grp.empty()) {
    if (isNum(grp)) {
      o.gid = static_cast<uint32_t>(std::strtoul(grp.c_str(), nullptr, 10));
    } else {
      auto r = runtime::resolveUser("0:" + grp, passwd, group);
      if (!r.ok()) {
        return InvalidArgument("unable to convert uid/gid chown string to host mapping: can't find "
                               "gid for group " + grp + ": no such group: " + grp);
      }
      o.gid = r->gid;
    }
  }
  return o;
}

size_t curlWrite(char* p, size_t size, size_t n, void* fd) {
  size_t len = size * n;
  size_t off = 0;
  while (off < len) {
    ssize_t w = ::write(*static_cast<int*>(fd), p + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    off += static_cast<size_t>(w);
  }
  return len;
}

size_t curlHeader(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

std::string headerValue(const std::string& headers, const std::string& name) {
  std::string lower = headers;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  std::string key = "\n" + name + ":";
  auto pos = lower.rfind(key);
  if (pos == std::string::npos) return "";
  pos += key.size();
  auto end = headers.find('\n', pos);
  std::string v = headers.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
  while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
  return v;
}

// ADD <url>: downloads into `dir` as the file name dockerd picks.
int curlProgress(void* cancelled, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return (*static_cast<const std::function<bool()>*>(cancelled))() ? 1 : 0;
}

Status downloadUrl(builder::CopySource* src, const std::string& dir, const std::string& dest,
                   const builder::CopyPlanOptions& opts, const std::function<bool()>& cancelled) {
  const std::string tmp = dir + "/.download";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("creating " + tmp + ": " + std::strerror(errno));
  std::string headers;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, src->path.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curlWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &fd);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curlHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  // A server that stalls (under 1 byte/s for 60 s) fails the step; the
  // client going away aborts the transfer.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, curlProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &cancelled);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  ::close(fd);
  if (rc == CURLE_ABORTED_BY_CALLBACK) throw BuildCancelled();
  if (rc != CURLE_OK) {
    return Status(Code::kInternal, std::string("failed to GET ") + src->path + ": " + curl_easy_strerror(rc));
  }
  if (status >= 400) {
    return Status(Code::kInternal, "failed to GET " + src->path + " with status " + std::to_string(status) +
                                      ": " + headerValue(headers, "status"));
  }
  ARCA_ASSIGN_OR_RETURN(std::string name,
                        builder::urlFileName(src->path, headerValue(headers, "content-disposition"), dest));
  const std::string final_path = dir + "/" + name;
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return Internal("rename: " + std::string(std::strerror(errno)));
  // Times: Last-Modified, else the zero time (dockerd).
  struct timespec ts[2] = {{0, 0}, {0, 0}};
  std::string lm = headerValue(headers, "last-modified");
  if (!lm.empty()) {
    time_t t = curl_getdate(lm.c_str(), nullptr);
    if (t > 0) ts[0].tv_sec = ts[1].tv_sec = t;
  }
  ::utimensat(AT_FDCWD, final_path.c_str(), ts, 0);
  return builder::finishUrlSource(src, dir, name, opts);
}

Status Build::copyStep(Stage& st, const Instruction& ins) {
  const bool is_add = ins.kind == InstructionKind::kAdd;
  const std::string cmd_name = is_add ? "ADD" : "COPY";
  std::vector<std::string> sources;
  for (const auto& s : ins.sources) {
    ARCA_ASSIGN_OR_RETURN(std::string x, expand(st, ins, s));
    sources.push_back(x);
  }
  ARCA_ASSIGN_OR_RETURN(std::string dest, expand(st, ins, ins.dest));
  std::string chown;
  if (!ins.chown.empty()) {
    ARCA_ASSIGN_OR_RETURN(chown, expand(st, ins, ins.chown));
  }
  std::optional<uint32_t> chmod;
  std::string chmod_text;
  if (!ins.chmod.empty()) {
    ARCA_ASSIGN_OR_RETURN(std::string m, expand(st, ins, ins.chmod));
    chmod_text = m;
    char* end = nullptr;
    unsigned long v = std::strtoul(m.c_str(), &end, 8);
    if (m.empty() || *end != '\0' || v > 07777) {
      return InvalidArgument("invalid chmod parameter: " + m);  // BuildKit's text
    }
    chmod = static_cast<uint32_t>(v);
  }
  if (st.image.id().empty() && !st.has_image) {
    return InvalidArgument("Please provide a source image with `from` prior to commit");
  }
  const std::string workdir = getString(st.config, "WorkingDir");
  builder::CopyPlanOptions popts;
  popts.chown = chown;

  // The source: the context, or (COPY --from) a stage's or an image's root.
  std::optional<v1::ImageRecord> from_image;
  if (!ins.from_flag.empty()) {
    if (is_add) return InvalidArgument("ADD does not support the --from flag");
    const std::string from = ins.from_flag;  // not expanded (dockerd 20.10)
    size_t me = 0;
    for (; me < stages_.size(); ++me) {
      if (stages_[me].get() == &st) break;
    }
    ARCA_ASSIGN_OR_RETURN(const Stage* s, stageRef(from, me));
    if (s) {
      from_image = s->image;
    } else {
      ARCA_ASSIGN_OR_RETURN(from_image, resolveImage(from, req_.pull));
    }
  }

  std::string tmp_root;  // COPY --from: a view of the source image
  std::string downloads = context_ + ".downloads";
  auto plan_and_copy = [&](const std::string& src_root) -> Status {
    ARCA_ASSIGN_OR_RETURN(builder::CopyPlan plan,
                          builder::planCopy(src_root, sources, dest, workdir, is_add, popts));
    std::error_code ec;
    std::filesystem::remove_all(downloads, ec);
    for (size_t i = 0; i < plan.sources.size(); ++i) {
      auto& s = plan.sources[i];
      if (s.kind != builder::CopySourceKind::kUrl) continue;
      const std::string dir = downloads + "/" + std::to_string(i);  // one per source: same names may differ
      std::filesystem::create_directories(dir, ec);
      ARCA_RETURN_IF_ERROR(downloadUrl(&s, dir, dest, popts, [this] { return w_.clientGone(); }));
    }
    std::string comment = builder::copyComment(plan, chown);
    if (chmod) {
      // --chmod (BuildKit's flag; dockerd 20.10 refuses it) is part of the
      // step's text, so a new mode breaks the cache.
      comment.insert(comment.find(' ') + 1, "--chmod=" + chmod_text + " ");
    }
    std::vector<std::string> cmd = shellOf(st);
    cmd.push_back("#(nop) " + comment);
    rapidjson::Document probe = probeConfig(st, cmd, false);
    std::string key;
    if (useCache(st, probe, &key)) return Status::Ok();
    if (st.image.id().empty()) {
      // FROM scratch: nothing to start from; the files go into an empty
      // directory that becomes the layer.
      const std::string dir = context_ + ".scratch";
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      std::filesystem::create_directories(dir, ec);
      std::optional<builder::CopyOwner> owner;
      if (!chown.empty()) {
        ARCA_ASSIGN_OR_RETURN(owner, resolveChown(dir, chown));
      } else if (!from_image) {
        owner = builder::CopyOwner{};
      }
      Status cp = builder::executeCopy(plan, dir, owner, chmod);
      StatusOr<image::ImageStore::Layer> layer = cp.ok() ? commitDirectory(ctx_, dir, st.image) : cp;
      std::filesystem::remove_all(dir, ec);
      if (!layer.ok()) return layer.status();
      return commitImage(st, probe, key, *layer, "", joined(cmd));
    }
    // A container that never starts: its writable layer takes the files.
    return layerStep(st, probe, key, cmd, [&](const std::string& rootfs) -> Status {
      std::optional<builder::CopyOwner> owner;
      if (!chown.empty()) {
        ARCA_ASSIGN_OR_RETURN(owner, resolveChown(rootfs, chown));
      } else if (!from_image) {
        owner = builder::CopyOwner{};
      }
      return builder::executeCopy(plan, rootfs, owner, chmod);
    });
  };
  if (!from_image) return plan_and_copy(context_);
  if (from_image->id().empty()) {
    // COPY --from a scratch stage: an empty root.
    tmp_root = context_ + ".from-scratch";
    std::error_code ec;
    std::filesystem::create_directories(tmp_root, ec);
    Status s = plan_and_copy(tmp_root);
    std::filesystem::remove_all(tmp_root, ec);
    return s;
  }
  ARCA_ASSIGN_OR_RETURN(auto src_lowers, lowersOf(*from_image));
  const std::string view_id = ctx_.engine->ids()->newId();
  Status s = ctx_.driver->withRootfs(view_id, src_lowers,
                                     [&](const std::string& rootfs) { return plan_and_copy(rootfs); });
  Status r = ctx_.driver->remove(view_id);
  if (!r.ok()) spdlog::warn("build: removing the view {}: {}", view_id.substr(0, 12), r.toString());
  return s;
}

Status Build::layerStep(Stage& st, const Value& probe, const std::string& key,
                        const std::vector<std::string>& cmd,
                        const std::function<Status(const std::string& rootfs)>& write) {
  ARCA_ASSIGN_OR_RETURN(std::string cid, createContainer(st, cmd, {}));
  auto lowers = lowersOf(st.image);
  Status s = lowers.ok() ? ctx_.driver->withRootfs(cid, *lowers, write) : lowers.status();
  image::ImageStore::Layer layer;
  if (s.ok()) {
    auto l = commitLayer(ctx_, cid, cid.substr(0, 12), *lowers, st.image);
    if (l.ok()) {
      layer = *l;
    } else {
      s = l.status();
    }
  }
  if (s.ok()) s = commitImage(st, probe, key, layer, cid, joined(cmd));
  Status rm = removeContainer(cid);
  if (!rm.ok()) spdlog::warn("build: removing {}: {}", cid.substr(0, 12), rm.toString());
  return s;
}

Status Build::workdir(Stage& st, const Instruction& ins) {
  ARCA_ASSIGN_OR_RETURN(std::string dir, expand(st, ins, ins.value));
  if (dir.empty()) return InvalidArgument("cannot normalize nothing");
  if (dir[0] != '/') {
    std::string joined_path = getString(st.config, "WorkingDir") + "/" + dir;
    dir = builder::cleanPath("/" + joined_path);
  }
  auto& a = st.config.GetAllocator();
  setValue(st.config, "WorkingDir", str(dir, a), a);
  if (st.image.id().empty()) return commitMetadata(st, "WORKDIR " + dir, true);
  std::vector<std::string> cmd = shellOf(st);
  cmd.push_back("#(nop) WORKDIR " + dir);
  rapidjson::Document probe = probeConfig(st, cmd, false);
  std::string key;
  if (useCache(st, probe, &key)) return Status::Ok();
  return layerStep(st, probe, key, cmd, [&](const std::string& rootfs) -> Status {
    ARCA_ASSIGN_OR_RETURN(runtime::RootDir root, runtime::RootDir::open(rootfs));
    std::string path;
    size_t i = 1;
    while (i <= dir.size()) {
      size_t j = dir.find('/', i);
      if (j == std::string::npos) j = dir.size();
      if (j > i) {
        path += "/" + dir.substr(i, j - i);
        int fd = root.openAt(path, O_PATH | O_DIRECTORY);
        if (fd >= 0) {
          ::close(fd);
        } else {
          int parent = root.openAt(path.substr(0, path.rfind('/')).empty() ? "/" : path.substr(0, path.rfind('/')),
                                   O_PATH | O_DIRECTORY);
          if (parent < 0) return InvalidArgument("mkdir " + path + ": not a directory");
          std::string leaf = path.substr(path.rfind('/') + 1);
          int rc = ::mkdirat(parent, leaf.c_str(), 0755);
          ::close(parent);
          if (rc != 0 && errno != EEXIST) return Internal("mkdir " + path + ": " + std::strerror(errno));
        }
      }
      i = j + 1;
    }
    return Status::Ok();
  });
}

Status Build::dispatch(Stage& st, const Instruction& ins) {
  checkCancelled();
  switch (ins.kind) {
    case InstructionKind::kRun:
      return runStep(st, ins);
    case InstructionKind::kCopy:
    case InstructionKind::kAdd:
      return copyStep(st, ins);
    case InstructionKind::kWorkdir:
      return workdir(st, ins);
    case InstructionKind::kFrom:
      return InvalidArgument("*instructions.Stage is not a command type");
    case InstructionKind::kUnknown:
      return InvalidArgument("unknown instruction: " + ins.keyword);
    default:
      return metadata(st, ins);
  }
}

Status Build::run(const builder::Dockerfile& df, std::string* image_id) {
  escape_ = df.escape;
  for (const auto& [k, v] : req_.build_args) base_args_.options[k] = v;
  ARCA_ASSIGN_OR_RETURN(auto steps, builder::targetInstructions(df, req_.target));
  total_ = static_cast<int>(steps.size());
  Stage* st = nullptr;
  for (const Instruction* ins : steps) {
    ++step_;
    out_.step(step_, total_, ins->code);
    if (ins->kind == InstructionKind::kFrom) {
      if (st && st->has_image) out_.stageImage(st->image.id());
      stages_.push_back(std::make_unique<Stage>());
      st = stages_.back().get();
      st->name = ins->stage_name;
      ARCA_RETURN_IF_ERROR(from(*st, *ins));
      buildsInFlight().set(this, stages_.size(), st->image.id());
      out_.imageId(st->image.id());
      continue;
    }
    if (!st) {
      // A meta ARG (before the first FROM).
      builder::ShellEnv env;
      for (const auto& [k, v] : base_args_.allAllowed()) env.env.push_back(k + "=" + v);
      builder::ShellLex lex(escape_);
      for (const auto& kv : ins->pairs) {
        ARCA_ASSIGN_OR_RETURN(std::string k, lex.processWord(kv.key, env));
        std::optional<std::string> v;
        if (kv.has_value) {
          ARCA_ASSIGN_OR_RETURN(std::string x, lex.processWord(kv.value, env));
          v = x;
        }
        base_args_.add(k, v);
        base_args_.meta[k] = v;
      }
      continue;
    }
    ARCA_RETURN_IF_ERROR(dispatch(*st, *ins));
    buildsInFlight().set(this, stages_.size(), st->image.id());
    out_.imageId(st->image.id());
  }
  if (!st || st->image.id().empty()) {
    return InvalidArgument("No image was generated. Is your Dockerfile empty?");
  }
  out_.stageImage(st->image.id());
  auto unused = base_args_.unused();
  // Stages' ARGs count as referenced too.
  std::set<std::string> referenced = base_args_.referenced;
  for (const auto& s : stages_) referenced.insert(s->args.referenced.begin(), s->args.referenced.end());
  std::vector<std::string> left;
  for (const auto& k : unused) {
    if (!referenced.count(k)) left.push_back(k);
  }
  if (!left.empty()) out_.unusedBuildArgs(left);
  *image_id = st->image.id();
  return Status::Ok();
}

void Build::cleanup(bool failed) {
  if (!failed || !req_.force_remove) return;
  for (const auto& id : failed_containers_) {
    Status rm = removeContainer(id);
    if (rm.ok()) {
      out_.removedIntermediate(id);
    } else {
      out_.removeIntermediateFailed(id, rm.message());
    }
  }
}

// ---------------------------------------------------------------------------
// The handler

struct TempDir {
  std::string path;
  ~TempDir() {
    if (path.empty()) return;
    std::error_code ec;
    // Make everything removable (a context may hold read-only directories).
    for (auto it = std::filesystem::recursive_directory_iterator(
             path, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
    }
    std::filesystem::remove_all(path, ec);
  }
};

std::string fixedDockerfilePath(const std::string& name) {
  std::string p = name;
  while (!p.empty() && p[0] == '/') p.erase(p.begin());
  if (p.rfind("./", 0) == 0) p = p.substr(2);
  return p;
}

void postBuild(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto parsed = parseBuildRequest(req, false);
  if (!parsed.ok()) return sendError(w, parsed.status());
  const BuildRequest& br = *parsed;
  const bool want_aux = compareVersions(req.apiVersion().empty() ? kApiVersion : req.apiVersion(), "1.30") >= 0;

  // The context.
  const std::string tmp = ctx.data_root + "/tmp";
  ::mkdir(tmp.c_str(), 0700);
  std::string tmpl = tmp + "/build-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return sendError(w, Internal("mkdtemp " + tmpl + ": " + std::strerror(errno)));
  TempDir work{tmpl};
  const std::string context = work.path + "/context";
  ::mkdir(context.c_str(), 0755);
  {
    image::UnpackOptions o;
    o.overlay_whiteouts = false;
    o.noun = "tar";
    // The docker CLI's `-f -` context (its tar rewriter appends the
    // Dockerfile and .dockerignore) ends without the last entry's padding
    // and the end-of-archive blocks; Go's reader takes that, so dockerd does.
    // A plain tar gets them added at the end of the body.
    int64_t total = 0;
    int pad = -1;  // -1: not decided (compressed bodies get none)
    bool plain = true;
    auto in = [&](char* buf, size_t len) -> long {
      if (pad >= 0) {
        size_t n = std::min(len, static_cast<size_t>(pad));
        std::memset(buf, 0, n);
        pad -= static_cast<int>(n);
        return static_cast<long>(n);
      }
      long n = req.read(buf, len);
      if (n > 0) {
        if (total == 0) {
          const auto* b = reinterpret_cast<const unsigned char*>(buf);
          plain = !((n >= 2 && b[0] == 0x1f && b[1] == 0x8b) || (n >= 3 && std::memcmp(buf, "BZh", 3) == 0) ||
                    (n >= 6 && std::memcmp(buf, "\xfd" "7zXZ", 5) == 0) ||
                    (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd));
        }
        total += n;
        return n;
      }
      if (n == 0 && plain && total > 0 && pad < 0) {
        pad = static_cast<int>((512 - total % 512) % 512) + 1024;
        return 0 + [&] {
          size_t k = std::min(len, static_cast<size_t>(pad));
          std::memset(buf, 0, k);
          pad -= static_cast<int>(k);
          return static_cast<long>(k);
        }();
      }
      return n;
    };
    auto n = image::unpackTar(in, context, o);
    if (!n.ok()) {
      char drain[65536];
      while (req.read(drain, sizeof drain) > 0) {
      }
      return sendError(w, InvalidArgument("failed to read the build context: " + n.status().message()));
    }
  }

  bool stream_started = false;
  BuildOutput out(
      [&](std::string_view msg) {
        if (!stream_started) {
          w.startStream(200, "application/json");
          stream_started = true;
        }
        return w.write(msg);
      },
      br.quiet, want_aux);
  auto fail = [&](const Status& st, int code = 0) {
    if (!out.fail(st.message(), code) && !out.streaming()) sendError(w, st);
    if (stream_started) w.end();
  };

  // The Dockerfile.
  const std::string df_path = fixedDockerfilePath(br.dockerfile);
  std::optional<std::string> text;
  {
    auto root = runtime::RootDir::open(context);
    if (!root.ok()) return fail(root.status());
    text = root->readFile("/" + df_path);
    if (!text && br.dockerfile == "Dockerfile") text = root->readFile("/dockerfile");
    if (!text) return fail(NotFound("Cannot locate specified Dockerfile: " + br.dockerfile));
    // .dockerignore: dockerd removes it and the Dockerfile when they are excluded.
    if (auto ign = root->readFile("/.dockerignore")) {
      auto patterns = builder::parseDockerignore(*ign);
      if (patterns.ok()) {
        for (const auto& f : builder::contextFilesToRemove(*patterns, br.dockerfile)) {
          // Resolved inside the context: a symlinked directory in the
          // client's tar never leads the removal out of it.
          std::string clean = builder::cleanPath("/" + f);
          auto slash = clean.rfind('/');
          if (clean == "/" || slash == std::string::npos) continue;
          int dir = root->openAt(slash == 0 ? "/" : clean.substr(0, slash), O_PATH | O_DIRECTORY);
          if (dir < 0) continue;
          const std::string leaf = clean.substr(slash + 1);
          if (::unlinkat(dir, leaf.c_str(), 0) != 0 && errno == EISDIR) {
            (void)::unlinkat(dir, leaf.c_str(), AT_REMOVEDIR);
          }
          ::close(dir);
        }
      }
    }
  }
  int line = 0;
  auto df = builder::parseDockerfile(*text, br.dockerfile, &line);
  if (!df.ok()) return fail(df.status());
  for (const auto& warning : df->warnings) out.stderrChunk(warning + "\n");
  // dockerd: duplicate stage names.
  {
    std::set<std::string> names;
    for (const auto& s : df->stages) {
      if (s.name.empty()) continue;
      if (!names.insert(s.name).second) {
        return fail(InvalidArgument("dockerfile parse error line " + std::to_string(s.from.start_line) +
                                    ": duplicate name " + s.name));
      }
    }
  }
  // --label: LABEL instructions at the end of the target stage.
  if (!br.labels.empty()) {
    auto target = builder::targetStageIndex(*df, br.target);
    if (!target.ok()) return fail(target.status());
    if (*target >= 0) {
      for (const auto& [k, v] : br.labels) df->stages[*target].commands.push_back(builder::labelOption(k, v));
    }
  }

  ImageTransfer transfer(ctx);  // GC never sees a step's layer before its image is recorded
  Build build(ctx, br, out, w, context);
  std::string image_id;
  Status st;
  try {
    st = build.run(*df, &image_id);
  } catch (const BuildCancelled&) {
    build.cleanup(true);
    spdlog::info("build cancelled: the client went away");
    out.cancelled();
    if (stream_started) w.end();
    return;
  }
  if (!st.ok()) {
    build.cleanup(true);
    int code = 0;
    const std::string& m = st.message();
    auto pos = m.rfind("returned a non-zero code: ");
    if (st.code() == Code::kInternal && pos != std::string::npos) code = std::atoi(m.c_str() + pos + 26);
    return fail(st, code);
  }
  // Tags.
  std::vector<v1::Event> tags;
  for (const auto& t : br.tags) {
    v1::Event e;
    e.mutable_image_tagged()->set_id(image_id);
    e.mutable_image_tagged()->set_ref(t.full());
    tags.push_back(std::move(e));
  }
  if (!tags.empty()) ctx.engine->record(std::move(tags));
  out.successfullyBuilt(image_id);
  for (const auto& t : br.tags) out.successfullyTagged(t.familiar());
  out.succeeded(image_id);
  if (stream_started) {
    w.end();
  } else {
    w.startStream(200, "application/json");
    w.end();
  }
}

// ---------------------------------------------------------------------------
// POST /build/prune: the classic builder's cache is its intermediate images
// (untagged images a build made). Those no container uses go, with what
// only they held. Filters: until, label (on the image's labels).

void pruneBuildCache(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::map<std::string, std::vector<std::string>> filters;
  if (!parseFilters(req.queryParam("filters").value_or(""), &filters)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  int64_t until_ns = -1;
  std::vector<std::string> labels;
  for (const auto& [k, vals] : filters) {
    if (k == "until") {
      for (const auto& v : vals) {
        int64_t t = 0;
        if (!parseTimestampOrDuration(v, ctx.engine->clock()->nowNs(), &t)) {
          return sendError(w, InvalidArgument("invalid filter 'until=" + v + "'"));
        }
        until_ns = t;
      }
    } else if (k == "label") {
      labels = std::vector<std::string>(vals.begin(), vals.end());
    } else if (k != "type" && k != "inuse" && k != "shared" && k != "private" && k != "id" &&
               k != "parent" && k != "description") {
      return sendError(w, InvalidArgument("invalid filter '" + k + "'"));
    }
  }
  std::vector<v1::ImageRecord> before;
  std::vector<std::string> deleted;
  std::set<std::string> used;
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    deleted.clear();
    before.clear();
    for (const auto& [id, img] : s.images()) before.push_back(img.record());
    for (const auto& [cid, c] : s.containers()) used.insert(c.image_id());
    std::set<std::string> building = buildsInFlight().images();
    auto matches = [&](const v1::Image& img) {
      if (until_ns >= 0 && img.loaded_ns() >= until_ns) return false;
      auto have = imageLabels(img.record());
      for (const auto& l : labels) {
        auto eq = l.find('=');
        auto it = have.find(l.substr(0, eq));
        if (it == have.end() || (eq != std::string::npos && it->second != l.substr(eq + 1))) return false;
      }
      return true;
    };
    // Untagged images builds made go, from the leaves down (a parent goes
    // once its last child went), unless a container or a build in flight
    // uses them; the cache keys of the built images that stay (tagged ones,
    // parents of images that stay) are cleared: no later step reuses them.
    std::map<std::string, int> children;
    for (const auto& [id, img] : s.images()) {
      if (!img.record().parent().empty()) children[img.record().parent()]++;
    }
    std::set<std::string> gone;
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& [id, img] : s.images()) {
        const auto& r = img.record();
        if (gone.count(id) || r.build_cache_key().empty() || r.repo_tags_size() > 0 ||
            r.repo_digests_size() > 0 || children[id] > 0 || used.count(id) || building.count(id) ||
            !matches(img)) {
          continue;
        }
        v1::Event e;
        e.mutable_image_deleted()->set_id(id);
        out->push_back(std::move(e));
        deleted.push_back(id);
        gone.insert(id);
        if (!r.parent().empty()) children[r.parent()]--;
        changed = true;
      }
    }
    for (const auto& [id, img] : s.images()) {
      if (gone.count(id) || img.record().build_cache_key().empty() || !matches(img)) continue;
      v1::Event e;
      e.mutable_image_cache_cleared()->set_id(id);
      out->push_back(std::move(e));
    }
    return Status::Ok();
  });
  if (!r.ok()) return sendError(w, r.status());
  int64_t reclaimed = 0;
  if (!deleted.empty()) {
    std::vector<v1::ImageRecord> after;
    ctx.engine->read([&](const v1::State& s) {
      for (const auto& [id, img] : s.images()) after.push_back(img.record());
      return 0;
    });
    auto sizes = readLayerSizes(ctx, before);
    reclaimed = layersSize(before, sizes) - layersSize(after, sizes);
    requestImageGc(ctx);
  }
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  j.Key("CachesDeleted");
  if (deleted.empty()) {
    j.Null();
  } else {
    j.StartArray();
    for (const auto& d : deleted) j.String(d.c_str());
    j.EndArray();
  }
  j.Key("SpaceReclaimed");
  j.Int64(reclaimed < 0 ? 0 : reclaimed);
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

}  // namespace

void registerBuildRoutes(Router& r, ApiContext& ctx) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)curl_ready;
  r.add("POST", "/build", [&ctx](Request& q, ResponseWriter& w) { postBuild(ctx, q, w); });
  r.add("POST", "/build/prune", [&ctx](Request& q, ResponseWriter& w) { pruneBuildCache(ctx, q, w); });
}

}  // namespace arca::api
