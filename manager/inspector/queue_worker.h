// One nfqueue reader thread (the I/O shell around nfq_packet/verdicts): owns
// a netlink socket bound to a fail-closed queue and, optionally, a fail-open
// one, runs on the CPUs whose punts the kernel fans out to those queues,
// reads packets in batches with recvmmsg, decides each with the one guard
// engine all workers share, sends the verdicts batched in one sendmsg and
// hands side effects to a sink. One worker (ticks) also runs the engine's
// timers four times a second.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/status.h"
#include "guard/engine.h"
#include "inspector/service_histogram.h"

struct mnl_socket;

namespace v6g::inspector {

// The guard engine, shared by every queue worker: first-come-first-served
// state (who holds an address, pending verifications, router addresses) must
// be one, whichever CPU a port's frames were queued on. Workers decide under
// the lock, the hub takes it to change policies or read state.
struct EngineSlot {
  std::mutex mu;
  guard::Engine engine;
  explicit EngineSlot(const guard::EngineConfig& cfg) : engine(cfg) {}
};

class EffectsSink {
 public:
  virtual ~EffectsSink() = default;
  // Takes bindings and events out of fx (called with no engine lock held).
  virtual void consume(guard::Effects& fx) = 0;
};

struct WorkerConfig {
  std::uint16_t closed_queue = 0;
  std::optional<std::uint16_t> open_queue;  // fail-open classes, NFQA_CFG_F_FAIL_OPEN
  std::uint32_t queue_maxlen = 4096;
  int rcvbuf = 16 << 20;
  bool batch_verdicts = true;
  bool ticks = false;     // runs the engine's timers (one worker does)
  std::vector<int> cpus;  // runs on these CPUs; empty = not pinned
};

struct WorkerStats {
  std::atomic<std::uint64_t> packets{0}, accepted{0}, dropped{0}, verdict_msgs{0}, reads{0},
      bad_messages{0}, send_errors{0}, netlink_errors{0};
  ServiceHistogram service;         // recvmmsg return -> verdict sendmsg return, per packet
  std::atomic<bool> pinned{false};  // runs on cfg.cpus (false: not asked, or refused)
};

class QueueWorker {
 public:
  QueueWorker(WorkerConfig cfg, EngineSlot& engine, EffectsSink& sink);
  ~QueueWorker();
  QueueWorker(const QueueWorker&) = delete;
  QueueWorker& operator=(const QueueWorker&) = delete;

  // Opens the socket and binds the queues (fails if another process holds
  // them), then starts the thread.
  Status start();
  // Graceful: reads and answers what is already queued, unbinds, joins.
  void stop();
  const WorkerStats& stats() const { return stats_; }
  const WorkerConfig& config() const { return cfg_; }

 private:
  Status configure(std::uint16_t queue, bool fail_open);
  void run();
  bool read_batch(bool wait);  // false on a fatal socket error
  void send_verdicts();

  WorkerConfig cfg_;
  EngineSlot& engine_;
  EffectsSink& sink_;
  mnl_socket* nl_ = nullptr;
  int wake_fd_ = -1;
  std::uint32_t portid_ = 0;
  std::uint32_t seq_ = 1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  WorkerStats stats_;
};

}  // namespace v6g::inspector
