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
      link(8, "v6g-y", "tun", true, 4),     link(9, "up.10", "vlan", true, 3),
  };
  const Orphans o = find_orphans(stored, live);
  // Owned VLAN subinterfaces stay, so br-empty still has a member and stays too.
  EXPECT_EQ(names(o.links), (std::vector<std::string>{"v6g-x", "v6g-y"}));
  live.links.pop_back();
  EXPECT_EQ(names(find_orphans(stored, live).links),
            (std::vector<std::string>{"v6g-x", "v6g-y", "br-empty"}));
}

}  // namespace
}  // namespace v6g::host
