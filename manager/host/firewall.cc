#include "host/firewall.h"

#include <nftables/libnftables.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>

#include "host/rtnl.h"

namespace v6g::host {

namespace {

std::string ports_expr(const std::vector<config::PortRange>& ports) {
  auto one = [](const config::PortRange& r) {
    return r.first == r.last ? std::to_string(r.first)
                             : std::to_string(r.first) + "-" + std::to_string(r.last);
  };
  if (ports.size() == 1) return one(ports.front());
  std::string out = "{ ";
  for (std::size_t i = 0; i < ports.size(); ++i) out += (i ? ", " : "") + one(ports[i]);
  return out + " }";
}

std::string prefixes_expr(const std::vector<Ip6Prefix>& prefixes) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < prefixes.size(); ++i)
    out += (i ? ", " : "") + prefixes[i].to_string();
  return out + " }";
}

std::string table() { return "bridge " + std::string(kFirewallTable); }
std::string in_chain(const std::string& port) { return "in_" + port; }
std::string out_chain(const std::string& port) { return "out_" + port; }

// RFC 4861 ND (RS, RA, NS, NA) and MLDv1/v2 (the bridge's snooping needs the
// reports). Redirect is deliberately absent: it is the guard's business and a
// VM has no reason to send one. RA from a VM port is dropped earlier by RA Guard.
//
// Both lists are named sets defined once per table: an anonymous set in every
// port chain would be thousands of sets that libnftables reads back before
// each transaction (measured: 32 -> 8.6 ms per port apply at 1000 ports).
constexpr const char* kNdAndMldTypes =
    "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
    "mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report";
constexpr const char* kNdAndMld = "icmpv6 type @nd_mld";

constexpr const char* kIcmpv6ErrorTypes =
    "destination-unreachable, packet-too-big, time-exceeded, parameter-problem";
constexpr const char* kIcmpv6Errors = "icmpv6 type @icmpv6_errors";

// A compiled rule without its verdict, to reuse its match for a log rule.
std::string match_only(const std::string& compiled) {
  for (const char* verdict : {" counter drop", " return"}) {
    const std::string v = verdict;
    if (compiled.size() >= v.size() &&
        compiled.compare(compiled.size() - v.size(), v.size(), v) == 0)
      return compiled.substr(0, compiled.size() - v.size());
  }
  return compiled;
}

// The smallest non-zero of the port-wide and the direction's own limit.
std::uint64_t effective_mbps(const PortFirewall& fw, bool from_vm) {
  const std::uint64_t own = from_vm ? fw.from_vm_mbps : fw.to_vm_mbps;
  if (fw.bandwidth_limit_mbps == 0) return own;
  if (own == 0) return fw.bandwidth_limit_mbps;
  return std::min(own, fw.bandwidth_limit_mbps);
}

void port_chain(std::string& out, const std::string& chain, const PortFirewall& fw,
                const std::vector<FirewallRule>& rules, bool from_vm) {
  const std::string add = "add rule " + table() + " " + chain + " ";
  out += "add chain " + table() + " " + chain + "\n";
  out += "flush chain " + table() + " " + chain + "\n";
  // Limits first: they protect the host, so they apply to every frame, ND included.
  if (fw.packet_rate_limit != 0) {
    const std::uint32_t burst = std::max<std::uint32_t>(5, fw.packet_rate_limit / 10);
    out += add + "limit rate over " + std::to_string(fw.packet_rate_limit) + "/second burst " +
           std::to_string(burst) + " packets counter drop\n";
  }
  if (const std::uint64_t mbps = effective_mbps(fw, from_vm); mbps != 0) {
    // Megabits per second -> bytes per second; 100 ms worth of burst, at least 64 KiB.
    const std::uint64_t rate = mbps * 125000;
    const std::uint64_t burst = std::max<std::uint64_t>(rate / 10, 65536);
    out += add + "limit rate over " + std::to_string(rate) + " bytes/second burst " +
           std::to_string(burst) + " bytes counter drop\n";
  }
  if (fw.allow_non_ipv6) out += add + "meta protocol != ip6 return\n";
  // Replies before the user's rules, so a trailing "deny all" (as in the
  // spec's examples) can't cut off the answers to connections the other
  // direction allowed.
  if (fw.conntrack) {
    out += add + "ct state established,related return\n";
    out += add + "ct state invalid counter drop\n";
  } else if (fw.stateless_tcp_return) {
    out += add + "tcp flags & (syn | ack) != syn return\n";
  }
  out += add + kNdAndMld + " return\n";
  if (from_vm && !fw.allowed_destinations.empty())
    out += add + "ip6 daddr != " + prefixes_expr(fw.allowed_destinations) + " counter drop\n";
  // RFC 4890 4.3.1: errors must not be filtered or PMTUD and connection
  // setup break; statelessly we can't tie them to a flow, so they pass (after
  // the destination filter, so a VM can't aim them anywhere).
  if (!fw.conntrack) out += add + kIcmpv6Errors + " return\n";
  // Logging happens in a rule of its own just before each drop, so the log
  // line's limit never changes what gets dropped.
  const std::string log = fw.log_group ? "limit rate " + std::to_string(kLogPerSecond) +
                                             "/second log prefix \"v6g:firewall_deny:" + fw.port +
                                             (from_vm ? ":in" : ":out") + "\" group " +
                                             std::to_string(*fw.log_group)
                                       : std::string();
  for (const auto& rule : rules) {
    if (!log.empty() && rule.action == FirewallAction::kDeny)
      out += add + match_only(compile_rule(rule)) + " " + log + "\n";
    out += add + compile_rule(rule) + "\n";
  }
  if (!log.empty()) out += add + log + "\n";
  out += add + "counter drop\n";
}

}  // namespace

std::string compile_rule(const FirewallRule& rule) {
  std::string out = "meta protocol ip6";
  if (rule.source) out += " ip6 saddr " + rule.source->to_string();
  if (rule.destination) out += " ip6 daddr " + rule.destination->to_string();
  if (rule.protocol) {
    switch (*rule.protocol) {
      case config::kProtoTcp:
        out += " meta l4proto tcp";
        break;
      case config::kProtoUdp:
        out += " meta l4proto udp";
        break;
      case config::kProtoIcmpv6:
        out += " meta l4proto ipv6-icmp";
        break;
      default:  // any other IP protocol by number (the grammar allows 0-255)
        out += " meta l4proto " + std::to_string(*rule.protocol);
        break;
    }
  } else if (!rule.ports.empty()) {
    // The config grammar only puts ports on tcp/udp; if a port list ever
    // comes without a protocol, it still needs a transport header.
    out += " meta l4proto { tcp, udp }";
  }
  if (!rule.ports.empty()) out += " th dport " + ports_expr(rule.ports);
  out += rule.action == FirewallAction::kAllow ? " return" : " counter drop";
  return out;
}

Status validate(const PortFirewall& fw) {
  if (!valid_ifname(fw.port)) return Status::error("invalid port name '" + fw.port + "'");
  // 10 Tbit/s: far above any NIC, far below where Mbit/s -> bytes/s overflows.
  constexpr std::uint64_t kMaxMbps = 10'000'000;
  for (std::uint64_t mbps : {fw.bandwidth_limit_mbps, fw.from_vm_mbps, fw.to_vm_mbps})
    if (mbps > kMaxMbps)
      return Status::error("bandwidth limit out of range: " + std::to_string(mbps));
  for (const auto* rules : {&fw.from_vm, &fw.to_vm})
    for (const auto& rule : *rules) {
      if (rule.ports.empty()) continue;
      if (rule.protocol && *rule.protocol != config::kProtoTcp &&
          *rule.protocol != config::kProtoUdp)
        return Status::error("ports on a rule that is neither tcp nor udp");
      for (const auto& range : rule.ports)
        if (range.first == 0 || range.last < range.first)
          return Status::error("bad port range " + std::to_string(range.first) + "-" +
                               std::to_string(range.last));
    }
  return Status();
}

std::string port_fingerprint(const PortFirewall& fw) {
  std::string chains;
  port_chain(chains, in_chain(fw.port), fw, fw.from_vm, true);
  port_chain(chains, out_chain(fw.port), fw, fw.to_vm, false);
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (unsigned char c : chains) hash = (hash ^ c) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

std::string compile_table_header() {
  const std::string t = table();
  std::string out;
  out += "add table " + t + "\n";
  out += "add map " + t + " in_ports { type ifname : verdict ; }\n";
  out += "add map " + t + " out_ports { type ifname : verdict ; }\n";
  out +=
      "add set " + t + " nd_mld { type icmpv6_type ; elements = { " + kNdAndMldTypes + " } ; }\n";
  out += "add set " + t + " icmpv6_errors { type icmpv6_type ; elements = { " + kIcmpv6ErrorTypes +
         " } ; }\n";
  // Base chains are rewritten on every change (flush + add in the same
  // transaction) so a restart or upgrade converges on the current layout.
  const struct {
    const char* name;
    const char* hook;
    bool in;
    bool out;
  } bases[] = {{"fw_forward", "forward", true, true},
               {"fw_input", "input", true, false},
               {"fw_output", "output", false, true}};
  for (const auto& base : bases) {
    out += std::string("add chain ") + t + " " + base.name + " { type filter hook " + base.hook +
           " priority 0 ; policy accept ; }\n";
    out += std::string("flush chain ") + t + " " + base.name + "\n";
    if (base.in)
      out += std::string("add rule ") + t + " " + base.name + " iifname vmap @in_ports\n";
    if (base.out)
      out += std::string("add rule ") + t + " " + base.name + " oifname vmap @out_ports\n";
  }
  return out;
}

std::string compile_port_chains(const PortFirewall& fw, bool replace) {
  const std::string t = table();
  std::string out;
  port_chain(out, in_chain(fw.port), fw, fw.from_vm, true);
  port_chain(out, out_chain(fw.port), fw, fw.to_vm, false);
  const std::string comment = " comment \"v6g:" + port_fingerprint(fw) + "\"";
  for (const auto& [map, chain] :
       {std::pair{"in_ports", in_chain(fw.port)}, std::pair{"out_ports", out_chain(fw.port)}}) {
    if (replace) out += "delete element " + t + " " + map + " { \"" + fw.port + "\" }\n";
    out += "add element " + t + " " + map + " { \"" + fw.port + "\"" + comment + " : jump " +
           chain + " }\n";
  }
  return out;
}

std::string compile_port_batch(const PortFirewall& fw, bool replace) {
  return compile_table_header() + compile_port_chains(fw, replace);
}

std::string compile_port_removal_batch(const std::string& port, bool last_port) {
  return compile_ports_removal_batch({port}, last_port);
}

std::string compile_ports_removal_batch(const std::vector<std::string>& ports, bool drop_table) {
  const std::string t = table();
  if (drop_table) return "delete table " + t + "\n";
  std::string out;
  for (const auto& port : ports) {
    out += "delete element " + t + " in_ports { \"" + port + "\" }\n";
    out += "delete element " + t + " out_ports { \"" + port + "\" }\n";
    out += "delete chain " + t + " " + in_chain(port) + "\n";
    out += "delete chain " + t + " " + out_chain(port) + "\n";
  }
  return out;
}

Nft::Nft() {
  ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx_ != nullptr) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
}

Nft::~Nft() {
  if (ctx_ != nullptr) nft_ctx_free(ctx_);
}

Status Nft::run(const std::string& batch) {
  if (ctx_ == nullptr) return Status::error("nft_ctx_new failed");
  const int rc = nft_run_cmd_from_buffer(ctx_, batch.c_str());
  last_output_ = nft_ctx_get_output_buffer(ctx_);
  std::string err = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0) return Status::error("nft: " + (err.empty() ? std::string("failed") : err));
  return Status();
}

const std::map<std::string, std::string>& Nft::state() {
  if (state_) return *state_;
  state_.emplace();
  if (!run("list map " + table() + " in_ports").ok()) return *state_;  // no table yet
  // elements = { "tap0" comment "v6g:<fp>" : jump in_tap0, ... }
  std::string_view text = last_output_;
  auto pos = text.find("elements");
  auto quoted = [&text](std::size_t from, std::string_view* value) -> std::size_t {
    auto open = text.find('"', from);
    if (open == std::string_view::npos) return open;
    auto close = text.find('"', open + 1);
    if (close == std::string_view::npos) return close;
    *value = text.substr(open + 1, close - open - 1);
    return close + 1;
  };
  while (pos != std::string_view::npos) {
    std::string_view name, comment;
    pos = quoted(pos, &name);
    if (pos == std::string_view::npos) break;
    constexpr std::string_view kComment = " comment ";
    if (text.substr(pos, kComment.size()) == kComment) {
      pos = quoted(pos, &comment);
      if (pos == std::string_view::npos) break;
    }
    constexpr std::string_view kPrefix = "v6g:";
    if (comment.substr(0, kPrefix.size()) == kPrefix) comment.remove_prefix(kPrefix.size());
    (*state_)[std::string(name)] = std::string(comment);
  }
  return *state_;
}

std::vector<std::string> Nft::ports() {
  std::vector<std::string> out;
  for (const auto& [port, fingerprint] : state()) out.push_back(port);
  return out;
}

bool Nft::has_port(const std::string& port) { return state().count(port) != 0; }

Status Nft::apply(const PortFirewall& fw, bool* changed) {
  int n = 0;
  Status st = apply(std::vector<PortFirewall>{fw}, &n);
  if (changed != nullptr) *changed = n != 0;
  return st;
}

Status Nft::apply(const std::vector<PortFirewall>& fws, int* changed,
                  const std::vector<std::string>& drop) {
  if (changed != nullptr) *changed = 0;
  std::set<std::string> seen;
  for (const auto& fw : fws) {
    if (auto st = validate(fw); !st.ok()) return st;
    if (!seen.insert(fw.port).second) return Status::error("port " + fw.port + " listed twice");
  }
  for (const auto& port : drop) {
    if (!valid_ifname(port)) return Status::error("invalid port name '" + port + "'");
    if (seen.count(port) != 0) return Status::error("port " + port + " both applied and dropped");
  }
  const bool ct = bridge_conntrack();
  const auto& known = state();
  std::string batch;
  std::vector<std::pair<std::string, std::string>> updates;  // port -> new fingerprint
  for (const auto& fw : fws) {
    PortFirewall effective = fw;
    effective.conntrack = ct;
    std::string fingerprint = port_fingerprint(effective);
    auto it = known.find(fw.port);
    if (it != known.end() && it->second == fingerprint) continue;
    batch += compile_port_chains(effective, it != known.end());
    updates.emplace_back(fw.port, std::move(fingerprint));
  }
  std::vector<std::string> removals;
  for (const auto& port : std::set<std::string>(drop.begin(), drop.end()))
    if (known.count(port) != 0) removals.push_back(port);
  if (updates.empty() && removals.empty()) return Status();
  std::size_t remaining = known.size() - removals.size();
  for (const auto& [port, fp] : updates) remaining += known.count(port) == 0;
  const std::string text = remaining == 0 ? compile_ports_removal_batch(removals, true)
                                          : compile_table_header() + batch +
                                                compile_ports_removal_batch(removals, false);
  Status st = run(text);
  if (!st.ok()) {
    state_.reset();
    return st;
  }
  for (auto& [port, fingerprint] : updates) (*state_)[port] = std::move(fingerprint);
  for (const auto& port : removals) state_->erase(port);
  if (changed != nullptr) *changed = static_cast<int>(updates.size() + removals.size());
  return Status();
}

bool Nft::bridge_conntrack() {
  if (conntrack_) return *conntrack_;
  if (ctx_ == nullptr) return false;
  // Related ICMPv6 errors ride on ct too, so one probe covers both uses.
  nft_ctx_set_dry_run(ctx_, true);
  conntrack_ = run("add table bridge v6guard_probe\n"
                   "add chain bridge v6guard_probe c\n"
                   "add rule bridge v6guard_probe c ct state established,related accept\n")
                   .ok();
  nft_ctx_set_dry_run(ctx_, false);
  return *conntrack_;
}

Status Nft::remove(const std::string& port) { return remove(std::vector<std::string>{port}); }

Status Nft::remove(const std::vector<std::string>& ports, int* removed) {
  if (removed != nullptr) *removed = 0;
  for (const auto& port : ports)
    if (!valid_ifname(port)) return Status::error("invalid port name '" + port + "'");
  const auto& known = state();
  std::set<std::string> present;
  for (const auto& port : ports)
    if (known.count(port) != 0) present.insert(port);
  if (present.empty()) return Status();
  const std::vector<std::string> list(present.begin(), present.end());
  Status st = run(compile_ports_removal_batch(list, present.size() == known.size()));
  if (!st.ok()) {
    state_.reset();
    return st;
  }
  for (const auto& port : list) state_->erase(port);
  if (removed != nullptr) *removed = static_cast<int>(list.size());
  return Status();
}

}  // namespace v6g::host
