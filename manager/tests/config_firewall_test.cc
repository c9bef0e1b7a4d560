#include <gtest/gtest.h>

#include "config/firewall.h"

namespace v6g::config {
namespace {

TEST(FirewallParse, SpecRules) {
  auto r = parse_firewall_rule("allow tcp from any to any port 53,80,443");
  ASSERT_TRUE(r.ok()) << r.error.message;
  EXPECT_EQ(r.rule->action, FirewallAction::kAllow);
  EXPECT_EQ(r.rule->protocol, kProtoTcp);
  EXPECT_FALSE(r.rule->source);
  ASSERT_EQ(r.rule->ports.size(), 3u);
  EXPECT_EQ(r.rule->ports[2], (PortRange{443, 443}));

  auto deny = parse_firewall_rule("deny all from any to any");
  ASSERT_TRUE(deny.ok());
  EXPECT_TRUE(deny.rule->matches_everything());
  EXPECT_EQ(deny.rule->action, FirewallAction::kDeny);

  auto icmp = parse_firewall_rule("ALLOW ICMPv6 FROM any TO any");
  ASSERT_TRUE(icmp.ok());
  EXPECT_EQ(icmp.rule->protocol, kProtoIcmpv6);
}

TEST(FirewallParse, PrefixesAddressesRangesNumbers) {
  auto r = parse_firewall_rule(
      "allow udp from 2600:beef:1000::/48 to 2600:beef:1000:1::5 port 1000-2000,5353");
  ASSERT_TRUE(r.ok()) << r.error.message;
  EXPECT_EQ(r.rule->source->to_string(), "2600:beef:1000::/48");
  EXPECT_EQ(r.rule->destination->len, 128);
  EXPECT_EQ(r.rule->ports[0], (PortRange{1000, 2000}));
  EXPECT_TRUE(r.rule->covers_port(1500));
  EXPECT_FALSE(r.rule->covers_port(2001));
  auto n = parse_firewall_rule("deny 132 from any to any");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.rule->protocol, 132);
}

struct Bad {
  const char* text;
  std::size_t position;
  const char* message_part;
};

class FirewallBad : public ::testing::TestWithParam<Bad> {};

TEST_P(FirewallBad, PositionedError) {
  auto r = parse_firewall_rule(GetParam().text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error.position, GetParam().position) << r.error.message;
  EXPECT_NE(r.error.message.find(GetParam().message_part), std::string::npos) << r.error.message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, FirewallBad,
    ::testing::Values(Bad{"", 0, "expected 'allow' or 'deny'"},
                      Bad{"permit tcp from any to any", 0, "expected 'allow' or 'deny'"},
                      Bad{"allow sctpx from any to any", 6, "unknown protocol"},
                      Bad{"allow 256 from any to any", 6, "unknown protocol"},
                      Bad{"allow tcp to any", 10, "expected 'from'"},
                      Bad{"allow tcp from any", 18, "expected 'to'"},
                      Bad{"allow tcp from nowhere to any", 15, "invalid IPv6 address"},
                      Bad{"allow tcp from 2600:BEEF:1000:mgmt::/64 to any port 22", 30,
                          "invalid IPv6 prefix"},
                      Bad{"allow tcp from 2600:beef::1/64 to any", 15, "invalid IPv6 prefix"},
                      Bad{"allow tcp from any to any port 0", 31, "invalid port"},
                      Bad{"allow tcp from any to any port 80,65536", 34, "invalid port"},
                      Bad{"allow tcp from any to any port 90-80", 31, "reversed"},
                      Bad{"allow tcp from any to any port", 30, "expected a port list"},
                      Bad{"allow icmpv6 from any to any port 1", 29, "needs protocol tcp or udp"},
                      Bad{"allow all from any to any extra", 26, "unexpected trailing"},
                      Bad{"allow tcp from any to any port 80 443", 34, "unexpected trailing"}));

TEST(FirewallTunnel, OnlyAllowRulesForTunnelsCount) {
  auto check = [](const char* text) {
    auto r = parse_firewall_rule(text);
    EXPECT_TRUE(r.ok()) << text;
    return allows_tunnel(*r.rule);
  };
  EXPECT_TRUE(check("allow 41 from any to any"));
  EXPECT_TRUE(check("allow 47 from any to any"));
  EXPECT_TRUE(check("allow udp from any to any port 3544"));
  EXPECT_TRUE(check("allow udp from any to any port 4000-5000"));
  EXPECT_FALSE(check("allow udp from any to any port 53,123"));
  EXPECT_FALSE(check("allow tcp from any to any port 3544"));
  EXPECT_FALSE(check("deny 41 from any to any"));
  EXPECT_FALSE(check("allow all from any to any"));
}

}  // namespace
}  // namespace v6g::config
