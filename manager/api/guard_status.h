// GuardService status calls (ListPorts, ListBindings, GetCounters,
// ListEvents, GetStatus) served from the store, the live Datapath and the
// daemon's event ring. Responses are google.protobuf.Struct shaped like the
// rows v6guardctl renders, so they work before proto/v6guard/v1/guard.proto
// has typed messages for them; swap handlers to typed ones when it does
// (the JSON the CLI sees stays the same if field names match).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/server.h"
#include "api/vm_manager.h"
#include "datapath/datapath.h"
#include "guard/engine.h"
#include "v6guard/v1/events.pb.h"

namespace v6g::api {

struct GuardStatusSources {
  VmManager* vms = nullptr;                // ports and bindings as configured
  datapath::Datapath* datapath = nullptr;  // live bindings, counters (optional)
  // Events with sequence number > after, oldest first, at most `limit`;
  // returns the newest sequence number (the next cursor).
  std::function<std::uint64_t(std::uint64_t after, std::size_t limit,
                              std::vector<v6guard::v1::SecurityEvent>& out)>
      events;
  // The inspector's live state (optional): bindings its engines hold (learned
  // ones are listed next to the store's; static ones are already there) and
  // its per-port verdict counters (listed with from=inspector).
  std::function<std::vector<guard::BindingInfo>()> guard_bindings;
  std::function<std::vector<datapath::PortCounters>()> guard_counters;
  // Free-form daemon status lines (version, datapath, fail modes...).
  std::function<std::vector<std::pair<std::string, std::string>>()> status;
};

void register_guard_status(Server& server, GuardStatusSources sources);

}  // namespace v6g::api
