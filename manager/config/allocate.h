#pragma once

// Allocation for CreateVm: pure and deterministic given (request, host config,
// existing state, limiter state, now). The store persists what it returns.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/validate.h"

namespace v6g::config {

using Nanos = std::int64_t;

// Per-tenant allocation rate limit as GCRA (a token bucket in one integer per
// tenant): `per_hour` allocations evenly spaced, with a burst of `per_hour`.
class TenantRateLimiter {
 public:
  explicit TenantRateLimiter(std::uint32_t per_hour) : per_hour_(per_hour) {}
  // 0 when admitted (and charged); otherwise how long until one is admitted.
  Nanos admit(const std::string& tenant, Nanos now);
  std::uint32_t per_hour() const { return per_hour_; }

 private:
  std::uint32_t per_hour_;
  std::unordered_map<std::string, Nanos> theoretical_arrival_;
};

struct Allocation {
  vmprovisioner::v1::VmConfig config;  // request config with MACs, taps, addresses filled
  std::vector<FieldViolation> violations;
  bool ok() const { return violations.empty(); }
};

// Validates, charges the tenant's rate limit, then fills in what was left out:
// a locally administered unicast MAC, a tap name "v6g" + 12 hex digits, and an
// address (the first free /128 of the pool, from ::2 on) for interfaces without
// a static address that use neither SLAAC nor DHCPv6.
Allocation allocate_vm(const vmprovisioner::v1::CreateVmRequest& request, const HostConfig& host,
                       const ExistingState& existing, TenantRateLimiter& limiter, Nanos now);

// Deterministic generators (exposed for tests); `attempt` moves past collisions.
MacAddr generate_mac(std::string_view vm_id, std::string_view nic_id, std::uint32_t attempt);
std::string generate_tap_name(std::string_view vm_id, std::string_view nic_id,
                              std::uint32_t attempt);

}  // namespace v6g::config
