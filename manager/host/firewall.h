// Per-port IPv6 firewall and QoS compiled to nftables.
//
// Layout (bridge family, table `v6guard_fw`): three base chains (forward,
// input, output hooks, policy accept) dispatch through two verdict maps keyed
// by interface name: `in_ports` (iifname: traffic from the VM) and `out_ports`
// (oifname: traffic to the VM). Each managed port owns two regular chains,
// `in_<port>` and `out_<port>`, ending in a counted default drop. Allowed
// traffic `return`s rather than `accept`s so a VM-to-VM frame still meets the
// receiving port's egress chain in the same hook.
//
// Every port change is one libnftables buffer, i.e. one atomic transaction.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "config/firewall.h"

struct nft_ctx;

namespace v6g::host {

inline constexpr std::string_view kFirewallTable = "v6guard_fw";

// Rules are manager/config's AST (parse_firewall_rule), the same one the API
// validated, so what the operator wrote is what gets compiled.
using config::FirewallAction;
using config::FirewallRule;

struct PortFirewall {
  std::string port;  // interface name of the VM port
  // Directions are the VM's: the API's egress_rules filter what the VM sends
  // (the port's `in_` chain, iifname), ingress_rules what it receives (`out_`).
  std::vector<FirewallRule> from_vm;            // egress_rules
  std::vector<FirewallRule> to_vm;              // ingress_rules
  std::vector<Ip6Prefix> allowed_destinations;  // what the VM may send to; empty = anywhere
  std::uint64_t bandwidth_limit_mbps = 0;       // 0 = unlimited; each direction
  // Optional tighter per-direction caps (QoSConfig.egress_mbps/ingress_mbps);
  // the effective limit is the smallest non-zero one.
  std::uint64_t from_vm_mbps = 0;
  std::uint64_t to_vm_mbps = 0;
  std::uint32_t packet_rate_limit = 0;  // packets/second, 0 = unlimited; each direction
  bool allow_non_ipv6 = false;          // ARP/IPv4 etc.: default deny like the rest
  // Without bridge conntrack (CONFIG_NF_CONNTRACK_BRIDGE) the chains are
  // stateless; this lets TCP segments without a bare SYN through (the classic
  // ACL "established", placed where `ct state established` would be: before
  // the destination filter and the user's rules), so replies to allowed
  // connections work. New connections still need a rule: no SYN passes
  // without one.
  bool stateless_tcp_return = true;
  // Set by Nft::apply when the kernel can track bridged flows
  // (nf_conntrack_bridge): then `ct state established,related` replaces the
  // stateless TCP rule and replies of any protocol pass.
  bool conntrack = false;
  // log_security_events: denied packets (default deny and deny rules) go to
  // NFLOG group `log_group`, at most kLogPerSecond per port and direction,
  // prefixed "v6g:firewall_deny:<port>:<in|out>" (the reason's stable name) for
  // the event stream. Limit drops are only counted: logging a flood is a flood.
  std::optional<std::uint16_t> log_group;
};

inline constexpr unsigned kLogPerSecond = 10;

// Pure compilers (unit-tested against golden text).
std::string compile_rule(const FirewallRule& rule);  // match + verdict, no chain prefix
Status validate(const PortFirewall& fw);
// Fingerprint of a port's compiled chains; stored as the comment of its map
// elements so a re-apply can tell "already exactly this" from one read.
std::string port_fingerprint(const PortFirewall& fw);
// The table, its maps and sets and the base chains (idempotent `add`s; the
// base chains are flushed and refilled so an upgrade converges).
std::string compile_table_header();
// One port's chains and map elements; with `replace`, the port exists and its
// elements are swapped (an `add element` on an existing key would keep the old
// comment).
std::string compile_port_chains(const PortFirewall& fw, bool replace);
// Header + one port: a complete transaction.
std::string compile_port_batch(const PortFirewall& fw, bool replace = false);
std::string compile_port_removal_batch(const std::string& port,  // remove one port
                                       bool last_port);          // ...and the table
// Several ports in one transaction; with `drop_table` the whole table goes
// instead (they were the last ports).
std::string compile_ports_removal_batch(const std::vector<std::string>& ports, bool drop_table);

// Thin I/O shell over libnftables.
class Nft {
 public:
  Nft();
  ~Nft();
  Nft(const Nft&) = delete;
  Nft& operator=(const Nft&) = delete;

  Status run(const std::string& batch);  // one transaction
  std::vector<std::string> ports();      // ports with an in_ports element
  bool has_port(const std::string& port);
  // Installs or replaces the port's chains in one transaction; a port already
  // programmed with the same fingerprint is left alone (*changed = false).
  Status apply(const PortFirewall& fw, bool* changed = nullptr);
  // Several ports (one VM) in ONE transaction: all of them or none. Ports
  // whose fingerprint already matches are left out; *changed counts the rest.
  // Ports in `drop` lose their chains in the same transaction (a port that
  // no longer needs a firewall); absent ones are ignored.
  Status apply(const std::vector<PortFirewall>& fws, int* changed = nullptr,
               const std::vector<std::string>& drop = {});
  // Whether `ct state` works in the bridge family here (checked once, with a
  // dry-run transaction that the kernel validates but never commits).
  bool bridge_conntrack();
  Status remove(const std::string& port);  // idempotent; drops the table with the last port
  // Several ports in one transaction; idempotent; *removed counts the ones present.
  Status remove(const std::vector<std::string>& ports, int* removed = nullptr);

 private:
  // port -> fingerprint, read from the kernel once per Nft and then kept in
  // step with our own transactions (v6guard is the table's only writer); any
  // failed transaction drops it so the next call reads the kernel again. At
  // thousands of ports every nft read costs milliseconds, and a restart
  // re-applies every port.
  const std::map<std::string, std::string>& state();

  struct nft_ctx* ctx_ = nullptr;
  std::optional<bool> conntrack_;
  std::optional<std::map<std::string, std::string>> state_;
  std::string last_output_;
};

}  // namespace v6g::host
