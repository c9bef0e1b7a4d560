#pragma once

// CreateVm validation: every rule of issue 6 as a FieldViolation carrying the
// request field path, a Connect code and a machine-readable error name, so the
// API can answer like the spec's error examples. Pure: no I/O, no clock.

#include <google/protobuf/struct.pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.h"
#include "config/host_config.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace v6g::config {

// Network interfaces one VM may have (config.network).
inline constexpr int kMaxInterfacesPerVm = 64;

struct FieldViolation {
  std::string field;             // "config.network[0].ipv6.address"
  std::string code;              // Connect code: invalid_argument, permission_denied, ...
  std::string message;           // for humans
  std::string validation_error;  // for machines: "not_from_allocated_block"
  std::vector<std::pair<std::string, std::string>> context;  // allocated_blocks, ...

  std::string context_value(std::string_view key) const;
};

// What the store already holds (all VMs on this host).
struct ExistingState {
  std::map<std::string, std::string> bridge_owner;  // bridge -> tenant
  // (bridge, vlan) -> the tenant whose VMs use it. A tenant's VMs share their
  // VLANs; another tenant asking for the same pair is refused (vlan_in_use).
  std::map<std::pair<std::string, std::uint16_t>, std::string> vlan_owner;
  std::set<MacAddr> macs_in_use;
  std::set<Ip6Addr> addresses_in_use;
  std::set<std::string> taps_in_use;
};

std::vector<FieldViolation> validate_create_vm(const vmprovisioner::v1::CreateVmRequest& request,
                                               const HostConfig& host,
                                               const ExistingState& existing);

// For a request validate_create_vm accepts against an empty ExistingState:
// whether it would refuse it against `existing` (a bridge or VLAN of another
// tenant, a MAC, tap or address in use). The same conditions, without the
// rules that do not depend on other VMs.
bool conflicts_with_existing(const vmprovisioner::v1::CreateVmRequest& request,
                             const ExistingState& existing);

// The spec's error "details" object: field, validation_error and the context;
// list-valued keys (allocated_blocks, allowed_pools, ...) become JSON arrays and
// "true"/"false" become booleans, as in the spec's examples.
google::protobuf::Struct violation_details(const FieldViolation& violation);

// Linux interface name: 1..15 bytes (IFNAMSIZ - 1), [A-Za-z0-9._-], not "." / "..".
bool valid_ifname(std::string_view name);

// "2600:beef:1000:100::50/64" -> address and prefix length, or a message that
// names the offending character.
struct AddressWithPrefix {
  Ip6Addr address;
  std::uint8_t prefix_len = 0;
};
std::optional<AddressWithPrefix> parse_address_with_prefix(std::string_view text,
                                                           std::string* error);

}  // namespace v6g::config
