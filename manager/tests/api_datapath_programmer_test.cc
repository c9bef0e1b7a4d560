#include <gtest/gtest.h>

#include <map>

#include "api/datapath_programmer.h"

namespace v6g::api {
namespace {

// A Datapath that keeps what it was told, and can refuse a port.
class RecordingDatapath final : public datapath::Datapath {
 public:
  std::string_view name() const override { return "recording"; }
  Status add_port(const datapath::PortSpec& port) override {
    if (port.ifname == refuse_port) return Status::error("refused " + port.ifname);
    ports[port.ifindex] = port;
    return {};
  }
  Status remove_port(std::uint32_t ifindex) override {
    ports.erase(ifindex);
    return {};
  }
  Status add_bindings(std::span<const datapath::Binding> b) override {
    bindings.insert(bindings.end(), b.begin(), b.end());
    return {};
  }
  Status remove_bindings(std::span<const datapath::Binding> b) override {
    for (const auto& x : b) std::erase(bindings, x);
    return {};
  }
  Status list_bindings(std::vector<datapath::Binding>& out) override {
    out = bindings;
    return {};
  }
  Status counters(std::vector<datapath::PortCounters>&) override { return {}; }
  Status flush() override {
    ports.clear();
    bindings.clear();
    return {};
  }
  std::map<std::uint32_t, datapath::PortSpec> ports;
  std::vector<datapath::Binding> bindings;
  std::string refuse_port;
};

class Step final : public HostProgrammer {
 public:
  Step(std::vector<std::string>& log, std::string name, bool fail = false)
      : log_(log), name_(std::move(name)), fail_(fail) {}
  Status program_vm(const VmPlan&) override {
    log_.push_back("+" + name_);
    return fail_ ? Status::error(name_ + " failed") : Status();
  }
  Status unprogram_vm(const VmPlan&) override {
    log_.push_back("-" + name_);
    return {};
  }

 private:
  std::vector<std::string>& log_;
  std::string name_;
  bool fail_;
};

VmPlan two_port_plan() {
  VmPlan plan;
  plan.vm.id = "vm-a";
  for (const char* tap : {"tap-a0", "tap-a1"}) {
    plan.ports.push_back(
        {tap, "br-acme", 100, "02:00:00:00:00:0a", "vm-a", V6G_ROLE_VM, V6G_FAIL_CLOSED, 0});
    plan.bindings.push_back(
        {tap, 100, "02:00:00:00:00:0a", "2600:beef:1000::a", "reachable", "static", "vm-a", 0});
  }
  return plan;
}

std::uint32_t fake_ifindex(const std::string& name) {
  return name == "tap-a0" ? 10 : name == "tap-a1" ? 11 : 0;
}

TEST(DatapathProgrammer, ProgramsPortsAndBindingsWithIfindexes) {
  RecordingDatapath dp;
  DatapathProgrammer programmer(dp, fake_ifindex);
  ASSERT_TRUE(programmer.program_vm(two_port_plan()).ok());
  ASSERT_EQ(dp.ports.size(), 2u);
  EXPECT_EQ(dp.ports.at(11).ifname, "tap-a1");
  EXPECT_EQ(dp.ports.at(11).vlan, 100);
  EXPECT_EQ(dp.ports.at(11).mac.to_string(), "02:00:00:00:00:0a");
  EXPECT_EQ(dp.ports.at(11).fail_mode, datapath::FailMode::kClosed);
  ASSERT_EQ(dp.bindings.size(), 2u);
  EXPECT_EQ(dp.bindings[0].ifindex, 10u);
  EXPECT_EQ(dp.bindings[0].addr.to_string(), "2600:beef:1000::a");
  // The ports' own VLAN arrives untagged on the taps: the datapath matches 0.
  EXPECT_EQ(dp.bindings[0].vlan, 0);
  ASSERT_TRUE(programmer.unprogram_vm(two_port_plan()).ok());
  EXPECT_TRUE(dp.ports.empty());
  EXPECT_TRUE(dp.bindings.empty());
}

TEST(DatapathProgrammer, BindingInAnotherVlanKeepsItsTag) {
  VmPlan plan = two_port_plan();
  plan.bindings[1].vlan = 200;  // tagged frames on a trunk
  RecordingDatapath dp;
  DatapathProgrammer programmer(dp, fake_ifindex);
  ASSERT_TRUE(programmer.program_vm(plan).ok());
  ASSERT_EQ(dp.bindings.size(), 2u);
  EXPECT_EQ(dp.bindings[0].vlan, 0);
  EXPECT_EQ(dp.bindings[1].vlan, 200);
  ASSERT_TRUE(programmer.unprogram_vm(plan).ok());
  EXPECT_TRUE(dp.bindings.empty());
}

TEST(DatapathProgrammer, MissingTapOrBadBindingFails) {
  RecordingDatapath dp;
  DatapathProgrammer programmer(dp, [](const std::string&) { return 0u; });
  auto s = programmer.program_vm(two_port_plan());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tap-a0"), std::string::npos);

  DatapathProgrammer ok_names(dp, fake_ifindex);
  VmPlan plan = two_port_plan();
  plan.bindings[1].ip6 = "not-an-address";
  EXPECT_FALSE(ok_names.program_vm(plan).ok());
}

TEST(ChainedProgrammer, FailureUnwindsInReverse) {
  std::vector<std::string> log;
  Step taps(log, "taps"), dp(log, "datapath", /*fail=*/true), fw(log, "firewall");
  ChainedProgrammer chain({&taps, &dp, &fw});
  EXPECT_FALSE(chain.program_vm(two_port_plan()).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"+taps", "+datapath", "-datapath", "-taps"}));
  log.clear();
  EXPECT_TRUE(chain.unprogram_vm(two_port_plan()).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"-firewall", "-datapath", "-taps"}));
}

TEST(ChainedProgrammer, ReprogramAfterRestartNeverTearsDown) {
  // A restart re-applies a VM that is already in place: a failing step must
  // not unprogram the working ones (a running VM would lose its taps).
  std::vector<std::string> log;
  Step taps(log, "taps"), dp(log, "datapath", /*fail=*/true), fw(log, "firewall");
  ChainedProgrammer chain({&taps, &dp, &fw});
  const Status s = chain.reprogram_vm(two_port_plan());
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(log, (std::vector<std::string>{"+taps", "+datapath", "+firewall"}));
}

}  // namespace
}  // namespace v6g::api
