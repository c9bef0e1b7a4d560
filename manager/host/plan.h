// HostPlan: the idempotent steps that wire one VM interface into its tenant
// bridge, applied with rollback and removed by ownership.
//
// Ownership lives in the kernel, not in our memory: every interface v6guard
// creates gets IFLA_IFALIAS = kOwnerMarker. `remove` deletes only marked
// interfaces (a bridge only once its last port is gone), so adopted bridges
// and taps survive, and a restarted daemon knows what it owns without state.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "host/firewall.h"
#include "host/rtnl.h"
#include "host/tap.h"

namespace v6g::host {

inline constexpr const char* kOwnerMarker = "v6guard:managed";

enum class VlanMode {
  kAuto,           // bridge VLAN filtering when the kernel has it, else one bridge per VLAN
  kFiltering,      // one VLAN-aware bridge, PVID/untagged per port
  kBridgePerVlan,  // "<bridge>v<vid>": separation by bridge, for kernels without
                   // CONFIG_BRIDGE_VLAN_FILTERING (no tagged uplink then)
};

struct PortSpec {
  std::string bridge;      // tenant bridge
  std::string port;        // VM interface (tap)
  bool create_tap = true;  // false: the interface must exist (adopted, never deleted)
  TapOptions tap;
  std::uint16_t vlan = 0;  // 0 = untagged bridge, no VLAN config
  VlanMode vlan_mode = VlanMode::kAuto;
  bool mld_snooping = true;  // enable_mld_snooping
  // Snooping is a per-bridge setting while the API sets it per VM: with this,
  // a plan turns snooping on when asked but never off on a bridge that has it
  // (another VM on the bridge may rely on it). A bridge the plan creates gets
  // exactly `mld_snooping`.
  bool mld_snooping_only_enable = false;
  bool mcast_querier = false;  // the router is the querier
  bool isolated = false;       // tenant_isolation_level: strict
  bool learning = true;
  bool unicast_flood = true;
  std::optional<PortFirewall> firewall;  // .port is overwritten with `port`
  // Optional uplink (adopted, never deleted) that carries the VLAN tagged:
  // filtering mode makes it a trunk member of the bridge with `vlan` tagged;
  // bridge-per-vlan mode enslaves an owned 802.1Q subinterface
  // "<uplink>.<vlan>" (needs 8021q). With vlan 0 the uplink joins untagged.
  std::string uplink;
};

struct StepReport {
  std::string name;
  bool changed = false;
};

// What an apply changed, as undo actions, for a caller that must roll back
// several plans together (one VM's ports): run() undoes them newest first.
// The actions hold references to the Rtnl/Nft the apply used.
class Rollback {
 public:
  void add(std::string name, std::function<Status()> undo) {
    undo_.emplace_back(std::move(name), std::move(undo));
  }
  void append(Rollback&& other);
  bool empty() const { return undo_.empty(); }
  std::size_t size() const { return undo_.size(); }
  // Undoes everything (newest first), keeps going past failures and returns
  // them joined; the log is empty afterwards.
  Status run();

 private:
  std::vector<std::pair<std::string, std::function<Status()>>> undo_;
};

class HostPlan {
 public:
  // Validates the spec and resolves kAuto against the kernel's capabilities.
  static std::optional<HostPlan> build(const PortSpec& spec, const KernelCaps& caps,
                                       std::string* error);

  const PortSpec& spec() const { return spec_; }
  VlanMode vlan_mode() const { return mode_; }
  const std::string& bridge_name() const { return bridge_; }  // effective bridge
  // The interface that actually joins the bridge for the uplink ("" if none).
  const std::string& uplink_member() const { return uplink_member_; }

  // Applies every step; on the first failure undoes the completed ones in
  // reverse and returns the failure. Re-applying an applied plan changes nothing.
  // On success, what it changed is appended to *rollback (if given), so a
  // caller can undo this apply later, e.g. when a later port of the VM fails.
  Status apply(Rtnl& nl, Nft& nft, std::vector<StepReport>* report = nullptr,
               Rollback* rollback = nullptr) const;
  // Deletes what apply added (owned interfaces, the port's firewall chains),
  // releases adopted ports. Idempotent.
  Status remove(Rtnl& nl, Nft& nft, std::vector<StepReport>* report = nullptr) const;

  // Test hook: make step number `n` (0-based) fail after the earlier ones ran.
  void inject_failure_at(int n) { fail_at_ = n; }

 private:
  HostPlan() = default;
  PortSpec spec_;
  VlanMode mode_ = VlanMode::kFiltering;
  std::string bridge_;
  std::string uplink_member_;
  int fail_at_ = -1;
};

// All interfaces of one VM: applied in order; when one fails, the ones before
// it are removed again, so a VM is programmed completely or not at all.
Status apply_all(const std::vector<HostPlan>& plans, Rtnl& nl, Nft& nft);
// Removes in reverse order; keeps going past failures, returns the first.
Status remove_all(const std::vector<HostPlan>& plans, Rtnl& nl, Nft& nft);

}  // namespace v6g::host
