// VmHostProgrammer: the pure VmPlan -> port specs mapping (no root), and the
// programmer against the real kernel, each root test in a fresh network
// namespace of its own (unshare(CLONE_NEWNET) before any socket is opened).
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "host/vm_programmer.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace v6g::host {
namespace {

namespace pb = vmprovisioner::v1;

pb::VmConfig spec_single() {
  std::ifstream in(std::string(V6G_TEST_DATA) + "/spec/create_vm_single.json");
  std::stringstream text;
  text << in.rdbuf();
  pb::CreateVmRequest request;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text.str(), &request).ok());
  pb::VmConfig config = request.config();
  config.mutable_network(0)->set_tap_device("v6g0123456789a");  // allocate_vm fills this
  return config;
}

api::VmPlan plan_of(const pb::VmConfig& config, const std::string& vm_id = "vm1") {
  std::string why;
  auto plan = plan_from_config(vm_id, config, &why);
  EXPECT_TRUE(plan.has_value()) << why;
  return plan.value_or(api::VmPlan{});
}

std::vector<VmPort> ports_of(const pb::VmConfig& config, const VmProgrammerOptions& opts = {}) {
  std::string why;
  auto ports = vm_ports(plan_of(config), opts, &why);
  EXPECT_TRUE(ports.has_value()) << why;
  return ports.value_or(std::vector<VmPort>{});
}

std::string rules_text(const std::vector<FirewallRule>& rules) {
  std::string out;
  for (const auto& rule : rules) out += compile_rule(rule) + "\n";
  return out;
}

TEST(HostVmPorts, SpecExampleMapsEveryHostSetting) {
  auto ports = ports_of(spec_single());
  ASSERT_EQ(ports.size(), 1u);
  const PortSpec& s = ports[0].spec;
  EXPECT_EQ(ports[0].nic_id, "eth0");
  EXPECT_EQ(s.bridge, "br-tenant-a");
  EXPECT_EQ(s.port, "v6g0123456789a");
  EXPECT_EQ(s.vlan, 100);
  EXPECT_TRUE(s.create_tap);
  EXPECT_TRUE(s.isolated);  // tenant_isolation_level strict
  EXPECT_TRUE(s.mld_snooping);
  EXPECT_TRUE(s.mld_snooping_only_enable);
  ASSERT_TRUE(s.firewall.has_value());
  const PortFirewall& fw = *s.firewall;
  EXPECT_EQ(fw.port, "v6g0123456789a");
  // ingress_rules filter what reaches the VM, egress_rules what it sends.
  EXPECT_EQ(rules_text(fw.to_vm),
            "meta protocol ip6 meta l4proto ipv6-icmp return\n"
            "meta protocol ip6 meta l4proto tcp th dport { 80, 443 } return\n"
            "meta protocol ip6 counter drop\n");
  EXPECT_EQ(rules_text(fw.from_vm),
            "meta protocol ip6 meta l4proto tcp th dport { 53, 80, 443 } return\n"
            "meta protocol ip6 meta l4proto ipv6-icmp return\n"
            "meta protocol ip6 counter drop\n");
  EXPECT_EQ(fw.bandwidth_limit_mbps, 1000u);
  EXPECT_EQ(fw.packet_rate_limit, 10000u);
  ASSERT_TRUE(fw.log_group.has_value());  // log_security_events
  EXPECT_EQ(*fw.log_group, kDefaultFirewallLogGroup);
  EXPECT_FALSE(fw.allow_non_ipv6);
}

TEST(HostVmPorts, OptionsAndDefaults) {
  pb::VmConfig config = spec_single();
  auto* nic = config.mutable_network(0);
  nic->mutable_security_policy()->set_tenant_isolation_level("moderate");
  nic->mutable_security_policy()->set_log_security_events(false);
  nic->mutable_ipv6()->mutable_security()->set_enable_mld_snooping(false);
  (*nic->mutable_options())[kOptionTapMode] = "adopt";
  VmProgrammerOptions opts;
  opts.uplinks["br-tenant-a"] = "eth1";
  opts.tap.owner = 1000;
  opts.vlan_mode = VlanMode::kBridgePerVlan;
  auto ports = ports_of(config, opts);
  ASSERT_EQ(ports.size(), 1u);
  const PortSpec& s = ports[0].spec;
  EXPECT_FALSE(s.isolated);
  EXPECT_FALSE(s.mld_snooping);
  EXPECT_FALSE(s.create_tap);
  EXPECT_EQ(s.uplink, "eth1");
  EXPECT_EQ(s.tap.owner, 1000u);
  EXPECT_EQ(s.vlan_mode, VlanMode::kBridgePerVlan);
  EXPECT_FALSE(s.firewall->log_group.has_value());

  (*nic->mutable_options())[kOptionTapMode] = "steal";
  std::string why;
  EXPECT_FALSE(vm_ports(plan_of(config), opts, &why).has_value());
  EXPECT_NE(why.find("tap_mode"), std::string::npos) << why;
}

TEST(HostVmPorts, FirewallOnlyWhenThereIsSomethingToEnforce) {
  pb::VmConfig config = spec_single();
  auto* nic = config.mutable_network(0);
  nic->clear_security_policy();
  EXPECT_FALSE(ports_of(config)[0].spec.firewall.has_value());  // nothing asked: unfiltered
  // Isolation level and logging alone give the firewall nothing to do.
  nic->mutable_security_policy()->set_tenant_isolation_level("strict");
  nic->mutable_security_policy()->set_log_security_events(true);
  EXPECT_FALSE(ports_of(config)[0].spec.firewall.has_value());
  // QoS alone: limits, but everything allowed.
  nic->mutable_qos()->set_egress_mbps(20);
  nic->mutable_qos()->set_ingress_mbps(30);
  auto fw = ports_of(config)[0].spec.firewall;
  ASSERT_TRUE(fw.has_value());
  EXPECT_EQ(fw->from_vm_mbps, 20u);
  EXPECT_EQ(fw->to_vm_mbps, 30u);
  EXPECT_EQ(rules_text(fw->from_vm), "meta protocol ip6 return\n");
  EXPECT_EQ(rules_text(fw->to_vm), "meta protocol ip6 return\n");
  // Rules in one direction: that direction ends in the default deny, the
  // other (no ruleset) stays open.
  nic->clear_qos();
  nic->mutable_security_policy()->add_ingress_rules("allow tcp from any to any port 22");
  fw = ports_of(config)[0].spec.firewall;
  ASSERT_TRUE(fw.has_value());
  EXPECT_EQ(rules_text(fw->to_vm), "meta protocol ip6 meta l4proto tcp th dport 22 return\n");
  EXPECT_EQ(rules_text(fw->from_vm), "meta protocol ip6 return\n");
  EXPECT_TRUE(fw->log_group.has_value());
  // Only destinations: both directions open, the destination filter applies.
  nic->mutable_security_policy()->clear_ingress_rules();
  nic->mutable_security_policy()->add_allowed_destinations("2001:db8::/32");
  fw = ports_of(config)[0].spec.firewall;
  ASSERT_TRUE(fw.has_value());
  EXPECT_EQ(fw->allowed_destinations.size(), 1u);
}

TEST(HostVmPorts, AllowedDestinationsNicFirstThenVmPolicy) {
  pb::VmConfig config = spec_single();
  config.mutable_network_policy()->add_allowed_destinations("2001:db8:1::/48");
  auto fw = ports_of(config)[0].spec.firewall;
  ASSERT_EQ(fw->allowed_destinations.size(), 1u);
  EXPECT_EQ(fw->allowed_destinations[0].to_string(), "2001:db8:1::/48");
  auto* sp = config.mutable_network(0)->mutable_security_policy();
  sp->add_allowed_destinations("2001:db8:2::/64");
  sp->add_allowed_destinations("2001:db8:3::7");
  fw = ports_of(config)[0].spec.firewall;
  ASSERT_EQ(fw->allowed_destinations.size(), 2u);
  EXPECT_EQ(fw->allowed_destinations[0].to_string(), "2001:db8:2::/64");
  EXPECT_EQ(fw->allowed_destinations[1].to_string(), "2001:db8:3::7/128");
  sp->add_allowed_destinations("nope");
  std::string why;
  EXPECT_FALSE(vm_ports(plan_of(config), {}, &why).has_value());
}

TEST(HostVmPorts, RefusesWhatItCannotMap) {
  std::string why;
  pb::VmConfig config = spec_single();
  api::VmPlan plan = plan_of(config);
  plan.ports[0].ifname = "tap-other";  // record without an interface
  EXPECT_FALSE(vm_ports(plan, {}, &why).has_value());
  EXPECT_NE(why.find("tap-other"), std::string::npos) << why;
  plan = plan_of(config);
  plan.vm.config = "\xff\xff garbage";
  EXPECT_FALSE(vm_ports(plan, {}, &why).has_value());
  config.mutable_network(0)->mutable_security_policy()->add_ingress_rules("allow tcp from nowhere");
  EXPECT_FALSE(vm_ports(plan_of(config), {}, &why).has_value());
  EXPECT_NE(why.find("ingress_rules[3]"), std::string::npos) << why;
  config = spec_single();
  config.mutable_network(0)->set_vlan_id("4095");
  EXPECT_FALSE(plan_from_config("vm1", config, &why).has_value());
  config.mutable_network(0)->set_vlan_id("100");
  config.mutable_network(0)->clear_tap_device();
  EXPECT_FALSE(plan_from_config("vm1", config, &why).has_value());
}

TEST(HostVmPorts, PortRecordsWinOverTheConfigsNics) {
  pb::VmConfig config = spec_single();
  api::VmPlan plan = plan_of(config);
  plan.ports[0].vlan = 200;  // what the store granted is what gets programmed
  std::string why;
  auto ports = vm_ports(plan, {}, &why);
  ASSERT_TRUE(ports.has_value()) << why;
  EXPECT_EQ(ports->at(0).spec.vlan, 200);
  plan.ports.clear();  // no records: one port per NIC of the config
  ports = vm_ports(plan, {}, &why);
  ASSERT_TRUE(ports.has_value()) << why;
  EXPECT_EQ(ports->at(0).spec.vlan, 100);
}

TEST(HostCapabilityStatus, SaysWhichVlanModeAndWhy) {
  auto find = [](const auto& lines, const std::string& key) {
    for (const auto& [k, v] : lines)
      if (k == key) return v;
    return std::string("<missing>");
  };
  KernelCaps none;
  auto lines = capability_status(none, false);
  EXPECT_EQ(find(lines, "host.bridge_vlan_filtering"), "no");
  EXPECT_EQ(find(lines, "host.vlan_8021q"), "no");
  EXPECT_NE(find(lines, "host.vlan_mode").find("neither bridge VLAN filtering nor 8021q"),
            std::string::npos);
  EXPECT_NE(find(lines, "host.vlan_mode").find("tagged uplinks are refused"), std::string::npos);
  EXPECT_NE(find(lines, "host.port_isolation").find("refused"), std::string::npos);
  EXPECT_NE(find(lines, "host.bridge_conntrack").find("stateless"), std::string::npos);
  KernelCaps q;
  q.vlan_8021q = true;
  EXPECT_NE(find(capability_status(q, false), "host.vlan_mode").find("802.1Q subinterfaces"),
            std::string::npos);
  KernelCaps all{true, true, true, true, true};
  lines = capability_status(all, true);
  EXPECT_EQ(find(lines, "host.vlan_mode").rfind("filtering", 0), 0u);
  EXPECT_EQ(find(lines, "host.port_isolation"), "yes");
  EXPECT_EQ(find(lines, "host.mld_snooping"), "yes");
  EXPECT_NE(find(lines, "host.bridge_conntrack").find("stateful"), std::string::npos);
}

// ---- against the kernel, in a private network namespace ----

class HostVmProgrammerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
    caps_ = probe_kernel_caps();
    if (!caps_.tun || !caps_.port_isolation || !caps_.mld_snooping)
      GTEST_SKIP() << "kernel lacks tun, port isolation or MLD snooping";
    nl_.emplace();
    nft_.emplace();
  }

  // A small VM: one NIC per (tap, bridge, vlan), a firewall on the first.
  static pb::VmConfig vm(const std::vector<std::tuple<std::string, std::string, int>>& nics) {
    pb::VmConfig config;
    config.set_tenant_id("t1");
    bool first = true;
    for (const auto& [tap, bridge, vlan] : nics) {
      auto* nic = config.add_network();
      nic->set_id("eth" + std::to_string(config.network_size() - 1));
      nic->set_tap_device(tap);
      nic->set_bridge_name(bridge);
      nic->set_vlan_id(std::to_string(vlan));
      nic->mutable_ipv6()->mutable_security()->set_enable_mld_snooping(true);
      nic->mutable_security_policy()->set_tenant_isolation_level("strict");
      if (first) {
        auto* sp = nic->mutable_security_policy();
        sp->add_ingress_rules("allow tcp from any to any port 22");
        sp->set_packet_rate_limit(1000);
        first = false;
      }
    }
    return config;
  }

  std::unique_ptr<VmHostProgrammer> programmer(VmProgrammerOptions opts = {}) {
    opts.vlan_mode = VlanMode::kBridgePerVlan;  // the same on every kernel
    return std::make_unique<VmHostProgrammer>(opts, caps_);
  }

  std::vector<std::string> link_names() {
    std::vector<std::string> names;
    for (const auto& l : nl_->links())
      if (l.name != "lo") names.push_back(l.name);
    std::sort(names.begin(), names.end());
    return names;
  }
  std::vector<std::string> fw_ports() { return Nft().ports(); }  // fresh read, as after restart
  KernelCaps caps_;
  std::optional<Rtnl> nl_;
  std::optional<Nft> nft_;
};

using Names = std::vector<std::string>;

TEST_F(HostVmProgrammerTest, ProgramReprogramUnprogram) {
  auto p = programmer();
  auto plan = plan_of(vm({{"tapa", "bra", 10}, {"tapb", "bra", 20}}));
  ProgramReport first;
  ASSERT_TRUE(p->program(plan, &first).ok());
  EXPECT_GT(first.changed(), 0);
  EXPECT_EQ(link_names(), (Names{"brav10", "brav20", "tapa", "tapb"}));
  EXPECT_EQ(nl_->find_link("tapa")->master, nl_->find_link("brav10")->ifindex);
  EXPECT_TRUE(nl_->port_flags(nl_->find_link("tapb")->ifindex)->isolated);
  EXPECT_TRUE(nl_->find_link("brav10")->bridge->mld_snooping);
  EXPECT_EQ(fw_ports(), Names{"tapa"});  // only the NIC with a policy is filtered
  // The same plan again (a restart, or a retried create) changes nothing.
  ProgramReport again;
  ASSERT_TRUE(p->program(plan, &again).ok());
  EXPECT_EQ(again.changed(), 0);
  // A fresh programmer (new process) agrees.
  ProgramReport fresh;
  ASSERT_TRUE(programmer()->program(plan, &fresh).ok());
  EXPECT_EQ(fresh.changed(), 0);
  ASSERT_TRUE(p->unprogram(plan, nullptr).ok());
  EXPECT_TRUE(link_names().empty());
  EXPECT_FALSE(Nft().run("list table bridge v6guard_fw").ok());
  EXPECT_TRUE(p->unprogram(plan, nullptr).ok());  // idempotent
}

TEST_F(HostVmProgrammerTest, SharedBridgeAndAdoptedTapsOutliveTheVm) {
  ASSERT_TRUE(create_persistent_tap("vmmtap", TapOptions{}).ok());  // made by the VMM
  ASSERT_TRUE(create_persistent_tap("opstap", TapOptions{}).ok());  // made by the operator
  auto p = programmer();
  auto vm1 = vm({{"tapa", "bra", 10}});
  auto vm2 = vm({{"vmmtap", "bra", 10}, {"opstap", "bra", 10}});
  (*vm2.mutable_network(1)->mutable_options())[kOptionTapMode] = "adopt";
  ASSERT_TRUE(p->program(plan_of(vm1, "vm1"), nullptr).ok());
  ASSERT_TRUE(p->program(plan_of(vm2, "vm2"), nullptr).ok());
  const int br = nl_->find_link("brav10")->ifindex;
  EXPECT_EQ(nl_->find_link("vmmtap")->master, br);
  EXPECT_EQ(nl_->find_link("opstap")->master, br);
  EXPECT_EQ(nl_->find_link("vmmtap")->alias, "");  // adopted: never marked as ours
  EXPECT_EQ(fw_ports(), (Names{"tapa", "vmmtap"}));
  ASSERT_TRUE(p->unprogram(plan_of(vm1, "vm1"), nullptr).ok());
  EXPECT_EQ(link_names(), (Names{"brav10", "opstap", "vmmtap"}));  // vm2 still uses the bridge
  EXPECT_EQ(fw_ports(), Names{"vmmtap"});
  ASSERT_TRUE(p->unprogram(plan_of(vm2, "vm2"), nullptr).ok());
  EXPECT_EQ(link_names(), (Names{"opstap", "vmmtap"}));  // released, not deleted
  EXPECT_EQ(nl_->find_link("vmmtap")->master, 0);
  EXPECT_EQ(nl_->find_link("opstap")->master, 0);
}

TEST_F(HostVmProgrammerTest, NameCollisionRollsBackOnlyThisCall) {
  auto p = programmer();
  auto vm1 = vm({{"tapa", "bra", 10}});
  ASSERT_TRUE(p->program(plan_of(vm1, "vm1"), nullptr).ok());
  BridgeOptions opts;
  opts.vlan_filtering = false;
  ASSERT_TRUE(nl_->create_bridge("tapx", opts).ok());  // vm2's second tap name is taken
  auto vm2 = vm({{"tapb", "bra", 10}, {"tapc", "brb", 30}, {"tapx", "brb", 30}});
  auto st = p->program(plan_of(vm2, "vm2"), nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tapx"), std::string::npos) << st.message();
  // vm1 and the foreign bridge untouched; nothing of vm2 left (tapb, tapc, brbv30).
  EXPECT_EQ(link_names(), (Names{"brav10", "tapa", "tapx"}));
  EXPECT_EQ(nl_->find_link("tapa")->master, nl_->find_link("brav10")->ifindex);
  EXPECT_EQ(fw_ports(), Names{"tapa"});
  // The VmManager then calls unprogram_vm for the failed plan: still only vm2's names.
  ASSERT_TRUE(p->unprogram(plan_of(vm2, "vm2"), nullptr).ok());
  EXPECT_EQ(link_names(), (Names{"brav10", "tapa", "tapx"}));
  EXPECT_EQ(fw_ports(), Names{"tapa"});
}

TEST_F(HostVmProgrammerTest, InjectedFailuresLeaveNothingFromThisCall) {
  auto vm1 = vm({{"tapa", "bra", 10}});
  ASSERT_TRUE(programmer()->program(plan_of(vm1, "vm1"), nullptr).ok());
  auto vm2 = vm({{"tapb", "bra", 10}, {"tapc", "brb", 30}});
  for (int port = 0; port < 2; ++port) {
    VmProgrammerOptions opts;
    opts.fail_after_port = port;
    ASSERT_FALSE(programmer(opts)->program(plan_of(vm2, "vm2"), nullptr).ok()) << port;
    EXPECT_EQ(link_names(), (Names{"brav10", "tapa"})) << port;
  }
  VmProgrammerOptions opts;
  opts.fail_firewall = true;
  auto st = programmer(opts)->program(plan_of(vm2, "vm2"), nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("firewall"), std::string::npos) << st.message();
  EXPECT_EQ(link_names(), (Names{"brav10", "tapa"}));
  EXPECT_EQ(fw_ports(), Names{"tapa"});
  // Re-programming an already programmed VM that then fails removes nothing
  // that was there before the call.
  ASSERT_FALSE(programmer(opts)->program(plan_of(vm1, "vm1"), nullptr).ok());
  EXPECT_EQ(link_names(), (Names{"brav10", "tapa"}));
  EXPECT_EQ(fw_ports(), Names{"tapa"});
  EXPECT_EQ(nl_->find_link("tapa")->master, nl_->find_link("brav10")->ifindex);
}

TEST_F(HostVmProgrammerTest, FirewallOfAllPortsIsOneTransaction) {
  auto config = vm({{"tapa", "bra", 10}, {"tapb", "bra", 10}});
  config.mutable_network(1)->mutable_security_policy()->add_egress_rules(
      "allow udp from any to any port 53");
  // Someone left a *base* chain named like tapb's port chain: the kernel
  // refuses a jump to it, so the transaction fails at tapb, after tapa's
  // chains were already in the batch.
  ASSERT_TRUE(nft_->run("add table bridge v6guard_fw\n"
                        "add chain bridge v6guard_fw in_tapb { type filter hook forward "
                        "priority 10 ; }\n")
                  .ok());
  auto p = programmer();
  auto st = p->program(plan_of(config), nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("firewall"), std::string::npos) << st.message();
  EXPECT_TRUE(link_names().empty());  // links unwound
  EXPECT_TRUE(fw_ports().empty());    // and not even tapa's chains exist
  EXPECT_FALSE(nft_->run("list chain bridge v6guard_fw in_tapa").ok());
  ASSERT_TRUE(nft_->run("delete table bridge v6guard_fw").ok());
  ASSERT_TRUE(p->program(plan_of(config), nullptr).ok());
  EXPECT_EQ(fw_ports(), (Names{"tapa", "tapb"}));
  ASSERT_TRUE(p->unprogram(plan_of(config), nullptr).ok());
  EXPECT_TRUE(fw_ports().empty());
  EXPECT_TRUE(link_names().empty());
}

TEST_F(HostVmProgrammerTest, ReprogramConvergesFirewallsBothWays) {
  auto p = programmer();
  auto config = vm({{"tapa", "bra", 10}, {"tapb", "bra", 10}});
  ASSERT_TRUE(p->program(plan_of(config), nullptr).ok());
  EXPECT_EQ(fw_ports(), Names{"tapa"});
  // A newer config (or a newer compiler): tapa loses its rules, tapb gains some.
  config.mutable_network(0)->mutable_security_policy()->clear_ingress_rules();
  config.mutable_network(0)->mutable_security_policy()->clear_packet_rate_limit();
  config.mutable_network(1)->mutable_security_policy()->add_ingress_rules(
      "allow tcp from any to any port 443");
  ProgramReport report;
  ASSERT_TRUE(p->program(plan_of(config), &report).ok());
  EXPECT_EQ(report.steps.back().name, "firewall");
  EXPECT_TRUE(report.steps.back().changed);
  EXPECT_EQ(fw_ports(), Names{"tapb"});
  // Dropping the last filtered port drops the table too.
  config.mutable_network(1)->mutable_security_policy()->clear_ingress_rules();
  ASSERT_TRUE(p->program(plan_of(config), nullptr).ok());
  EXPECT_FALSE(Nft().run("list table bridge v6guard_fw").ok());
  ASSERT_TRUE(p->unprogram(plan_of(config), nullptr).ok());
  EXPECT_TRUE(link_names().empty());
}

TEST_F(HostVmProgrammerTest, RefusesIsolationTheKernelLacks) {
  KernelCaps lacking = caps_;
  lacking.port_isolation = false;
  VmProgrammerOptions opts;
  opts.vlan_mode = VlanMode::kBridgePerVlan;
  VmHostProgrammer p(opts, lacking);
  auto st = p.program(plan_of(vm({{"tapa", "bra", 10}})), nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("port isolation"), std::string::npos) << st.message();
  EXPECT_TRUE(link_names().empty());
}

}  // namespace
}  // namespace v6g::host
