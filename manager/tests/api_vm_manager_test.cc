// CreateVm/DeleteVm transactions against a real SQLite file and a recording
// host: all-or-nothing when the host fails, and restart recovery.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "api/vm_manager.h"
#include "common/reason.h"

namespace v6g::api {
namespace {

// Records what is on the "host"; can be told to fail part-way.
class RecordingHost final : public HostProgrammer {
 public:
  Status program_vm(const VmPlan& plan) override {
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
};

Planner plan_for(const std::string& id, const std::string& tenant, int n_ports, int first = 0) {
  return [=](store::Store&, VmPlan& plan) -> std::optional<Error> {
    plan.vm = {id, tenant, "\x0a\x01x", R"({"vm_id":")" + id + "\"}", "", 0, 0};
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
  EXPECT_EQ(audit[0].after, R"({"vm_id":"vm-a"})");
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
  EXPECT_EQ(audit[1].before, R"({"vm_id":"vm-a"})");
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

}  // namespace
}  // namespace v6g::api
