#include <gtest/gtest.h>

#include "host/plan.h"
#include "host/reconcile.h"

namespace v6g::host {
namespace {

LinkInfo link(int ifindex, const std::string& name, const std::string& kind, bool owned,
              int master = 0) {
  LinkInfo l;
  l.ifindex = ifindex;
  l.name = name;
  l.kind = kind;
  l.alias = owned ? kOwnerMarker : "";
  l.master = master;
  return l;
}

datapath::Binding binding(const std::string& ifname, const char* addr) {
  datapath::Binding b;
  b.ifname = ifname;
  b.addr = *Ip6Addr::parse(addr);
  return b;
}

datapath::PortSpec port(const std::string& ifname) {
  datapath::PortSpec p;
  p.ifname = ifname;
  return p;
}

std::vector<std::string> names(const std::vector<LinkInfo>& v) {
  std::vector<std::string> out;
  for (const auto& l : v) out.push_back(l.name);
  return out;
}

TEST(Reconcile, NothingStaleWhenLiveMatchesStore) {
  StoredPorts stored{{"v6g-a"}, {"br0"}};
  LiveState live;
  live.links = {link(2, "br0", "bridge", true), link(3, "v6g-a", "tun", true, 2)};
  live.ports = {port("v6g-a")};
  live.bindings = {binding("v6g-a", "2001:db8::1"), binding("v6g-a", "2001:db8::99")};
  const Orphans o = find_orphans(stored, live);
  EXPECT_TRUE(o.bindings.empty());  // the learnt ::99 stays: the inspector restores it
  EXPECT_TRUE(o.ports.empty());
  EXPECT_TRUE(o.links.empty());
}

TEST(Reconcile, KillMidCreateLeavesTapPortAndBindingThatGo) {
  StoredPorts stored{{"v6g-a"}, {"br0"}};
  LiveState live;
  live.links = {link(2, "br0", "bridge", true), link(3, "v6g-a", "tun", true, 2),
                link(4, "v6g-b", "tun", true, 2)};
  live.ports = {port("v6g-a"), port("v6g-b")};
  live.bindings = {binding("v6g-a", "2001:db8::1"), binding("v6g-b", "2001:db8::2")};
  const Orphans o = find_orphans(stored, live);
  ASSERT_EQ(o.bindings.size(), 1u);
  EXPECT_EQ(o.bindings[0].ifname, "v6g-b");
  ASSERT_EQ(o.ports.size(), 1u);
  EXPECT_EQ(o.ports[0].ifname, "v6g-b");
  EXPECT_EQ(names(o.links), std::vector<std::string>{"v6g-b"});  // br0 still serves v6g-a
}

TEST(Reconcile, AdoptedInterfacesAndTheirStateAreNeverTouched) {
  StoredPorts stored;  // empty store
  LiveState live;
  live.links = {link(2, "br0", "bridge", false), link(3, "veth-rtr", "veth", false, 2),
                link(4, "vmm-tap", "tun", false, 2)};
  live.ports = {port("veth-rtr"), port("vmm-tap")};
  live.bindings = {binding("vmm-tap", "2001:db8::5")};
  const Orphans o = find_orphans(stored, live);
  EXPECT_TRUE(o.bindings.empty());
  EXPECT_TRUE(o.ports.empty());
  EXPECT_TRUE(o.links.empty());
}

TEST(Reconcile, StateOfAVanishedInterfaceGoes) {
  StoredPorts stored;
  LiveState live;
  live.ports = {port("v6g-gone")};
  live.bindings = {binding("v6g-gone", "2001:db8::7")};
  const Orphans o = find_orphans(stored, live);
  EXPECT_EQ(o.bindings.size(), 1u);
  EXPECT_EQ(o.ports.size(), 1u);
}

TEST(Reconcile, OwnedBridgeGoesOnlyWhenEmptiedAndUnused) {
  StoredPorts stored{{"v6g-a"}, {"br-used"}};
  LiveState live;
  live.links = {
      link(2, "br-used", "bridge", true),    // a stored port names it
      link(3, "br-empty", "bridge", true),   // only an orphan tap on it
      link(4, "br-shared", "bridge", true),  // an adopted port stays on it
      link(5, "br-ops", "bridge", false),    // not ours
      link(6, "v6g-x", "tun", true, 3),     link(7, "vm-tap", "tun", false, 4),
      link(8, "v6g-y", "tun", true, 4),     link(9, "up.20", "vlan", false, 3),
  };
  const Orphans o = find_orphans(stored, live);
  // An adopted member (here the operator's VLAN interface) keeps br-empty.
  EXPECT_EQ(names(o.links), (std::vector<std::string>{"v6g-x", "v6g-y"}));
  live.links.pop_back();
  EXPECT_EQ(names(find_orphans(stored, live).links),
            (std::vector<std::string>{"v6g-x", "v6g-y", "br-empty"}));
}

TEST(Reconcile, FirewallChainsOfPortsNoStoredVmHasGo) {
  StoredPorts stored;
  stored.add("v6g-a", "br0", 0);
  LiveState live;
  live.links = {link(2, "br0", "bridge", true), link(3, "v6g-a", "tun", true, 2),
                link(4, "v6g-b", "tun", true, 2), link(5, "vmm-tap", "tun", false, 2)};
  // Rules + QoS limits of a stored port stay; those of the killed create's
  // tap, of an adopted tap whose VM is gone and of a vanished tap go.
  live.firewall_ports = {"v6g-a", "v6g-b", "vmm-tap", "v6g-gone"};
  const Orphans o = find_orphans(stored, live);
  EXPECT_EQ(o.firewall_ports, (std::vector<std::string>{"v6g-b", "vmm-tap", "v6g-gone"}));
  EXPECT_EQ(names(o.links), std::vector<std::string>{"v6g-b"});  // the adopted tap stays
}

TEST(Reconcile, OwnedVlanSubinterfaceGoesWithTheBridgeItServes) {
  // bridge-per-vlan: VLAN 10 of br0 is bridge br0v10 with the owned
  // subinterface up0.10 as its uplink member.
  StoredPorts stored;
  stored.add("v6g-a", "br0", 10);
  EXPECT_EQ(stored.bridges, (std::set<std::string>{"br0", "br0v10"}));
  LiveState live;
  live.links = {link(2, "br0v10", "bridge", true),
                link(3, "v6g-a", "tun", true, 2),
                link(4, "up0.10", "vlan", true, 2),  // serves the stored VM: stays
                link(5, "br0v20", "bridge", true),   // only the killed create's tap...
                link(6, "v6g-b", "tun", true, 5),
                link(7, "up0.20", "vlan", true, 5),  // ...and its uplink member
                link(8, "up0.30", "vlan", true),     // kill before it joined a bridge
                link(9, "up0.40", "vlan", false)};   // the operator's, never ours
  const Orphans o = find_orphans(stored, live);
  EXPECT_EQ(names(o.links), (std::vector<std::string>{"v6g-b", "up0.20", "up0.30", "br0v20"}));
  // Once the stored VM is gone too, br0v10 and its subinterface go as well.
  const Orphans all = find_orphans(StoredPorts{}, live);
  EXPECT_EQ(names(all.links), (std::vector<std::string>{"v6g-a", "v6g-b", "up0.10", "up0.20",
                                                        "up0.30", "br0v10", "br0v20"}));
}

}  // namespace
}  // namespace v6g::host
