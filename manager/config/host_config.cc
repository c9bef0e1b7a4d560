#include "config/host_config.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "vmprovisioner/v1/host_config.pb.h"

namespace v6g::config {

bool Pool::authorizes(std::string_view tenant) const {
  return authorized_tenants.empty() ||
         std::find(authorized_tenants.begin(), authorized_tenants.end(), tenant) !=
             authorized_tenants.end();
}

const Pool* HostConfig::find_pool(std::string_view name) const {
  for (const auto& p : pools)
    if (p.name == name) return &p;
  return nullptr;
}

bool HostConfig::vlan_granted(std::uint16_t vlan, std::string_view bridge) const {
  return std::any_of(tenant_vlan_grants.begin(), tenant_vlan_grants.end(),
                     [&](const VlanGrant& g) { return g.vlan == vlan && g.bridge == bridge; });
}

namespace {

bool read_range(const vmprovisioner::v1::RateRange& in, const char* name, RateRange& out,
                std::string* error) {
  if (in.min() == 0 && in.max() == 0) return true;  // keep the default
  if (in.min() == 0 || in.max() < in.min()) {
    *error = std::string(name) + ": need 1 <= min <= max";
    return false;
  }
  out = {in.min(), in.max()};
  return true;
}

}  // namespace

std::optional<HostConfig> parse_host_config(std::string_view json, std::string* error) {
  vmprovisioner::v1::HostNetworkConfig in;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &in);
  if (!status.ok()) {
    *error = "host config: " + status.ToString();
    return std::nullopt;
  }
  HostConfig out;
  for (const auto& b : in.allocated_blocks()) {
    auto p = Ip6Prefix::parse(b);
    if (!p) {
      *error = "allocated_blocks: invalid prefix '" + b + "'";
      return std::nullopt;
    }
    out.allocated_blocks.push_back(*p);
  }
  out.allow_ula = in.allow_ula();
  for (const auto& d : in.trusted_dns_servers()) {
    auto a = Ip6Addr::parse(d);
    if (!a) {
      *error = "trusted_dns_servers: invalid address '" + d + "'";
      return std::nullopt;
    }
    out.trusted_dns_servers.push_back(*a);
  }
  if (in.management_vlan_first() != 0 || in.management_vlan_last() != 0) {
    if (in.management_vlan_first() == 0 || in.management_vlan_last() > 4094 ||
        in.management_vlan_last() < in.management_vlan_first()) {
      *error = "management_vlan_first/last: need 1 <= first <= last <= 4094";
      return std::nullopt;
    }
    out.management_vlan_first = static_cast<std::uint16_t>(in.management_vlan_first());
    out.management_vlan_last = static_cast<std::uint16_t>(in.management_vlan_last());
  }
  for (const auto& g : in.tenant_vlan_grants()) {
    if (g.vlan_id() == 1 || g.vlan_id() > 4094 || g.bridge_name().empty()) {
      *error = "tenant_vlan_grants: VLAN 2-4094 with a bridge (VLAN 1 stays management)";
      return std::nullopt;
    }
    out.tenant_vlan_grants.push_back({static_cast<std::uint16_t>(g.vlan_id()), g.bridge_name()});
  }
  if (!read_range(in.nd_rate_limit(), "nd_rate_limit", out.nd_rate_limit, error) ||
      !read_range(in.icmpv6_rate_limit(), "icmpv6_rate_limit", out.icmpv6_rate_limit, error) ||
      !read_range(in.ra_rate_limit(), "ra_rate_limit", out.ra_rate_limit, error) ||
      !read_range(in.multicast_rate_limit(), "multicast_rate_limit", out.multicast_rate_limit,
                  error) ||
      !read_range(in.packet_rate_limit(), "packet_rate_limit", out.packet_rate_limit, error) ||
      !read_range(in.bandwidth_limit_mbps(), "bandwidth_limit_mbps", out.bandwidth_limit_mbps,
                  error))
    return std::nullopt;
  for (const auto& p : in.pools()) {
    auto prefix = Ip6Prefix::parse(p.prefix());
    if (p.name().empty() || !prefix || out.find_pool(p.name()) != nullptr) {
      *error = "pools: need a unique name and a valid prefix ('" + p.name() + "')";
      return std::nullopt;
    }
    out.pools.push_back(
        {p.name(), *prefix, {p.authorized_tenants().begin(), p.authorized_tenants().end()}});
  }
  if (in.has_tenant_allocations_per_hour())
    out.tenant_allocations_per_hour = in.tenant_allocations_per_hour();
  out.allow_tunnel_rules = in.allow_tunnel_rules();
  return out;
}

std::optional<HostConfig> load_host_config(const std::string& path, std::string* error) {
  std::ifstream f(path);
  if (!f) {
    *error = "cannot read " + path;
    return std::nullopt;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_host_config(ss.str(), error);
}

}  // namespace v6g::config
