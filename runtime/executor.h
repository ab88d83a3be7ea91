// The container executor: reacts to intent events from the log's tail
// (ContainerStartRequested, ContainerStopRequested, ContainerKillRequested),
// drives the sandbox driver, and reports outcomes as events through
// Engine::record(). It never writes State directly (STYLE 5).
//
// Threads: the log's appender thread only queues work (subscriber callback).
// Work for one container runs on that container's strand (a thread that
// drains its queue, in log order); different containers run concurrently.
// Each running container has one exit-watcher thread blocked in
// SandboxDriver::wait(). Stop time-outs run on their own short-lived threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "runtime/image/image_store.h"
#include "runtime/network_attacher.h"
#include "runtime/sandbox_driver.h"

namespace arca::runtime {

class LocalVolumes;

struct ExecutorOptions {
  std::string containers_dir;  // <data-root>/containers: per-container logs + writable layers
  LocalVolumes* volumes = nullptr;  // issue #6: volume data (nullptr: containers get no mounts)
};

class Executor {
 public:
  Executor(engine::Engine* engine, SandboxDriver* driver, image::ImageStore* images,
           ExecutorOptions opts);
  ~Executor();

  // Reconciles State with the world (reattach to live sandboxes, record exits
  // of dead ones), then subscribes to the log's tail. Call once at start-up,
  // after recovery and before the API serves.
  void start();
  // Unsubscribes and waits for queued work. Exit watchers are abandoned (the
  // agents keep running; the next arcad reattaches).
  void stop();

  // Removes a stopped container: the engine accepts it (ContainerRemovalStarted,
  // Conflict if running or already being removed), then the sandbox, writable
  // layer and logs go and ContainerRemoved is recorded. Blocking; any thread.
  // `remove_volumes` (rm -v, --rm): its anonymous volumes no other container
  // uses go too (issue #6).
  Status removeContainer(const std::string& id, bool remove_volumes = false);

  // docker update of a running container: applies `hc`'s resources to its
  // sandbox, in order with the container's other work (its strand). Blocking.
  Status updateResources(const std::string& id, const v1::HostConfig& hc);

  // issue #5: the network plane (nullptr: every container runs without
  // networking, as --network none). Set before start().
  void setNetwork(NetworkAttacher* network) { network_ = network; }
  // A running container joins / leaves a network now (after NetworkConnected /
  // NetworkDisconnected), in order with its other work. Ok when not running
  // (the start sets everything up). Blocking.
  Status applyConnect(const std::string& id, const std::string& network_id);
  Status applyDisconnect(const std::string& id, const std::string& network_id);

  // The json-file log of a container.
  std::string logPath(const std::string& id) const;

  // Runs `fn` at the container's next start, once its sandbox is up and
  // before its process starts (on the start's thread, which waits for it):
  // attach streams opened there see all of the output (docker run -it,
  // docker start -a). Returns a token for cancelOnNextStart().
  uint64_t onNextStart(const std::string& id, std::function<void()> fn);
  void cancelOnNextStart(const std::string& id, uint64_t token);

 private:
  void onEvent(const v1::Envelope& env);
  void post(const std::string& id, std::function<void()> task);
  void doStart(const std::string& id, uint64_t request_seq, bool restart);
  void doStop(const std::string& id, int signal, int timeout_s);
  // Delivers `signal` and records ContainerSignaled (request_seq 0: a stop step).
  void signalAndRecord(const std::string& id, int signal, uint64_t request_seq);
  // Thaws a paused container after a kill/stop signal (issue #4); true if it did.
  bool thawAfterSignal(const std::string& id, int signal);
  void watchExit(const std::string& id);
  Status finishRemoval(const std::string& id);
  // issue #6: unmounts the driver options of `id`'s volumes that no other
  // running container uses (after its exit).
  void releaseVolumes(const std::string& id);
  void reconcile();
  void spawn(std::function<void()> fn);
  // Restart policies and log options (lifecycle): the json-file options of
  // `id` into *spec (false, with dockerd's text, when they do not parse); the
  // policy's start once `delay_ms` passed (strand of `id`); at start-up, the
  // pending restarts and the containers dockerd restarts when it starts.
  bool applyLogOptions(const std::string& id, SandboxSpec* spec, std::string* error);
  void scheduleRestart(const std::string& id, uint64_t restart_count, int64_t delay_ms);
  void applyRestartPoliciesAtStart();

  engine::Engine* engine_;
  SandboxDriver* driver_;
  image::ImageStore* images_;
  NetworkAttacher* network_ = nullptr;
  ExecutorOptions opts_;
  uint64_t sub_ = 0;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<std::string, std::deque<std::function<void()>>> strands_;
  std::set<std::string> watching_;  // containers with an exit watcher
  std::map<std::string, std::map<uint64_t, std::function<void()>>> before_start_;
  uint64_t next_before_start_ = 1;
  int threads_ = 0;                 // strand + helper threads alive
  std::atomic<bool> stopping_{false};
};

}  // namespace arca::runtime
