// The RFC 6620 probe the inspector transmits: a DAD-style Neighbor
// Solicitation, checked by running it through the same parser the guard
// uses (which validates hop limit, checksum and ND rules), so a VM's kernel
// will take it for what it is.
#include <gtest/gtest.h>

#include <array>

#include "inspector/probe_sender.h"
#include "packet/packet.h"

namespace v6g::inspector {
namespace {

MacAddr mac(const char* s) { return *MacAddr::parse(s); }
Ip6Addr ip(const char* s) { return *Ip6Addr::parse(s); }

TEST(ProbeFrame, IsAValidDadNeighborSolicitation) {
  std::array<std::byte, kProbeFrameMax> buf{};
  const Ip6Addr target = ip("2600:beef:1000:100::1234:5678");
  const std::size_t len = build_probe_frame(buf, mac("02:11:22:33:44:55"), target, 0);
  ASSERT_EQ(len, 78u);
  auto r = packet::parse_frame(packet::Bytes(buf.data(), len));
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  const auto& p = r.value();
  EXPECT_EQ(p.klass, packet::PacketClass::kNeighborSolicit);
  EXPECT_TRUE(p.is_dad());
  EXPECT_EQ(p.ip.hop_limit, 255);
  EXPECT_EQ(p.ip.dst, ip("ff02::1:ff34:5678"));  // solicited-node group
  EXPECT_EQ(p.eth.dst, mac("33:33:ff:34:56:78"));
  EXPECT_EQ(p.eth.src, mac("02:11:22:33:44:55"));
  EXPECT_FALSE(p.eth.vlan_tagged);
  const auto& ns = std::get<packet::NeighborSolicit>(p.message);
  EXPECT_EQ(ns.target, target);
  EXPECT_FALSE(ns.options.has_slla);  // RFC 4861: no SLLA from ::
}

TEST(ProbeFrame, TaggedForAVlan) {
  std::array<std::byte, kProbeFrameMax> buf{};
  const std::size_t len = build_probe_frame(buf, mac("02:11:22:33:44:55"), ip("fe80::1"), 100);
  ASSERT_EQ(len, 82u);
  auto r = packet::parse_frame(packet::Bytes(buf.data(), len));
  ASSERT_TRUE(r.ok()) << reason_name(r.error());
  EXPECT_TRUE(r.value().eth.vlan_tagged);
  EXPECT_EQ(r.value().eth.vlan_id, 100);
  EXPECT_TRUE(r.value().is_dad());
}

TEST(ProbeFrame, ChecksumCoversTheTarget) {
  // Two targets differing in one bit: both parse (each sum is right), and a
  // flipped bit after building is caught.
  std::array<std::byte, kProbeFrameMax> buf{};
  const std::size_t len = build_probe_frame(buf, mac("02:00:00:00:00:01"), ip("fe80::2"), 0);
  ASSERT_TRUE(packet::parse_frame(packet::Bytes(buf.data(), len)).ok());
  buf[len - 1] ^= std::byte{1};
  auto r = packet::parse_frame(packet::Bytes(buf.data(), len));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(raw(r.error()), V6G_R_ICMPV6_CHECKSUM);
}

TEST(ProbeFrame, TooSmallBufferWritesNothing) {
  std::array<std::byte, 20> small{};
  EXPECT_EQ(build_probe_frame(small, mac("02:00:00:00:00:01"), ip("fe80::2"), 0), 0u);
}

}  // namespace
}  // namespace v6g::inspector
