// The inspector's pure half on real frames: an NFQNL_MSG_PACKET built the way
// the kernel builds it (ip6 family through br_netfilter, and the bridge family
// of the module's hook) -> parse_packet_message -> inspect -> guard verdict.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "guard/engine.h"
#include "inspector/nfq_packet.h"
#include "nft/punt_mark.h"
#include "packet/packet.h"
#include "test_frames.h"

namespace v6g::inspector {
namespace {

using guard::PortId;

using namespace v6g::test_frames;  // NOLINT

MacAddr mac(const char* s) { return *MacAddr::parse(s); }

struct MsgSpec {
  std::uint8_t family = AF_INET6;
  std::uint16_t queue = 3;
  std::uint32_t id = 42;
  std::uint32_t indev = 2;  // the bridge
  std::uint32_t physindev = 10;
  bool hwaddr = true;
  bool l2hdr = false;
  int vlan = -1;
  std::uint32_t skb_info = 0;
  std::int64_t mark = -1;  // NFQA_MARK (skb->mark) when >= 0
};

// Builds the message nfqnl_build_packet_message would send for `frame`.
std::vector<char> build(const std::vector<std::uint8_t>& frame, const MsgSpec& s) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
  auto* gen = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  gen->nfgen_family = s.family;
  gen->version = NFNETLINK_V0;
  gen->res_id = htons(s.queue);
  nfqnl_msg_packet_hdr ph{};
  ph.packet_id = htonl(s.id);
  ph.hw_protocol = htons(0x86dd);
  ph.hook = 0;
  mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof ph, &ph);
  mnl_attr_put_u32(nlh, NFQA_IFINDEX_INDEV, htonl(s.indev));
  if (s.physindev != 0) mnl_attr_put_u32(nlh, NFQA_IFINDEX_PHYSINDEV, htonl(s.physindev));
  if (s.hwaddr) {
    nfqnl_msg_packet_hw hw{};
    hw.hw_addrlen = htons(6);
    std::memcpy(hw.hw_addr, frame.data() + 6, 6);
    mnl_attr_put(nlh, NFQA_HWADDR, sizeof hw, &hw);
  }
  if (s.vlan >= 0) {
    nlattr* nest = mnl_attr_nest_start(nlh, NFQA_VLAN);
    mnl_attr_put_u16(nlh, NFQA_VLAN_PROTO, htons(0x8100));
    mnl_attr_put_u16(nlh, NFQA_VLAN_TCI, htons(static_cast<std::uint16_t>(s.vlan)));
    mnl_attr_nest_end(nlh, nest);
  }
  if (s.l2hdr) mnl_attr_put(nlh, NFQA_L2HDR, 14, frame.data());
  if (s.skb_info != 0) mnl_attr_put_u32(nlh, NFQA_SKB_INFO, htonl(s.skb_info));
  if (s.mark >= 0) mnl_attr_put_u32(nlh, NFQA_MARK, htonl(static_cast<std::uint32_t>(s.mark)));
  mnl_attr_put(nlh, NFQA_PAYLOAD, frame.size() - 14, frame.data() + 14);
  buf.resize(nlh->nlmsg_len);
  return buf;
}

const nlmsghdr* hdr(const std::vector<char>& buf) {
  return reinterpret_cast<const nlmsghdr*>(buf.data());
}

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    guard::PortPolicy p;
    p.port = 10;
    p.mac = mac("02:00:00:00:00:0a");
    p.allocated_prefixes = {*Ip6Prefix::parse("2001:db8:a::/64")};
    ASSERT_TRUE(engine_.upsert_port(p, now_, fx_));
  }
  // Port 12: an access port on VLAN 100 (the VLAN tests).
  void add_access_port_12_on_vlan_100() {
    guard::PortPolicy p;
    p.port = 12;
    p.vlan = 100;
    p.allocated_prefixes = {*Ip6Prefix::parse("2001:db8:a::/64")};
    ASSERT_TRUE(engine_.upsert_port(p, now_, fx_));
  }
  guard::Decision run(const std::vector<std::uint8_t>& frame, const MsgSpec& spec = {}) {
    const auto msg = build(frame, spec);
    NfqPacket pkt;
    EXPECT_TRUE(parse_packet_message(hdr(msg), pkt));
    return inspect(engine_, pkt, now_, fx_, scratch_);
  }
  guard::Engine engine_;
  guard::Effects fx_;
  guard::Nanos now_ = 100 * guard::kSecond;
  packet::ParsedPacket scratch_;
};

TEST(NfqPacket, AttributesAreRead) {
  MsgSpec s;
  s.vlan = 0x2064;  // priority 1, VID 100
  s.l2hdr = true;
  s.skb_info = NFQA_SKB_CSUMNOTREADY;
  const auto msg = build(kDadNs, s);
  NfqPacket pkt;
  ASSERT_TRUE(parse_packet_message(hdr(msg), pkt));
  EXPECT_EQ(pkt.queue, 3);
  EXPECT_EQ(pkt.id, 42u);
  EXPECT_EQ(pkt.family, AF_INET6);
  EXPECT_EQ(pkt.indev, 2u);
  EXPECT_EQ(pkt.port(), 10u);
  EXPECT_TRUE(pkt.has_hwaddr);
  EXPECT_EQ(pkt.source_mac(), mac("02:00:00:00:00:0a"));
  EXPECT_TRUE(pkt.has_l2);
  EXPECT_EQ(pkt.l2_dst, mac("33:33:ff:00:00:05"));
  EXPECT_TRUE(pkt.has_vlan);
  EXPECT_EQ(pkt.vlan_tci & 0xfff, 100);
  EXPECT_EQ(pkt.skb_info, static_cast<std::uint32_t>(NFQA_SKB_CSUMNOTREADY));
  EXPECT_EQ(pkt.payload.size(), kDadNs.size() - 14);
}

TEST(NfqPacket, NotAPacketOrNoHeader) {
  std::vector<char> buf(256);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG;
  mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg));
  NfqPacket pkt;
  EXPECT_FALSE(parse_packet_message(nlh, pkt));
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
  EXPECT_FALSE(parse_packet_message(nlh, pkt));  // no NFQA_PACKET_HDR
  EXPECT_EQ(pkt.id, 0u);
}

TEST(NfqPacket, TruncatedAttributeIsRejected) {
  auto msg = build(kDadNs, {});
  // Shrink NFQA_PACKET_HDR's length below its struct: validation must fail.
  auto* nlh = reinterpret_cast<nlmsghdr*>(msg.data());
  auto* first = static_cast<nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
  ASSERT_EQ(mnl_attr_get_type(first), NFQA_PACKET_HDR);
  first->nla_len = 4 + 2;
  NfqPacket pkt;
  EXPECT_FALSE(parse_packet_message(nlh, pkt));
}

TEST_F(InspectTest, Ip6FamilyDadLearnsThenDataPasses) {
  auto d = run(kDadNs);
  EXPECT_EQ(d.verdict, guard::Verdict::kAccept);
  now_ += 2 * guard::kSecond;
  engine_.tick(now_, fx_);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].kind, guard::BindingChange::Kind::kAdd);
  EXPECT_EQ(fx_.bindings[0].binding.addr, *Ip6Addr::parse("2001:db8:a::5"));
  EXPECT_EQ(fx_.bindings[0].binding.mac, mac("02:00:00:00:00:0a"));
  EXPECT_EQ(run(kUdpFromBound).verdict, guard::Verdict::kAccept);
  // Parasite NA for the bound address from another VM port: dropped.
  guard::PortPolicy b;
  b.port = 11;
  b.mac = mac("02:00:00:00:00:0b");
  ASSERT_TRUE(engine_.upsert_port(b, now_, fx_));
  MsgSpec other;
  other.physindev = 11;
  EXPECT_EQ(run(kNaParasite, other).reason, V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  // The same NA on the owner's port, but from another MAC: the port's MAC check.
  EXPECT_EQ(run(kNaParasite).reason, V6G_R_ETH_SOURCE_MAC_MISMATCH);
}

TEST_F(InspectTest, DataFromUnboundSourceIsDropped) {
  const auto d = run(kUdpFromBound);
  EXPECT_EQ(d.verdict, guard::Verdict::kDrop);
  EXPECT_EQ(d.reason, V6G_R_SOURCE_NOT_BOUND);
}

TEST_F(InspectTest, MissingHardwareAddressFailsClosed) {
  MsgSpec s;
  s.hwaddr = false;
  EXPECT_EQ(run(kDadNs, s).reason, V6G_R_ETH_SOURCE_MAC_MISMATCH);
}

TEST_F(InspectTest, BridgeFamilyTakesMacFromL2Header) {
  MsgSpec s;
  s.family = AF_BRIDGE;
  s.indev = 10;     // bridge family: the port is the input device...
  s.physindev = 0;  // ...when no physindev is reported
  s.hwaddr = false;
  s.l2hdr = true;
  EXPECT_EQ(run(kDadNs, s).verdict, guard::Verdict::kAccept);
  EXPECT_EQ(run(kRaFromVm, s).reason, V6G_R_RA_FROM_VM_PORT);
}

TEST_F(InspectTest, VlanComesFromTheAttribute) {
  add_access_port_12_on_vlan_100();
  ASSERT_FALSE(HasFatalFailure());
  MsgSpec s;
  s.physindev = 12;
  s.vlan = 200;  // tagged with another VLAN than the (access) port's
  EXPECT_EQ(run(kDadNs, s).reason, V6G_R_SOURCE_VLAN_MISMATCH);
  s.vlan = 0x2064;  // priority 1, VID 100: the TCI's VID is what counts
  EXPECT_EQ(run(kDadNs, s).verdict, guard::Verdict::kAccept);
}

// The nft datapath's punts arrive as ip6-family packets without NFQA_VLAN;
// the bridge table wrote the frame's VLAN into the punt mark.
TEST(NfqPacket, OuterVlanFromTheAttributeOrTheIp6PuntMark) {
  auto outer = [](const MsgSpec& s) {
    const auto msg = build(kDadNs, s);
    NfqPacket pkt;
    EXPECT_TRUE(parse_packet_message(hdr(msg), pkt));
    return pkt.outer_vlan();
  };
  MsgSpec s;
  EXPECT_EQ(outer(s), std::nullopt);  // no mark, no attribute: untagged
  s.mark = nft::punt_mark(nft::kPuntOpenMark, 10);
  {
    const auto msg = build(kDadNs, s);
    NfqPacket pkt;
    ASSERT_TRUE(parse_packet_message(hdr(msg), pkt));
    EXPECT_TRUE(pkt.has_mark);
    EXPECT_EQ(pkt.mark, 0x766700aau);
    EXPECT_FALSE(pkt.has_vlan);
  }
  EXPECT_EQ(outer(s), 10);
  s.mark = nft::punt_mark(nft::kPuntClosedMark, 4095);
  EXPECT_EQ(outer(s), 4095);
  s.mark = nft::punt_mark(nft::kPuntClosedMark, 0);  // priority tag: tagged, VID 0
  EXPECT_EQ(outer(s), 0);
  s.mark = nft::kPuntClosedMark;  // an untagged punt
  EXPECT_EQ(outer(s), std::nullopt);
  s.mark = 0x000000aa;  // a host mark, not ours: says nothing about a VLAN
  EXPECT_EQ(outer(s), std::nullopt);
  s.mark = nft::punt_mark(nft::kPuntOpenMark, 10);
  s.vlan = 0x2014;  // NFQA_VLAN wins (VID 20)
  EXPECT_EQ(outer(s), 20);
  s.vlan = -1;
  s.family = AF_BRIDGE;  // the module's packets: only NFQA_VLAN counts
  EXPECT_EQ(outer(s), std::nullopt);
}

// The same checks as VlanComesFromTheAttribute, with the VLAN in the mark of
// an ip6-family packet: the nft datapath's trunk frames are judged in their
// VLAN, and a binding is learnt in it.
TEST_F(InspectTest, VlanComesFromThePuntMarkOnTheIp6Family) {
  add_access_port_12_on_vlan_100();
  ASSERT_FALSE(HasFatalFailure());
  MsgSpec s;
  s.physindev = 12;
  s.mark = nft::punt_mark(nft::kPuntOpenMark, 200);
  EXPECT_EQ(run(kDadNs, s).reason, V6G_R_SOURCE_VLAN_MISMATCH);
  s.mark = nft::punt_mark(nft::kPuntOpenMark, 100);
  EXPECT_EQ(run(kDadNs, s).verdict, guard::Verdict::kAccept);
  EXPECT_EQ(scratch_.eth.vlan_id, 100);
  EXPECT_TRUE(scratch_.eth.vlan_tagged);
  fx_.clear();
  now_ += 2 * guard::kSecond;
  engine_.tick(now_, fx_);
  ASSERT_EQ(fx_.bindings.size(), 1u);
  EXPECT_EQ(fx_.bindings[0].binding.addr, *Ip6Addr::parse("2001:db8:a::5"));
  EXPECT_EQ(fx_.bindings[0].binding.ifindex, 12u);
}

// ND inspection keeps VLANs apart on the nft datapath: an address bound on
// VLAN 10 can't be claimed by another VLAN-10 port, while the same address on
// VLAN 20 is another binding. Before the mark carried the VLAN, a tagged
// punt counted as untagged, i.e. in the port's own VLAN: port 14's frame
// tagged 10 passed as VLAN 20.
TEST_F(InspectTest, PuntMarkVlansKeepTheSameAddressApart) {
  for (const auto& [port, vlan] : {std::pair<PortId, std::uint16_t>{12, 10}, {13, 10}, {14, 20}}) {
    guard::PortPolicy p;
    p.port = port;
    p.vlan = vlan;
    p.allocated_prefixes = {*Ip6Prefix::parse("2001:db8:a::/64")};
    ASSERT_TRUE(engine_.upsert_port(p, now_, fx_));
  }
  MsgSpec s;
  s.physindev = 12;
  s.mark = nft::punt_mark(nft::kPuntOpenMark, 10);
  ASSERT_EQ(run(kDadNs, s).verdict, guard::Verdict::kAccept);
  now_ += 2 * guard::kSecond;
  engine_.tick(now_, fx_);
  // Another port of VLAN 10 claims it: refused.
  s.physindev = 13;
  EXPECT_EQ(run(kDadNs, s).reason, V6G_R_ND_TARGET_BOUND_ELSEWHERE);
  // A port of VLAN 20 may hold the same address in its own VLAN.
  s.physindev = 14;
  s.mark = nft::punt_mark(nft::kPuntOpenMark, 20);
  EXPECT_EQ(run(kDadNs, s).verdict, guard::Verdict::kAccept);
  // ...and port 14 may not speak VLAN 10 by tagging its frames.
  s.mark = nft::punt_mark(nft::kPuntOpenMark, 10);
  EXPECT_EQ(run(kDadNs, s).reason, V6G_R_SOURCE_VLAN_MISMATCH);
}

TEST_F(InspectTest, UnknownPortIsDropped) {
  MsgSpec s;
  s.physindev = 99;
  EXPECT_EQ(run(kDadNs, s).reason, V6G_R_PORT_UNKNOWN);
}

TEST_F(InspectTest, ParseRejectionBecomesADropWithTheParserReason) {
  const auto d = run(kRaFirstFragNoUpper);
  EXPECT_EQ(d.verdict, guard::Verdict::kDrop);
  EXPECT_EQ(d.reason, V6G_R_FRAG_FIRST_NO_UPPER);
}

TEST_F(InspectTest, ChecksumLeftToOffloadIsCompletedOnlyWhenTheKernelSaysSo) {
  auto frame = kDadNs;
  frame[14 + 40 + 2] ^= 0x5a;  // break the ICMPv6 checksum
  EXPECT_EQ(run(frame).reason, V6G_R_ICMPV6_CHECKSUM);
  MsgSpec s;
  s.skb_info = NFQA_SKB_CSUMNOTREADY;
  EXPECT_EQ(run(frame, s).verdict, guard::Verdict::kAccept);
}

TEST(Checksum, FillMatchesTheSenderSum) {
  std::vector<std::byte> pkt(reinterpret_cast<const std::byte*>(kDadNs.data()) + 14,
                             reinterpret_cast<const std::byte*>(kDadNs.data()) + kDadNs.size());
  const auto want = std::vector<std::byte>(pkt);
  pkt[42] = std::byte{0};
  pkt[43] = std::byte{0};
  fill_icmpv6_checksum(pkt, 40);
  EXPECT_EQ(pkt, want);
}

}  // namespace
}  // namespace v6g::inspector
