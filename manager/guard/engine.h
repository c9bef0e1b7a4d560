// Guard engine contract: (port policy, parsed packet, clock) in -> verdict +
// reason + side effects out. Pure: no I/O, no wall clock, no threads; the
// inspector, unit tests, benchmarks and `v6guardctl explain` all drive it.
//
// This header is the seam between the guard engine and its callers. The
// engine's internals (RA Guard state machine, binding table, token buckets,
// event aggregation) live behind it in manager/guard/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/reason.h"
#include "common/status.h"
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
  std::string event_type;  // e.g. "ra_guard", "source_guard", "nd_inspection"
  std::string severity;    // "low" | "medium" | "high" | "critical"
  std::string vm_id;
  std::string tenant_id;
  std::string interface_id;
  Reason violation{};  // the reason that triggered it
  Ip6Addr blocked_source;
  MacAddr blocked_mac;
  std::vector<std::string> expected_sources;
  std::uint64_t packet_count = 0;
  bool monitor = false;  // port in monitor (log-only) mode: the packets were accepted
};

struct Decision {
  Verdict verdict = Verdict::kAccept;
  Reason reason{};
  // Monitor ports: the drop reason that was waived (reason is then
  // accept_monitor); V6G_R_NONE otherwise. Lets callers say "would drop: X".
  Reason waived{};
};

// RFC 6620 data-triggered binding: the caller must transmit a DAD-style
// Neighbor Solicitation (source ::, to the target's solicited-node group, no
// options) for `target` out the validating port, toward the VM, and toward
// the rest of the link (the bridge). The owner's NA on the validating port
// makes the binding VALID; an NA from any other port refuses it.
struct ProbeRequest {
  PortId port = 0;  // the validating port
  std::uint16_t vlan = 0;
  Ip6Addr target;
  std::uint8_t attempt = 1;  // 1..EngineConfig::probe_retries
};

// Side effects of decisions, drained by the caller after each batch so the
// hot path never allocates per packet in the common case.
struct Effects {
  std::vector<BindingChange> bindings;
  std::vector<SecurityEvent> events;
  std::vector<ProbeRequest> probes;
  bool empty() const { return bindings.empty() && events.empty() && probes.empty(); }
  void clear() {
    bindings.clear();
    events.clear();
    probes.clear();
  }
};

// ---------------------------------------------------------------------------
// Policy and state types.

using PortRole = datapath::PortRole;

// RA Guard (IETF RA-Guard draft, RFC 6105): device-wide state...
enum class RaDeviceState : std::uint8_t { kOff, kLearning, kActive };
// ...and per router port. VM ports never forward RAs whatever the state.
enum class RaPortState : std::uint8_t { kBlocking, kForwarding, kLearning };

// RFC 6620 FCFS SAVI binding states.
enum class BindingState : std::uint8_t { kTentative, kValid, kTestingVal };

// M/O flag policy for RAs on router ports.
enum class RaFlagPolicy : std::uint8_t { kAny, kMustBeClear, kMustBeSet };

// One port's policy. Fields named after the seed API map 1:1
// (IPv6SecurityConfig, IPv6Config, NetworkSecurityPolicy); rate limits are
// packets per second, 0 = unlimited, burst = one second's worth.
struct PortPolicy {
  PortId port = 0;
  PortRole role = PortRole::kVm;
  std::uint16_t vlan = 0;  // 0 = untagged
  MacAddr mac;             // the VM's MAC; zero = not enforced
  std::string vm_id, tenant_id, interface_id;
  bool monitor = false;  // log-only: count and report, never drop

  // IPv6SecurityConfig
  bool enable_ra_guard = true;
  std::vector<Ip6Addr> allowed_ra_sources;  // empty = any link-local source
  bool enable_source_guard = true;
  bool strict_source_validation = true;  // also match the frame's source MAC
  bool block_hop_by_hop = false;
  bool block_routing_header = false;
  bool block_fragment_header = false;
  bool block_destination_options = false;
  std::uint32_t nd_rate_limit = 0;
  std::uint32_t icmpv6_rate_limit = 0;
  std::uint32_t ra_rate_limit = 0;
  bool enable_mld_snooping = true;  // host side (bridge); kept for the API mapping
  std::uint32_t multicast_rate_limit = 0;
  // IPv6Config
  Nanos temp_valid_lifetime = 86400 * kSecond;  // privacy / RFC 7217 bindings
  bool enable_privacy_extensions = true;
  bool enable_stable_privacy = true;
  // NetworkSecurityPolicy
  std::uint32_t packet_rate_limit = 0;
  bool log_security_events = true;

  // Bindings.
  std::vector<Ip6Prefix> allocated_prefixes;  // learning only inside these (+ link-local)
  std::vector<Ip6Addr> static_addresses;      // VALID forever, count in the cap
  std::vector<Ip6Addr> gateways;    // the VM's configured router addresses: never the VM's own
  std::uint32_t max_bindings = 16;  // ND cache exhaustion cap
  Nanos binding_lifetime = 86400 * kSecond;  // EUI-64 / non-privacy learnt bindings
  bool block_tunnels = true;                 // IPv6-in-IPv6, GRE, Teredo from VM ports

  // RA Guard criteria (router ports).
  std::vector<MacAddr> allowed_ra_macs;        // empty = any
  std::vector<Ip6Prefix> allowed_ra_prefixes;  // empty = any
  RaFlagPolicy managed_flag = RaFlagPolicy::kAny;
  RaFlagPolicy other_flag = RaFlagPolicy::kAny;
  packet::RouterPreference max_router_preference = packet::RouterPreference::kHigh;
  Nanos ra_learning_period = 0;  // 0 = no learning: straight to Forwarding
  bool forward_during_learning = false;
};

struct EngineConfig {
  RaDeviceState ra_device_state = RaDeviceState::kActive;
  Nanos dad_timeout = kSecond;               // TENTATIVE -> VALID (RFC 4862 RetransTimer)
  Nanos testing_val_grace = 5 * kSecond;     // TESTING_VAL -> removed without traffic
  Nanos event_window = 10 * kSecond;         // aggregation window per (port, reason, source)
  std::size_t max_pending_events = 65536;    // aggregation slots before overflow folding
  std::size_t binding_capacity_hint = 1024;  // initial table capacity

  // RFC 6620 data-triggered binding (NO_BIND -> TENTATIVE -> VALID): a packet
  // from an unbound source inside the port's prefixes (or link-local) starts
  // a verification: the engine asks for NS probes (Effects.probes) and the
  // owner's NA from the validating port makes the binding VALID. Off by
  // default: only a caller that transmits the probes (the inspector) may turn
  // it on; without probes every verification would just time out.
  bool data_triggered_learning = false;
  Nanos probe_retrans = kSecond;            // RetransTimer between probes
  std::uint8_t probe_retries = 3;           // probes before NO_BIND (MAX_MULTICAST_SOLICIT)
  Nanos probe_conflict_wait = kSecond / 2;  // least time in TENTATIVE: other ports may object
  std::uint32_t probe_rate = 2;             // verifications started per second per port
  std::uint32_t probe_burst = 4;            // ...and their burst
};

struct BindingInfo {
  PortId port = 0;
  std::uint16_t vlan = 0;
  MacAddr mac;
  Ip6Addr addr;
  BindingState state = BindingState::kTentative;
  bool is_static = false;
  bool verifying = false;  // TENTATIVE from data (RFC 6620), waiting for the probe's answer
  Nanos expires = 0;       // 0 = never (static)
};

class BindingTable;  // flat open-addressing table, engine.cc
struct PortState;

class Engine {
 public:
  explicit Engine(EngineConfig cfg = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Insert or replace a port's policy. Static addresses become VALID
  // bindings (reported in Effects.bindings through the next decide/tick
  // batch via pending_changes()). Router ports enter RA learning.
  Status upsert_port(const PortPolicy& policy, Nanos now, Effects& out);
  void remove_port(PortId port, Effects& out);
  bool has_port(PortId port) const;

  // The hot path: one verdict per frame. Never allocates unless a new event
  // window or binding is created.
  Decision decide(PortId port, const packet::ParsedPacket& pkt, Nanos now, Effects& out);
  // A frame the parser rejected (RFC 7113, RFC 6980, malformed ND...): drop,
  // count, report. src_mac/src_ip as far as the parser got (zero if not).
  Decision decide_parse_failure(PortId port, Reason why, const MacAddr& src_mac,
                                const Ip6Addr& src_ip, Nanos now, Effects& out);
  // Timers: binding state machine, RA learning periods, event windows.
  void tick(Nanos now, Effects& out);
  // Close every open event window now (shutdown, tests).
  void flush_events(Nanos now, Effects& out);

  // RA Guard administration.
  void set_ra_device_state(RaDeviceState state, Nanos now);
  RaDeviceState ra_device_state() const;
  // Pin a port's RA state (manual configuration); unpin = back to learning.
  Status set_ra_port_state(PortId port, RaPortState state, Nanos now);
  Status unpin_ra_port_state(PortId port, Nanos now);
  std::optional<RaPortState> ra_port_state(PortId port) const;

  // Bindings.
  Status add_static_binding(PortId port, const Ip6Addr& addr, Effects& out);
  // A learnt binding the datapath fast path still holds from before a daemon
  // restart: it comes back VALID with a fresh learnt lifetime, under the same
  // prefix and cap rules as FCFS learning. No Effects: it is already there.
  Status restore_binding(PortId port, const MacAddr& mac, const Ip6Addr& addr, Nanos now);
  Status remove_binding(PortId port, const Ip6Addr& addr, Effects& out);
  // RFC 6620: an NA for `target` seen on the link from (port, mac) outside
  // this engine's decisions (a router/trusted port, whose ND is not punted,
  // or a port of another engine). A data-triggered verification of target by
  // any other port or MAC is refused: the address is in use there.
  void observe_na(PortId port, const MacAddr& mac, const Ip6Addr& target, Nanos now);
  // The same for an NA from a router or trusted port (in `vlan`, the port's
  // own), which also ends any VM port's TENTATIVE (DAD) claim of target: the
  // router defended its address. The port need not be this engine's.
  void observe_router_na(PortId port, std::uint16_t vlan, const MacAddr& mac, const Ip6Addr& target,
                         Nanos now);
  std::vector<BindingInfo> bindings(std::optional<PortId> port = std::nullopt) const;
  std::size_t binding_count() const;
  std::size_t port_binding_count(PortId port) const;
  // Data-triggered verifications in flight on a port (they count in its cap).
  std::size_t port_verification_count(PortId port) const;
  std::size_t binding_memory_bytes() const;  // table storage, for the memory goal

  // Counters per (port, reason).
  std::uint64_t counter(PortId port, Reason why) const;
  std::vector<std::pair<Reason, std::uint64_t>> counters(PortId port) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string_view ra_port_state_name(RaPortState s);
std::string_view ra_device_state_name(RaDeviceState s);
std::string_view binding_state_name(BindingState s);

}  // namespace v6g::guard
