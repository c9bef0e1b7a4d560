#include "config/validate.h"

#include <algorithm>
#include <charconv>

#include "config/firewall.h"

namespace v6g::config {

using vmprovisioner::v1::CreateVmRequest;
using vmprovisioner::v1::IPv6Config;
using vmprovisioner::v1::NetworkInterface;

std::string FieldViolation::context_value(std::string_view key) const {
  for (const auto& [k, v] : context)
    if (k == key) return v;
  return {};
}

google::protobuf::Struct violation_details(const FieldViolation& violation) {
  google::protobuf::Struct details;
  auto& fields = *details.mutable_fields();
  fields["field"].set_string_value(violation.field);
  fields["validation_error"].set_string_value(violation.validation_error);
  for (const auto& [key, value] : violation.context) {
    auto& out = fields[key];
    if (value == "true" || value == "false") {
      out.set_bool_value(value == "true");
    } else if (key == "allocated_blocks" || key == "allowed_pools") {
      auto& list = *out.mutable_list_value();
      std::size_t start = 0;
      while (start < value.size()) {
        const auto comma = std::min(value.find(',', start), value.size());
        list.add_values()->set_string_value(value.substr(start, comma - start));
        start = comma + 1;
      }
    } else {
      out.set_string_value(value);
    }
  }
  return details;
}

bool valid_ifname(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

std::optional<AddressWithPrefix> parse_address_with_prefix(std::string_view text,
                                                           std::string* error) {
  const std::string quoted = "invalid IPv6 address '" + std::string(text) + "': ";
  const auto bad = text.find_first_not_of("0123456789abcdefABCDEF:./");
  if (bad != std::string_view::npos) {
    *error = quoted + "invalid character '" + std::string(1, text[bad]) + "'";
    return std::nullopt;
  }
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    *error = quoted + "missing prefix length (e.g. /64)";
    return std::nullopt;
  }
  unsigned len = 0;
  const std::string_view len_text = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (len_text.empty() || ec != std::errc() || end != len_text.data() + len_text.size() ||
      len == 0 || len > 128) {
    *error = quoted + "prefix length must be 1-128";
    return std::nullopt;
  }
  auto addr = Ip6Addr::parse(text.substr(0, slash));
  if (!addr) {
    *error = quoted + "malformed address";
    return std::nullopt;
  }
  return AddressWithPrefix{*addr, static_cast<std::uint8_t>(len)};
}

namespace {

const Ip6Prefix kDocumentation = *Ip6Prefix::parse("2001:db8::/32");

std::string join_prefixes(const std::vector<Ip6Prefix>& v) {
  std::string out;
  for (const auto& p : v) out += (out.empty() ? "" : ",") + p.to_string();
  return out;
}

class Validator {
 public:
  Validator(const CreateVmRequest& r, const HostConfig& h, const ExistingState& e)
      : request_(r), host_(h), existing_(e) {}

  std::vector<FieldViolation> run() {
    if (!request_.has_config()) {
      add("config", "invalid_argument", "config is required", "required");
      return std::move(out_);
    }
    const auto& cfg = request_.config();
    tenant_ = cfg.tenant_id();
    if (tenant_.empty())
      add("config.tenant_id", "invalid_argument", "tenant_id is required for isolation",
          "required");
    profile_ = cfg.security_profile().profile_name();
    if (!profile_.empty() && profile_ != "high" && profile_ != "medium" && profile_ != "low")
      add("config.security_profile.profile_name", "invalid_argument",
          "security profile must be high, medium or low", "invalid_value");
    for (int k = 0; k < cfg.ipv6_pools_size(); ++k)
      pool("config.ipv6_pools[" + std::to_string(k) + "]", cfg.ipv6_pools(k).name());
    if (cfg.network_size() == 0)
      add("config.network", "invalid_argument", "at least one network interface is required",
          "required");
    // A VM's NICs, their addresses, ports and bindings are stored in one
    // statement (Store::insert_vm_with); hundreds of NICs would exceed it
    // and no hypervisor gives a VM that many. Refused here with the field,
    // not as an internal error from the store.
    if (cfg.network_size() > kMaxInterfacesPerVm) {
      add("config.network", "invalid_argument",
          "at most " + std::to_string(kMaxInterfacesPerVm) + " network interfaces per VM (got " +
              std::to_string(cfg.network_size()) + ")",
          "too_many_interfaces");
      return std::move(out_);
    }
    for (int i = 0; i < cfg.network_size(); ++i)
      interface("config.network[" + std::to_string(i) + "]", cfg.network(i));
    return std::move(out_);
  }

 private:
  FieldViolation& add(std::string field, std::string code, std::string message, std::string error) {
    out_.push_back({std::move(field), std::move(code), std::move(message), std::move(error), {}});
    return out_.back();
  }

  void pool(const std::string& field, const std::string& name) {
    const Pool* p = host_.find_pool(name);
    if (p == nullptr) {
      add(field, "invalid_argument", "unknown IPv6 pool '" + name + "'", "unknown_pool");
      return;
    }
    if (!p->authorizes(tenant_)) {
      std::string allowed;
      for (const auto& q : host_.pools)
        if (q.authorizes(tenant_)) allowed += (allowed.empty() ? "" : ",") + q.name;
      add(field, "permission_denied", "tenant not authorized for requested IPv6 pool",
          "pool_not_authorized")
          .context = {{"tenant_id", tenant_}, {"requested_pool", name}, {"allowed_pools", allowed}};
    }
  }

  void interface(const std::string& f, const NetworkInterface& nic) {
    const std::string& bridge = nic.bridge_name();
    if (bridge.empty())
      add(f + ".bridge_name", "invalid_argument", "bridge_name is required (tenant bridge)",
          "required");
    else if (!valid_ifname(bridge))
      add(f + ".bridge_name", "invalid_argument",
          "bridge name must be 1-15 characters of [A-Za-z0-9._-]", "invalid_ifname");
    else if (auto it = existing_.bridge_owner.find(bridge);
             (it != existing_.bridge_owner.end() && it->second != tenant_) ||
             (bridge_tenant_.contains(bridge) && bridge_tenant_[bridge] != tenant_))
      add(f + ".bridge_name", "permission_denied",
          "bridge '" + bridge + "' belongs to another tenant", "bridge_owned_by_other_tenant");
    bridge_tenant_[bridge] = tenant_;

    vlan(f + ".vlan_id", nic.vlan_id(), bridge);

    if (!nic.mac_address().empty()) {
      auto mac = MacAddr::parse(nic.mac_address());
      if (!mac)
        add(f + ".mac_address", "invalid_argument",
            "invalid MAC address '" + nic.mac_address() + "'", "invalid_mac");
      else if (mac->is_multicast() || mac->is_zero())
        add(f + ".mac_address", "invalid_argument", "MAC address must be unicast and non-zero",
            "invalid_mac");
      else if (existing_.macs_in_use.contains(*mac) || !macs_.insert(*mac).second)
        add(f + ".mac_address", "already_exists", "MAC address already in use", "mac_in_use");
    }
    if (!nic.tap_device().empty()) {
      if (!valid_ifname(nic.tap_device()))
        add(f + ".tap_device", "invalid_argument",
            "tap name must be 1-15 characters of [A-Za-z0-9._-]", "invalid_ifname");
      else if (existing_.taps_in_use.contains(nic.tap_device()) ||
               !taps_.insert(nic.tap_device()).second)
        add(f + ".tap_device", "already_exists", "tap device already in use", "tap_in_use");
    }
    ipv6(f + ".ipv6", nic.ipv6());
    security(f, nic);
    policy(f + ".security_policy", nic.security_policy());
  }

  void vlan(const std::string& f, const std::string& text, const std::string& bridge) {
    if (text.empty()) {
      add(f, "invalid_argument", "vlan_id is required for tenant isolation", "required");
      return;
    }
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
      add(f, "invalid_argument", "vlan_id '" + text + "' is not a number", "invalid_vlan");
      return;
    }
    if (v == 0) {
      add(f, "invalid_argument", "VLAN 0 (priority tag) is not allowed", "vlan_zero");
      return;
    }
    if (v > 4094) {
      add(f, "invalid_argument", "VLAN must be 1-4094", "vlan_out_of_range");
      return;
    }
    const auto id = static_cast<std::uint16_t>(v);
    if (id == 1) {
      add(f, "permission_denied", "VLAN 1 is reserved for management traffic",
          "vlan_management_only");
      return;
    }
    if (id >= host_.management_vlan_first && id <= host_.management_vlan_last &&
        !host_.vlan_granted(id, bridge)) {
      add(f, "permission_denied",
          "VLAN " + text + " is in the management range reserved for infrastructure",
          "vlan_reserved_for_management")
          .context = {{"reserved_range", std::to_string(host_.management_vlan_first) + "-" +
                                             std::to_string(host_.management_vlan_last)}};
      return;
    }
    const auto owner = existing_.vlan_owner.find({bridge, id});
    if ((owner != existing_.vlan_owner.end() && owner->second != tenant_) ||
        !vlans_.insert({bridge, id}).second)
      add(f, "already_exists", "VLAN " + text + " already in use on bridge '" + bridge + "'",
          "vlan_in_use");
  }

  void ipv6(const std::string& f, const IPv6Config& c) {
    std::optional<AddressWithPrefix> addr;
    if (!c.address().empty()) {
      std::string error;
      addr = parse_address_with_prefix(c.address(), &error);
      if (!addr) {
        add(f + ".address", "invalid_argument", error, "invalid_address").context = {
            {"allocated_blocks", join_prefixes(host_.allocated_blocks)}};
      } else if (!address_allowed(f + ".address", addr->address)) {
        addr.reset();
      } else if (existing_.addresses_in_use.contains(addr->address) ||
                 !addresses_.insert(addr->address).second) {
        add(f + ".address", "already_exists", "address already assigned to another VM",
            "address_in_use");
      }
      if (c.enable_slaac())
        add(f + ".enable_slaac", "invalid_argument",
            "SLAAC cannot be combined with a static address", "autoconf_with_static");
      if (c.enable_dhcpv6())
        add(f + ".enable_dhcpv6", "invalid_argument",
            "DHCPv6 cannot be combined with a static address", "autoconf_with_static");
    } else if (!c.pool().empty()) {
      pool(f + ".pool", c.pool());
    }
    if (!c.gateway().empty()) {
      auto gw = Ip6Addr::parse(c.gateway());
      if (!gw || gw->is_multicast() || gw->is_unspecified() || gw->is_loopback())
        add(f + ".gateway", "invalid_argument",
            "gateway '" + c.gateway() + "' is not a unicast IPv6 address", "invalid_gateway");
      else if (addr && !gw->is_link_local() &&
               !Ip6Prefix::parse(addr->address.to_string() + "/" + std::to_string(addr->prefix_len),
                                 true)
                    ->contains(*gw))
        add(f + ".gateway", "invalid_argument", "gateway must be in the VM's subnet or link-local",
            "gateway_not_in_subnet");
    }
    for (int j = 0; j < c.dns_servers_size(); ++j) {
      const std::string jf = f + ".dns_servers[" + std::to_string(j) + "]";
      auto dns = Ip6Addr::parse(c.dns_servers(j));
      if (!dns)
        add(jf, "invalid_argument", "invalid DNS server '" + c.dns_servers(j) + "'",
            "invalid_address");
      else if (std::find(host_.trusted_dns_servers.begin(), host_.trusted_dns_servers.end(),
                         *dns) == host_.trusted_dns_servers.end())
        add(jf, "permission_denied", "DNS server '" + c.dns_servers(j) + "' is not trusted",
            "untrusted_dns_server");
    }
    const auto& s = c.security();
    range(f + ".security.nd_rate_limit", s.nd_rate_limit(), host_.nd_rate_limit);
    range(f + ".security.icmpv6_rate_limit", s.icmpv6_rate_limit(), host_.icmpv6_rate_limit);
    range(f + ".security.ra_rate_limit", s.ra_rate_limit(), host_.ra_rate_limit);
    range(f + ".security.multicast_rate_limit", s.multicast_rate_limit(),
          host_.multicast_rate_limit);
    for (int j = 0; j < s.allowed_ra_sources_size(); ++j) {
      auto a = Ip6Addr::parse(s.allowed_ra_sources(j));
      if (!a || a->is_multicast() || a->is_unspecified())
        add(f + ".security.allowed_ra_sources[" + std::to_string(j) + "]", "invalid_argument",
            "invalid RA source '" + s.allowed_ra_sources(j) + "'", "invalid_address");
    }
  }

  // Returns false (after recording why) for addresses a VM may never own.
  bool address_allowed(const std::string& f, const Ip6Addr& a) {
    auto reject = [&](const char* what, const char* error) {
      add(f, "invalid_argument", std::string(what) + " addresses are not allowed for VMs", error)
          .context = {{"allocated_blocks", join_prefixes(host_.allocated_blocks)}};
      return false;
    };
    if (a.is_unspecified()) return reject("unspecified", "unspecified_address");
    if (a.is_loopback()) return reject("loopback", "loopback_address");
    if (a.is_multicast()) return reject("multicast", "multicast_address");
    if (a.is_link_local()) return reject("link-local", "link_local_address");
    if (kDocumentation.contains(a))
      return reject("documentation (2001:db8::/32)", "documentation_prefix");
    if (a.is_ula()) {
      if (!host_.allow_ula) return reject("unjustified ULA (fc00::/7)", "ula_not_justified");
      return true;
    }
    if (std::none_of(host_.allocated_blocks.begin(), host_.allocated_blocks.end(),
                     [&](const Ip6Prefix& p) { return p.contains(a); })) {
      add(f, "invalid_argument", "address '" + a.to_string() + "' is not from an allocated block",
          "not_from_allocated_block")
          .context = {{"allocated_blocks", join_prefixes(host_.allocated_blocks)}};
      return false;
    }
    return true;
  }

  void range(const std::string& f, std::uint64_t value, const RateRange& r) {
    if (value == 0) return;  // unset; required-ness is the profile's business
    if (value < r.min || value > r.max)
      add(f, "invalid_argument",
          "rate limit " + std::to_string(value) + " outside " + std::to_string(r.min) + "-" +
              std::to_string(r.max),
          "rate_limit_out_of_range")
          .context = {{"min", std::to_string(r.min)}, {"max", std::to_string(r.max)}};
  }

  void require(const std::string& f, bool ok, const std::string& what) {
    if (ok) return;
    add(f, "invalid_argument", "security policy violation: " + what, "security_control_required")
        .context = {{"required_value", "true"},
                    {"security_profile", profile_.empty() ? "default" : profile_}};
  }

  void security(const std::string& f, const NetworkInterface& nic) {
    const auto& s = nic.ipv6().security();
    const std::string sf = f + ".ipv6.security";
    // Mandatory in every profile (the spec marks both MANDATORY).
    require(sf + ".enable_ra_guard", s.enable_ra_guard(),
            "RA Guard must be enabled for production deployments");
    require(sf + ".enable_source_guard", s.enable_source_guard(),
            "IPv6 source guard must be enabled");
    if (profile_ != "high") return;
    require(sf + ".allowed_ra_sources", s.allowed_ra_sources_size() > 0,
            "RA Guard must be configured with specific allowed sources");
    require(sf + ".block_hop_by_hop", s.block_hop_by_hop(),
            "extension header filtering must be enabled (hop-by-hop)");
    require(sf + ".block_routing_header", s.block_routing_header(),
            "extension header filtering must be enabled (routing header)");
    require(sf + ".nd_rate_limit", s.nd_rate_limit() != 0, "ND rate limit must be set");
    require(sf + ".icmpv6_rate_limit", s.icmpv6_rate_limit() != 0, "ICMPv6 rate limit must be set");
    if (nic.ipv6().accept_ra())
      require(sf + ".ra_rate_limit", s.ra_rate_limit() != 0,
              "RA rate limit must be set when accept_ra is on");
    require(f + ".security_policy.tenant_isolation_level",
            !nic.security_policy().tenant_isolation_level().empty(),
            "tenant isolation level must be specified");
  }

  void rules(const std::string& f, const google::protobuf::RepeatedPtrField<std::string>& list) {
    for (int j = 0; j < list.size(); ++j) {
      const std::string jf = f + "[" + std::to_string(j) + "]";
      auto parsed = parse_firewall_rule(list[j]);
      if (!parsed.ok()) {
        add(jf, "invalid_argument",
            "invalid firewall rule at position " + std::to_string(parsed.error.position) + ": " +
                parsed.error.message,
            "invalid_firewall_rule")
            .context = {{"position", std::to_string(parsed.error.position)}};
      } else if (allows_tunnel(*parsed.rule) && !host_.allow_tunnel_rules) {
        add(jf, "permission_denied", "tunnelling protocols (41, 47, udp 3544/4789) are blocked",
            "tunnel_protocol_blocked");
      }
    }
  }

  void policy(const std::string& f, const vmprovisioner::v1::NetworkSecurityPolicy& p) {
    rules(f + ".ingress_rules", p.ingress_rules());
    rules(f + ".egress_rules", p.egress_rules());
    const auto& level = p.tenant_isolation_level();
    if (!level.empty() && level != "strict" && level != "moderate" && level != "none")
      add(f + ".tenant_isolation_level", "invalid_argument",
          "tenant_isolation_level must be strict, moderate or none", "invalid_value");
    range(f + ".packet_rate_limit", p.packet_rate_limit(), host_.packet_rate_limit);
    range(f + ".bandwidth_limit_mbps", p.bandwidth_limit_mbps(), host_.bandwidth_limit_mbps);
    for (int j = 0; j < p.allowed_destinations_size(); ++j)
      if (!Ip6Prefix::parse(p.allowed_destinations(j), true))
        add(f + ".allowed_destinations[" + std::to_string(j) + "]", "invalid_argument",
            "invalid prefix '" + p.allowed_destinations(j) + "'", "invalid_address");
  }

  const CreateVmRequest& request_;
  const HostConfig& host_;
  const ExistingState& existing_;
  std::string tenant_;
  std::string profile_;
  std::vector<FieldViolation> out_;
  std::map<std::string, std::string> bridge_tenant_;
  std::set<std::pair<std::string, std::uint16_t>> vlans_;
  std::set<MacAddr> macs_;
  std::set<std::string> taps_;
  std::set<Ip6Addr> addresses_;
};

}  // namespace

std::vector<FieldViolation> validate_create_vm(const CreateVmRequest& request,
                                               const HostConfig& host,
                                               const ExistingState& existing) {
  return Validator(request, host, existing).run();
}

bool conflicts_with_existing(const CreateVmRequest& request, const ExistingState& existing) {
  const auto& cfg = request.config();
  const std::string& tenant = cfg.tenant_id();
  const auto owned_by_other = [&](const auto& owners, const auto& key) {
    const auto it = owners.find(key);
    return it != owners.end() && it->second != tenant;
  };
  for (const auto& nic : cfg.network()) {
    // Valid (the stateless rules held): the parses succeed.
    const std::string& bridge = nic.bridge_name();
    unsigned vlan = 0;
    (void)std::from_chars(nic.vlan_id().data(), nic.vlan_id().data() + nic.vlan_id().size(), vlan);
    if (owned_by_other(existing.bridge_owner, bridge) ||
        owned_by_other(existing.vlan_owner, std::pair{bridge, static_cast<std::uint16_t>(vlan)}))
      return true;
    if (!nic.mac_address().empty()) {
      if (auto mac = MacAddr::parse(nic.mac_address()); mac && existing.macs_in_use.contains(*mac))
        return true;
    }
    if (!nic.tap_device().empty() && existing.taps_in_use.contains(nic.tap_device())) return true;
    if (!nic.ipv6().address().empty()) {
      std::string error;
      if (auto a = parse_address_with_prefix(nic.ipv6().address(), &error);
          a && existing.addresses_in_use.contains(a->address))
        return true;
    }
  }
  return false;
}

}  // namespace v6g::config
