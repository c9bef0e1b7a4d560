#include "api/guard_status.h"

#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/time_util.h>
#include <net/if.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <tuple>
#include <unordered_set>

#ifndef V6G_VERSION
#define V6G_VERSION "unknown"
#endif

namespace v6g::api {

namespace pb = google::protobuf;
namespace v1 = v6guard::v1;

v1::Reason to_proto(Reason r) { return static_cast<v1::Reason>(raw(r)); }

v1::PortRole port_role(std::uint8_t role) {
  switch (role) {
    case V6G_ROLE_VM:
      return v1::PORT_ROLE_VM;
    case V6G_ROLE_ROUTER:
      return v1::PORT_ROLE_ROUTER;
    case V6G_ROLE_TRUSTED:
      return v1::PORT_ROLE_TRUSTED;
    default:
      return v1::PORT_ROLE_UNSPECIFIED;
  }
}

v1::FailMode fail_mode(std::uint8_t mode) {
  switch (mode) {
    case V6G_FAIL_CLOSED:
      return v1::FAIL_MODE_CLOSED;
    case V6G_FAIL_OPEN:
      return v1::FAIL_MODE_OPEN;
    default:
      return v1::FAIL_MODE_UNSPECIFIED;
  }
}

std::vector<v1::PortFlag> port_flags(std::uint32_t flags) {
  static constexpr std::pair<std::uint32_t, v1::PortFlag> kFlags[] = {
      {V6G_PORT_F_MONITOR, v1::PORT_FLAG_MONITOR},
      {V6G_PORT_F_DPI, v1::PORT_FLAG_DPI},
      {V6G_PORT_F_MAC_CHECK, v1::PORT_FLAG_MAC_CHECK},
      {V6G_PORT_F_BLOCK_HBH, v1::PORT_FLAG_BLOCK_HBH},
      {V6G_PORT_F_BLOCK_RH, v1::PORT_FLAG_BLOCK_RH},
      {V6G_PORT_F_BLOCK_FRAG, v1::PORT_FLAG_BLOCK_FRAG},
      {V6G_PORT_F_BLOCK_DSTOPT, v1::PORT_FLAG_BLOCK_DSTOPT}};
  std::vector<v1::PortFlag> out;
  for (const auto& [bit, flag] : kFlags) {
    if (flags & bit) out.push_back(flag);
  }
  return out;
}

v1::BindingState binding_state(std::string_view name) {
  if (name == "tentative") return v1::BINDING_STATE_TENTATIVE;
  if (name == "valid" || name == "reachable") return v1::BINDING_STATE_VALID;
  if (name == "testing_val") return v1::BINDING_STATE_TESTING_VAL;
  if (name == "stale") return v1::BINDING_STATE_STALE;
  return v1::BINDING_STATE_UNSPECIFIED;
}

std::string short_name(const pb::EnumDescriptor* type, int value) {
  const pb::EnumValueDescriptor* v = type->FindValueByNumber(value);
  if (v == nullptr) return std::to_string(value);
  std::string name = v->name();
  // The type prefix is the enum's name in UPPER_SNAKE: PortFlag -> PORT_FLAG_.
  std::string prefix;
  for (char c : type->name()) {
    if (std::isupper(static_cast<unsigned char>(c)) && !prefix.empty()) prefix += '_';
    prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  prefix += '_';
  if (name.starts_with(prefix)) name.erase(0, prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

namespace {

constexpr const char* kService = "/v6guard.v1.GuardService/";
constexpr std::uint32_t kDefaultPageSize = 1000;
constexpr std::uint32_t kMaxPageSize = 10000;
constexpr std::uint32_t kMaxEvents = 1000;

std::optional<Error> store_failed(const store::Outcome& o) {
  if (o) return std::nullopt;
  return store_error(o);
}

std::int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void set_time(pb::Timestamp* out, std::int64_t realtime_ns) {
  *out = pb::util::TimeUtil::NanosecondsToTimestamp(realtime_ns);
}

std::string ifname_of(std::uint32_t ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(ifindex, name) ? std::string(name) : "if" + std::to_string(ifindex);
}

// RFC 5952 text when it parses (the store keeps what the config said), so
// sorting, filters and the in_kernel match agree on one spelling.
std::string canonical_ip6(const std::string& text) {
  const auto a = Ip6Addr::parse(text);
  return a ? a->to_string() : text;
}

// What ports and bindings are annotated with: the stored VMs and ports.
struct Owners {
  std::map<std::string, store::VmRecord> vms;      // by id
  std::map<std::string, store::PortRecord> ports;  // by ifname
  const store::VmRecord* vm(const std::string& id) const {
    auto it = vms.find(id);
    return it == vms.end() ? nullptr : &it->second;
  }
};

std::optional<Error> load_owners(VmManager& manager, Owners& out) {
  std::vector<store::VmRecord> vms;
  if (auto e = manager.list({}, vms)) return e;
  for (auto& vm : vms) out.vms.emplace(vm.id, std::move(vm));
  std::vector<store::PortRecord> ports;
  if (auto e =
          store_failed(manager.with_store([&](store::Store& s) { return s.list_ports(ports); }))) {
    return e;
  }
  for (auto& p : ports) out.ports.emplace(p.ifname, std::move(p));
  return std::nullopt;
}

// Every binding the daemon knows, unfiltered and unsorted: the store's
// (static, from the config) and the inspector's learnt ones.
std::optional<Error> all_bindings(const GuardStatusSources& src, const Owners& owners,
                                  std::vector<v1::Binding>& out, bool& datapath_listed) {
  std::vector<store::BindingRecord> stored;
  if (auto e = store_failed(
          src.vms->with_store([&](store::Store& s) { return s.list_bindings(stored); }))) {
    return e;
  }
  std::vector<datapath::Binding> live;
  datapath_listed = src.datapath && src.datapath->list_bindings(live).ok();
  // One hash lookup per binding (a host may hold tens of thousands). The kmod
  // names ports by ifindex ("/<ifindex>": no interface name has a '/'), nft
  // by name; a binding listed without a VLAN (nft's untagged set: the port
  // implies it) matches any.
  auto live_key = [](const std::string& port, std::uint32_t vlan, const std::string& mac,
                     const std::string& ip6) {
    return port + '/' + std::to_string(vlan) + '/' + mac + '/' + ip6;
  };
  std::unordered_set<std::string> in_datapath;
  for (const auto& l : live) {
    const std::string port = l.ifname.empty() ? "/" + std::to_string(l.ifindex) : l.ifname;
    in_datapath.insert(live_key(port, l.vlan, l.mac.to_string(), l.addr.to_string()));
  }
  auto in_kernel = [&](const v1::Binding& b) {
    for (const std::string& port : {b.port(), "/" + std::to_string(b.ifindex())}) {
      for (const std::uint32_t vlan : {b.vlan(), 0u}) {
        if (in_datapath.contains(live_key(port, vlan, b.mac(), b.ipv6()))) return true;
      }
    }
    return false;
  };
  const std::int64_t realtime = clock_ns(CLOCK_REALTIME);
  for (const auto& r : stored) {
    v1::Binding b;
    b.set_port(r.ifname);
    b.set_ifindex(if_nametoindex(r.ifname.c_str()));
    b.set_vlan(r.vlan);
    const auto mac = MacAddr::parse(r.mac);
    b.set_mac(mac ? mac->to_string() : r.mac);
    b.set_ipv6(canonical_ip6(r.ip6));
    b.set_origin(r.source == "static" ? v1::ORIGIN_STATIC : v1::ORIGIN_LEARNT);
    b.set_state(binding_state(r.state));
    b.set_vm_id(r.vm_id);
    if (const auto* vm = owners.vm(r.vm_id)) {
      b.set_tenant_id(vm->tenant_id);
      // A static binding is written with its VM.
      if (b.origin() == v1::ORIGIN_STATIC && vm->created_ns > 0) {
        set_time(b.mutable_created(), vm->created_ns);
      }
    }
    if (r.expires_ns > 0) set_time(b.mutable_expires(), r.expires_ns);
    b.set_in_kernel(datapath_listed && in_kernel(b));
    out.push_back(std::move(b));
  }
  if (!src.guard_bindings) return std::nullopt;
  const std::int64_t monotonic = clock_ns(CLOCK_MONOTONIC);
  for (const auto& g : src.guard_bindings()) {
    if (g.is_static) continue;  // the store lists those, with their VM
    v1::Binding b;
    b.set_port(ifname_of(g.port));
    b.set_ifindex(g.port);
    b.set_vlan(g.vlan);
    b.set_mac(g.mac.to_string());
    b.set_ipv6(g.addr.to_string());
    b.set_origin(v1::ORIGIN_LEARNT);
    b.set_state(binding_state(guard::binding_state_name(g.state)));
    if (auto it = owners.ports.find(b.port()); it != owners.ports.end()) {
      b.set_vm_id(it->second.vm_id);
      if (const auto* vm = owners.vm(it->second.vm_id)) b.set_tenant_id(vm->tenant_id);
    }
    if (g.expires > 0) set_time(b.mutable_expires(), realtime + (g.expires - monotonic));
    b.set_in_kernel(datapath_listed && in_kernel(b));
    out.push_back(std::move(b));
  }
  return std::nullopt;
}

// Paging key: bindings are ordered by it and a page token is the last key
// served. Interface names can't contain '/', addresses and MACs don't.
using BindingKey = std::tuple<std::string, std::uint32_t, std::string, std::string, int>;
BindingKey key_of(const v1::Binding& b) {
  return {b.port(), b.vlan(), b.ipv6(), b.mac(), static_cast<int>(b.origin())};
}
std::string token_of(const BindingKey& k) {
  return std::get<0>(k) + "/" + std::to_string(std::get<1>(k)) + "/" + std::get<2>(k) + "/" +
         std::get<3>(k) + "/" + std::to_string(std::get<4>(k));
}
template <typename T>
bool parse_number(const std::string& text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}
std::optional<BindingKey> parse_token(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t slash; (slash = token.find('/', start)) != std::string::npos;
       start = slash + 1) {
    parts.push_back(token.substr(start, slash - start));
  }
  parts.push_back(token.substr(start));
  if (parts.size() != 5) return std::nullopt;
  std::uint32_t vlan = 0;
  int origin = 0;
  if (!parse_number(parts[1], vlan) || !parse_number(parts[4], origin)) return std::nullopt;
  return BindingKey{parts[0], vlan, parts[2], parts[3], origin};
}

Error field_error(const std::string& field, const std::string& validation_error,
                  const std::string& message) {
  Error e = make_error(Code::kInvalidArgument, field + ": " + message);
  e.details.push_back({field, validation_error, message, {}});
  return e;
}

}  // namespace

void register_guard_status(Server& server, GuardStatusSources src) {
  const std::string service = kService;

  server.handle<v1::ListPortsRequest, v1::ListPortsResponse>(
      service + "ListPorts",
      [src](const CallContext&, const v1::ListPortsRequest& req,
            v1::ListPortsResponse& resp) -> std::optional<Error> {
        Owners owners;
        if (auto e = load_owners(*src.vms, owners)) return e;
        std::vector<v1::Binding> bindings;
        bool listed = false;
        if (auto e = all_bindings(src, owners, bindings, listed)) return e;
        for (const auto& [name, p] : owners.ports) {
          if (!req.vm_id().empty() && p.vm_id != req.vm_id()) continue;
          v1::Port& out = *resp.add_ports();
          out.set_port(p.ifname);
          out.set_ifindex(if_nametoindex(p.ifname.c_str()));
          out.set_bridge(p.bridge);
          out.set_vlan(p.vlan);
          out.set_mac(p.mac);
          out.set_vm_id(p.vm_id);
          if (const auto* vm = owners.vm(p.vm_id)) out.set_tenant_id(vm->tenant_id);
          out.set_role(port_role(p.role));
          out.set_fail_mode(fail_mode(p.fail_mode));
          for (const auto flag : port_flags(p.flags)) out.add_flags(flag);
          out.set_binding_count(static_cast<std::uint32_t>(
              std::count_if(bindings.begin(), bindings.end(),
                            [&](const v1::Binding& b) { return b.port() == p.ifname; })));
        }
        return std::nullopt;
      });

  server.handle<v1::ListBindingsRequest, v1::ListBindingsResponse>(
      service + "ListBindings",
      [src](const CallContext&, const v1::ListBindingsRequest& req,
            v1::ListBindingsResponse& resp) -> std::optional<Error> {
        std::optional<BindingKey> after;
        if (!req.page_token().empty()) {
          after = parse_token(req.page_token());
          if (!after) {
            return field_error("page_token", "invalid_page_token",
                               "not a token this server handed out");
          }
        }
        if (req.vlan() > 4094) {
          return field_error("vlan", "vlan_out_of_range", "VLAN must be 0 (any) or 1-4094");
        }
        Owners owners;
        if (auto e = load_owners(*src.vms, owners)) return e;
        std::vector<v1::Binding> all;
        bool listed = false;
        if (auto e = all_bindings(src, owners, all, listed)) return e;
        std::erase_if(all, [&](const v1::Binding& b) {
          return (!req.port().empty() && b.port() != req.port()) ||
                 (req.vlan() != 0 && b.vlan() != req.vlan()) ||
                 (!req.vm_id().empty() && b.vm_id() != req.vm_id());
        });
        std::sort(all.begin(), all.end(),
                  [](const v1::Binding& a, const v1::Binding& b) { return key_of(a) < key_of(b); });
        const std::uint32_t size =
            req.page_size() == 0 ? kDefaultPageSize : std::min(req.page_size(), kMaxPageSize);
        resp.set_total_count(static_cast<std::uint32_t>(all.size()));
        resp.set_datapath_listed(listed);
        auto it = all.begin();
        if (after) {
          it = std::upper_bound(
              all.begin(), all.end(), *after,
              [](const BindingKey& k, const v1::Binding& b) { return k < key_of(b); });
        }
        for (; it != all.end() && static_cast<std::uint32_t>(resp.bindings_size()) < size; ++it) {
          *resp.add_bindings() = *it;
        }
        if (it != all.end()) resp.set_next_page_token(token_of(key_of(*std::prev(it))));
        return std::nullopt;
      });

  server.handle<v1::GetCountersRequest, v1::GetCountersResponse>(
      service + "GetCounters",
      [src](const CallContext&, const v1::GetCountersRequest& req,
            v1::GetCountersResponse& resp) -> std::optional<Error> {
        // (source, port, reason) -> row: the nft datapath counts two rules
        // under one reason (both fragment rules, both DHCPv6 server rules).
        std::map<std::tuple<int, std::string, int>, v1::Counter> rows;
        auto add = [&](const std::vector<datapath::PortCounters>& counters,
                       v1::CounterSource source) {
          if (req.source() != v1::COUNTER_SOURCE_UNSPECIFIED && req.source() != source) return;
          for (const auto& port : counters) {
            // "*" (or nothing) is the datapath counting across all ports.
            std::string name = port.ifname == "*" ? std::string() : port.ifname;
            if (name.empty() && port.ifindex != 0) name = ifname_of(port.ifindex);
            if (!req.port().empty() && name != req.port()) continue;
            for (const auto& [why, packets] : port.by_reason) {
              if (packets == 0) continue;
              const v1::Verdict verdict = is_drop(why) ? v1::VERDICT_DROP : v1::VERDICT_ACCEPT;
              if (req.verdict() != v1::VERDICT_UNSPECIFIED && req.verdict() != verdict) continue;
              v1::Counter& c = rows[{source, name, static_cast<int>(raw(why))}];
              c.set_port(name);
              c.set_ifindex(name.empty() ? 0 : port.ifindex);
              c.set_reason(to_proto(why));
              c.set_verdict(verdict);
              c.set_packets(c.packets() + packets);
              c.set_source(source);
            }
          }
        };
        if (src.datapath) {
          std::vector<datapath::PortCounters> counters;
          if (auto s = src.datapath->counters(counters); !s) {
            return make_error(Code::kUnavailable, "datapath counters: " + s.message());
          }
          add(counters, v1::COUNTER_SOURCE_DATAPATH);
        }
        if (src.guard_counters) add(src.guard_counters(), v1::COUNTER_SOURCE_INSPECTOR);
        for (auto& [key, row] : rows) *resp.add_counters() = std::move(row);
        return std::nullopt;
      });

  server.handle<v1::ListEventsRequest, v1::ListEventsResponse>(
      service + "ListEvents",
      [src](const CallContext&, const v1::ListEventsRequest& req,
            v1::ListEventsResponse& resp) -> std::optional<Error> {
        const std::uint32_t limit =
            req.limit() == 0 ? kMaxEvents : std::min(req.limit(), kMaxEvents);
        std::uint64_t last = req.since_sequence();
        if (src.events) {
          std::vector<v1::SecurityEvent> events;
          last = src.events(req.since_sequence(), limit, events);
          for (auto& ev : events) *resp.add_events() = std::move(ev);
        }
        resp.set_last_sequence(last);
        return std::nullopt;
      });

  server.handle<v1::GetStatusRequest, v1::GetStatusResponse>(
      service + "GetStatus",
      [src](const CallContext&, const v1::GetStatusRequest&,
            v1::GetStatusResponse& resp) -> std::optional<Error> {
        if (src.datapath) resp.set_datapath(std::string(src.datapath->name()));
        Owners owners;
        if (auto e = load_owners(*src.vms, owners)) return e;
        resp.set_vm_count(static_cast<std::uint32_t>(owners.vms.size()));
        resp.set_port_count(static_cast<std::uint32_t>(owners.ports.size()));
        if (src.status) {
          for (auto& [key, value] : src.status()) {
            if (key == "datapath_reason") {
              resp.set_datapath_reason(value);
              continue;
            }
            v1::StatusLine& line = *resp.add_lines();
            line.set_key(key);
            line.set_value(value);
          }
        }
        v1::Versions& v = *resp.mutable_versions();
        v.set_daemon(V6G_VERSION);
        v.set_api(v1::GetStatusResponse::descriptor()->file()->package());
        v.set_kmod_genl_abi(V6G_GENL_VERSION);
        v.set_protobuf(pb::internal::VersionString(GOOGLE_PROTOBUF_VERSION));
        return std::nullopt;
      });
}

}  // namespace v6g::api
