// The inspector: N queue threads (QueueWorker), one per CPU-local punt queue,
// sharing one guard engine, and the GuardHub the rest of v6guardd talks to. Learned bindings go to
// the datapath fast path from one applier thread; events go to a ring (API) and an optional
// JSON-lines file.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/part.h"
#include "datapath/datapath.h"
#include "inspector/probe_sender.h"
#include "inspector/queue_worker.h"

namespace v6g::inspector {

struct InspectorConfig {
  std::uint16_t queue_base = 0;
  // Threads; queues base..base+n-1 fail-closed, +n fail-open. The nft
  // datapath's punt rules spread each range over the CPUs (--queue-cpu-fanout:
  // base + cpu % n) and worker i runs on the CPUs that map to queue base+i.
  std::uint16_t queues = 1;
  bool pin = true;          // pin workers to their CPUs (cpus_for_worker); n = 1 never is
  bool open_queues = true;  // bind the fail-open queue of each thread too
  bool monitor = false;     // every port log-only
  bool batch_verdicts = true;
  // RFC 6620 data-triggered binding (engine.data_triggered_learning), with
  // the NS probes sent by the inspector's ProbeSender.
  bool data_learning = true;
  std::string events_path;  // JSON lines, appended; empty = none
  std::size_t event_ring = 4096;
  guard::EngineConfig engine;
};

// Serialises every Datapath call (API threads, the binding applier and
// main.cc share one libnftables / genetlink handle). Ports are programmed
// with punt queues base..base+n-1: the nft datapath ignores them (its punt
// rules pick the queue by CPU), the module queues to base + cpu % n.
class SharedDatapath final : public datapath::Datapath {
 public:
  SharedDatapath(datapath::Datapath& inner, const InspectorConfig& cfg)
      : inner_(inner), cfg_(cfg) {}
  std::string_view name() const override { return inner_.name(); }
  Status add_port(const datapath::PortSpec& port) override;
  Status remove_port(std::uint32_t ifindex) override;
  Status add_bindings(std::span<const datapath::Binding> bindings) override;
  Status remove_bindings(std::span<const datapath::Binding> bindings) override;
  Status list_bindings(std::vector<datapath::Binding>& out) override;
  Status counters(std::vector<datapath::PortCounters>& out) override;
  Status list_ports(std::vector<datapath::PortSpec>& out) override;
  Status remove_listed_port(const datapath::PortSpec& port) override;
  Status flush() override;
  datapath::Datapath& inner() { return inner_; }

 private:
  std::mutex mu_;
  datapath::Datapath& inner_;
  InspectorConfig cfg_;
};

class Inspector final : public daemon::GuardHub, public EffectsSink {
 public:
  Inspector(InspectorConfig cfg, datapath::Datapath& datapath);
  ~Inspector() override;

  Status start();
  void stop();

  // GuardHub
  Status upsert_port(const guard::PortPolicy& policy) override;
  void remove_port(guard::PortId port) override;
  std::vector<guard::BindingInfo> bindings() override;
  std::vector<datapath::PortCounters> counters() override;
  std::uint64_t events(std::uint64_t after, std::size_t limit,
                       std::vector<v6guard::v1::SecurityEvent>& out) override;
  void report(std::vector<guard::SecurityEvent> events) override;

  // EffectsSink
  void consume(guard::Effects& fx) override;

  struct Totals {
    ServiceSummary service;  // per-packet service time over all queue threads
    std::uint64_t packets = 0, accepted = 0, dropped = 0, verdict_msgs = 0, bad = 0,
                  send_errors = 0, netlink_errors = 0, bindings_pushed = 0, datapath_errors = 0,
                  probe_frames = 0, probe_errors = 0;
  };
  Totals totals();
  const InspectorConfig& config() const { return cfg_; }
  // "workers pinned to CPUs 0 | 1" (worker by worker) or "workers not
  // pinned", once started.
  std::string placement() const;
  // Packets each worker (queue base+i and its fail-open twin) has decided.
  std::vector<std::uint64_t> packets_by_worker() const;

 private:
  void apply_loop();
  // A probe answer seen by the AnswerListener (its thread).
  void on_probe_answer(std::uint32_t port, const MacAddr& mac, const Ip6Addr& target);

  InspectorConfig cfg_;
  datapath::Datapath& datapath_;
  EngineSlot engine_;  // shared by every worker
  std::vector<std::unique_ptr<QueueWorker>> workers_;
  bool flushed_ = false;  // the engine's events, once the workers stopped
  ProbeSender probe_sender_;
  std::unique_ptr<AnswerListener> listener_;
  std::thread listener_thread_;
  std::atomic<bool> listener_stop_{false};
  // Targets probed lately (until when an answer still matters): the listener
  // sees every NA on the link and bothers the engine only for these.
  std::mutex recent_mu_;
  std::map<std::array<std::uint8_t, 16>, guard::Nanos> recent_probes_;
  guard::Nanos realtime_offset_ = 0;

  std::mutex ports_mu_;
  std::map<guard::PortId, guard::PortPolicy> ports_;
  // Fast-path bindings found at start (learnt before a restart), by port;
  // each port's share goes back into the engine when its policy arrives.
  std::map<guard::PortId, std::vector<datapath::Binding>> restorable_;

  // Binding changes waiting for the datapath.
  std::mutex apply_mu_;
  std::condition_variable apply_cv_;
  std::vector<guard::BindingChange> pending_;
  bool apply_stop_ = false;
  std::thread applier_;
  std::uint64_t bindings_pushed_ = 0, datapath_errors_ = 0;

  // Events.
  std::mutex events_mu_;
  std::deque<std::pair<std::uint64_t, v6guard::v1::SecurityEvent>> ring_;
  std::uint64_t event_seq_ = 0;
  std::FILE* events_file_ = nullptr;
};

}  // namespace v6g::inspector
