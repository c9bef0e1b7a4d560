// Firewall rule grammar and its nft compilation (pure, no root).
#include <gtest/gtest.h>

#include "host/firewall.h"

namespace v6g::host {
namespace {

// Rules come from manager/config's parser (its grammar is tested in
// config_firewall_test); here only the AST -> nft compilation is checked.
FirewallRule parse(std::string_view text) {
  auto parsed = config::parse_firewall_rule(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.error.message;
  return parsed.rule.value_or(FirewallRule{});
}

TEST(HostFirewallCompile, Rules) {
  EXPECT_EQ(compile_rule(parse("allow tcp from 2001:db8::/32 to any port 22,80-90")),
            "meta protocol ip6 ip6 saddr 2001:db8::/32 meta l4proto tcp th dport { 22, 80-90 } "
            "return");
  EXPECT_EQ(compile_rule(parse("deny udp from any to fd00::/8 port 53")),
            "meta protocol ip6 ip6 daddr fd00::/8 meta l4proto udp th dport 53 counter drop");
  EXPECT_EQ(compile_rule(parse("allow icmpv6 from any to any")),
            "meta protocol ip6 meta l4proto ipv6-icmp return");
  EXPECT_EQ(compile_rule(parse("deny any from any to any")), "meta protocol ip6 counter drop");
  EXPECT_EQ(compile_rule(parse("deny all from any to any")), "meta protocol ip6 counter drop");
  EXPECT_EQ(compile_rule(parse("ALLOW TCP FROM 2001:db8::1 TO any PORT 22")),
            "meta protocol ip6 ip6 saddr 2001:db8::1/128 meta l4proto tcp th dport 22 return");
  // Any other protocol by number (GRE here).
  EXPECT_EQ(compile_rule(parse("deny 47 from any to any")),
            "meta protocol ip6 meta l4proto 47 counter drop");
  // The grammar only puts ports on tcp/udp; a hand-built AST with ports but no
  // protocol still gets a transport-header match.
  FirewallRule any_with_port;
  any_with_port.action = FirewallAction::kAllow;
  any_with_port.ports.push_back({443, 443});
  EXPECT_EQ(compile_rule(any_with_port),
            "meta protocol ip6 meta l4proto { tcp, udp } th dport 443 return");
}

TEST(HostFirewallCompile, ValidateRejectsPortsWithoutTcpOrUdp) {
  PortFirewall fw;
  fw.port = "tap0";
  FirewallRule icmp = parse("allow icmpv6 from any to any");
  icmp.ports.push_back({1, 1});
  fw.to_vm.push_back(icmp);
  EXPECT_FALSE(validate(fw).ok());
  fw.to_vm.clear();
  FirewallRule inverted = parse("allow tcp from any to any port 80");
  inverted.ports[0] = {90, 80};
  fw.from_vm.push_back(inverted);
  EXPECT_FALSE(validate(fw).ok());
}

TEST(HostFirewallCompile, PerDirectionBandwidthTakesTheSmallerLimit) {
  PortFirewall fw;
  fw.port = "tap0";
  fw.bandwidth_limit_mbps = 100;
  fw.from_vm_mbps = 8;  // QoS egress: tighter than the port-wide limit
  fw.to_vm_mbps = 0;
  const std::string batch = compile_port_batch(fw);
  EXPECT_NE(batch.find("in_tap0 limit rate over 1000000 bytes/second"), std::string::npos) << batch;
  EXPECT_NE(batch.find("out_tap0 limit rate over 12500000 bytes/second"), std::string::npos);
  fw.bandwidth_limit_mbps = 0;
  const std::string only_qos = compile_port_batch(fw);
  EXPECT_NE(only_qos.find("in_tap0 limit rate over 1000000 bytes/second"), std::string::npos);
  EXPECT_EQ(only_qos.find("out_tap0 limit"), std::string::npos);
}

TEST(HostFirewallCompile, SeveralPortsShareOneHeader) {
  PortFirewall a;
  a.port = "tapa";
  PortFirewall b;
  b.port = "tapb";
  const std::string header = compile_table_header();
  EXPECT_EQ(compile_port_batch(a), header + compile_port_chains(a, false));
  EXPECT_EQ(compile_ports_removal_batch({"tapa", "tapb"}, false),
            compile_port_removal_batch("tapa", false) + compile_port_removal_batch("tapb", false));
  EXPECT_EQ(compile_ports_removal_batch({"tapa", "tapb"}, true),
            "delete table bridge v6guard_fw\n");
}

TEST(HostFirewallCompile, PortBatchOrderAndLimits) {
  PortFirewall fw;
  fw.port = "tap-a.1";
  fw.to_vm.push_back(parse("allow tcp from any to any port 80"));
  fw.from_vm.push_back(parse("allow udp from any to any port 53"));
  fw.allowed_destinations.push_back(*Ip6Prefix::parse("2001:db8::/32"));
  fw.bandwidth_limit_mbps = 8;
  fw.packet_rate_limit = 1000;
  ASSERT_TRUE(validate(fw).ok());
  const std::string batch = compile_port_batch(fw);
  auto at = [&batch](std::string_view needle) {
    auto pos = batch.find(needle);
    EXPECT_NE(pos, std::string::npos) << needle << "\n" << batch;
    return pos;
  };
  // 8 Mbit/s = 1,000,000 bytes/s; burst 100 ms.
  at("add rule bridge v6guard_fw in_tap-a.1 limit rate over 1000/second burst 100 packets counter "
     "drop\n");
  at("add rule bridge v6guard_fw in_tap-a.1 limit rate over 1000000 bytes/second burst 100000 "
     "bytes counter drop\n");
  // Order inside the in_ chain (from the VM): limits, TCP replies (where
  // conntrack's "established" would be), ND/MLD, destination filter, rules, drop.
  const auto nd = at("add rule bridge v6guard_fw in_tap-a.1 icmpv6 type @nd_mld return\n");
  const auto dst =
      at("add rule bridge v6guard_fw in_tap-a.1 ip6 daddr != { 2001:db8::/32 } counter drop");
  const auto rule =
      at("add rule bridge v6guard_fw in_tap-a.1 meta protocol ip6 meta l4proto udp th dport 53 "
         "return");
  const auto tcp =
      at("add rule bridge v6guard_fw in_tap-a.1 tcp flags & (syn | ack) != syn return");
  const auto drop = at("add rule bridge v6guard_fw in_tap-a.1 counter drop\n");
  EXPECT_LT(tcp, nd);
  EXPECT_LT(nd, dst);
  EXPECT_LT(dst, rule);
  EXPECT_LT(rule, drop);
  // allowed_destinations restricts what the VM sends, not what it receives.
  EXPECT_EQ(batch.find("out_tap-a.1 ip6 daddr !="), std::string::npos);
  const std::string comment = "comment \"v6g:" + port_fingerprint(fw) + "\"";
  at("add element bridge v6guard_fw in_ports { \"tap-a.1\" " + comment + " : jump in_tap-a.1 }");
  at("add element bridge v6guard_fw out_ports { \"tap-a.1\" " + comment + " : jump out_tap-a.1 }");
  EXPECT_EQ(batch.find("delete element"), std::string::npos);  // a new port
  // Each chain is flushed before refilling, so re-applying replaces, never appends.
  EXPECT_LT(at("flush chain bridge v6guard_fw out_tap-a.1"),
            at("add rule bridge v6guard_fw out_tap-a.1 "));
}

TEST(HostFirewallCompile, NoLimitsNoRulesIsNdOnlyThenDrop) {
  PortFirewall fw;
  fw.port = "tap0";
  fw.stateless_tcp_return = false;
  const std::string batch = compile_port_batch(fw);
  EXPECT_EQ(batch.find("limit"), std::string::npos);
  EXPECT_NE(batch.find("add set bridge v6guard_fw nd_mld { type icmpv6_type ; elements = { "
                       "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, "
                       "nd-neighbor-advert, mld-listener-query, mld-listener-report, "
                       "mld-listener-done, mld2-listener-report } ; }\n"),
            std::string::npos);
  EXPECT_NE(batch.find("add rule bridge v6guard_fw out_tap0 icmpv6 type @nd_mld return\n"),
            std::string::npos);
  EXPECT_EQ(batch.find("nd-redirect"), std::string::npos);
  EXPECT_EQ(batch.find("tcp flags"), std::string::npos);
}

TEST(HostFirewallCompile, StatelessPassesIcmpv6ErrorsAfterTheDestinationFilter) {
  PortFirewall fw;
  fw.port = "tap0";
  fw.allowed_destinations.push_back(*Ip6Prefix::parse("2001:db8::/32"));
  const std::string batch = compile_port_batch(fw);
  const auto dst = batch.find("in_tap0 ip6 daddr != { 2001:db8::/32 }");
  const auto errors = batch.find("in_tap0 icmpv6 type @icmpv6_errors return");
  EXPECT_NE(batch.find("icmpv6_errors { type icmpv6_type ; elements = { destination-unreachable, "
                       "packet-too-big, time-exceeded, parameter-problem } ; }"),
            std::string::npos);
  ASSERT_NE(dst, std::string::npos);
  ASSERT_NE(errors, std::string::npos);
  EXPECT_LT(dst, errors);
  EXPECT_EQ(batch.find("ct state"), std::string::npos);
}

TEST(HostFirewallCompile, ConntrackReplacesTheStatelessRules) {
  PortFirewall fw;
  fw.port = "tap0";
  fw.conntrack = true;
  fw.packet_rate_limit = 10;
  const std::string batch = compile_port_batch(fw);
  const auto limit = batch.find("out_tap0 limit rate over 10/second");
  const auto est = batch.find("out_tap0 ct state established,related return\n");
  const auto invalid = batch.find("out_tap0 ct state invalid counter drop\n");
  const auto nd = batch.find("out_tap0 icmpv6 type @nd_mld return");
  ASSERT_NE(limit, std::string::npos);
  ASSERT_NE(est, std::string::npos);
  ASSERT_NE(invalid, std::string::npos);
  EXPECT_LT(limit, est);  // replies count against the limits too
  EXPECT_LT(est, invalid);
  EXPECT_LT(invalid, nd);
  EXPECT_EQ(batch.find("tcp flags"), std::string::npos);
  EXPECT_EQ(batch.find("@icmpv6_errors"), std::string::npos);  // related covers errors
}

TEST(HostFirewallCompile, LogGroupLogsDeniesBeforeDropping) {
  PortFirewall fw;
  fw.port = "tap0";
  fw.log_group = 7;
  fw.to_vm.push_back(parse("deny udp from any to any port 53"));
  fw.to_vm.push_back(parse("allow tcp from any to any port 80"));
  const std::string batch = compile_port_batch(fw);
  const std::string log = "limit rate 10/second log prefix \"v6g:firewall_deny:tap0:out\" group 7";
  const auto deny_log =
      batch.find("out_tap0 meta protocol ip6 meta l4proto udp th dport 53 " + log + "\n");
  const auto deny =
      batch.find("out_tap0 meta protocol ip6 meta l4proto udp th dport 53 counter drop\n");
  const auto default_log = batch.find("out_tap0 " + log + "\n");
  const auto default_drop = batch.find("out_tap0 counter drop\n");
  ASSERT_NE(deny_log, std::string::npos) << batch;
  ASSERT_NE(default_log, std::string::npos) << batch;
  EXPECT_LT(deny_log, deny);
  EXPECT_LT(default_log, default_drop);
  EXPECT_NE(batch.find("\"v6g:firewall_deny:tap0:in\" group 7"), std::string::npos);
  // Allow rules are never logged.
  EXPECT_EQ(batch.find("dport 80 limit rate 10/second log"), std::string::npos);
  fw.log_group.reset();
  EXPECT_EQ(compile_port_batch(fw).find(" log "), std::string::npos);
}

TEST(HostFirewallCompile, FingerprintFollowsTheCompiledChains) {
  PortFirewall fw;
  fw.port = "tap0";
  const std::string base = port_fingerprint(fw);
  EXPECT_EQ(base.size(), 16u);
  EXPECT_EQ(port_fingerprint(fw), base);
  fw.to_vm.push_back(parse("allow tcp from any to any port 80"));
  const std::string with_rule = port_fingerprint(fw);
  EXPECT_NE(with_rule, base);
  fw.packet_rate_limit = 5;
  EXPECT_NE(port_fingerprint(fw), with_rule);
  fw.conntrack = true;  // a different kernel gives different chains
  EXPECT_NE(port_fingerprint(fw), with_rule);
  // Replacing swaps the elements (add alone would keep the old comment).
  const std::string batch = compile_port_batch(fw, /*replace=*/true);
  const auto del = batch.find("delete element bridge v6guard_fw in_ports { \"tap0\" }\n");
  const auto add = batch.find("add element bridge v6guard_fw in_ports { \"tap0\" comment");
  ASSERT_NE(del, std::string::npos);
  ASSERT_NE(add, std::string::npos);
  EXPECT_LT(del, add);
}

TEST(HostFirewallCompile, Removal) {
  EXPECT_EQ(compile_port_removal_batch("tap0", false),
            "delete element bridge v6guard_fw in_ports { \"tap0\" }\n"
            "delete element bridge v6guard_fw out_ports { \"tap0\" }\n"
            "delete chain bridge v6guard_fw in_tap0\n"
            "delete chain bridge v6guard_fw out_tap0\n");
  EXPECT_EQ(compile_port_removal_batch("tap0", true), "delete table bridge v6guard_fw\n");
}

TEST(HostFirewallCompile, ValidateRejectsUnsafeNames) {
  PortFirewall fw;
  for (const char* bad : {"", "tap 0", "tap\"0", "a-very-long-interface-name", "tap;flush"}) {
    fw.port = bad;
    EXPECT_FALSE(validate(fw).ok()) << bad;
  }
}

}  // namespace
}  // namespace v6g::host
