#pragma once

// Firewall rule grammar of NetworkSecurityPolicy.{ingress,egress}_rules:
//
//   rule     := action proto "from" endpoint "to" endpoint [ "port" portlist ]
//   action   := "allow" | "deny"
//   proto    := "all" | "any" | "tcp" | "udp" | "icmpv6" | <0..255>
//   endpoint := "any" | <ipv6 address> | <ipv6 prefix>
//   portlist := port-item { "," port-item }     port-item := port [ "-" port ]
//
// Keywords are case-insensitive; ports only with tcp/udp (1..65535).
// The parser is a small recursive descent over a token stream; failures report
// the byte offset of the offending token so the API can point at it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/net.h"

namespace v6g::config {

enum class FirewallAction : std::uint8_t { kAllow, kDeny };

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  bool operator==(const PortRange&) const = default;
};

struct FirewallRule {
  FirewallAction action = FirewallAction::kDeny;
  std::optional<std::uint8_t> protocol;  // nullopt = all
  std::optional<Ip6Prefix> source;       // nullopt = any; an address is a /128
  std::optional<Ip6Prefix> destination;
  std::vector<PortRange> ports;  // empty = all ports

  bool matches_everything() const { return !protocol && !source && !destination && ports.empty(); }
  bool covers_port(std::uint16_t port) const;
};

struct FirewallParseError {
  std::size_t position = 0;  // byte offset into the rule text
  std::string message;
};

// Either the rule or a positioned error (Result<T> carries packet verdict
// reasons only, so configuration parsing has its own small result type).
struct FirewallParseResult {
  std::optional<FirewallRule> rule;
  FirewallParseError error;
  bool ok() const { return rule.has_value(); }
};

FirewallParseResult parse_firewall_rule(std::string_view text);

inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpv6 = 58;
inline constexpr std::uint8_t kProtoIpv6InIp = 41;
inline constexpr std::uint8_t kProtoGre = 47;

// Does an allow rule open a tunnelling protocol (6in4/41, GRE/47, Teredo
// udp/3544, VXLAN udp/4789)? Rules for "all" are not counted: the guard's
// tunnel policy drops tunnels ahead of the firewall regardless.
bool allows_tunnel(const FirewallRule& rule);

}  // namespace v6g::config
