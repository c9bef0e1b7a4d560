// The transactional core of CreateVm/DeleteVm, independent of the protobuf
// types: validate -> allocate -> persist -> program host -> commit. A failure
// at any step leaves neither rows in the store nor state on the host.
//
// The daemon supplies the HostProgrammer (rtnetlink taps/VLANs + datapath
// ports and bindings); VmService supplies the Planner (validation and
// allocation from manager/config, run inside the write transaction so two
// concurrent creates can't take the same address).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/connect.h"
#include "api/server.h"
#include "common/status.h"
#include "store/store.h"

namespace v6g::api {

// Everything one VM holds, as persisted and as programmed on the host.
struct VmPlan {
  store::VmRecord vm;
  std::vector<store::Allocation> allocations;
  std::vector<store::VlanClaim> vlans;
  std::vector<store::PortRecord> ports;
  std::vector<store::BindingRecord> bindings;  // static bindings from the config
};

class HostProgrammer {
 public:
  virtual ~HostProgrammer() = default;
  // Creates taps/VLANs, programs ports and static bindings. May fail midway.
  virtual Status program_vm(const VmPlan& plan) = 0;
  // Removes whatever program_vm (or a partial run of it) left; idempotent.
  virtual Status unprogram_vm(const VmPlan& plan) = 0;
  // After a restart: puts back a VM that is (mostly) already in place. Unlike
  // program_vm, a failure must not tear down what works (a VM whose guard
  // step fails keeps its taps); by default the same as program_vm.
  virtual Status reprogram_vm(const VmPlan& plan) { return program_vm(plan); }
};

// Fills plan (everything but timestamps) from the request and the store's
// current state, or returns the validation/allocation error.
using Planner = std::function<std::optional<Error>(store::Store& store, VmPlan& plan)>;

class VmManager {
 public:
  using Clock = std::function<std::int64_t()>;  // ns since the epoch
  VmManager(store::Store& store, HostProgrammer& host, Clock clock = {});

  // Concurrent creates are group-committed: one caller leads a batch of up to
  // kMaxBatch queued creates through a single transaction, each inside its
  // own savepoint, so one create's failure rolls back only itself and one
  // WAL commit covers the batch; creates that queue while it runs join it. A
  // lone caller is a batch of one (no savepoint: its failure rolls back the
  // transaction).
  static constexpr std::size_t kMaxBatch = 64;
  // Batches one leader runs in a row while creates keep queueing (its own
  // caller's answer waits for them), before it hands over to the oldest
  // waiter.
  static constexpr std::size_t kLeadBatches = 4;
  std::optional<Error> create(const CallContext& ctx, const Planner& planner, VmPlan& out);
  std::optional<Error> remove(const CallContext& ctx, const std::string& vm_id, VmPlan& removed);
  std::optional<Error> get(const std::string& vm_id, VmPlan& out);
  std::optional<Error> list(const std::string& tenant_id, std::vector<store::VmRecord>& out);

  // Wall clock (ns since the epoch) that stamps VMs and audit rows.
  std::int64_t now() const { return clock_(); }

  struct Stats {
    std::uint64_t batches = 0;      // write transactions run for creates
    std::size_t largest_batch = 0;  // most creates one transaction carried
  };
  Stats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }
  // Creates waiting for a batch leader (tests use it to build a batch).
  std::size_t queued();
  // Tests only: called by the batch leader, under the writer lock and inside
  // the open transaction, before each create of a batch (e.g. to kill the
  // process midway through a group commit).
  void set_crash_hook(std::function<void(const CallContext&)> hook) {
    crash_hook_ = std::move(hook);
  }

  // After a restart: program every persisted VM again. Returns how many VMs
  // failed (each is logged to `failures`); the rest are in place.
  int reprogram_all(std::vector<std::string>& failures);

  // Read access for status calls (ports, bindings, audit); callers hold no lock.
  template <typename Fn>
  auto with_store(Fn&& fn) {
    std::lock_guard lock(mu_);
    return fn(store_);
  }

 private:
  struct PendingCreate {
    const CallContext* ctx;
    const Planner* planner;
    VmPlan plan;
    std::optional<Error> error;
    bool programmed = false;
    bool done = false;
    // Its caller waits here, woken alone (done, or its turn to lead): one
    // condition variable for all callers woke every waiting server thread
    // at the end of each batch, to find most still queued. The caller's
    // thread's own, shared: the leader notifies after unlocking, when the
    // waiter may already have returned.
    std::shared_ptr<std::condition_variable> wake;
  };

  std::optional<Error> load(const std::string& vm_id, VmPlan& out);
  std::optional<Error> persist(const VmPlan& plan);
  // Plan, persist, audit, program (inside its own savepoint when it shares
  // the transaction with others). Sets error or programmed.
  void create_one(PendingCreate& pending, bool own_savepoint);
  void run_batch(std::vector<PendingCreate*>& batch);
  // Moves creates queued meanwhile into the running batch (up to kMaxBatch).
  void take_queued(std::vector<PendingCreate*>& batch);

  store::Store& store_;
  HostProgrammer& host_;
  Clock clock_;
  std::mutex mu_;  // one writer: the store connection is not shared across threads
  Stats stats_;
  std::function<void(const CallContext&)> crash_hook_;

  std::mutex queue_mu_;  // guards queue_, leader_active_ and every PendingCreate::done
  std::deque<PendingCreate*> queue_;
  bool leader_active_ = false;
};

Error store_error(const store::Outcome& outcome);

}  // namespace v6g::api
