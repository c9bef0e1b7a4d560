#include "cli/explain.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <variant>

#include "events/events.h"
#include "packet/packet.h"

namespace v6g::cli {
namespace {

namespace pb = google::protobuf;
namespace po = boost::program_options;
using guard::Nanos;
using guard::Verdict;

// ---- describing a frame ----------------------------------------------------------

const char* preference_name(packet::RouterPreference p) {
  switch (p) {
    case packet::RouterPreference::kHigh:
      return "high";
    case packet::RouterPreference::kLow:
      return "low";
    case packet::RouterPreference::kReserved:
      return "reserved";
    case packet::RouterPreference::kMedium:
      break;
  }
  return "medium";
}

const char* dhcpv6_name(std::uint8_t t) {
  static const char* const kNames[] = {
      "?",     "SOLICIT", "ADVERTISE", "REQUEST",     "CONFIRM",      "RENEW",      "REBIND",
      "REPLY", "RELEASE", "DECLINE",   "RECONFIGURE", "INFO-REQUEST", "RELAY-FORW", "RELAY-REPL"};
  return t < std::size(kNames) ? kNames[t] : "?";
}

std::string ext_summary(const packet::ExtHeaders& e) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (e.hop_by_hop) add(e.router_alert ? "hbh(router-alert)" : "hbh");
  if (e.destination_options) add("dstopt");
  if (e.routing) add("rh" + std::to_string(e.routing_type));
  if (e.fragment) {
    add("frag off=" + std::to_string(e.fragment_offset * 8) + (e.more_fragments ? " M" : "") +
        " id=" + std::to_string(e.fragment_id));
  }
  if (e.esp_or_ah) add("esp/ah");
  if (e.bytes > 0 && e.count > 0) add(std::to_string(e.bytes) + "B");
  return s.empty() ? s : " [" + s + "]";
}

std::string nd_options_summary(const packet::NdOptions& o) {
  std::string s;
  for (const auto& p : o.prefixes) s += " prefix " + p.prefix.to_string();
  for (const auto& r : o.routes) s += " route " + r.prefix.to_string();
  for (const auto& a : o.rdnss) s += " rdnss " + a.to_string();
  if (o.prefixes.overflow + o.routes.overflow + o.rdnss.overflow > 0) s += " ...";
  return s;
}

struct Describe {
  const packet::ParsedPacket& p;
  std::string operator()(std::monostate) const { return "IPv6"; }
  std::string operator()(const packet::RouterSolicit&) const { return "RS"; }
  std::string operator()(const packet::RouterAdvert& ra) const {
    std::string s = "RA pref " + std::string(preference_name(ra.preference)) + " lifetime " +
                    std::to_string(ra.router_lifetime);
    if (ra.managed) s += " M";
    if (ra.other) s += " O";
    return s + nd_options_summary(ra.options);
  }
  std::string operator()(const packet::NeighborSolicit& ns) const {
    return "NS who-has " + ns.target.to_string() + (p.is_dad() ? " (DAD)" : "");
  }
  std::string operator()(const packet::NeighborAdvert& na) const {
    std::string s = "NA " + na.target.to_string();
    if (na.options.has_tlla) s += " is-at " + na.options.tlla.to_string();
    std::string flags =
        std::string(na.router ? "R" : "") + (na.solicited ? "S" : "") + (na.override_ ? "O" : "");
    return flags.empty() ? s : s + " [" + flags + "]";
  }
  std::string operator()(const packet::Redirect& r) const {
    return "Redirect " + r.destination.to_string() + " via " + r.target.to_string();
  }
  std::string operator()(const packet::Mld& m) const {
    switch (m.type) {
      case packet::kMldQuery:
        return "MLDv" + std::to_string(m.version) + " query " + m.group.to_string();
      case packet::kMldV2Report:
        return "MLDv2 report (" + std::to_string(m.records) + " records)";
      case packet::kMldV1Report:
        return "MLDv1 report " + m.group.to_string();
      default:
        return "MLDv1 done " + m.group.to_string();
    }
  }
  std::string operator()(const packet::Dhcpv6& d) const {
    return "DHCPv6 " + std::string(dhcpv6_name(d.msg_type)) + " " + std::to_string(d.src_port) +
           ">" + std::to_string(d.dst_port);
  }
  std::string operator()(const packet::OtherIcmpv6&) const {
    if (p.icmp_type == packet::kIcmpEchoRequest) return "echo request";
    if (p.icmp_type == packet::kIcmpEchoReply) return "echo reply";
    return "ICMPv6 type " + std::to_string(p.icmp_type) + " code " + std::to_string(p.icmp_code);
  }
  std::string operator()(const packet::Transport& t) const {
    return std::string(p.upper.protocol == packet::kProtoTcp ? "TCP " : "UDP ") +
           std::to_string(t.src_port) + ">" + std::to_string(t.dst_port);
  }
  std::string operator()(const packet::Tunnel& t) const {
    if (t.kind == packet::kProtoIpv6) return "tunnel IPv6-in-IPv6";
    if (t.kind == packet::kProtoGre) return "tunnel GRE";
    return "tunnel Teredo (UDP 3544)";
  }
  std::string operator()(const packet::OtherUpper&) const {
    if (p.upper.protocol == packet::kProtoNoNext) return "no next header";
    return "protocol " + std::to_string(p.upper.protocol);
  }
};

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

// ---- policy JSON -----------------------------------------------------------------

Status field_error(std::string_view key, std::string_view what) {
  return Status::error("policy: " + std::string(key) + ": " + std::string(what));
}

std::optional<std::uint64_t> number(const pb::Value& v) {
  if (v.kind_case() == pb::Value::kNumberValue && v.number_value() >= 0)
    return static_cast<std::uint64_t>(v.number_value());
  if (v.kind_case() == pb::Value::kStringValue) {
    try {
      std::size_t used = 0;
      const auto n = std::stoull(v.string_value(), &used);
      if (used == v.string_value().size()) return n;
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

std::vector<std::string> strings(const pb::Value& v) {
  std::vector<std::string> out;
  if (v.kind_case() == pb::Value::kStringValue) out.push_back(v.string_value());
  for (const auto& item : v.list_value().values()) out.push_back(item.string_value());
  return out;
}

// "2600:beef::50/64" -> static address 2600:beef::50 + prefix 2600:beef::/64.
Status add_address(std::string_view key, const std::string& text, guard::PortPolicy& policy) {
  const auto slash = text.find('/');
  const auto addr = Ip6Addr::parse(text.substr(0, slash));
  if (!addr) return field_error(key, "not an IPv6 address: " + text);
  policy.static_addresses.push_back(*addr);
  if (slash != std::string::npos) {
    const auto prefix = Ip6Prefix::parse(text, /*allow_host_bits=*/true);
    if (!prefix) return field_error(key, "bad prefix length: " + text);
    Ip6Prefix net = *prefix;
    for (int bit = net.len; bit < 128; ++bit)
      net.addr.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    policy.allocated_prefixes.push_back(net);
  }
  return {};
}

Status apply_object(const pb::Struct& obj, guard::PortPolicy& p);

Status apply_key(const std::string& key, const pb::Value& v, guard::PortPolicy& p) {
  using Bool = bool guard::PortPolicy::*;
  using U32 = std::uint32_t guard::PortPolicy::*;
  using Dur = Nanos guard::PortPolicy::*;
  static const std::map<std::string_view, Bool> kBools = {
      {"monitor", &guard::PortPolicy::monitor},
      {"enable_ra_guard", &guard::PortPolicy::enable_ra_guard},
      {"enable_source_guard", &guard::PortPolicy::enable_source_guard},
      {"strict_source_validation", &guard::PortPolicy::strict_source_validation},
      {"block_hop_by_hop", &guard::PortPolicy::block_hop_by_hop},
      {"block_routing_header", &guard::PortPolicy::block_routing_header},
      {"block_fragment_header", &guard::PortPolicy::block_fragment_header},
      {"block_destination_options", &guard::PortPolicy::block_destination_options},
      {"enable_mld_snooping", &guard::PortPolicy::enable_mld_snooping},
      {"enable_privacy_extensions", &guard::PortPolicy::enable_privacy_extensions},
      {"enable_stable_privacy", &guard::PortPolicy::enable_stable_privacy},
      {"log_security_events", &guard::PortPolicy::log_security_events},
      {"block_tunnels", &guard::PortPolicy::block_tunnels},
      {"forward_during_learning", &guard::PortPolicy::forward_during_learning},
  };
  static const std::map<std::string_view, U32> kU32 = {
      {"nd_rate_limit", &guard::PortPolicy::nd_rate_limit},
      {"icmpv6_rate_limit", &guard::PortPolicy::icmpv6_rate_limit},
      {"ra_rate_limit", &guard::PortPolicy::ra_rate_limit},
      {"multicast_rate_limit", &guard::PortPolicy::multicast_rate_limit},
      {"packet_rate_limit", &guard::PortPolicy::packet_rate_limit},
      {"max_bindings", &guard::PortPolicy::max_bindings},
  };
  static const std::map<std::string_view, Dur> kSeconds = {
      {"temp_valid_lifetime", &guard::PortPolicy::temp_valid_lifetime},
      {"binding_lifetime", &guard::PortPolicy::binding_lifetime},
      {"ra_learning_period", &guard::PortPolicy::ra_learning_period},
  };
  // Spec fields that configure the host, not the guard engine.
  static const std::set<std::string_view> kHostOnly = {"id",
                                                       "interface_type",
                                                       "bridge_name",
                                                       "vlan_id",
                                                       "gateway",
                                                       "dns_servers",
                                                       "accept_ra",
                                                       "enable_slaac",
                                                       "enable_dhcpv6",
                                                       "pool",
                                                       "tap_device",
                                                       "options",
                                                       "qos",
                                                       "ingress_rules",
                                                       "egress_rules",
                                                       "enable_deep_packet_inspection",
                                                       "bandwidth_limit_mbps",
                                                       "tenant_isolation_level",
                                                       "allowed_destinations"};

  if (auto it = kBools.find(key); it != kBools.end()) {
    if (v.kind_case() != pb::Value::kBoolValue) return field_error(key, "want true/false");
    p.*(it->second) = v.bool_value();
    return {};
  }
  if (auto it = kU32.find(key); it != kU32.end()) {
    const auto n = number(v);
    if (!n || *n > UINT32_MAX) return field_error(key, "want a non-negative number");
    p.*(it->second) = static_cast<std::uint32_t>(*n);
    return {};
  }
  if (auto it = kSeconds.find(key); it != kSeconds.end()) {
    const auto n = number(v);
    if (!n || *n > 100ULL * 365 * 86400) return field_error(key, "want seconds");
    p.*(it->second) = static_cast<Nanos>(*n) * guard::kSecond;
    return {};
  }
  if (kHostOnly.contains(key)) return {};
  if (key == "ipv6" || key == "security" || key == "security_policy") {
    if (v.kind_case() != pb::Value::kStructValue) return field_error(key, "want an object");
    return apply_object(v.struct_value(), p);
  }
  if (key == "role") {
    const auto& r = v.string_value();
    if (r == "vm") {
      p.role = guard::PortRole::kVm;
    } else if (r == "router") {
      p.role = guard::PortRole::kRouter;
    } else if (r == "trusted") {
      p.role = guard::PortRole::kTrusted;
    } else {
      return field_error(key, "want vm, router or trusted");
    }
    return {};
  }
  if (key == "vm_id" || key == "tenant_id" || key == "interface_id") {
    (key == "vm_id"       ? p.vm_id
     : key == "tenant_id" ? p.tenant_id
                          : p.interface_id) = v.string_value();
    return {};
  }
  if (key == "vlan") {
    const auto n = number(v);
    if (!n || *n > 4094) return field_error(key, "want 0..4094");
    p.vlan = static_cast<std::uint16_t>(*n);
    return {};
  }
  if (key == "mac" || key == "mac_address") {
    const auto mac = MacAddr::parse(v.string_value());
    if (!mac) return field_error(key, "not a MAC address");
    p.mac = *mac;
    return {};
  }
  if (key == "address" || key == "static_addresses") {
    for (const auto& s : strings(v))
      if (auto st = add_address(key, s, p); !st) return st;
    return {};
  }
  if (key == "allowed_ra_sources") {
    for (const auto& s : strings(v)) {
      const auto a = Ip6Addr::parse(s);
      if (!a) return field_error(key, "not an IPv6 address: " + s);
      p.allowed_ra_sources.push_back(*a);
    }
    return {};
  }
  if (key == "allocated_prefixes" || key == "allowed_ra_prefixes") {
    for (const auto& s : strings(v)) {
      const auto pre = Ip6Prefix::parse(s);
      if (!pre) return field_error(key, "not an IPv6 prefix: " + s);
      (key == "allocated_prefixes" ? p.allocated_prefixes : p.allowed_ra_prefixes).push_back(*pre);
    }
    return {};
  }
  if (key == "allowed_ra_macs") {
    for (const auto& s : strings(v)) {
      const auto m = MacAddr::parse(s);
      if (!m) return field_error(key, "not a MAC address: " + s);
      p.allowed_ra_macs.push_back(*m);
    }
    return {};
  }
  if (key == "managed_flag" || key == "other_flag") {
    const auto& s = v.string_value();
    const auto policy = s == "any"     ? guard::RaFlagPolicy::kAny
                        : s == "clear" ? guard::RaFlagPolicy::kMustBeClear
                        : s == "set"   ? guard::RaFlagPolicy::kMustBeSet
                                       : static_cast<guard::RaFlagPolicy>(255);
    if (policy == static_cast<guard::RaFlagPolicy>(255))
      return field_error(key, "want any, clear or set");
    (key == "managed_flag" ? p.managed_flag : p.other_flag) = policy;
    return {};
  }
  if (key == "max_router_preference") {
    const auto& s = v.string_value();
    if (s == "low") {
      p.max_router_preference = packet::RouterPreference::kLow;
    } else if (s == "medium") {
      p.max_router_preference = packet::RouterPreference::kMedium;
    } else if (s == "high") {
      p.max_router_preference = packet::RouterPreference::kHigh;
    } else {
      return field_error(key, "want low, medium or high");
    }
    return {};
  }
  return field_error(key, "unknown policy field");
}

Status apply_object(const pb::Struct& obj, guard::PortPolicy& p) {
  // Sorted so "ipv6" and friends apply in a stable order whatever the JSON order.
  std::map<std::string, const pb::Value*> sorted;
  for (const auto& [k, v] : obj.fields()) sorted.emplace(k, &v);
  for (const auto& [k, v] : sorted)
    if (auto st = apply_key(k, *v, p); !st) return st;
  return {};
}

// ---- rendering -------------------------------------------------------------------

std::string seconds_text(Nanos t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(t) / guard::kSecond);
  return buf;
}

std::string verdict_text(const FrameReport& f) {
  if (f.waived != V6G_R_NONE) return "WOULD-DROP";
  return f.verdict == Verdict::kDrop ? "DROP" : "ACCEPT";
}

// The reason worth showing: the waived one on monitor ports.
Reason shown_reason(const FrameReport& f) { return f.waived != V6G_R_NONE ? f.waived : f.reason; }

std::string binding_text(const datapath::Binding& b) {
  return b.mac.to_string() + " " + b.addr.to_string();
}

const char* role_name(guard::PortRole r) {
  switch (r) {
    case guard::PortRole::kRouter:
      return "router";
    case guard::PortRole::kTrusted:
      return "trusted";
    default:
      return "vm";
  }
}

pb::Value str(std::string s) {
  pb::Value v;
  v.set_string_value(std::move(s));
  return v;
}

pb::Value num(double n) {
  pb::Value v;
  v.set_number_value(n);
  return v;
}

pb::Value reason_counts(const std::vector<std::pair<Reason, std::uint64_t>>& counts) {
  pb::Value v;
  auto& fields = *v.mutable_struct_value()->mutable_fields();
  for (const auto& [r, n] : counts) fields[std::string(reason_name(r))] = num(double(n));
  return v;
}

}  // namespace

std::string describe_frame(const packet::ParsedPacket& p, bool parse_rejected) {
  std::string s;
  if (p.eth.ethertype != packet::kEtherTypeIpv6) {
    s = "ethertype " + hex16(p.eth.ethertype);
    if (p.eth.ethertype == 0x0806) s += " (ARP)";
    if (p.eth.ethertype == 0x0800) s += " (IPv4)";
  } else if (parse_rejected) {
    s = "IPv6 next-header " + std::to_string(p.ip.next_header);
    if (p.upper.present && p.upper.protocol == packet::kProtoIcmpv6)
      s += " ICMPv6 type " + std::to_string(p.icmp_type);
  } else if (p.klass == packet::PacketClass::kFragmentTail) {
    s = "fragment tail";
  } else {
    s = std::visit(Describe{p}, p.message);
  }
  if (p.eth.vlan_tagged) s = "vlan " + std::to_string(p.eth.vlan_id) + " " + s;
  if (p.eth.ethertype == packet::kEtherTypeIpv6) s += ext_summary(p.ext);
  return s;
}

ExplainReport explain_frames(std::span<const packet::PcapFrame> frames, const ExplainOptions& opt) {
  ExplainReport report;
  guard::Engine engine(opt.engine);
  guard::Effects fx;
  const guard::PortId port = opt.policy.port;
  const std::uint64_t base = frames.empty() ? 0 : frames.front().timestamp_ns;
  report.realtime_offset = static_cast<Nanos>(base);
  (void)engine.upsert_port(opt.policy, 0, fx);  // static bindings: nothing to report per frame
  fx.clear();

  std::map<std::uint16_t, std::uint64_t> reasons, waived;
  packet::ParsedPacket pkt;
  Nanos now = 0;
  auto drain_events = [&] {
    for (auto& ev : fx.events) report.events.push_back(std::move(ev));
    fx.events.clear();
  };
  auto binding_notes = [&](std::vector<std::string>& into) {
    for (const auto& c : fx.bindings)
      into.push_back(std::string(c.kind == guard::BindingChange::Kind::kAdd ? "binding VALID "
                                                                            : "binding removed ") +
                     binding_text(c.binding));
    fx.bindings.clear();
  };

  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto& frame = frames[i];
    // Capture time as the engine's monotonic clock; never backwards.
    const Nanos t = frame.timestamp_ns >= base ? static_cast<Nanos>(frame.timestamp_ns - base) : 0;
    now = std::max(now, t);
    FrameReport f;
    f.number = i + 1;
    f.time = now;
    engine.tick(now, fx);
    binding_notes(f.before);
    drain_events();

    const Reason why = packet::parse_frame_into(frame.data, pkt);
    f.parse_rejected = why != V6G_R_NONE;
    f.src_mac = pkt.eth.src;
    f.has_ip = pkt.eth.ethertype == packet::kEtherTypeIpv6 && pkt.eth.l3_offset > 0 &&
               frame.data.size() >= pkt.eth.l3_offset + 40;
    f.src_ip = pkt.ip.src;
    f.summary = describe_frame(pkt, f.parse_rejected);
    if (f.has_ip) f.summary = "> " + pkt.ip.dst.to_string() + " " + f.summary;
    const guard::Decision d =
        f.parse_rejected ? engine.decide_parse_failure(port, why, pkt.eth.src,
                                                       f.has_ip ? pkt.ip.src : Ip6Addr{}, now, fx)
                         : engine.decide(port, pkt, now, fx);
    f.verdict = d.verdict;
    f.reason = d.reason;
    f.waived = d.waived;
    if (f.parse_rejected) f.notes.push_back("parser: " + std::string(reason_name(why)));
    if (d.reason == V6G_R_ACCEPT_DAD) {
      if (const auto* ns = std::get_if<packet::NeighborSolicit>(&pkt.message))
        f.notes.push_back("binding TENTATIVE " + pkt.eth.src.to_string() + " " +
                          ns->target.to_string());
    }
    binding_notes(f.notes);
    drain_events();

    ++reasons[static_cast<std::uint16_t>(d.reason)];
    if (d.waived != V6G_R_NONE) {
      ++waived[static_cast<std::uint16_t>(d.waived)];
      ++report.monitored;
    }
    (d.verdict == Verdict::kDrop ? report.dropped : report.accepted) += 1;
    report.frames.push_back(std::move(f));
  }
  engine.tick(now, fx);
  fx.bindings.clear();
  engine.flush_events(now, fx);
  drain_events();
  report.duration = now;
  // Windows close in hash order; a report reads better in time order.
  std::stable_sort(report.events.begin(), report.events.end(),
                   [](const auto& a, const auto& b) { return a.first_seen < b.first_seen; });
  report.bindings = engine.bindings();
  for (const auto& [r, n] : reasons) report.reasons.emplace_back(static_cast<Reason>(r), n);
  for (const auto& [r, n] : waived) report.would_drop.emplace_back(static_cast<Reason>(r), n);
  return report;
}

Status apply_policy_json(std::string_view json, guard::PortPolicy& policy) {
  pb::Struct obj;
  const auto st = pb::util::JsonStringToMessage(std::string(json), &obj);
  if (!st.ok()) return Status::error("policy: not a JSON object: " + std::string(st.message()));
  return apply_object(obj, policy);
}

void print_text(const ExplainReport& r, const ExplainOptions& opt, std::ostream& out, bool frames) {
  std::vector<std::array<std::string, 7>> rows;
  rows.push_back({"#", "time", "src MAC", "src IP", "packet", "verdict", "reason"});
  for (const auto& f : r.frames) {
    rows.push_back({std::to_string(f.number), seconds_text(f.time), f.src_mac.to_string(),
                    f.has_ip ? f.src_ip.to_string() : "-", f.summary, verdict_text(f),
                    std::string(reason_name(shown_reason(f)))});
  }
  std::array<std::size_t, 7> width{};
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  auto print_row = [&](const std::array<std::string, 7>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out << line << '\n';
  };
  out << "port role " << role_name(opt.policy.role)
      << (opt.policy.monitor ? ", monitor mode (log only)" : ", enforcing") << "\n\n";
  if (frames) print_row(rows[0]);
  for (std::size_t i = 1; frames && i < rows.size(); ++i) {
    const auto& f = r.frames[i - 1];
    for (const auto& note : f.before) out << "    (timer) " << note << '\n';
    print_row(rows[i]);
    for (const auto& note : f.notes) out << "    " << note << '\n';
  }
  out << "\nsummary: " << r.frames.size() << " frames in " << seconds_text(r.duration)
      << " s: " << r.accepted << " accepted, " << r.dropped << " dropped";
  if (opt.policy.monitor) out << ", " << r.monitored << " would have been dropped";
  out << '\n';
  for (const auto& [why, n] : r.reasons)
    out << "  " << (is_drop(why) ? "DROP   " : "ACCEPT ") << reason_name(why) << ": " << n << '\n';
  for (const auto& [why, n] : r.would_drop)
    out << "  WOULD-DROP " << reason_name(why) << ": " << n << '\n';
  out << "bindings: " << r.bindings.size() << '\n';
  for (const auto& b : r.bindings)
    out << "  " << b.mac.to_string() << ' ' << b.addr.to_string() << ' '
        << guard::binding_state_name(b.state) << (b.is_static ? " static" : "") << '\n';
  out << "security events: " << r.events.size() << '\n';
  for (const auto& ev : r.events)
    out << "  " << events::to_json_line(ev, r.realtime_offset) << '\n';
}

void print_json(const ExplainReport& r, const ExplainOptions& opt, std::ostream& out) {
  pb::Struct root;
  auto& top = *root.mutable_fields();
  auto* frames = top["frames"].mutable_list_value();
  for (const auto& f : r.frames) {
    auto& o = *frames->add_values()->mutable_struct_value()->mutable_fields();
    o["frame"] = num(double(f.number));
    o["time"] = num(static_cast<double>(f.time) / guard::kSecond);
    o["src_mac"] = str(f.src_mac.to_string());
    if (f.has_ip) o["src_ip"] = str(f.src_ip.to_string());
    o["packet"] = str(f.summary);
    o["verdict"] = str(verdict_text(f));
    o["reason"] = str(std::string(reason_name(f.reason)));
    if (f.waived != V6G_R_NONE) o["would_drop"] = str(std::string(reason_name(f.waived)));
    if (f.parse_rejected) o["parse_rejected"].set_bool_value(true);
    std::vector<std::string> notes = f.before;
    notes.insert(notes.end(), f.notes.begin(), f.notes.end());
    if (!notes.empty()) {
      auto* list = o["notes"].mutable_list_value();
      for (auto& n : notes) *list->add_values() = str(n);
    }
  }
  auto& s = *top["summary"].mutable_struct_value()->mutable_fields();
  s["role"] = str(role_name(opt.policy.role));
  s["monitor"].set_bool_value(opt.policy.monitor);
  s["frames"] = num(double(r.frames.size()));
  s["accepted"] = num(double(r.accepted));
  s["dropped"] = num(double(r.dropped));
  s["would_drop"] = num(double(r.monitored));
  s["reasons"] = reason_counts(r.reasons);
  s["would_drop_reasons"] = reason_counts(r.would_drop);
  auto* events = top["events"].mutable_list_value();
  for (const auto& ev : r.events) {
    pb::Struct e;
    (void)pb::util::JsonStringToMessage(events::to_json_line(ev, r.realtime_offset), &e);
    *events->add_values()->mutable_struct_value() = std::move(e);
  }
  auto* bindings = top["bindings"].mutable_list_value();
  for (const auto& b : r.bindings) {
    auto& o = *bindings->add_values()->mutable_struct_value()->mutable_fields();
    o["mac"] = str(b.mac.to_string());
    o["address"] = str(b.addr.to_string());
    o["state"] = str(std::string(guard::binding_state_name(b.state)));
    o["static"].set_bool_value(b.is_static);
  }
  pb::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  std::string json;
  (void)pb::util::MessageToJsonString(root, &json, print);
  out << json << '\n';
}

int explain_command(const std::vector<std::string>& args, bool json, std::ostream& out,
                    std::ostream& err) {
  po::options_description desc(
      "usage: v6guardctl explain --pcap FILE [--port-role vm|router|trusted] [--policy "
      "JSON|FILE] [flags]\n\noptions");
  std::string pcap, role = "vm", policy_arg, mac;
  std::vector<std::string> prefixes, statics, ra_sources;
  bool monitor = false, summary_only = false, help = false;
  desc.add_options()("help,h", po::bool_switch(&help), "this help")(
      "pcap", po::value(&pcap), "capture to replay (pcap/pcapng, Ethernet or Linux cooked)")(
      "port-role", po::value(&role), "vm (default), router or trusted")(
      "policy", po::value(&policy_arg),
      "port policy: a JSON object or a file holding one (PortPolicy / IPv6SecurityConfig "
      "field names, or a spec NetworkInterface object)")(
      "monitor", po::bool_switch(&monitor), "monitor (log-only) mode: would-drop, accept")(
      "mac", po::value(&mac), "the VM's MAC (frames from other MACs are spoofed)")(
      "prefix", po::value(&prefixes)->composing(), "allocated prefix (bindings learnt inside)")(
      "static", po::value(&statics)->composing(), "static address of the port")(
      "ra-source", po::value(&ra_sources)->composing(), "allowed RA source (router ports)")(
      "summary", po::bool_switch(&summary_only), "skip the per-frame table")(
      "json", po::bool_switch(&json)->default_value(json), "one JSON object");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    err << "v6guardctl explain: " << e.what() << '\n' << desc;
    return 2;
  }
  if (help) {
    out << desc;
    return 0;
  }
  if (pcap.empty()) {
    err << "v6guardctl explain: --pcap FILE is required\n" << desc;
    return 2;
  }

  ExplainOptions opt;
  opt.policy.port = 1;
  opt.policy.interface_id = "pcap";
  if (!policy_arg.empty()) {
    std::string text = policy_arg;
    if (policy_arg.front() != '{') {
      std::ifstream in(policy_arg);
      if (!in) {
        err << "v6guardctl explain: --policy is neither JSON nor a readable file: " << policy_arg
            << '\n';
        return 2;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    if (auto st = apply_policy_json(text, opt.policy); !st) {
      err << "v6guardctl explain: " << st.message() << '\n';
      return 2;
    }
  }
  // Flags override the policy object.
  if (vm.count("port-role")) {
    pb::Value v = str(role);
    if (auto st = apply_key("role", v, opt.policy); !st) {
      err << "v6guardctl explain: --port-role: want vm, router or trusted\n";
      return 2;
    }
  }
  if (monitor) opt.policy.monitor = true;
  pb::Struct flags;
  auto& f = *flags.mutable_fields();
  if (!mac.empty()) f["mac"] = str(mac);
  auto list = [&](const char* key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    auto* l = f[key].mutable_list_value();
    for (const auto& s : items) *l->add_values() = str(s);
  };
  list("allocated_prefixes", prefixes);
  list("static_addresses", statics);
  list("allowed_ra_sources", ra_sources);
  if (auto st = apply_object(flags, opt.policy); !st) {
    err << "v6guardctl explain: " << st.message() << '\n';
    return 2;
  }

  const auto file = packet::read_pcap(pcap);
  if (!file.ok()) {
    err << "v6guardctl explain: " << pcap << ": " << file.error << '\n';
    return 1;
  }
  const auto report = explain_frames(file.frames, opt);
  if (json) {
    print_json(report, opt, out);
  } else {
    print_text(report, opt, out, !summary_only);
  }
  return 0;
}

}  // namespace v6g::cli
