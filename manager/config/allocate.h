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
  // Gives back one admission of the tenant: a create that was admitted but
  // then failed (host programming, the commit) did not allocate anything.
  void refund(const std::string& tenant);
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

// allocate_vm in two halves, so that most of the work runs outside the lock
// that serialises allocations (VmService: in the caller's server thread, not
// in the create batch's leader).
//
// The half that needs no state: every rule that holds whatever the host's
// other VMs are (validate_create_vm against an empty ExistingState), and a
// copy of the config to fill in. Not ok() means allocate_vm must decide the
// answer (the violations it lists may include conflicts this half can't see).
Allocation prepare_allocation(const vmprovisioner::v1::CreateVmRequest& request,
                              const HostConfig& host);
// The other half, for an ok() `prepared` of the same request and host: the
// conflicts with `existing`, the rate limit and what is generated. Answers
// exactly as allocate_vm(request, host, existing, limiter, now) does.
Allocation allocate_prepared(const vmprovisioner::v1::CreateVmRequest& request, Allocation prepared,
                             const HostConfig& host, const ExistingState& existing,
                             TenantRateLimiter& limiter, Nanos now);

// Deterministic generators (exposed for tests); `attempt` moves past collisions.
MacAddr generate_mac(std::string_view vm_id, std::string_view nic_id, std::uint32_t attempt);
std::string generate_tap_name(std::string_view vm_id, std::string_view nic_id,
                              std::uint32_t attempt);

}  // namespace v6g::config
