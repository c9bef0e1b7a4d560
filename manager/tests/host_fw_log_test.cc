// NFLOG messages of the port firewalls -> FirewallDenial -> SecurityEvent
// (pure: messages are built here with libmnl the way nfnetlink_log sends them).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include <vector>

#include "common/reason.h"
#include "host/fw_log.h"

namespace v6g::host {
namespace {

struct Message {
  std::vector<char> buf = std::vector<char>(4096);
  struct nlmsghdr* nlh = nullptr;
  Message() {
    nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    auto* nfg =
        static_cast<struct nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
    nfg->nfgen_family = 7;  // NFPROTO_BRIDGE
    nfg->res_id = htons(6);
  }
};

// An IPv6 header: TCP from 2001:db8::1 to 2001:db8::11, then 8 bytes of TCP.
std::vector<std::uint8_t> ipv6_tcp() {
  std::vector<std::uint8_t> p(48, 0);
  p[0] = 0x60;
  p[5] = 8;
  p[6] = 6;
  p[7] = 64;
  auto src = Ip6Addr::parse("2001:db8::1")->bytes;
  auto dst = Ip6Addr::parse("2001:db8::11")->bytes;
  std::copy(src.begin(), src.end(), p.begin() + 8);
  std::copy(dst.begin(), dst.end(), p.begin() + 24);
  return p;
}

TEST(HostFwLog, DenyPrefix) {
  auto in = parse_deny_prefix("v6g:firewall_deny:tap-a.1:in");
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->first, "tap-a.1");
  EXPECT_TRUE(in->second);
  auto out = parse_deny_prefix("v6g:firewall_deny:h-a1:out");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->first, "h-a1");
  EXPECT_FALSE(out->second);
  for (const char* other :
       {"", "v6g:firewall_deny:", "v6g:firewall_deny::in", "v6g:firewall_deny:tap0",
        "v6g:firewall_deny:tap0:sideways", "someone else's prefix", "v6g:ra_guard:tap0:in"})
    EXPECT_FALSE(parse_deny_prefix(other).has_value()) << other;
}

TEST(HostFwLog, PacketMessageBecomesADenialAndAnEvent) {
  Message m;
  struct nfulnl_msg_packet_hdr ph = {htons(0x86dd), 4, 0};
  mnl_attr_put(m.nlh, NFULA_PACKET_HDR, sizeof ph, &ph);
  mnl_attr_put_strz(m.nlh, NFULA_PREFIX, "v6g:firewall_deny:tap0:out");
  struct nfulnl_msg_packet_hw hw = {};
  hw.hw_addrlen = htons(6);
  const std::uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::copy(mac, mac + 6, hw.hw_addr);
  mnl_attr_put(m.nlh, NFULA_HWADDR, sizeof hw, &hw);
  auto payload = ipv6_tcp();
  mnl_attr_put(m.nlh, NFULA_PAYLOAD, payload.size(), payload.data());

  auto d = parse_firewall_log(m.nlh);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->port, "tap0");
  EXPECT_FALSE(d->from_vm);
  ASSERT_TRUE(d->source && d->destination && d->next_header && d->source_mac);
  EXPECT_EQ(d->source->to_string(), "2001:db8::1");
  EXPECT_EQ(d->destination->to_string(), "2001:db8::11");
  EXPECT_EQ(*d->next_header, 6);
  EXPECT_EQ(d->source_mac->to_string(), "02:00:00:00:00:01");

  auto ev = to_security_event(*d, 42);
  EXPECT_EQ(ev.event_type, "firewall");
  EXPECT_EQ(reason_name(ev.violation), "firewall_deny");
  EXPECT_EQ(ev.interface_id, "tap0");
  EXPECT_EQ(ev.blocked_source.to_string(), "2001:db8::1");
  EXPECT_EQ(ev.blocked_mac.to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(ev.packet_count, 1u);
  EXPECT_EQ(ev.first_seen, 42);
}

TEST(HostFwLog, IgnoresWhatIsNotOurs) {
  Message other_prefix;
  mnl_attr_put_strz(other_prefix.nlh, NFULA_PREFIX, "iptables LOG: ");
  EXPECT_FALSE(parse_firewall_log(other_prefix.nlh).has_value());
  Message no_prefix;
  EXPECT_FALSE(parse_firewall_log(no_prefix.nlh).has_value());
  Message config;
  config.nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  mnl_attr_put_strz(config.nlh, NFULA_PREFIX, "v6g:firewall_deny:tap0:in");
  EXPECT_FALSE(parse_firewall_log(config.nlh).has_value());
  // Ours, but ARP (allow_non_ipv6 off): a denial without addresses.
  Message arp;
  struct nfulnl_msg_packet_hdr ph = {htons(0x0806), 4, 0};
  mnl_attr_put(arp.nlh, NFULA_PACKET_HDR, sizeof ph, &ph);
  mnl_attr_put_strz(arp.nlh, NFULA_PREFIX, "v6g:firewall_deny:tap0:in");
  auto payload = ipv6_tcp();  // bytes that would parse as IPv6 must not be read as such
  mnl_attr_put(arp.nlh, NFULA_PAYLOAD, payload.size(), payload.data());
  auto d = parse_firewall_log(arp.nlh);
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->from_vm);
  EXPECT_FALSE(d->source.has_value());
  // A truncated payload is not read past its end.
  Message shortp;
  mnl_attr_put_strz(shortp.nlh, NFULA_PREFIX, "v6g:firewall_deny:tap0:in");
  mnl_attr_put(shortp.nlh, NFULA_PAYLOAD, 20, payload.data());
  d = parse_firewall_log(shortp.nlh);
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->source.has_value());
}

}  // namespace
}  // namespace v6g::host
