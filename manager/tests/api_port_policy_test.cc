// From a created VM to guard port policies, and the HostProgrammer step that
// pushes them to the inspector: field mapping, prefixes, failure unwinding,
// removal by the ifindex that was pushed.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "api/datapath_programmer.h"
#include "api/port_policy.h"
#include "api/vm_service.h"

namespace v6g::api {
namespace {

namespace vmp = vmprovisioner::v1;

vmp::VmConfig spec_config() {
  std::ifstream in(std::string(V6G_TEST_DATA) + "/spec/create_vm_single.json");
  std::stringstream s;
  s << in.rdbuf();
  vmp::CreateVmRequest req;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(s.str(), &req).ok());
  auto config = req.config();
  config.mutable_network(0)->set_tap_device("tap-web");
  // A second NIC on SLAAC (no static address) in the same VM.
  auto& slaac = *config.add_network();
  slaac = config.network(0);
  slaac.set_id("eth1");
  slaac.set_tap_device("tap-slaac");
  slaac.set_mac_address("02:00:00:00:00:02");
  slaac.mutable_ipv6()->clear_address();
  slaac.mutable_ipv6()->set_enable_slaac(true);
  slaac.mutable_ipv6()->set_temp_valid_lifetime(0);
  slaac.mutable_ipv6()->mutable_security()->set_block_hop_by_hop(false);
  return config;
}

std::uint32_t fake_ifindex(const std::string& name) {
  static const std::map<std::string, std::uint32_t> kIndex{{"tap-web", 7}, {"tap-slaac", 8}};
  auto it = kIndex.find(name);
  return it == kIndex.end() ? 0 : it->second;
}

TEST(PortPolicy, MapsEverySecurityFieldOfEachNic) {
  const auto config = spec_config();
  const VmPlan plan = plan_from_config("vm-1", config);
  const Ip6Prefix block = *Ip6Prefix::parse("2600:beef:1000::/44");
  std::string error;
  const auto policies = port_policies(plan, config, fake_ifindex, {&block, 1}, &error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(policies.size(), 2u);

  const guard::PortPolicy& p = policies[0];
  EXPECT_EQ(p.port, 7u);
  EXPECT_EQ(p.role, guard::PortRole::kVm);
  EXPECT_EQ(p.vlan, 100);
  EXPECT_EQ(p.mac, *MacAddr::parse("aa:fc:00:00:00:01"));
  EXPECT_EQ(p.vm_id, "vm-1");
  EXPECT_EQ(p.tenant_id, "customer-123");
  EXPECT_EQ(p.interface_id, "eth0");
  EXPECT_FALSE(p.monitor);
  EXPECT_TRUE(p.enable_ra_guard);
  ASSERT_EQ(p.allowed_ra_sources.size(), 1u);
  EXPECT_EQ(p.allowed_ra_sources[0], *Ip6Addr::parse("2600:beef:1000:100::1"));
  EXPECT_TRUE(p.enable_source_guard);
  EXPECT_TRUE(p.strict_source_validation);
  EXPECT_TRUE(p.block_hop_by_hop);
  EXPECT_TRUE(p.block_routing_header);
  EXPECT_TRUE(p.block_fragment_header);
  EXPECT_TRUE(p.block_destination_options);
  EXPECT_EQ(p.nd_rate_limit, 100u);
  EXPECT_EQ(p.icmpv6_rate_limit, 100u);
  EXPECT_EQ(p.ra_rate_limit, 10u);
  EXPECT_TRUE(p.enable_mld_snooping);
  EXPECT_EQ(p.multicast_rate_limit, 50u);
  EXPECT_TRUE(p.enable_privacy_extensions);
  EXPECT_TRUE(p.enable_stable_privacy);
  EXPECT_EQ(p.temp_valid_lifetime, 3600 * guard::kSecond);
  EXPECT_EQ(p.packet_rate_limit, 10000u);
  EXPECT_TRUE(p.log_security_events);
  ASSERT_EQ(p.static_addresses.size(), 1u);
  EXPECT_EQ(p.static_addresses[0], *Ip6Addr::parse("2600:beef:1000:100::50"));
  ASSERT_EQ(p.allocated_prefixes.size(), 1u);
  EXPECT_EQ(p.allocated_prefixes[0], *Ip6Prefix::parse("2600:beef:1000:100::/64"));
  ASSERT_EQ(p.gateways.size(), 1u);  // the spec writes it in upper case
  EXPECT_EQ(p.gateways[0], *Ip6Addr::parse("2600:beef:1000:100::1"));

  const guard::PortPolicy& s = policies[1];
  EXPECT_EQ(s.port, 8u);
  EXPECT_EQ(s.interface_id, "eth1");
  EXPECT_FALSE(s.block_hop_by_hop);
  EXPECT_TRUE(s.static_addresses.empty());
  // SLAAC: learns anywhere in the host's blocks; default lifetime kept.
  ASSERT_EQ(s.allocated_prefixes.size(), 1u);
  EXPECT_EQ(s.allocated_prefixes[0], block);
  EXPECT_EQ(s.temp_valid_lifetime, guard::PortPolicy{}.temp_valid_lifetime);
}

TEST(PortPolicy, MissingTapIsAnError) {
  const auto config = spec_config();
  const VmPlan plan = plan_from_config("vm-1", config);
  std::string error;
  const auto policies = port_policies(
      plan, config, [](const std::string&) { return 0u; }, {}, &error);
  EXPECT_TRUE(policies.empty());
  EXPECT_NE(error.find("tap-web"), std::string::npos) << error;
}

struct Sink {
  std::map<guard::PortId, guard::PortPolicy> ports;
  std::vector<guard::PortId> removed;
  guard::PortId fail_on = 0;
  GuardPolicyProgrammer programmer(IfindexResolver resolve = fake_ifindex) {
    return GuardPolicyProgrammer(
        [this](const guard::PortPolicy& p) {
          if (p.port == fail_on) return Status::error("engine full");
          ports[p.port] = p;
          return Status();
        },
        [this](guard::PortId port) {
          removed.push_back(port);
          ports.erase(port);
        },
        std::move(resolve));
  }
};

TEST(GuardPolicyProgrammer, PushesOnProgramAndRemovesOnUnprogram) {
  Sink sink;
  auto step = sink.programmer();
  const VmPlan plan = plan_from_config("vm-1", spec_config());
  ASSERT_TRUE(step.program_vm(plan).ok());
  ASSERT_EQ(sink.ports.size(), 2u);
  EXPECT_EQ(sink.ports.at(7).vm_id, "vm-1");
  // Idempotent (restart recovery programs again): still one policy per port.
  ASSERT_TRUE(step.program_vm(plan).ok());
  EXPECT_EQ(sink.ports.size(), 2u);
  ASSERT_TRUE(step.unprogram_vm(plan).ok());
  EXPECT_TRUE(sink.ports.empty());
  EXPECT_EQ(sink.removed, (std::vector<guard::PortId>{7, 8}));
}

TEST(GuardPolicyProgrammer, RemovesByThePushedIndexWhenTheTapIsGone) {
  Sink sink;
  bool taps_exist = true;
  auto step = sink.programmer(
      [&](const std::string& name) { return taps_exist ? fake_ifindex(name) : 0u; });
  const VmPlan plan = plan_from_config("vm-1", spec_config());
  ASSERT_TRUE(step.program_vm(plan).ok());
  taps_exist = false;  // the host step deleted the taps first
  ASSERT_TRUE(step.unprogram_vm(plan).ok());
  EXPECT_TRUE(sink.ports.empty());
}

TEST(GuardPolicyProgrammer, FailureTakesBackWhatWasPushed) {
  Sink sink;
  sink.fail_on = 8;
  auto step = sink.programmer();
  const VmPlan plan = plan_from_config("vm-1", spec_config());
  const Status s = step.program_vm(plan);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("engine full"), std::string::npos);
  EXPECT_TRUE(sink.ports.empty());
  EXPECT_EQ(sink.removed, std::vector<guard::PortId>{7});
}

TEST(GuardPolicyProgrammer, UnwindsInAChainWhenALaterStepFails) {
  Sink sink;
  auto step = sink.programmer();
  struct Failing final : HostProgrammer {
    Status program_vm(const VmPlan&) override { return Status::error("nft: busy"); }
    Status unprogram_vm(const VmPlan&) override { return {}; }
  } failing;
  ChainedProgrammer chain({&step, &failing});
  ASSERT_FALSE(chain.program_vm(plan_from_config("vm-1", spec_config())).ok());
  EXPECT_TRUE(sink.ports.empty());
}

TEST(PlanFromConfig, PortsAllocationsClaimsAndStaticBindings) {
  const VmPlan plan = plan_from_config("vm-1", spec_config());
  EXPECT_EQ(plan.vm.tenant_id, "customer-123");
  EXPECT_EQ(plan.vm.state, "created");
  ASSERT_EQ(plan.ports.size(), 2u);
  EXPECT_EQ(plan.ports[0].mac, "aa:fc:00:00:00:01");  // canonical lower case
  EXPECT_EQ(plan.ports[1].flags & V6G_PORT_F_BLOCK_HBH, 0u);
  // Two NICs on the same (bridge, VLAN): one claim.
  ASSERT_EQ(plan.vlans.size(), 1u);
  // Only the static address is bound (and allocated); SLAAC is learned.
  ASSERT_EQ(plan.bindings.size(), 1u);
  EXPECT_EQ(plan.bindings[0].ip6, "2600:beef:1000:100::50");
  EXPECT_EQ(plan.allocations.size(), 5u);  // 2 taps, 2 MACs, 1 address
}

}  // namespace
}  // namespace v6g::api
