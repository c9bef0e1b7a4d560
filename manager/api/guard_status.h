// v6guard.v1.GuardService (proto/v6guard/v1/guard.proto): ListPorts,
// ListBindings, GetCounters, ListEvents and GetStatus, served from the store,
// the live Datapath, the inspector and the daemon's event ring with the
// typed messages (both Connect codecs, the server's error shapes).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/server.h"
#include "api/vm_manager.h"
#include "common/reason.h"
#include "datapath/datapath.h"
#include "guard/engine.h"
#include "v6guard/v1/events.pb.h"
#include "v6guard/v1/guard.pb.h"

namespace v6g::api {

struct GuardStatusSources {
  VmManager* vms = nullptr;                // ports and bindings as configured
  datapath::Datapath* datapath = nullptr;  // live bindings, counters (optional)
  // Events with sequence number > after, oldest first, at most `limit`;
  // returns the sequence number of the last one given (or the newest there
  // is when none): the next `after`.
  std::function<std::uint64_t(std::uint64_t after, std::size_t limit,
                              std::vector<v6guard::v1::SecurityEvent>& out)>
      events;
  // The inspector's live state (optional): bindings its engines hold (learnt
  // ones are listed next to the store's static ones; BindingInfo::expires is
  // CLOCK_MONOTONIC nanoseconds, the engines' clock) and its per-port
  // verdict counters.
  std::function<std::vector<guard::BindingInfo>()> guard_bindings;
  std::function<std::vector<datapath::PortCounters>()> guard_counters;
  // "key: value" lines the daemon's parts contributed (host capabilities,
  // state_db, recovered_vms...). A "datapath_reason" line becomes
  // GetStatusResponse.datapath_reason; the others are kept in order.
  std::function<std::vector<std::pair<std::string, std::string>>()> status;
};

void register_guard_status(Server& server, GuardStatusSources sources);

// The mappings the handlers use, exposed for tests and v6guardctl.
v6guard::v1::Reason to_proto(Reason r);  // same number (guard.proto mirrors the uapi enum)
v6guard::v1::PortRole port_role(std::uint8_t role);                  // V6G_ROLE_*
v6guard::v1::FailMode fail_mode(std::uint8_t mode);                  // V6G_FAIL_*
std::vector<v6guard::v1::PortFlag> port_flags(std::uint32_t flags);  // V6G_PORT_F_* bits
// "reachable" | "tentative" | "stale" (store) and the engine's state names.
v6guard::v1::BindingState binding_state(std::string_view name);

// Lower-case enum value name without its type prefix: REASON_RA_FROM_VM_PORT
// -> "ra_from_vm_port" (= reason_name for reasons), PORT_FLAG_BLOCK_RH ->
// "block_rh". For human output; unknown numbers come back as digits.
std::string short_name(const google::protobuf::EnumDescriptor* type, int value);

}  // namespace v6g::api
