#include "reason.h"

#include <algorithm>
#include <array>

namespace v6g {
namespace {

struct NamedReason {
  v6g_reason value;
  std::string_view name;
};

// One row per enumerator of v6g_reason; reason_test.cc checks the table
// covers every value the uapi header assigns a name to.
constexpr NamedReason kNames[] = {
    {V6G_R_NONE, "none"},
    {V6G_R_ACCEPT_BINDING, "accept_binding"},
    {V6G_R_ACCEPT_NOT_IPV6, "accept_not_ipv6"},
    {V6G_R_ACCEPT_TRUSTED_PORT, "accept_trusted_port"},
    {V6G_R_ACCEPT_ND, "accept_nd"},
    {V6G_R_ACCEPT_RA, "accept_ra"},
    {V6G_R_ACCEPT_DAD, "accept_dad"},
    {V6G_R_ACCEPT_MLD, "accept_mld"},
    {V6G_R_ACCEPT_DHCPV6_CLIENT, "accept_dhcpv6_client"},
    {V6G_R_ACCEPT_INSPECTED, "accept_inspected"},
    {V6G_R_ACCEPT_LEARNING, "accept_learning"},
    {V6G_R_ACCEPT_MONITOR, "accept_monitor"},
    {V6G_R_ACCEPT_FAIL_OPEN, "accept_fail_open"},
    {V6G_R_PUNT, "punt"},
    {V6G_R_TRUNCATED, "truncated"},
    {V6G_R_BAD_IP_VERSION, "bad_ip_version"},
    {V6G_R_BAD_PAYLOAD_LENGTH, "bad_payload_length"},
    {V6G_R_EXTHDR_TOO_MANY, "exthdr_too_many"},
    {V6G_R_EXTHDR_TOO_LONG, "exthdr_too_long"},
    {V6G_R_EXTHDR_ORDER, "exthdr_order"},
    {V6G_R_FRAG_FIRST_NO_UPPER, "frag_first_no_upper"},
    {V6G_R_FRAG_ATOMIC_BAD, "frag_atomic_bad"},
    {V6G_R_ND_IN_FRAGMENT, "nd_in_fragment"},
    {V6G_R_ICMPV6_CHECKSUM, "icmpv6_checksum"},
    {V6G_R_ND_HOP_LIMIT, "nd_hop_limit"},
    {V6G_R_ND_CODE, "nd_code"},
    {V6G_R_ND_LENGTH, "nd_length"},
    {V6G_R_ND_OPTION_LENGTH, "nd_option_length"},
    {V6G_R_ND_MULTICAST_TARGET, "nd_multicast_target"},
    {V6G_R_ND_BAD_SOURCE, "nd_bad_source"},
    {V6G_R_ND_BAD_DESTINATION, "nd_bad_destination"},
    {V6G_R_ND_SLLA_UNSPEC, "nd_slla_unspec"},
    {V6G_R_MLD_NO_ROUTER_ALERT, "mld_no_router_alert"},
    {V6G_R_MLD_BAD_SOURCE, "mld_bad_source"},
    {V6G_R_MLD_HOP_LIMIT, "mld_hop_limit"},
    {V6G_R_MLD_LENGTH, "mld_length"},
    {V6G_R_ROUTING_TYPE0, "routing_type0"},
    {V6G_R_RA_FROM_VM_PORT, "ra_from_vm_port"},
    {V6G_R_RA_PORT_BLOCKING, "ra_port_blocking"},
    {V6G_R_RA_LEARNING_BLOCKED, "ra_learning_blocked"},
    {V6G_R_RA_SOURCE_NOT_ALLOWED, "ra_source_not_allowed"},
    {V6G_R_RA_SOURCE_MAC_NOT_ALLOWED, "ra_source_mac_not_allowed"},
    {V6G_R_RA_SOURCE_NOT_LINK_LOCAL, "ra_source_not_link_local"},
    {V6G_R_RA_PREFIX_NOT_ALLOWED, "ra_prefix_not_allowed"},
    {V6G_R_RA_FLAGS_NOT_ALLOWED, "ra_flags_not_allowed"},
    {V6G_R_RA_PREFERENCE_TOO_HIGH, "ra_preference_too_high"},
    {V6G_R_RA_RATE_LIMIT, "ra_rate_limit"},
    {V6G_R_RA_GUARD_OFF_BLOCK, "ra_guard_off_block"},
    {V6G_R_REDIRECT_FROM_VM_PORT, "redirect_from_vm_port"},
    {V6G_R_DHCPV6_SERVER_FROM_VM_PORT, "dhcpv6_server_from_vm_port"},
    {V6G_R_SOURCE_NOT_BOUND, "source_not_bound"},
    {V6G_R_SOURCE_MAC_MISMATCH, "source_mac_mismatch"},
    {V6G_R_SOURCE_VLAN_MISMATCH, "source_vlan_mismatch"},
    {V6G_R_SOURCE_OUTSIDE_PREFIX, "source_outside_prefix"},
    {V6G_R_ND_TARGET_NOT_OWNED, "nd_target_not_owned"},
    {V6G_R_ND_TARGET_BOUND_ELSEWHERE, "nd_target_bound_elsewhere"},
    {V6G_R_ND_LLA_MISMATCH, "nd_lla_mismatch"},
    {V6G_R_ND_OVERRIDE_REFUSED, "nd_override_refused"},
    {V6G_R_BINDING_LIMIT, "binding_limit"},
    {V6G_R_ETH_SOURCE_MAC_MISMATCH, "eth_source_mac_mismatch"},
    {V6G_R_SOURCE_VERIFYING, "source_verifying"},
    {V6G_R_ND_RATE_LIMIT, "nd_rate_limit"},
    {V6G_R_ICMPV6_RATE_LIMIT, "icmpv6_rate_limit"},
    {V6G_R_MULTICAST_RATE_LIMIT, "multicast_rate_limit"},
    {V6G_R_PACKET_RATE_LIMIT, "packet_rate_limit"},
    {V6G_R_BANDWIDTH_LIMIT, "bandwidth_limit"},
    {V6G_R_EXTHDR_HOP_BY_HOP_BLOCKED, "exthdr_hop_by_hop_blocked"},
    {V6G_R_EXTHDR_ROUTING_BLOCKED, "exthdr_routing_blocked"},
    {V6G_R_EXTHDR_FRAGMENT_BLOCKED, "exthdr_fragment_blocked"},
    {V6G_R_EXTHDR_DEST_OPTS_BLOCKED, "exthdr_dest_opts_blocked"},
    {V6G_R_TUNNEL_BLOCKED, "tunnel_blocked"},
    {V6G_R_FIREWALL_DENY, "firewall_deny"},
    {V6G_R_TENANT_ISOLATION, "tenant_isolation"},
    {V6G_R_PORT_UNKNOWN, "port_unknown"},
    {V6G_R_FAIL_CLOSED, "fail_closed"},
    {V6G_R_QUEUE_FULL, "queue_full"},
};

constexpr auto kAll = [] {
  std::array<Reason, std::size(kNames)> all{};
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = reason(kNames[i].value);
  return all;
}();

}  // namespace

std::string_view reason_name(Reason r) {
  for (const auto& n : kNames)
    if (n.value == raw(r)) return n.name;
  return {};
}

std::optional<Reason> reason_from_name(std::string_view name) {
  for (const auto& n : kNames)
    if (n.name == name) return reason(n.value);
  return std::nullopt;
}

const Reason* all_reasons_begin() { return kAll.data(); }
const Reason* all_reasons_end() { return kAll.data() + kAll.size(); }

}  // namespace v6g
