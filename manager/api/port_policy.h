// From a created VM to the guard engine's per-port policies: each NIC's
// IPv6SecurityConfig / IPv6Config / NetworkSecurityPolicy fields become the
// guard::PortPolicy fields of the same name, plus what the VM holds (its
// tap's ifindex, VLAN, MAC, static addresses, the prefixes it may learn
// addresses in, vm/tenant/interface ids for events).
//
// GuardPolicyProgrammer is the HostProgrammer step that pushes them to the
// inspector (DaemonContext::guard->upsert_port) and takes them back.
#pragma once

#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/vm_manager.h"
#include "common/net.h"
#include "guard/engine.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace v6g::api {

// ifname -> ifindex, 0 = no such interface.
using IfindexResolver = std::function<std::uint32_t(const std::string&)>;

// One policy per NIC of `config` that has a port in `plan` (matched by tap
// name). `learn_prefixes` is where a NIC without a static address (SLAAC,
// DHCPv6) may learn addresses, normally the host's allocated blocks; a NIC
// with an address learns inside its own prefix. Fails (empty result, *error
// set) if a tap has no ifindex.
std::vector<guard::PortPolicy> port_policies(const VmPlan& plan,
                                             const vmprovisioner::v1::VmConfig& config,
                                             const IfindexResolver& resolve,
                                             std::span<const Ip6Prefix> learn_prefixes = {},
                                             std::string* error = nullptr);

class GuardPolicyProgrammer final : public HostProgrammer {
 public:
  using Upsert = std::function<Status(const guard::PortPolicy&)>;
  using Remove = std::function<void(guard::PortId)>;

  GuardPolicyProgrammer(Upsert upsert, Remove remove, IfindexResolver resolve = {},
                        std::vector<Ip6Prefix> learn_prefixes = {});

  // Parses the VM's stored config, builds its policies and upserts each; a
  // failure removes the ones already pushed.
  Status program_vm(const VmPlan& plan) override;
  // Removes the VM's ports from the guard, by the ifindex they were pushed
  // with (the tap may already be gone), else by resolving the name.
  Status unprogram_vm(const VmPlan& plan) override;

 private:
  Upsert upsert_;
  Remove remove_;
  IfindexResolver resolve_;
  std::vector<Ip6Prefix> learn_prefixes_;
  std::mutex mu_;
  std::unordered_map<std::string, guard::PortId> pushed_;  // tap -> port
};

}  // namespace v6g::api
