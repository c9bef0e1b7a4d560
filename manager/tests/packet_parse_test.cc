// Parser fixtures: frames built byte by byte (Ethernet, IPv6, extension
// headers, ICMPv6 with a real checksum), one good and one bad per rule; every
// rejection asserts its exact uapi reason.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "packet/packet.h"

namespace v6g::packet {
namespace {

using Buf = std::vector<std::uint8_t>;

Buf addr(const char* text) {
  auto a = Ip6Addr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return Buf(a->bytes.begin(), a->bytes.end());
}

void append(Buf& b, const Buf& more) { b.insert(b.end(), more.begin(), more.end()); }
void put16(Buf& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(Buf& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}

std::uint16_t icmp_checksum(const Buf& src, const Buf& dst, const Buf& msg) {
  std::uint64_t sum = 0;
  auto words = [&sum](const Buf& b) {
    for (std::size_t i = 0; i < b.size(); i += 2)
      sum += static_cast<std::uint32_t>(b[i] << 8) | (i + 1 < b.size() ? b[i + 1] : 0U);
  };
  words(src);
  words(dst);
  sum += msg.size() + 58;
  words(msg);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

struct Frame {
  Buf dst = addr("ff02::1");
  Buf src = addr("fe80::1");
  std::uint8_t hop_limit = 255;
  Buf ext;                     // extension headers, already chained
  std::uint8_t first_nh = 58;  // next header in the IPv6 header
  std::uint8_t upper_nh = 58;  // protocol of `upper` (for the checksum)
  Buf upper;                   // upper-layer bytes
  bool fix_checksum = true;
  Buf vlan;  // tag bytes inserted after the MACs
  int payload_len_delta = 0;
  std::size_t padding = 0;

  std::vector<std::byte> bytes() {
    if (upper_nh == 58 && fix_checksum && upper.size() >= 4) {
      upper[2] = upper[3] = 0;
      const auto c = icmp_checksum(src, dst, upper);
      upper[2] = static_cast<std::uint8_t>(c >> 8);
      upper[3] = static_cast<std::uint8_t>(c);
    }
    Buf f = {0x33, 0x33, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 0x01};
    append(f, vlan);
    put16(f, 0x86dd);
    put32(f, 0x60000000);
    put16(f, static_cast<std::uint16_t>(static_cast<int>(ext.size() + upper.size()) +
                                        payload_len_delta));
    f.push_back(ext.empty() ? upper_nh : first_nh);
    f.push_back(hop_limit);
    append(f, src);
    append(f, dst);
    append(f, ext);
    append(f, upper);
    f.resize(f.size() + padding, 0);
    std::vector<std::byte> out(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) out[i] = std::byte{f[i]};
    return out;
  }
};

Buf slla(std::uint8_t last = 1) { return {1, 1, 0x02, 0, 0, 0, 0, last}; }

Buf ra_body(std::initializer_list<Buf> options = {}) {
  Buf b = {134, 0, 0, 0, 64, 0x08 /* prf high */, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
  for (const auto& o : options) append(b, o);
  return b;
}
Buf prefix_info(const char* prefix, std::uint8_t len) {
  Buf b = {3, 4, len, 0xc0};
  put32(b, 86400);
  put32(b, 14400);
  put32(b, 0);
  append(b, addr(prefix));
  return b;
}
Buf ns_body(const char* target, std::initializer_list<Buf> options = {}) {
  Buf b = {135, 0, 0, 0, 0, 0, 0, 0};
  append(b, addr(target));
  for (const auto& o : options) append(b, o);
  return b;
}
Buf na_body(const char* target, std::uint8_t flags, std::initializer_list<Buf> options = {}) {
  Buf b = {136, 0, 0, 0, flags, 0, 0, 0};
  append(b, addr(target));
  for (const auto& o : options) append(b, o);
  return b;
}
Buf frag_hdr(std::uint8_t nh, std::uint16_t offset_units, bool more, std::uint32_t id = 7) {
  Buf b = {nh, 0};
  put16(b, static_cast<std::uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  put32(b, id);
  return b;
}
Buf opts_hdr(std::uint8_t nh, std::size_t units = 0) {  // PadN-filled, (units+1)*8 bytes
  Buf b = {nh, static_cast<std::uint8_t>(units), 1, static_cast<std::uint8_t>(units * 8 + 4)};
  b.resize((units + 1) * 8, 0);
  return b;
}
Buf hbh_router_alert(std::uint8_t nh) { return {nh, 0, 5, 2, 0, 0, 1, 0}; }

Result<ParsedPacket> parse(Frame f) {
  const auto b = f.bytes();
  return parse_frame(b);
}

#define EXPECT_REJECT(frame, why)                               \
  do {                                                          \
    const auto r_ = parse(frame);                               \
    ASSERT_FALSE(r_.ok()) << "expected " #why;                  \
    EXPECT_EQ(raw(r_.error()), why) << reason_name(r_.error()); \
  } while (0)

TEST(PacketParse, GoodRouterAdvertWithAllOptions) {
  Frame f;
  Buf mtu = {5, 1, 0, 0};
  put32(mtu, 1500);
  Buf rdnss = {25, 3, 0, 0};
  put32(rdnss, 600);
  append(rdnss, addr("2001:db8::53"));
  Buf route = {24, 2, 48, 0x08};
  put32(route, 1800);
  append(route, Buf{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0});
  Buf dnssl = {31, 2, 0, 0, 0, 0, 0, 0, 3, 'l', 'a', 'b', 0, 0, 0, 0};
  Buf unknown = {200, 1, 0, 0, 0, 0, 0, 0};
  f.upper = ra_body({slla(9), mtu, prefix_info("2001:db8:1::", 64), rdnss, route, dnssl, unknown});
  const auto r = parse(f);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_EQ(r->klass, PacketClass::kRouterAdvert);
  const auto& ra = std::get<RouterAdvert>(r->message);
  EXPECT_EQ(ra.cur_hop_limit, 64);
  EXPECT_EQ(ra.preference, RouterPreference::kHigh);
  EXPECT_EQ(ra.router_lifetime, 0x0708);
  ASSERT_TRUE(ra.options.has_slla);
  EXPECT_EQ(ra.options.slla.to_string(), "02:00:00:00:00:09");
  EXPECT_EQ(ra.options.mtu, 1500U);
  ASSERT_EQ(ra.options.prefixes.size, 1);
  EXPECT_EQ(ra.options.prefixes.items[0].prefix.to_string(), "2001:db8:1::/64");
  EXPECT_TRUE(ra.options.prefixes.items[0].on_link);
  EXPECT_TRUE(ra.options.prefixes.items[0].autonomous);
  EXPECT_EQ(ra.options.prefixes.items[0].valid_lifetime, 86400U);
  ASSERT_EQ(ra.options.rdnss.size, 1);
  EXPECT_EQ(ra.options.rdnss.items[0].to_string(), "2001:db8::53");
  EXPECT_EQ(ra.options.rdnss_lifetime, 600U);
  ASSERT_EQ(ra.options.routes.size, 1);
  EXPECT_EQ(ra.options.routes.items[0].prefix.to_string(), "2001:db8:1::/48");
  EXPECT_EQ(ra.options.routes.items[0].preference, 1);
  EXPECT_TRUE(ra.options.has_dnssl);
  EXPECT_EQ(ra.options.unknown_options, 1);
  EXPECT_EQ(packet_class_name(r->klass), "router_advert");
}

TEST(PacketParse, EthernetVlanQinqAndPadding) {
  Frame f;
  f.upper = ra_body();
  f.vlan = {0x81, 0x00, 0x00, 0x64};
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->eth.vlan_tagged);
  EXPECT_EQ(r->eth.vlan_id, 100);
  EXPECT_EQ(r->eth.l3_offset, 18U);

  f.vlan = {0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14};
  f.padding = 6;  // Ethernet padding after the IPv6 payload is fine
  r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->eth.vlan_id, 20);
  EXPECT_EQ(r->eth.l3_offset, 22U);
}

TEST(PacketParse, NotIpv6AndTruncated) {
  std::vector<std::byte> arp(42, std::byte{0});
  arp[12] = std::byte{0x08};
  arp[13] = std::byte{0x06};
  auto r = parse_frame(arp);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->klass, PacketClass::kNotIpv6);
  EXPECT_EQ(raw(parse_frame(std::span(arp).first(10)).error()), V6G_R_TRUNCATED);

  Frame f;
  f.upper = ra_body();
  auto b = f.bytes();
  EXPECT_EQ(raw(parse_frame(std::span(b).first(14 + 39)).error()), V6G_R_TRUNCATED);
  b[14] = std::byte{0x40};
  EXPECT_EQ(raw(parse_frame(b).error()), V6G_R_BAD_IP_VERSION);
}

TEST(PacketParse, PayloadLengthBeyondFrame) {
  Frame f;
  f.upper = ra_body();
  f.payload_len_delta = 1;
  EXPECT_REJECT(f, V6G_R_BAD_PAYLOAD_LENGTH);
}

TEST(PacketParse, ParseIpv6WithoutEthernet) {
  Frame f;
  f.upper = ns_body("fe80::2");
  f.dst = addr("ff02::1:ff00:2");
  const auto b = f.bytes();
  const auto r = parse_ipv6(std::span(b).subspan(14));
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_EQ(r->klass, PacketClass::kNeighborSolicit);
  EXPECT_EQ(r->eth.l3_offset, 0U);
}

TEST(PacketParse, ChecksumMismatch) {
  Frame f;
  f.upper = ra_body();
  f.fix_checksum = false;
  f.upper[2] = 0x12;
  EXPECT_REJECT(f, V6G_R_ICMPV6_CHECKSUM);
}

TEST(PacketParse, NdHopLimitCodeAndLength) {
  Frame f;
  f.upper = ra_body();
  f.hop_limit = 254;
  EXPECT_REJECT(f, V6G_R_ND_HOP_LIMIT);
  f.hop_limit = 255;
  f.upper[1] = 1;
  EXPECT_REJECT(f, V6G_R_ND_CODE);
  f.upper = ra_body();
  f.upper.resize(12);
  EXPECT_REJECT(f, V6G_R_ND_LENGTH);
  f.upper = ns_body("fe80::2");
  f.upper.resize(20);
  EXPECT_REJECT(f, V6G_R_ND_LENGTH);
}

TEST(PacketParse, NdOptionLengths) {
  Frame f;
  f.upper = ra_body({Buf{1, 0, 0, 0, 0, 0, 0, 0}});  // length 0
  EXPECT_REJECT(f, V6G_R_ND_OPTION_LENGTH);
  f.upper = ra_body({Buf{1, 2, 0, 0, 0, 0, 0, 0}});  // runs past the end
  EXPECT_REJECT(f, V6G_R_ND_OPTION_LENGTH);
  Buf short_prefix = prefix_info("2001:db8::", 64);
  short_prefix[1] = 3;
  short_prefix.resize(24);
  f.upper = ra_body({short_prefix});
  EXPECT_REJECT(f, V6G_R_ND_OPTION_LENGTH);
  f.upper = ra_body({Buf{25, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}});  // RDNSS even
  EXPECT_REJECT(f, V6G_R_ND_OPTION_LENGTH);
  f.upper = ra_body({Buf{24, 1, 64, 0, 0, 0, 0, 0}});  // route /64 needs length 2
  EXPECT_REJECT(f, V6G_R_ND_OPTION_LENGTH);
}

TEST(PacketParse, RaSourceMustBeLinkLocal) {
  Frame f;
  f.src = addr("2001:db8::1");
  f.upper = ra_body();
  EXPECT_REJECT(f, V6G_R_RA_SOURCE_NOT_LINK_LOCAL);
}

TEST(PacketParse, RouterSolicit) {
  Frame f;
  f.dst = addr("ff02::2");
  f.upper = {133, 0, 0, 0, 0, 0, 0, 0};
  append(f.upper, slla());
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->klass, PacketClass::kRouterSolicit);
  EXPECT_TRUE(std::get<RouterSolicit>(r->message).options.has_slla);
  f.src = addr("::");
  EXPECT_REJECT(f, V6G_R_ND_SLLA_UNSPEC);
}

TEST(PacketParse, NeighborSolicitAndDad) {
  Frame f;
  f.dst = addr("ff02::1:ff00:2");
  Buf nonce = {14, 1, 1, 2, 3, 4, 5, 6};
  f.upper = ns_body("2001:db8::2", {slla()});
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<NeighborSolicit>(r->message).target.to_string(), "2001:db8::2");
  EXPECT_FALSE(r->is_dad());

  f.src = addr("::");
  f.upper = ns_body("2001:db8::2", {nonce});
  r = parse(f);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_TRUE(r->is_dad());
  EXPECT_TRUE(std::get<NeighborSolicit>(r->message).options.has_nonce);
  EXPECT_EQ(std::get<NeighborSolicit>(r->message).options.nonce[5], 6);

  f.upper = ns_body("2001:db8::2", {slla()});
  EXPECT_REJECT(f, V6G_R_ND_SLLA_UNSPEC);
  f.upper = ns_body("2001:db8::2");
  f.dst = addr("ff02::1");
  EXPECT_REJECT(f, V6G_R_ND_BAD_DESTINATION);
  f.src = addr("fe80::1");
  f.upper = ns_body("ff02::1");
  EXPECT_REJECT(f, V6G_R_ND_MULTICAST_TARGET);
}

TEST(PacketParse, NeighborAdvert) {
  Frame f;
  f.dst = addr("fe80::9");
  Buf tlla = {2, 1, 0x02, 0, 0, 0, 0, 0x22};
  f.upper = na_body("2001:db8::2", 0xe0, {tlla});
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  const auto& na = std::get<NeighborAdvert>(r->message);
  EXPECT_TRUE(na.router && na.solicited && na.override_);
  EXPECT_EQ(na.options.tlla.to_string(), "02:00:00:00:00:22");
  f.dst = addr("ff02::1");
  EXPECT_REJECT(f, V6G_R_ND_BAD_DESTINATION);  // solicited to multicast
  f.upper = na_body("2001:db8::2", 0x20);      // unsolicited: fine
  EXPECT_TRUE(parse(f).ok());
  f.upper = na_body("ff02::1", 0x20);
  EXPECT_REJECT(f, V6G_R_ND_MULTICAST_TARGET);
}

TEST(PacketParse, Redirect) {
  Frame f;
  f.dst = addr("fe80::9");
  f.upper = {137, 0, 0, 0, 0, 0, 0, 0};
  append(f.upper, addr("fe80::2"));
  append(f.upper, addr("2001:db8::99"));
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->klass, PacketClass::kRedirect);
  EXPECT_EQ(std::get<Redirect>(r->message).destination.to_string(), "2001:db8::99");
  f.src = addr("2001:db8::1");
  EXPECT_REJECT(f, V6G_R_ND_BAD_SOURCE);
  f.src = addr("fe80::1");
  std::copy_n(addr("ff02::1").begin(), 16, f.upper.begin() + 24);
  EXPECT_REJECT(f, V6G_R_ND_BAD_DESTINATION);
}

Frame mld_frame(Buf body) {
  Frame f;
  f.hop_limit = 1;
  f.dst = addr("ff02::16");
  f.ext = hbh_router_alert(58);
  f.first_nh = 0;
  f.upper = std::move(body);
  return f;
}

TEST(PacketParse, MldV1V2) {
  Buf v1 = {131, 0, 0, 0, 0, 0, 0, 0};
  append(v1, addr("ff02::1:ff00:2"));
  auto r = parse(mld_frame(v1));
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_EQ(r->klass, PacketClass::kMld);
  EXPECT_TRUE(r->ext.router_alert);
  EXPECT_EQ(std::get<Mld>(r->message).version, 1);

  Buf v2 = {143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 1};
  append(v2, addr("ff02::1:ff00:2"));
  append(v2, addr("fe80::5"));
  Frame f2 = mld_frame(v2);
  f2.src = addr("::");  // reports may come from ::
  r = parse(f2);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_EQ(std::get<Mld>(r->message).version, 2);
  EXPECT_EQ(std::get<Mld>(r->message).records, 1);
  v2[11] = 2;  // claims two sources, carries one
  EXPECT_REJECT(mld_frame(v2), V6G_R_MLD_LENGTH);

  Buf query = {130, 0, 0, 0, 0, 10, 0, 0};
  append(query, addr("::"));
  append(query, Buf{0, 0, 0, 0});
  r = parse(mld_frame(query));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Mld>(r->message).version, 2);
  Frame q = mld_frame(query);
  q.src = addr("::");  // queries never from ::
  EXPECT_REJECT(q, V6G_R_MLD_BAD_SOURCE);
  query.resize(22);
  EXPECT_REJECT(mld_frame(query), V6G_R_MLD_LENGTH);

  Frame no_ra = mld_frame(v1);
  no_ra.ext = opts_hdr(58);
  EXPECT_REJECT(no_ra, V6G_R_MLD_NO_ROUTER_ALERT);
  Frame hl = mld_frame(v1);
  hl.hop_limit = 255;
  EXPECT_REJECT(hl, V6G_R_MLD_HOP_LIMIT);
  Frame global = mld_frame(v1);
  global.src = addr("2001:db8::1");
  EXPECT_REJECT(global, V6G_R_MLD_BAD_SOURCE);
}

TEST(PacketParse, Dhcpv6TunnelsAndData) {
  Frame f;
  f.upper_nh = 17;
  f.dst = addr("ff02::1:2");
  f.upper = {0x02, 0x22, 0x02, 0x23, 0, 12, 0, 0, 1, 0xaa, 0xbb, 0xcc};  // SOLICIT
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->klass, PacketClass::kDhcpv6Client);
  EXPECT_EQ(std::get<Dhcpv6>(r->message).msg_type, 1);
  f.upper = {0x02, 0x23, 0x02, 0x22, 0, 12, 0, 0, 2, 0xaa, 0xbb, 0xcc};  // ADVERTISE
  r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->klass, PacketClass::kDhcpv6Server);
  f.upper = {0x0d, 0xd8, 0x30, 0x39, 0, 8, 0, 0};  // Teredo
  r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->klass, PacketClass::kTunnel);
  f.upper = {0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0};
  r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->klass, PacketClass::kData);
  EXPECT_EQ(std::get<Transport>(r->message).dst_port, 53);
  f.upper.resize(6);
  EXPECT_REJECT(f, V6G_R_TRUNCATED);

  for (std::uint8_t proto : {std::uint8_t{41}, std::uint8_t{47}}) {
    Frame t;
    t.upper_nh = proto;
    t.upper = Buf(40, 0);
    r = parse(t);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->klass, PacketClass::kTunnel);
    EXPECT_EQ(std::get<Tunnel>(r->message).kind, proto);
  }
  Frame tcp;
  tcp.upper_nh = 6;
  tcp.upper = Buf(20, 0);
  tcp.upper[3] = 80;
  r = parse(tcp);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Transport>(r->message).dst_port, 80);
}

TEST(PacketParse, ExtensionHeaderOrderAndLimits) {
  Frame f;
  f.upper = {128, 0, 0, 0, 0, 1, 0, 1};
  f.first_nh = 60;
  f.ext = opts_hdr(0);  // dest opts then hop-by-hop: HBH must be first
  append(f.ext, opts_hdr(58));
  EXPECT_REJECT(f, V6G_R_EXTHDR_ORDER);

  f.ext = opts_hdr(60);  // dest opts twice is legal
  append(f.ext, opts_hdr(58));
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_EQ(r->ext.count, 2);
  EXPECT_EQ(r->klass, PacketClass::kIcmpv6Other);

  f.ext = opts_hdr(60);  // three times is not
  append(f.ext, opts_hdr(60));
  append(f.ext, opts_hdr(58));
  EXPECT_REJECT(f, V6G_R_EXTHDR_ORDER);

  f.first_nh = 44;  // two fragment headers
  f.ext = frag_hdr(44, 0, false);
  append(f.ext, frag_hdr(58, 0, false));
  EXPECT_REJECT(f, V6G_R_EXTHDR_ORDER);

  f.first_nh = 135;  // 9 mobility-style headers: too many
  f.ext.clear();
  for (int i = 0; i < 9; ++i) append(f.ext, opts_hdr(i == 8 ? 58 : 135));
  EXPECT_REJECT(f, V6G_R_EXTHDR_TOO_MANY);

  f.first_nh = 60;  // two 520-byte dest opts: too long
  f.ext = opts_hdr(60, 64);
  append(f.ext, opts_hdr(58, 64));
  EXPECT_REJECT(f, V6G_R_EXTHDR_TOO_LONG);

  f.first_nh = 60;  // header running past the payload
  f.ext = opts_hdr(58, 2);
  f.ext.resize(16);
  f.upper.clear();
  EXPECT_REJECT(f, V6G_R_TRUNCATED);
}

TEST(PacketParse, HopByHopOptionPastItsHeader) {
  Frame f;
  f.upper = {128, 0, 0, 0, 0, 1, 0, 1};
  f.first_nh = 0;
  f.ext = {58, 0, 1, 9, 0, 0, 0, 0};  // PadN claiming 9 bytes in a 6-byte body
  EXPECT_REJECT(f, V6G_R_TRUNCATED);
  f.ext = hbh_router_alert(58);
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ext.router_alert);
  EXPECT_EQ(r->ext.router_alert_value, 0);
}

TEST(PacketParse, RoutingHeader) {
  Frame f;
  f.upper_nh = 59;
  f.first_nh = 43;
  f.ext = {59, 2, 0, 1, 0, 0, 0, 0};
  append(f.ext, addr("2001:db8::1"));
  EXPECT_REJECT(f, V6G_R_ROUTING_TYPE0);
  f.ext[2] = 4;  // SRH
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ext.routing);
  EXPECT_EQ(r->ext.routing_type, 4);
}

TEST(PacketParse, Fragments) {
  // First fragment with the whole chain and the upper-layer header: fine.
  Frame f;
  f.upper_nh = 17;
  f.first_nh = 44;
  f.ext = frag_hdr(17, 0, true, 0x1234);
  f.upper = {0x30, 0x39, 0, 53, 0, 100, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_TRUE(r->ext.fragment);
  EXPECT_TRUE(r->ext.more_fragments);
  EXPECT_EQ(r->ext.fragment_id, 0x1234U);
  EXPECT_EQ(r->klass, PacketClass::kData);

  // Not a multiple of 8 with M set.
  f.upper.resize(12);
  EXPECT_REJECT(f, V6G_R_FRAG_ATOMIC_BAD);

  // RFC 7113: first fragment whose chain continues into the next fragment.
  f.ext = frag_hdr(60, 0, true);
  f.upper = opts_hdr(58, 2);
  f.upper.resize(16);
  EXPECT_REJECT(f, V6G_R_FRAG_FIRST_NO_UPPER);

  // Non-first fragment: tail, whatever the payload.
  f.ext = frag_hdr(58, 10, false);
  f.upper = Buf(13, 0xee);
  r = parse(f);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_EQ(r->klass, PacketClass::kFragmentTail);
  EXPECT_TRUE(r->ext.non_first_fragment());
  EXPECT_FALSE(r->upper.present);
  EXPECT_EQ(r->upper.protocol, 58);

  // RFC 6980: ND in a first fragment and in an atomic fragment.
  f.upper_nh = 58;
  f.ext = frag_hdr(58, 0, true);
  f.upper = ra_body();
  EXPECT_REJECT(f, V6G_R_ND_IN_FRAGMENT);
  f.ext = frag_hdr(58, 0, false);
  EXPECT_REJECT(f, V6G_R_ND_IN_FRAGMENT);
  // Echo in an atomic fragment is fine (and checksummed).
  f.upper = {128, 0, 0, 0, 0, 1, 0, 1};
  r = parse(f);
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_TRUE(r->ext.atomic_fragment());
}

// RFC 7113 wins over chain faults when the first fragment ends before the
// upper-layer header (the -E F shape: RH0 and a repeated routing header).
TEST(PacketParse, FirstFragmentEvasionBeatsChainFaults) {
  Frame f;
  f.first_nh = 44;
  f.upper_nh = 58;
  Buf rh0 = {60, 0, 0, 0, 0, 0, 0, 0};
  f.ext = frag_hdr(43, 0, true);
  append(f.ext, rh0);
  rh0[0] = 58;
  append(f.ext, Buf{43, 0, 0, 0, 0, 0, 0, 0});  // dest opts -> second routing header
  append(f.ext, rh0);
  f.ext[8 + 0] = 60;  // RH0 -> dest opts
  f.upper.clear();    // ICMPv6 header is in the next fragment
  EXPECT_REJECT(f, V6G_R_FRAG_FIRST_NO_UPPER);
  // The same chain unfragmented (atomic): the chain faults are reported.
  f.ext[3] = 0;  // M = 0
  f.upper = {128, 0, 0, 0, 0, 1, 0, 1};
  EXPECT_REJECT(f, V6G_R_ROUTING_TYPE0);
}

TEST(PacketParse, ClassNames) {
  EXPECT_EQ(packet_class_name(PacketClass::kFragmentTail), "fragment_tail");
  EXPECT_EQ(packet_class_name(PacketClass::kNotIpv6), "not_ipv6");
  EXPECT_EQ(packet_class_name(PacketClass::kDhcpv6Server), "dhcpv6_server");
}

}  // namespace
}  // namespace v6g::packet
