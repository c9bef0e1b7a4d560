// CreateVm/DeleteVm transactions against a real SQLite file and a recording
// host: all-or-nothing when the host fails, and restart recovery.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/vm_manager.h"
#include "common/reason.h"

namespace v6g::api {
namespace {

// Records what is on the "host"; can be told to fail part-way.
class RecordingHost final : public HostProgrammer {
 public:
  Status program_vm(const VmPlan& plan) override {
    if (!gate.empty() && plan.vm.id == gate) {
      std::unique_lock lock(gate_mu);
      gate_reached = true;
      gate_cv.wait(lock, [&] { return gate_open; });
    }
    std::lock_guard lock(mu);
    ++program_calls;
    if (!fail_suffix.empty() && plan.vm.id.ends_with(fail_suffix)) {
      taps[plan.ports.at(0).ifname] = plan.vm.id;  // lands halfway, then fails
      return Status::error("injected failure");
    }
    // Program port by port, so a failure leaves a real partial state.
    for (const auto& port : plan.ports) {
      if (fail_program_on == port.ifname) return Status::error("netlink: tap " + port.ifname);
      taps[port.ifname] = plan.vm.id;
    }
    return {};
  }
  Status unprogram_vm(const VmPlan& plan) override {
    std::lock_guard lock(mu);
    if (fail_unprogram) return Status::error("netlink: busy");
    for (const auto& port : plan.ports) taps.erase(port.ifname);
    return {};
  }
  std::map<std::string, std::string> taps;  // tap -> vm
  std::string fail_program_on;
  bool fail_unprogram = false;
  std::string fail_suffix;  // VM ids ending like this fail to program
  int program_calls = 0;
  std::mutex mu;

  // program_vm of this VM blocks until open_gate(): its batch leader stays
  // busy (holding the writer) while the test queues the creates behind it.
  std::string gate;
  std::atomic<bool> gate_reached{false};
  void open_gate() {
    std::lock_guard lock(gate_mu);
    gate_open = true;
    gate_cv.notify_all();
  }

 private:
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool gate_open = false;
};

bool wait_until(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Starts creates one at a time, each only once the previous one is queued
// behind the gated leader, so the batch's order is the order given here.
class QueuedCreates {
 public:
  explicit QueuedCreates(VmManager& manager) : manager_(manager) {}
  ~QueuedCreates() { join(); }
  bool add(const std::string& id, Planner planner, const CallContext& ctx) {
    const std::size_t before = manager_.queued();
    threads_.emplace_back([this, id, planner = std::move(planner), &ctx] {
      VmPlan plan;
      auto error = manager_.create(ctx, planner, plan);
      std::lock_guard lock(mu_);
      results_[id] = std::move(error);
    });
    return wait_until([&] { return manager_.queued() == before + 1; });
  }
  void join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::map<std::string, std::optional<Error>> results() {
    std::lock_guard lock(mu_);
    return results_;
  }

 private:
  VmManager& manager_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<std::string, std::optional<Error>> results_;
};

// Stands in for a serialized VmConfig: distinct per VM (field 1 = the id).
std::string config_bytes(const std::string& id) {
  return std::string("\x0a") + static_cast<char>(id.size()) + id;
}

Planner plan_for(const std::string& id, const std::string& tenant, int n_ports, int first = 0) {
  return [=](store::Store&, VmPlan& plan) -> std::optional<Error> {
    plan.vm = {id, tenant, config_bytes(id), "", 0, 0};
    for (int i = 0; i < n_ports; ++i) {
      const std::string tap = "tap-" + id + "-" + std::to_string(i);
      const std::string mac =
          "02:00:00:00:" + std::to_string(10 + first) + ":" + std::to_string(10 + i);
      const std::string ip = "2600:beef:1000::" + std::to_string(100 * (first + 1) + i);
      plan.allocations.push_back({store::Kind::kTap, tap, id});
      plan.allocations.push_back({store::Kind::kMac, mac, id});
      plan.allocations.push_back({store::Kind::kIp6, ip, id});
      if (i == 0) plan.vlans.push_back({"br-" + tenant, 100, tenant, id});
      plan.ports.push_back({tap, "br-" + tenant, 100, mac, id, V6G_ROLE_VM, V6G_FAIL_CLOSED, 0});
      plan.bindings.push_back({tap, 100, mac, ip, "reachable", "static", id, 0});
    }
    return std::nullopt;
  };
}

class VmManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v6g-vmm-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    reopen();
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    manager_.reset();
    store_.reset();
    auto o = store::Store::open(dir_ + "/state.db", store_);
    ASSERT_TRUE(o.ok()) << o.message();
    manager_ = std::make_unique<VmManager>(*store_, host_, [this] { return ++now_; });
  }
  std::size_t rows(const char* what) {
    std::size_t n = 0;
    if (std::string(what) == "vms") {
      std::vector<store::VmRecord> v;
      EXPECT_TRUE(store_->list_vms(v).ok());
      n = v.size();
    } else if (std::string(what) == "allocations") {
      std::vector<store::Allocation> v;
      EXPECT_TRUE(store_->list_allocations(v).ok());
      n = v.size();
    } else if (std::string(what) == "ports") {
      std::vector<store::PortRecord> v;
      EXPECT_TRUE(store_->list_ports(v).ok());
      n = v.size();
    } else if (std::string(what) == "bindings") {
      std::vector<store::BindingRecord> v;
      EXPECT_TRUE(store_->list_bindings(v).ok());
      n = v.size();
    } else if (std::string(what) == "vlans") {
      std::vector<store::VlanClaim> v;
      EXPECT_TRUE(store_->list_vlans(v).ok());
      n = v.size();
    } else if (std::string(what) == "audit") {
      std::vector<store::AuditEntry> v;
      EXPECT_TRUE(store_->list_audit(v).ok());
      n = v.size();
    }
    return n;
  }

  std::string dir_;
  RecordingHost host_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<VmManager> manager_;
  std::int64_t now_ = 1000;
  CallContext root_{"uid:0", true, 0, 1};
};

TEST_F(VmManagerTest, CreatePersistsProgramsAndAudits) {
  VmPlan plan;
  auto err = manager_->create(root_, plan_for("vm-a", "t1", 2), plan);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(host_.taps.size(), 2u);
  EXPECT_EQ(rows("vms"), 1u);
  EXPECT_EQ(rows("allocations"), 6u);
  EXPECT_EQ(rows("ports"), 2u);
  EXPECT_EQ(rows("bindings"), 2u);
  std::vector<store::AuditEntry> audit;
  ASSERT_TRUE(store_->list_audit(audit).ok());
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].who, "uid:0");
  EXPECT_EQ(audit[0].action, "CreateVm");
  // The audit row references the VM's stored config; stored once.
  EXPECT_EQ(audit[0].after_config, config_bytes("vm-a"));
  EXPECT_EQ(audit[0].before_config, "");
  EXPECT_EQ(audit[0].tenant_id, "t1");
  EXPECT_EQ(plan.vm.created_ns, 1001);
}

TEST_F(VmManagerTest, HostFailureMidwayLeavesNothingHalfApplied) {
  host_.fail_program_on = "tap-vm-a-1";  // first tap lands, second fails
  VmPlan plan;
  auto err = manager_->create(root_, plan_for("vm-a", "t1", 2), plan);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kUnavailable);
  EXPECT_NE(err->message.find("tap-vm-a-1"), std::string::npos);
  EXPECT_TRUE(host_.taps.empty()) << "partial programming was not undone";
  for (const char* table : {"vms", "allocations", "ports", "bindings", "vlans", "audit"}) {
    EXPECT_EQ(rows(table), 0u) << table;
  }
  // And the same VM can be created once the host is healthy again.
  host_.fail_program_on.clear();
  EXPECT_FALSE(manager_->create(root_, plan_for("vm-a", "t1", 2), plan));
}

TEST_F(VmManagerTest, ConflictsAbortBeforeTheHostIsTouched) {
  VmPlan plan;
  ASSERT_FALSE(manager_->create(root_, plan_for("vm-a", "t1", 1), plan));
  const int calls = host_.program_calls;
  auto err = manager_->create(root_, plan_for("vm-a", "t1", 1), plan);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kAlreadyExists);
  // Another tenant on the same bridge name and VLAN is refused too.
  err = manager_->create(
      root_,
      [](store::Store& s, VmPlan& p) {
        auto e = plan_for("vm-b", "t2", 1, 5)(s, p);
        for (auto& v : p.vlans) v.bridge = "br-t1";
        return e;
      },
      plan);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kAlreadyExists);
  EXPECT_NE(err->message.find("tenant t1"), std::string::npos) << err->message;
  EXPECT_EQ(host_.program_calls, calls);
  EXPECT_EQ(rows("vms"), 1u);
}

TEST_F(VmManagerTest, PlannerErrorsPassThrough) {
  VmPlan plan;
  auto err = manager_->create(
      root_,
      [](store::Store&, VmPlan&) {
        Error e = make_error(Code::kPermissionDenied, "pool not allowed");
        return std::optional<Error>(e);
      },
      plan);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kPermissionDenied);
  EXPECT_EQ(host_.program_calls, 0);
}

TEST_F(VmManagerTest, DeleteRemovesEverythingAndFailedTeardownKeepsTheVm) {
  VmPlan plan;
  ASSERT_FALSE(manager_->create(root_, plan_for("vm-a", "t1", 2), plan));
  host_.fail_unprogram = true;
  auto err = manager_->remove(root_, "vm-a", plan);
  ASSERT_TRUE(err);
  EXPECT_EQ(rows("vms"), 1u);
  EXPECT_EQ(host_.taps.size(), 2u);
  host_.fail_unprogram = false;
  err = manager_->remove(root_, "vm-a", plan);
  ASSERT_FALSE(err) << err->message;
  EXPECT_TRUE(host_.taps.empty());
  for (const char* table : {"vms", "allocations", "ports", "bindings", "vlans"}) {
    EXPECT_EQ(rows(table), 0u) << table;
  }
  std::vector<store::AuditEntry> audit;
  ASSERT_TRUE(store_->list_audit(audit).ok());
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].action, "DeleteVm");
  // The deleted config outlives the VM row, referenced by the audit log.
  EXPECT_EQ(audit[1].before_config, config_bytes("vm-a"));
  EXPECT_EQ(audit[1].after_config, "");
  EXPECT_EQ(audit[0].after_config, config_bytes("vm-a"));
  err = manager_->remove(root_, "vm-a", plan);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kNotFound);
}

TEST_F(VmManagerTest, RestartRecoversAndReprogramsEveryVm) {
  VmPlan a, b;
  ASSERT_FALSE(manager_->create(root_, plan_for("vm-a", "t1", 2), a));
  ASSERT_FALSE(manager_->create(root_, plan_for("vm-b", "t2", 1, 3), b));
  reopen();
  host_.taps.clear();  // a host reboot: nothing programmed
  std::vector<std::string> failures;
  EXPECT_EQ(manager_->reprogram_all(failures), 0);
  EXPECT_EQ(host_.taps,
            (std::map<std::string, std::string>{
                {"tap-vm-a-0", "vm-a"}, {"tap-vm-a-1", "vm-a"}, {"tap-vm-b-0", "vm-b"}}));
  VmPlan got;
  ASSERT_FALSE(manager_->get("vm-a", got));
  EXPECT_EQ(got.vm.config, a.vm.config);
  EXPECT_EQ(got.ports, a.ports);
  EXPECT_EQ(got.bindings, a.bindings);
  EXPECT_EQ(got.vlans, a.vlans);
  std::vector<store::VmRecord> t2;
  ASSERT_FALSE(manager_->list("t2", t2));
  ASSERT_EQ(t2.size(), 1u);
  EXPECT_EQ(t2[0].id, "vm-b");
}

TEST_F(VmManagerTest, ConcurrentCreatesAreBatchedButEachAllOrNothing) {
  host_.fail_suffix = "-7";  // every VM whose id ends in -7 fails on the host
  constexpr int kThreads = 8, kPerThread = 25;
  std::atomic<int> ok{0}, failed_host{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Threads 0 and 1 race for the same ids: exactly one of each pair wins.
        const int owner = t < 2 ? 0 : t;
        const std::string id = "vm-" + std::to_string(owner) + "-" + std::to_string(i);
        VmPlan plan;
        auto err = manager_->create(
            root_, plan_for(id, "t" + std::to_string(owner), 1, owner * 100 + i), plan);
        if (!err) {
          ++ok;
        } else if (err->code == Code::kUnavailable) {
          ++failed_host;
        } else if (err->code == Code::kAlreadyExists) {
          ++conflicts;
        } else {
          ADD_FAILURE() << err->message;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  // Per distinct owner: 25 ids, of which "-7" fails on the host (both racers
  // of a shared id may hit that failure, since the loser retries into it).
  const int distinct_owners = kThreads - 1;
  const int host_failures_per_owner = 1;
  EXPECT_EQ(ok.load(), distinct_owners * (kPerThread - host_failures_per_owner));
  EXPECT_EQ(rows("vms"), static_cast<std::size_t>(ok.load()));
  EXPECT_EQ(rows("ports"), static_cast<std::size_t>(ok.load()));
  EXPECT_EQ(rows("audit"), static_cast<std::size_t>(ok.load()));
  EXPECT_EQ(host_.taps.size(), static_cast<std::size_t>(ok.load()))
      << "host state and store disagree";
  EXPECT_GE(failed_host.load(), distinct_owners * host_failures_per_owner);
  EXPECT_EQ(ok + failed_host + conflicts, kThreads * kPerThread);
}

TEST_F(VmManagerTest, GroupCommitOneBadCreateDoesNotPoisonItsBatch) {
  host_.gate = "vm-gate";
  host_.fail_suffix = "-hostfail";
  QueuedCreates creates(*manager_);
  std::thread leader([&] {
    VmPlan plan;
    EXPECT_FALSE(manager_->create(root_, plan_for("vm-gate", "t1", 1, 0), plan));
  });
  ASSERT_TRUE(wait_until([&] { return host_.gate_reached.load(); }));
  // Behind the gated leader: two good creates around an invalid request, a
  // conflict with a create earlier in the same batch (vm-ok1's MAC and
  // address) and a host failure after one tap landed.
  const Planner invalid = [](store::Store&, VmPlan&) {
    return std::optional<Error>(make_error(Code::kInvalidArgument, "vm-bad: bad address"));
  };
  ASSERT_TRUE(creates.add("vm-ok1", plan_for("vm-ok1", "t1", 1, 1), root_));
  ASSERT_TRUE(creates.add("vm-bad", invalid, root_));
  ASSERT_TRUE(creates.add("vm-dup", plan_for("vm-dup", "t1", 1, 1), root_));
  ASSERT_TRUE(creates.add("vm-x-hostfail", plan_for("vm-x-hostfail", "t1", 1, 3), root_));
  ASSERT_TRUE(creates.add("vm-ok2", plan_for("vm-ok2", "t1", 1, 4), root_));
  host_.open_gate();
  leader.join();
  creates.join();

  // One transaction carried all six (the queued ones joined the leader's).
  EXPECT_EQ(manager_->stats().batches, 1u);
  EXPECT_EQ(manager_->stats().largest_batch, 6u);
  auto results = creates.results();
  EXPECT_FALSE(results.at("vm-ok1"));
  EXPECT_FALSE(results.at("vm-ok2"));
  ASSERT_TRUE(results.at("vm-bad"));
  EXPECT_EQ(results.at("vm-bad")->code, Code::kInvalidArgument);
  EXPECT_EQ(results.at("vm-bad")->message, "vm-bad: bad address");
  ASSERT_TRUE(results.at("vm-dup"));
  EXPECT_EQ(results.at("vm-dup")->code, Code::kAlreadyExists);
  EXPECT_NE(results.at("vm-dup")->message.find("vm-ok1"), std::string::npos)
      << results.at("vm-dup")->message;
  ASSERT_TRUE(results.at("vm-x-hostfail"));
  EXPECT_EQ(results.at("vm-x-hostfail")->code, Code::kUnavailable);

  // Exactly the three good VMs, whole, in the store and on the host.
  std::vector<store::VmRecord> vms;
  ASSERT_TRUE(store_->list_vms(vms).ok());
  std::vector<std::string> ids;
  for (const auto& vm : vms) ids.push_back(vm.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"vm-gate", "vm-ok1", "vm-ok2"}));
  EXPECT_EQ(rows("allocations"), 9u);
  EXPECT_EQ(rows("ports"), 3u);
  EXPECT_EQ(rows("bindings"), 3u);
  EXPECT_EQ(rows("vlans"), 3u);
  EXPECT_EQ(rows("audit"), 3u);
  EXPECT_EQ(host_.taps, (std::map<std::string, std::string>{{"tap-vm-gate-0", "vm-gate"},
                                                            {"tap-vm-ok1-0", "vm-ok1"},
                                                            {"tap-vm-ok2-0", "vm-ok2"}}));
  // And they survive a reopen (the batch was committed).
  reopen();
  EXPECT_EQ(rows("vms"), 3u);
}

TEST_F(VmManagerTest, MoreWaitersThanOneBatchAllCompleteInFullBatches) {
  // Each waiter is woken alone (done, or the oldest queued one to lead the
  // next batch): with more creates queued than one batch takes, a missed
  // hand-over would leave the rest waiting forever.
  host_.gate = "vm-gate";
  QueuedCreates creates(*manager_);
  std::thread leader([&] {
    VmPlan plan;
    EXPECT_FALSE(manager_->create(root_, plan_for("vm-gate", "t1", 1, 0), plan));
  });
  ASSERT_TRUE(wait_until([&] { return host_.gate_reached.load(); }));
  constexpr int kQueued = 150;  // the gated batch takes 63 more, then 64, then 23
  for (int i = 1; i <= kQueued; ++i) {
    const std::string id = "vm-q" + std::to_string(i);
    ASSERT_TRUE(creates.add(id, plan_for(id, "t1", 1, i), root_));
  }
  host_.open_gate();
  leader.join();
  if (!wait_until([&] { return creates.results().size() == kQueued; })) {
    std::fprintf(stderr, "queued creates never finished: %zu of %d\n", creates.results().size(),
                 kQueued);
    std::_Exit(1);  // the stuck threads can't be joined
  }
  creates.join();
  for (const auto& [id, error] : creates.results())
    EXPECT_FALSE(error) << id << ": " << error->message;
  EXPECT_EQ(manager_->stats().batches, 3u);
  EXPECT_EQ(manager_->stats().largest_batch, VmManager::kMaxBatch);
  EXPECT_EQ(rows("vms"), kQueued + 1u);
  EXPECT_EQ(rows("audit"), kQueued + 1u);
  EXPECT_EQ(host_.taps.size(), kQueued + 1u);
}

TEST_F(VmManagerTest, KillDuringAGroupCommitLeavesNoPartialVm) {
  VmPlan plan;
  ASSERT_FALSE(manager_->create(root_, plan_for("vm-before", "t1", 1, 9), plan));
  manager_.reset();
  store_.reset();  // the child opens the database on its own connection

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A daemon mid-batch: vm-gate (first, no savepoint) and vm-a (its own
    // savepoint, released) are written, then the process dies before vm-b.
    std::unique_ptr<store::Store> store;
    if (!store::Store::open(dir_ + "/state.db", store).ok()) _exit(10);
    RecordingHost host;
    host.gate = "vm-gate";
    VmManager manager(*store, host);
    const CallContext root{"uid:0", true, 0, 1}, doomed{"uid:doomed", true, 0, 2};
    manager.set_crash_hook([](const CallContext& ctx) {
      if (ctx.who == "uid:doomed") std::raise(SIGKILL);
    });
    std::thread leader([&] {
      VmPlan p;
      (void)manager.create(root, plan_for("vm-gate", "t1", 1, 0), p);
    });
    if (!wait_until([&] { return host.gate_reached.load(); })) _exit(11);
    QueuedCreates creates(manager);
    if (!creates.add("vm-a", plan_for("vm-a", "t1", 1, 1), root)) _exit(12);
    if (!creates.add("vm-b", plan_for("vm-b", "t1", 1, 2), doomed)) _exit(13);
    if (!creates.add("vm-c", plan_for("vm-c", "t1", 1, 3), root)) _exit(14);
    host.open_gate();
    leader.join();
    _exit(15);  // not reached: the hook kills the process inside the batch
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  // After the restart: only what was committed before the batch, nothing
  // of vm-gate or vm-a although their rows had been written.
  reopen();
  std::vector<store::VmRecord> vms;
  ASSERT_TRUE(store_->list_vms(vms).ok());
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0].id, "vm-before");
  std::vector<store::Allocation> allocations;
  ASSERT_TRUE(store_->list_allocations(allocations).ok());
  EXPECT_EQ(allocations.size(), 3u);
  for (const auto& a : allocations) EXPECT_EQ(a.vm_id, "vm-before");
  EXPECT_EQ(rows("ports"), 1u);
  EXPECT_EQ(rows("bindings"), 1u);
  EXPECT_EQ(rows("vlans"), 1u);
  EXPECT_EQ(rows("audit"), 1u);
  // Their addresses, MACs and taps are free: the same creates go through.
  for (const auto& [id, first] : {std::pair{"vm-gate", 0}, {"vm-a", 1}, {"vm-b", 2}}) {
    EXPECT_FALSE(manager_->create(root_, plan_for(id, "t1", 1, first), plan)) << id;
  }
}

// Durability of an acknowledged create: a child runs concurrent creates
// (group-committed, several per transaction) and reports each id through a
// pipe only once create() returned success - what the API acknowledges - then
// is killed with SIGKILL while other creates are still in flight. After a
// restart every acknowledged VM is there whole (row, allocations, port,
// binding, VLAN claim, audit row), and nothing is there half.
TEST_F(VmManagerTest, KillAfterAcknowledgementLosesNoAcknowledgedCreate) {
  manager_.reset();
  store_.reset();
  int acks[2];
  ASSERT_EQ(pipe(acks), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(acks[0]);
    std::unique_ptr<store::Store> store;
    if (!store::Store::open(dir_ + "/state.db", store).ok()) _exit(10);
    RecordingHost host;
    VmManager manager(*store, host);
    const CallContext root{"uid:0", true, 0, 1};
    std::mutex pipe_mu;
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&, c] {
        for (int i = 0;; ++i) {
          const std::string id = "vm-" + std::to_string(c) + "-" + std::to_string(i);
          VmPlan plan;
          if (manager.create(root, plan_for(id, "t1", 1, c * 1000 + i), plan)) _exit(12);
          std::lock_guard lock(pipe_mu);
          const std::string line = id + "\n";
          if (::write(acks[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            _exit(13);
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    _exit(14);  // not reached: the parent kills the process
  }
  ::close(acks[1]);
  // Read acknowledgements until there are plenty, then kill mid-stream.
  std::string acked_text;
  char buf[4096];
  while (std::count(acked_text.begin(), acked_text.end(), '\n') < 300) {
    const ssize_t n = ::read(acks[0], buf, sizeof buf);
    ASSERT_GT(n, 0) << "child stopped acknowledging";
    acked_text.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  // Acknowledgements written before the kill but not read yet count too.
  ssize_t n;
  while ((n = ::read(acks[0], buf, sizeof buf)) > 0)
    acked_text.append(buf, static_cast<std::size_t>(n));
  ::close(acks[0]);
  std::set<std::string> acked;
  for (std::size_t start = 0, end; (end = acked_text.find('\n', start)) != std::string::npos;
       start = end + 1) {
    acked.insert(acked_text.substr(start, end - start));
  }

  reopen();
  std::vector<store::VmRecord> vms;
  ASSERT_TRUE(store_->list_vms(vms).ok());
  std::set<std::string> stored;
  for (const auto& vm : vms) stored.insert(vm.id);
  for (const auto& id : acked) EXPECT_EQ(stored.count(id), 1u) << id << " acknowledged but lost";
  // Whatever is stored (acknowledged or committed just before the kill) is
  // whole: three allocations, a port, a binding, its VLAN claim, an audit row.
  EXPECT_GE(stored.size(), acked.size());
  EXPECT_EQ(rows("allocations"), 3 * stored.size());
  EXPECT_EQ(rows("ports"), stored.size());
  EXPECT_EQ(rows("bindings"), stored.size());
  EXPECT_EQ(rows("vlans"), stored.size());
  EXPECT_EQ(rows("audit"), stored.size());
  EXPECT_GE(acked.size(), 300u);
}

}  // namespace
}  // namespace v6g::api
