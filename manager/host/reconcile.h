// Restart reconciliation, the pure half: given what the store holds and what
// the host and datapath hold now, which objects does nobody own any more?
// A kill -9 between programming a VM and committing it to the store leaves
// its tap, datapath port and bindings behind; the next start removes them.
//
// Only v6guard's own objects are candidates: interfaces carrying the
// kOwnerMarker alias, and datapath ports/bindings whose interface is such an
// interface or is gone. Adopted interfaces (no marker: the VMM's taps, the
// operator's --port veths, uplinks) and their datapath state are never
// touched.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "datapath/datapath.h"
#include "host/rtnl.h"

namespace v6g::host {

struct StoredPorts {
  std::set<std::string> ifnames;  // every stored VM port (tap)
  std::set<std::string> bridges;  // every bridge a stored VM port uses
};

struct LiveState {
  std::vector<LinkInfo> links;
  std::vector<datapath::PortSpec> ports;  // empty when the datapath can't list them
  std::vector<datapath::Binding> bindings;
};

struct Orphans {
  std::vector<datapath::Binding> bindings;
  std::vector<datapath::PortSpec> ports;
  std::vector<LinkInfo> links;  // owned taps first, then the owned bridges they emptied
};

// Pure: no I/O. Learnt bindings on stored ports stay (the inspector restores
// them); an owned bridge goes only when no stored port names it and every
// port left on it is itself an orphan.
Orphans find_orphans(const StoredPorts& stored, const LiveState& live);

}  // namespace v6g::host
