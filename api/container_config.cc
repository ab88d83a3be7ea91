#include "api/container_config.h"

#include <algorithm>
#include <set>

#include "api/container_resources.h"
#include "api/json.h"
#include "api/mount_config.h"
#include "runtime/sandbox_driver.h"
#include "api/network_config.h"
#include "engine/log_options.h"
#include "engine/restart_policy.h"

namespace arca::api {

Status parseHealthcheck(const rapidjson::Value& config, v1::Healthcheck* out) {
  auto hc = config.FindMember("Healthcheck");
  if (hc == config.MemberEnd() || hc->value.IsNull()) return Status::Ok();
  if (!hc->value.IsObject()) return InvalidArgument("invalid type for Healthcheck");
  const auto& h = hc->value;
  bool te = false;
  if (auto v = getStrings(h, "Test", &te)) {
    for (auto& t : *v) out->add_test(t);
  }
  struct Dur {
    const char* key;
    void (v1::Healthcheck::*set)(int64_t);
  };
  for (const Dur& d : {Dur{"Interval", &v1::Healthcheck::set_interval_ns},
                       Dur{"Timeout", &v1::Healthcheck::set_timeout_ns},
                       Dur{"StartPeriod", &v1::Healthcheck::set_start_period_ns},
                       Dur{"StartInterval", &v1::Healthcheck::set_start_interval_ns}}) {
    auto v = getInt(h, d.key, &te);
    if (!v) continue;
    // moby: 0 means "inherit", otherwise at least 1ms.
    if (*v != 0 && *v < 1000000) {
      return InvalidArgument(std::string(d.key) + " in Healthcheck cannot be less than 1ms");
    }
    (out->*d.set)(*v);
  }
  if (auto v = getInt(h, "Retries", &te)) {
    if (*v < 0) return InvalidArgument("Retries in Healthcheck cannot be negative");
    out->set_retries(static_cast<int32_t>(*v));
  }
  if (te) return InvalidArgument("invalid type in Healthcheck");
  if (out->test_size() > 0) {
    const std::string& kind = out->test(0);
    if (kind != "NONE" && kind != "CMD" && kind != "CMD-SHELL") {
      return InvalidArgument("unknown Healthcheck type: " + kind);
    }
    if (kind != "NONE" && out->test_size() < 2) {
      return InvalidArgument("Healthcheck " + kind + " needs a command");
    }
  }
  return Status::Ok();
}

bool knownRuntime(const std::string& name) {
  return name == "runc" || name == "crun" || name == "arca" || name == "io.containerd.runc.v2" ||
         name == runtime::kVmRuntime;
}

StatusOr<engine::CreateContainer> parseCreateContainer(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  if (d.HasParseError() || !d.IsObject()) {
    return InvalidArgument("invalid JSON body for container create");
  }
  engine::CreateContainer cmd;
  auto& c = cmd.config;
  bool te = false;
  if (auto v = getString(d, "Hostname", &te)) c.set_hostname(*v);
  if (auto v = getString(d, "Domainname", &te)) c.set_domainname(*v);
  if (auto v = getString(d, "User", &te)) c.set_user(*v);
  if (auto v = getBool(d, "AttachStdin", &te)) c.set_attach_stdin(*v);
  if (auto v = getBool(d, "AttachStdout", &te)) c.set_attach_stdout(*v);
  if (auto v = getBool(d, "AttachStderr", &te)) c.set_attach_stderr(*v);
  if (auto v = getBool(d, "Tty", &te)) c.set_tty(*v);
  if (auto v = getBool(d, "OpenStdin", &te)) c.set_open_stdin(*v);
  if (auto v = getBool(d, "StdinOnce", &te)) c.set_stdin_once(*v);
  if (auto v = getStrings(d, "Env", &te)) {
    for (auto& e : *v) c.add_env(e);
  }
  if (auto v = getStrings(d, "Cmd", &te)) {
    c.set_cmd_set(true);
    for (auto& e : *v) c.add_cmd(e);
  }
  if (auto v = getStrings(d, "Entrypoint", &te)) {
    c.set_entrypoint_set(true);
    for (auto& e : *v) c.add_entrypoint(e);
  }
  if (auto v = getString(d, "Image", &te)) c.set_image(*v);
  if (auto v = getString(d, "WorkingDir", &te)) c.set_working_dir(*v);
  if (auto v = getStringMap(d, "Labels", &te)) {
    for (auto& [k, val] : *v) (*c.mutable_labels())[k] = val;
  }
  if (auto v = getString(d, "StopSignal", &te)) c.set_stop_signal(*v);
  if (auto v = getInt(d, "StopTimeout", &te)) {
    c.set_has_stop_timeout(true);
    c.set_stop_timeout(static_cast<int32_t>(*v));
  }
  if (auto v = getBool(d, "NetworkDisabled", &te)) c.set_network_disabled(*v);
  auto ep = d.FindMember("ExposedPorts");
  if (ep != d.MemberEnd() && ep->value.IsObject()) {
    for (const auto& m : ep->value.GetObject()) c.add_exposed_ports(m.name.GetString());
  }
  auto vol = d.FindMember("Volumes");
  if (vol != d.MemberEnd() && vol->value.IsObject()) {
    // issue #6: anonymous volumes (`-v /path`); the image's are merged later.
    for (const auto& m : vol->value.GetObject()) {
      std::string path = m.name.GetString();
      if (path.empty() || path[0] != '/') {
        return InvalidArgument("invalid mount config for type \"volume\": invalid mount path: '" +
                               path + "' mount path must be absolute");
      }
      std::string clean = cleanAbsolutePath(path);
      if (clean == "/") return InvalidArgument("invalid specification: destination can't be '/'");
      if (std::find(c.volumes().begin(), c.volumes().end(), clean) == c.volumes().end()) {
        c.add_volumes(clean);
      }
    }
  }
  if (te) return InvalidArgument("invalid type in container config");
  if (Status st = parseHealthcheck(d, c.mutable_healthcheck()); !st.ok()) return st;
  if (c.image().empty()) return InvalidArgument("no image specified");
  if (c.has_stop_timeout() && c.stop_timeout() < -1) {
    return InvalidArgument("invalid stop timeout");
  }

  auto& h = *cmd.host_config.mutable_restart_policy();
  (void)h;
  auto hc = d.FindMember("HostConfig");
  if (hc != d.MemberEnd() && hc->value.IsObject()) {
    const auto& H = hc->value;
    if (auto v = getBool(H, "AutoRemove", &te)) cmd.host_config.set_auto_remove(*v);
    if (auto v = getString(H, "Runtime", &te)) cmd.host_config.set_runtime(*v);
    if (auto v = getBool(H, "ReadonlyRootfs", &te)) cmd.host_config.set_readonly_rootfs(*v);
    auto rp = H.FindMember("RestartPolicy");
    if (rp != H.MemberEnd() && rp->value.IsObject()) {
      // Restart policies (lifecycle): Docker's checks; AutoRemove is parsed above.
      auto* policy = cmd.host_config.mutable_restart_policy();
      policy->set_name(getString(rp->value, "Name", &te).value_or(""));
      policy->set_maximum_retry_count(
          static_cast<int32_t>(getInt(rp->value, "MaximumRetryCount", &te).value_or(0)));
      Status valid = engine::validateRestartPolicy(cmd.host_config);
      if (!valid.ok()) return valid;
    }
    auto cs = H.FindMember("ConsoleSize");
    if (cs != H.MemberEnd() && cs->value.IsArray()) {
      for (const auto& x : cs->value.GetArray()) {
        if (x.IsInt()) cmd.host_config.add_console_size(x.GetInt());
      }
    }
    auto lc = H.FindMember("LogConfig");
    if (lc != H.MemberEnd() && lc->value.IsObject()) {
      std::string type = getString(lc->value, "Type", &te).value_or("");
      if (!type.empty() && type != "json-file") {
        return InvalidArgument("logging driver \"" + type +
                               "\" is not supported yet by arca: only json-file");
      }
      if (auto cfg = getStringMap(lc->value, "Config", &te)) {
        // json-file rotation (lifecycle): keys checked now, values at start as dockerd does.
        Status valid = engine::validateLogOptions(*cfg);
        if (!valid.ok()) return valid;
        for (auto& [k, v] : *cfg) (*cmd.host_config.mutable_log_config())[k] = v;
      }
    }
    // Options with effects this engine does not implement yet: refuse clearly.
    ARCA_RETURN_IF_ERROR(parseContainerMounts(H, &cmd.host_config));  // issue #6
    static const char* kUnsupported[] = {
        "DeviceRequests", "IpcMode", "PidMode", "UTSMode", "UsernsMode",
        "VolumeDriver", "StorageOpt", "Isolation"};
    // Resources and security options: api/container_resources.cc.
    ARCA_RETURN_IF_ERROR(parseHostResources(H, &cmd.host_config));
    for (const char* k : kUnsupported) {
      auto it = H.FindMember(k);
      if (it == H.MemberEnd() || !nonDefault(it->value)) continue;
      if (std::string(k) == "IpcMode" && it->value.IsString() &&
          (std::string(it->value.GetString()) == "private" ||
           std::string(it->value.GetString()) == "shareable")) {
        continue;
      }
      if ((std::string(k) == "CgroupnsMode" || std::string(k) == "Isolation") && it->value.IsString() &&
          std::string(it->value.GetString()) == "default") {
        continue;
      }
      if (std::string(k) == "VolumeDriver" && it->value.IsString()) {
        if (std::string(it->value.GetString()) == "local") continue;
        return NotFound(std::string("plugin \"") + it->value.GetString() + "\" not found");
      }
      return InvalidArgument(std::string("HostConfig.") + k +
                             " is not supported yet by arca (see docs/LIMITATIONS.md)");
    }
  }
  if (te) return InvalidArgument("invalid type in HostConfig");
  if (!cmd.host_config.runtime().empty() && !knownRuntime(cmd.host_config.runtime())) {
    return InvalidArgument("unknown or invalid runtime name: " + cmd.host_config.runtime());
  }
  ARCA_RETURN_IF_ERROR(parseContainerNetworking(
      d, (hc != d.MemberEnd() && hc->value.IsObject()) ? &hc->value : nullptr, &cmd));
  cmd.host_config.set_log_type("json-file");
  return cmd;  // an empty Runtime becomes the daemon's default (createFromCommand)
}

Status mergeImageConfig(v1::ContainerConfig* c, const std::string& image_config_json) {
  rapidjson::Document d;
  d.Parse(image_config_json.c_str(), image_config_json.size());
  if (d.HasParseError() || !d.IsObject()) return InvalidArgument("image config is not valid JSON");
  auto cfgIt = d.FindMember("config");
  if (cfgIt == d.MemberEnd() || !cfgIt->value.IsObject()) return Status::Ok();
  const auto& ic = cfgIt->value;
  bool te = false;
  // Env: image first, container values override by key.
  if (auto env = getStrings(ic, "Env", &te)) {
    std::vector<std::string> merged = *env;
    for (const auto& kv : c->env()) {
      std::string key = kv.substr(0, kv.find('='));
      bool replaced = false;
      for (auto& m : merged) {
        if (m.substr(0, m.find('=')) == key) {
          m = kv;
          replaced = true;
        }
      }
      if (!replaced) merged.push_back(kv);
    }
    c->clear_env();
    for (auto& e : merged) c->add_env(e);
  }
  // Cmd / Entrypoint: an Entrypoint given at create time drops the image's Cmd.
  if (!c->entrypoint_set()) {
    if (auto ep = getStrings(ic, "Entrypoint", &te)) {
      for (auto& e : *ep) c->add_entrypoint(e);
    }
    if (!c->cmd_set() || c->cmd_size() == 0) {
      c->clear_cmd();
      if (auto cmd = getStrings(ic, "Cmd", &te)) {
        for (auto& e : *cmd) c->add_cmd(e);
      }
    }
  }
  // Healthcheck: the image's fills what the container left unset.
  v1::Healthcheck image_hc;
  if (parseHealthcheck(ic, &image_hc).ok()) {
    auto* hc = c->mutable_healthcheck();
    if (hc->test_size() == 0) *hc->mutable_test() = image_hc.test();
    if (hc->interval_ns() == 0) hc->set_interval_ns(image_hc.interval_ns());
    if (hc->timeout_ns() == 0) hc->set_timeout_ns(image_hc.timeout_ns());
    if (hc->start_period_ns() == 0) hc->set_start_period_ns(image_hc.start_period_ns());
    if (hc->start_interval_ns() == 0) hc->set_start_interval_ns(image_hc.start_interval_ns());
    if (hc->retries() == 0) hc->set_retries(image_hc.retries());
    if (hc->ByteSizeLong() == 0) c->clear_healthcheck();
  }
  if (c->working_dir().empty()) c->set_working_dir(getString(ic, "WorkingDir", &te).value_or(""));
  if (c->user().empty()) c->set_user(getString(ic, "User", &te).value_or(""));
  if (c->stop_signal().empty()) c->set_stop_signal(getString(ic, "StopSignal", &te).value_or(""));
  if (auto labels = getStringMap(ic, "Labels", &te)) {
    for (auto& [k, v] : *labels) {
      if (!c->labels().count(k)) (*c->mutable_labels())[k] = v;
    }
  }
  auto iv = ic.FindMember("Volumes");  // issue #6: the image's VOLUMEs
  if (iv != ic.MemberEnd() && iv->value.IsObject()) {
    for (const auto& m : iv->value.GetObject()) {
      std::string clean = cleanAbsolutePath(m.name.GetString());
      if (clean.empty() || clean == "/") continue;
      if (std::find(c->volumes().begin(), c->volumes().end(), clean) == c->volumes().end()) {
        c->add_volumes(clean);
      }
    }
  }
  auto ep = ic.FindMember("ExposedPorts");
  if (ep != ic.MemberEnd() && ep->value.IsObject()) {
    std::set<std::string> have(c->exposed_ports().begin(), c->exposed_ports().end());
    for (const auto& m : ep->value.GetObject()) {
      if (!have.count(m.name.GetString())) c->add_exposed_ports(m.name.GetString());
    }
  }
  return Status::Ok();
}

}  // namespace arca::api
