// Restart reconciliation, the pure half: given what the store holds and what
// the host and datapath hold now, which objects does nobody own any more?
// A kill -9 between programming a VM and committing it to the store leaves
// its tap, port firewall/QoS chains, VLAN subinterface, datapath port and
// bindings behind; the next start removes them.
//
// Only v6guard's own objects are candidates: interfaces carrying the
// kOwnerMarker alias, ports in v6guard's own firewall table, and datapath
// ports/bindings whose interface is such an interface or is gone. Adopted
// interfaces (no marker: the VMM's taps, the operator's --port veths,
// uplinks) and their datapath state are never touched.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "datapath/datapath.h"
#include "host/rtnl.h"

namespace v6g::host {

struct StoredPorts {
  std::set<std::string> ifnames;  // every stored VM port (tap)
  // Every bridge a stored VM port may use: the configured name and, for a
  // VLAN port, the bridge-per-vlan one ("<bridge>v<vid>", see HostPlan).
  std::set<std::string> bridges;
  void add(const std::string& ifname, const std::string& bridge, std::uint16_t vlan);
};

struct LiveState {
  std::vector<LinkInfo> links;
  std::vector<datapath::PortSpec> ports;  // empty when the datapath can't list them
  std::vector<datapath::Binding> bindings;
  // Ports with chains in v6guard's firewall table (kFirewallTable): their
  // filter rules and QoS limits. Only v6guard writes that table.
  std::vector<std::string> firewall_ports;
};

struct Orphans {
  std::vector<datapath::Binding> bindings;
  std::vector<datapath::PortSpec> ports;
  std::vector<std::string> firewall_ports;  // chains + map elements (rules and QoS) go
  // Owned taps first, then owned VLAN subinterfaces, then the owned bridges
  // they emptied.
  std::vector<LinkInfo> links;
};

// Pure: no I/O. Learnt bindings on stored ports stay (the inspector restores
// them); an owned bridge goes only when no stored port names it and every
// port left on it is itself an orphan or an owned VLAN subinterface (its
// uplink member, which goes with it). An owned VLAN subinterface also goes
// when it is enslaved to nothing (a kill before it joined its bridge).
Orphans find_orphans(const StoredPorts& stored, const LiveState& live);

}  // namespace v6g::host
