// arca-replay: offline tool on a data root. Rebuilds State at any seq, dumps
// events, and verifies determinism against the daemon's saved snapshot.
//
//   arca-replay --data-root DIR state  [--at SEQ] [--json]
//   arca-replay --data-root DIR events [--since SEQ|RFC3339] [--until SEQ|RFC3339] [--json]
//   arca-replay --data-root DIR verify
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include "engine/clock.h"
#include "engine/engine.h"
#include "eventlog/event_log.h"
#include "reducers/reduce.h"

using namespace arca;

namespace {

int usage() {
  std::cerr << "usage: arca-replay --data-root DIR <state [--at SEQ] [--json] | events [--since X] "
               "[--until X] [--json] | verify>\n";
  return 2;
}

std::string toJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  auto st = google::protobuf::util::MessageToJsonString(m, &out, o);
  (void)st;
  return out;
}

const char* kindName(const v1::Event& e) {
  const auto* d = e.GetDescriptor()->FindFieldByNumber(e.kind_case());
  return d ? d->name().c_str() : "unknown";
}

std::string eventId(const v1::Event& e) {
  const auto* refl = e.GetReflection();
  const auto* d = e.GetDescriptor()->FindFieldByNumber(e.kind_case());
  if (!d || d->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) return "";
  const auto& sub = refl->GetMessage(e, d);
  for (const char* k : {"id", "name"}) {
    const auto* f = sub.GetDescriptor()->FindFieldByName(k);
    if (f && f->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      return sub.GetReflection()->GetString(sub, f);
    }
  }
  const auto* img = sub.GetDescriptor()->FindFieldByName("image");
  if (img && img->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
    const auto& r = sub.GetReflection()->GetMessage(sub, img);
    const auto* f = r.GetDescriptor()->FindFieldByName("id");
    if (f) return r.GetReflection()->GetString(r, f);
  }
  return "";
}

// SEQ (digits) or an RFC 3339 time -> a seq bound, given the log.
bool parseBound(const eventlog::EventLog& log, const std::string& v, bool lower, uint64_t* out) {
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) {
    *out = std::stoull(v);
    return true;
  }
  int64_t ns;
  if (!engine::parseRfc3339(v, &ns)) return false;
  uint64_t found = lower ? UINT64_MAX : 0;
  Status st = log.read(1, UINT64_MAX, [&](const v1::Envelope& e) {
    if (lower && e.time_ns() >= ns) {
      found = e.seq();
      return false;
    }
    if (!lower) {
      if (e.time_ns() > ns) return false;
      found = e.seq();
    }
    return true;
  });
  (void)st;
  *out = found;
  return true;
}

std::string summary(const v1::State& s) {
  std::string out = "seq " + std::to_string(s.seq()) + "\n";
  out += "containers " + std::to_string(s.containers_size()) + "\n";
  std::map<std::string, const v1::Container*> cs;
  for (const auto& [id, c] : s.containers()) cs[c.name()] = &c;
  for (const auto& [name, c] : cs) {
    out += "  " + c->id().substr(0, 12) + "  " + name + "  " + c->status() + "  exit=" +
           std::to_string(c->exit_code()) + "  image=" + c->image_id().substr(0, 19) + "\n";
  }
  out += "images " + std::to_string(s.images_size()) + "\n";
  std::map<std::string, const v1::Image*> is;
  for (const auto& [id, i] : s.images()) is[id] = &i;
  for (const auto& [id, i] : is) {
    out += "  " + id.substr(0, 19) + "  ";
    for (const auto& t : i->record().repo_tags()) out += t + " ";
    out += "\n";
  }
  out += "networks " + std::to_string(s.networks_size()) + "\n";
  out += "volumes " + std::to_string(s.volumes_size()) + "\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_root, cmd, at, since, until;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data-root") data_root = next();
    else if (a.rfind("--data-root=", 0) == 0) data_root = a.substr(12);
    else if (a == "--at") at = next();
    else if (a == "--since") since = next();
    else if (a == "--until") until = next();
    else if (a == "--json") json = true;
    else if (a == "-h" || a == "--help") return usage();
    else if (cmd.empty()) cmd = a;
    else return usage();
  }
  if (data_root.empty() || cmd.empty()) return usage();
  eventlog::Options o;
  o.path = data_root + "/eventlog";
  o.read_only = true;
  auto log = eventlog::EventLog::open(o);
  if (!log.ok()) {
    std::cerr << "arca-replay: " << log.status().message() << "\n";
    return 1;
  }
  const auto& L = **log;

  if (cmd == "state") {
    uint64_t to = UINT64_MAX;
    if (!at.empty()) to = std::stoull(at);
    v1::State start;
    auto snap = L.latestSnapshot();
    if (snap.ok() && snap->has_value() && (*snap)->seq() <= to) start = (*snap)->state();
    auto s = engine::foldLog(L, start, to);
    if (!s.ok()) {
      std::cerr << "arca-replay: " << s.status().message() << "\n";
      return 1;
    }
    std::cout << (json ? toJson(*s) + "\n" : summary(*s));
    return 0;
  }
  if (cmd == "events") {
    uint64_t from = 1, to = UINT64_MAX;
    if (!since.empty() && !parseBound(L, since, true, &from)) return usage();
    if (!until.empty() && !parseBound(L, until, false, &to)) return usage();
    Status st = L.read(from, to, [&](const v1::Envelope& e) {
      if (json) {
        std::cout << toJson(e) << "\n";
      } else {
        std::cout << e.seq() << "  " << engine::rfc3339Nano(e.time_ns()) << "  "
                  << kindName(e.event()) << "  " << eventId(e.event()) << "\n";
      }
      return true;
    });
    if (!st.ok()) {
      std::cerr << "arca-replay: " << st.message() << "\n";
      return 1;
    }
    return 0;
  }
  if (cmd == "verify") {
    auto t0 = std::chrono::steady_clock::now();
    auto full = engine::foldLog(L, v1::State());
    if (!full.ok()) {
      std::cerr << "verify: FAILED: " << full.status().message() << "\n";
      return 1;
    }
    auto full2 = engine::foldLog(L, v1::State());
    std::string a = reducers::serializeState(*full);
    if (!full2.ok() || reducers::serializeState(*full2) != a) {
      std::cerr << "verify: FAILED: two replays from zero differ\n";
      return 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 2;
    std::cout << "replayed " << full->seq() << " events from zero (" << static_cast<long>(full->seq() / (secs > 0 ? secs : 1e-9))
              << " events/s), deterministic\n";
    auto snap = L.latestSnapshot();
    if (!snap.ok()) {
      std::cerr << "verify: FAILED: " << snap.status().message() << "\n";
      return 1;
    }
    if (!snap->has_value()) {
      std::cout << "no snapshot saved yet: nothing more to compare\nverify: OK\n";
      return 0;
    }
    const v1::Snapshot& sn = **snap;
    auto upto = engine::foldLog(L, v1::State(), sn.seq());
    if (!upto.ok() || reducers::serializeState(*upto) != reducers::serializeState(sn.state())) {
      std::cerr << "verify: FAILED: replay from zero to seq " << sn.seq()
                << " differs from the snapshot the daemon saved there\n";
      return 1;
    }
    auto tail = engine::foldLog(L, sn.state());
    if (!tail.ok() || reducers::serializeState(*tail) != a) {
      std::cerr << "verify: FAILED: snapshot at " << sn.seq()
                << " + tail differs from the replay from zero\n";
      return 1;
    }
    std::cout << "snapshot at seq " << sn.seq() << " matches the replay from zero; snapshot + tail ("
              << full->seq() - sn.seq() << " events) matches too\nverify: OK\n";
    return 0;
  }
  return usage();
}
