// The nft datapath against the real kernel, inside a private network
// namespace this test process creates (never the host's own ruleset).
#include "nft/nft_datapath.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "nft/ruleset.h"

namespace v6g::nft {
namespace {

using datapath::Binding;
using datapath::PortRole;
using datapath::PortSpec;

Binding make_binding(std::uint32_t i) {
  Binding b;
  b.ifname = "tap" + std::to_string(i % 97);
  b.mac = *MacAddr::parse("02:00:00:00:00:01");
  b.mac.bytes[4] = static_cast<std::uint8_t>(i >> 8);
  b.mac.bytes[5] = static_cast<std::uint8_t>(i);
  b.addr = *Ip6Addr::parse("2600:beef:1000:100::");
  b.addr.bytes[12] = static_cast<std::uint8_t>(i >> 24);
  b.addr.bytes[13] = static_cast<std::uint8_t>(i >> 16);
  b.addr.bytes[14] = static_cast<std::uint8_t>(i >> 8);
  b.addr.bytes[15] = static_cast<std::uint8_t>(i);
  return b;
}

// The rules of one chain of a render_table() script, in order, without the
// "add rule bridge v6guard <chain> " prefix.
std::vector<std::string> rules_of(const std::string& table, const std::string& chain) {
  const std::string prefix = "add rule bridge v6guard " + chain + " ";
  std::vector<std::string> out;
  for (std::size_t at = table.find(prefix); at != std::string::npos;
       at = table.find(prefix, at + 1)) {
    if (at != 0 && table[at - 1] != '\n') continue;
    const std::size_t end = table.find('\n', at);
    out.push_back(table.substr(at + prefix.size(), end - at - prefix.size()));
  }
  return out;
}

// Index of the first rule containing `text` (rules.size() when none does).
std::size_t index_of(const std::vector<std::string>& rules, std::string_view text) {
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (rules[i].find(text) != std::string::npos) return i;
  return rules.size();
}

class NftDatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const bool in_private_netns = unshare(CLONE_NEWNET) == 0;
    if (!in_private_netns) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
    // Created only now: libnftables binds its netlink socket to the netns
    // current at construction, which must be the private one.
    dp_ = std::make_unique<NftDatapath>();
    ASSERT_TRUE(dp_->flush().ok());
    const Status s = dp_->init();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // A bridge with two veth ports <prefix>0 and <prefix>1 whose peers
  // (<prefix>0p, <prefix>1p: raw frame writer and reader) run without IPv6,
  // so their own RS/MLD don't add to exact counts; <prefix>0 is a
  // source-guarded VM port of the datapath. Returns it.
  PortSpec guarded_pair(const std::string& bridge, const std::string& prefix) {
    std::ofstream("/proc/sys/net/ipv6/conf/default/accept_dad") << "0\n";
    const std::string p = prefix;
    const std::string cmd = "ip link add " + bridge + " type bridge && ip link set " + bridge +
                            " up && for i in 0 1; do ip link add " + p + "$i type veth peer name " +
                            p + "${i}p && sysctl -qw net.ipv6.conf." + p +
                            "${i}p.disable_ipv6=1 && ip link set " + p + "$i master " + bridge +
                            " && ip link set " + p + "$i up && ip link set " + p +
                            "${i}p up || exit 1; done";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    PortSpec vm;
    vm.ifname = p + "0";
    vm.ifindex = if_nametoindex(vm.ifname.c_str());
    EXPECT_TRUE(dp_->add_port(vm).ok());
    EXPECT_TRUE(dp_->set_source_guard(vm.ifname, true).ok());
    return vm;
  }

  std::unique_ptr<NftDatapath> dp_;
};

TEST(NftRuleset, BindingsRenderAsConcatenatedElements) {
  const Binding b[] = {make_binding(1), make_binding(2)};
  EXPECT_EQ(render_bindings(b, true),
            "add element bridge v6guard bindings { \"tap1\" . 02:00:00:00:00:01 . "
            "2600:beef:1000:100::1, \"tap2\" . 02:00:00:00:00:02 . 2600:beef:1000:100::2 }\n");
  EXPECT_EQ(render_bindings({}, true), "");
}

TEST(NftRuleset, VmPortsGetTheRogueServerDrops) {
  const std::string table = render_table();
  EXPECT_NE(table.find("iifname @vm_ports meta protocol ip6 icmpv6 type nd-router-advert update "),
            std::string::npos);
  EXPECT_NE(table.find("iifname @vm_ports meta protocol ip6 icmpv6 type nd-redirect update "),
            std::string::npos);
  EXPECT_NE(table.find("udp sport 547 update "), std::string::npos);
  PortSpec vm;
  vm.ifname = "tapA";
  EXPECT_EQ(render_port(vm, true), "add element bridge v6guard vm_ports { \"tapA\" }\n");
  vm.role = PortRole::kRouter;
  EXPECT_EQ(render_port(vm, true), "add element bridge v6guard router_ports { \"tapA\" }\n");
}

TEST(NftRuleset, RaSourcesGuardTheRouterPort) {
  EXPECT_EQ(render_ra_source("up0", *Ip6Addr::parse("fe80::1")),
            "add element bridge v6guard ra_guarded_ports { \"up0\" }\n"
            "add element bridge v6guard ra_sources { \"up0\" . fe80::1 }\n");
  EXPECT_NE(
      render_table().find(
          "iifname @ra_guarded_ports meta protocol ip6 icmpv6 type nd-router-advert iifname . "
          "ip6 saddr != @ra_sources update "),
      std::string::npos);
}

TEST_F(NftDatapathTest, InitTwiceKeepsOneCopyOfTheRules) {
  ASSERT_TRUE(dp_->init().ok());
  std::string json;
  ASSERT_TRUE(dp_->run_json("list chain bridge v6guard pre", json).ok());
  std::size_t count = 0;
  for (std::size_t at = json.find("\"ra_from_vm\""); at != std::string::npos;
       at = json.find("\"ra_from_vm\"", at + 1))
    ++count;
  EXPECT_EQ(count, 1u);
}

TEST_F(NftDatapathTest, HundredThousandBindingsAddListRemove) {
  std::vector<Binding> all;
  for (std::uint32_t i = 0; i < 100000; ++i) all.push_back(make_binding(i));
  const auto t0 = std::chrono::steady_clock::now();
  Status s = dp_->add_bindings(all);
  ASSERT_TRUE(s.ok()) << s.message();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("100k bindings added in %lld ms\n", static_cast<long long>(ms));

  std::vector<Binding> listed;
  ASSERT_TRUE(dp_->list_bindings(listed).ok());
  ASSERT_EQ(listed.size(), all.size());

  // Adding again and removing half plus some never-added ones are not errors.
  ASSERT_TRUE(dp_->add_bindings(std::span(all).first(10)).ok());
  std::vector<Binding> removal(all.begin(), all.begin() + 50000);
  removal.push_back(make_binding(200000));
  s = dp_->remove_bindings(removal);
  ASSERT_TRUE(s.ok()) << s.message();
  listed.clear();
  ASSERT_TRUE(dp_->list_bindings(listed).ok());
  EXPECT_EQ(listed.size(), 50000u);
  EXPECT_NE(std::find(listed.begin(), listed.end(), make_binding(99999)), listed.end());
  EXPECT_EQ(std::find(listed.begin(), listed.end(), make_binding(0)), listed.end());
}

TEST_F(NftDatapathTest, PortRoleChangeMovesTheName) {
  PortSpec p;
  p.ifindex = 7;
  p.ifname = "tapR";
  ASSERT_TRUE(dp_->add_port(p).ok());
  p.role = PortRole::kRouter;
  ASSERT_TRUE(dp_->add_port(p).ok());
  std::string json;
  ASSERT_TRUE(dp_->run_json("list set bridge v6guard vm_ports", json).ok());
  EXPECT_EQ(json.find("tapR"), std::string::npos);
  ASSERT_TRUE(dp_->run_json("list set bridge v6guard router_ports", json).ok());
  EXPECT_NE(json.find("tapR"), std::string::npos);
  ASSERT_TRUE(dp_->remove_port(7).ok());
  ASSERT_TRUE(dp_->remove_port(7).ok());
  ASSERT_TRUE(dp_->run_json("list set bridge v6guard router_ports", json).ok());
  EXPECT_EQ(json.find("tapR"), std::string::npos);
}

TEST_F(NftDatapathTest, FlushRemovesTheTable) {
  ASSERT_TRUE(dp_->flush().ok());
  std::string json;
  EXPECT_FALSE(dp_->run_json("list table bridge v6guard", json).ok());
  EXPECT_TRUE(dp_->flush().ok());  // flushing nothing is fine
}

// The punt class (mark) picks the queue range, the CPU handling the frame
// the queue in it: the inspector worker pinned to that CPU reads it.
TEST(NftRuleset, PuntRulesQueueByClassMarkSpreadOverCpus) {
  EXPECT_EQ(render_punt_ip6tables(10, 2),
            "*raw\n:V6GUARD - [0:0]\n"
            "-A V6GUARD -m mark ! --mark 0x76670000/0xffff0000 -j RETURN\n"
            "-A V6GUARD -m mark --mark 0x76670001/0xffff0007 -j NFQUEUE --queue-balance 10:11 "
            "--queue-cpu-fanout\n"
            "-A V6GUARD -m mark --mark 0x76670002/0xffff0007 -j NFQUEUE --queue-balance 12:13 "
            "--queue-bypass --queue-cpu-fanout\n"
            "COMMIT\n");
  // ip6tables refuses a one-queue range ("5 should be less than 5"): one
  // queue is addressed by number, and there is no CPU to fan out to.
  EXPECT_EQ(render_punt_ip6tables(7, 1),
            "*raw\n:V6GUARD - [0:0]\n"
            "-A V6GUARD -m mark ! --mark 0x76670000/0xffff0000 -j RETURN\n"
            "-A V6GUARD -m mark --mark 0x76670001/0xffff0007 -j NFQUEUE --queue-num 7\n"
            "-A V6GUARD -m mark --mark 0x76670002/0xffff0007 -j NFQUEUE --queue-num 8 "
            "--queue-bypass\n"
            "COMMIT\n");
  const std::string wide = render_punt_ip6tables(100, 64);
  EXPECT_NE(wide.find("--queue-balance 100:163 --queue-cpu-fanout\n"), std::string::npos) << wide;
  EXPECT_NE(wide.find("--queue-balance 164:227 --queue-bypass --queue-cpu-fanout\n"),
            std::string::npos)
      << wide;
  EXPECT_EQ(wide.find("*mangle"), std::string::npos);  // the reader clears the tag
  // Both class marks carry the tag the RETURN rule tests.
  EXPECT_EQ(kPuntClosedMark & kPuntTagMask, kPuntTag);
  EXPECT_EQ(kPuntOpenMark & kPuntTagMask, kPuntTag);
  EXPECT_NE(kPuntClosedMark, kPuntOpenMark);
  PortSpec vm;
  vm.ifname = "tapV";
  EXPECT_EQ(render_punt_port(vm, 1, 2, true),
            "add element bridge v6guard punt_closed { \"tapV\" : 1 }\n"
            "add element bridge v6guard punt_open { \"tapV\" : 2 }\n"
            "add element bridge v6guard sg_ports { \"tapV\" }\n");
  vm.flags = V6G_PORT_F_DPI;  // enable_deep_packet_inspection
  EXPECT_EQ(render_punt_port(vm, 1, 2, true),
            "add element bridge v6guard punt_closed { \"tapV\" : 1 }\n"
            "add element bridge v6guard punt_open { \"tapV\" : 2 }\n"
            "add element bridge v6guard sg_ports { \"tapV\" }\n"
            "add element bridge v6guard dpi_ports { \"tapV\" }\n"
            "add element bridge v6guard inspect_ports { \"tapV\" }\n");
  EXPECT_NE(render_punt_port(vm, 1, 2, false).find("delete element bridge v6guard dpi_ports"),
            std::string::npos);
  EXPECT_NE(render_punt_port(vm, 1, 2, false).find("delete element bridge v6guard inspect_ports"),
            std::string::npos);
  vm.flags = V6G_PORT_F_MONITOR;  // monitor ports skip the fast path too
  EXPECT_NE(render_punt_port(vm, 1, 2, true).find("add element bridge v6guard inspect_ports"),
            std::string::npos);
  PortSpec rtr;
  rtr.ifname = "up0";
  rtr.role = PortRole::kRouter;
  EXPECT_EQ(render_punt_port(rtr, 1, 1, false),
            "delete element bridge v6guard punt_closed { \"up0\" }\n");
  const std::string table = render_table();
  // The flooded-multicast dedupe: punts are decided in bridge prerouting.
  EXPECT_NE(table.find("hook prerouting"), std::string::npos);
  EXPECT_NE(table.find("iifname @router_ports meta protocol ip6 icmpv6 type nd-router-advert meta "
                       "mark set iifname "
                       "map @punt_closed goto punt"),
            std::string::npos);
  EXPECT_NE(table.find("udp dport 546 update "), std::string::npos);
  // DPI ports punt everything, after the stateless drops and before pre's
  // binding check would accept their bound sources; the fast path skips
  // them (inspect_ports, checked before either binding set).
  const auto pre = rules_of(table, "pre");
  const auto dpi = index_of(pre,
                            "iifname @dpi_ports meta protocol ip6 meta mark set iifname map "
                            "@punt_open goto punt");
  EXPECT_LT(index_of(pre, "frag_nonfirst_from_vm"), dpi);
  EXPECT_LT(dpi, index_of(pre, "iifname @sg_ports meta protocol ip6 jump bound6"));
  // The guard is rendered only while such a port exists (NftDatapath
  // switches it in the batch that adds or removes the port).
  EXPECT_EQ(rules_of(table, "bound6")[0].find("inspect_ports"), std::string::npos);
  EXPECT_EQ(rules_of(table, "fast_guarded"),
            (std::vector<std::string>{"iifname @inspect_ports return", "goto bound6"}));
  EXPECT_EQ(rules_of(table, "fast_guarded_udp"),
            (std::vector<std::string>{"iifname @inspect_ports return", "goto bound6_udp"}));
}

// The fast path must never see what the stateless drops and punts target:
// RAs/Redirects (ICMPv6), fragments and other extension headers (RFC
// 7113/6980) and DHCPv6 server messages. Every rule of pre that can reach
// bound6 before the last drop is the dispatch on the *first* next header
// (TCP/UDP only: `meta l4proto` would skip extension headers), and UDP
// returns for DHCPv6 ports before any binding check.
TEST(NftRuleset, FastPathOnlyForPlainTcpUdpAfterTheDhcpChecks) {
  const std::string table = render_table();
  const auto pre = rules_of(table, "pre");
  std::size_t last_drop = 0;
  for (const char* drop :
       {"ra_from_vm", "ra_from_vm_raw", "redirect_from_vm", "redirect_from_vm_raw",
        "dhcp6_server_from_vm", "dhcp6_server_from_vm_raw", "dhcp6_to_client_from_vm",
        "dhcp6_to_client_from_vm_raw", "frag_hidden_l4", "frag_nonfirst_from_vm"})
    last_drop = std::max(last_drop, index_of(pre, drop));
  ASSERT_LT(last_drop, pre.size());
  std::size_t dispatches = 0;
  for (std::size_t i = 0; i < last_drop; ++i) {
    if (pre[i].find("bound6") == std::string::npos && pre[i].find("fast") == std::string::npos)
      continue;
    ++dispatches;
    EXPECT_EQ(pre[i], "meta protocol ip6 ip6 nexthdr vmap @fast_dispatch");
  }
  EXPECT_EQ(dispatches, 1u);
  EXPECT_EQ(render_fast_path(false),
            "flush map bridge v6guard fast_dispatch\nadd element bridge v6guard fast_dispatch { "
            "tcp : jump bound6, udp : jump bound6_udp }\n");
  EXPECT_EQ(render_fast_path(true),
            "flush map bridge v6guard fast_dispatch\nadd element bridge v6guard fast_dispatch { "
            "tcp : jump fast_guarded, udp : jump fast_guarded_udp }\n");
  const auto udp = rules_of(table, "bound6_udp");
  ASSERT_EQ(udp.size(), 3u);
  // Raw offsets behind the fixed header (the dispatch only sends a UDP first
  // next header here): `udp sport` can miss a frame whose IPv6 header is in
  // page fragments (nonlinear_frames.sh).
  EXPECT_EQ(udp[0], "@nh,320,16 547 return");
  EXPECT_EQ(udp[1], "@nh,336,16 546 return");
  EXPECT_EQ(udp[2], "goto bound6");
  // Why two rules: nft 1.0.6 merges `udp sport != 547 udp dport != 546`
  // (also `th`, either order, `{ 547 }`) into one 4-byte `cmp neq`, i.e.
  // "not (547, 546)": atk6-fake_dhcps6's answers from an ephemeral port to
  // 546 passed a fast path written that way. No negated port compare at all.
  EXPECT_EQ(table.find("sport !="), std::string::npos);
  EXPECT_EQ(table.find("dport !="), std::string::npos);
}

// Every drop or punt that guards against a VM on a transport match (which
// the bridge hook's IPv6 header walk can get wrong for a frame whose header
// is in page fragments) has a twin right after it that reads the first next
// header and the bytes behind the fixed header at raw offsets.
TEST(NftRuleset, TransportMatchesHaveRawTwins) {
  const auto pre = rules_of(render_table(), "pre");
  const auto twin_of = [&](const char* transport, const char* raw) {
    const std::size_t at = index_of(pre, transport);
    ASSERT_LT(at + 1, pre.size()) << transport;
    EXPECT_NE(pre[at + 1].find(raw), std::string::npos) << pre[at + 1];
  };
  twin_of("icmpv6 type nd-router-advert iifname . ip6 saddr != @ra_sources",
          "ip6 nexthdr ipv6-icmp @nh,320,8 134 iifname . ip6 saddr != @ra_sources");
  twin_of("\"ra_from_vm\"",
          "iifname @vm_ports meta protocol ip6 ip6 nexthdr ipv6-icmp @nh,320,8 134 ");
  twin_of("\"redirect_from_vm\"", "ip6 nexthdr ipv6-icmp @nh,320,8 137 ");
  twin_of("\"dhcp6_server_from_vm\"", "ip6 nexthdr udp @nh,320,16 547 ");
  twin_of("\"dhcp6_to_client_from_vm\"", "ip6 nexthdr udp @nh,336,16 546 ");
  twin_of("@router_ports meta protocol ip6 icmpv6 type nd-router-advert",
          "@router_ports meta protocol ip6 ip6 nexthdr ipv6-icmp @nh,320,8 134 ");
  twin_of("nd-neighbor-solicit", "@nh,320,8 { 130, 131, 132, 133, 135, 136, 143 }");
  // An extension header first that no exthdr rule took goes to the
  // inspector, fail-closed.
  twin_of("exthdr dst exists",
          "ip6 nexthdr { 0, 43, 44, 51, 60 } meta mark set iifname map @punt_closed");
  // Without an inspector that punt misses (empty maps): right behind it an
  // extension header first goes to chain ext_first, which lets only MLD
  // behind an 8-byte hop-by-hop header pass (raw offsets) and drops the rest
  // (nonlinear_frames.sh, no-inspector rounds).
  const std::size_t punt = index_of(pre, "ip6 nexthdr { 0, 43, 44, 51, 60 }");
  ASSERT_LT(punt + 1, pre.size());
  EXPECT_NE(pre[punt + 1].find("ip6 nexthdr { 0, 43, 44, 51, 60 } jump ext_first"),
            std::string::npos)
      << pre[punt + 1];
  const auto ext_first = rules_of(render_table(), "ext_first");
  ASSERT_EQ(ext_first.size(), 2u);
  EXPECT_EQ(ext_first[0],
            "ip6 nexthdr 0 @nh,320,16 0x3a00 @nh,384,8 { 130, 131, 132, 143 } return");
  EXPECT_NE(ext_first[1].find("counter drop comment \"ext_header_unjudged\""), std::string::npos)
      << ext_first[1];
}

// Every punt ends in chain punt, which writes a tagged frame's VLAN into the
// mark (punt_mark.h) before it is counted and accepted into br_netfilter.
TEST(NftRuleset, EveryPuntGoesThroughTheVlanTagging) {
  const std::string table = render_table();
  EXPECT_NE(table.find("add map bridge v6guard punt_vlan { typeof meta mark . vlan id : meta "
                       "mark; }"),
            std::string::npos);
  const auto punt = rules_of(table, "punt");
  ASSERT_EQ(punt.size(), 4u);
  EXPECT_EQ(punt[0].find("ether type 8021q meta mark set meta mark . vlan id map @punt_vlan "
                         "update @port_counts"),
            0u)
      << punt[0];
  EXPECT_EQ(punt[1].find("ether type 8021ad meta mark set meta mark . vlan id map @punt_vlan "), 0u)
      << punt[1];
  // A lookup that still missed must not reach the inspector as untagged.
  EXPECT_EQ(punt[2].find("ether type { 8021q, 8021ad } update @port_counts { iifname . " +
                         std::to_string(V6G_R_FAIL_CLOSED) + " counter } counter drop"),
            0u)
      << punt[2];
  EXPECT_EQ(punt[3],
            "update @port_counts { iifname . " + std::to_string(V6G_R_PUNT) + " counter } accept");
  const auto punt_vm = rules_of(table, "punt_vm");
  ASSERT_EQ(punt_vm.size(), 2u);
  EXPECT_EQ(punt_vm[1], "goto punt");
  // No rule of pre marks a punt and accepts it past chain punt.
  for (const auto& rule : rules_of(table, "pre")) {
    if (rule.find("meta mark set") != std::string::npos) {
      EXPECT_TRUE(rule.ends_with("goto punt") || rule.ends_with("jump punt_vm")) << rule;
    }
  }
  // The map: both classes, every VLAN id, each to its own mark.
  const std::string map = render_punt_vlan_map();
  std::size_t elements = 0;
  for (std::size_t at = map.find(" : "); at != std::string::npos; at = map.find(" : ", at + 1))
    ++elements;
  EXPECT_EQ(elements, 2u * 4096u);
  EXPECT_NE(map.find("0x76670001 . 0 : 0x76670009, "), std::string::npos);
  EXPECT_NE(map.find("0x76670002 . 10 : 0x766700aa, "), std::string::npos);
  EXPECT_NE(map.find("0x76670001 . 4095 : 0x7667fff9 }"), std::string::npos);
  for (std::uint16_t vlan : {0, 1, 10, 4094, 4095})
    for (std::uint32_t klass : {kPuntClosedMark, kPuntOpenMark}) {
      const std::uint32_t m = punt_mark(klass, vlan);
      EXPECT_EQ(m & kPuntMatchMask, klass);  // ip6tables still finds the class
      EXPECT_TRUE(punt_mark_tagged(m));
      EXPECT_EQ(punt_mark_vlan(m), vlan);
    }
}

TEST_F(NftDatapathTest, EnablePuntsMapsPortsToTheirClassAndQueuesByCpu) {
  PortSpec vm;
  vm.ifindex = 5;
  vm.ifname = "tapV";
  vm.fail_mode = datapath::FailMode::kOpen;
  PortSpec rtr;
  rtr.ifindex = 6;
  rtr.ifname = "up0";
  rtr.role = PortRole::kRouter;
  rtr.queue = 77;  // ignored: the CPU picks the queue
  ASSERT_TRUE(dp_->add_port(vm).ok());
  Status s = dp_->enable_punts(10, 2);
  if (!s.ok() && s.message().find("bridge-nf-call") != std::string::npos)
    GTEST_SKIP() << s.message();
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(dp_->add_port(rtr).ok());
  std::string json;
  // Both ports punt their fail-closed classes with the closed mark, whatever
  // their ifindex or PortSpec::queue.
  ASSERT_TRUE(dp_->run_json("list map bridge v6guard punt_closed", json).ok());
  EXPECT_NE(json.find("[\"tapV\", " + std::to_string(kPuntClosedMark) + "]"), std::string::npos)
      << json;
  EXPECT_NE(json.find("[\"up0\", " + std::to_string(kPuntClosedMark) + "]"), std::string::npos)
      << json;
  EXPECT_EQ(json.find(std::to_string(kPuntTag | 77)), std::string::npos) << json;
  ASSERT_TRUE(dp_->run_json("list map bridge v6guard punt_open", json).ok());
  EXPECT_NE(json.find("[\"tapV\", " + std::to_string(kPuntOpenMark) + "]"), std::string::npos)
      << json;                                     // fail open
  EXPECT_EQ(json.find("up0"), std::string::npos);  // router ports punt RAs only, closed
  // A fail-closed VM port punts everything with the closed mark.
  vm.fail_mode = datapath::FailMode::kClosed;
  ASSERT_TRUE(dp_->add_port(vm).ok());
  ASSERT_TRUE(dp_->run_json("list map bridge v6guard punt_open", json).ok());
  EXPECT_NE(json.find("[\"tapV\", " + std::to_string(kPuntClosedMark) + "]"), std::string::npos)
      << json;
  EXPECT_EQ(json.find(std::to_string(kPuntOpenMark)), std::string::npos) << json;
  auto listed = [] {
    FILE* p = ::popen("ip6tables -w 5 -t raw -S 2>&1", "r");
    std::string rules;
    if (p == nullptr) return rules;
    char line[256];
    while (std::fgets(line, sizeof line, p) != nullptr) rules += line;
    ::pclose(p);
    return rules;
  };
  // What the kernel holds (ip6tables-save's own spelling).
  std::string rules = listed();
  EXPECT_NE(rules.find("--mark 0x76670001/0xffff0007 -j NFQUEUE --queue-balance 10:11 "
                       "--queue-cpu-fanout"),
            std::string::npos)
      << rules;
  EXPECT_NE(rules.find("--mark 0x76670002/0xffff0007 -j NFQUEUE --queue-balance 12:13 "
                       "--queue-bypass --queue-cpu-fanout"),
            std::string::npos)
      << rules;
  // Enabling again (a restarted daemon with another queue count) replaces
  // the rules instead of stacking them.
  ASSERT_TRUE(dp_->enable_punts(10, 1).ok());
  rules = listed();
  EXPECT_NE(rules.find("--mark 0x76670001/0xffff0007 -j NFQUEUE --queue-num 10"), std::string::npos)
      << rules;
  EXPECT_EQ(rules.find("--queue-balance"), std::string::npos) << rules;
  ASSERT_TRUE(dp_->run_json("list map bridge v6guard punt_closed", json).ok());
  EXPECT_NE(json.find("\"up0\""), std::string::npos) << json;
  ASSERT_TRUE(dp_->flush().ok());
  rules = listed();
  EXPECT_EQ(rules.find("V6GUARD"), std::string::npos) << rules;
}

// Captured from `nft -j list chain bridge v6guard pre` (nft 1.0.6): the rule's
// comment comes before its expressions. Older nft put it after them.
constexpr std::string_view kNft106Chain =
    R"({"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", )"
    R"("json_schema_version": 1}}, {"chain": {"family": "bridge", "table": "t", "name": "pre", )"
    R"("handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}}, )"
    R"({"rule": {"family": "bridge", "table": "t", "chain": "pre", "handle": 2, "comment": )"
    R"("ra_from_vm", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": )"
    R"("icmpv6", "field": "type"}}, "right": "nd-router-advert"}}, {"counter": {"packets": 0, )"
    R"("bytes": 0}}, {"drop": null}]}}, {"rule": {"family": "bridge", "table": "t", "chain": )"
    R"("pre", "handle": 3, "comment": "source_not_bound", "expr": [{"match": {"op": "==", )"
    R"("left": {"payload": {"protocol": "ether", "field": "type"}}, "right": "ip6"}}, )"
    R"({"counter": {"packets": 7, "bytes": 560}}, {"drop": null}]}}]})";

// A restarted daemon's inspector enables punts before its ports are added
// again. The previous run's entries must keep punting - fail-closed - until
// then (emptied maps left a VM's NS/NA unjudged for that window), and adding
// the port back must replace them in one batch.
TEST_F(NftDatapathTest, RestartKeepsPuntsFailClosedUntilThePortIsBack) {
  PortSpec vm;
  vm.ifindex = 5;
  vm.ifname = "tapR";
  vm.fail_mode = datapath::FailMode::kOpen;
  vm.flags = V6G_PORT_F_DPI;
  Status s = dp_->enable_punts(10, 1);
  if (!s.ok() && s.message().find("bridge-nf-call") != std::string::npos)
    GTEST_SKIP() << s.message();
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(dp_->add_port(vm).ok());
  auto listing = [&](const char* what) {
    std::string json;
    EXPECT_TRUE(dp_->run_json(std::string("list ") + what, json).ok());
    return json;
  };
  const std::string open_mark = "[\"tapR\", " + std::to_string(kPuntOpenMark) + "]";
  const std::string closed_mark = "[\"tapR\", " + std::to_string(kPuntClosedMark) + "]";
  ASSERT_NE(listing("map bridge v6guard punt_open").find(open_mark), std::string::npos);

  // The restart: a new process, the table kept.
  dp_ = std::make_unique<NftDatapath>();
  ASSERT_TRUE(dp_->init().ok());
  // DPI port of the last run: off the fast path until it is known again.
  EXPECT_NE(listing("map bridge v6guard fast_dispatch").find("fast_guarded"), std::string::npos);
  ASSERT_TRUE(dp_->enable_punts(10, 1).ok());
  EXPECT_NE(listing("map bridge v6guard punt_open").find(closed_mark), std::string::npos)
      << "a port not added back yet punts fail-closed";
  EXPECT_NE(listing("map bridge v6guard punt_closed").find(closed_mark), std::string::npos);
  EXPECT_NE(listing("map bridge v6guard fast_dispatch").find("fast_guarded"), std::string::npos);
  // Added back (fail-open, DPI off now): its own entries replace the
  // leftovers in the same batch, and the fast path is unguarded again.
  vm.flags = 0;
  const Status added = dp_->add_port(vm);
  ASSERT_TRUE(added.ok()) << added.message();
  EXPECT_NE(listing("map bridge v6guard punt_open").find(open_mark), std::string::npos);
  EXPECT_EQ(listing("set bridge v6guard dpi_ports").find("tapR"), std::string::npos);
  EXPECT_EQ(listing("set bridge v6guard inspect_ports").find("tapR"), std::string::npos);
  EXPECT_EQ(listing("map bridge v6guard fast_dispatch").find("fast_guarded"), std::string::npos);
  ASSERT_TRUE(dp_->flush().ok());
}

TEST(NftCounters, CommentBeforeExpressionsAsNft106PrintsIt) {
  const auto by = packets_by_comment(kNft106Chain);
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by.at("ra_from_vm"), 0u);
  EXPECT_EQ(by.at("source_not_bound"), 7u);
}

TEST(NftCounters, CommentAfterExpressionsAndRulesWithoutCommentOrCounter) {
  const std::string_view json =
      R"({"nftables": [{"rule": {"handle": 2, "expr": [{"counter": {"packets": 3, "bytes": 1}}, )"
      R"({"drop": null}], "comment": "punt_rate"}}, {"rule": {"handle": 3, "expr": [{"counter": )"
      R"({"packets": 9, "bytes": 1}}]}}, {"rule": {"handle": 4, "comment": "x", "expr": )"
      R"([{"accept": null}]}}, {"rule": {"handle": 5, "comment": "y", "expr": [{"counter": )"
      R"({"packets": 4, "bytes": 1}}]}}]})";
  const auto by = packets_by_comment(json);
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by.at("punt_rate"), 3u);  // not rule 3's 9, not rule 5's 4
  EXPECT_EQ(by.at("y"), 4u);
}

// Captured from `nft -j list set bridge v6guard port_counts` (nft 1.0.6):
// elements the packet path made carry a counter, one added from userspace
// (restore, or the add half of an idempotent delete) has none.
constexpr std::string_view kNft106PortCounts =
    R"({"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", )"
    R"("json_schema_version": 1}}, {"set": {"family": "bridge", "name": "port_counts", "table": )"
    R"("v6guard", "type": ["ifname", "mark"], "handle": 2, "size": 1048576, "flags": )"
    R"(["dynamic"], "elem": [{"elem": {"val": {"concat": ["vm0", 13]}, "counter": {"packets": )"
    R"(5, "bytes": 245}}}, {"elem": {"val": {"concat": ["vm0", 64]}, "counter": {"packets": 3, )"
    R"("bytes": 147}}}, {"concat": ["vm9", 96]}, {"elem": {"val": {"concat": ["up0", 67]}, )"
    R"("counter": {"packets": 2, "bytes": 1}}}]}}]})";

TEST(NftCounters, PortCountsPerPortAndReason) {
  const auto ports = port_counts_from_json(kNft106PortCounts);
  ASSERT_EQ(ports.size(), 2u);  // vm9's element has no counter
  EXPECT_EQ(ports[0].ifname, "vm0");
  ASSERT_EQ(ports[0].by_reason.size(), 2u);
  EXPECT_EQ(ports[0].by_reason[0], std::make_pair(reason(V6G_R_PUNT), std::uint64_t{5}));
  EXPECT_EQ(ports[0].by_reason[1], std::make_pair(reason(V6G_R_RA_FROM_VM_PORT), std::uint64_t{3}));
  EXPECT_EQ(ports[1].ifname, "up0");
  EXPECT_EQ(ports[1].by_reason.at(0),
            std::make_pair(reason(V6G_R_RA_SOURCE_NOT_ALLOWED), std::uint64_t{2}));
  EXPECT_TRUE(port_counts_from_json(R"({"nftables": [{"set": {"name": "port_counts"}}]})").empty());
}

TEST(NftRuleset, EveryDropAndPuntRuleCountsPerPort) {
  const std::string table = render_table();
  EXPECT_NE(table.find("port_counts { type ifname . mark; flags dynamic; size 1048576; }"),
            std::string::npos);
  // Each counted reason has a rule updating (iifname . reason), placed
  // before the verdict and after the punt map lookups.
  for (const v6g_reason why : counted_reasons())
    EXPECT_NE(table.find("update @port_counts { iifname . " + std::to_string(why) + " counter }"),
              std::string::npos)
        << why;
  EXPECT_NE(table.find("map @punt_vlan update @port_counts { iifname . " +
                       std::to_string(V6G_R_PUNT) + " counter } accept"),
            std::string::npos);
  EXPECT_EQ(
      render_forget_counts("tapA").find("add element bridge v6guard port_counts { \"tapA\" . " +
                                        std::to_string(V6G_R_PUNT) + " }\ndelete element"),
      0u);
}

std::uint64_t count_of(const std::vector<datapath::PortCounters>& ports, const std::string& ifname,
                       v6g_reason why) {
  for (const auto& p : ports)
    if (p.ifname == ifname)
      for (const auto& [r, n] : p.by_reason)
        if (r == why) return n;
  return 0;
}

// Real frames into two VM bridge ports: a DHCPv6 "server" answer (UDP source
// port 547) from one, a router advertisement from the other. Each is dropped
// and counted on its own port under its own reason; removing a port forgets
// its figures, the other port keeps its own.
TEST_F(NftDatapathTest, CountersArePerPortFromRealDrops) {
  std::ofstream("/proc/sys/net/ipv6/conf/default/accept_dad") << "0\n";
  ASSERT_EQ(std::system("ip link add v6gbr0 type bridge && ip link set v6gbr0 up && "
                        "for i in 0 1; do ip link add v6gvm$i type veth peer name v6gvm${i}p && "
                        "ip link set v6gvm$i master v6gbr0 && ip link set v6gvm$i up && "
                        "ip link set v6gvm${i}p up || exit 1; done"),
            0);
  for (const char* name : {"v6gvm0", "v6gvm1"}) {
    PortSpec vm;
    vm.ifindex = if_nametoindex(name);
    vm.ifname = name;
    ASSERT_TRUE(dp_->add_port(vm).ok());
  }
  const int udp = socket(AF_INET6, SOCK_DGRAM, 0);
  ASSERT_GE(udp, 0);
  sockaddr_in6 src{};
  src.sin6_family = AF_INET6;
  src.sin6_port = htons(547);
  ASSERT_EQ(bind(udp, reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
  sockaddr_in6 dhcp{};
  dhcp.sin6_family = AF_INET6;
  dhcp.sin6_port = htons(546);
  dhcp.sin6_scope_id = if_nametoindex("v6gvm0p");
  inet_pton(AF_INET6, "ff02::1:2", &dhcp.sin6_addr);
  // The kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket.
  const int icmp = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
  ASSERT_GE(icmp, 0);
  const int hops = 255;
  ASSERT_EQ(setsockopt(icmp, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops), 0);
  sockaddr_in6 all{};
  all.sin6_family = AF_INET6;
  all.sin6_scope_id = if_nametoindex("v6gvm1p");
  inet_pton(AF_INET6, "ff02::1", &all.sin6_addr);
  const unsigned char ra[16] = {134, 0, 0, 0, 64, 0, 0x07, 0x08};
  std::vector<datapath::PortCounters> counters;
  // Retry while the peers' link-local addresses come up.
  for (int i = 0; i < 50; ++i) {
    const char payload[] = "advertise";
    sendto(udp, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&dhcp), sizeof dhcp);
    sendto(icmp, ra, sizeof ra, 0, reinterpret_cast<sockaddr*>(&all), sizeof all);
    usleep(50'000);
    counters.clear();
    ASSERT_TRUE(dp_->counters(counters).ok());
    if (count_of(counters, "v6gvm0", V6G_R_DHCPV6_SERVER_FROM_VM_PORT) > 0 &&
        count_of(counters, "v6gvm1", V6G_R_RA_FROM_VM_PORT) > 0)
      break;
  }
  close(udp);
  close(icmp);
  EXPECT_GT(count_of(counters, "v6gvm0", V6G_R_DHCPV6_SERVER_FROM_VM_PORT), 0u);
  EXPECT_GT(count_of(counters, "v6gvm1", V6G_R_RA_FROM_VM_PORT), 0u);
  EXPECT_EQ(count_of(counters, "v6gvm0", V6G_R_RA_FROM_VM_PORT), 0u);
  EXPECT_EQ(count_of(counters, "v6gvm1", V6G_R_DHCPV6_SERVER_FROM_VM_PORT), 0u);
  for (const auto& p : counters) {
    EXPECT_NE(p.ifname, "*");  // no all-ports row: every figure belongs to a port
    EXPECT_EQ(p.ifindex, if_nametoindex(p.ifname.c_str())) << p.ifname;
  }
  // The rules' own totals still add up over both ports.
  std::string json;
  ASSERT_TRUE(dp_->run_json("list chain bridge v6guard pre", json).ok());
  EXPECT_EQ(packets_by_comment(json)["ra_from_vm"],
            count_of(counters, "v6gvm1", V6G_R_RA_FROM_VM_PORT));

  ASSERT_TRUE(dp_->remove_port(if_nametoindex("v6gvm0")).ok());
  counters.clear();
  ASSERT_TRUE(dp_->counters(counters).ok());
  EXPECT_EQ(count_of(counters, "v6gvm0", V6G_R_DHCPV6_SERVER_FROM_VM_PORT), 0u);
  EXPECT_GT(count_of(counters, "v6gvm1", V6G_R_RA_FROM_VM_PORT), 0u);
  // An upsert (role change) keeps the figures.
  PortSpec again;
  again.ifindex = if_nametoindex("v6gvm1");
  again.ifname = "v6gvm1";
  again.fail_mode = datapath::FailMode::kOpen;
  ASSERT_TRUE(dp_->add_port(again).ok());
  counters.clear();
  ASSERT_TRUE(dp_->counters(counters).ok());
  EXPECT_GT(count_of(counters, "v6gvm1", V6G_R_RA_FROM_VM_PORT), 0u);
}

TEST(NftRuleset, TaggedBindingsGoToTheVlanSet) {
  Binding tagged = make_binding(3);
  tagged.vlan = 100;
  const Binding both[] = {make_binding(1), tagged};
  EXPECT_EQ(render_bindings(both, true),
            "add element bridge v6guard bindings { \"tap1\" . 02:00:00:00:00:01 . "
            "2600:beef:1000:100::1 }\n"
            "add element bridge v6guard vlan_bindings { \"tap3\" . 100 . 02:00:00:00:00:03 . "
            "2600:beef:1000:100::3 }\n");
  const std::string table = render_table();
  // Untagged frames only against the untagged set, tagged ones with their VLAN.
  const auto bound6 = rules_of(table, "bound6");
  EXPECT_NE(index_of(bound6, "ether type ip6 iifname . ether saddr . ip6 saddr @bindings accept"),
            bound6.size());
  EXPECT_NE(index_of(bound6,
                     "ether type 8021q iifname . vlan id . ether saddr . ip6 saddr "
                     "@vlan_bindings accept"),
            bound6.size());
  // No rule depends on an untagged ether type but the untagged binding check.
  EXPECT_EQ(table.find("ether type ip6"), table.rfind("ether type ip6"));
}

TEST(NftRuleset, BindingsFromBothSetsJson) {
  const auto b = bindings_from_json(
      R"({"nftables": [{"set": {"name": "vlan_bindings", "type": ["ifname", "integer", )"
      R"("ether_addr", "ipv6_addr"], "elem": [{"concat": ["tap3", 100, "02:00:00:00:00:03", )"
      R"("2600:beef:1000:100::3"]}, {"concat": ["tap4", 4096, "02:00:00:00:00:04", "::4"]}]}}, )"
      R"({"set": {"name": "bindings", "elem": [{"concat": ["tap1", "02:00:00:00:00:01", )"
      R"("2600:beef:1000:100::1"]}]}}]})");
  ASSERT_EQ(b.size(), 2u);  // VLAN 4096 is no VLAN id
  Binding want = make_binding(3);
  want.vlan = 100;
  EXPECT_EQ(b[0], want);
  EXPECT_EQ(b[1], make_binding(1));
}

// A frame as a VM trunk port sends it: Ethernet, 0-2 VLAN tags (the outer
// one 802.1ad when there are two), IPv6 to ff02::1 with UDP or ICMPv6 (type).
std::vector<unsigned char> frame(std::vector<std::uint16_t> vlans, const MacAddr& mac,
                                 const Ip6Addr& src, int icmp_type, std::string_view marker) {
  std::vector<unsigned char> f = {0x33, 0x33, 0, 0, 0, 1};
  f.insert(f.end(), mac.bytes.begin(), mac.bytes.end());
  for (std::size_t i = 0; i < vlans.size(); ++i) {
    const bool outer_ad = vlans.size() > 1 && i == 0;
    f.insert(f.end(),
             {static_cast<unsigned char>(outer_ad ? 0x88 : 0x81),
              static_cast<unsigned char>(outer_ad ? 0xa8 : 0x00),
              static_cast<unsigned char>(vlans[i] >> 8), static_cast<unsigned char>(vlans[i])});
  }
  const std::size_t l4 = 8 + marker.size();
  f.insert(f.end(), {0x86, 0xdd, 0x60, 0, 0, 0, 0, static_cast<unsigned char>(l4),
                     static_cast<unsigned char>(icmp_type != 0 ? 58 : 17), 255});
  f.insert(f.end(), src.bytes.begin(), src.bytes.end());
  const auto dst = *Ip6Addr::parse("ff02::1");
  f.insert(f.end(), dst.bytes.begin(), dst.bytes.end());
  if (icmp_type != 0)
    f.insert(f.end(), {static_cast<unsigned char>(icmp_type), 0, 0, 0, 64, 0, 0, 0});
  else
    f.insert(f.end(), {0x0f, 0xa0, 0x0f, 0xa0, 0, static_cast<unsigned char>(l4), 0, 0});
  f.insert(f.end(), marker.begin(), marker.end());
  return f;
}

int packet_socket(const char* ifname) {
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd < 0) return fd;
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends 3 copies of f on tx, returns how many carrying marker reached rx.
int crossed(int tx, int rx, const std::vector<unsigned char>& f, std::string_view marker) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(send(tx, f.data(), f.size(), 0), ssize_t(f.size()));
  usleep(100'000);
  int seen = 0;
  unsigned char buf[2048];
  for (ssize_t n; (n = recv(rx, buf, sizeof buf, 0)) > 0;)
    if (std::string_view(reinterpret_cast<char*>(buf), std::size_t(n)).find(marker) !=
        std::string_view::npos)
      ++seen;
  return seen;
}

// Real tagged frames (a raw AF_PACKET writer plays the VM: this kernel has no
// 8021q for a VLAN subinterface) into a source-guarded VM port. Bindings
// match (port, VLAN, MAC, address) for tagged frames and (port, MAC,
// address) for untagged ones; tagged and QinQ router advertisements are
// dropped like untagged ones; with punts on, a tagged unbound source is
// queued (fail closed, nobody reading) instead of slipping past
// br_netfilter, its VLAN (802.1Q or 802.1ad) in the mark the ip6 hooks see.
TEST_F(NftDatapathTest, TaggedFramesMatchTheirVlanBinding) {
  const PortSpec vm = guarded_pair("v6gbr1", "v6gt");
  ASSERT_FALSE(HasFailure());
  const MacAddr mac = *MacAddr::parse("02:00:00:00:0a:01");
  const Ip6Addr addr = *Ip6Addr::parse("2001:db8:100::a");
  Binding b;
  b.ifindex = vm.ifindex;
  b.ifname = "v6gt0";
  b.vlan = 100;
  b.mac = mac;
  b.addr = addr;
  ASSERT_TRUE(dp_->add_bindings(std::span(&b, 1)).ok());
  std::vector<Binding> listed;
  ASSERT_TRUE(dp_->list_bindings(listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], b);

  const int tx = packet_socket("v6gt0p");
  const int rx = packet_socket("v6gt1p");
  ASSERT_GE(tx, 0);
  ASSERT_GE(rx, 0);
  usleep(200'000);  // let the links settle before counting
  // Sends 3 copies, returns how many reached the other port.
  auto sent = [&](std::vector<std::uint16_t> vlans, int icmp_type, const std::string& marker) {
    return crossed(tx, rx, frame(std::move(vlans), mac, addr, icmp_type, marker), marker);
  };
  auto dropped = [&](v6g_reason why) {
    std::vector<datapath::PortCounters> c;
    EXPECT_TRUE(dp_->counters(c).ok());
    return count_of(c, "v6gt0", why);
  };
  EXPECT_EQ(sent({100}, 0, "tagged-100-bound"), 3);
  EXPECT_EQ(dropped(V6G_R_SOURCE_NOT_BOUND), 0u);
  EXPECT_EQ(sent({200}, 0, "tagged-200"), 0);  // bound on VLAN 100 only
  EXPECT_EQ(dropped(V6G_R_SOURCE_NOT_BOUND), 3u);
  EXPECT_EQ(sent({}, 0, "untagged"), 0);
  EXPECT_EQ(dropped(V6G_R_SOURCE_NOT_BOUND), 6u);
  // An untagged binding of the same address admits untagged frames only.
  Binding untagged = b;
  untagged.vlan = 0;
  ASSERT_TRUE(dp_->add_bindings(std::span(&untagged, 1)).ok());
  EXPECT_EQ(sent({}, 0, "untagged-bound"), 3);
  EXPECT_EQ(sent({200}, 0, "tagged-200-again"), 0);
  // Removing the VLAN binding stops its frames; the untagged one stays.
  ASSERT_TRUE(dp_->remove_bindings(std::span(&b, 1)).ok());
  EXPECT_EQ(sent({100}, 0, "tagged-100-unbound"), 0);
  listed.clear();
  ASSERT_TRUE(dp_->list_bindings(listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], untagged);
  // RA Guard does not depend on the frame being untagged.
  EXPECT_EQ(sent({100}, 134, "tagged-ra"), 0);
  EXPECT_EQ(dropped(V6G_R_RA_FROM_VM_PORT), 3u);
  EXPECT_EQ(sent({300, 400}, 134, "qinq-ra"), 0);
  EXPECT_EQ(dropped(V6G_R_TUNNEL_BLOCKED), 3u);

  // Punts: a tagged unbound source goes to the (unread, fail-closed) queue.
  Status s = dp_->enable_punts(20, 1);
  if (!s.ok() && s.message().find("bridge-nf") != std::string::npos) GTEST_SKIP() << s.message();
  ASSERT_TRUE(s.ok()) << s.message();
  // What the ip6 hooks (and so NFQUEUE) see: counting rules ahead of the
  // V6GUARD jump, one per mark the punts below must carry.
  auto mark_rule = [](std::uint32_t mark, const char* name) {
    char cmd[200];
    std::snprintf(cmd, sizeof cmd,
                  "ip6tables -w 5 -t raw -I PREROUTING 1 -m mark --mark 0x%08x -m comment "
                  "--comment %s",
                  mark, name);
    return std::system(cmd) == 0;
  };
  auto marked = [](const char* name) {
    const std::string cmd = std::string("ip6tables-save -c -t raw | grep -- '--comment ") + name +
                            "' | sed 's/^\\[\\([0-9]*\\):.*/\\1/'";
    FILE* p = ::popen(cmd.c_str(), "r");
    unsigned long n = 0;
    if (p == nullptr || std::fscanf(p, "%lu", &n) != 1) n = ~0ul;
    if (p != nullptr) ::pclose(p);
    return n;
  };
  ASSERT_TRUE(mark_rule(punt_mark(kPuntClosedMark, 200), "vlan200"));
  ASSERT_TRUE(mark_rule(punt_mark(kPuntClosedMark, 300), "ad300"));
  ASSERT_TRUE(mark_rule(kPuntClosedMark, "untagged"));
  const std::uint64_t punts = dropped(V6G_R_PUNT);
  EXPECT_EQ(sent({200}, 0, "tagged-punted"), 0);
  EXPECT_EQ(dropped(V6G_R_PUNT), punts + 3);
  EXPECT_EQ(marked("vlan200"), 3ul);  // the VLAN travels in the mark
  // An 802.1ad (S-)tag is carried the same way (NFQA_VLAN would give it too).
  auto ad = frame({300}, mac, addr, 0, "ad-punted");
  ad[12] = 0x88;
  ad[13] = 0xa8;
  EXPECT_EQ(crossed(tx, rx, ad, "ad-punted"), 0);
  EXPECT_EQ(marked("ad300"), 3ul);
  // An untagged punt keeps the plain class mark.
  EXPECT_EQ(sent({}, 0, "untagged-bound-with-punts"), 3);
  EXPECT_EQ(marked("untagged"), 0ul);
  EXPECT_EQ(
      crossed(tx, rx, frame({}, mac, *Ip6Addr::parse("2001:db8:100::b"), 0, "untagged-punted"),
              "untagged-punted"),
      0);
  EXPECT_EQ(marked("untagged"), 3ul);
  EXPECT_EQ(marked("vlan200"), 3ul);
  EXPECT_EQ(dropped(V6G_R_PUNT), punts + 9);
  EXPECT_EQ(dropped(V6G_R_FAIL_CLOSED), 0u);  // no punt_vlan miss
  close(tx);
  close(rx);
  ASSERT_TRUE(dp_->flush().ok());
}

// An untagged IPv6 UDP frame to ff02::1 from (mac, src), optionally behind a
// hop-by-hop header (PadN) or as a first fragment (M set) - what a VM sends.
enum class Ext { kNone, kHopByHop, kFragment };
std::vector<unsigned char> udp_frame(const MacAddr& mac, const Ip6Addr& src, std::uint16_t sport,
                                     std::uint16_t dport, Ext ext, std::string_view marker) {
  std::vector<unsigned char> f = {0x33, 0x33, 0, 0, 0, 1};
  f.insert(f.end(), mac.bytes.begin(), mac.bytes.end());
  const std::size_t ext_len = ext == Ext::kNone ? 0 : 8;
  const std::size_t udp_len = 8 + marker.size();
  const unsigned char first = ext == Ext::kNone ? 17 : ext == Ext::kHopByHop ? 0 : 44;
  f.insert(f.end(), {0x86, 0xdd, 0x60, 0, 0, 0, 0, static_cast<unsigned char>(ext_len + udp_len),
                     first, 255});
  f.insert(f.end(), src.bytes.begin(), src.bytes.end());
  const auto dst = *Ip6Addr::parse("ff02::1");
  f.insert(f.end(), dst.bytes.begin(), dst.bytes.end());
  if (ext == Ext::kHopByHop) f.insert(f.end(), {17, 0, 1, 4, 0, 0, 0, 0});        // PadN
  if (ext == Ext::kFragment) f.insert(f.end(), {17, 0, 0, 1, 0, 0, 0x12, 0x34});  // offset 0, M
  f.insert(f.end(), {static_cast<unsigned char>(sport >> 8), static_cast<unsigned char>(sport),
                     static_cast<unsigned char>(dport >> 8), static_cast<unsigned char>(dport), 0,
                     static_cast<unsigned char>(udp_len), 0, 0});
  f.insert(f.end(), marker.begin(), marker.end());
  return f;
}

// Real frames from a *bound* source into a source-guarded VM port: plain UDP
// takes the fast path; DHCPv6 server messages (sport 547, or to 546 from an
// ephemeral port as atk6-fake_dhcps6 sends them) and a UDP first fragment
// still meet their drops; with punts on, UDP behind a hop-by-hop header is
// punted (an unread fail-closed queue: it never crosses) instead of taking
// the fast path.
TEST_F(NftDatapathTest, BoundSourcesFastPathOnlyPlainTcpUdp) {
  const PortSpec vm = guarded_pair("v6gbr2", "v6gf");
  ASSERT_FALSE(HasFailure());
  Binding b;
  b.ifindex = vm.ifindex;
  b.ifname = "v6gf0";
  b.mac = *MacAddr::parse("02:00:00:00:0b:01");
  b.addr = *Ip6Addr::parse("2001:db8:100::b");
  ASSERT_TRUE(dp_->add_bindings(std::span(&b, 1)).ok());
  const int tx = packet_socket("v6gf0p");
  const int rx = packet_socket("v6gf1p");
  ASSERT_GE(tx, 0);
  ASSERT_GE(rx, 0);
  usleep(200'000);
  auto count = [&](v6g_reason why) {
    std::vector<datapath::PortCounters> c;
    EXPECT_TRUE(dp_->counters(c).ok());
    return count_of(c, "v6gf0", why);
  };
  auto sent = [&](std::uint16_t sport, std::uint16_t dport, Ext ext, const std::string& marker) {
    return crossed(tx, rx, udp_frame(b.mac, b.addr, sport, dport, ext, marker), marker);
  };
  EXPECT_EQ(sent(4000, 4000, Ext::kNone, "plain-udp"), 3);
  EXPECT_EQ(sent(546, 547, Ext::kNone, "dhcp6-client"), 3);  // a client's solicit
  EXPECT_EQ(sent(40000, 546, Ext::kNone, "fake-dhcps6"), 0);
  EXPECT_EQ(count(V6G_R_DHCPV6_SERVER_FROM_VM_PORT), 3u);
  EXPECT_EQ(sent(547, 40000, Ext::kNone, "dhcp6-server"), 0);
  EXPECT_EQ(count(V6G_R_DHCPV6_SERVER_FROM_VM_PORT), 6u);
  EXPECT_EQ(sent(4000, 4000, Ext::kFragment, "udp-frag"), 0);
  EXPECT_EQ(count(V6G_R_FRAG_FIRST_NO_UPPER), 3u);
  EXPECT_EQ(count(V6G_R_SOURCE_NOT_BOUND), 0u);

  Status s = dp_->enable_punts(30, 1);
  if (!s.ok() && s.message().find("bridge-nf") != std::string::npos) GTEST_SKIP() << s.message();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(sent(4000, 4000, Ext::kHopByHop, "udp-hbh"), 0);
  EXPECT_EQ(count(V6G_R_PUNT), 3u);
  EXPECT_EQ(sent(40000, 546, Ext::kNone, "fake-dhcps6-punts"), 0);
  EXPECT_EQ(count(V6G_R_DHCPV6_SERVER_FROM_VM_PORT), 9u);
  EXPECT_EQ(sent(4000, 4000, Ext::kNone, "plain-udp-punts"), 3);
  EXPECT_EQ(count(V6G_R_PUNT), 3u);  // bound plain UDP is never punted

  // ...unless the port inspects every frame (DPI): chain fast then skips
  // the ports in inspect_ports, and only while there is such a port.
  auto fast_chain = [&] {
    std::string json;
    EXPECT_TRUE(dp_->run_json("list map bridge v6guard fast_dispatch", json).ok());
    return json;
  };
  EXPECT_EQ(fast_chain().find("fast_guarded"), std::string::npos);
  EXPECT_NE(fast_chain().find("bound6_udp"), std::string::npos);
  PortSpec dpi = vm;
  dpi.flags |= V6G_PORT_F_DPI;
  ASSERT_TRUE(dp_->add_port(dpi).ok());
  EXPECT_NE(fast_chain().find("fast_guarded_udp"), std::string::npos);
  sent(4000, 4000, Ext::kNone, "plain-udp-dpi");  // unread queue: delivery not asserted
  EXPECT_EQ(count(V6G_R_PUNT), 6u);
  ASSERT_TRUE(dp_->add_port(vm).ok());  // DPI off again
  EXPECT_EQ(fast_chain().find("fast_guarded"), std::string::npos);
  EXPECT_EQ(sent(4000, 4000, Ext::kNone, "plain-udp-fast-again"), 3);
  EXPECT_EQ(count(V6G_R_PUNT), 6u);
  close(tx);
  close(rx);
  ASSERT_TRUE(dp_->flush().ok());
}

}  // namespace
}  // namespace v6g::nft
