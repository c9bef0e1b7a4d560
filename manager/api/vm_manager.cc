#include "api/vm_manager.h"

#include <algorithm>
#include <chrono>

namespace v6g::api {

Error store_error(const store::Outcome& outcome) {
  switch (outcome.code()) {
    case store::Code::kNotFound:
      return make_error(Code::kNotFound, outcome.message());
    case store::Code::kConflict:
      return make_error(Code::kAlreadyExists, outcome.message());
    case store::Code::kStorageFull:
      return make_error(Code::kResourceExhausted,
                        "state store full, nothing was changed (free space in the state "
                        "directory): " +
                            outcome.message());
    case store::Code::kStorageUnavailable:
      return make_error(Code::kUnavailable,
                        "state store not writable, nothing was changed (is the state "
                        "directory read-only?): " +
                            outcome.message());
    default:
      return make_error(Code::kInternal, "state store: " + outcome.message());
  }
}

namespace {

store::AuditEntry audit_entry(std::int64_t at_ns, const CallContext& ctx, const char* action,
                              const store::VmRecord& vm) {
  store::AuditEntry e;
  e.at_ns = at_ns;
  e.who = ctx.who;
  e.action = action;
  e.object = vm.id;
  e.tenant_id = vm.tenant_id;
  return e;
}

}  // namespace

VmManager::VmManager(store::Store& store, HostProgrammer& host, Clock clock)
    : store_(store), host_(host), clock_(std::move(clock)) {
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

std::optional<Error> VmManager::persist(const VmPlan& plan) {
  // One statement for the VM's rows (see Store::insert_vm_with); a duplicate
  // id comes back as kConflict "vm <id> already exists".
  if (auto o =
          store_.insert_vm_with(plan.vm, plan.allocations, plan.vlans, plan.ports, plan.bindings);
      !o) {
    return store_error(o);
  }
  return std::nullopt;
}

void VmManager::create_one(PendingCreate& pending, bool own_savepoint) {
  // A batch of one needs no savepoint: its failure rolls back the whole
  // transaction (run_batch does not commit it).
  std::optional<store::Store::Savepoint> savepoint;
  if (own_savepoint) {
    savepoint.emplace(store_);
    if (!savepoint->begun()) {
      pending.error = store_error(savepoint->begun());
      return;
    }
  }
  VmPlan& plan = pending.plan;
  if (auto error = (*pending.planner)(store_, plan)) {  // validate + allocate
    pending.error = std::move(error);
    return;
  }
  plan.vm.created_ns = plan.vm.updated_ns = clock_();
  if (plan.vm.state.empty()) plan.vm.state = "running";
  if (auto error = persist(plan)) {
    pending.error = std::move(error);
    return;
  }
  // The audit row references the config the VM row holds (stored once).
  if (auto o =
          store_.append_audit(audit_entry(plan.vm.created_ns, *pending.ctx, "CreateVm", plan.vm),
                              store::AuditConfig::kAfter);
      !o) {
    pending.error = store_error(o);
    return;
  }
  if (auto s = host_.program_vm(plan); !s) {
    (void)host_.unprogram_vm(plan);  // undo the part that did land; the savepoint rolls back
    pending.error = make_error(Code::kUnavailable, "programming the host failed: " + s.message());
    return;
  }
  if (savepoint) {
    if (auto o = savepoint->release(); !o) {
      (void)host_.unprogram_vm(plan);
      pending.error = store_error(o);
      return;
    }
  }
  pending.programmed = true;
}

void VmManager::run_batch(std::vector<PendingCreate*>& batch) {
  std::lock_guard lock(mu_);
  store::Store::Transaction txn(store_);
  if (!txn.begun()) {
    for (auto* p : batch) p->error = store_error(txn.begun());
    return;
  }
  // A lone create runs without a savepoint; if it fails, nothing else joined
  // yet and the whole transaction rolls back (~txn).
  const bool alone = batch.size() == 1;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (crash_hook_) crash_hook_(*batch[i]->ctx);
    create_one(*batch[i], !(alone && i == 0));
    if (alone && i == 0 && batch[0]->error) {
      ++stats_.batches;
      return;
    }
    // Creates that queued while this batch ran join it (each in its own
    // savepoint) instead of waiting for the next commit: on a CPU-bound host
    // the batch grows with the load, and so does what one commit carries.
    if (i + 1 == batch.size()) take_queued(batch);
  }
  ++stats_.batches;
  stats_.largest_batch = std::max(stats_.largest_batch, batch.size());
  if (auto o = txn.commit(); !o) {
    // Nothing of the batch is persisted: take back what was programmed.
    for (auto* p : batch) {
      if (!p->programmed) continue;
      (void)host_.unprogram_vm(p->plan);
      p->programmed = false;
      p->error = store_error(o);
    }
  }
}

void VmManager::take_queued(std::vector<PendingCreate*>& batch) {
  std::lock_guard queue_lock(queue_mu_);
  while (!queue_.empty() && batch.size() < kMaxBatch) {
    batch.push_back(queue_.front());
    queue_.pop_front();
  }
}

std::size_t VmManager::queued() {
  std::lock_guard queue_lock(queue_mu_);
  return queue_.size();
}

std::optional<Error> VmManager::create(const CallContext& ctx, const Planner& planner,
                                       VmPlan& out) {
  // Each thread waits on its own condition variable, shared so a leader can
  // still notify it after the waiter saw `done` and returned (see below).
  thread_local const auto wake = std::make_shared<std::condition_variable>();
  PendingCreate pending{&ctx, &planner, {}, std::nullopt, false, false, wake};
  std::vector<std::shared_ptr<std::condition_variable>> to_wake;
  std::unique_lock queue_lock(queue_mu_);
  queue_.push_back(&pending);
  bool leading = false;  // still the leader after our previous batch
  for (std::size_t led = 0;;) {
    if (!leading) {
      // Wait until a leader finished our create, or until we may lead.
      pending.wake->wait(queue_lock, [&] { return pending.done || !leader_active_; });
      if (pending.done) break;
      leader_active_ = true;
    }
    std::vector<PendingCreate*> batch;
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    queue_lock.unlock();
    run_batch(batch);
    queue_lock.lock();
    to_wake.clear();
    for (auto* p : batch) {
      p->done = true;
      if (p != &pending) to_wake.push_back(p->wake);
    }
    // A leader whose create is done leads the next batch itself, up to
    // kLeadBatches in a row, instead of waking the oldest waiter to lead it:
    // the hand-over was a wake-up per batch on the serial path, and on a
    // busy 2-core host the woken thread waited for a CPU while creates
    // queued. The cap bounds how long its own caller waits for the answer.
    ++led;
    leading = !queue_.empty() && (!pending.done || led < kLeadBatches);
    if (!leading) {
      leader_active_ = false;
      // The oldest waiter leads the next batch (with everything queued by then).
      if (!queue_.empty()) to_wake.push_back(queue_.front()->wake);
    }
    const bool finished = pending.done && !leading;
    // Notified after unlocking: a waiter woken under the lock ran straight
    // into it and slept once more (a futex wait + wake per create in perf).
    // `done` was set under the lock, so no wake-up is lost; the shared
    // condition variables outlive a waiter that already returned.
    queue_lock.unlock();
    for (const auto& w : to_wake) w->notify_one();
    if (finished) break;
    queue_lock.lock();
  }
  if (queue_lock.owns_lock()) queue_lock.unlock();
  if (pending.error) return std::move(pending.error);
  out = std::move(pending.plan);
  return std::nullopt;
}

std::optional<Error> VmManager::load(const std::string& vm_id, VmPlan& out) {
  out = {};
  if (auto o = store_.get_vm(vm_id, out.vm); !o) return store_error(o);
  if (auto o = store_.list_allocations(out.allocations, vm_id); !o) return store_error(o);
  std::vector<store::VlanClaim> vlans;
  if (auto o = store_.list_vlans(vlans); !o) return store_error(o);
  for (auto& v : vlans) {
    if (v.vm_id == vm_id) out.vlans.push_back(std::move(v));
  }
  if (auto o = store_.list_ports(out.ports, vm_id); !o) return store_error(o);
  std::vector<store::BindingRecord> bindings;
  if (auto o = store_.list_bindings(bindings); !o) return store_error(o);
  for (auto& b : bindings) {
    if (b.vm_id == vm_id) out.bindings.push_back(std::move(b));
  }
  return std::nullopt;
}

std::optional<Error> VmManager::remove(const CallContext& ctx, const std::string& vm_id,
                                       VmPlan& removed) {
  std::lock_guard lock(mu_);
  store::Store::Transaction txn(store_);
  if (!txn.begun()) return store_error(txn.begun());
  VmPlan plan;
  if (auto error = load(vm_id, plan)) return error;
  // Audited before the row goes: the entry references the VM's stored config.
  if (auto o = store_.append_audit(audit_entry(clock_(), ctx, "DeleteVm", plan.vm),
                                   store::AuditConfig::kBefore);
      !o) {
    return store_error(o);
  }
  if (auto o = store_.delete_vm(vm_id); !o) return store_error(o);
  if (auto s = host_.unprogram_vm(plan); !s) {
    // Put back what the failed teardown may have removed, so the VM stays
    // fully in place; the caller may retry the delete.
    (void)host_.program_vm(plan);
    return make_error(Code::kUnavailable, "removing the VM from the host failed: " + s.message());
  }
  if (auto o = txn.commit(); !o) {
    (void)host_.program_vm(plan);
    return store_error(o);
  }
  removed = std::move(plan);
  return std::nullopt;
}

std::optional<Error> VmManager::get(const std::string& vm_id, VmPlan& out) {
  std::lock_guard lock(mu_);
  return load(vm_id, out);
}

std::optional<Error> VmManager::list(const std::string& tenant_id,
                                     std::vector<store::VmRecord>& out) {
  std::lock_guard lock(mu_);
  if (auto o = store_.list_vms(out, tenant_id); !o) return store_error(o);
  return std::nullopt;
}

int VmManager::reprogram_all(std::vector<std::string>& failures) {
  std::lock_guard lock(mu_);
  std::vector<store::VmRecord> vms;
  if (auto o = store_.list_vms(vms); !o) {
    failures.push_back(o.message());
    return 1;
  }
  int failed = 0;
  for (const auto& vm : vms) {
    VmPlan plan;
    if (auto error = load(vm.id, plan)) {
      failures.push_back(vm.id + ": " + error->message);
      ++failed;
      continue;
    }
    if (auto s = host_.reprogram_vm(plan); !s) {
      failures.push_back(vm.id + ": " + s.message());
      ++failed;
    }
  }
  return failed;
}

}  // namespace v6g::api
