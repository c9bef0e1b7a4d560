// Builders for ParsedPacket values in guard tests (no parser needed).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "guard/engine.h"

namespace v6g::guard::testing {

inline Ip6Addr ip(const char* s) { return *Ip6Addr::parse(s); }
inline MacAddr mac(const char* s) { return *MacAddr::parse(s); }
inline Ip6Prefix prefix(const char* s) { return *Ip6Prefix::parse(s); }

inline packet::ParsedPacket base(const MacAddr& src_mac, const Ip6Addr& src, const Ip6Addr& dst,
                                 packet::PacketClass klass, std::uint8_t hop = 64) {
  packet::ParsedPacket p;
  p.eth.src = src_mac;
  p.eth.dst = mac("33:33:00:00:00:01");
  p.eth.ethertype = packet::kEtherTypeIpv6;
  p.ip.src = src;
  p.ip.dst = dst;
  p.ip.hop_limit = hop;
  p.klass = klass;
  p.upper.present = true;
  return p;
}

inline packet::ParsedPacket data(const MacAddr& m, const Ip6Addr& src,
                                 const Ip6Addr& dst = ip("2001:db8:ffff::1")) {
  auto p = base(m, src, dst, packet::PacketClass::kData);
  p.ip.next_header = packet::kProtoUdp;
  p.upper.protocol = packet::kProtoUdp;
  p.message = packet::Transport{1234, 80};
  return p;
}

inline packet::ParsedPacket dad_ns(const MacAddr& m, const Ip6Addr& target) {
  auto p = base(m, Ip6Addr{}, ip("ff02::1:ff00:1"), packet::PacketClass::kNeighborSolicit, 255);
  p.upper.protocol = packet::kProtoIcmpv6;
  p.icmp_type = packet::kNdNeighborSolicit;
  packet::NeighborSolicit ns;
  ns.target = target;
  p.message = ns;
  return p;
}

inline packet::ParsedPacket ns(const MacAddr& m, const Ip6Addr& src, const Ip6Addr& target) {
  auto p = dad_ns(m, target);
  p.ip.src = src;
  auto& n = std::get<packet::NeighborSolicit>(p.message);
  n.options.has_slla = true;
  n.options.slla = m;
  return p;
}

inline packet::ParsedPacket na(const MacAddr& m, const Ip6Addr& src, const Ip6Addr& target,
                               bool solicited = false, bool override_ = true) {
  auto p = base(m, src, ip("ff02::1"), packet::PacketClass::kNeighborAdvert, 255);
  p.upper.protocol = packet::kProtoIcmpv6;
  p.icmp_type = packet::kNdNeighborAdvert;
  packet::NeighborAdvert a;
  a.target = target;
  a.solicited = solicited;
  a.override_ = override_;
  a.options.has_tlla = true;
  a.options.tlla = m;
  p.message = a;
  return p;
}

inline packet::ParsedPacket ra(const MacAddr& m, const Ip6Addr& src,
                               const char* pfx = "2001:db8:1::/64") {
  auto p = base(m, src, ip("ff02::1"), packet::PacketClass::kRouterAdvert, 255);
  p.upper.protocol = packet::kProtoIcmpv6;
  p.icmp_type = packet::kNdRouterAdvert;
  packet::RouterAdvert r;
  r.router_lifetime = 1800;
  r.options.has_slla = true;
  r.options.slla = m;
  packet::PrefixInfo pi;
  pi.prefix = prefix(pfx);
  pi.on_link = pi.autonomous = true;
  r.options.prefixes.push(pi);
  p.message = r;
  return p;
}

inline packet::ParsedPacket icmp(const MacAddr& m, const Ip6Addr& src, packet::PacketClass k,
                                 std::uint8_t type) {
  auto p = base(m, src, ip("2001:db8:ffff::1"), k, 255);
  p.upper.protocol = packet::kProtoIcmpv6;
  p.icmp_type = type;
  if (k == packet::PacketClass::kRedirect)
    p.message = packet::Redirect{};
  else if (k == packet::PacketClass::kMld)
    p.message = packet::Mld{};
  else
    p.message = packet::OtherIcmpv6{};
  return p;
}

// A VM port: its MAC and one allocated prefix; the identity fields are set so
// events carry them.
inline PortPolicy vm_port(PortId id, const MacAddr& m, const char* pfx) {
  PortPolicy p;
  p.port = id;
  p.mac = m;
  p.vm_id = "vm-" + std::to_string(id);
  p.tenant_id = "tenant-1";
  p.interface_id = "tap" + std::to_string(id);
  p.allocated_prefixes.push_back(prefix(pfx));
  return p;
}

// The base of the guard fixtures: an engine on a fake clock and the effects
// it produced.
class EngineTest : public ::testing::Test {
 protected:
  void start_engine(const EngineConfig& cfg) {
    engine_ = std::make_unique<Engine>(cfg);
    now_ = 1000 * kSecond;
  }
  Decision decide(PortId port, const packet::ParsedPacket& p) {
    return engine_->decide(port, p, now_, fx_);
  }
  Reason why(PortId port, const packet::ParsedPacket& p) { return decide(port, p).reason; }
  void advance(Nanos d) {
    now_ += d;
    engine_->tick(now_, fx_);
  }

  std::unique_ptr<Engine> engine_;
  Effects fx_;
  Nanos now_ = 0;
};

}  // namespace v6g::guard::testing
