#include "api/guard_status.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <net/if.h>

#include <charconv>

#include "common/reason.h"

namespace v6g::api {
namespace {

namespace pb = google::protobuf;
constexpr const char* kService = "/v6guard.v1.GuardService/";

pb::Struct& row(pb::Struct& response, const char* list) {
  return *(*response.mutable_fields())[list]
              .mutable_list_value()
              ->add_values()
              ->mutable_struct_value();
}
void put(pb::Struct& s, const char* key, std::string value) {
  (*s.mutable_fields())[key].set_string_value(std::move(value));
}
void put_number(pb::Struct& s, const char* key, double value) {
  (*s.mutable_fields())[key].set_number_value(value);
}
void empty_list(pb::Struct& response, const char* list) {
  (void)(*response.mutable_fields())[list].mutable_list_value();
}

std::string role_name(std::uint8_t role) {
  switch (role) {
    case V6G_ROLE_VM:
      return "vm";
    case V6G_ROLE_ROUTER:
      return "router";
    case V6G_ROLE_TRUSTED:
      return "trusted";
    default:
      return std::to_string(role);
  }
}

std::string flag_names(std::uint32_t flags) {
  static constexpr std::pair<std::uint32_t, const char*> kFlags[] = {
      {V6G_PORT_F_MONITOR, "monitor"},          {V6G_PORT_F_DPI, "dpi"},
      {V6G_PORT_F_MAC_CHECK, "mac_check"},      {V6G_PORT_F_BLOCK_HBH, "block_hbh"},
      {V6G_PORT_F_BLOCK_RH, "block_rh"},        {V6G_PORT_F_BLOCK_FRAG, "block_frag"},
      {V6G_PORT_F_BLOCK_DSTOPT, "block_dstopt"}};
  std::string out;
  for (const auto& [bit, name] : kFlags) {
    if (flags & bit) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out.empty() ? "-" : out;
}

std::optional<Error> store_failed(const store::Outcome& o) {
  if (o) return std::nullopt;
  return store_error(o);
}

}  // namespace

void register_guard_status(Server& server, GuardStatusSources src) {
  const std::string service = kService;
  server.handle<pb::Struct, pb::Struct>(
      service + "ListPorts",
      [src](const CallContext&, const pb::Struct&, pb::Struct& resp) -> std::optional<Error> {
        std::vector<store::PortRecord> ports;
        if (auto e = store_failed(
                src.vms->with_store([&](store::Store& s) { return s.list_ports(ports); }))) {
          return e;
        }
        empty_list(resp, "ports");
        for (const auto& p : ports) {
          auto& r = row(resp, "ports");
          put(r, "ifname", p.ifname);
          put(r, "bridge", p.bridge);
          put_number(r, "vlan", p.vlan);
          put(r, "mac", p.mac);
          put(r, "vm_id", p.vm_id);
          put(r, "role", role_name(p.role));
          put(r, "fail_mode", p.fail_mode == V6G_FAIL_OPEN ? "open" : "closed");
          put(r, "flags", flag_names(p.flags));
        }
        return std::nullopt;
      });
  server.handle<pb::Struct, pb::Struct>(
      service + "ListBindings",
      [src](const CallContext&, const pb::Struct&, pb::Struct& resp) -> std::optional<Error> {
        std::vector<store::BindingRecord> bindings;
        if (auto e = store_failed(
                src.vms->with_store([&](store::Store& s) { return s.list_bindings(bindings); }))) {
          return e;
        }
        // "in_kernel" tells the operator whether the datapath really holds
        // what the store says: a mismatch is the first thing to look at.
        std::vector<datapath::Binding> live;
        const bool have_live = src.datapath && src.datapath->list_bindings(live).ok();
        empty_list(resp, "bindings");
        for (const auto& b : bindings) {
          auto& r = row(resp, "bindings");
          put(r, "ifname", b.ifname);
          put_number(r, "vlan", b.vlan);
          put(r, "mac", b.mac);
          put(r, "ip6", b.ip6);
          put(r, "state", b.state);
          put(r, "source", b.source);
          put(r, "vm_id", b.vm_id.empty() ? "-" : b.vm_id);
          if (have_live) {
            bool found = false;
            for (const auto& l : live) {
              // The nft binding set has no VLAN (the port implies it): 0 = any.
              found = found || (l.ifname == b.ifname && (l.vlan == 0 || l.vlan == b.vlan) &&
                                l.mac.to_string() == b.mac && l.addr.to_string() == b.ip6);
            }
            put(r, "in_kernel", found ? "yes" : "NO");
          }
        }
        if (!src.guard_bindings) return std::nullopt;
        // Addresses the inspector learned (ND/DAD, DHCPv6): the store holds
        // only static ones, so these complete the picture.
        std::vector<store::PortRecord> ports;
        (void)src.vms->with_store([&](store::Store& s) { return s.list_ports(ports); });
        for (const auto& b : src.guard_bindings()) {
          if (b.is_static) continue;
          char name[IF_NAMESIZE] = {};
          const std::string ifname =
              if_indextoname(b.port, name) ? name : "if" + std::to_string(b.port);
          std::string vm_id = "-";
          for (const auto& p : ports) {
            if (p.ifname == ifname) vm_id = p.vm_id;
          }
          auto& r = row(resp, "bindings");
          put(r, "ifname", ifname);
          put_number(r, "vlan", b.vlan);
          put(r, "mac", b.mac.to_string());
          put(r, "ip6", b.addr.to_string());
          put(r, "state", std::string(guard::binding_state_name(b.state)));
          put(r, "source", "learned");
          put(r, "vm_id", vm_id);
          if (have_live) {
            bool found = false;
            for (const auto& l : live) {
              found = found || (l.ifindex == b.port && l.mac == b.mac && l.addr == b.addr);
            }
            put(r, "in_kernel", found ? "yes" : "NO");
          }
        }
        return std::nullopt;
      });
  server.handle<pb::Struct, pb::Struct>(
      service + "GetCounters",
      [src](const CallContext&, const pb::Struct&, pb::Struct& resp) -> std::optional<Error> {
        empty_list(resp, "counters");
        auto add = [&](const std::vector<datapath::PortCounters>& counters, const char* from) {
          for (const auto& port : counters) {
            char name[IF_NAMESIZE] = {};
            const std::string ifname = !port.ifname.empty()                 ? port.ifname
                                       : if_indextoname(port.ifindex, name) ? std::string(name)
                                                                            : "-";
            for (const auto& [why, packets] : port.by_reason) {
              auto& r = row(resp, "counters");
              put(r, "ifname", ifname);
              put(r, "reason", std::string(reason_name(why)));
              put(r, "verdict", is_drop(why) ? "drop" : "accept");
              put_number(r, "packets", static_cast<double>(packets));
              if (src.guard_counters) put(r, "from", from);
            }
          }
        };
        if (src.datapath) {
          std::vector<datapath::PortCounters> counters;
          if (auto s = src.datapath->counters(counters); !s) {
            return make_error(Code::kUnavailable, "datapath counters: " + s.message());
          }
          add(counters, "datapath");
        }
        if (src.guard_counters) add(src.guard_counters(), "inspector");
        return std::nullopt;
      });
  server.handle<pb::Struct, pb::Struct>(
      service + "ListEvents",
      [src](const CallContext&, const pb::Struct& req, pb::Struct& resp) -> std::optional<Error> {
        std::uint64_t after = 0;
        if (auto it = req.fields().find("after"); it != req.fields().end()) {
          const std::string& text = it->second.string_value();
          const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), after);
          if (ec != std::errc() || end != text.data() + text.size()) {
            Error e = make_error(Code::kInvalidArgument, "after: not a cursor: " + text);
            e.details.push_back({"after", "invalid_cursor", "", {}});
            return e;
          }
        }
        empty_list(resp, "events");
        std::uint64_t cursor = after;
        if (src.events) {
          std::vector<v6guard::v1::SecurityEvent> events;
          cursor = src.events(after, 1000, events);
          for (const auto& ev : events) {
            pb::Struct s;
            if (!pb::util::JsonStringToMessage(to_json(ev), &s).ok()) continue;
            *(*resp.mutable_fields())["events"]
                 .mutable_list_value()
                 ->add_values()
                 ->mutable_struct_value() = std::move(s);
          }
        }
        put(resp, "cursor", std::to_string(cursor));
        return std::nullopt;
      });
  server.handle<pb::Struct, pb::Struct>(
      service + "GetStatus",
      [src](const CallContext&, const pb::Struct&, pb::Struct& resp) -> std::optional<Error> {
        if (src.datapath) put(resp, "datapath", std::string(src.datapath->name()));
        std::vector<store::VmRecord> vms;
        if (auto e = src.vms->list({}, vms)) return e;
        put_number(resp, "vms", static_cast<double>(vms.size()));
        if (src.status) {
          for (auto& [key, value] : src.status()) put(resp, key.c_str(), value);
        }
        return std::nullopt;
      });
}

}  // namespace v6g::api
