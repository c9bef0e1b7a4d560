// HostPlan against the real kernel: every test moves its process into a fresh
// network namespace first (unshare(CLONE_NEWNET)), so nothing here can touch
// the host's interfaces. Skips without CAP_NET_ADMIN.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>

#include "host/plan.h"

namespace v6g::host {
namespace {

class HostPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
    caps_ = probe_kernel_caps();
    if (!caps_.tun) GTEST_SKIP() << "/dev/net/tun unusable";
    // Netlink sockets bind to the namespace they are opened in: open them
    // only now, inside the test's own namespace.
    rtnl_.emplace();
    nftables_.emplace();
  }

  HostPlan plan(const PortSpec& spec) {
    std::string why;
    auto p = HostPlan::build(spec, caps_, &why);
    EXPECT_TRUE(p.has_value()) << why;
    return *p;
  }

  // Everything except loopback.
  std::vector<std::string> link_names() {
    std::vector<std::string> names;
    for (const auto& l : nl().links())
      if (l.name != "lo") names.push_back(l.name);
    std::sort(names.begin(), names.end());
    return names;
  }
  bool fw_table_present() { return nft().run("list table bridge v6guard_fw").ok(); }

  static PortSpec spec(const std::string& bridge, const std::string& port) {
    PortSpec s;
    s.bridge = bridge;
    s.port = port;
    return s;
  }

  Rtnl& nl() { return *rtnl_; }
  Nft& nft() { return *nftables_; }

  KernelCaps caps_;
  std::optional<Rtnl> rtnl_;
  std::optional<Nft> nftables_;
};

TEST_F(HostPlanTest, ApplyBuildsBridgeTapIsolationAndFirewall) {
  PortSpec s = spec("brt", "tapa");
  s.isolated = true;
  s.tap.owner = 4242;
  s.firewall = PortFirewall{};
  auto p = plan(s);
  std::vector<StepReport> report;
  ASSERT_TRUE(p.apply(nl(), nft(), &report).ok());
  auto br = nl().find_link("brt");
  auto tap = nl().find_link("tapa");
  ASSERT_TRUE(br && tap);
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_EQ(tap->kind, "tun");
  EXPECT_EQ(tap->master, br->ifindex);
  EXPECT_TRUE(br->up);
  EXPECT_TRUE(tap->up);
  EXPECT_EQ(br->alias, kOwnerMarker);
  EXPECT_EQ(tap->alias, kOwnerMarker);
  EXPECT_FALSE(tap->mac.is_zero());
  auto flags = nl().port_flags(tap->ifindex);
  ASSERT_TRUE(flags.has_value());
  EXPECT_TRUE(flags->isolated);
  EXPECT_TRUE(nft().has_port("tapa"));
  for (const auto& r : report) EXPECT_TRUE(r.name != "firewall" || r.changed);
}

TEST_F(HostPlanTest, ReapplyChangesNothingAndRemoveLeavesNothing) {
  PortSpec s = spec("brt", "tapa");
  s.isolated = true;
  s.vlan = 20;
  s.firewall = PortFirewall{};
  auto p = plan(s);
  ASSERT_TRUE(p.apply(nl(), nft()).ok());
  std::vector<StepReport> again;
  ASSERT_TRUE(p.apply(nl(), nft(), &again).ok());
  ASSERT_FALSE(again.empty());
  for (const auto& r : again) EXPECT_FALSE(r.changed) << r.name;
  ASSERT_TRUE(p.remove(nl(), nft()).ok());
  EXPECT_TRUE(link_names().empty());
  EXPECT_FALSE(fw_table_present());
  // Remove is idempotent.
  EXPECT_TRUE(p.remove(nl(), nft()).ok());
}

TEST_F(HostPlanTest, AdoptedBridgeAndTapSurviveRemove) {
  BridgeOptions opts;
  opts.vlan_filtering = false;
  ASSERT_TRUE(nl().create_bridge("brpre", opts).ok());
  ASSERT_TRUE(create_persistent_tap("tappre", TapOptions{}).ok());
  PortSpec s = spec("brpre", "tappre");
  s.create_tap = false;
  s.isolated = true;
  auto p = plan(s);
  ASSERT_TRUE(p.apply(nl(), nft()).ok());
  auto br = nl().find_link("brpre");
  ASSERT_TRUE(br.has_value());
  EXPECT_EQ(nl().find_link("tappre")->master, br->ifindex);
  EXPECT_EQ(br->alias, "");  // adoption never marks ownership
  ASSERT_TRUE(p.remove(nl(), nft()).ok());
  EXPECT_EQ(link_names(), (std::vector<std::string>{"brpre", "tappre"}));
  EXPECT_EQ(nl().find_link("tappre")->master, 0);
  EXPECT_FALSE(nl().port_flags(nl().find_link("tappre")->ifindex).has_value());
}

TEST_F(HostPlanTest, MldSnoopingAndQuerierFollowTheSpec) {
  PortSpec s = spec("brt", "tapa");
  s.mld_snooping = false;
  ASSERT_TRUE(plan(s).apply(nl(), nft()).ok());
  auto br = nl().find_link("brt");
  ASSERT_TRUE(br && br->bridge);
  EXPECT_FALSE(br->bridge->mld_snooping);
  EXPECT_FALSE(br->bridge->mcast_querier);  // the router queries, not the host
  s.mld_snooping = true;
  std::vector<StepReport> report;
  ASSERT_TRUE(plan(s).apply(nl(), nft(), &report).ok());
  EXPECT_TRUE(report.front().changed) << report.front().name;
  EXPECT_TRUE(nl().find_link("brt")->bridge->mld_snooping);
  report.clear();
  ASSERT_TRUE(plan(s).apply(nl(), nft(), &report).ok());
  EXPECT_FALSE(report.front().changed);
}

TEST_F(HostPlanTest, ChangedFirewallIsReplacedAtomicallyAndReported) {
  PortSpec s = spec("brt", "tapa");
  s.firewall = PortFirewall{};
  ASSERT_TRUE(plan(s).apply(nl(), nft()).ok());
  s.firewall->to_vm.push_back(
      *config::parse_firewall_rule("allow tcp from any to any port 80").rule);
  std::vector<StepReport> report;
  ASSERT_TRUE(plan(s).apply(nl(), nft(), &report).ok());
  EXPECT_EQ(report.back().name, "firewall");
  EXPECT_TRUE(report.back().changed);
  // A fresh reader (as after a restart) sees the new rules and their fingerprint.
  Nft fresh;
  ASSERT_TRUE(fresh.run("list chain bridge v6guard_fw out_tapa").ok());
  bool changed = true;
  PortFirewall fw = *s.firewall;
  fw.port = "tapa";
  ASSERT_TRUE(fresh.apply(fw, &changed).ok());
  EXPECT_FALSE(changed);
  fw.to_vm.clear();
  ASSERT_TRUE(fresh.apply(fw, &changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_EQ(fresh.ports(), std::vector<std::string>{"tapa"});
  ASSERT_TRUE(plan(s).remove(nl(), nft()).ok());
  EXPECT_FALSE(fw_table_present());
}

TEST_F(HostPlanTest, SharedBridgeDeletedWithItsLastPort) {
  auto a = plan(spec("brt", "tapa"));
  auto b = plan(spec("brt", "tapb"));
  ASSERT_TRUE(a.apply(nl(), nft()).ok());
  ASSERT_TRUE(b.apply(nl(), nft()).ok());
  ASSERT_TRUE(a.remove(nl(), nft()).ok());
  EXPECT_EQ(link_names(), (std::vector<std::string>{"brt", "tapb"}));
  ASSERT_TRUE(b.remove(nl(), nft()).ok());
  EXPECT_TRUE(link_names().empty());
}

TEST_F(HostPlanTest, FirewallTableGoesWithTheLastPort) {
  PortSpec sa = spec("brt", "tapa");
  sa.firewall = PortFirewall{};
  PortSpec sb = spec("brt", "tapb");
  sb.firewall = PortFirewall{};
  auto a = plan(sa);
  auto b = plan(sb);
  ASSERT_TRUE(a.apply(nl(), nft()).ok());
  ASSERT_TRUE(b.apply(nl(), nft()).ok());
  EXPECT_EQ(nft().ports().size(), 2u);
  ASSERT_TRUE(a.remove(nl(), nft()).ok());
  EXPECT_EQ(nft().ports(), std::vector<std::string>{"tapb"});
  EXPECT_FALSE(nft().run("list chain bridge v6guard_fw in_tapa").ok());
  ASSERT_TRUE(b.remove(nl(), nft()).ok());
  EXPECT_FALSE(fw_table_present());
}

TEST_F(HostPlanTest, ConflictingNameRollsBackEverything) {
  // A bridge already holds the port's name: refused after we created the
  // tenant bridge, which must go again.
  BridgeOptions opts;
  opts.vlan_filtering = false;
  ASSERT_TRUE(nl().create_bridge("tapx", opts).ok());
  PortSpec s = spec("brt", "tapx");
  s.firewall = PortFirewall{};
  auto p = plan(s);
  std::vector<StepReport> report;
  auto st = p.apply(nl(), nft(), &report);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("taken by a bridge"), std::string::npos) << st.message();
  EXPECT_EQ(link_names(), std::vector<std::string>{"tapx"});  // ours gone, theirs kept
  EXPECT_FALSE(fw_table_present());
}

TEST_F(HostPlanTest, FailureAtEveryStepLeavesNothing) {
  PortSpec s = spec("brt", "tapa");
  s.isolated = true;
  s.vlan = 30;
  s.firewall = PortFirewall{};
  auto p = plan(s);
  std::vector<StepReport> full;
  ASSERT_TRUE(p.apply(nl(), nft(), &full).ok());
  ASSERT_TRUE(p.remove(nl(), nft()).ok());
  // The firewall is the last step; failing "after" it is covered by the
  // conflicting-name test. Each earlier failure must unwind completely.
  for (int n = 0; n < static_cast<int>(full.size()); ++n) {
    auto q = p;
    q.inject_failure_at(n);
    auto st = q.apply(nl(), nft());
    ASSERT_FALSE(st.ok()) << n;
    EXPECT_TRUE(link_names().empty()) << "after failing step " << n << " (" << full[n].name << ")";
    EXPECT_FALSE(fw_table_present()) << n;
  }
}

TEST_F(HostPlanTest, AdoptingABridgeAsPortFailsInTheKernelAndRollsBack) {
  BridgeOptions opts;
  opts.vlan_filtering = false;
  ASSERT_TRUE(nl().create_bridge("tapx", opts).ok());
  PortSpec s = spec("brt", "tapx");
  s.create_tap = false;  // adopt: the kernel itself refuses a bridge in a bridge
  auto st = plan(s).apply(nl(), nft());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("enslave"), std::string::npos) << st.message();
  EXPECT_EQ(link_names(), std::vector<std::string>{"tapx"});
}

TEST_F(HostPlanTest, ApplyAllIsAllOrNothingPerVm) {
  BridgeOptions opts;
  opts.vlan_filtering = false;
  ASSERT_TRUE(nl().create_bridge("tapc", opts).ok());  // the VM's second port name is taken
  PortSpec first = spec("brt", "tapa");
  first.firewall = PortFirewall{};
  std::vector<HostPlan> vm = {plan(first), plan(spec("brt", "tapc"))};
  ASSERT_FALSE(apply_all(vm, nl(), nft()).ok());
  EXPECT_EQ(link_names(), std::vector<std::string>{"tapc"});
  EXPECT_FALSE(fw_table_present());
  std::vector<HostPlan> ok_vm = {plan(first), plan(spec("brt", "tapb"))};
  ASSERT_TRUE(apply_all(ok_vm, nl(), nft()).ok());
  EXPECT_EQ(link_names(), (std::vector<std::string>{"brt", "tapa", "tapb", "tapc"}));
  ASSERT_TRUE(remove_all(ok_vm, nl(), nft()).ok());
  EXPECT_EQ(link_names(), std::vector<std::string>{"tapc"});
  EXPECT_FALSE(fw_table_present());
}

TEST_F(HostPlanTest, VlanFilteringPortCarriesOnlyItsVlan) {
  if (!caps_.bridge_vlan_filtering)
    GTEST_SKIP() << "kernel lacks CONFIG_BRIDGE_VLAN_FILTERING (bridge-per-vlan mode is used)";
  PortSpec s = spec("brt", "tapa");
  s.vlan = 100;
  s.vlan_mode = VlanMode::kFiltering;
  auto p = plan(s);
  ASSERT_TRUE(p.apply(nl(), nft()).ok());
  auto vlans = nl().port_vlans(nl().find_link("tapa")->ifindex);
  ASSERT_EQ(vlans.size(), 1u);
  EXPECT_EQ(vlans[0].vid, 100);
  EXPECT_TRUE(vlans[0].pvid);
  EXPECT_TRUE(vlans[0].untagged);
  ASSERT_TRUE(p.remove(nl(), nft()).ok());
  EXPECT_TRUE(link_names().empty());
}

TEST_F(HostPlanTest, BridgePerVlanSeparatesVlans) {
  PortSpec s10 = spec("brt", "tapa");
  s10.vlan = 10;
  s10.vlan_mode = VlanMode::kBridgePerVlan;
  PortSpec s20 = spec("brt", "tapb");
  s20.vlan = 20;
  s20.vlan_mode = VlanMode::kBridgePerVlan;
  auto a = plan(s10);
  auto b = plan(s20);
  ASSERT_TRUE(a.apply(nl(), nft()).ok());
  ASSERT_TRUE(b.apply(nl(), nft()).ok());
  EXPECT_EQ(nl().find_link("tapa")->master, nl().find_link("brtv10")->ifindex);
  EXPECT_EQ(nl().find_link("tapb")->master, nl().find_link("brtv20")->ifindex);
  ASSERT_TRUE(a.remove(nl(), nft()).ok());
  ASSERT_TRUE(b.remove(nl(), nft()).ok());
  EXPECT_TRUE(link_names().empty());
}

TEST_F(HostPlanTest, UntaggedUplinkJoinsAndLeavesWithTheLastPort) {
  ASSERT_TRUE(create_persistent_tap("upl", TapOptions{}).ok());  // stands in for the NIC
  PortSpec a = spec("brt", "tapa");
  a.uplink = "upl";
  a.vlan_mode = VlanMode::kBridgePerVlan;
  PortSpec b = a;
  b.port = "tapb";
  ASSERT_TRUE(plan(a).apply(nl(), nft()).ok());
  ASSERT_TRUE(plan(b).apply(nl(), nft()).ok());
  EXPECT_EQ(nl().find_link("upl")->master, nl().find_link("brt")->ifindex);
  ASSERT_TRUE(plan(a).remove(nl(), nft()).ok());
  EXPECT_EQ(nl().find_link("upl")->master, nl().find_link("brt")->ifindex);  // tapb still needs it
  ASSERT_TRUE(plan(b).remove(nl(), nft()).ok());
  EXPECT_EQ(link_names(), std::vector<std::string>{"upl"});  // adopted: released, not deleted
  EXPECT_EQ(nl().find_link("upl")->master, 0);
}

TEST_F(HostPlanTest, TaggedUplinkTrunkInFilteringMode) {
  if (!caps_.bridge_vlan_filtering) GTEST_SKIP() << "kernel lacks CONFIG_BRIDGE_VLAN_FILTERING";
  ASSERT_TRUE(create_persistent_tap("upl", TapOptions{}).ok());
  PortSpec a = spec("brt", "tapa");
  a.uplink = "upl";
  a.vlan = 10;
  a.vlan_mode = VlanMode::kFiltering;
  PortSpec b = a;
  b.port = "tapb";
  PortSpec c = a;
  c.port = "tapc";
  c.vlan = 20;
  for (const auto* p : {&a, &b, &c}) {
    auto st = plan(*p).apply(nl(), nft());
    ASSERT_TRUE(st.ok()) << st.message();
  }
  auto vids = [this] {
    std::vector<std::uint16_t> out;
    for (const auto& v : nl().port_vlans(nl().find_link("upl")->ifindex)) {
      if (v.vid == 1) continue;                     // the uplink's native VLAN is the operator's
      EXPECT_FALSE(v.pvid || v.untagged) << v.vid;  // ours: tagged only
      out.push_back(v.vid);
    }
    return out;
  };
  EXPECT_EQ(vids(), (std::vector<std::uint16_t>{10, 20}));
  ASSERT_TRUE(plan(c).remove(nl(), nft()).ok());
  EXPECT_EQ(vids(), std::vector<std::uint16_t>{10});
  ASSERT_TRUE(plan(a).remove(nl(), nft()).ok());
  EXPECT_EQ(vids(), std::vector<std::uint16_t>{10});  // tapb still on vlan 10
  ASSERT_TRUE(plan(b).remove(nl(), nft()).ok());
  EXPECT_EQ(link_names(), std::vector<std::string>{"upl"});
}

TEST_F(HostPlanTest, TaggedUplinkSubinterfaceInBridgePerVlanMode) {
  if (!caps_.vlan_8021q) GTEST_SKIP() << "kernel lacks 8021q";
  ASSERT_TRUE(create_persistent_tap("upl", TapOptions{}).ok());
  PortSpec a = spec("brt", "tapa");
  a.uplink = "upl";
  a.vlan = 10;
  a.vlan_mode = VlanMode::kBridgePerVlan;
  auto p = plan(a);
  EXPECT_EQ(p.uplink_member(), "upl.10");
  auto st = p.apply(nl(), nft());
  ASSERT_TRUE(st.ok()) << st.message();
  auto sub = nl().find_link("upl.10");
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(sub->kind, "vlan");
  EXPECT_EQ(sub->master, nl().find_link("brtv10")->ifindex);
  EXPECT_EQ(sub->alias, kOwnerMarker);
  std::vector<StepReport> again;
  ASSERT_TRUE(p.apply(nl(), nft(), &again).ok());
  for (const auto& r : again) EXPECT_FALSE(r.changed) << r.name;
  ASSERT_TRUE(p.remove(nl(), nft()).ok());
  EXPECT_EQ(link_names(), std::vector<std::string>{"upl"});
}

TEST(HostPlanBuild, Validates) {
  KernelCaps caps;  // nothing supported
  std::string why;
  PortSpec s;
  s.bridge = "br0";
  s.port = "tap0";
  EXPECT_TRUE(HostPlan::build(s, caps, &why).has_value());
  s.vlan = 4095;
  EXPECT_FALSE(HostPlan::build(s, caps, &why).has_value());
  s.vlan = 10;
  s.vlan_mode = VlanMode::kFiltering;
  EXPECT_FALSE(HostPlan::build(s, caps, &why).has_value());
  EXPECT_NE(why.find("VLAN filtering"), std::string::npos);
  s.vlan_mode = VlanMode::kAuto;
  auto p = HostPlan::build(s, caps, &why);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->vlan_mode(), VlanMode::kBridgePerVlan);
  EXPECT_EQ(p->bridge_name(), "br0v10");
  caps.bridge_vlan_filtering = true;
  EXPECT_EQ(HostPlan::build(s, caps, &why)->bridge_name(), "br0");
  s.bridge = "tenant-bridge1";  // + "v10" exceeds IFNAMSIZ
  caps.bridge_vlan_filtering = false;
  EXPECT_FALSE(HostPlan::build(s, caps, &why).has_value());
  s.bridge = "br0";
  s.uplink = "eth1";  // vlan 10, bridge-per-vlan, no 8021q
  EXPECT_FALSE(HostPlan::build(s, caps, &why).has_value());
  EXPECT_NE(why.find("802.1Q"), std::string::npos) << why;
  caps.vlan_8021q = true;
  EXPECT_EQ(HostPlan::build(s, caps, &why)->uplink_member(), "eth1.10");
  s.uplink.clear();
  s.port = "br0";
  EXPECT_FALSE(HostPlan::build(s, caps, &why).has_value());
  s.port = "bad name";
  EXPECT_FALSE(HostPlan::build(s, caps, &why).has_value());
}

}  // namespace
}  // namespace v6g::host
