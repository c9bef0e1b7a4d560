#include "host/reconcile.h"

#include <map>

#include "host/plan.h"

namespace v6g::host {

void StoredPorts::add(const std::string& ifname, const std::string& bridge, std::uint16_t vlan) {
  ifnames.insert(ifname);
  if (bridge.empty()) return;
  bridges.insert(bridge);
  // The VLAN mode is the programmer's choice (and auto may differ across
  // kernels): keeping both candidate names never removes a bridge in use.
  if (vlan != 0) bridges.insert(bridge + "v" + std::to_string(vlan));
}

Orphans find_orphans(const StoredPorts& stored, const LiveState& live) {
  std::map<std::string, const LinkInfo*> by_name;
  for (const auto& l : live.links) by_name[l.name] = &l;
  const auto owned = [](const LinkInfo& l) { return l.alias == kOwnerMarker; };
  // A datapath object is ours to remove when its interface is not a stored
  // port and is either gone or an interface v6guard created.
  const auto stale = [&](const std::string& ifname) {
    if (stored.ifnames.count(ifname) != 0) return false;
    const auto it = by_name.find(ifname);
    return it == by_name.end() || owned(*it->second);
  };

  Orphans out;
  for (const auto& b : live.bindings)
    if (stale(b.ifname)) out.bindings.push_back(b);
  for (const auto& p : live.ports)
    if (stale(p.ifname)) out.ports.push_back(p);
  // The firewall table is v6guard's alone: a port there that no stored VM
  // has is a leftover, whether its tap is ours, adopted or gone.
  for (const auto& port : live.firewall_ports)
    if (stored.ifnames.count(port) == 0) out.firewall_ports.push_back(port);

  std::set<int> removed;
  for (const auto& l : live.links) {
    if (!owned(l) || l.kind != "tun" || stored.ifnames.count(l.name) != 0) continue;
    out.links.push_back(l);
    removed.insert(l.ifindex);
  }
  const auto owned_vlan = [&](const LinkInfo& l) { return owned(l) && l.kind == "vlan"; };
  std::vector<LinkInfo> bridges;
  for (const auto& br : live.links) {
    if (!owned(br) || br.kind != "bridge" || stored.bridges.count(br.name) != 0) continue;
    bool busy = false;
    for (const auto& l : live.links)
      if (l.master == br.ifindex && removed.count(l.ifindex) == 0 && !owned_vlan(l)) busy = true;
    if (!busy) bridges.push_back(br);
  }
  std::set<int> removed_bridges;
  for (const auto& br : bridges) removed_bridges.insert(br.ifindex);
  // Owned 802.1Q subinterfaces are uplink members of bridges that stored VMs
  // may still use: they go only with their bridge, or when on none.
  for (const auto& l : live.links)
    if (owned_vlan(l) && (l.master == 0 || removed_bridges.count(l.master) != 0))
      out.links.push_back(l);
  out.links.insert(out.links.end(), bridges.begin(), bridges.end());
  return out;
}

}  // namespace v6g::host
