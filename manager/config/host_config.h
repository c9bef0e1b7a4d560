#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace v6g::config {

struct RateRange {
  std::uint64_t min = 1;
  std::uint64_t max = 0;  // inclusive
};

struct Pool {
  std::string name;
  Ip6Prefix prefix;
  std::vector<std::string> authorized_tenants;  // empty = every tenant
  bool authorizes(std::string_view tenant) const;
};

// The host's view of what tenants may use: parsed once, read on every request.
struct HostConfig {
  std::vector<Ip6Prefix> allocated_blocks;
  bool allow_ula = false;
  std::vector<Ip6Addr> trusted_dns_servers;
  std::uint16_t management_vlan_first = 1;
  std::uint16_t management_vlan_last = 100;
  struct VlanGrant {
    std::uint16_t vlan = 0;
    std::string bridge;
  };
  std::vector<VlanGrant> tenant_vlan_grants;  // management VLANs opened per bridge
  RateRange nd_rate_limit{1, 10'000};
  RateRange icmpv6_rate_limit{1, 10'000};
  RateRange ra_rate_limit{1, 100};
  RateRange multicast_rate_limit{1, 100'000};
  RateRange packet_rate_limit{1, 10'000'000};
  RateRange bandwidth_limit_mbps{1, 100'000};
  std::vector<Pool> pools;
  std::uint32_t tenant_allocations_per_hour = 100;  // 0 = unlimited
  bool allow_tunnel_rules = false;

  const Pool* find_pool(std::string_view name) const;
  bool vlan_granted(std::uint16_t vlan, std::string_view bridge) const;
};

// Parse a HostNetworkConfig JSON document; nullopt with *error set on failure.
std::optional<HostConfig> parse_host_config(std::string_view json, std::string* error);
std::optional<HostConfig> load_host_config(const std::string& path, std::string* error);

}  // namespace v6g::config
