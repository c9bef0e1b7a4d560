// VmHostProgrammer: the host half of CreateVm/DeleteVm. It turns a stored
// VmPlan (the VM's PortRecords plus its serialized vmprovisioner.v1.VmConfig)
// into HostPlans (tenant bridge, tap, VLAN, MLD snooping, port isolation) and
// one nftables transaction holding every port's firewall and QoS.
//
// Guarantees (tested in host_vm_programmer_test and integration/host_vm.sh):
// - all or nothing per call: a failure at any port, or in the firewall
//   transaction, undoes exactly what this call changed (links it created,
//   ports it enslaved, flags and VLANs it set); state that was already there
//   (an earlier VM's bridge, a re-applied port) stays;
// - re-programming a programmed VM changes nothing (after a restart too):
//   every step compares with the kernel first, the firewall by fingerprint;
// - unprogram removes what program added: owned taps and, with their last
//   port, owned bridges; adopted taps and bridges are released, never deleted.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/vm_manager.h"
#include "common/status.h"
#include "host/plan.h"

namespace vmprovisioner::v1 {
class VmConfig;
}

namespace v6g::host {

// NFLOG group that log_security_events sends denied packets to (prefix
// "v6g:firewall_deny:<port>:<in|out>"), unless the options say otherwise.
inline constexpr std::uint16_t kDefaultFirewallLogGroup = 6;

struct VmProgrammerOptions {
  TapOptions tap;  // owner/group (the VMM user) and queue mode of the taps we create
  VlanMode vlan_mode = VlanMode::kAuto;
  // Tenant bridge -> uplink interface carrying its VLANs (adopted, never
  // deleted): a tagged trunk member in filtering mode, an owned 802.1Q
  // subinterface per VLAN in bridge-per-vlan mode (needs 8021q).
  std::map<std::string, std::string> uplinks;
  std::uint16_t log_group = kDefaultFirewallLogGroup;
  bool allow_non_ipv6 = false;  // let ARP/IPv4 through port firewalls
  // Test hooks: fail after port N's link steps / in the firewall transaction.
  int fail_after_port = -1;
  bool fail_firewall = false;
};

// NetworkInterface.options keys this programmer reads.
inline constexpr const char* kOptionTapMode = "tap_mode";  // "create" (default) | "adopt"

// One VM port, resolved from the plan: the link plan's spec and, when the NIC
// has a security policy or QoS, its firewall.
struct VmPort {
  PortSpec spec;  // spec.firewall is the port's firewall (nullopt: none)
  std::string nic_id;
};

// Pure: pairs every PortRecord with its NetworkInterface (by tap name) and
// fills the spec from the config (isolation, MLD snooping, tap mode, rules,
// limits, log group). Fails on anything the kernel must not guess about:
// an unparsable config or rule, a port without an interface.
std::optional<std::vector<VmPort>> vm_ports(const api::VmPlan& plan,
                                            const VmProgrammerOptions& opts, std::string* error);
std::optional<std::vector<VmPort>> vm_ports(const api::VmPlan& plan,
                                            const vmprovisioner::v1::VmConfig& config,
                                            const VmProgrammerOptions& opts, std::string* error);

// A VmPlan straight from a config (what the store would hold after CreateVm):
// one PortRecord per NIC from tap_device/bridge_name/vlan_id. For tools and
// tests that program the host without the API.
std::optional<api::VmPlan> plan_from_config(const std::string& vm_id,
                                            const vmprovisioner::v1::VmConfig& config,
                                            std::string* error);

// Capabilities as key/value lines for `v6guardctl status`, saying which VLAN
// mode the host gets and why, and what is missing.
std::vector<std::pair<std::string, std::string>> capability_status(const KernelCaps& caps,
                                                                   bool bridge_conntrack);

struct ProgramReport {
  std::vector<StepReport> steps;  // per port: "<port>: <step>", then "firewall"
  int changed() const;
};

class VmHostProgrammer final : public api::HostProgrammer {
 public:
  // Opens rtnetlink and libnftables in the caller's network namespace and
  // probes the kernel (forks: construct before starting threads).
  explicit VmHostProgrammer(VmProgrammerOptions opts = {});
  VmHostProgrammer(VmProgrammerOptions opts, const KernelCaps& caps);

  Status program_vm(const api::VmPlan& plan) override { return program(plan, nullptr); }
  Status unprogram_vm(const api::VmPlan& plan) override { return unprogram(plan, nullptr); }
  Status program(const api::VmPlan& plan, ProgramReport* report);
  Status unprogram(const api::VmPlan& plan, ProgramReport* report);

  const KernelCaps& caps() const { return caps_; }
  // Restart reconciliation: the ports with chains in the firewall table, and
  // removing some of them in one transaction. Through this programmer's Nft,
  // whose cached view of the table must stay in step with the kernel.
  std::vector<std::string> firewall_ports();
  Status remove_firewalls(const std::vector<std::string>& ports);
  // capability_status() of this host, bridge conntrack included.
  std::vector<std::pair<std::string, std::string>> status_lines();

 private:
  std::optional<std::vector<HostPlan>> link_plans(const std::vector<VmPort>& ports,
                                                  std::string* error) const;

  VmProgrammerOptions opts_;
  KernelCaps caps_;
  std::mutex mu_;  // one VM at a time: rollback assumes nobody else changes the bridges
  Rtnl nl_;
  Nft nft_;
};

}  // namespace v6g::host
