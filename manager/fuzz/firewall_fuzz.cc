// libFuzzer target for the firewall-rule grammar (config::parse_firewall_rule):
// rule text comes from API callers (NetworkSecurityPolicy.{ingress,egress}_rules).
// Besides memory safety, checks what the compiler behind it relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/firewall.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto r = v6g::config::parse_firewall_rule(text);
  if (!r.ok()) {
    // The API points at the offending byte: it must be inside (or at the end of) the text.
    if (r.error.position > size || r.error.message.empty()) std::abort();
    return 0;
  }
  const auto& rule = *r.rule;
  for (const auto& p : rule.ports) {
    if (p.first == 0 || p.first > p.last) std::abort();
    if (!rule.covers_port(p.first) || !rule.covers_port(p.last)) std::abort();
  }
  // Ports only with tcp/udp: nft can't match ports of other protocols.
  if (!rule.ports.empty() && rule.protocol != v6g::config::kProtoTcp &&
      rule.protocol != v6g::config::kProtoUdp)
    std::abort();
  for (const auto& ep : {rule.source, rule.destination}) {
    if (!ep) continue;
    // Host bits are zero and the prefix survives its own rendering (what nft gets).
    if (ep->len > 128) std::abort();
    const auto again = v6g::Ip6Prefix::parse(ep->to_string());
    if (!again || !(*again == *ep)) std::abort();
  }
  (void)v6g::config::allows_tunnel(rule);
  (void)rule.matches_everything();
  return 0;
}
