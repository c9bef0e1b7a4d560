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

struct nft_ctx;

namespace v6g::host {

inline constexpr std::string_view kFirewallTable = "v6guard_fw";

// One rule of the API grammar:
//   allow|deny <tcp|udp|icmpv6|any> from <prefix|any> to <prefix|any> [port a,b-c]
// TODO(config): replace with manager/config's parse_firewall_rule AST once it lands.
struct FirewallRule {
  enum class Action { kAllow, kDeny };
  enum class Proto { kAny, kTcp, kUdp, kIcmpv6 };
  struct PortRange {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
  };
  Action action = Action::kDeny;
  Proto proto = Proto::kAny;
  std::optional<Ip6Prefix> src;  // nullopt = any
  std::optional<Ip6Prefix> dst;
  std::vector<PortRange> ports;  // destination ports; empty = all
};

// Parses one rule; on failure returns nullopt and says why in *error.
std::optional<FirewallRule> parse_firewall_rule_text(std::string_view text, std::string* error);

struct PortFirewall {
  std::string port;                             // interface name of the VM port
  std::vector<FirewallRule> ingress;            // from the VM (iifname)
  std::vector<FirewallRule> egress;             // to the VM (oifname)
  std::vector<Ip6Prefix> allowed_destinations;  // empty = no restriction
  std::uint32_t bandwidth_limit_mbps = 0;       // 0 = unlimited; per direction
  std::uint32_t packet_rate_limit = 0;          // packets/second, 0 = unlimited; per direction
  bool allow_non_ipv6 = false;                  // ARP/IPv4 etc.: default deny like the rest
  // Without bridge conntrack (CONFIG_NF_CONNTRACK_BRIDGE) the chains are
  // stateless; this lets TCP segments without a bare SYN through (the classic
  // ACL "established"), so replies to allowed connections work. New
  // connections still need a rule.
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
// Adds one port; with `replace`, the port exists and its elements are swapped
// (an `add element` on an existing key would keep the old comment).
std::string compile_port_batch(const PortFirewall& fw, bool replace = false);
std::string compile_port_removal_batch(const std::string& port,  // remove one port
                                       bool last_port);          // ...and the table

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
  // Whether `ct state` works in the bridge family here (checked once, with a
  // dry-run transaction that the kernel validates but never commits).
  bool bridge_conntrack();
  Status remove(const std::string& port);  // idempotent; drops the table with the last port

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
