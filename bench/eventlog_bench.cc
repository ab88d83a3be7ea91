// Event log benchmarks: durable group-committed appends at 1/8/64 writers,
// replay throughput, and daemon start-up time (snapshot + tail) with 1M events.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <thread>

#include "engine/engine.h"
#include "eventlog/event_log.h"
#include "reducers/reduce.h"

namespace {

namespace fs = std::filesystem;
using namespace arca;

std::string tempDir(const char* name) {
  std::string d = std::string("/tmp/arca-bench-") + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

v1::Envelope sampleEvent(uint64_t i) {
  v1::Envelope e;
  e.set_time_ns(1700000000000000000 + static_cast<int64_t>(i));
  char id[65];
  snprintf(id, sizeof id, "%064llx", static_cast<unsigned long long>(i % 1000));
  switch (i % 4) {
    case 0: e.mutable_event()->mutable_container_start_requested()->set_id(id); break;
    case 1: {
      auto* s = e.mutable_event()->mutable_container_started();
      s->set_id(id);
      s->set_pid(static_cast<int32_t>(i));
      break;
    }
    case 2: e.mutable_event()->mutable_container_stop_requested()->set_id(id); break;
    default: {
      auto* x = e.mutable_event()->mutable_container_exited();
      x->set_id(id);
      x->set_exit_code(0);
    }
  }
  return e;
}

std::unique_ptr<eventlog::EventLog> g_log;

// Durable appends: every writer waits for its own event to be synced; the
// appender group-commits whatever is queued.
void BM_DurableAppend(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_log.reset();  // the previous run's log (its threads are done: the loop ends with a barrier)
    eventlog::Options o;
    o.path = tempDir("append") + "/log";
    auto log = eventlog::EventLog::open(o);
    if (!log.ok()) {
      state.SkipWithError(log.status().toString().c_str());
      return;
    }
    g_log = std::move(*log);
  }
  uint64_t i = 0;
  for (auto _ : state) {
    uint64_t seq = g_log->enqueue({sampleEvent(i++)});
    g_log->waitDurable(seq);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DurableAppend)->Threads(1)->Threads(8)->Threads(64)->UseRealTime()->MinTime(2.0);

constexpr uint64_t kMillion = 1000000;

class BenchClock : public engine::Clock {
 public:
  int64_t nowNs() override { return t_ += 1000; }
  int64_t t_ = 1700000000000000000;
};

// Builds (once) a log of 1M container events, written through the engine as
// the daemon writes it, with a snapshot every 10,000 events.
std::string millionLog() {
  static std::string path;
  if (!path.empty()) return path;
  path = tempDir("million") + "/log";
  eventlog::Options o;
  o.path = path;
  o.sync = false;
  auto log = std::move(*eventlog::EventLog::open(o));
  BenchClock clock;
  engine::RandomIdSource ids;
  engine::Engine eng(log.get(), {}, &clock, &ids, {10000});
  for (uint64_t i = 0; i < kMillion; i += 1000) {
    std::vector<v1::Event> batch;
    for (uint64_t j = 0; j < 1000; ++j) batch.push_back(sampleEvent(i + j).event());
    eng.record(std::move(batch));
  }
  log->close();
  return path;
}

void BM_ReplayFromZero(benchmark::State& state) {
  eventlog::Options o;
  o.path = millionLog();
  o.read_only = true;
  auto log = std::move(*eventlog::EventLog::open(o));
  for (auto _ : state) {
    auto s = engine::foldLog(*log, v1::State());
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * kMillion);
}
BENCHMARK(BM_ReplayFromZero)->Unit(benchmark::kMillisecond)->Iterations(3);

// What arcad does at start: open the log, load the newest snapshot, fold the tail.
void BM_StartupWith1MEvents(benchmark::State& state) {
  std::string path = millionLog();
  for (auto _ : state) {
    eventlog::Options o;
    o.path = path;
    o.read_only = true;
    auto log = std::move(*eventlog::EventLog::open(o));
    auto s = engine::recoverState(*log);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_StartupWith1MEvents)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_log.reset();  // before static destruction
  return 0;
}
