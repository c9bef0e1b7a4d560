// vmprovisioner.v1.VmService over VmManager: CreateVm validates and allocates
// with manager/config (inside the store's write transaction, through the
// Planner), persists and programs the host; DeleteVm, GetVmInfo and ListVms
// read and remove what CreateVm stored. Errors are Connect errors whose
// details carry the request field path, the validation error and its context
// (allocated_blocks, allowed_pools, retry_after...), one detail per violation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/server.h"
#include "api/vm_manager.h"
#include "config/allocate.h"
#include "config/host_config.h"
#include "config/validate.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace v6g::api {

// The Connect error for a list of violations: the first one's code and
// message, one detail per violation (field, validation_error, message,
// context; allocated_blocks/allowed_pools as lists, retry_after in seconds).
Error violation_error(const std::vector<config::FieldViolation>& violations);

// Everything one allocated VmConfig holds on the host: allocations (address,
// MAC, tap per NIC), its (bridge, VLAN) claims, one VM port per NIC with the
// guard flags of its security settings, and a static binding per static
// address. Pure; `config` must have passed allocate_vm.
VmPlan plan_from_config(const std::string& vm_id, const vmprovisioner::v1::VmConfig& config);

// A stored config (VmRecord::config, AuditEntry::before/after_config) as
// protobuf JSON, for operators; empty if there is none or it is unreadable.
std::string render_config(const std::string& bytes);

// Port flags (V6G_PORT_F_*) a NIC's settings ask for.
std::uint32_t port_flags(const vmprovisioner::v1::NetworkInterface& nic);

class VmService {
 public:
  using Clock = std::function<std::int64_t()>;  // ns, monotonic; drives the rate limiter

  // `vms` must outlive the service. Call load() before serving.
  VmService(VmManager& vms, config::HostConfig host, Clock clock = {});

  // Reads what the store holds (addresses, MACs, taps, VLAN and bridge
  // owners) into the in-memory index validation and allocation consult, and
  // seeds the per-tenant rate limiter from the persisted creations.
  std::optional<Error> load();

  void register_on(Server& server);

  // The handlers, callable in-process (tests, benchmarks).
  std::optional<Error> create(const CallContext& ctx, const vmprovisioner::v1::CreateVmRequest& req,
                              vmprovisioner::v1::CreateVmResponse& resp);
  std::optional<Error> remove(const CallContext& ctx, const vmprovisioner::v1::DeleteVmRequest& req,
                              vmprovisioner::v1::DeleteVmResponse& resp);
  std::optional<Error> get(const vmprovisioner::v1::GetVmInfoRequest& req,
                           vmprovisioner::v1::GetVmInfoResponse& resp);
  std::optional<Error> list(const vmprovisioner::v1::ListVmsRequest& req,
                            vmprovisioner::v1::ListVmsResponse& resp);

  const config::HostConfig& host_config() const { return host_; }

 private:
  // The store's resources as validate/allocate see them, plus reference counts
  // for the shared ones: a tenant's VMs share bridges and VLANs.
  struct Index {
    config::ExistingState state;
    std::map<std::string, int> bridge_refs;
    std::map<std::pair<std::string, std::uint16_t>, int> vlan_refs;
    void add(const VmPlan& plan);
    void release(const VmPlan& plan);
  };

  std::string new_vm_id();

  VmManager& vms_;
  config::HostConfig host_;
  Clock clock_;
  // Guards index_ and limiter_. Planners run one at a time (VmManager's
  // writer lock) but releases after a failed or deleted VM come from any
  // thread.
  std::mutex mu_;
  Index index_;
  config::TenantRateLimiter limiter_;
  std::uint64_t id_seed_;
  std::uint64_t id_counter_ = 0;
};

}  // namespace v6g::api
