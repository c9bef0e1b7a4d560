#include "host/reconcile.h"

#include <map>

#include "host/plan.h"

namespace v6g::host {

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

  std::set<int> removed;
  for (const auto& l : live.links) {
    // Taps only: owned VLAN subinterfaces are uplink members of bridges that
    // stored VMs may still use; they go with their bridge's plan, not here.
    if (!owned(l) || l.kind != "tun" || stored.ifnames.count(l.name) != 0) continue;
    out.links.push_back(l);
    removed.insert(l.ifindex);
  }
  for (const auto& br : live.links) {
    if (!owned(br) || br.kind != "bridge" || stored.bridges.count(br.name) != 0) continue;
    bool busy = false;
    for (const auto& l : live.links)
      if (l.master == br.ifindex && removed.count(l.ifindex) == 0) busy = true;
    if (!busy) out.links.push_back(br);
  }
  return out;
}

}  // namespace v6g::host
