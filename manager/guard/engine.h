// Guard engine contract: (port policy, parsed packet, clock) in -> verdict +
// reason + side effects out. Pure: no I/O, no wall clock, no threads; the
// inspector, unit tests, benchmarks and `v6guardctl explain` all drive it.
//
// This header is the seam between the guard engine and its callers. The
// engine's internals (RA Guard state machine, binding table, token buckets,
// event aggregation) live behind it in manager/guard/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/reason.h"
#include "datapath/datapath.h"
#include "packet/packet.h"

namespace v6g::guard {

// Monotonic time in nanoseconds, supplied by the caller (fake clock in tests).
using Nanos = std::int64_t;
inline constexpr Nanos kSecond = 1'000'000'000;

using PortId = std::uint32_t;  // the bridge port's ifindex

enum class Verdict : std::uint8_t { kAccept, kDrop };

// A binding change the caller must push to the datapath fast path.
struct BindingChange {
  enum class Kind : std::uint8_t { kAdd, kRemove } kind = Kind::kAdd;
  datapath::Binding binding;
};

// One aggregated security event, ready for the event sink (proto/JSON is the
// caller's business). Emitted when a (port, violation, source) window closes
// or on its first packet, never once per packet of a flood.
struct SecurityEvent {
  Nanos first_seen = 0;
  Nanos last_seen = 0;
  std::string event_type;     // e.g. "ra_guard", "source_guard", "nd_inspection"
  std::string severity;       // "low" | "medium" | "high" | "critical"
  std::string vm_id;
  std::string tenant_id;
  std::string interface_id;
  Reason violation{};         // the reason that triggered it
  Ip6Addr blocked_source;
  MacAddr blocked_mac;
  std::vector<std::string> expected_sources;
  std::uint64_t packet_count = 0;
};

struct Decision {
  Verdict verdict = Verdict::kAccept;
  Reason reason{};
};

// Side effects of decisions, drained by the caller after each batch so the
// hot path never allocates per packet in the common case.
struct Effects {
  std::vector<BindingChange> bindings;
  std::vector<SecurityEvent> events;
  void clear() {
    bindings.clear();
    events.clear();
  }
};

}  // namespace v6g::guard
