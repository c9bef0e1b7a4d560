// Real captures (scripts/capture-fixtures.sh): what thc-ipv6, ipv6toolkit,
// radvd, ndisc6 and the kernel actually put on the wire, read with the pcap
// reader, and the exact verdict for every frame.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "packet/packet.h"
#include "packet/pcap_reader.h"

namespace v6g::packet {
namespace {

// "router_advert" for a clean parse, "drop:<reason>" for a rejection.
std::string verdict(const PcapFrame& f) {
  const auto r = parse_frame(f.data);
  if (!r.ok()) return "drop:" + std::string(reason_name(r.error()));
  return std::string(packet_class_name(r->klass));
}

std::vector<std::string> verdicts(const std::string& name) {
  const auto file = read_pcap(std::string(V6G_TEST_DATA) + "/pcap/" + name + ".pcap");
  EXPECT_TRUE(file.ok()) << file.error;
  std::vector<std::string> out;
  for (const auto& f : file.frames) out.push_back(verdict(f));
  return out;
}

using V = std::vector<std::string>;
const std::string kTail = "fragment_tail";

// RA Guard evasions (RFC 7113 / RFC 6980): every shape that hides the RA or
// fragments it is dropped on the first fragment; the rest are tails.
TEST(PacketPcap, ThcFakeRouter26Evasions) {
  // Plain: the receiver's own MLDv2 reports surround the RA.
  EXPECT_EQ(verdicts("fake_router26_plain"), (V{"mld", "router_advert", "mld"}));
  // -E H: a hop-by-hop header of Pad1 before the RA: visible, a normal RA.
  EXPECT_EQ(verdicts("fake_router26_E_H"), V{"router_advert"});
  // -E 1 (thc-ipv6 3.8 on Debian 12) emits a plain RA without a fragment header.
  EXPECT_EQ(verdicts("fake_router26_E_1"), V{"router_advert"});
  // -E D: 1232-byte first fragment ends inside a big destination-options header.
  EXPECT_EQ(verdicts("fake_router26_E_D"), (V{"drop:frag_first_no_upper", kTail}));
  // -E F: FRAG, DSTOPT, RH0, DSTOPT, RH0 fill the first fragment; the ICMPv6
  // header starts in the second.
  EXPECT_EQ(verdicts("fake_router26_E_F"), (V{"drop:frag_first_no_upper", kTail, kTail}));
  // -E o: a 1216-byte destination-options header (beyond the 1024-byte chain
  // limit) and overlapping fragments; the second overlaps the first at 1216.
  EXPECT_EQ(verdicts("fake_router26_E_o"), (V{"drop:exthdr_too_long", kTail}));
}

TEST(PacketPcap, Ipv6ToolkitRa6) {
  EXPECT_EQ(verdicts("ra6_plain"), V{"router_advert"});
  EXPECT_EQ(verdicts("ra6_u8"), V{"router_advert"});  // 8-byte dest opts, RA visible
  EXPECT_EQ(verdicts("ra6_H8"), V{"router_advert"});  // 8-byte hop-by-hop, RA visible
  // -y 8: seven 8-byte fragments; the first carries the RA type: RFC 6980.
  EXPECT_EQ(verdicts("ra6_y8"),
            (V{"drop:nd_in_fragment", kTail, kTail, kTail, kTail, kTail, kTail}));
  // -U 8 -y 64: unfragmentable dest opts, then an atomic fragment holding the
  // whole RA (ra6 refuses -U without -y): RFC 6980 covers atomic fragments.
  EXPECT_EQ(verdicts("ra6_U8_y64"), V{"drop:nd_in_fragment"});
  // -u 1500 -y 1280: the 1500-byte dest opts can't fit the first fragment.
  EXPECT_EQ(verdicts("ra6_u1500_y1280"), (V{"drop:frag_first_no_upper", kTail}));
}

TEST(PacketPcap, RadvdAdvertisesEverything) {
  const auto file = read_pcap(std::string(V6G_TEST_DATA) + "/pcap/radvd.pcap");
  ASSERT_TRUE(file.ok()) << file.error;
  int ras = 0;
  for (const auto& f : file.frames) {
    const auto r = parse_frame(f.data);
    ASSERT_TRUE(r.ok()) << reason_name(r.error());
    if (r->klass != PacketClass::kRouterAdvert) {
      EXPECT_EQ(r->klass, PacketClass::kMld);
      continue;
    }
    ++ras;
    const auto& ra = std::get<RouterAdvert>(r->message);
    EXPECT_EQ(r->ip.hop_limit, 255);
    EXPECT_TRUE(r->ip.src.is_link_local());
    ASSERT_TRUE(ra.options.has_slla);
    EXPECT_EQ(ra.options.slla.to_string(), "02:00:00:00:00:01");
    EXPECT_EQ(ra.options.slla, r->eth.src);
    EXPECT_TRUE(ra.options.has_mtu);
    EXPECT_EQ(ra.options.mtu, 1500U);
    ASSERT_EQ(ra.options.prefixes.size, 1);
    EXPECT_EQ(ra.options.prefixes.items[0].prefix.to_string(), "2001:db8:1::/64");
    ASSERT_EQ(ra.options.routes.size, 1);
    EXPECT_EQ(ra.options.routes.items[0].prefix.to_string(), "2001:db8:2::/48");
    EXPECT_EQ(ra.options.routes.items[0].preference, 1);  // high
    ASSERT_EQ(ra.options.rdnss.size, 1);
    EXPECT_EQ(ra.options.rdnss.items[0].to_string(), "2001:db8::53");
    EXPECT_TRUE(ra.options.has_dnssl);
  }
  EXPECT_EQ(ras, 2);
}

TEST(PacketPcap, HostNdMldAndPing) {
  EXPECT_EQ(verdicts("rdisc6_rs"), V{"router_solicit"});
  EXPECT_EQ(verdicts("ndisc6_ns_na"), (V{"neighbor_solicit", "neighbor_advert"}));
  EXPECT_EQ(verdicts("ping6"), (V{"neighbor_solicit", "neighbor_advert", "icmpv6_other",
                                  "icmpv6_other", "icmpv6_other", "icmpv6_other"}));
  const auto file = read_pcap(std::string(V6G_TEST_DATA) + "/pcap/mld_dad.pcap");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file.frames.size(), 1U);
  const auto r = parse_frame(file.frames[0].data);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ext.router_alert);
  EXPECT_EQ(std::get<Mld>(r->message).version, 2);
  EXPECT_EQ(std::get<Mld>(r->message).records, 2);

  const auto na = read_pcap(std::string(V6G_TEST_DATA) + "/pcap/ndisc6_ns_na.pcap");
  const auto parsed = parse_frame(na.frames.at(1).data);
  ASSERT_TRUE(parsed.ok());
  const auto& adv = std::get<NeighborAdvert>(parsed->message);
  EXPECT_TRUE(adv.solicited);
  EXPECT_EQ(adv.target.to_string(), "fe80::ff:fe00:2");
}

// The in-place form gives the same verdicts and leaves nothing behind from
// the previous packet when a ParsedPacket is reused.
TEST(PacketPcap, ParseIntoMatchesParseFrame) {
  ParsedPacket reused;
  int frames = 0;
  for (const char* n : {"radvd", "fake_router26_E_F", "ra6_y8", "ndisc6_ns_na", "ping6", "mld_dad",
                        "fake_router26_E_D", "radvd"}) {
    const auto file = read_pcap(std::string(V6G_TEST_DATA) + "/pcap/" + n + ".pcap");
    ASSERT_TRUE(file.ok());
    for (const auto& f : file.frames) {
      ++frames;
      const auto r = parse_frame(f.data);
      const Reason why = parse_frame_into(f.data, reused);
      ASSERT_EQ(raw(why), raw(r.ok() ? reason(V6G_R_NONE) : r.error())) << n;
      if (!r.ok()) continue;
      EXPECT_EQ(reused.klass, r->klass);
      EXPECT_EQ(reused.message.index(), r->message.index());
      EXPECT_EQ(reused.ext.count, r->ext.count);
      EXPECT_EQ(reused.upper.offset, r->upper.offset);
    }
    const auto ip = parse_ipv6_into(std::span(file.frames.at(0).data).subspan(14), reused);
    const auto ref = parse_ipv6(std::span(file.frames.at(0).data).subspan(14));
    EXPECT_EQ(raw(ip), raw(ref.ok() ? reason(V6G_R_NONE) : ref.error())) << n;
  }
  EXPECT_GT(frames, 20);
}

TEST(PacketPcap, MissingFileIsAnError) { EXPECT_FALSE(read_pcap("/nonexistent/v6g.pcap").ok()); }

// tcpdump -i any writes Linux cooked captures; they become Ethernet frames
// with the recorded source MAC.
TEST(PacketPcap, LinuxCookedCaptureBecomesEthernet) {
  const auto eth = read_pcap(std::string(V6G_TEST_DATA) + "/pcap/rdisc6_rs.pcap");
  ASSERT_TRUE(eth.ok());
  const auto& frame = eth.frames.at(0).data;
  char path[] = "/tmp/v6g-sll-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  pcap_t* dead = pcap_open_dead(DLT_LINUX_SLL, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(dead, path);
  ASSERT_NE(dumper, nullptr);
  std::vector<std::uint8_t> sll = {0, 4, 0, 1, 0, 6};  // outgoing, ARPHRD_ETHER, halen 6
  for (int i = 6; i < 12; ++i) sll.push_back(std::to_integer<std::uint8_t>(frame[i]));
  sll.insert(sll.end(), {0, 0, 0x86, 0xdd});
  for (std::size_t i = 14; i < frame.size(); ++i)
    sll.push_back(std::to_integer<std::uint8_t>(frame[i]));
  pcap_pkthdr hdr{};
  hdr.caplen = hdr.len = static_cast<bpf_u_int32>(sll.size());
  pcap_dump(reinterpret_cast<u_char*>(dumper), &hdr, sll.data());
  pcap_dump_close(dumper);
  pcap_close(dead);

  const auto cooked = read_pcap(path);
  unlink(path);
  ASSERT_TRUE(cooked.ok()) << cooked.error;
  ASSERT_EQ(cooked.frames.size(), 1U);
  const auto r = parse_frame(cooked.frames[0].data);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_EQ(r->klass, PacketClass::kRouterSolicit);
  EXPECT_EQ(r->eth.src.to_string(), "02:00:00:00:00:01");
}

}  // namespace
}  // namespace v6g::packet
