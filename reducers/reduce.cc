#include "reducers/reduce.h"

#include <algorithm>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace arca::reducers {
namespace {

using v1::Event;

v1::Container* findContainer(v1::State& s, const std::string& id) {
  auto it = s.mutable_containers()->find(id);
  return it == s.mutable_containers()->end() ? nullptr : &it->second;
}

void removeTagFromImage(v1::State& s, const std::string& ref) {
  auto t = s.tags().find(ref);
  if (t == s.tags().end()) return;
  auto img = s.mutable_images()->find(t->second);
  if (img != s.mutable_images()->end()) {
    auto* tags = img->second.mutable_record()->mutable_repo_tags();
    tags->erase(std::remove(tags->begin(), tags->end(), ref), tags->end());
  }
  s.mutable_tags()->erase(ref);
}

// Points `ref` at image `id`, taking it away from any other image.
void tagImage(v1::State& s, const std::string& id, const std::string& ref) {
  auto img = s.mutable_images()->find(id);
  if (img == s.mutable_images()->end()) return;
  auto t = s.tags().find(ref);
  if (t != s.tags().end() && t->second == id) return;
  removeTagFromImage(s, ref);
  img->second.mutable_record()->add_repo_tags(ref);
  (*s.mutable_tags())[ref] = id;
}

// Records the repo digest "<name>@sha256:..." on image `id` (a digest names one image).
void addRepoDigest(v1::State& s, const std::string& id, const std::string& digest_ref) {
  auto img = s.mutable_images()->find(id);
  if (img == s.mutable_images()->end() || digest_ref.empty()) return;
  for (auto& [other_id, other] : *s.mutable_images()) {
    if (other_id == id) continue;
    auto* d = other.mutable_record()->mutable_repo_digests();
    d->erase(std::remove(d->begin(), d->end(), digest_ref), d->end());
  }
  const auto& have = img->second.record().repo_digests();
  if (std::find(have.begin(), have.end(), digest_ref) == have.end()) {
    img->second.mutable_record()->add_repo_digests(digest_ref);
  }
}

// An image the store now holds (load, pull, import, commit), with its tags.
void addImage(v1::State& s, const v1::ImageRecord& rec, int64_t time_ns) {
  auto it = s.mutable_images()->find(rec.id());
  if (it == s.mutable_images()->end()) {
    v1::Image img;
    *img.mutable_record() = rec;
    img.mutable_record()->clear_repo_tags();
    img.mutable_record()->clear_repo_digests();
    img.set_loaded_ns(time_ns);
    (*s.mutable_images())[rec.id()] = std::move(img);
  }
  for (const auto& ref : rec.repo_tags()) tagImage(s, rec.id(), ref);
  for (const auto& d : rec.repo_digests()) addRepoDigest(s, rec.id(), d);
}

void reduceContainer(v1::State& s, const v1::Envelope& env) {
  const Event& e = env.event();
  switch (e.kind_case()) {
    case Event::kContainerCreated: {
      const auto& ev = e.container_created();
      v1::Container c;
      c.set_id(ev.id());
      c.set_name(ev.name());
      c.set_image_id(ev.image_id());
      *c.mutable_config() = ev.config();
      *c.mutable_host_config() = ev.host_config();
      c.set_path(ev.path());
      *c.mutable_args() = ev.args();
      c.set_created_ns(env.time_ns());
      c.set_created_seq(env.seq());
      c.set_status("created");
      c.set_platform(ev.platform());
      (*s.mutable_containers())[ev.id()] = std::move(c);
      (*s.mutable_names())[ev.name()] = ev.id();
      break;
    }
    case Event::kContainerStartRequested: {
      auto* c = findContainer(s, e.container_start_requested().id());
      if (!c) break;
      c->set_start_requests(c->start_requests() + 1);
      if (c->status() != "restarting") {
        // A user's start (not the restart policy's): Docker's fresh restart manager.
        c->set_restart_count(0);
        c->set_restart_delay_ms(0);
        c->set_manually_stopped(false);
        c->set_restart_cancelled(false);
      }
      c->set_start_pending(true);
      c->set_stop_requested(false);
      c->set_restarting_by_request(false);
      break;
    }
    case Event::kContainerStarted: {
      const auto& ev = e.container_started();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      c->set_status("running");
      c->set_pid(ev.pid());
      c->set_started_ns(env.time_ns());
      {
        const auto& test = c->config().healthcheck().test();
        bool checked = !test.empty() && test[0] != "NONE";
        c->set_health_status(checked ? "starting" : "");
        c->set_health_failing_streak(0);
      }
      c->set_exit_code(0);
      c->set_error("");
      c->set_oom_killed(false);
      c->set_start_count(c->start_count() + 1);
      c->set_start_pending(false);
      c->set_start_outcome_seq(ev.request_seq());
      c->set_paused(false);
      *c->mutable_ports() = ev.ports();  // issue #5: as the helper bound them
      break;
    }
    case Event::kContainerStartFailed: {
      const auto& ev = e.container_start_failed();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      // Docker leaves a never-started container "created" and records the error.
      c->set_status(c->start_count() == 0 ? "created" : "exited");
      c->set_pid(0);
      c->set_exit_code(ev.exit_code());
      c->set_error(ev.message());
      c->set_start_pending(false);
      c->set_exit_count(c->exit_count() + 1);
      c->set_start_outcome_seq(ev.request_seq());
      if (c->start_count() > 0) c->set_finished_ns(env.time_ns());
      break;
    }
    case Event::kContainerStopRequested: {
      auto* c = findContainer(s, e.container_stop_requested().id());
      if (c) {
        c->set_manually_stopped(true);
        c->set_restart_cancelled(true);
        if (c->status() == "restarting") {  // the pending restart is abandoned
          c->set_status("exited");
          break;
        }
        c->set_stop_requested(true);
        c->set_restarting_by_request(e.container_stop_requested().restart());
      }
      break;
    }
    case Event::kContainerKillRequested:
      break;  // intent only; the outcome (ContainerSignaled) updates State
    case Event::kContainerSignaled: {
      const auto& ev = e.container_signaled();
      auto* c = findContainer(s, ev.id());
      if (!c || ev.request_seq() == 0) break;
      c->set_signal_outcome_seq(ev.request_seq());
      c->set_signal_error(ev.error());
      break;
    }
    case Event::kContainerExited: {
      const auto& ev = e.container_exited();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      c->set_status("exited");
      c->set_pid(0);
      c->set_exit_code(ev.exit_code());
      c->set_oom_killed(ev.oom_killed());
      c->set_error(ev.error());
      c->set_finished_ns(env.time_ns());
      c->set_exit_count(c->exit_count() + 1);
      c->set_stop_requested(false);
      c->set_start_pending(false);
      // The sandbox is gone, and with it every exec still running in it.
      for (auto& [xid, x] : *s.mutable_execs()) {
        if (x.config().container_id() == c->id() && x.running()) {
          x.set_running(false);
          x.set_pid(0);
        }
      }
      c->set_paused(false);
      c->clear_ports();  // unpublished with the sandbox
      break;
    }
    case Event::kContainerReattached: {
      const auto& ev = e.container_reattached();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      c->set_status("running");
      c->set_pid(ev.pid());
      break;
    }
    case Event::kContainerRemovalStarted: {
      auto* c = findContainer(s, e.container_removal_started().id());
      if (c) {
        c->set_status("removing");
        c->set_remove_volumes(e.container_removal_started().remove_volumes());
      }
      break;
    }
    case Event::kContainerRemoved: {
      const auto& id = e.container_removed().id();
      auto it = s.mutable_containers()->find(id);
      if (it == s.mutable_containers()->end()) break;
      for (auto x = s.mutable_execs()->begin(); x != s.mutable_execs()->end();) {
        x = x->second.config().container_id() == id ? s.mutable_execs()->erase(x) : std::next(x);
      }
      // Its addresses go back to their networks' pools (issue #5).
      for (const auto& [nid, ep] : it->second.endpoints()) {
        auto pool = s.mutable_ipam()->find(nid);
        if (pool != s.mutable_ipam()->end()) pool->second.mutable_allocated()->erase(ep.ipv4_address());
      }
      auto n = s.mutable_names()->find(it->second.name());
      if (n != s.mutable_names()->end() && n->second == id) s.mutable_names()->erase(n);
      s.mutable_containers()->erase(it);
      break;
    }
    case Event::kContainerCommitted:
      addImage(s, e.container_committed().image(), env.time_ns());
      break;
    // --- issue #4: pause/unpause ---
    case Event::kContainerPaused: {
      auto* c = findContainer(s, e.container_paused().id());
      if (c && c->status() == "running") c->set_paused(true);
      break;
    }
    case Event::kContainerUnpaused: {
      auto* c = findContainer(s, e.container_unpaused().id());
      if (c) c->set_paused(false);
      break;
    }
    case Event::kContainerRenamed: {
      const auto& ev = e.container_renamed();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      s.mutable_names()->erase(c->name());
      c->set_name(ev.new_name());
      (*s.mutable_names())[ev.new_name()] = ev.id();
      break;
    }
    case Event::kContainerUpdated: {
      // docker update: the event carries the complete new values of the
      // updatable fields; everything else of host_config stays.
      const auto& ev = e.container_updated();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      const auto& from = ev.host_config();
      auto* to = c->mutable_host_config();
      to->set_memory(from.memory());
      to->set_memory_swap(from.memory_swap());
      to->set_memory_reservation(from.memory_reservation());
      to->set_nano_cpus(from.nano_cpus());
      to->set_cpu_shares(from.cpu_shares());
      to->set_cpu_quota(from.cpu_quota());
      to->set_cpu_period(from.cpu_period());
      to->set_cpuset_cpus(from.cpuset_cpus());
      to->set_cpuset_mems(from.cpuset_mems());
      to->set_blkio_weight(from.blkio_weight());
      if (from.has_pids_limit()) {
        to->set_pids_limit(from.pids_limit());
      } else {
        to->clear_pids_limit();
      }
      *to->mutable_restart_policy() = from.restart_policy();
      break;
    }
    case Event::kContainerRestartScheduled: {
      const auto& ev = e.container_restart_scheduled();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      c->set_status("restarting");
      c->set_restart_count(c->restart_count() + 1);
      c->set_restart_delay_ms(ev.delay_ms());
      c->set_restart_due_ns(env.time_ns() + static_cast<int64_t>(ev.delay_ms()) * 1000000);
      break;
    }
    case Event::kContainerStopMarked: {
      const auto& ev = e.container_stop_marked();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      c->set_manually_stopped(true);
      if (ev.cancel_restart()) {
        c->set_restart_cancelled(true);
        if (c->status() == "restarting") c->set_status("exited");
      }
      break;
    }
    default:
      break;
  }
}

void reduceExec(v1::State& s, const v1::Envelope& env) {
  const Event& e = env.event();
  switch (e.kind_case()) {
    case Event::kContainerHealthChanged: {
      const auto& ev = e.container_health_changed();
      auto* c = findContainer(s, ev.id());
      if (!c) break;
      c->set_health_status(ev.status());
      c->set_health_failing_streak(ev.failing_streak());
      break;
    }
    case Event::kExecCreated: {
      v1::Exec x;
      *x.mutable_config() = e.exec_created();
      (*s.mutable_execs())[e.exec_created().exec_id()] = std::move(x);
      break;
    }
    case Event::kExecStarted: {
      auto it = s.mutable_execs()->find(e.exec_started().exec_id());
      if (it == s.mutable_execs()->end()) break;
      it->second.set_started(true);
      it->second.set_running(true);
      it->second.set_pid(e.exec_started().pid());
      break;
    }
    case Event::kExecExited: {
      auto it = s.mutable_execs()->find(e.exec_exited().exec_id());
      if (it == s.mutable_execs()->end()) break;
      it->second.set_started(true);
      it->second.set_running(false);
      it->second.set_pid(0);
      it->second.set_has_exit_code(true);
      it->second.set_exit_code(e.exec_exited().exit_code());
      break;
    }
    default:
      break;
  }
}

void reduceImage(v1::State& s, const v1::Envelope& env) {
  const Event& e = env.event();
  switch (e.kind_case()) {
    case Event::kImageLoaded:
      addImage(s, e.image_loaded().image(), env.time_ns());
      break;
    case Event::kImageBuilt:
      addImage(s, e.image_built().image(), env.time_ns());
      break;
    case Event::kImageCacheCleared: {
      auto it = s.mutable_images()->find(e.image_cache_cleared().id());
      if (it != s.mutable_images()->end()) it->second.mutable_record()->clear_build_cache_key();
      break;
    }
    case Event::kImagePushed: {
      const auto& ev = e.image_pushed();
      std::string name = ev.ref();
      auto colon = name.rfind(':');
      if (colon != std::string::npos && name.find('/', colon) == std::string::npos) name.resize(colon);
      addRepoDigest(s, ev.id(), name + "@" + ev.digest());
      break;
    }
    case Event::kImageTagged:
      tagImage(s, e.image_tagged().id(), e.image_tagged().ref());
      break;
    case Event::kImageUntagged: {
      auto t = s.tags().find(e.image_untagged().ref());
      if (t != s.tags().end() && t->second == e.image_untagged().id()) {
        removeTagFromImage(s, e.image_untagged().ref());
      }
      break;
    }
    case Event::kImageDeleted: {
      const auto& id = e.image_deleted().id();
      auto it = s.mutable_images()->find(id);
      if (it == s.mutable_images()->end()) break;
      for (const auto& ref : it->second.record().repo_tags()) s.mutable_tags()->erase(ref);
      s.mutable_images()->erase(it);
      break;
    }
    default:
      break;
  }
}

void reduceNetworkVolume(v1::State& s, const v1::Envelope& env) {
  const Event& e = env.event();
  switch (e.kind_case()) {
    case Event::kNetworkCreated: {
      const auto& ev = e.network_created();
      v1::Network n;
      n.set_id(ev.id());
      n.set_name(ev.name());
      n.set_driver(ev.driver());
      n.set_scope(ev.scope());
      n.set_internal(ev.internal());
      *n.mutable_labels() = ev.labels();
      n.set_subnet(ev.subnet());
      n.set_gateway(ev.gateway());
      n.set_created_ns(env.time_ns());
      // issue #5 records everything the create decided; older logs (no IPAM
      // driver recorded) fold exactly as they did.
      if (!ev.ipam_driver().empty()) *n.mutable_spec() = ev;
      (*s.mutable_networks())[ev.id()] = std::move(n);
      break;
    }
    case Event::kNetworkConnected: {
      const auto& ev = e.network_connected();
      auto c = s.mutable_containers()->find(ev.container_id());
      if (c == s.mutable_containers()->end()) break;
      const auto& ep = ev.endpoint();
      auto& eps = *c->second.mutable_endpoints();
      auto old = eps.find(ep.network_id());
      auto pool = s.mutable_ipam()->find(ep.network_id());
      if (old != eps.end() && pool != s.mutable_ipam()->end()) {
        pool->second.mutable_allocated()->erase(old->second.ipv4_address());
      }
      eps[ep.network_id()] = ep;
      if (!ep.ipv4_address().empty()) {
        (*(*s.mutable_ipam())[ep.network_id()].mutable_allocated())[ep.ipv4_address()] =
            ev.container_id();
      }
      break;
    }
    case Event::kNetworkDisconnected: {
      const auto& ev = e.network_disconnected();
      auto c = s.mutable_containers()->find(ev.container_id());
      if (c == s.mutable_containers()->end()) break;
      auto& eps = *c->second.mutable_endpoints();
      auto ep = eps.find(ev.network_id());
      if (ep == eps.end()) break;
      auto pool = s.mutable_ipam()->find(ev.network_id());
      if (pool != s.mutable_ipam()->end()) {
        auto a = pool->second.mutable_allocated()->find(ep->second.ipv4_address());
        if (a != pool->second.mutable_allocated()->end() && a->second == ev.container_id()) {
          pool->second.mutable_allocated()->erase(a);
        }
      }
      eps.erase(ep);
      break;
    }
    case Event::kNetworkRemoved:
      s.mutable_networks()->erase(e.network_removed().id());
      s.mutable_ipam()->erase(e.network_removed().id());
      break;
    case Event::kIpAllocated: {
      const auto& ev = e.ip_allocated();
      (*(*s.mutable_ipam())[ev.network_id()].mutable_allocated())[ev.address()] = ev.owner();
      break;
    }
    case Event::kIpReleased: {
      const auto& ev = e.ip_released();
      auto it = s.mutable_ipam()->find(ev.network_id());
      if (it != s.mutable_ipam()->end()) it->second.mutable_allocated()->erase(ev.address());
      break;
    }
    case Event::kVolumeCreated: {
      const auto& ev = e.volume_created();
      v1::Volume v;
      v.set_name(ev.name());
      v.set_driver(ev.driver());
      *v.mutable_labels() = ev.labels();
      *v.mutable_options() = ev.options();
      v.set_anonymous(ev.anonymous());
      v.set_created_ns(env.time_ns());
      (*s.mutable_volumes())[ev.name()] = std::move(v);
      break;
    }
    case Event::kVolumeRemoved:
      s.mutable_volumes()->erase(e.volume_removed().name());
      break;
    default:
      break;
  }
}

}  // namespace

void reduce(v1::State& state, const v1::Envelope& env) {
  state.set_seq(env.seq());
  state.set_last_time_ns(env.time_ns());
  const int k = env.event().kind_case();
  if (k >= 10 && k < 30) {
    reduceContainer(state, env);
  } else if (k >= 30 && k < 50) {
    reduceImage(state, env);
  } else if (k >= 80 && k < 90) {
    reduceExec(state, env);
  } else if (k >= 50 && k < 80) {
    reduceNetworkVolume(state, env);
  }
}

std::string serializeState(const v1::State& state) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    state.SerializeToCodedStream(&cos);
  }
  return out;
}

}  // namespace arca::reducers
