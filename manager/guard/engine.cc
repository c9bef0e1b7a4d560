// Guard engine: RA Guard, FCFS SAVI bindings, ND inspection, rate limits,
// extension-header policy and event aggregation. Pure: the caller supplies
// the clock and drains Effects.
#include "guard/engine.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <optional>
#include <unordered_map>

#include "guard/binding_table.h"
#include "guard/token_bucket.h"

namespace v6g::guard {

using packet::PacketClass;

namespace {

constexpr std::size_t kMaxRaSources = 16;

std::uint32_t to_seconds(Nanos t) { return static_cast<std::uint32_t>(t / kSecond); }

// "Modified EUI-64" interface identifier of mac (RFC 4291 appendix A).
bool is_eui64_of(const Ip6Addr& a, const MacAddr& mac) {
  const auto& m = mac.bytes;
  const std::array<std::uint8_t, 8> iid = {
      static_cast<std::uint8_t>(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
  return std::equal(iid.begin(), iid.end(), a.bytes.begin() + 8);
}

bool flag_ok(RaFlagPolicy p, bool set) {
  switch (p) {
    case RaFlagPolicy::kAny:
      return true;
    case RaFlagPolicy::kMustBeClear:
      return !set;
    case RaFlagPolicy::kMustBeSet:
      return set;
  }
  return false;
}

// Router preference as an ordered rank (low < medium < high); the reserved
// value is treated as medium (RFC 4191 2.2).
int preference_rank(packet::RouterPreference p) {
  switch (p) {
    case packet::RouterPreference::kLow:
      return 0;
    case packet::RouterPreference::kMedium:
    case packet::RouterPreference::kReserved:
      return 1;
    case packet::RouterPreference::kHigh:
      return 2;
  }
  return 1;
}

struct EventKey {
  PortId port;
  std::uint16_t reason;
  MacAddr mac;
  Ip6Addr src;
  bool operator==(const EventKey&) const = default;
};
struct EventKeyHash {
  std::size_t operator()(const EventKey& k) const {
    std::uint64_t a, b;
    std::memcpy(&a, k.src.bytes.data(), 8);
    std::memcpy(&b, k.src.bytes.data() + 8, 8);
    std::uint64_t m = 0;
    std::memcpy(&m, k.mac.bytes.data(), 6);
    std::uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL) ^
                      (m * 0x165667b19e3779f9ULL) ^ (std::uint64_t{k.port} << 16 | k.reason);
    return static_cast<std::size_t>(h ^ (h >> 31));
  }
};

std::string_view event_type_for(Reason r) {
  const unsigned v = static_cast<unsigned>(r);
  if (v == V6G_R_SOURCE_VERIFYING) return "source_guard";
  if (v < V6G_R_RA_FROM_VM_PORT) return "packet_validation";
  if (v == V6G_R_REDIRECT_FROM_VM_PORT) return "redirect_guard";
  if (v == V6G_R_DHCPV6_SERVER_FROM_VM_PORT) return "dhcpv6_guard";
  if (v < V6G_R_SOURCE_NOT_BOUND) return "ra_guard";
  if (v == V6G_R_SOURCE_NOT_BOUND || v == V6G_R_SOURCE_MAC_MISMATCH ||
      v == V6G_R_SOURCE_VLAN_MISMATCH || v == V6G_R_ETH_SOURCE_MAC_MISMATCH)
    return "source_guard";
  if (v < V6G_R_ND_RATE_LIMIT) return "nd_inspection";
  if (v < V6G_R_EXTHDR_HOP_BY_HOP_BLOCKED) return "rate_limit";
  if (v == V6G_R_TUNNEL_BLOCKED) return "tunnel_guard";
  if (v < V6G_R_PORT_UNKNOWN) return "extension_header";
  return "datapath";
}

std::string_view severity_for(Reason r) {
  switch (raw(r)) {
    case V6G_R_RA_FROM_VM_PORT:
    case V6G_R_DHCPV6_SERVER_FROM_VM_PORT:
    case V6G_R_ND_TARGET_BOUND_ELSEWHERE:
    case V6G_R_ND_OVERRIDE_REFUSED:
      return "critical";
    case V6G_R_REDIRECT_FROM_VM_PORT:
    case V6G_R_ND_TARGET_NOT_OWNED:
    case V6G_R_ND_LLA_MISMATCH:
    case V6G_R_SOURCE_MAC_MISMATCH:
    case V6G_R_ETH_SOURCE_MAC_MISMATCH:
    case V6G_R_ROUTING_TYPE0:
    case V6G_R_FRAG_FIRST_NO_UPPER:
    case V6G_R_TUNNEL_BLOCKED:
    case V6G_R_BINDING_LIMIT:
      return "high";
    case V6G_R_ND_RATE_LIMIT:
    case V6G_R_ICMPV6_RATE_LIMIT:
    case V6G_R_MULTICAST_RATE_LIMIT:
    case V6G_R_PACKET_RATE_LIMIT:
    case V6G_R_RA_RATE_LIMIT:
    case V6G_R_SOURCE_VERIFYING:  // usually an owner the guard has not seen yet
      return "low";
    default:
      return "medium";
  }
}

bool same_ra_policy(const PortPolicy& a, const PortPolicy& b) {
  return a.enable_ra_guard == b.enable_ra_guard && a.allowed_ra_sources == b.allowed_ra_sources &&
         a.ra_rate_limit == b.ra_rate_limit && a.allowed_ra_macs == b.allowed_ra_macs &&
         a.allowed_ra_prefixes == b.allowed_ra_prefixes && a.managed_flag == b.managed_flag &&
         a.other_flag == b.other_flag && a.max_router_preference == b.max_router_preference &&
         a.ra_learning_period == b.ra_learning_period &&
         a.forward_during_learning == b.forward_during_learning;
}

// An address under data-triggered verification, keyed like the binding
// table's owner lookup: (VLAN, address), one verification per address.
struct ProbeKey {
  std::uint16_t vlan;
  Ip6Addr addr;
  bool operator==(const ProbeKey&) const = default;
};
struct ProbeKeyHash {
  std::size_t operator()(const ProbeKey& k) const {
    std::uint64_t a, b;
    std::memcpy(&a, k.addr.bytes.data(), 8);
    std::memcpy(&b, k.addr.bytes.data() + 8, 8);
    const std::uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ ((b + k.vlan) * 0xc2b2ae3d27d4eb4fULL);
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
};

// RFC 6620 TENTATIVE entry created by data (not DAD): the binding does not
// exist until the owner answers a probe from the validating port.
struct Probe {
  PortId port = 0;
  MacAddr mac;
  Nanos started = 0;  // first probe
  Nanos next = 0;     // next retransmission (or give-up) time
  std::uint8_t sent = 0;
  bool answered = false;  // the validating port's NA came in
};

}  // namespace

struct RaSource {
  MacAddr mac;
  Ip6Addr addr;
  bool valid = true;  // every RA seen from it met the criteria
};

struct PortState {
  PortPolicy policy;
  std::uint32_t bindings = 0;
  std::uint32_t verifying = 0;  // data-triggered verifications in flight (count in the cap)
  TokenBucket nd, icmpv6, ra, multicast, packets;
  TokenBucket probe_budget;  // verifications started (EngineConfig, not policy)
  // RA Guard (router ports).
  RaPortState ra_state = RaPortState::kLearning;
  bool ra_pinned = false;
  Nanos ra_learning_until = 0;
  std::vector<RaSource> ra_sources;
  std::array<std::uint64_t, __V6G_R_MAX> counters{};

  static TokenBucket bucket(std::uint32_t rate) { return TokenBucket(rate, rate); }
  void apply(const PortPolicy& p) {
    policy = p;
    nd = bucket(p.nd_rate_limit);
    icmpv6 = bucket(p.icmpv6_rate_limit);
    ra = bucket(p.ra_rate_limit);
    multicast = bucket(p.multicast_rate_limit);
    packets = bucket(p.packet_rate_limit);
  }
};

struct Engine::Impl {
  EngineConfig cfg;
  RaDeviceState device = RaDeviceState::kActive;
  BindingTable table;
  std::unordered_map<PortId, PortState> ports;
  std::unordered_map<EventKey, SecurityEvent, EventKeyHash> windows;
  // Bounded by the ports' caps: a verification holds a binding slot's worth.
  std::unordered_map<ProbeKey, Probe, ProbeKeyHash> probes;
  // Router and trusted ports (a handful): whose addresses VM ports may not claim.
  std::vector<PortId> infra_ports;
  // VM ports per VLAN: where an untagged router port's NA may end a claim.
  std::unordered_map<std::uint16_t, std::uint32_t> vm_vlans;
  std::uint64_t unknown_port_drops = 0;

  explicit Impl(EngineConfig c)
      : cfg(c), device(c.ra_device_state), table(c.binding_capacity_hint) {}

  // Port bookkeeping by role; delta +1 when a policy takes effect, -1 when
  // it goes.
  void count_port(const PortPolicy& p, int delta) {
    if (p.role != PortRole::kVm) {
      std::erase(infra_ports, p.port);
      if (delta > 0) infra_ports.push_back(p.port);
      return;
    }
    auto& n = vm_vlans[p.vlan];
    n += static_cast<std::uint32_t>(delta);
    if (n == 0) vm_vlans.erase(p.vlan);
  }

  // -- verdict helpers ------------------------------------------------------

  Decision accept(PortState& ps, v6g_reason r) {
    ++ps.counters[r];
    return {Verdict::kAccept, reason(r)};
  }

  // Every drop goes through here: counted, reported (aggregated), and turned
  // into an accept on monitor ports.
  // Counts r on the port and, if it logs, reports it for (mac, src).
  void report(PortState& ps, v6g_reason r, const MacAddr& mac, const Ip6Addr& src, Nanos now) {
    ++ps.counters[r];
    if (ps.policy.log_security_events) record_event(ps, reason(r), mac, src, now);
  }

  Decision violation(PortState& ps, v6g_reason r, const MacAddr& mac, const Ip6Addr& src,
                     Nanos now) {
    report(ps, r, mac, src, now);
    if (ps.policy.monitor) {
      ++ps.counters[V6G_R_ACCEPT_MONITOR];
      return {Verdict::kAccept, reason(V6G_R_ACCEPT_MONITOR), reason(r)};
    }
    return {Verdict::kDrop, reason(r)};
  }

  Decision violation(PortState& ps, v6g_reason r, const packet::ParsedPacket& pkt, Nanos now) {
    return violation(ps, r, pkt.eth.src, pkt.ip.src, now);
  }

  void record_event(PortState& ps, Reason r, const MacAddr& mac, const Ip6Addr& src, Nanos now) {
    EventKey key{ps.policy.port, static_cast<std::uint16_t>(r), mac, src};
    auto it = windows.find(key);
    if (it == windows.end()) {
      if (windows.size() >= cfg.max_pending_events) {
        // Too many distinct sources (spoofed-source flood): fold the rest
        // into one per-(port, reason) slot with an unknown source.
        key.mac = MacAddr{};
        key.src = Ip6Addr{};
        it = windows.find(key);
      }
      if (it == windows.end()) {
        SecurityEvent ev;
        ev.first_seen = now;
        ev.event_type = event_type_for(r);
        ev.severity = severity_for(r);
        ev.vm_id = ps.policy.vm_id;
        ev.tenant_id = ps.policy.tenant_id;
        ev.interface_id = ps.policy.interface_id;
        ev.violation = r;
        ev.blocked_source = key.src;
        ev.blocked_mac = key.mac;
        ev.expected_sources = expected_sources(ps, r);
        ev.monitor = ps.policy.monitor;
        it = windows.emplace(key, std::move(ev)).first;
      }
    }
    it->second.last_seen = now;
    ++it->second.packet_count;
  }

  std::vector<std::string> expected_sources(const PortState& ps, Reason r) {
    std::vector<std::string> out;
    const auto v = raw(r);
    if (v >= V6G_R_RA_FROM_VM_PORT && v < V6G_R_SOURCE_NOT_BOUND) {
      for (const auto& a : ps.policy.allowed_ra_sources) out.push_back(a.to_string());
      for (const auto& m : ps.policy.allowed_ra_macs) out.push_back(m.to_string());
    } else if (v >= V6G_R_SOURCE_NOT_BOUND && v < V6G_R_ND_RATE_LIMIT) {
      for (const auto& p : ps.policy.allocated_prefixes) out.push_back(p.to_string());
      for (const auto& a : ps.policy.static_addresses) out.push_back(a.to_string());
    }
    return out;
  }

  void close_windows(Nanos now, bool all, Effects& out) {
    for (auto it = windows.begin(); it != windows.end();) {
      if (all || now - it->second.first_seen >= cfg.event_window) {
        out.events.push_back(std::move(it->second));
        it = windows.erase(it);
      } else {
        ++it;
      }
    }
  }

  // -- bindings ---------------------------------------------------------------

  // The datapath matches the frame's tag: bindings in the port's own VLAN
  // (untagged on the port) go there as VLAN 0 (datapath::frame_vlan). Every
  // change is emitted while its port's state still exists.
  datapath::Binding to_datapath(const BindingSlot& s) const {
    datapath::Binding b;
    b.ifindex = s.key.port;
    const auto port = ports.find(s.key.port);
    b.vlan = datapath::frame_vlan(s.key.vlan, port != ports.end() ? port->second.policy.vlan : 0);
    std::memcpy(b.mac.bytes.data(), s.key.mac, 6);
    std::memcpy(b.addr.bytes.data(), s.key.addr, 16);
    return b;
  }

  void emit(Effects& out, BindingChange::Kind kind, const BindingSlot& s) const {
    out.bindings.push_back({kind, to_datapath(s)});
  }

  // The owner of (vlan, addr) other than (port, mac), if any.
  BindingSlot* other_owner(const BindingKey& k) {
    return table.find_address(k, [&](const BindingSlot& s) {
      return s.key.port != k.port || std::memcmp(s.key.mac, k.mac, 6) != 0;
    });
  }

  // An address a router port has shown to be its own: an RA source it sent
  // (what RA Guard keeps, at most kMaxRaSources per port) or a configured
  // allowed RA source. No VM may claim it - by DAD, NA or data - whatever
  // the binding table says: DAD-claiming the default router's link-local
  // and then advertising it would make every neighbour send its off-link
  // traffic to the VM, and the router's own defence is not always seen
  // (router-port ND is not punted). A router port in a VLAN only holds
  // addresses in that VLAN; an untagged (trunk) one holds them in every VLAN.
  // Plus the claimant's own configured gateway: known before the router has
  // said anything, and in whatever VLAN the router port is.
  bool held_by_router(const PortPolicy& claimant, std::uint16_t vlan, const Ip6Addr& a) const {
    if (std::find(claimant.gateways.begin(), claimant.gateways.end(), a) != claimant.gateways.end())
      return true;
    for (PortId id : infra_ports) {
      const auto it = ports.find(id);
      if (it == ports.end() || it->second.policy.role != PortRole::kRouter) continue;
      const PortState& r = it->second;
      if (r.policy.vlan != 0 && r.policy.vlan != vlan) continue;
      if (std::find(r.policy.allowed_ra_sources.begin(), r.policy.allowed_ra_sources.end(), a) !=
          r.policy.allowed_ra_sources.end())
        return true;
      if (std::any_of(r.ra_sources.begin(), r.ra_sources.end(),
                      [&](const RaSource& s) { return s.addr == a; }))
        return true;
    }
    return false;
  }

  bool in_allocation(const PortPolicy& p, const Ip6Addr& a) const {
    if (a.is_link_local()) return true;  // FCFS, no prefix restriction (cap applies)
    return std::any_of(p.allocated_prefixes.begin(), p.allocated_prefixes.end(),
                       [&](const Ip6Prefix& pre) { return pre.contains(a); });
  }

  Nanos learnt_lifetime(const PortPolicy& p, const Ip6Addr& a) const {
    if (a.is_link_local() || is_eui64_of(a, p.mac)) return p.binding_lifetime;
    // Anything else is a privacy (RFC 8981) or stable-opaque (RFC 7217) IID:
    // it lives as long as the configured temporary valid lifetime.
    if (p.enable_privacy_extensions || p.enable_stable_privacy) return p.temp_valid_lifetime;
    return p.binding_lifetime;
  }

  Status add_static(PortState& ps, const Ip6Addr& addr, Effects& out) {
    const auto& p = ps.policy;
    const auto key = BindingKey::make(p.port, p.vlan, p.mac, addr);
    if (other_owner(key) != nullptr)
      return Status::error("address " + addr.to_string() + " is bound on another port");
    BindingSlot* s = table.find(key);
    if (s == nullptr) {
      s = table.insert(key);
      ++ps.bindings;
    }
    const bool was_valid = s->state != static_cast<std::uint8_t>(BindingState::kTentative);
    s->state = static_cast<std::uint8_t>(BindingState::kValid);
    s->is_static = 1;
    s->expires_s = 0;
    if (!was_valid) emit(out, BindingChange::Kind::kAdd, *s);
    return {};
  }

  Status restore_learnt(PortState& ps, const MacAddr& mac, const Ip6Addr& addr, Nanos now) {
    const auto& p = ps.policy;
    const auto key = BindingKey::make(p.port, p.vlan, mac, addr);
    if (table.find(key) != nullptr) return {};
    if (other_owner(key) != nullptr)
      return Status::error("address " + addr.to_string() + " is bound on another port");
    if (!in_allocation(p, addr))
      return Status::error("address " + addr.to_string() + " is outside the port's prefixes");
    if (ps.bindings >= p.max_bindings) return Status::error("port binding cap reached");
    BindingSlot* s = table.insert(key);
    s->state = static_cast<std::uint8_t>(BindingState::kValid);
    s->expires_s = to_seconds(now + learnt_lifetime(p, addr));
    ++ps.bindings;
    return {};
  }

  void drop_port_bindings(PortId port, Effects& out) {
    std::erase_if(probes, [&](const auto& kv) { return kv.second.port == port; });
    if (auto it = ports.find(port); it != ports.end()) it->second.verifying = 0;
    table.erase_if([&](const BindingSlot& s) {
      if (s.key.port != port) return false;
      if (s.state != static_cast<std::uint8_t>(BindingState::kTentative))
        emit(out, BindingChange::Kind::kRemove, s);
      return true;
    });
  }

  // -- RA Guard -------------------------------------------------------------

  void enter_learning(PortState& ps, Nanos now) {
    ps.ra_sources.clear();
    if (ps.policy.ra_learning_period <= 0) {
      ps.ra_state = RaPortState::kForwarding;
      return;
    }
    ps.ra_state = RaPortState::kLearning;
    ps.ra_learning_until = now + ps.policy.ra_learning_period;
  }

  // End of learning: Forwarding if at least one RA source was seen and every
  // RA met the criteria; otherwise Blocking (a port that advertised nothing
  // is not a router; a later RA from a new source re-enters learning).
  void maybe_end_learning(PortState& ps, Nanos now) {
    if (ps.ra_pinned || ps.ra_state != RaPortState::kLearning) return;
    if (device == RaDeviceState::kLearning) return;  // device-wide learning holds
    if (now < ps.ra_learning_until) return;
    const bool ok =
        !ps.ra_sources.empty() && std::all_of(ps.ra_sources.begin(), ps.ra_sources.end(),
                                              [](const RaSource& s) { return s.valid; });
    ps.ra_state = ok ? RaPortState::kForwarding : RaPortState::kBlocking;
  }

  // RA validity criteria (draft section 3, RFC 6105 3.1). V6G_R_NONE = valid.
  v6g_reason check_ra(const PortState& ps, const packet::ParsedPacket& pkt,
                      const packet::RouterAdvert& ra) const {
    const auto& p = ps.policy;
    if (pkt.ip.hop_limit != 255) return V6G_R_ND_HOP_LIMIT;
    if (!pkt.ip.src.is_link_local()) return V6G_R_RA_SOURCE_NOT_LINK_LOCAL;
    if (!p.allowed_ra_sources.empty() &&
        std::find(p.allowed_ra_sources.begin(), p.allowed_ra_sources.end(), pkt.ip.src) ==
            p.allowed_ra_sources.end())
      return V6G_R_RA_SOURCE_NOT_ALLOWED;
    if (!p.allowed_ra_macs.empty()) {
      const MacAddr& mac = ra.options.has_slla ? ra.options.slla : pkt.eth.src;
      const auto allowed = [&](const MacAddr& m) {
        return std::find(p.allowed_ra_macs.begin(), p.allowed_ra_macs.end(), m) !=
               p.allowed_ra_macs.end();
      };
      if (!allowed(pkt.eth.src) || !allowed(mac)) return V6G_R_RA_SOURCE_MAC_NOT_ALLOWED;
    }
    if (!p.allowed_ra_prefixes.empty()) {
      if (ra.options.prefixes.overflow != 0 || ra.options.routes.overflow != 0)
        return V6G_R_RA_PREFIX_NOT_ALLOWED;  // can't vouch for prefixes we didn't keep
      const auto allowed = [&](const Ip6Prefix& pre) {
        return std::any_of(p.allowed_ra_prefixes.begin(), p.allowed_ra_prefixes.end(),
                           [&](const Ip6Prefix& a) { return a.contains(pre); });
      };
      for (const auto& pi : ra.options.prefixes)
        if (!allowed(pi.prefix)) return V6G_R_RA_PREFIX_NOT_ALLOWED;
      for (const auto& ri : ra.options.routes)
        if (!allowed(ri.prefix)) return V6G_R_RA_PREFIX_NOT_ALLOWED;
    }
    if (!flag_ok(p.managed_flag, ra.managed) || !flag_ok(p.other_flag, ra.other))
      return V6G_R_RA_FLAGS_NOT_ALLOWED;
    if (preference_rank(ra.preference) > preference_rank(p.max_router_preference))
      return V6G_R_RA_PREFERENCE_TOO_HIGH;
    return V6G_R_NONE;
  }

  Decision decide_ra(PortState& ps, const packet::ParsedPacket& pkt, Nanos now) {
    if (ps.policy.role == PortRole::kVm) return violation(ps, V6G_R_RA_FROM_VM_PORT, pkt, now);
    if (!ps.ra.take(now)) return violation(ps, V6G_R_RA_RATE_LIMIT, pkt, now);
    if (device == RaDeviceState::kOff || !ps.policy.enable_ra_guard)
      return accept(ps, V6G_R_ACCEPT_RA);
    const auto* ra = std::get_if<packet::RouterAdvert>(&pkt.message);
    if (ra == nullptr) return violation(ps, V6G_R_ND_LENGTH, pkt, now);

    maybe_end_learning(ps, now);
    const v6g_reason bad = check_ra(ps, pkt, *ra);
    auto src = std::find_if(ps.ra_sources.begin(), ps.ra_sources.end(), [&](const RaSource& s) {
      return s.mac == pkt.eth.src && s.addr == pkt.ip.src;
    });
    const bool new_source = src == ps.ra_sources.end();
    // A new RA source moves the port back to learning (draft 3.2).
    if (new_source && !ps.ra_pinned && ps.ra_state != RaPortState::kLearning) {
      enter_learning(ps, now);
      src = ps.ra_sources.end();
    }
    if (ps.ra_state == RaPortState::kLearning || new_source) {
      if (src == ps.ra_sources.end() && ps.ra_sources.size() < kMaxRaSources) {
        ps.ra_sources.push_back({pkt.eth.src, pkt.ip.src, true});
        src = ps.ra_sources.end() - 1;
      }
    }
    if (src != ps.ra_sources.end() && bad != V6G_R_NONE) src->valid = false;

    switch (ps.ra_state) {
      case RaPortState::kBlocking:
        return violation(ps, V6G_R_RA_PORT_BLOCKING, pkt, now);
      case RaPortState::kLearning:
        if (!ps.policy.forward_during_learning)
          return violation(ps, V6G_R_RA_LEARNING_BLOCKED, pkt, now);
        if (bad != V6G_R_NONE) return violation(ps, bad, pkt, now);
        return accept(ps, V6G_R_ACCEPT_LEARNING);
      case RaPortState::kForwarding:
        if (bad != V6G_R_NONE) return violation(ps, bad, pkt, now);
        return accept(ps, V6G_R_ACCEPT_RA);
    }
    return violation(ps, V6G_R_RA_PORT_BLOCKING, pkt, now);
  }

  // -- VM ports ---------------------------------------------------------------

  // The VLAN a VM port's frame belongs to. VM ports are access ports: the VM
  // sends untagged frames and the bridge assigns the port's VLAN (PVID) after
  // the prerouting hook we sit on, so untagged means the port's VLAN. A tagged
  // frame must carry exactly that VLAN (decide_vm refuses any other).
  static std::uint16_t frame_vlan(const PortPolicy& p, const packet::ParsedPacket& pkt) {
    return pkt.eth.vlan_tagged ? pkt.eth.vlan_id : p.vlan;
  }

  // Has a TENTATIVE binding's DAD deadline passed? expires_s is the deadline
  // rounded up to a second; dad_frac says where inside the second before it
  // (0 = the deadline is expires_s itself).
  static bool dad_over(const BindingSlot& s, Nanos now) {
    const std::uint32_t now_s = to_seconds(now);
    if (now_s >= s.expires_s) return true;
    if (s.dad_frac == 0 || now_s + 1 != s.expires_s) return false;
    return (now % kSecond) * 256 / kSecond >= s.dad_frac;
  }

  // Source guard: is (port, vlan, mac, src) a usable binding?
  v6g_reason check_source(PortState& ps, const packet::ParsedPacket& pkt, Nanos now) {
    const auto& p = ps.policy;
    if (!p.enable_source_guard) return V6G_R_NONE;
    const auto key = BindingKey::make(p.port, frame_vlan(p, pkt), pkt.eth.src, pkt.ip.src);
    BindingSlot* s = table.find(key);
    if (s == nullptr && !p.strict_source_validation) {
      s = table.find_address(key, [&](const BindingSlot& o) { return o.key.port == p.port; });
    }
    if (s != nullptr && s->key.port == p.port) {
      // Until DAD is over the address is not the owner's to use (RFC 4862
      // 5.4); once it is, admit it even though the 1 Hz timer hasn't made the
      // binding VALID (and pushed it to the fast path) yet.
      if (s->state == static_cast<std::uint8_t>(BindingState::kTentative) && !dad_over(*s, now))
        return V6G_R_SOURCE_NOT_BOUND;
      if (s->state == static_cast<std::uint8_t>(BindingState::kTestingVal)) {
        // Traffic from the owner re-validates it (passive RFC 6620 5.2.5).
        s->state = static_cast<std::uint8_t>(BindingState::kValid);
        s->expires_s = to_seconds(now + learnt_lifetime(p, pkt.ip.src));
      }
      return V6G_R_NONE;
    }
    if (BindingSlot* o = table.find_address(key, [](const BindingSlot&) { return true; })) {
      if (o->key.port == p.port && o->key.vlan == key.vlan) return V6G_R_SOURCE_MAC_MISMATCH;
    }
    return V6G_R_SOURCE_NOT_BOUND;
  }

  // -- RFC 6620 data-triggered binding ----------------------------------------

  using ProbeIt = std::unordered_map<ProbeKey, Probe, ProbeKeyHash>::iterator;

  // A packet from (vlan, mac, addr) had no usable binding (source_not_bound).
  // NO_BIND -> TENTATIVE if the address may be this port's: inside its
  // prefixes or link-local, bound nowhere (a binding on another port, or for
  // another MAC here, refuses at once: FCFS), not under verification for
  // someone else, within the binding cap (verifications count) and the
  // port's probe budget (a VM spraying random sources must not make us flood
  // NS). Returns the reason to drop the triggering packet with.
  v6g_reason start_verification(PortState& ps, std::uint16_t vlan, const MacAddr& mac,
                                const Ip6Addr& addr, Nanos now, Effects& out) {
    const auto& p = ps.policy;
    if (!cfg.data_triggered_learning || addr.is_unspecified() || addr.is_multicast() ||
        !in_allocation(p, addr))
      return V6G_R_SOURCE_NOT_BOUND;
    const auto key = BindingKey::make(p.port, vlan, mac, addr);
    if (table.find_address(key, [](const BindingSlot&) { return true; }) != nullptr ||
        held_by_router(p, vlan, addr))
      return V6G_R_SOURCE_NOT_BOUND;
    if (auto it = probes.find({vlan, addr}); it != probes.end()) {
      const Probe& pr = it->second;
      return pr.port == p.port && pr.mac == mac ? V6G_R_SOURCE_VERIFYING : V6G_R_SOURCE_NOT_BOUND;
    }
    if (ps.bindings + ps.verifying >= p.max_bindings) return V6G_R_BINDING_LIMIT;
    if (!ps.probe_budget.take(now)) return V6G_R_SOURCE_NOT_BOUND;
    probes.emplace(ProbeKey{vlan, addr},
                   Probe{p.port, mac, now, now + cfg.probe_retrans, 1, false});
    ++ps.verifying;
    out.probes.push_back({p.port, vlan, addr, 1});
    return V6G_R_SOURCE_VERIFYING;
  }

  // Every source-guard refusal goes through here: an unbound source may
  // start a verification (and is then dropped as source_verifying).
  Decision refuse_source(PortState& ps, v6g_reason r, const packet::ParsedPacket& pkt, Nanos now,
                         Effects& out) {
    if (r == V6G_R_SOURCE_NOT_BOUND)
      r = start_verification(ps, frame_vlan(ps.policy, pkt), pkt.eth.src, pkt.ip.src, now, out);
    return violation(ps, r, pkt, now);
  }

  PortState* verifier(const Probe& pr) {
    auto it = ports.find(pr.port);
    if (it == ports.end()) return nullptr;
    if (it->second.verifying > 0) --it->second.verifying;
    return &it->second;
  }

  // TENTATIVE -> VALID: the owner answered on the validating port and no
  // other port objected for probe_conflict_wait.
  ProbeIt promote(ProbeIt it, Nanos now, Effects& out) {
    const ProbeKey k = it->first;
    const Probe pr = it->second;
    it = probes.erase(it);
    PortState* ps = verifier(pr);
    if (ps == nullptr) return it;
    const auto key = BindingKey::make(pr.port, k.vlan, pr.mac, k.addr);
    // Bound meanwhile (DAD, a static address, a restore): first come wins.
    if (table.find_address(key, [](const BindingSlot&) { return true; }) != nullptr) return it;
    if (ps->bindings >= ps->policy.max_bindings) return it;
    BindingSlot* s = table.insert(key);
    s->state = static_cast<std::uint8_t>(BindingState::kValid);
    s->expires_s = to_seconds(now + learnt_lifetime(ps->policy, k.addr));
    ++ps->bindings;
    emit(out, BindingChange::Kind::kAdd, *s);
    return it;
  }

  // TENTATIVE -> NO_BIND because another port answered for the address: it
  // is in use there. Reported on the claimant's port.
  ProbeIt refuse_verification(ProbeIt it, Nanos now) {
    const ProbeKey k = it->first;
    const Probe pr = it->second;
    it = probes.erase(it);
    if (PortState* ps = verifier(pr))
      report(*ps, V6G_R_ND_TARGET_BOUND_ELSEWHERE, pr.mac, k.addr, now);
    return it;
  }

  // A packet that answers our own probe: counted, not reported (nobody did
  // anything wrong), dropped (accepted on monitor ports).
  Decision consumed(PortState& ps, v6g_reason r) {
    ++ps.counters[r];
    if (ps.policy.monitor) {
      ++ps.counters[V6G_R_ACCEPT_MONITOR];
      return {Verdict::kAccept, reason(V6G_R_ACCEPT_MONITOR), reason(r)};
    }
    return {Verdict::kDrop, reason(r)};
  }

  // An NA for an address under verification answers our probe. From the
  // validating port and MAC it is the owner's: noted, and stopped here (the
  // address is not the owner's to advertise before VALID, and nobody else
  // asked). From anywhere else the address is in use there: NO_BIND. That
  // answer is stopped too, and does not start a verification of its own:
  // two hosts holding one address would otherwise refuse each other's
  // verifications forever, one probe round after another.
  std::optional<Decision> probe_answer(PortState& ps, const packet::ParsedPacket& pkt,
                                       const Ip6Addr& target, Nanos now, Effects& out) {
    auto it = probes.find({frame_vlan(ps.policy, pkt), target});
    if (it == probes.end()) return std::nullopt;
    Probe& pr = it->second;
    if (pr.port != ps.policy.port || pr.mac != pkt.eth.src) {
      refuse_verification(it, now);
      return consumed(ps, V6G_R_ND_TARGET_NOT_OWNED);
    }
    pr.answered = true;
    if (now - pr.started >= cfg.probe_conflict_wait) promote(it, now, out);
    return consumed(ps, V6G_R_SOURCE_VERIFYING);
  }

  // Timers: promote answered verifications, retransmit unanswered ones
  // every probe_retrans, give up (NO_BIND) after probe_retries probes.
  void run_probes(Nanos now, Effects& out) {
    for (auto it = probes.begin(); it != probes.end();) {
      Probe& pr = it->second;
      if (pr.answered) {
        it = now - pr.started >= cfg.probe_conflict_wait ? promote(it, now, out) : std::next(it);
        continue;
      }
      if (now < pr.next) {
        ++it;
        continue;
      }
      if (pr.sent >= cfg.probe_retries) {
        verifier(pr);
        it = probes.erase(it);
        continue;
      }
      ++pr.sent;
      pr.next = now + cfg.probe_retrans;
      out.probes.push_back({pr.port, it->first.vlan, it->first.addr, pr.sent});
      ++it;
    }
  }

  // DAD NS for target: FCFS learning (RFC 6620 5.2).
  Decision learn_dad(PortState& ps, const packet::ParsedPacket& pkt, const Ip6Addr& target,
                     Nanos now) {
    const auto& p = ps.policy;
    const auto key = BindingKey::make(p.port, frame_vlan(p, pkt), pkt.eth.src, target);
    // The claimant runs DAD itself now: the DAD binding takes over.
    if (auto it = probes.find({key.vlan, target});
        it != probes.end() && it->second.port == p.port && it->second.mac == pkt.eth.src) {
      verifier(it->second);
      probes.erase(it);
    }
    // atk6-dos-new-ip6 answers DAD for others' addresses; a VM claiming the
    // router's address is the first step of impersonating it.
    if (other_owner(key) != nullptr || held_by_router(ps.policy, key.vlan, target))
      return violation(ps, V6G_R_ND_TARGET_BOUND_ELSEWHERE, pkt.eth.src, target, now);
    if (BindingSlot* s = table.find(key)) {
      if (!s->is_static && s->state != static_cast<std::uint8_t>(BindingState::kTentative))
        s->expires_s = to_seconds(now + learnt_lifetime(p, target));
      return accept(ps, V6G_R_ACCEPT_DAD);
    }
    if (!in_allocation(p, target))
      return violation(ps, V6G_R_SOURCE_OUTSIDE_PREFIX, pkt.eth.src, target, now);
    if (ps.bindings >= p.max_bindings)
      return violation(ps, V6G_R_BINDING_LIMIT, pkt.eth.src, target, now);
    BindingSlot* s = table.insert(key);
    s->state = static_cast<std::uint8_t>(BindingState::kTentative);
    const Nanos deadline = now + cfg.dad_timeout;
    s->expires_s = to_seconds(deadline + kSecond - 1);  // round up: the timer never promotes early
    const Nanos frac = deadline % kSecond;
    s->dad_frac =
        static_cast<std::uint8_t>(std::min<Nanos>(255, (frac * 256 + kSecond - 1) / kSecond));
    ++ps.bindings;
    return accept(ps, V6G_R_ACCEPT_DAD);
  }

  Decision decide_ns(PortState& ps, const packet::ParsedPacket& pkt, Nanos now, Effects& out) {
    const auto* ns = std::get_if<packet::NeighborSolicit>(&pkt.message);
    if (ns == nullptr) return violation(ps, V6G_R_ND_LENGTH, pkt, now);
    if (pkt.is_dad()) return learn_dad(ps, pkt, ns->target, now);
    if (ns->options.has_slla && ns->options.slla != pkt.eth.src)
      return violation(ps, V6G_R_ND_LLA_MISMATCH, pkt, now);
    if (auto r = check_source(ps, pkt, now); r != V6G_R_NONE)
      return refuse_source(ps, r, pkt, now, out);
    return accept(ps, V6G_R_ACCEPT_ND);
  }

  // NA: the target must be an address this port (and MAC) owns (stops
  // atk6-parasite6 / fake_advertise6 and DAD DoS).
  Decision decide_na(PortState& ps, const packet::ParsedPacket& pkt, Nanos now, Effects& out) {
    const auto* na = std::get_if<packet::NeighborAdvert>(&pkt.message);
    if (na == nullptr) return violation(ps, V6G_R_ND_LENGTH, pkt, now);
    const auto& p = ps.policy;
    if (na->options.has_tlla && na->options.tlla != pkt.eth.src)
      return violation(ps, V6G_R_ND_LLA_MISMATCH, pkt.eth.src, na->target, now);
    const auto key = BindingKey::make(p.port, frame_vlan(p, pkt), pkt.eth.src, na->target);
    BindingSlot* own = table.find(key);
    if (own == nullptr) {
      if (auto d = probe_answer(ps, pkt, na->target, now, out)) return *d;
      BindingSlot* other = other_owner(key);
      if ((other != nullptr && other->key.port != p.port) ||
          held_by_router(p, key.vlan, na->target))
        return violation(ps, V6G_R_ND_TARGET_BOUND_ELSEWHERE, pkt.eth.src, na->target, now);
      // Same port, another MAC: an override would steal the neighbour cache
      // entry; without override it's still an NA for an address not ours.
      if (other != nullptr && na->override_)
        return violation(ps, V6G_R_ND_OVERRIDE_REFUSED, pkt.eth.src, na->target, now);
      if (p.enable_source_guard) {
        // A node answering for itself from an address nobody holds: this NA
        // is dropped, but it starts the verification that lets the next one
        // through (a VM that predates the guard, asked by a neighbour).
        if (other == nullptr && na->target == pkt.ip.src &&
            start_verification(ps, key.vlan, pkt.eth.src, na->target, now, out) ==
                V6G_R_SOURCE_VERIFYING)
          return violation(ps, V6G_R_SOURCE_VERIFYING, pkt.eth.src, na->target, now);
        return violation(ps, V6G_R_ND_TARGET_NOT_OWNED, pkt.eth.src, na->target, now);
      }
    } else if (own->state == static_cast<std::uint8_t>(BindingState::kTentative) &&
               !na->solicited && na->override_) {
      // The owner may not advertise an address still under DAD (RFC 4862
      // 5.4: a tentative address is not used); refusing the unsolicited
      // override keeps a racing host from poisoning caches before VALID.
      return violation(ps, V6G_R_ND_OVERRIDE_REFUSED, pkt.eth.src, na->target, now);
    }
    if (!pkt.ip.src.is_unspecified()) {
      if (auto r = check_source(ps, pkt, now); r != V6G_R_NONE)
        return refuse_source(ps, r, pkt, now, out);
    }
    return accept(ps, V6G_R_ACCEPT_ND);
  }

  v6g_reason check_ext_headers(const PortPolicy& p, const packet::ParsedPacket& pkt) const {
    const auto& e = pkt.ext;
    if (e.routing && e.routing_type == 0) return V6G_R_ROUTING_TYPE0;  // RFC 5095, always
    if (p.role != PortRole::kVm) return V6G_R_NONE;
    // MLD must carry hop-by-hop Router Alert (RFC 3810): the block spares it.
    if (e.hop_by_hop && p.block_hop_by_hop && pkt.klass != PacketClass::kMld)
      return V6G_R_EXTHDR_HOP_BY_HOP_BLOCKED;
    if (e.routing && p.block_routing_header) return V6G_R_EXTHDR_ROUTING_BLOCKED;
    if (e.fragment && p.block_fragment_header) return V6G_R_EXTHDR_FRAGMENT_BLOCKED;
    if (e.destination_options && p.block_destination_options) return V6G_R_EXTHDR_DEST_OPTS_BLOCKED;
    return V6G_R_NONE;
  }

  Decision decide_vm(PortState& ps, const packet::ParsedPacket& pkt, Nanos now, Effects& out) {
    const auto& p = ps.policy;
    if (!ps.packets.take(now)) return violation(ps, V6G_R_PACKET_RATE_LIMIT, pkt, now);
    if (!p.mac.is_zero() && pkt.eth.src != p.mac)
      return violation(ps, V6G_R_ETH_SOURCE_MAC_MISMATCH, pkt, now);
    if (frame_vlan(p, pkt) != p.vlan) return violation(ps, V6G_R_SOURCE_VLAN_MISMATCH, pkt, now);
    if (auto r = check_ext_headers(p, pkt); r != V6G_R_NONE) return violation(ps, r, pkt, now);
    if (pkt.ip.dst.is_multicast() && pkt.klass != PacketClass::kMld &&
        pkt.klass != PacketClass::kNeighborSolicit && pkt.klass != PacketClass::kRouterSolicit &&
        !ps.multicast.take(now))
      return violation(ps, V6G_R_MULTICAST_RATE_LIMIT, pkt, now);

    switch (pkt.klass) {
      case PacketClass::kRouterAdvert:
        return decide_ra(ps, pkt, now);
      case PacketClass::kRedirect:
        return violation(ps, V6G_R_REDIRECT_FROM_VM_PORT, pkt, now);
      case PacketClass::kDhcpv6Server:
        return violation(ps, V6G_R_DHCPV6_SERVER_FROM_VM_PORT, pkt, now);
      case PacketClass::kNeighborSolicit:
        if (!ps.nd.take(now)) return violation(ps, V6G_R_ND_RATE_LIMIT, pkt, now);
        return decide_ns(ps, pkt, now, out);
      case PacketClass::kNeighborAdvert:
        if (!ps.nd.take(now)) return violation(ps, V6G_R_ND_RATE_LIMIT, pkt, now);
        return decide_na(ps, pkt, now, out);
      case PacketClass::kRouterSolicit:
        if (!ps.nd.take(now)) return violation(ps, V6G_R_ND_RATE_LIMIT, pkt, now);
        if (pkt.ip.src.is_unspecified()) return accept(ps, V6G_R_ACCEPT_ND);
        if (auto r = check_source(ps, pkt, now); r != V6G_R_NONE)
          return refuse_source(ps, r, pkt, now, out);
        return accept(ps, V6G_R_ACCEPT_ND);
      case PacketClass::kMld:
        if (!ps.icmpv6.take(now)) return violation(ps, V6G_R_ICMPV6_RATE_LIMIT, pkt, now);
        // :: is legal for MLD reports sent before a link-local exists (RFC 3590).
        if (pkt.ip.src.is_unspecified()) return accept(ps, V6G_R_ACCEPT_MLD);
        if (auto r = check_source(ps, pkt, now); r != V6G_R_NONE)
          return refuse_source(ps, r, pkt, now, out);
        return accept(ps, V6G_R_ACCEPT_MLD);
      case PacketClass::kTunnel:
        if (p.block_tunnels) return violation(ps, V6G_R_TUNNEL_BLOCKED, pkt, now);
        break;
      case PacketClass::kIcmpv6Other:
        if (!ps.icmpv6.take(now)) return violation(ps, V6G_R_ICMPV6_RATE_LIMIT, pkt, now);
        break;
      default:
        break;
    }
    if (pkt.ip.src.is_unspecified()) return violation(ps, V6G_R_SOURCE_NOT_BOUND, pkt, now);
    if (auto r = check_source(ps, pkt, now); r != V6G_R_NONE)
      return refuse_source(ps, r, pkt, now, out);
    if (pkt.klass == PacketClass::kDhcpv6Client) return accept(ps, V6G_R_ACCEPT_DHCPV6_CLIENT);
    return accept(ps, p.enable_source_guard ? V6G_R_ACCEPT_BINDING : V6G_R_ACCEPT_INSPECTED);
  }

  // -- timers -----------------------------------------------------------------

  void expire_bindings(Nanos now, Effects& out) {
    const std::uint32_t now_s = to_seconds(now);
    std::vector<BindingKey> doomed;
    table.for_each([&](BindingSlot& s) {
      if (s.is_static || s.expires_s == 0 || s.expires_s > now_s) return;
      switch (static_cast<BindingState>(s.state)) {
        case BindingState::kTentative: {
          // DAD timeout passed with no conflicting NA admitted: VALID.
          auto it = ports.find(s.key.port);
          Ip6Addr a;
          std::memcpy(a.bytes.data(), s.key.addr, 16);
          const Nanos life = it == ports.end() ? kSecond : learnt_lifetime(it->second.policy, a);
          s.state = static_cast<std::uint8_t>(BindingState::kValid);
          s.expires_s = to_seconds(now + life);
          emit(out, BindingChange::Kind::kAdd, s);
          break;
        }
        case BindingState::kValid:
          s.state = static_cast<std::uint8_t>(BindingState::kTestingVal);
          s.expires_s = to_seconds(now + cfg.testing_val_grace);
          break;
        case BindingState::kTestingVal:
          doomed.push_back(s.key);
          break;
      }
    });
    for (const auto& k : doomed) {
      BindingSlot* s = table.find(k);
      if (s == nullptr) continue;
      emit(out, BindingChange::Kind::kRemove, *s);
      if (auto it = ports.find(k.port); it != ports.end() && it->second.bindings > 0)
        --it->second.bindings;
      table.erase(s);
    }
  }
};

Engine::Engine(EngineConfig cfg) : impl_(std::make_unique<Impl>(cfg)) {}
Engine::~Engine() = default;

Status Engine::upsert_port(const PortPolicy& policy, Nanos now, Effects& out) {
  auto& I = *impl_;
  if (policy.port == 0) return Status::error("port id 0 is not a valid ifindex");
  auto [it, inserted] = I.ports.try_emplace(policy.port);
  PortState& ps = it->second;
  if (inserted) ps.probe_budget = TokenBucket(I.cfg.probe_rate, I.cfg.probe_burst);
  const bool moved = !inserted && (ps.policy.vlan != policy.vlan || ps.policy.mac != policy.mac ||
                                   ps.policy.role != policy.role);
  if (moved) {
    I.drop_port_bindings(policy.port, out);
    ps.bindings = 0;
  }
  if (!inserted) I.count_port(ps.policy, -1);
  I.count_port(policy, +1);
  const auto old_static = ps.policy.static_addresses;
  const bool ra_changed = inserted || moved || !same_ra_policy(ps.policy, policy);
  ps.apply(policy);
  // New RA criteria or learning settings: what was learnt under the old
  // ones proves nothing, so learn again. Re-applying the same policy is a no-op.
  if (ra_changed) {
    if (!ps.ra_pinned) I.enter_learning(ps, now);
  }
  // Static bindings no longer configured go; configured ones are (re)added.
  if (!moved) {
    for (const auto& a : old_static) {
      if (std::find(policy.static_addresses.begin(), policy.static_addresses.end(), a) !=
          policy.static_addresses.end())
        continue;
      (void)remove_binding(policy.port, a, out);
    }
  }
  if (policy.role == PortRole::kVm) {
    for (const auto& a : policy.static_addresses) {
      if (Status s = I.add_static(ps, a, out); !s) return s;
    }
  }
  return {};
}

void Engine::remove_port(PortId port, Effects& out) {
  impl_->drop_port_bindings(port, out);
  if (auto it = impl_->ports.find(port); it != impl_->ports.end())
    impl_->count_port(it->second.policy, -1);
  impl_->ports.erase(port);
}

bool Engine::has_port(PortId port) const { return impl_->ports.count(port) != 0; }

Decision Engine::decide(PortId port, const packet::ParsedPacket& pkt, Nanos now, Effects& out) {
  auto& I = *impl_;
  auto it = I.ports.find(port);
  if (it == I.ports.end()) {
    ++I.unknown_port_drops;
    return {Verdict::kDrop, reason(V6G_R_PORT_UNKNOWN)};
  }
  PortState& ps = it->second;
  if (pkt.klass == PacketClass::kNotIpv6) return I.accept(ps, V6G_R_ACCEPT_NOT_IPV6);
  switch (ps.policy.role) {
    case PortRole::kTrusted:
      return I.accept(ps, V6G_R_ACCEPT_TRUSTED_PORT);
    case PortRole::kRouter:
      if (auto r = I.check_ext_headers(ps.policy, pkt); r != V6G_R_NONE)
        return I.violation(ps, r, pkt, now);
      if (pkt.klass == PacketClass::kRouterAdvert) return I.decide_ra(ps, pkt, now);
      return I.accept(ps, V6G_R_ACCEPT_TRUSTED_PORT);
    case PortRole::kVm:
      return I.decide_vm(ps, pkt, now, out);
  }
  return {Verdict::kDrop, reason(V6G_R_PORT_UNKNOWN)};
}

Decision Engine::decide_parse_failure(PortId port, Reason why, const MacAddr& src_mac,
                                      const Ip6Addr& src_ip, Nanos now, Effects&) {
  auto& I = *impl_;
  auto it = I.ports.find(port);
  if (it == I.ports.end()) {
    ++I.unknown_port_drops;
    return {Verdict::kDrop, reason(V6G_R_PORT_UNKNOWN)};
  }
  if (!is_drop(why)) why = reason(V6G_R_TRUNCATED);  // a rejection is always a drop
  return I.violation(it->second, raw(why), src_mac, src_ip, now);
}

void Engine::tick(Nanos now, Effects& out) {
  auto& I = *impl_;
  I.run_probes(now, out);
  I.expire_bindings(now, out);
  for (auto& [id, ps] : I.ports) I.maybe_end_learning(ps, now);
  I.close_windows(now, false, out);
}

void Engine::flush_events(Nanos now, Effects& out) { impl_->close_windows(now, true, out); }

void Engine::set_ra_device_state(RaDeviceState state, Nanos now) {
  auto& I = *impl_;
  const RaDeviceState before = I.device;
  I.device = state;
  // Entering device learning (or coming back from OFF) restarts learning on
  // every router port that isn't pinned.
  if (state != RaDeviceState::kOff && before != state) {
    for (auto& [id, ps] : I.ports)
      if (ps.policy.role == PortRole::kRouter && !ps.ra_pinned) I.enter_learning(ps, now);
  }
  if (state == RaDeviceState::kActive)
    for (auto& [id, ps] : I.ports) I.maybe_end_learning(ps, now);
}

RaDeviceState Engine::ra_device_state() const { return impl_->device; }

Status Engine::set_ra_port_state(PortId port, RaPortState state, Nanos now) {
  auto it = impl_->ports.find(port);
  if (it == impl_->ports.end()) return Status::error("unknown port");
  PortState& ps = it->second;
  ps.ra_pinned = true;
  ps.ra_state = state;
  if (state == RaPortState::kLearning) ps.ra_learning_until = now + ps.policy.ra_learning_period;
  return {};
}

Status Engine::unpin_ra_port_state(PortId port, Nanos now) {
  auto it = impl_->ports.find(port);
  if (it == impl_->ports.end()) return Status::error("unknown port");
  it->second.ra_pinned = false;
  impl_->enter_learning(it->second, now);
  return {};
}

std::optional<RaPortState> Engine::ra_port_state(PortId port) const {
  auto it = impl_->ports.find(port);
  if (it == impl_->ports.end()) return std::nullopt;
  if (it->second.policy.role == PortRole::kVm) return RaPortState::kBlocking;
  return it->second.ra_state;
}

Status Engine::add_static_binding(PortId port, const Ip6Addr& addr, Effects& out) {
  auto it = impl_->ports.find(port);
  if (it == impl_->ports.end()) return Status::error("unknown port");
  return impl_->add_static(it->second, addr, out);
}

Status Engine::restore_binding(PortId port, const MacAddr& mac, const Ip6Addr& addr, Nanos now) {
  auto it = impl_->ports.find(port);
  if (it == impl_->ports.end()) return Status::error("unknown port");
  return impl_->restore_learnt(it->second, mac, addr, now);
}

Status Engine::remove_binding(PortId port, const Ip6Addr& addr, Effects& out) {
  auto& I = *impl_;
  auto it = I.ports.find(port);
  if (it == I.ports.end()) return Status::error("unknown port");
  const auto& p = it->second.policy;
  const auto key = BindingKey::make(port, p.vlan, p.mac, addr);
  BindingSlot* s =
      I.table.find_address(key, [&](const BindingSlot& o) { return o.key.port == port; });
  if (s == nullptr) return Status::error("no such binding");
  if (s->state != static_cast<std::uint8_t>(BindingState::kTentative))
    I.emit(out, BindingChange::Kind::kRemove, *s);
  I.table.erase(s);
  if (it->second.bindings > 0) --it->second.bindings;
  return {};
}

void Engine::observe_na(PortId port, const MacAddr& mac, const Ip6Addr& target, Nanos now) {
  auto& I = *impl_;
  for (auto it = I.probes.begin(); it != I.probes.end();) {
    const bool other =
        it->first.addr == target && (it->second.port != port || it->second.mac != mac);
    it = other ? I.refuse_verification(it, now) : std::next(it);
  }
}

void Engine::observe_router_na(PortId port, std::uint16_t vlan, const MacAddr& mac,
                               const Ip6Addr& target, Nanos now) {
  auto& I = *impl_;
  observe_na(port, mac, target, now);
  // The router (or a trusted host) answering for target while a VM port
  // still holds it TENTATIVE from DAD: that is the owner defending its
  // address (RFC 4862 5.4.3), so the VM's claim ends here (RFC 6620
  // TENTATIVE -> NO_BIND) before the DAD timeout could make it VALID. Only
  // TENTATIVE: a VALID binding is not taken away by what the uplink says.
  // The router port may belong to another engine: nothing here needs it. An
  // untagged router port (a trunk, or a host without VLAN filtering) speaks
  // for every VLAN, as in held_by_router.
  std::vector<std::uint16_t> vlans{vlan};
  if (vlan == 0)
    for (const auto& [v, n] : I.vm_vlans)
      if (v != 0) vlans.push_back(v);
  for (std::uint16_t v : vlans) {
    const auto key = BindingKey::make(port, v, mac, target);
    while (BindingSlot* s = I.table.find_address(key, [](const BindingSlot& o) {
      return o.state == static_cast<std::uint8_t>(BindingState::kTentative);
    })) {
      const PortId claimant = s->key.port;
      MacAddr claimant_mac;
      std::memcpy(claimant_mac.bytes.data(), s->key.mac, 6);
      I.table.erase(s);  // TENTATIVE: never pushed to the datapath
      auto it = I.ports.find(claimant);
      if (it == I.ports.end()) continue;
      if (it->second.bindings > 0) --it->second.bindings;
      I.report(it->second, V6G_R_ND_TARGET_BOUND_ELSEWHERE, claimant_mac, target, now);
    }
  }
}

std::vector<BindingInfo> Engine::bindings(std::optional<PortId> port) const {
  std::vector<BindingInfo> out;
  impl_->table.for_each([&](const BindingSlot& s) {
    if (port && s.key.port != *port) return;
    BindingInfo b;
    b.port = s.key.port;
    b.vlan = s.key.vlan;
    std::memcpy(b.mac.bytes.data(), s.key.mac, 6);
    std::memcpy(b.addr.bytes.data(), s.key.addr, 16);
    b.state = static_cast<BindingState>(s.state);
    b.is_static = s.is_static != 0;
    b.expires = Nanos{s.expires_s} * kSecond;
    out.push_back(b);
  });
  for (const auto& [k, pr] : impl_->probes) {
    if (port && pr.port != *port) continue;
    BindingInfo b;
    b.port = pr.port;
    b.vlan = k.vlan;
    b.mac = pr.mac;
    b.addr = k.addr;
    b.state = BindingState::kTentative;
    b.verifying = true;
    b.expires = pr.started + impl_->cfg.probe_retrans * impl_->cfg.probe_retries;
    out.push_back(b);
  }
  return out;
}

std::size_t Engine::binding_count() const { return impl_->table.size(); }

std::size_t Engine::port_binding_count(PortId port) const {
  auto it = impl_->ports.find(port);
  return it == impl_->ports.end() ? 0 : it->second.bindings;
}

std::size_t Engine::port_verification_count(PortId port) const {
  auto it = impl_->ports.find(port);
  return it == impl_->ports.end() ? 0 : it->second.verifying;
}

std::size_t Engine::binding_memory_bytes() const { return impl_->table.memory_bytes(); }

std::uint64_t Engine::counter(PortId port, Reason why) const {
  auto it = impl_->ports.find(port);
  if (it == impl_->ports.end())
    return raw(why) == V6G_R_PORT_UNKNOWN ? impl_->unknown_port_drops : 0;
  const auto v = static_cast<std::size_t>(why);
  return v < it->second.counters.size() ? it->second.counters[v] : 0;
}

std::vector<std::pair<Reason, std::uint64_t>> Engine::counters(PortId port) const {
  std::vector<std::pair<Reason, std::uint64_t>> out;
  auto it = impl_->ports.find(port);
  if (it == impl_->ports.end()) return out;
  for (std::size_t i = 0; i < it->second.counters.size(); ++i)
    if (it->second.counters[i] != 0)
      out.emplace_back(static_cast<Reason>(i), it->second.counters[i]);
  return out;
}

std::string_view ra_port_state_name(RaPortState s) {
  switch (s) {
    case RaPortState::kBlocking:
      return "blocking";
    case RaPortState::kForwarding:
      return "forwarding";
    case RaPortState::kLearning:
      return "learning";
  }
  return "?";
}

std::string_view ra_device_state_name(RaDeviceState s) {
  switch (s) {
    case RaDeviceState::kOff:
      return "off";
    case RaDeviceState::kLearning:
      return "learning";
    case RaDeviceState::kActive:
      return "active";
  }
  return "?";
}

std::string_view binding_state_name(BindingState s) {
  switch (s) {
    case BindingState::kTentative:
      return "tentative";
    case BindingState::kValid:
      return "valid";
    case BindingState::kTestingVal:
      return "testing_val";
  }
  return "?";
}

}  // namespace v6g::guard
